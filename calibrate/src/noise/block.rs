//! Blocks measured under watch: redone when contaminated, logged, graded.
//!
//! [`measure_block`] runs a block of samples between two snapshots. When the block's steal or
//! other-process CPU crossed a threshold, it is measured again, up to
//! [`RedoPolicy::max_attempts`] times and only while another try of the same length still ends
//! before [`RedoPolicy::deadline`]; when every try was contaminated the least contaminated one
//! is kept and counted as contaminated. [`NoiseLog::record`] grades the run:
//!
//! A block that left the run's machine state ([`super::core_state`]) counts as contaminated
//! like one over a threshold; before it is redone, the harness waits for the state to return.
//!
//! - **unusable** when more than a quarter of the blocks kept are contaminated: the numbers
//!   would describe the noise, so a caller reports the grade instead of a number;
//! - **noisy** when any block kept is contaminated, or more than a quarter had to be redone,
//!   or the cores read shared with another guest around more than half the blocks
//!   ([`costmodel::SharedCores::mostly_shared`]; recorded, not redone, unless the run holds
//!   its blocks to free cores);
//! - **quiet** otherwise.

use std::time::Duration;

use costmodel::{NoiseGrade, NoiseRecord, NoiseStat, Redo};

use super::{BlockNoise, Clock, Monitor, ProcSource, Thresholds};
use crate::stats::median;

/// How many times, and until when, a contaminated block may be measured again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedoPolicy {
    /// Tries per block, the first included (at least 1).
    pub max_attempts: u32,
    /// Clock time after which no redo starts that would end past it.
    pub deadline: Duration,
}

impl RedoPolicy {
    /// Three tries per block, none ending after `deadline` on the monitor's clock.
    pub fn within(deadline: Duration) -> Self {
        RedoPolicy {
            max_attempts: 3,
            deadline,
        }
    }

    /// Runs `other` (someone else's measurement, between this one's rounds) without charging
    /// its time to the redo budget: the deadline moves on by as long as `other` took on `clock`.
    pub fn outside_budget<C: Clock + ?Sized, T>(
        &mut self,
        clock: &C,
        other: impl FnOnce() -> T,
    ) -> T {
        let start = clock.elapsed();
        let value = other();
        self.deadline += clock.elapsed().saturating_sub(start);
        value
    }
}

/// One block kept.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockEntry {
    /// What the block measured.
    pub name: String,
    /// Its noise, when `/proc` could be read.
    pub noise: Option<BlockNoise>,
    /// Why it is contaminated, when it is.
    pub contaminated: Option<String>,
    /// Tries it took.
    pub attempts: u32,
}

/// A block's value and whether the try kept was clean.
#[derive(Clone, Debug, PartialEq)]
pub struct Kept<T> {
    /// What the block measured.
    pub value: T,
    /// False when every try crossed a threshold.
    pub clean: bool,
    /// Whether the try kept read its cores shared with another guest (the wide kernel over
    /// [`super::sibling::FACTOR`] around it), held to free cores or not; false when the cores
    /// are not watched.
    pub shared: bool,
}

/// Every block of a run: what was kept, what was redone and why.
#[derive(Clone, Debug)]
pub struct NoiseLog {
    thresholds: Thresholds,
    entries: Vec<BlockEntry>,
    redos: Vec<Redo>,
    max_steal: f64,
    max_other: f64,
    unobservable: Option<String>,
}

impl NoiseLog {
    /// An empty log judging by `thresholds`.
    pub fn new(thresholds: Thresholds) -> Self {
        NoiseLog {
            thresholds,
            entries: Vec::new(),
            redos: Vec::new(),
            max_steal: 0.0,
            max_other: 0.0,
            unobservable: None,
        }
    }

    /// The blocks kept, in order.
    pub fn entries(&self) -> &[BlockEntry] {
        &self.entries
    }

    /// Every redo, in order.
    pub fn redos(&self) -> &[Redo] {
        &self.redos
    }

    /// Why noise could not be observed (no `/proc`), when it could not.
    pub fn unobservable(&self) -> Option<&str> {
        self.unobservable.as_deref()
    }

    /// How often the blocks kept read their cores shared, when they were timed
    /// ([`super::sibling`]).
    fn shared_cores(&self) -> Option<costmodel::SharedCores> {
        let timed: Vec<super::SiblingReading> = self
            .entries
            .iter()
            .filter_map(|e| e.noise.as_ref()?.cores)
            .collect();
        let slowdowns: Vec<f64> = timed.iter().map(|r| r.slowdown).collect();
        let ns: Vec<f64> = timed.iter().map(|r| r.ns).collect();
        Some(costmodel::SharedCores {
            blocks: u32::try_from(timed.len()).ok().filter(|&n| n > 0)?,
            shared: u32::try_from(timed.iter().filter(|r| r.shared()).count()).unwrap_or(u32::MAX),
            median: median(&slowdowns),
            max: slowdowns.iter().copied().fold(1.0, f64::max),
            factor: super::sibling::FACTOR,
            held: timed.iter().any(|r| r.held),
            median_ns: Some(median(&ns)),
            fastest_ns: Some(ns.iter().copied().fold(f64::INFINITY, f64::min)),
        })
    }

