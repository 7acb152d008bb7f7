//! Isolation measurements: times each compiled-in scheme's probe operations.
//!
//! For every scheme the harness asks for a probe ([`costmodel::IsolationScheme::probe`]) and
//! times, on one pinned core (helper processes and threads a probe starts inherit the pin, so
//! wall time is the CPU of everything involved):
//!
//! - `warm_invoke`: batches of `warm_invoke(n)`, divided by `n`;
//! - `cold_start`: one `cold_start()` per sample (teardown in `after_cold_start`, untimed); the
//!   first, cold-cache instance is kept apart as the detail `cold_start.first`;
//! - `local_access`: batches of `local_access(n)`;
//! - `slowdown`: the shared compute kernel (FNV-1a over 256 B) inside the scheme versus the same
//!   kernel compiled natively here, each timed *differentially* (`R2` rounds minus `R1` rounds,
//!   divided by `R2 - R1`) so the fixed cost of entering the scheme cancels out; every checksum
//!   is compared with the native kernel's;
//! - `slowdown_by_class`: each `compute.<class>` extra operation (see
//!   [`isolation_plugins::kernels`]) against the same class kernel compiled natively here, timed
//!   differentially as `slowdown` is (the probe verifies each run's checksum); `int_mul` is
//!   `slowdown` itself;
//! - `local_access_per_byte`: the slope through the `local_access.bytes=N` extra operations
//!   (records of two or more sizes, `g(s) = g0 + s g_b`); `local_access` then becomes `g0`, its
//!   measurement at the main table's record size less `s g_b`;
//! - every other extra operation the probe names, into `details`.
//!
//! A scheme the host cannot run keeps its cited defaults, marked unsupported with the reason. An
//! operation that fails keeps its cited default with the failure appended to its citation, and
//! the other operations are still measured; a probe that panics loses only its own scheme.

use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use costmodel::kernel;
use costmodel::limits::{MAX_SLOWDOWN, MIN_SLOWDOWN};
use costmodel::{
    Estimate, Factor, IsolationCosts, IsolationProbe, IsolationScheme, Nanos, SchemeKind, Source,
    Support,
};
use isolation_plugins::kernels;

use crate::harness::{Measurement, StopRule, WallClock, sample_until, warm_up};
use crate::micro::{measure_batched, measure_timed};
use crate::stats::{Rng, ceil_count, median, quantile_sorted};

/// How to measure one scheme.
#[derive(Clone, Debug)]
pub struct IsolationPlan {
    /// Stop rule for batched operations.
    pub rule: StopRule,
    /// Stop rule for cold starts (one operation per sample).
    pub cold_rule: StopRule,
    /// Warm-up per operation.
    pub warmup: Duration,
    /// Target length of one batched sample.
    pub sample_time: Duration,
    /// The shape of the table the schemes' local-access probes were given (their
    /// `isolation_plugins::store::ProbeEnv`), for the per-byte fit's main record size.
    pub probe_table: isolation_plugins::store::TableShape,
}

/// What measuring one scheme produced.
#[derive(Clone, Debug)]
pub struct SchemeResult {
    /// The scheme's id.
    pub id: String,
    /// Its family.
    pub kind: SchemeKind,
    /// The costs for the profile: measured where possible, cited defaults elsewhere.
    pub costs: IsolationCosts,
    /// Operations that were measured.
    pub measured: Vec<&'static str>,
    /// Facts the probe reported.
    pub notes: Vec<String>,
    /// Operations that failed, one line each.
    pub errors: Vec<String>,
}

fn method(what: &str, m: &Measurement, cpu: usize) -> String {
    format!("{what}; thread pinned to cpu {cpu}; {}", m.describe())
}

/// Marks a cited default as kept because its measurement failed.
fn failed<U: costmodel::Quantity>(mut e: Estimate<U>, why: &str) -> Estimate<U> {
    if let Source::Literature { citation } = &mut e.source {
        *citation = format!("{citation} (kept: measurement failed here: {why})");
    }
    e
}

/// Marks a cited default as not measured on this host, and why.
pub fn mark_unmeasured(costs: &mut IsolationCosts, why: &str) {
    let mark = |s: &mut Source| {
        if let Source::Literature { citation } = s
            && !citation.starts_with("not measured")
        {
            *citation = format!("not measured on this host ({why}); cited: {citation}");
        }
    };
    mark(&mut costs.warm_invoke.source);
    mark(&mut costs.cold_start.source);
    mark(&mut costs.local_access.source);
    mark(&mut costs.slowdown.source);
    mark(&mut costs.memory_per_context.source);
}

