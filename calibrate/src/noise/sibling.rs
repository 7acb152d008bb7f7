//! Contention for the physical core under a vCPU, which neither steal nor the reference kernel
//! shows.
//!
//! On a VM the host may run another guest on the hyperthread beside the vCPU's. The guest sees
//! no steal, and the reference kernel ([`super::speed`]), a dependent chain of multiplies that
//! leaves most of the core idle, keeps its speed; code that uses the core's width (independent
//! work, caches, allocation) slows down. On the 2-vCPU Xeon VM (2026-12-03, 100 s on cpu 0,
//! four timings a second) the chain read 1.336 ns a round throughout, while eight independent
//! chains read 2.671 ns a round in spells and 2.75-3.35 ns in others of seconds to tens of
//! seconds, and a hash lookup plus a small allocation took 22-25 ns in the first and 31-46 ns in
//! the second; calibrations' `dispatch` ranged 28-53 ns the same evening.
//!
//! [`wide_ns_per_round_here`] times eight chains at once. A monitor that watches it
//! ([`super::Monitor::watch_siblings`]) times it on each of its CPUs before and after every
//! block and judges each timing against the fastest the run has seen on that CPU: a block with
//! one more than [`FACTOR`] slower ran on a shared core and is counted in the run's record; in a
//! run held to free cores it also counts as contaminated and is redone once the core is free
//! again (waiting up to [`WAIT`]).

use std::time::Duration;

use crate::cpu;

/// How much slower than the run's fastest timing on a CPU a timing may be and still count as
/// an uncontended core. The uncontended timing varies under 0.5% here; contention added
/// 3-25%.
pub const FACTOR: f64 = 1.05;

/// The longest a block waits for its cores to be free before it is measured again.
pub const WAIT: Duration = Duration::from_secs(3);

/// How often a wait reads the cores again.
pub const POLL: Duration = Duration::from_millis(50);

/// How a contamination reason for a block on a shared core begins.
pub const REASON: &str = "core shared";

/// Independent chains in the wide kernel.
const LANES: usize = 8;

/// Rounds per batch (about 5 us here).
const ROUNDS: u32 = 2000;

/// Batches per timing; the timing is their median.
const BATCHES: usize = 5;

/// The wide kernel, ns per round of all [`LANES`] chains: the median of [`BATCHES`] batches of
/// [`ROUNDS`], wherever the calling thread runs.
pub fn wide_ns_per_round_here() -> f64 {
    super::speed::median_timing(BATCHES, ROUNDS, || {
        std::hint::black_box(wide(std::hint::black_box(ROUNDS)));
    })
}

/// [`wide_ns_per_round_here`] on `cpu`, the calling thread pinned there (its affinity restored
/// after). `None` when it cannot be pinned.
pub fn wide_ns_per_round(cpu: usize) -> Option<f64> {
    cpu::with_pinned(cpu, wide_ns_per_round_here).ok()
}

/// The slowest of `probe`'s timings over `cpus`, as a run's monitor reads them around a block;
/// `None` when none could be taken.
pub fn slowest(cpus: &[u32], probe: &dyn Fn(u32) -> Option<f64>) -> Option<f64> {
    cpus.iter().filter_map(|&c| probe(c)).reduce(f64::max)
}

/// Block-like readings in a [`wait_for_median`] window (each the slower of two timings, as a
/// block's is; [`WINDOW_READINGS`] + 1 timings in all).
pub const WINDOW_READINGS: usize = 9;

/// The pause between timings in a [`wait_for_median`] window (a window takes about a second).
pub const WINDOW_GAP: Duration = Duration::from_millis(100);

/// How a wait for a run's cores ended ([`wait_for_median`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoresWait {
    /// How long it took, the last window included.
    pub waited: Duration,
    /// The last window's median of its block-like readings (the slower of two successive
    /// timings, each the slowest across the CPUs), ns per round.
    pub median_ns: f64,
    /// Whether that median was within `factor` of the target either way.
    pub matched: bool,
}

