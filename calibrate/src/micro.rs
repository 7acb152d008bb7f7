//! Small reference measurements: clock overhead, a null system call, memory-copy bandwidth,
//! and the reference dispatcher's hand-off of one invocation.
//!
//! The copy cost is the yardstick for per-byte transport slopes: a socket moves each payload
//! byte with one copy on each side (user to kernel on send, kernel to user on receive), so a
//! side's per-byte slope should be at least one copy's cost per byte, and within a small factor
//! of it (calibration-anchors §3.4, §5). It is measured on 64 KiB blocks, the largest message of
//! the sweep, so source and destination stay in cache as they do for the sockets.

use std::collections::{HashMap, VecDeque};
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
    measure_timed(rule, warmup, sample_time, max_iters, rng, |n| {
        op(n).map(|()| None)
    })
    .map(|(m, _)| m)
}

/// [`measure_batched`] for an operation that may time a part of each iteration itself
/// ([`costmodel::IsolationProbe::extra_timed`]): `op(iters)` returns that time, summed over
/// the iterations, with the pairs of clock readings it took
/// ([`costmodel::IsolationProbe::timed_pairs`]), or `None` to be timed whole. A sample is the
/// part's time less those pairs, or the whole call's less one pair ([`time_batch`]), in ns per
/// iteration. The batch is sized on the whole call. The second value says whether every
/// sample was the operation's own timing.
///
/// # Errors
/// The first error `op` returns.
pub fn measure_timed<E>(
    rule: &StopRule,
    warmup: Duration,
    sample_time: Duration,
    max_iters: u64,
    rng: &mut Rng,
    mut op: impl FnMut(u64) -> Result<Option<(Duration, u64)>, E>,
) -> Result<(Option<Measurement>, bool), E> {
    let overhead = crate::harness::timer_overhead(1_000);
    let iters = batch_size(warmup, sample_time, max_iters, &mut |n| op(n).map(|_| ()))?;
    let clock = WallClock::start();
    let mut own_only = true;
    let m = sample_until(rule, &clock, rng, || {
        let mut own = None;
        let whole = time_batch(iters, overhead, &mut |n| {
            own = op(n)?;
            Ok(())
        })?;
        Ok(match own {
            Some((own, pairs)) => {
                let pairs = u32::try_from(pairs).unwrap_or(u32::MAX);
                let part = own.saturating_sub(overhead.saturating_mul(pairs));
                part.as_secs_f64() * 1e9 / iters.max(1) as f64
            }
            None => {
                own_only = false;
                whole
            }
        })
    })?;
    Ok((m, own_only))
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
    per_operation(rule, warmup, rng, |n| {
        for _ in 0..n {
            // SAFETY: getppid takes no arguments and cannot fail.
            black_box(unsafe { libc::syscall(libc::SYS_getppid) });
        }
        Ok(())
    })
}

/// A short operation `op` (run `n` times per call) in 1 ms batches of at most 2^24, ns per
/// operation; `None` when it failed or gave no samples.
fn per_operation(
    rule: &StopRule,
    warmup: Duration,
    rng: &mut Rng,
    op: impl FnMut(u64) -> Result<(), ()>,
) -> Option<Measurement> {
    measure_batched(rule, warmup, Duration::from_millis(1), 1 << 24, rng, op)
        .ok()
        .flatten()
}

/// Functions registered with the reference dispatcher ([`dispatch`]).
pub const DISPATCH_FUNCTIONS: usize = 64;

/// Distinct requests the dispatcher cycles through (their functions in a random order).
const DISPATCH_REQUESTS: usize = 1024;

/// A task on the reference dispatcher's run queue.
struct Task {
    slot: usize,
    arg: u64,
}

/// Nanoseconds to dispatch one invocation to a multiplexed context, as a Splinter-style
/// dispatcher does it (Kulkarni et al., OSDI'18, §4: an invocation names a tenant's
/// procedure, which is looked up, wrapped in a task and scheduled on the core's run queue):
/// decode the tenant and the procedure from a 16-byte request header, look them up among
/// [`DISPATCH_FUNCTIONS`] registered procedures (a hash map), allocate the task, push it on
/// the run queue, pop it, call the procedure's warm context through a trait object, free the
/// task. The procedures are trivial: the context switch into a sandbox is each scheme's warm
/// invoke, measured by its own probe, and the work inside it is the function's. A server with
/// a different dispatcher is measured by `calibrate server` (its request terms).
pub fn dispatch(rule: &StopRule, warmup: Duration, rng: &mut Rng) -> Option<Measurement> {
    type Context = Box<dyn FnMut(u64) -> u64>;
    let mut registry: HashMap<(u32, u64), usize> = HashMap::new();
    let mut contexts: Vec<Context> = Vec::with_capacity(DISPATCH_FUNCTIONS);
    let mut names = Vec::with_capacity(DISPATCH_FUNCTIONS);
    for slot in 0..DISPATCH_FUNCTIONS {
        let tenant = u32::try_from(slot % 8).unwrap_or(0);
        let name = rng.next_u64();
        registry.insert((tenant, name), slot);
        names.push((tenant, name));
        let salt = rng.next_u64();
        contexts.push(Box::new(move |x| x.rotate_left(7) ^ salt));
    }
    let requests: Vec<[u8; 16]> = (0..DISPATCH_REQUESTS)
        .map(|_| {
            let (tenant, name) = names[rng.below(DISPATCH_FUNCTIONS)];
            let mut r = [0u8; 16];
            r[..4].copy_from_slice(&tenant.to_le_bytes());
            r[8..].copy_from_slice(&name.to_le_bytes());
            r
        })
        .collect();
    let mut queue: VecDeque<Box<Task>> = VecDeque::with_capacity(16);
    let mut next = 0usize;
    let mut out = 0u64;
    per_operation(rule, warmup, rng, |n| {
        for _ in 0..n {
            let r = black_box(&requests[next % DISPATCH_REQUESTS]);
            next = next.wrapping_add(1);
            let tenant = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
            let mut name = [0u8; 8];
            name.copy_from_slice(&r[8..]);
            let Some(&slot) = registry.get(&(tenant, u64::from_le_bytes(name))) else {
                return Err(());
            };
            queue.push_back(Box::new(Task {
                slot,
                arg: next as u64,
            }));
            if let Some(task) = queue.pop_front() {
                out ^= (contexts[task.slot])(task.arg);
            }
        }
        black_box(out);
        Ok(())
    })
}

/// The profile's `dispatch` from a [`dispatch`] measurement.
pub fn dispatch_estimate(m: &Measurement) -> costmodel::Estimate<costmodel::Nanos> {
    use costmodel::{Estimate, Nanos};
    let s = &m.summary;
    Estimate::measured(
        Nanos::new(s.median),
        Nanos::new(s.lower),
        Nanos::new(s.upper),
        s.confidence,
        u32::try_from(s.n).unwrap_or(u32::MAX),
        format!(
            "reference dispatcher: decode, look up one of {DISPATCH_FUNCTIONS} procedures, \
             allocate a task, run-queue push and pop, call through a trait object \
             (Splinter-style, OSDI'18 \u{a7}4); {}",
            m.describe()
        ),
    )
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
        // A lookup, an allocation and two queue operations: more than nothing, and well under
        // the 1 us upper end of the cited range on any machine this runs on.
        let d = dispatch(&rule(), Duration::from_millis(1), &mut rng).unwrap();
        assert!(
            d.summary.median > 0.0 && d.summary.median < 1_000.0,
            "{d:?}"
        );
    }
}
