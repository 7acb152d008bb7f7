//! Noise-aware sampling: what else used the CPU during each sample block, redoing blocks that
//! were contaminated, interleaved rounds, and a noise grade per run.
//!
//! On a VM of a shared host, the host's load arrives in bursts that show inside the guest as
//! **steal**, not in the load average; other processes of the guest (a compiler, a backup) take
//! CPU from the measured threads. Either inflates what a probe measures, two to three times in
//! a burst. So every *block* of samples (one sweep or one scheme in one round) is bracketed by
//! two [`Snapshot`]s and gets a [`BlockNoise`] (judged over at least [`MIN_WINDOW`], since
//! `/proc` counts in clock ticks):
//!
//! - **steal**, from the `cpu` line of `/proc/stat`, in cores over the block;
//! - **other processes' CPU**, summed from `/proc/*/stat` (`utime + stime`, plus the CPU of
//!   children they reaped during the block, less what those children had used before it),
//!   excluding the measurement's own process, its descendants and named extra pids (a
//!   measured server); in cores;
//! - **involuntary context switches** of the measured processes' threads
//!   (`/proc/<pid>/task/*/status`); threads that exit inside the block are not counted.
//!
//! A block over a [`Thresholds`] value is redone ([`block::measure_block`]) while the run's
//! time budget allows; what was redone and why is logged ([`block::NoiseLog`]) and stored in the
//! profile as a [`costmodel::NoiseRecord`] with a grade. Rounds ([`rounds`]) interleave every
//! transport and scheme so a drift or a burst spreads over all coefficients, and the interval
//! of each coefficient comes from the spread between rounds.
//!
//! The `/proc` reader and the clock are behind [`ProcSource`] and [`Clock`], so the rules are
//! tested with a fake clock and fake readings.
//!
//! # Using it for other sample blocks
//!
//! ```no_run
//! use calibrate::harness::WallClock;
//! use calibrate::noise::block::{NoiseLog, RedoPolicy, measure_block};
//! use calibrate::noise::{LinuxProc, Monitor, Thresholds};
//! # fn sweep_point() -> Result<f64, std::io::Error> { Ok(1.0) }
//! let clock = WallClock::start();
//! let mut monitor = Monitor::new(LinuxProc::new(), &clock, Thresholds::default());
//! monitor.exclude(4242); // the server being measured
//! let mut log = NoiseLog::new(Thresholds::default());
//! let policy = RedoPolicy::within(std::time::Duration::from_secs(60));
//! let v = measure_block(&monitor, &mut log, "point k=8", &policy, sweep_point)?;
//! let record = log.record(1); // grade, steal, other CPU, redos
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod block;
pub mod proc;
pub mod report;
pub mod rounds;

use std::collections::HashMap;
use std::io;
use std::time::Duration;

pub use crate::harness::Clock;
pub use proc::{LinuxProc, ProcSource, ProcStat};

/// The shortest window noise is judged over: `/proc` counts CPU in ticks (100 a second here),
/// so over a 5 ms block one tick of a daemon would read as two cores.
pub const MIN_WINDOW: Duration = Duration::from_millis(250);

/// Steal or other-process CPU above which a block is contaminated, in cores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Steal, cores.
    pub steal_cores: f64,
    /// Other processes' CPU, cores.
    pub other_cpu_cores: f64,
}

impl Default for Thresholds {
    /// 0.10 cores of steal (the issue's bad runs averaged 0.055 over a whole run, in bursts),
    /// 0.25 cores of other processes (an idle VM's daemons and kernel threads use about 0.01).
    fn default() -> Self {
        Thresholds {
            steal_cores: 0.10,
            other_cpu_cores: 0.25,
        }
    }
}

/// The system's state at the start of a block.
#[derive(Clone, Debug)]
pub struct Snapshot {
    at: Duration,
    steal: u64,
    procs: HashMap<u32, ProcStat>,
    switches: u64,
}

/// What else used the CPU during one block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockNoise {
    /// Length of the block, seconds.
    pub seconds: f64,
    /// Steal, cores.
    pub steal_cores: f64,
    /// Other processes' CPU, cores.
    pub other_cpu_cores: f64,
    /// Involuntary context switches of the measured processes' threads.
    pub involuntary_switches: u64,
    /// The other process that used the most CPU, with its cores.
    pub top_other: Option<(String, f64)>,
}