    fn saw(&mut self, n: &BlockNoise) {
        self.max_steal = self.max_steal.max(n.steal_cores);
        self.max_other = self.max_other.max(n.other_cpu_cores);
    }

    /// The run's record for the profile, over `rounds` interleaved rounds.
    pub fn record(&self, rounds: u32) -> NoiseRecord {
        let seen: Vec<&BlockNoise> = self
            .entries
            .iter()
            .filter_map(|e| e.noise.as_ref())
            .collect();
        let med = |f: fn(&BlockNoise) -> f64| {
            let v: Vec<f64> = seen.iter().map(|n| f(n)).collect();
            if v.is_empty() { 0.0 } else { median(&v) }
        };
        let blocks = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let contaminated = u32::try_from(
            self.entries
                .iter()
                .filter(|e| e.contaminated.is_some())
                .count(),
        )
        .unwrap_or(u32::MAX);
        let redone = u32::try_from(self.redos.len()).unwrap_or(u32::MAX);
        let shared_cores = self.shared_cores();
        NoiseRecord {
            grade: grade(
                blocks,
                contaminated,
                redone,
                shared_cores.is_some_and(|c| c.mostly_shared()),
            ),
            rounds,
            blocks,
            redone,
            contaminated,
            steal_cores: NoiseStat {
                median: med(|n| n.steal_cores),
                max: self.max_steal,
            },
            other_cpu_cores: NoiseStat {
                median: med(|n| n.other_cpu_cores),
                max: self.max_other,
            },
            involuntary_switches_per_s: costmodel::PerSecond::new(med(|n| {
                n.involuntary_switches as f64 / n.seconds
            })),
            steal_threshold: self.thresholds.steal_cores,
            other_cpu_threshold: self.thresholds.other_cpu_cores,
            redos: self.redos.clone(),
            core_state: self
                .entries
                .iter()
                .rev()
                .find_map(|e| Some(e.noise.as_ref()?.core_state?.state)),
            speed: super::speed::summarize(
                self.entries.iter().filter_map(|e| e.noise.as_ref()?.speed),
            ),
            // Filled in by the run, which has the rounds' coefficients.
            round_spread: None,
            shared_cores,
        }
    }
}

/// The grade of a run with `blocks` kept, `contaminated` of them over a threshold, `redone`
/// redos, and its cores read shared around most blocks or not (`cores_mostly_shared`: such a
/// run measured another guest's load as much as this host's; its numbers stand, as a noisy
/// run's do). See the module docs.
pub fn grade(blocks: u32, contaminated: u32, redone: u32, cores_mostly_shared: bool) -> NoiseGrade {
    if u64::from(contaminated) * 4 > u64::from(blocks) {
        NoiseGrade::Unusable
    } else if contaminated > 0 || u64::from(redone) * 4 > u64::from(blocks) || cores_mostly_shared {
        NoiseGrade::Noisy
    } else {
        NoiseGrade::Quiet
    }
}

/// Runs the block `f` (named `name`) under `monitor`, redoing it under `policy` while it is
/// contaminated, and logs it. See the module docs.
///
/// # Errors
/// The first error `f` returns (the block is then not logged).
pub fn measure_block<S: ProcSource, T, E>(
    monitor: &Monitor<'_, S>,
    log: &mut NoiseLog,
    name: &str,
    policy: &RedoPolicy,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<Kept<T>, E> {
    let clock = monitor.clock();
    let t = monitor.thresholds();
    let mut best: Option<(T, BlockNoise, String)> = None;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let start = monitor.begin();
        let t0 = clock.elapsed();
        let value = f()?;
        let took = clock.elapsed().saturating_sub(t0);
        let noise = match start.and_then(|s| monitor.end(&s)) {
            Ok(n) => n,
            Err(e) => {
                log.unobservable
                    .get_or_insert_with(|| format!("noise not observable: {e}"));
                log.entries.push(BlockEntry {
                    name: name.to_owned(),
                    noise: None,
                    contaminated: None,
                    attempts: attempt,
                });
                return Ok(Kept {
                    value,
                    clean: true,
                    shared: false,
                });
            }
        };
        log.saw(&noise);
        let Some(reason) = noise.contamination(&t) else {
            let shared = noise.cores_read_shared();
            log.entries.push(BlockEntry {
                name: name.to_owned(),
                noise: Some(noise),
                contaminated: None,
                attempts: attempt,
            });
            return Ok(Kept {
                value,
                clean: true,
                shared,
            });
        };
        let state_left = noise.state_left();
        let core_shared = noise.core_shared();
        if best
            .as_ref()
            .is_none_or(|(_, b, _)| noise.excess(&t) < b.excess(&t))
        {
            best = Some((value, noise, reason.clone()));
        }
        let room = clock.elapsed() + took <= policy.deadline;
        if attempt < policy.max_attempts.max(1) && room {
            // The machine state dwells for seconds: an immediate redo would find it unchanged.
            if state_left {
                monitor.wait_for_state(policy.deadline.saturating_sub(clock.elapsed() + took));
            }
            // A shared core stays shared for seconds too.
            if core_shared {
                monitor.wait_for_free_cores(policy.deadline.saturating_sub(clock.elapsed() + took));
            }
            log.redos.push(Redo {
                block: name.to_owned(),
                reason: format!("try {attempt}: {reason}"),
            });
            continue;
        }
        let (value, noise, reason) = best.take().unwrap_or_else(|| unreachable!());
        let shared = noise.cores_read_shared();
        log.entries.push(BlockEntry {
            name: name.to_owned(),
            noise: Some(noise),
            contaminated: Some(format!(
                "{reason} (kept after {attempt} tries{})",
                if room { "" } else { ": no time left to redo" }
            )),
            attempts: attempt,
        });
        return Ok(Kept {
            value,
            clean: false,
            shared,
        });
    }
}