/// Waits, up to `bound`, for a window of the wide kernel's timings to read like `target_ns` (a
/// calibration's [`costmodel::SharedCores::median_ns`]): windows of [`WINDOW_READINGS`] + 1
/// timings [`WINDOW_GAP`] apart, each the slowest of `probe` over `cpus`, until the median of
/// a window's [`WINDOW_READINGS`] block-like readings is within `factor` of the target either
/// way. `None` when no timing could be taken.
///
/// A block-like reading is the slower of two successive timings, as a run's monitor reads a
/// block: the slowest CPU before it and after it, the slower of the two. The target is a
/// median of such readings; a median of single timings reads faster on the same cores (it
/// drops every spell one of the pair caught), so a wait on single timings aimed at freer
/// cores than the target's: on the 2-vCPU EPYC VM, ten sweeps that found their window read
/// 0.99-1.07x the calibration's median over their blocks (batches 50-51, 2026-12-04).
///
/// Why: with nothing else running, the medians of 8 s windows on the 2-vCPU EPYC VM spread
/// 0.90-1.10x their three-minute median (15 of 23 windows beyond 1.05x; `calibrate --example
/// wide_trace`), so a quick sweep of about 8 s samples one spell of sharing while the minute
/// of calibration that priced it averaged many. Starting each of the sweep's rounds in a spell
/// like the calibration's average makes the two comparable.
pub fn wait_for_median(
    cpus: &[u32],
    probe: &dyn Fn(u32) -> Option<f64>,
    target_ns: f64,
    factor: f64,
    bound: Duration,
    sleep: &dyn Fn(Duration),
    elapsed: &dyn Fn() -> Duration,
) -> Option<CoresWait> {
    let start = elapsed();
    loop {
        let mut timings = Vec::with_capacity(WINDOW_READINGS + 1);
        for i in 0..=WINDOW_READINGS {
            if i > 0 {
                sleep(WINDOW_GAP);
            }
            timings.push(slowest(cpus, probe));
        }
        let window: Vec<f64> = timings
            .windows(2)
            .filter_map(|pair| pair.iter().flatten().copied().reduce(f64::max))
            .collect();
        if window.is_empty() {
            return None;
        }
        let median_ns = crate::stats::median(&window);
        let matched = costmodel::within_either_way(median_ns / target_ns.max(1e-9), factor);
        let waited = elapsed().saturating_sub(start);
        if matched || waited >= bound {
            return Some(CoresWait {
                waited,
                median_ns,
                matched,
            });
        }
        sleep(WINDOW_GAP);
    }
}