/// Native time per kernel round, measured differentially: `(t(r2) - t(r1)) / (r2 - r1)`.
fn differential<E>(
    rule: &StopRule,
    warmup: Duration,
    rng: &mut Rng,
    (r1, r2): (u32, u32),
    mut run: impl FnMut(u32) -> Result<u64, E>,
) -> Result<Option<Measurement>, E> {
    let clock = WallClock::start();
    warm_up(&clock, warmup, || run(r2).map(|_| ()))?;
    let clock = WallClock::start();
    let span = f64::from(r2 - r1);
    sample_until(rule, &clock, rng, || {
        let t0 = Instant::now();
        black_box(run(r1)?);
        let short = t0.elapsed();
        let t1 = Instant::now();
        black_box(run(r2)?);
        let long = t1.elapsed();
        Ok((long.as_secs_f64() - short.as_secs_f64()) * 1e9 / span)
    })
}

/// Rounds `(r1, r2)` so that `r2 - r1` rounds take about `sample_time` at `ns_per_round`.
fn round_span(ns_per_round: f64, sample_time: Duration) -> (u32, u32) {
    let d = ceil_count(sample_time.as_secs_f64() * 1e9 / ns_per_round.max(0.1)).clamp(4, 1 << 22);
    let d = u32::try_from(d).unwrap_or(1 << 22);
    (4, 4 + d)
}

/// Native kernel time per round, for the slowdown denominators.
pub fn native_kernel(plan: &IsolationPlan, rng: &mut Rng) -> Option<Measurement> {
    let input = kernel::input();
    // Through an opaque function pointer and an opaque slice, so the baseline is the kernel as
    // compiled for any buffer (as a plugin runs it), not a copy specialised to 256 known bytes.
    let kernel_fn: fn(&[u8], u32) -> u64 = black_box(kernel::fnv1a_rounds);
    let run = |r: u32| Ok::<u64, ()>(kernel_fn(black_box(&input[..]), r));
    let t0 = Instant::now();
    let _ = run(1_000);
    let est = t0.elapsed().as_secs_f64() * 1e9 / 1_000.0;
    differential(
        &plan.rule,
        plan.warmup,
        rng,
        round_span(est, plan.sample_time),
        run,
    )
    .ok()
    .flatten()
}

/// Measures `scheme` with `plan`; `native` is the native kernel time per round; `cpu` the core
/// the caller pinned this thread to; `on_op` is told each operation before it is timed.
pub fn measure_scheme(
    scheme: &dyn IsolationScheme,
    defaults: IsolationCosts,
    native: Option<&Measurement>,
    plan: &IsolationPlan,
    cpu: usize,
    rng: &mut Rng,
    on_op: &mut dyn FnMut(&str),
) -> SchemeResult {
    let id = scheme.id().to_string();
    let mut result = SchemeResult {
        id: id.clone(),
        kind: scheme.kind(),
        costs: defaults.clone(),
        measured: Vec::new(),
        notes: Vec::new(),
        errors: Vec::new(),
    };
    let support = scheme.support();
    result.costs.support = support.clone();
    if let Support::Unsupported { reason } = &support {
        mark_unmeasured(&mut result.costs, &format!("unsupported: {reason}"));
        return result;
    }
    let mut probe = match scheme.probe() {
        None => {
            mark_unmeasured(&mut result.costs, "the scheme offers no probe");
            return result;
        }
        Some(Err(e)) => {
            result.errors.push(format!("probe setup: {e}"));
            mark_unmeasured(&mut result.costs, &format!("probe setup failed: {e}"));
            return result;
        }
        Some(Ok(p)) => p,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        measure_probe(&mut *probe, &mut result, native, plan, cpu, rng, on_op);
    }));
    if outcome.is_err() {
        result.errors.push("the probe panicked".to_owned());
        let mut costs = defaults;
        costs.support = support;
        mark_unmeasured(&mut costs, "the probe panicked");
        result.costs = costs;
        result.measured.clear();
    }
    result.notes.extend(probe.notes());
    result
}

/// Times a batched probe operation (`op(n)` does it `n` times) into the estimate `slot` picks,
/// recording it as measured, or keeping the cited default and the error when it fails.
fn measure_op(
    r: &mut SchemeResult,
    plan: &IsolationPlan,
    cpu: usize,
    rng: &mut Rng,
    name: &'static str,
    slot: fn(&mut IsolationCosts) -> &mut Estimate<Nanos>,
    op: impl FnMut(u64) -> std::result::Result<(), costmodel::ProbeError>,
) {
    match measure_batched(&plan.rule, plan.warmup, plan.sample_time, 1 << 24, rng, op) {
        Ok(Some(m)) => {
            let what = format!("wall time of {name}(n) batches / n, timer overhead subtracted");
            *slot(&mut r.costs) = crate::profile::nanos(&m.summary, method(&what, &m, cpu));
            r.measured.push(name);
        }
        Ok(None) => {}
        Err(e) => {
            let line = format!("{name}: {e}");
            let kept = failed(slot(&mut r.costs).clone(), &line);
            *slot(&mut r.costs) = kept;
            r.errors.push(line);
        }
    }
}

