//! Small reference measurements: clock overhead, a null system call, memory-copy bandwidth.
//!
//! The copy cost is the yardstick for per-byte transport slopes: a socket moves each payload
//! byte with one copy on each side (user to kernel on send, kernel to user on receive), so a
//! side's per-byte slope should be at least one copy's cost per byte, and within a small factor
//! of it (calibration-anchors §3.4, §5). It is measured on 64 KiB blocks, the largest message of
//! the sweep, so source and destination stay in cache as they do for the sockets.

use std::hint::black_box;
use std::time::Duration;

use crate::harness::{Measurement, StopRule, WallClock, batch_size, sample_until, time_batch};
use crate::stats::Rng;

/// Block size of the copy benchmark.
pub const COPY_BLOCK: usize = 64 * 1024;

/// Measures `op` (which does its operation `iters` times) in batches: warm-up and batch sizing,
/// then samples under `rule`, each sample in ns per operation with the timer overhead
/// subtracted.
///
/// # Errors
/// The first error `op` returns.
pub fn measure_batched<E>(
    rule: &StopRule,
    warmup: Duration,
    sample_time: Duration,
    max_iters: u64,
    rng: &mut Rng,
    mut op: impl FnMut(u64) -> Result<(), E>,
) -> Result<Option<Measurement>, E> {
    let overhead = crate::harness::timer_overhead(1_000);
    let iters = batch_size(warmup, sample_time, max_iters, &mut op)?;
    let clock = WallClock::start();
    sample_until(rule, &clock, rng, || time_batch(iters, overhead, &mut op))
}

/// Nanoseconds per byte of a 64 KiB `memcpy`, sampled under `rule`.
pub fn memory_copy(rule: &StopRule, warmup: Duration, rng: &mut Rng) -> Option<Measurement> {
    let src: Vec<u8> = (0..COPY_BLOCK)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let mut dst = vec![0u8; COPY_BLOCK];
    let m = measure_batched(
        rule,
        warmup,
        Duration::from_millis(2),
        1 << 20,
        rng,
        |n| -> Result<(), ()> {
            for _ in 0..n {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            }
            Ok(())
        },
    )
    .ok()
    .flatten()?;
    let per_byte = 1.0 / COPY_BLOCK as f64;
    let summary = m.summary.scaled(per_byte);
    Some(Measurement {
        samples: m.samples.iter().map(|x| x * per_byte).collect(),
        summary,
        ..m
    })
}

/// Nanoseconds per null system call (`getppid`, lmbench's `lat_syscall null`).
pub fn null_syscall(rule: &StopRule, warmup: Duration, rng: &mut Rng) -> Option<Measurement> {
    measure_batched(
        rule,
        warmup,
        Duration::from_millis(1),
        1 << 24,
        rng,
        |n| -> Result<(), ()> {
            for _ in 0..n {
                // SAFETY: getppid takes no arguments and cannot fail.
                black_box(unsafe { libc::syscall(libc::SYS_getppid) });
            }
            Ok(())
        },
    )
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> StopRule {
        StopRule {
            min_samples: 3,
            max_samples: 5,
            target_rel_half_width: 1.0,
            budget: Duration::from_millis(100),
            confidence: 0.95,
            resamples: 50,
        }
    }

    #[test]
    fn copy_and_syscall_give_positive_costs() {
        let mut rng = Rng::new(4);
        let c = memory_copy(&rule(), Duration::from_millis(1), &mut rng).unwrap();
        assert!(c.summary.median > 0.0 && c.summary.median.is_finite());
        let s = null_syscall(&rule(), Duration::from_millis(1), &mut rng).unwrap();
        assert!(s.summary.median > 0.0);
    }
}