impl BlockNoise {
    /// Why this block is contaminated under `t`, or `None` when it is clean.
    pub fn contamination(&self, t: &Thresholds) -> Option<String> {
        let mut why = Vec::new();
        if self.steal_cores > t.steal_cores {
            why.push(format!(
                "steal {:.2} cores > {:.2}",
                self.steal_cores, t.steal_cores
            ));
        }
        if self.other_cpu_cores > t.other_cpu_cores {
            let top = self
                .top_other
                .as_ref()
                .map(|(c, x)| format!(", most by {c} ({x:.2})"))
                .unwrap_or_default();
            why.push(format!(
                "other processes {:.2} cores > {:.2}{top}",
                self.other_cpu_cores, t.other_cpu_cores
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// How far over the thresholds, as the larger ratio (below 1 when clean).
    pub fn excess(&self, t: &Thresholds) -> f64 {
        (self.steal_cores / t.steal_cores.max(1e-9))
            .max(self.other_cpu_cores / t.other_cpu_cores.max(1e-9))
    }
}

/// Takes [`Snapshot`]s and turns pairs of them into [`BlockNoise`].
pub struct Monitor<'c, S: ProcSource> {
    source: S,
    clock: &'c dyn Clock,
    measured: Vec<u32>,
    thresholds: Thresholds,
}

impl<'c, S: ProcSource> Monitor<'c, S> {
    /// A monitor of this process (and its descendants) reading `source`, timing with `clock`.
    pub fn new(source: S, clock: &'c dyn Clock, thresholds: Thresholds) -> Self {
        Monitor {
            source,
            clock,
            measured: vec![std::process::id()],
            thresholds,
        }
    }

    /// The same monitor measuring `pids` instead of this process (tests, or a harness that
    /// measures only a server).
    pub fn measuring(mut self, pids: Vec<u32>) -> Self {
        self.measured = pids;
        self
    }

    /// Also counts `pid` (and its descendants) as part of the measurement: a server being
    /// measured from outside.
    pub fn exclude(&mut self, pid: u32) {
        if !self.measured.contains(&pid) {
            self.measured.push(pid);
        }
    }

    /// The thresholds blocks are judged by.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock
    }

    /// The state now.
    ///
    /// # Errors
    /// `/proc` cannot be read.
    pub fn begin(&self) -> io::Result<Snapshot> {
        let at = self.clock.elapsed();
        let steal = self.source.steal_ticks()?;
        let procs = self
            .source
            .processes()?
            .into_iter()
            .map(|p| (p.pid, p))
            .collect();
        let switches = self.switches();
        Ok(Snapshot {
            at,
            steal,
            procs,
            switches,
        })
    }

    fn switches(&self) -> u64 {
        // A measured server that died mid-block is reported by its own harness, not here.
        self.measured
            .iter()
            .filter_map(|&p| self.source.involuntary_switches(p).ok())
            .sum()
    }

    /// What else used the CPU since `start`.
    ///
    /// # Errors
    /// `/proc` cannot be read.
    pub fn end(&self, start: &Snapshot) -> io::Result<BlockNoise> {
        let now = self.begin()?;
        // From before the first reading to after the last, so every counter's change falls
        // inside the window.
        let seconds = self
            .clock
            .elapsed()
            .saturating_sub(start.at)
            .as_secs_f64()
            .max(1e-6);
        let hz = self.source.ticks_per_second().max(1.0);
        // Counters move in whole ticks: over a short block one tick would read as a core, so
        // a block is judged over at least MIN_WINDOW.
        let judged = seconds.max(MIN_WINDOW.as_secs_f64());
        let cores = |ticks: f64| ticks / hz / judged;
        let mine = measured_set(&self.measured, &start.procs, &now.procs);
        let mut per: HashMap<&str, f64> = HashMap::new();
        let mut total = 0.0f64;
        for (pid, p) in &now.procs {
            if mine.contains(pid) {
                continue;
            }
            let used = match start.procs.get(pid) {
                Some(b) => {
                    (p.cpu_ticks + p.child_ticks).saturating_sub(b.cpu_ticks + b.child_ticks) as f64
                }
                // Started during the block (pid reuse within one block is ignored).
                None => (p.cpu_ticks + p.child_ticks) as f64,
            };
            total += used;
            *per.entry(p.comm.as_str()).or_default() += used;
        }
        // A process that exited was reaped: its whole CPU moved into its reaper's child time
        // (its parent, or init when the parent went first), which the loop above counted when
        // the reaper is not part of the measurement; only what it used inside the block belongs
        // here. (A measured helper reaped by init still adds its in-block CPU: not separable.)
        for (pid, b) in &start.procs {
            if now.procs.contains_key(pid) {
                continue;
            }
            let reaper = if now.procs.contains_key(&b.ppid) {
                b.ppid
            } else {
                1
            };
            if mine.contains(&reaper) {
                continue;
            }
            let before = (b.cpu_ticks + b.child_ticks) as f64;
            total -= before;
            let name = now.procs.get(&reaper).map_or(b.comm.as_str(), |p| &p.comm);
            *per.entry(name).or_default() -= before;
        }
        let top_other = per
            .into_iter()
            .filter(|(_, t)| *t > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, t)| (c.to_owned(), cores(t)));
        Ok(BlockNoise {
            seconds,
            steal_cores: cores(now.steal.saturating_sub(start.steal) as f64),
            other_cpu_cores: cores(total.max(0.0)),
            involuntary_switches: now.switches.saturating_sub(start.switches),
            top_other,
        })
    }
}

/// Waits up to `bound` for a window of two seconds in which this host is quiet under
/// `thresholds` (`calibrate run --require-quiet`).
///
/// # Errors
/// One line saying what was seen when no window was quiet, or why `/proc` cannot be read.
pub fn require_quiet(thresholds: Thresholds, bound: Duration) -> Result<BlockNoise, String> {
    let clock = crate::harness::WallClock::start();
    let monitor = Monitor::new(LinuxProc::new(), &clock, thresholds);
    block::wait_for_quiet(&monitor, Duration::from_secs(2), bound, std::thread::sleep)
}

/// The measured pids and every descendant seen in either snapshot.
fn measured_set(roots: &[u32], a: &HashMap<u32, ProcStat>, b: &HashMap<u32, ProcStat>) -> Vec<u32> {
    let mut set: Vec<u32> = roots.to_vec();
    loop {
        let before = set.len();
        for p in a.values().chain(b.values()) {
            if set.contains(&p.ppid) && !set.contains(&p.pid) {
                set.push(p.pid);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

#[cfg(test)]
pub(crate) mod fake;