fn measure_probe(
    probe: &mut dyn IsolationProbe,
    r: &mut SchemeResult,
    native: Option<&Measurement>,
    plan: &IsolationPlan,
    cpu: usize,
    rng: &mut Rng,
    on_op: &mut dyn FnMut(&str),
) {
    let err = |op: &str, e: &dyn std::fmt::Display| format!("{op}: {e}");

    on_op("warm invoke");
    measure_op(
        r,
        plan,
        cpu,
        rng,
        "warm_invoke",
        |c| &mut c.warm_invoke,
        |n| probe.warm_invoke(n),
    );

    on_op("cold start");
    let overhead = crate::harness::timer_overhead(1_000);
    let mut first = None;
    let mut cold = || -> Result<f64, costmodel::ProbeError> {
        let t0 = Instant::now();
        probe.cold_start()?;
        let dt = t0.elapsed().saturating_sub(overhead);
        probe.after_cold_start()?;
        Ok(dt.as_secs_f64() * 1e9)
    };
    let cold_result = cold().and_then(|x| {
        first = Some(x);
        let clock = WallClock::start();
        sample_until(&plan.cold_rule, &clock, rng, &mut cold)
    });
    match cold_result {
        Ok(Some(m)) => {
            r.costs.cold_start = crate::profile::nanos(
                &m.summary,
                method(
                    "wall time of one cold_start() per sample (teardown untimed), after one \
                     discarded first instance",
                    &m,
                    cpu,
                ),
            );
            if let Some(x) = first {
                r.costs.details.insert(
                    "cold_start.first".to_owned(),
                    Estimate::measured(
                        Nanos::new(x),
                        Nanos::new(x),
                        Nanos::new(x),
                        1.0,
                        1,
                        "the first cold_start() of the run (cold caches), one sample",
                    ),
                );
            }
            r.measured.push("cold_start");
        }
        Ok(None) => {}
        Err(e) => {
            let line = err("cold_start", &e);
            r.costs.cold_start = failed(r.costs.cold_start.clone(), &line);
            r.errors.push(line);
        }
    }

    on_op("local access");
    measure_op(
        r,
        plan,
        cpu,
        rng,
        "local_access",
        |c| &mut c.local_access,
        |n| probe.local_access(n),
    );

    on_op("compute slowdown");
    match compute_slowdown(probe, native, plan, rng) {
        // A ratio beyond what the profile format can hold is reported and the cited default
        // kept, as for the compute classes, so the profile stays loadable.
        Ok(Some(f)) if !(MIN_SLOWDOWN..=MAX_SLOWDOWN).contains(&f.value()) => {
            let line = format!(
                "compute slowdown: measured {:.3} is outside [{MIN_SLOWDOWN}, {MAX_SLOWDOWN}] \
                 (the format's limits); not stored, the cited default is kept",
                f.value()
            );
            r.costs.slowdown = failed(r.costs.slowdown.clone(), &line);
            r.errors.push(line);
        }
        Ok(Some(f)) => {
            r.costs.slowdown = f;
            r.measured.push("slowdown");
        }
        Ok(None) => {}
        Err(line) => {
            r.costs.slowdown = failed(r.costs.slowdown.clone(), &line);
            r.errors.push(line);
        }
    }

    if let Some(bytes) = probe.memory_per_context() {
        r.costs.memory_per_context = Estimate::measured(
            bytes,
            bytes,
            bytes,
            1.0,
            1,
            "reported by the probe (RSS/PSS delta, guest memory or pool slot)",
        );
        r.measured.push("memory_per_context");
    }

    for name in probe.extra_operations() {
        if kernels::parse_class_op(name).is_some() {
            continue;
        }
        on_op(name);
        match measure_timed(
            &plan.rule,
            plan.warmup,
            plan.sample_time,
            1 << 24,
            rng,
            |n| {
                probe
                    .extra_timed(name, n)
                    .map(|own| own.map(|d| (d, probe.timed_pairs(name, n))))
            },
        ) {
            Ok((Some(m), own)) => {
                let what = if own {
                    format!(
                        "extra({name}, n) batches timing their own part of each iteration / n, \
                         the clock pairs it took subtracted"
                    )
                } else {
                    format!("wall time of extra({name}, n) batches / n")
                };
                let e = crate::profile::nanos(&m.summary, method(&what, &m, cpu));
                r.costs.details.insert(name.to_owned(), e);
            }
            Ok((None, _)) => {}
            Err(e) => r.errors.push(err(name, &e)),
        }
    }

    classes::class_slowdowns(probe, r, plan, rng, on_op);
    let main_bytes = isolation_plugins::store::PROBE_TABLE_READERS
        .contains(&r.id.as_str())
        .then_some(plan.probe_table.record_bytes);
    classes::fit_per_byte(r, main_bytes);
}

