//! What a run measures and how long it may take: the standard and quick budgets.

use std::time::Duration;

use crate::error::{CalibrateError, Result};
use crate::harness::StopRule;
use crate::isolation::IsolationPlan;
use crate::noise::Thresholds;
use crate::transport::{SweepPlan, TransportKind};

/// What to measure and how long to spend on it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// True for the quick budget.
    pub quick: bool,
    /// Only these transport and scheme ids (and `memcpy`, `syscall`), when set.
    pub only: Option<Vec<String>>,
    /// Ping-pong sweep in the headline core placement.
    pub headline: SweepPlan,
    /// Pipelined sweep (saturated server).
    pub saturated: SweepPlan,
    /// Ping-pong sweep in the other core placement.
    pub other: SweepPlan,
    /// Isolation probes.
    pub isolation: IsolationPlan,
    /// Copy and system-call benchmarks.
    pub micro: StopRule,
    /// Warm-up of the micro benchmarks.
    pub micro_warmup: Duration,
    /// Machine-kind name to record instead of the detected one.
    pub name: Option<String>,
    /// Seed of the bootstrap generator.
    pub seed: u64,
    /// Interleaved rounds over every transport and scheme (each with `1 / rounds` of the
    /// budgets).
    pub rounds: u32,
    /// Steal and other-process CPU above which a sample block is redone.
    pub thresholds: Thresholds,
    /// Wall time the run may take, redos of contaminated blocks included.
    pub cap: Duration,
    /// Stop after a round once so many blocks are contaminated that the run can only be graded
    /// unusable (its remaining rounds would measure the noise).
    pub stop_when_unusable: bool,
    /// Hold every block to free cores ([`crate::noise::sibling`]): one whose wide kernel read
    /// over the factor is redone once the cores read free (`--hold-free-cores`).
    pub hold_free_cores: bool,
}

/// Pipelining window of the saturated regime.
pub const SATURATED_WINDOW: u32 = 32;

impl Plan {
    /// The standard budget (a full run: under two minutes on a 2-core VM).
    pub fn standard() -> Self {
        let rule = StopRule {
            min_samples: 15,
            max_samples: 100,
            target_rel_half_width: 0.01,
            budget: Duration::from_millis(450),
            confidence: 0.95,
            resamples: 1_000,
        };
        Self::with(
            false,
            rule,
            Duration::from_millis(40),
            Duration::from_millis(4),
            [
                vec![16, 64, 256, 1024, 4096, 16_384, 32_768, 65_536],
                vec![16, 256, 1024, 4096],
                vec![16, 1024, 16_384, 65_536],
            ],
            400,
        )
    }

    /// The quick budget (under 30 s on a 2-core VM).
    pub fn quick() -> Self {
        let rule = StopRule {
            min_samples: 7,
            max_samples: 40,
            target_rel_half_width: 0.03,
            budget: Duration::from_millis(150),
            confidence: 0.95,
            resamples: 500,
        };
        Self::with(
            true,
            rule,
            Duration::from_millis(15),
            Duration::from_millis(2),
            [
                vec![16, 256, 4096, 16_384, 65_536],
                vec![16, 1024, 4096],
                vec![16, 4096, 65_536],
            ],
            200,
        )
    }

    fn with(
        quick: bool,
        rule: StopRule,
        warmup: Duration,
        sample_time: Duration,
        [headline, saturated, other]: [Vec<usize>; 3],
        fit_resamples: usize,
    ) -> Self {
        let sweep = |sizes: Vec<usize>, window: u32| SweepPlan {
            sizes,
            window,
            rule,
            warmup,
            sample_time,
            fit_resamples,
        };
        let cold_rule = StopRule {
            min_samples: 5,
            max_samples: 300,
            budget: rule.budget * 2,
            ..rule
        };
        Plan {
            quick,
            only: None,
            headline: sweep(headline, 1),
            saturated: sweep(saturated, SATURATED_WINDOW),
            other: sweep(other, 1),
            isolation: IsolationPlan {
                rule,
                cold_rule,
                warmup,
                sample_time: sample_time / 2,
                probe_table: isolation_plugins::store::TableShape::DEFAULT,
            },
            micro: rule,
            micro_warmup: warmup,
            name: None,
            seed: 0x00ca_11b2_a7e5,
            // Five rounds on the standard budget: in four alternated pairs on the Xeon VM
            // (calibrate/results/repeatability) five put a coefficient's median on more
            // independent minutes of a host that drifts 1.2-1.5x between rounds, for a
            // warm-up per point and round more; the quick budget keeps three.
            rounds: if quick { 3 } else { 5 },
            thresholds: Thresholds::default(),
            cap: if quick {
                Duration::from_secs(25)
            } else {
                Duration::from_secs(100)
            },
            stop_when_unusable: true,
            hold_free_cores: false,
        }
    }

    /// True when `id` is to be measured.
    pub fn wants(&self, id: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == id))
    }

    /// Checks `--only` ids against what this build can measure.
    ///
    /// # Errors
    /// [`CalibrateError::BadOption`] naming the unknown ids and the known ones.
    pub fn check_only(&self, scheme_ids: &[String]) -> Result<()> {
        let Some(only) = &self.only else {
            return Ok(());
        };
        let mut known: Vec<String> = TransportKind::ALL
            .iter()
            .map(|k| k.id().to_owned())
            .chain(scheme_ids.iter().cloned())
            .chain(["memcpy", "syscall", "dispatch"].map(str::to_owned))
            .collect();
        known.dedup();
        let unknown: Vec<&String> = only.iter().filter(|x| !known.contains(x)).collect();
        if unknown.is_empty() && !only.is_empty() {
            return Ok(());
        }
        Err(CalibrateError::BadOption {
            option: "--only",
            message: format!(
                "unknown id(s) {}; known in this build: {}",
                if only.is_empty() {
                    "(none given)".to_owned()
                } else {
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                known.join(", ")
            ),
        })
    }

    /// Time the plan expects to spend without redos, roughly (for the progress bar's ETA and
    /// the redo allowance, `cap` less this).
    pub fn expected(&self, transports: usize, schemes: usize) -> Duration {
        let sweep =
            |p: &SweepPlan| (p.rule.budget + p.warmup * self.rounds.max(1)) * len32(p.sizes.len());
        let per_transport = sweep(&self.headline) + sweep(&self.saturated) + sweep(&self.other);
        let per_scheme = self.isolation.rule.budget * 4 + self.isolation.cold_rule.budget;
        per_transport * len32(transports) + per_scheme * len32(schemes) + self.micro.budget * 2
    }
}

pub(super) fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accepts_known_ids_and_names_unknown_ones() {
        let mut p = Plan::quick();
        p.only = Some(vec!["tcp".to_owned(), "wasm".to_owned()]);
        assert!(p.check_only(&["wasm".to_owned()]).is_ok());
        let e = p.check_only(&[]).unwrap_err().to_string();
        assert!(
            e.contains("--only") && e.contains("wasm") && e.contains("tcp, udp"),
            "{e}"
        );
        assert!(p.wants("tcp") && !p.wants("udp"));
    }

    #[test]
    fn quick_plan_expects_less_than_half_a_minute() {
        let p = Plan::quick();
        assert!(
            p.expected(4, 6) < Duration::from_secs(30),
            "{:?}",
            p.expected(4, 6)
        );
        assert!(Plan::standard().expected(4, 6) < Duration::from_secs(120));
    }
}
