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
pub mod core_state;
pub mod proc;
pub mod report;
pub mod rounds;
pub mod sibling;
pub mod speed;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::time::Duration;

use costmodel::CoreState;

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
    core_rtt: Option<f64>,
    speed: Option<(u32, speed::SpeedReading)>,
    cores: Option<SiblingReading>,
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
    /// The machine state before and after the block, when it is watched.
    pub core_state: Option<StateReading>,
    /// The reference kernel (and the memory latency) timed at the block's start, when the
    /// speed is watched, with the CPU ([`speed`]).
    pub speed: Option<(u32, speed::SpeedReading)>,
    /// The slowest of the wide kernel's timings before and after the block against the run's
    /// fastest on the same CPU, when the cores are watched ([`sibling`]).
    pub cores: Option<SiblingReading>,
}

/// The wide kernel's slowest timing around a block, against the run's fastest on its CPU
/// ([`sibling`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiblingReading {
    /// The CPU.
    pub cpu: u32,
    /// How many times the run's fastest timing on that CPU it is (at least 1).
    pub slowdown: f64,
    /// The timing itself, ns per round.
    pub ns: f64,
    /// Whether the run holds its blocks to free cores ([`Monitor::watch_siblings`]).
    pub held: bool,
}

impl SiblingReading {
    /// Whether the core was shared: slower than [`sibling::FACTOR`] times the floor.
    pub fn shared(&self) -> bool {
        self.slowdown > sibling::FACTOR
    }

    /// Whether the block is contaminated by it: shared, in a run held to free cores.
    fn contaminates(&self) -> bool {
        self.held && self.shared()
    }

