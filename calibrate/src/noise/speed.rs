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

/// [`kernel_ns_per_round`] wherever the calling thread runs.
pub fn kernel_ns_per_round_here() -> f64 {
    let input = costmodel::kernel::input();
    let mut xs = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let t = std::time::Instant::now();
        std::hint::black_box(costmodel::kernel::fnv1a_rounds(
            std::hint::black_box(&input),
            ROUNDS,
        ));
        xs.push(t.elapsed().as_nanos() as f64 / f64::from(ROUNDS));
    }
    xs.sort_by(f64::total_cmp);
    xs[BATCHES / 2]
}

/// Folds `(cpu, ns per round)` timings into one [`costmodel::CpuSpeed`] per CPU, in CPU order.
pub fn summarize(timings: impl IntoIterator<Item = (u32, f64)>) -> Vec<costmodel::CpuSpeed> {
    let mut out: Vec<costmodel::CpuSpeed> = Vec::new();
    for (cpu, ns) in timings {
        if !(ns.is_finite() && ns > 0.0) {
            continue;
        }
        match out.iter_mut().find(|s| s.cpu == cpu) {
            Some(s) => {
                // Running mean.
                let n = f64::from(s.timings);
                s.ns_per_round = (s.ns_per_round * n + ns) / (n + 1.0);
                s.min = s.min.min(ns);
                s.max = s.max.max(ns);
                s.timings += 1;
            }
            None => out.push(costmodel::CpuSpeed {
                cpu,
                ns_per_round: ns,
                min: ns,
                max: ns,
                timings: 1,
            }),
        }
    }
    out.sort_by_key(|s| s.cpu);
    // The running mean can land a rounding error outside [min, max] when every timing is equal.
    for s in &mut out {
        s.ns_per_round = s.ns_per_round.clamp(s.min, s.max);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_fold_into_a_mean_and_range_per_cpu() {
        let s = summarize([
            (1, 350.0),
            (0, 400.0),
            (1, 414.0),
            (1, f64::NAN),
            (1, 347.0),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].cpu, s[0].timings, s[0].ns_per_round), (0, 1, 400.0));
        assert_eq!((s[1].cpu, s[1].timings), (1, 3));
        assert!((s[1].ns_per_round - 370.333_333).abs() < 1e-3, "{:?}", s[1]);
        assert_eq!((s[1].min, s[1].max), (347.0, 414.0));
        assert!(summarize([]).is_empty());
    }

    #[test]
    fn the_kernel_times_at_a_plausible_speed_on_this_cpu() {
        let ns = kernel_ns_per_round(0).expect("cpu 0 can be pinned to");
        // A round is a few hundred multiply-xors: not under a nanosecond, not a millisecond.
        assert!((1.0..1e6).contains(&ns), "{ns}");
    }
}
