//! A run's rounds under watch: every block bracketed by noise snapshots, contaminated blocks
//! redone within the run's allowance, and per-round plans (see [`crate::noise`]).

use std::time::Duration;

use costmodel::{IsolationCosts, TransportCosts};

use super::Plan;
use crate::harness::{Clock, StopRule};
use crate::noise::block::{Kept, NoiseLog, RedoPolicy, measure_block};
use crate::noise::{LinuxProc, Monitor, rounds};

/// The noise monitor, the log, and the time left for redos.
pub(super) struct Watch<'c> {
    monitor: Monitor<'c, LinuxProc>,
    log: NoiseLog,
    cap: Duration,
    expected: Duration,
    expected_done: Duration,
    took_done: Duration,
    spent: Duration,
    notes: Vec<String>,
}

impl<'c> Watch<'c> {
    /// Watches with `plan`'s thresholds a run expected to take `expected` without redos:
    /// redos may use what is left of `plan.cap`.
    pub(super) fn new(clock: &'c dyn Clock, plan: &Plan, expected: Duration) -> Self {
        Watch {
            // Held to the machine state the first block finds (cross-core costs move with it).
            monitor: Monitor::new(LinuxProc::new(), clock, plan.thresholds)
                .watch_this_host_state(None)
                .watch_this_host_speed_on_probe_cpus()
                // A core shared with another guest slows requests and memory without steal.
                .watch_this_host_siblings_on_probe_cpus(plan.hold_free_cores),
            log: NoiseLog::new(plan.thresholds),
            cap: plan.cap,
            expected,
            expected_done: Duration::ZERO,
            took_done: Duration::ZERO,
            spent: Duration::ZERO,
            notes: Vec::new(),
        }
    }

    /// Runs block `name` (expected to take about `expected`) under watch, redoing it while it
    /// is contaminated and the allowance lasts.
    ///
    /// # Errors
    /// The error `f` returns.
    pub(super) fn block<T, E>(
        &mut self,
        name: &str,
        expected: Duration,
        f: impl FnMut() -> Result<T, E>,
    ) -> Result<Kept<T>, E> {
        let clock = self.monitor.clock();
        let t0 = clock.elapsed();
        // Redos share the cap's slack over the expected time, and never push the blocks still
        // to come past the cap, at the rate blocks have overrun their budgets so far (a busy
        // host slows the first tries too).
        let allowance = self.cap.saturating_sub(self.expected);
        let overrun = if self.expected_done.is_zero() {
            1.0
        } else {
            (self.took_done.as_secs_f64() / self.expected_done.as_secs_f64()).max(1.0)
        };
        let still_to_come = self
            .expected
            .saturating_sub(self.expected_done + expected)
            .mul_f64(overrun.min(10.0));
        let policy = RedoPolicy {
            max_attempts: 3,
            deadline: (t0 + expected + allowance.saturating_sub(self.spent))
                .min(self.cap.saturating_sub(still_to_come)),
        };
        let before = self.log.redos().len();
        let r = measure_block(&self.monitor, &mut self.log, name, &policy, f);
        let redone = self.log.redos().len() - before;
        let took = clock.elapsed().saturating_sub(t0);
        let tries = u32::try_from(redone).unwrap_or(u32::MAX);
        self.expected_done += expected;
        self.took_done += took / (tries + 1);
        if redone > 0 {
            self.spent += took * tries / (tries + 1);
            for r in &self.log.redos()[before..] {
                self.notes
                    .push(format!("noise: redid {}: {}", r.block, r.reason));
            }
        }
        if let Ok(k) = &r
            && !k.clean
            && let Some(e) = self.log.entries().last()
        {
            self.notes.push(format!(
                "noise: kept {} over a threshold: {}",
                e.name,
                e.contaminated.as_deref().unwrap_or("")
            ));
        }
        r
    }

    /// Lines for the progress display since the last call.
    pub(super) fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The log.
    pub(super) fn log(&self) -> &NoiseLog {
        &self.log
    }
}