    /// The slower of two readings.
    fn worst(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.slowdown > a.slowdown { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// The machine state around one block ([`costmodel::CoreState`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StateReading {
    /// Cache-line round trip before the block, ns.
    pub before_ns: f64,
    /// And after it, ns.
    pub after_ns: f64,
    /// The state the run holds its blocks to.
    pub state: CoreState,
}

impl StateReading {
    /// Whether the block ran in the run's state from start to end.
    pub fn held(&self) -> bool {
        self.state.holds(self.before_ns) && self.state.holds(self.after_ns)
    }

    /// How far from the run's state, as a factor over [`CoreState::FACTOR`] (at most 1 when
    /// held).
    fn excess(&self) -> f64 {
        let r = self.state.round_trip_ns.max(1e-9);
        [self.before_ns, self.after_ns]
            .iter()
            .map(|v| (v / r).max(r / v.max(1e-9)))
            .fold(0.0, f64::max)
            / CoreState::FACTOR
    }
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
        if let Some(r) = self.core_state.filter(|r| !r.held()) {
            why.push(format!(
                "{STATE_REASON}: cache-line round trip {:.0} ns before, {:.0} ns after, the \
                 run's {:.0} ns (cpus {}-{})",
                r.before_ns, r.after_ns, r.state.round_trip_ns, r.state.cpus[0], r.state.cpus[1]
            ));
        }
        if let Some(r) = self.cores.filter(SiblingReading::contaminates) {
            why.push(format!(
                "{}: wide kernel {:.2}x the run's fastest on cpu {} > {:.2}",
                sibling::REASON,
                r.slowdown,
                r.cpu,
                sibling::FACTOR
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Whether the wide kernel read its cores shared with another guest around the block
    /// ([`sibling`]), held to free cores or not; false when the cores are not watched.
    pub fn cores_read_shared(&self) -> bool {
        self.cores.is_some_and(|r| r.shared())
    }

    /// Whether the block ran on a core shared with another guest ([`sibling`]) in a run held to
    /// free cores.
    pub fn core_shared(&self) -> bool {
        self.cores.is_some_and(|r| r.contaminates())
    }

    /// Whether the block left the run's machine state.
    pub fn state_left(&self) -> bool {
        self.core_state.is_some_and(|r| !r.held())
    }

    /// How far over the thresholds, as the larger ratio (below 1 when clean).
    pub fn excess(&self, t: &Thresholds) -> f64 {
        (self.steal_cores / t.steal_cores.max(1e-9))
            .max(self.other_cpu_cores / t.other_cpu_cores.max(1e-9))
            .max(self.core_state.map_or(0.0, |r| r.excess()))
            .max(
                self.cores
                    .filter(|r| r.held)
                    .map_or(0.0, |r| r.slowdown / sibling::FACTOR),
            )
    }
}

/// Takes [`Snapshot`]s and turns pairs of them into [`BlockNoise`].
pub struct Monitor<'c, S: ProcSource> {
    source: S,
    clock: &'c dyn Clock,
    measured: Vec<u32>,
    thresholds: Thresholds,
    state: Option<StateWatch<'c>>,
    speed: Option<SpeedWatch<'c>>,
    cores: Option<SiblingWatch<'c>>,
}

/// A timing of the reference kernel (and the memory latency) on a CPU, or `None` when it cannot
/// be taken.
pub type SpeedProbe<'c> = Box<dyn Fn(u32) -> Option<speed::SpeedReading> + 'c>;

struct SpeedWatch<'c> {
    cpus: Vec<u32>,
    probe: SpeedProbe<'c>,
    next: Cell<usize>,
}

/// A probe of the machine state: the cache-line round trip in ns, or `None` when it cannot be
/// read.
pub type StateProbe<'c> = Box<dyn Fn() -> Option<f64> + 'c>;

/// How a contamination reason for a block that left the run's machine state begins (a redo's
/// reason names it: [`rounds::lost_state`] counts them).
pub const STATE_REASON: &str = "machine state";

/// The longest a block waits for the run's machine state to come back before it is measured
/// again (the state dwells seconds to tens of seconds; the run's time cap bounds it further).
pub const STATE_WAIT: Duration = Duration::from_secs(5);

/// A timing of the wide kernel on a CPU, ns per round ([`sibling`]), or `None` when it cannot
/// be taken.
pub type SiblingProbe<'c> = Box<dyn Fn(u32) -> Option<f64> + 'c>;

struct SiblingWatch<'c> {
    cpus: Vec<u32>,
    probe: SiblingProbe<'c>,
    floors: RefCell<sibling::Floors>,
    hold: Option<Duration>,
}

struct StateWatch<'c> {
    cpus: [u32; 2],
    probe: StateProbe<'c>,
    reference: Cell<Option<f64>>,
    wait: Duration,
}

impl<'c, S: ProcSource> Monitor<'c, S> {
    /// A monitor of this process (and its descendants) reading `source`, timing with `clock`.
    pub fn new(source: S, clock: &'c dyn Clock, thresholds: Thresholds) -> Self {
        Monitor {
            source,
            clock,
            measured: vec![std::process::id()],
            thresholds,
            state: None,
            speed: None,
            cores: None,
        }
    }

    /// The same monitor also timing the wide kernel with `probe` on each of `cpus` before and
    /// after every block, judging each against the run's fastest on that CPU ([`sibling`]) and
    /// recording it ([`costmodel::SharedCores`]). With `hold`, a block with a timing over
    /// [`sibling::FACTOR`] also counts as contaminated and is redone once the cores read free
    /// again, waiting up to that long. Nothing when `cpus` is empty.
    pub fn watch_siblings(
        mut self,
        cpus: Vec<u32>,
        probe: SiblingProbe<'c>,
        hold: Option<Duration>,
    ) -> Self {
        if !cpus.is_empty() {
            self.cores = Some(SiblingWatch {
                cpus,
                probe,
                floors: RefCell::new(sibling::Floors::default()),
                hold,
            });
        }
        self
    }