/// FNV-1a steps on [`LANES`] independent states.
fn wide(rounds: u32) -> u64 {
    let mut h = [0xcbf2_9ce4_8422_2325_u64; LANES];
    for i in 0..rounds {
        for (lane, x) in (0u64..).zip(h.iter_mut()) {
            *x ^= u64::from(i) + lane;
            *x = x.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h.iter().fold(0, |a, b| a ^ b)
}

/// The run's fastest timing per CPU so far, and how a timing compares with it.
#[derive(Clone, Debug, Default)]
pub struct Floors {
    floors: Vec<(u32, f64)>,
}

impl Floors {
    /// Takes `ns`, timed on `cpu`, into the floor, and returns how many times the floor it is
    /// (1 for the first timing of a CPU, or a faster one).
    pub fn judge(&mut self, cpu: u32, ns: f64) -> f64 {
        match self.floors.iter_mut().find(|(c, _)| *c == cpu) {
            Some((_, floor)) => {
                *floor = floor.min(ns);
                ns / floor.max(1e-9)
            }
            None => {
                self.floors.push((cpu, ns));
                1.0
            }
        }
    }

    /// How many times the floor of `cpu` `ns` is, without taking it in (1 without a floor).
    pub fn ratio(&self, cpu: u32, ns: f64) -> f64 {
        self.floors
            .iter()
            .find(|(c, _)| *c == cpu)
            .map_or(1.0, |(_, f)| (ns / f.max(1e-9)).max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A window reads the slowest CPU's timings; the wait ends at the first window whose median
    // is within the factor either way, or at its bound with the last window, unmatched.
    #[test]
    fn the_wait_for_a_median_ends_at_a_matching_window_or_its_bound() {
        let now = std::cell::Cell::new(Duration::ZERO);
        let sleep = |d: Duration| now.set(now.get() + d);
        let elapsed = || now.get();
        // Cpu 1 slow for the first 1.5 s, then both at 2.4.
        let probe = |cpu: u32| {
            Some(if cpu == 1 && now.get() < Duration::from_millis(1500) {
                3.0
            } else {
                2.4
            })
        };
        let w = wait_for_median(
            &[0, 1],
            &probe,
            2.5,
            1.05,
            Duration::from_secs(10),
            &sleep,
            &elapsed,
        )
        .unwrap();
        assert!(w.matched && w.median_ns == 2.4, "{w:?}");
        // Windows of ten timings over 0.9 s, 0.1 s apart: the first read 3.0; in the second
        // five of nine block-like readings did (the pair across the change reads the slower).
        assert_eq!(w.waited, Duration::from_millis(2900));
        now.set(Duration::ZERO);
        let w = wait_for_median(
            &[1],
            &|_| Some(3.0),
            2.5,
            1.05,
            Duration::from_secs(2),
            &sleep,
            &elapsed,
        )
        .unwrap();
        assert!(
            !w.matched && w.waited >= Duration::from_secs(2) && w.median_ns == 3.0,
            "{w:?}"
        );
        assert!(w.waited < Duration::from_secs(3), "{w:?}");
        // Faster than the target by more than the factor is another core too.
        let w = wait_for_median(
            &[0],
            &|_| Some(2.0),
            2.5,
            1.05,
            Duration::ZERO,
            &sleep,
            &elapsed,
        )
        .unwrap();
        assert!(!w.matched);
        assert_eq!(
            wait_for_median(&[0], &|_| None, 2.5, 1.05, Duration::ZERO, &sleep, &elapsed),
            None
        );
    }

    // Cores that alternate between free and shared from one timing to the next read shared in
    // every block-like reading, as a monitor reading before and after each block sees them:
    // the wait matches a calibration that read them so, and not one that read free cores.
    #[test]
    fn a_window_reads_the_slower_of_each_two_timings_as_a_block_does() {
        let now = std::cell::Cell::new(Duration::ZERO);
        let sleep = |d: Duration| now.set(now.get() + d);
        let elapsed = || now.get();
        let probe = |_: u32| {
            let tenth = now.get().as_millis() / 100;
            Some(if tenth.is_multiple_of(2) { 2.4 } else { 3.0 })
        };
        let wait = |target: f64| {
            now.set(Duration::ZERO);
            wait_for_median(
                &[0],
                &probe,
                target,
                1.05,
                Duration::from_secs(3),
                &sleep,
                &elapsed,
            )
            .unwrap()
        };
        let shared = wait(3.0);
        assert!(shared.matched && shared.median_ns == 3.0, "{shared:?}");
        assert_eq!(shared.waited, Duration::from_millis(900));
        let free = wait(2.4);
        assert!(!free.matched && free.median_ns == 3.0, "{free:?}");
    }

    #[test]
    fn a_timing_is_judged_against_the_fastest_on_its_own_cpu() {
        let mut f = Floors::default();
        assert_eq!(f.judge(0, 2.8), 1.0);
        assert_eq!(f.judge(1, 3.0), 1.0);
        assert!((f.judge(0, 2.67) - 1.0).abs() < 1e-12);
        assert!((f.judge(0, 2.8) - 2.8 / 2.67).abs() < 1e-12);
        assert!((f.ratio(1, 3.3) - 1.1).abs() < 1e-12);
        assert_eq!(f.ratio(2, 9.0), 1.0);
        assert_eq!(f.ratio(1, 2.0), 1.0, "a faster timing is not a slowdown");
    }

    #[test]
    fn the_wide_kernel_is_plausible_here() {
        let ns = wide_ns_per_round_here();
        // Eight multiplies and xors a round: more than a cycle; under 10 us even unoptimized
        // (about 150 ns in a debug build here, 2.7 ns in release).
        assert!(ns > 0.1 && ns < 10_000.0, "{ns}");
        assert_ne!(wide(10), wide(11));
    }
}