/// The slowdown factor: scheme time per kernel round / native time per round.
fn compute_slowdown(
    probe: &mut dyn IsolationProbe,
    native: Option<&Measurement>,
    plan: &IsolationPlan,
    rng: &mut Rng,
) -> Result<Option<Estimate<Factor>>, String> {
    let Some(native) = native else {
        return Ok(None);
    };
    let input = kernel::input();
    // The expected checksums are computed before timing, so verification costs nothing inside
    // the timed runs.
    let run = |probe: &mut dyn IsolationProbe, rounds: u32, want: u64| -> Result<u64, String> {
        let got = probe.compute(rounds).map_err(|e| format!("compute: {e}"))?;
        if got == want {
            Ok(got)
        } else {
            Err(format!(
                "compute({rounds}) returned checksum {got:#x}, the native kernel gives {want:#x}"
            ))
        }
    };
    // Estimate the scheme's speed from a short run, then size the span to the sample time.
    let (w4, w68) = (
        kernel::fnv1a_rounds(&input, 4),
        kernel::fnv1a_rounds(&input, 68),
    );
    let t0 = Instant::now();
    run(probe, 4, w4)?;
    let short = t0.elapsed();
    let t1 = Instant::now();
    run(probe, 68, w68)?;
    let est = (t1.elapsed().as_secs_f64() - short.as_secs_f64()).max(0.0) * 1e9 / 64.0;
    let span = round_span(est.max(native.summary.median), plan.sample_time);
    let wants = (
        kernel::fnv1a_rounds(&input, span.0),
        kernel::fnv1a_rounds(&input, span.1),
    );
    let m = differential(&plan.rule, plan.warmup, rng, span, |r| {
        let want = if r == span.0 { wants.0 } else { wants.1 };
        run(probe, r, want)
    })?;
    let Some(m) = m else { return Ok(None) };
    let what = format!(
        "FNV-1a over 256 B, rounds {}..{} differential, checksums verified",
        span.0, span.1
    );
    ratio_estimate(&m, native, plan, rng, &what).map(Some)
}

/// The factor `m / native` per kernel round, with a bootstrap interval of the ratio of medians.
fn ratio_estimate(
    m: &Measurement,
    native: &Measurement,
    plan: &IsolationPlan,
    rng: &mut Rng,
    what: &str,
) -> Result<Estimate<Factor>, String> {
    let (s, n) = (&m.summary, &native.summary);
    if !(n.median > 0.0 && s.median > 0.0) {
        return Err(format!(
            "compute: non-positive kernel time (scheme {:.3} ns/round, native {:.3})",
            s.median, n.median
        ));
    }
    let point = s.median / n.median;
    let (lo, hi) = ratio_ci(
        &m.samples,
        &native.samples,
        s.confidence,
        plan.rule.resamples,
        rng,
    );
    Ok(Estimate::measured(
        Factor::new(point),
        Factor::new(lo.min(point)),
        Factor::new(hi.max(point)),
        s.confidence,
        u32::try_from(s.n).unwrap_or(u32::MAX),
        format!(
            "scheme kernel time / native kernel time per round ({what}): {:.2} ns / {:.2} ns; \
             interval: bootstrap of the ratio of medians; {}",
            s.median,
            n.median,
            m.describe()
        ),
    ))
}

/// Percentile bootstrap interval of `median(a) / median(b)`, resampling both; resamples whose
/// denominator is not positive are skipped. Returns `(NaN, NaN)` when none is usable.
fn ratio_ci(a: &[f64], b: &[f64], confidence: f64, resamples: usize, rng: &mut Rng) -> (f64, f64) {
    let mut ratios = Vec::with_capacity(resamples);
    let (mut ra, mut rb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    if a.is_empty() || b.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    for _ in 0..resamples {
        ra.clear();
        rb.clear();
        ra.extend((0..a.len()).map(|_| a[rng.below(a.len())]));
        rb.extend((0..b.len()).map(|_| b[rng.below(b.len())]));
        let d = median(&rb);
        if d > 0.0 {
            ratios.push(median(&ra).max(0.0) / d);
        }
    }
    if ratios.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    ratios.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    (
        quantile_sorted(&ratios, alpha),
        quantile_sorted(&ratios, 1.0 - alpha),
    )
}

#[path = "isolation_classes.rs"]
mod classes;
#[cfg(test)]
#[path = "isolation_tests.rs"]
mod tests;
