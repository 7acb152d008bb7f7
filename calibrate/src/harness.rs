//! The sampling harness: warm-up, repeated samples, and a stop rule.
//!
//! One measurement is a sequence of *samples*, each the average cost of a batch of operations.
//! The harness first warms the operation up (criterion: run it until a warm-up time has passed,
//! discarding the results), then takes samples until one of three things happens, checked in
//! this order after each sample (netperf's `-i max,min -I level,width`, calibration-anchors §2.2):
//!
//! 1. **converged**: at least `min_samples` samples and the bootstrap interval of the median has
//!    a relative half-width of at most `target_rel_half_width`;
//! 2. **max samples**: `max_samples` samples were taken;
//! 3. **budget spent**: at least `min_samples` samples and another sample (of the mean length
//!    seen so far) would end past the time budget.
//!
//! The verdict is returned with the samples, so the profile can say which. Rule 3 looks one
//! sample ahead, so a measurement ends within its budget unless its `min_samples` alone take
//! longer. Time comes from a [`Clock`], so the rule is testable with a fake clock.
//!
//! Sub-microsecond operations are timed in batches (`op(iters)` does the operation `iters`
//! times); the harness picks `iters` so a sample lasts about `sample_time`, and subtracts the
//! measured cost of reading the clock ([`timer_overhead`], lmbench's `t_overhead`) before
//! dividing.

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::stats::{Rng, Summary, ceil_count};

/// A source of elapsed time.
pub trait Clock {
    /// Time since the clock's start.
    fn elapsed(&self) -> Duration;
}

/// The monotonic wall clock, started at construction.
#[derive(Clone, Copy, Debug)]
pub struct WallClock(Instant);

impl WallClock {
    /// A clock starting now.
    pub fn start() -> Self {
        WallClock(Instant::now())
    }
}

impl Clock for WallClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// When to stop sampling. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StopRule {
    /// Samples to take before any stop is considered.
    pub min_samples: u32,
    /// Samples never to exceed.
    pub max_samples: u32,
    /// Stop once the interval's half-width relative to the median is at most this.
    pub target_rel_half_width: f64,
    /// Time budget for the samples (warm-up not included).
    pub budget: Duration,
    /// Confidence level of the interval.
    pub confidence: f64,
    /// Bootstrap resamples for the stop checks and the final interval.
    pub resamples: usize,
}

impl StopRule {
    /// The same rule with another budget.
    pub fn with_budget(self, budget: Duration) -> Self {
        StopRule { budget, ..self }
    }
}

/// Why sampling stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The interval became tight enough.
    Converged,
    /// The maximum sample count was reached.
    MaxSamples,
    /// The time budget was spent before the interval became tight.
    BudgetSpent,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::Converged => "converged",
            StopReason::MaxSamples => "max samples reached",
            StopReason::BudgetSpent => "budget spent before the interval was tight",
        })
    }
}

/// The samples of one measurement, their summary and the stop verdict.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Every sample, in the order taken (outliers included).
    pub samples: Vec<f64>,
    /// Median, interval, outliers.
    pub summary: Summary,
    /// Why sampling stopped.
    pub stop: StopReason,
    /// Time the samples took.
    pub elapsed: Duration,
}

impl Measurement {
    /// A one-line method text: statistic, interval, outliers and the stop verdict.
    pub fn describe(&self) -> String {
        format!(
            "{}; stop: {} (CI +/-{:.1}%)",
            self.summary.describe(),
            self.stop,
            100.0 * self.summary.relative_half_width()
        )
    }
}

/// Runs `op` repeatedly until `duration` has passed on `clock` (at least once), discarding the
/// results except errors.
///
/// # Errors
/// The first error `op` returns.
pub fn warm_up<C: Clock, E>(
    clock: &C,
    duration: Duration,
    mut op: impl FnMut() -> Result<(), E>,
) -> Result<(), E> {
    let start = clock.elapsed();
    loop {
        op()?;
        if clock.elapsed().saturating_sub(start) >= duration {
            return Ok(());
        }
    }
}

/// Takes samples from `sample` under `rule`, timing them with `clock`. See the module docs.
///
/// # Errors
/// The first error `sample` returns. Returns `Ok(None)` only when `rule.max_samples` is 0.
pub fn sample_until<C: Clock, E>(
    rule: &StopRule,
    clock: &C,
    rng: &mut Rng,
    mut sample: impl FnMut() -> Result<f64, E>,
) -> Result<Option<Measurement>, E> {
    let start = clock.elapsed();
    let mut samples: Vec<f64> = Vec::new();
    let check_resamples = rule.resamples.clamp(1, 200);
    let min = rule.min_samples.max(1);
    let stop = loop {
        if samples.len() >= rule.max_samples as usize {
            break StopReason::MaxSamples;
        }
        let spent = clock.elapsed().saturating_sub(start);
        if samples.len() >= min as usize {
            let mean = spent / u32::try_from(samples.len()).unwrap_or(u32::MAX);
            if spent + mean > rule.budget {
                break StopReason::BudgetSpent;
            }
        }
        let x = sample()?;
        if x.is_finite() {
            samples.push(x);
        }
        if samples.len() >= min as usize
            && samples.len() >= 2
            && let Some(s) = Summary::of(&samples, rule.confidence, check_resamples, rng)
            && s.relative_half_width() <= rule.target_rel_half_width
        {
            break StopReason::Converged;
        }
    };
    let elapsed = clock.elapsed().saturating_sub(start);
    Ok(
        Summary::of(&samples, rule.confidence, rule.resamples, rng).map(|summary| Measurement {
            samples,
            summary,
            stop,
            elapsed,
        }),
    )
}