/// After `round` of `rounds`, a line saying why the run stops, when the blocks already kept over
/// a threshold exceed what an unusable grade needs of all the blocks the run would keep
/// (`before_rounds` blocks were kept before the rounds; every round keeps as many as the ones
/// so far did).
pub(super) fn hopeless(
    log: &NoiseLog,
    before_rounds: usize,
    round: u32,
    rounds: u32,
) -> Option<String> {
    if round >= rounds {
        return None;
    }
    let kept = log.entries().len();
    let per_round = kept.saturating_sub(before_rounds) / usize::try_from(round).ok()?.max(1);
    let total = before_rounds + per_round * usize::try_from(rounds).ok()?;
    over(log, total).map(|(bad, total)| {
        format!(
            "noise: stopping after round {round}/{rounds}: {bad} of the run's {total} blocks are \
             already over a threshold, so it can only be graded unusable"
        )
    })
}

/// Within `round` of `rounds`, between two of its blocks: [`hopeless`] with the run's `total`
/// blocks known (from the first round), so a run that cannot be usable stops at the block that
/// settles it rather than at the end of its round. On the 2-vCPU EPYC VM a run that lost the
/// machine state took about 1.3 s a block (three tries each) and settled it 16 blocks before
/// its round ended; measured once more, it came to 121-125 s in all.
pub(super) fn hopeless_within(
    log: &NoiseLog,
    total: usize,
    round: u32,
    rounds: u32,
) -> Option<String> {
    over(log, total).map(|(bad, total)| {
        format!(
            "noise: stopping in round {round}/{rounds}: {bad} of the run's {total} blocks are \
             already over a threshold, so it can only be graded unusable"
        )
    })
}

/// The blocks kept over a threshold and `total`, when they are more than an unusable grade
/// needs (a quarter).
fn over(log: &NoiseLog, total: usize) -> Option<(usize, usize)> {
    let bad = log
        .entries()
        .iter()
        .filter(|e| e.contaminated.is_some())
        .count();
    (bad * 4 > total).then_some((bad, total))
}

/// `rule` for one of `rounds` rounds: a share of the budget and of the sample counts.
fn share(rule: StopRule, rounds: u32) -> StopRule {
    let r = rounds.max(1);
    let min_samples = rule.min_samples.div_ceil(r).max(3).min(rule.min_samples);
    StopRule {
        min_samples,
        max_samples: rule.max_samples.div_ceil(r).max(min_samples),
        budget: rule.budget / r,
        ..rule
    }
}

/// The plan one round runs: sweeps and isolation probes with a `1 / rounds` share of their
/// budgets (the micro benchmarks are measured once, not in rounds).
pub(super) fn per_round(plan: &Plan) -> Plan {
    let mut p = plan.clone();
    for s in [&mut p.headline, &mut p.saturated, &mut p.other] {
        s.rule = share(s.rule, plan.rounds);
    }
    p.isolation.rule = share(p.isolation.rule, plan.rounds);
    p.isolation.cold_rule = share(p.isolation.cold_rule, plan.rounds);
    p
}

/// One round's costs of one item, and how its blocks read ([`rounds::Mark`]).
pub(super) type Round<T> = (T, rounds::Mark);

/// A line saying how many of the rounds (`items`: each transport's or scheme's round marks)
/// read their cores shared with another guest, and how many of those were left out (their
/// item combines its rounds on free cores) or kept (it had none); `None` when none was shared.
pub(super) fn shared_rounds(items: &[Vec<rounds::Mark>]) -> Option<String> {
    let count = |v: &[rounds::Mark]| v.iter().filter(|m| **m == rounds::Mark::Shared).count();
    let shared: usize = items.iter().map(|v| count(v)).sum();
    if shared == 0 {
        return None;
    }
    let left: usize = items
        .iter()
        .filter(|v| rounds::Mark::best(v.iter().copied()) == Some(rounds::Mark::Free))
        .map(|v| count(v))
        .sum();
    let total: usize = items.iter().map(Vec::len).sum();
    Some(format!(
        "noise: {shared} of {total} rounds of transports and schemes read their cores shared \
         with another guest: {left} left out (combined from the same item's rounds on free \
         cores), {} kept (the item had no round on free cores)",
        shared - left
    ))
}