    /// The same monitor timing the wide kernel on this host's `cpus`
    /// ([`sibling::wide_ns_per_round`]); with `hold`, holding blocks to free cores (waiting up
    /// to [`sibling::WAIT`]). The built-in runs record only unless asked: held, a quick
    /// calibration on the 2-vCPU Xeon VM kept 20 of its 60 blocks over the factor after three
    /// tries each and was unusable.
    pub fn watch_this_host_siblings(self, cpus: &[usize], hold: bool) -> Self {
        let cpus = cpus.iter().filter_map(|&c| u32::try_from(c).ok()).collect();
        self.watch_siblings(
            cpus,
            Box::new(|c| sibling::wide_ns_per_round(usize::try_from(c).ok()?)),
            hold.then_some(sibling::WAIT),
        )
    }

    /// The same monitor timing the wide kernel on this host's first two CPUs, the pair the
    /// machine state is read on (one when there is one); `hold` as in
    /// [`Monitor::watch_this_host_siblings`].
    pub fn watch_this_host_siblings_on_probe_cpus(self, hold: bool) -> Self {
        self.watch_this_host_siblings(&probe_cpu_list(), hold)
    }

    /// The wide kernel on every watched CPU, each taken into its floor; the slowest.
    fn read_cores(&self) -> Option<SiblingReading> {
        let w = self.cores.as_ref()?;
        let mut worst = None;
        for &cpu in &w.cpus {
            let Some(ns) = (w.probe)(cpu) else { continue };
            let slowdown = w.floors.borrow_mut().judge(cpu, ns);
            worst = SiblingReading::worst(
                worst,
                Some(SiblingReading {
                    cpu,
                    slowdown,
                    ns,
                    held: w.hold.is_some(),
                }),
            );
        }
        worst
    }

    /// Waits up to `bound` (and the watch's own limit, on the monitor's clock) for every watched
    /// CPU to read within [`sibling::FACTOR`] of its floor, reading them every
    /// [`sibling::POLL`]. True when they do.
    pub fn wait_for_free_cores(&self, bound: Duration) -> bool {
        let Some((w, wait)) = self.cores.as_ref().and_then(|w| Some((w, w.hold?))) else {
            return true;
        };
        let until = self.clock.elapsed() + bound.min(wait);
        loop {
            let free = w.cpus.iter().all(|&cpu| {
                (w.probe)(cpu).is_none_or(|ns| {
                    let r = w.floors.borrow().ratio(cpu, ns);
                    r <= sibling::FACTOR
                })
            });
            if free {
                return true;
            }
            if self.clock.elapsed() + sibling::POLL > until {
                return false;
            }
            std::thread::sleep(sibling::POLL);
        }
    }

    /// The same monitor also timing the reference kernel with `probe` at the start of every
    /// block, on each of `cpus` in turn ([`speed`]). Nothing when `cpus` is empty.
    pub fn watch_speed(mut self, cpus: Vec<u32>, probe: SpeedProbe<'c>) -> Self {
        if !cpus.is_empty() {
            self.speed = Some(SpeedWatch {
                cpus,
                probe,
                next: Cell::new(0),
            });
        }
        self
    }

    /// The same monitor timing the reference kernel and the memory latency on this host's `cpus`
    /// ([`speed::reading`]).
    pub fn watch_this_host_speed(self, cpus: &[usize]) -> Self {
        let cpus = cpus.iter().filter_map(|&c| u32::try_from(c).ok()).collect();
        self.watch_speed(cpus, Box::new(|c| speed::reading(usize::try_from(c).ok()?)))
    }

    /// The same monitor timing the reference kernel on this host's first two CPUs, the pair
    /// the machine state is read on (one when there is one).
    pub fn watch_this_host_speed_on_probe_cpus(self) -> Self {
        self.watch_this_host_speed(&probe_cpu_list())
    }

    fn read_speed(&self) -> Option<(u32, speed::SpeedReading)> {
        let w = self.speed.as_ref()?;
        let i = w.next.get();
        w.next.set(i.wrapping_add(1));
        let cpu = w.cpus[i % w.cpus.len()];
        Some((cpu, (w.probe)(cpu)?))
    }