/// The median cost of reading the monotonic clock twice back to back (what a timed interval
/// over-counts), from `pairs` pairs.
pub fn timer_overhead(pairs: usize) -> Duration {
    let mut v: Vec<Duration> = (0..pairs.max(1))
        .map(|_| {
            let t0 = Instant::now();
            black_box(Instant::now()).saturating_duration_since(t0)
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

/// Times `op(iters)` once with the wall clock, minus the timer overhead, in ns per iteration.
///
/// # Errors
/// The error `op` returns.
pub fn time_batch<E>(
    iters: u64,
    overhead: Duration,
    op: &mut impl FnMut(u64) -> Result<(), E>,
) -> Result<f64, E> {
    let t0 = Instant::now();
    op(iters)?;
    let dt = t0.elapsed().saturating_sub(overhead);
    Ok(dt.as_secs_f64() * 1e9 / iters.max(1) as f64)
}

/// Warms `op` up for `warmup` by doubling the batch (1, 2, 4, ... iterations, criterion style)
/// and returns the batch size that makes one sample last about `sample_time` (at least 1,
/// at most `max_iters`).
///
/// # Errors
/// The error `op` returns.
pub fn batch_size<E>(
    warmup: Duration,
    sample_time: Duration,
    max_iters: u64,
    op: &mut impl FnMut(u64) -> Result<(), E>,
) -> Result<u64, E> {
    let start = Instant::now();
    let mut iters = 1u64;
    let mut per_iter_ns;
    loop {
        let t0 = Instant::now();
        op(iters)?;
        per_iter_ns = t0.elapsed().as_secs_f64() * 1e9 / iters as f64;
        if start.elapsed() >= warmup || iters >= max_iters {
            break;
        }
        iters = iters.saturating_mul(2).min(max_iters);
    }
    let want = sample_time.as_secs_f64() * 1e9 / per_iter_ns.max(0.1);
    Ok(ceil_count(want).clamp(1, max_iters.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A clock that only moves when told to.
    struct FakeClock(Cell<Duration>);

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.0.set(self.0.get() + d);
        }
    }

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.0.get()
        }
    }

    fn rule(budget_ms: u64) -> StopRule {
        StopRule {
            min_samples: 5,
            max_samples: 10_000,
            target_rel_half_width: 0.01,
            budget: Duration::from_millis(budget_ms),
            confidence: 0.95,
            resamples: 200,
        }
    }

    // Property: with noisy samples that never converge, sampling stops with BudgetSpent and
    // the samples' total time stays within the budget, whatever the sample length.
    #[test]
    fn stop_rule_ends_within_budget() {
        for (budget, step_us) in [(50u64, 1000u64), (50, 7_300), (200, 333), (10, 2_000)] {
            let clock = FakeClock(Cell::new(Duration::ZERO));
            let mut rng = Rng::new(budget ^ step_us);
            let mut noise = Rng::new(step_us);
            let m = sample_until(&rule(budget), &clock, &mut rng, || {
                clock.advance(Duration::from_micros(step_us));
                Ok::<_, ()>(1.0 + 10.0 * noise.unit())
            })
            .unwrap()
            .unwrap();
            assert_eq!(
                m.stop,
                StopReason::BudgetSpent,
                "budget {budget} step {step_us}"
            );
            assert!(
                m.elapsed <= Duration::from_millis(budget),
                "{:?} > {budget} ms",
                m.elapsed
            );
            assert!(m.samples.len() >= 5);
        }
    }

    // Property: identical samples converge as soon as the minimum count is reached.
    #[test]
    fn stop_rule_converges_on_tight_data() {
        let clock = FakeClock(Cell::new(Duration::ZERO));
        let mut rng = Rng::new(1);
        let m = sample_until(&rule(1_000), &clock, &mut rng, || {
            clock.advance(Duration::from_millis(1));
            Ok::<_, ()>(42.0)
        })
        .unwrap()
        .unwrap();
        assert_eq!(m.stop, StopReason::Converged);
        assert_eq!(m.samples.len(), 5);
        assert!((m.summary.median - 42.0).abs() < 1e-12);
    }

    #[test]
    fn stop_rule_honours_max_samples_and_errors() {
        let clock = FakeClock(Cell::new(Duration::ZERO));
        let mut rng = Rng::new(2);
        let mut r = rule(1_000_000);
        r.max_samples = 7;
        let mut i = 0.0;
        let m = sample_until(&r, &clock, &mut rng, || {
            i += 1.0;
            Ok::<_, ()>(i * i)
        })
        .unwrap()
        .unwrap();
        assert_eq!(m.stop, StopReason::MaxSamples);
        assert_eq!(m.samples.len(), 7);
        let e = sample_until(&r, &clock, &mut rng, || Err::<f64, _>("boom"));
        assert_eq!(e.unwrap_err(), "boom");
    }

    #[test]
    fn batch_size_scales_to_sample_time() {
        let mut op = |n: u64| -> Result<(), ()> {
            let mut x = 0u64;
            for i in 0..n {
                x = black_box(x.wrapping_add(i));
            }
            black_box(x);
            Ok(())
        };
        let n = batch_size(
            Duration::from_millis(2),
            Duration::from_millis(1),
            1 << 30,
            &mut op,
        )
        .unwrap();
        assert!(n >= 1);
        assert!(time_batch(n, timer_overhead(100), &mut op).unwrap() >= 0.0);
    }
}
