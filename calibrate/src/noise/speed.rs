//! The host's speed, which steal does not show either: the reference kernel
//! ([`costmodel::kernel::fnv1a_rounds`]) timed on a CPU for a couple of milliseconds.
//!
//! A harness that watches it ([`super::Monitor::watch_speed`]) times it at the start of every
//! block, on each of its CPUs in turn, and the run's record keeps the mean, the range and the
//! count per CPU ([`costmodel::CpuSpeed`]). Two runs whose means differ by more than
//! [`costmodel::CpuSpeed::FACTOR`] ran on a host that was not equally fast: a sweep compared
//! with a profile measured at another speed says so instead of scoring the difference.

use crate::cpu;

/// Kernel rounds per batch (about 0.4 ms here).
const ROUNDS: u32 = 1000;

/// Batches per timing; the timing is their median (an interrupt inside one moves only it).
const BATCHES: usize = 5;

/// The reference kernel's cost on `cpu`, ns per round: the median of [`BATCHES`] batches of
/// [`ROUNDS`], on the calling thread pinned there (its affinity restored after). `None` when
/// the thread cannot be pinned.
pub fn kernel_ns_per_round(cpu: usize) -> Option<f64> {
    cpu::with_pinned(cpu, kernel_ns_per_round_here).ok()
}

/// One timing on a CPU: the kernel and, where taken, the memory latency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeedReading {
    /// The reference kernel, ns per round.
    pub kernel_ns: f64,
    /// A dependent load over [`CHASE_BYTES`], ns per load ([`costmodel::MemoryLatency`]).
    pub memory_ns: Option<f64>,
}

/// The pointer chase's table: larger than this machine kind's L2 and than one L3 share.
pub const CHASE_BYTES: usize = 16 << 20;

/// Dependent loads per batch of the chase (about 0.3 ms at 150 ns).
const LOADS: u32 = 2000;

/// `u32`s per 64-byte line of the chase table.
const STRIDE: usize = 64 / std::mem::size_of::<u32>();

/// The median of `batches` timings of `f`, each divided by `per_batch` (the operations it does).
pub(super) fn median_timing(batches: usize, per_batch: u32, mut f: impl FnMut()) -> f64 {
    let mut xs: Vec<f64> = (0..batches)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / f64::from(per_batch)
        })
        .collect();
    xs.sort_by(f64::total_cmp);
    xs[batches / 2]
}

/// Both timings on `cpu` ([`kernel_ns_per_round`], [`memory_ns_per_load_here`]), on the calling
/// thread pinned there. `None` when it cannot be pinned.
pub fn reading(cpu: usize) -> Option<SpeedReading> {
    cpu::with_pinned(cpu, || SpeedReading {
        kernel_ns: kernel_ns_per_round_here(),
        memory_ns: Some(memory_ns_per_load_here()),
    })
    .ok()
}

/// The chase table: one `u32` per 64-byte line naming the next line, in one random cycle
/// through every line (Sattolo's shuffle), so each load depends on the last and the hardware
/// cannot prefetch it. Built once per process.
fn chase_table() -> &'static [u32] {
    static TABLE: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let lines = CHASE_BYTES / 64;
        let mut order: Vec<u32> = (0..u32::try_from(lines).unwrap_or(u32::MAX)).collect();
        let mut rng = crate::stats::Rng::new(0x5eed_c4a5e);
        for i in (1..order.len()).rev() {
            let j = rng.below(i);
            order.swap(i, j);
        }
        let mut table = vec![0u32; lines * STRIDE];
        for w in 0..order.len() {
            let (from, to) = (order[w], order[(w + 1) % order.len()]);
            table[from as usize * STRIDE] = to;
        }
        table
    })
}

/// One dependent load over [`CHASE_BYTES`], ns: the median of three batches of [`LOADS`],
/// wherever the calling thread runs.
pub fn memory_ns_per_load_here() -> f64 {
    let table = chase_table();
    let mut at = 0u32;
    median_timing(3, LOADS, || {
        for _ in 0..LOADS {
            at = table[at as usize * STRIDE];
        }
        std::hint::black_box(at);
    })
}

