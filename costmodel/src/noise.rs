//! `NoiseRecord`: how quiet the host was while a profile was measured.
//!
//! A calibration on a shared machine (a cloud VM, a build box) competes with other work: the
//! hypervisor runs other guests on this guest's CPUs (**steal**, `/proc/stat`), and other
//! processes of this guest take CPU from the measured threads. Either inflates what a probe
//! measures, in bursts. The harness records both per sample block, redoes blocks that crossed a
//! threshold, and stores what it saw here, beside the estimates, with a grade a reader can act
//! on: a profile graded `unusable` describes the noise, not the host.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::units::PerSecond;
use crate::validate::Check;

/// How quiet the host was over a calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseGrade {
    /// Every block kept was below the thresholds, and few had to be redone.
    Quiet,
    /// Some blocks were contaminated or redone often; the numbers stand, with wider intervals.
    Noisy,
    /// Too many blocks were contaminated even after redoing them: the numbers describe the
    /// noise, not the host.
    Unusable,
}

impl NoiseGrade {
    /// The grade as files spell it (`quiet`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoiseGrade::Quiet => "quiet",
            NoiseGrade::Noisy => "noisy",
            NoiseGrade::Unusable => "unusable",
        }
    }
}

impl std::fmt::Display for NoiseGrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The median and the largest value of a per-block figure, in cores (CPU seconds per second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseStat {
    /// Median over the blocks kept.
    pub median: f64,
    /// Largest over every block, redone ones included.
    pub max: f64,
}

/// A block that was measured again, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redo {
    /// The block (`round 2: tcp same-core ping-pong`).
    pub block: String,
    /// What crossed which threshold (`steal 0.31 cores > 0.10`).
    pub reason: String,
}

/// What else used the CPU while a profile was measured. See the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseRecord {
    /// The run's grade.
    pub grade: NoiseGrade,
    /// Interleaved rounds the run measured every transport and scheme in.
    pub rounds: u32,
    /// Sample blocks kept (one per measured item and round).
    pub blocks: u32,
    /// Blocks measured again because they crossed a threshold.
    pub redone: u32,
    /// Blocks kept although over a threshold (no time left to redo, or every try was).
    pub contaminated: u32,
    /// Steal per block, in cores.
    pub steal_cores: NoiseStat,
    /// Other processes' CPU per block, in cores.
    pub other_cpu_cores: NoiseStat,
    /// Involuntary context switches of the measured threads per second, median over blocks.
    pub involuntary_switches_per_s: PerSecond,
    /// Steal above this (cores) contaminates a block.
    pub steal_threshold: f64,
    /// Other processes' CPU above this (cores) contaminates a block.
    pub other_cpu_threshold: f64,
    /// Every redo, in order.
    #[serde(default)]
    pub redos: Vec<Redo>,
}

impl NoiseRecord {
    /// Validates every number, naming the field on error.
    pub(crate) fn check(&self, c: &mut Check<'_>) -> Result<()> {
        for (name, v) in [
            ("steal_cores.median", self.steal_cores.median),
            ("steal_cores.max", self.steal_cores.max),
            ("other_cpu_cores.median", self.other_cpu_cores.median),
            ("other_cpu_cores.max", self.other_cpu_cores.max),
            (
                "involuntary_switches_per_s",
                self.involuntary_switches_per_s.get(),
            ),
            ("steal_threshold", self.steal_threshold),
            ("other_cpu_threshold", self.other_cpu_threshold),
        ] {
            c.non_negative(name, v)?;
        }
        if self.contaminated > self.blocks {
            return Err(c.fail(
                "contaminated",
                format!(
                    "must be at most blocks ({}), got {}",
                    self.blocks, self.contaminated
                ),
            ));
        }
        Ok(())
    }

    /// One line: `quiet: 48 blocks in 3 rounds, 2 redone; steal 0.01 cores (max 0.20), ...`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} blocks in {} round{}, {} redone, {} kept over a threshold; steal {:.3} cores \
             (max {:.3}), other processes {:.3} cores (max {:.3}); thresholds {:.2} / {:.2} cores",
            self.grade,
            self.blocks,
            self.rounds,
            if self.rounds == 1 { "" } else { "s" },
            self.redone,
            self.contaminated,
            self.steal_cores.median,
            self.steal_cores.max,
            self.other_cpu_cores.median,
            self.other_cpu_cores.max,
            self.steal_threshold,
            self.other_cpu_threshold
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> NoiseRecord {
        NoiseRecord {
            grade: NoiseGrade::Noisy,
            rounds: 3,
            blocks: 12,
            redone: 2,
            contaminated: 1,
            steal_cores: NoiseStat {
                median: 0.01,
                max: 0.4,
            },
            other_cpu_cores: NoiseStat {
                median: 0.05,
                max: 1.2,
            },
            involuntary_switches_per_s: PerSecond::new(3.0),
            steal_threshold: 0.1,
            other_cpu_threshold: 0.25,
            redos: vec![Redo {
                block: "round 1: tcp".to_owned(),
                reason: "steal 0.40 cores > 0.10".to_owned(),
            }],
        }
    }

    #[test]
    fn noise_record_checks_name_the_field() {
        let mut c = Check::new("x.ron");
        record().check(&mut c).unwrap();
        let mut bad = record();
        bad.other_cpu_cores.max = -1.0;
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("other_cpu_cores.max"), "{e}");
        let mut bad = record();
        bad.contaminated = 13;
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("contaminated"), "{e}");
        assert!(
            record()
                .summary()
                .starts_with("noisy: 12 blocks in 3 rounds, 2 redone")
        );
    }
}