/// How a redo's reason starts when [`remeasure_block`] logged it.
pub const LATER: &str = "after the rounds: ";

/// Measures again, later, the block logged at `index` that was kept over a threshold: a run
/// that finished its rounds with blocks no redo could clean (a burst outlasted the tries)
/// comes back to them once the burst may have passed. One try (`f`, under `policy`'s
/// deadline); it takes the logged block's place when it is clean or less contaminated, and is
/// logged as a redo of that block either way, so the grade counts what the run keeps.
/// `Ok(None)` when `index` is no contaminated block, or no try fits before the deadline.
///
/// # Errors
/// The error `f` returns (the log is then as it was).
pub fn remeasure_block<S: ProcSource, T, E>(
    monitor: &Monitor<'_, S>,
    log: &mut NoiseLog,
    index: usize,
    policy: &RedoPolicy,
    f: impl FnMut() -> Result<T, E>,
) -> Result<Option<Kept<T>>, E> {
    let Some(old) = log.entries.get(index).cloned() else {
        return Ok(None);
    };
    let Some(reason) = old.contaminated.clone() else {
        return Ok(None);
    };
    if monitor.clock().elapsed() >= policy.deadline {
        return Ok(None);
    }
    let once = RedoPolicy {
        max_attempts: 1,
        deadline: policy.deadline,
    };
    let kept = measure_block(monitor, log, &old.name, &once, f)?;
    let Some(mut new) = log.entries.pop() else {
        unreachable!("measure_block logs the block it kept")
    };
    new.attempts += old.attempts;
    let t = log.thresholds;
    let excess = |e: &BlockEntry| e.noise.as_ref().map_or(f64::INFINITY, |n| n.excess(&t));
    let better = kept.clean || excess(&new) < excess(&old);
    log.redos.push(Redo {
        block: old.name.clone(),
        reason: format!(
            "{LATER}{reason}{}",
            if better { "" } else { "; still over" }
        ),
    });
    if better {
        log.entries[index] = new;
    } else {
        log.entries[index].attempts = new.attempts;
    }
    Ok(Some(kept))
}

/// Watches the host in windows of `window` until one is clean, for at most `bound`.
/// `sleep` waits (the real one is `std::thread::sleep`). Returns the clean window's noise, or
/// the last window's as the error.
///
/// # Errors
/// No window within `bound` was clean (or `/proc` cannot be read: the error names it).
pub fn wait_for_quiet<S: ProcSource>(
    monitor: &Monitor<'_, S>,
    window: Duration,
    bound: Duration,
    mut sleep: impl FnMut(Duration),
) -> Result<BlockNoise, String> {
    let clock = monitor.clock();
    let start = clock.elapsed();
    loop {
        let s = monitor
            .begin()
            .map_err(|e| format!("cannot read /proc: {e}"))?;
        sleep(window);
        let n = monitor
            .end(&s)
            .map_err(|e| format!("cannot read /proc: {e}"))?;
        let Some(reason) = n.contamination(&monitor.thresholds()) else {
            return Ok(n);
        };
        if clock.elapsed().saturating_sub(start) + window > bound {
            return Err(format!(
                "host not quiet within {:.0} s (last {:.0} s: {reason}); run without \
                 --require-quiet to measure anyway",
                bound.as_secs_f64(),
                window.as_secs_f64()
            ));
        }
    }
}

#[cfg(test)]
mod tests;