/// A transport's rounds combined (a coefficient left with one round borrows `lent`'s
/// half-width); `None` when no round produced costs.
pub(super) fn transport(
    rounds_: &[Round<TransportCosts>],
    lent: Option<&rounds::Lent>,
) -> Option<TransportCosts> {
    let v: Vec<(&TransportCosts, rounds::Mark)> = rounds_.iter().map(|(t, m)| (t, *m)).collect();
    rounds::transport(&v, lent)
}

/// A scheme's rounds combined (a coefficient left with one round borrows `lent`'s half-width);
/// `None` when no round produced costs.
pub(super) fn isolation(
    rounds_: &[Round<IsolationCosts>],
    lent: Option<&rounds::Lent>,
) -> Option<IsolationCosts> {
    let v: Vec<(&IsolationCosts, rounds::Mark)> = rounds_.iter().map(|(t, m)| (t, *m)).collect();
    rounds::isolation(&v, lent)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two clean micro blocks, then a first round of four blocks out of three rounds (14 in
    // all): three contaminated can still end noisy, four cannot.
    #[test]
    fn a_run_stops_once_it_can_only_be_unusable() {
        use crate::noise::Thresholds;
        use crate::noise::block::{RedoPolicy, measure_block};
        use crate::noise::fake::{FakeClock, FakeProc};
        let (proc, clock) = (FakeProc::default(), FakeClock::default());
        proc.burn(100, "calibrate", 0);
        let m = Monitor::new(&proc, &clock, Thresholds::default()).measuring(vec![100]);
        let one_try = RedoPolicy {
            max_attempts: 1,
            deadline: Duration::ZERO,
        };
        let mut log = NoiseLog::new(m.thresholds());
        let block = |log: &mut NoiseLog, busy: bool| {
            measure_block(&m, log, "b", &one_try, || {
                if busy {
                    proc.burn(7, "rustc", 90);
                }
                clock.advance(Duration::from_secs(1));
                Ok::<_, ()>(())
            })
            .unwrap();
        };
        for busy in [false, false, true, true, true] {
            block(&mut log, busy);
        }
        let mut worse = log.clone();
        block(&mut log, false);
        assert_eq!(hopeless(&log, 2, 1, 3), None);
        block(&mut worse, true);
        let line = hopeless(&worse, 2, 1, 3).unwrap();
        assert!(line.contains("4 of the run's 14 blocks"), "{line}");
        assert_eq!(
            hopeless(&worse, 2, 3, 3),
            None,
            "the last round is always finished"
        );
        // Within a round, with the run's 14 blocks known: four settle it, three do not.
        assert_eq!(hopeless_within(&log, 14, 2, 3), None);
        let line = hopeless_within(&worse, 14, 2, 3).unwrap();
        assert!(
            line.contains("in round 2/3: 4 of the run's 14 blocks"),
            "{line}"
        );
    }

    #[test]
    fn the_rounds_on_shared_cores_are_counted_left_out_or_kept() {
        use rounds::Mark::{Free, Over, Shared};
        assert_eq!(shared_rounds(&[vec![Free, Over], vec![Free]]), None);
        let line =
            shared_rounds(&[vec![Free, Shared, Shared], vec![Shared, Over], vec![Free]]).unwrap();
        assert!(
            line.starts_with("noise: 3 of 6 rounds of transports and schemes read their cores")
                && line.contains("2 left out")
                && line.contains("1 kept"),
            "{line}"
        );
    }

    #[test]
    fn a_round_gets_a_share_of_the_budget_and_samples() {
        let p = Plan::standard();
        let r = per_round(&p);
        assert_eq!(r.headline.rule.budget * p.rounds, p.headline.rule.budget);
        assert!(r.headline.rule.min_samples >= 3);
        assert!(r.headline.rule.max_samples >= r.headline.rule.min_samples);
        assert_eq!(r.micro, p.micro);
        let tiny = StopRule {
            min_samples: 3,
            max_samples: 3,
            ..p.micro
        };
        let s = share(tiny, 3);
        assert_eq!((s.min_samples, s.max_samples), (3, 3));
    }
}