    /// The same monitor also reading the machine state ([`core_state`]) with `probe` on `cpus`
    /// before and after every block, holding blocks to `reference` (a round trip in ns), or
    /// when `None` to the state the first reading finds. A block that left it counts as
    /// contaminated, and is redone once the state is back, waiting up to `wait`.
    pub fn watch_core_state(
        mut self,
        cpus: [u32; 2],
        probe: StateProbe<'c>,
        reference: Option<f64>,
        wait: Duration,
    ) -> Self {
        self.state = Some(StateWatch {
            cpus,
            probe,
            reference: Cell::new(reference),
            wait,
        });
        self
    }

    /// The same monitor watching this host's machine state on its first two CPUs
    /// ([`core_state::round_trip_ns`]), held to `reference` when it was measured on those CPUs
    /// (a profile's), or else to the state the first reading finds. Unchanged on one CPU.
    pub fn watch_this_host_state(self, reference: Option<&CoreState>) -> Self {
        let Some([a, b]) = core_state::probe_cpus() else {
            return self;
        };
        let cpus = [a, b].map(|c| u32::try_from(c).unwrap_or(u32::MAX));
        let reference = reference
            .filter(|r| r.cpus == cpus)
            .map(|r| r.round_trip_ns);
        self.watch_core_state(
            cpus,
            Box::new(move || core_state::round_trip_ns(a, b)),
            reference,
            STATE_WAIT,
        )
    }

    /// The state blocks are held to, once known.
    pub fn core_state(&self) -> Option<CoreState> {
        let w = self.state.as_ref()?;
        Some(CoreState {
            cpus: w.cpus,
            round_trip_ns: w.reference.get()?,
        })
    }

    fn read_state(&self) -> Option<f64> {
        let w = self.state.as_ref()?;
        let v = (w.probe)()?;
        if w.reference.get().is_none() {
            w.reference.set(Some(v));
        }
        Some(v)
    }

    /// Waits up to `bound` (and the watch's own limit) for the machine to be back in the run's
    /// state, reading it every [`core_state::POLL`]. True when it is.
    pub fn wait_for_state(&self, bound: Duration) -> bool {
        let (Some(w), Some(state)) = (self.state.as_ref(), self.core_state()) else {
            return true;
        };
        core_state::wait_with(&state, bound.min(w.wait), &w.probe)
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
        self.snapshot(true)
    }

    /// The state now; with `timed`, the reference kernel timed too (at a block's start only).
    fn snapshot(&self, timed: bool) -> io::Result<Snapshot> {
        let at = self.clock.elapsed();
        let steal = self.source.steal_ticks()?;
        let procs = self
            .source
            .processes()?
            .into_iter()
            .map(|p| (p.pid, p))
            .collect();
        let switches = self.switches();
        let core_rtt = self.read_state();
        let speed = if timed { self.read_speed() } else { None };
        let cores = self.read_cores();
        Ok(Snapshot {
            at,
            steal,
            procs,
            switches,
            core_rtt,
            speed,
            cores,
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
        let now = self.snapshot(false)?;
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
            core_state: match (start.core_rtt, now.core_rtt, self.core_state()) {
                (Some(before_ns), Some(after_ns), Some(state)) => Some(StateReading {
                    before_ns,
                    after_ns,
                    state,
                }),
                _ => None,
            },
            speed: start.speed,
            cores: SiblingReading::worst(start.cores, now.cores),
        })
    }
}

/// The CPUs the machine state is read on ([`core_state::probe_cpus`]), or the first allowed one
/// on a host with one.
fn probe_cpu_list() -> Vec<usize> {
    core_state::probe_cpus().map_or_else(
        || crate::cpu::allowed_cpus().into_iter().take(1).collect(),
        Vec::from,
    )
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