/// [`kernel_ns_per_round`] wherever the calling thread runs.
pub fn kernel_ns_per_round_here() -> f64 {
    let input = costmodel::kernel::input();
    median_timing(BATCHES, ROUNDS, || {
        std::hint::black_box(costmodel::kernel::fnv1a_rounds(
            std::hint::black_box(&input),
            ROUNDS,
        ));
    })
}

/// Folds `(cpu, reading)` timings into one [`costmodel::CpuSpeed`] per CPU, in CPU order; the
/// memory latency is kept when every timing of that CPU had one.
pub fn summarize(
    timings: impl IntoIterator<Item = (u32, SpeedReading)>,
) -> Vec<costmodel::CpuSpeed> {
    // Per CPU: kernel timings and memory timings.
    let mut per: Vec<(u32, Vec<f64>, Vec<f64>)> = Vec::new();
    for (cpu, r) in timings {
        if !(r.kernel_ns.is_finite() && r.kernel_ns > 0.0) {
            continue;
        }
        let i = match per.iter().position(|p| p.0 == cpu) {
            Some(i) => i,
            None => {
                per.push((cpu, Vec::new(), Vec::new()));
                per.len() - 1
            }
        };
        per[i].1.push(r.kernel_ns);
        if let Some(m) = r.memory_ns.filter(|m| m.is_finite() && *m > 0.0) {
            per[i].2.push(m);
        }
    }
    let stat = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // The mean can land a rounding error outside [min, max] when every timing is equal.
        (mean.clamp(min, max), min, max)
    };
    let mut out: Vec<costmodel::CpuSpeed> = per
        .into_iter()
        .map(|(cpu, k, m)| {
            let (ns_per_round, min, max) = stat(&k);
            costmodel::CpuSpeed {
                cpu,
                ns_per_round,
                min,
                max,
                timings: u32::try_from(k.len()).unwrap_or(u32::MAX),
                // Kept only when every kernel timing came with one.
                memory: (m.len() == k.len()).then(|| {
                    let (ns_per_load, min, max) = stat(&m);
                    costmodel::MemoryLatency {
                        ns_per_load,
                        min,
                        max,
                    }
                }),
            }
        })
        .collect();
    out.sort_by_key(|s| s.cpu);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_fold_into_a_mean_and_range_per_cpu() {
        let r = |k: f64, m: Option<f64>| SpeedReading {
            kernel_ns: k,
            memory_ns: m,
        };
        let s = summarize([
            (1, r(350.0, Some(140.0))),
            (0, r(400.0, None)),
            (1, r(414.0, Some(160.0))),
            (1, r(f64::NAN, Some(1.0))),
            (1, r(347.0, Some(150.0))),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].cpu, s[0].timings, s[0].ns_per_round), (0, 1, 400.0));
        assert_eq!(s[0].memory, None, "cpu 0 had no memory timing");
        assert_eq!((s[1].cpu, s[1].timings), (1, 3));
        assert!((s[1].ns_per_round - 370.333_333).abs() < 1e-3, "{:?}", s[1]);
        assert_eq!((s[1].min, s[1].max), (347.0, 414.0));
        let m = s[1].memory.unwrap();
        assert_eq!((m.ns_per_load, m.min, m.max), (150.0, 140.0, 160.0));
        assert!(summarize([]).is_empty());
    }

    #[test]
    fn the_chase_is_one_cycle_through_every_line() {
        let t = chase_table();
        let lines = CHASE_BYTES / 64;
        let mut seen = vec![false; lines];
        let mut at = 0usize;
        for _ in 0..lines {
            assert!(!seen[at], "line {at} visited twice before the cycle closed");
            seen[at] = true;
            at = t[at * STRIDE] as usize;
        }
        assert_eq!(at, 0, "the cycle closes after every line");
    }

    #[test]
    fn the_timings_are_plausible_on_this_cpu() {
        let r = reading(0).expect("cpu 0 can be pinned to");
        // A round is a few hundred multiply-xors and a load at least a cache hit: not under a
        // nanosecond, not a millisecond.
        assert!((1.0..1e6).contains(&r.kernel_ns), "{r:?}");
        assert!((0.5..1e6).contains(&r.memory_ns.unwrap()), "{r:?}");
    }
}
