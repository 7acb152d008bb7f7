//! Version-2 isolation figures: slowdown per compute class and the per-byte part of record
//! access (see the parent module's docs).

use std::hint::black_box;
use std::time::Instant;

use costmodel::limits::{MAX_SLOWDOWN, MIN_SLOWDOWN};
use costmodel::{ComputeClass, Estimate, IsolationProbe, Nanos, NanosPerByte, Source};
use isolation_plugins::kernels;

use super::{IsolationPlan, SchemeResult, differential, native_kernel, ratio_estimate, round_span};
use crate::harness::Measurement;
use crate::stats::Rng;

/// Native time per round of `class`'s kernel, differential as [`native_kernel`].
fn native_class(class: ComputeClass, plan: &IsolationPlan, rng: &mut Rng) -> Option<Measurement> {
    if class == ComputeClass::IntMul {
        return native_kernel(plan, rng);
    }
    let chase = kernels::chase_buffer();
    let arith: fn(u32) -> u64 = black_box(kernels::arith_rounds);
    let memory: fn(&[u32], u32) -> u64 = black_box(kernels::memory_rounds);
    let run = |r: u32| {
        Ok::<u64, ()>(match class {
            ComputeClass::Memory => memory(black_box(&chase), r),
            _ => arith(black_box(r)),
        })
    };
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

/// `slowdown_by_class`: every `compute.<class>` extra operation against the native kernel of
/// its class; `int_mul` is the `slowdown` measured above.
pub(super) fn class_slowdowns(
    probe: &mut dyn IsolationProbe,
    r: &mut SchemeResult,
    plan: &IsolationPlan,
    rng: &mut Rng,
    on_op: &mut dyn FnMut(&str),
) {
    if r.measured.contains(&"slowdown") {
        r.costs
            .slowdown_by_class
            .insert(ComputeClass::IntMul, r.costs.slowdown.clone());
    }
    for name in probe.extra_operations() {
        let Some(class) = kernels::parse_class_op(name) else {
            continue;
        };
        on_op(name);
        let Some(native) = native_class(class, plan, rng) else {
            continue;
        };
        // The probe checks every run's checksum against the native kernel's and fails on a
        // mismatch, so a run that skipped the work is an error here.
        let mut run = |rounds: u32| -> Result<u64, String> {
            probe
                .extra(name, u64::from(rounds))
                .map(|()| 0)
                .map_err(|e| format!("{name}: {e}"))
        };
        let measured = (|| {
            let t0 = Instant::now();
            run(4)?;
            let short = t0.elapsed();
            let t1 = Instant::now();
            run(68)?;
            let est = (t1.elapsed().as_secs_f64() - short.as_secs_f64()).max(0.0) * 1e9 / 64.0;
            let span = round_span(est.max(native.summary.median), plan.sample_time);
            let m = differential(&plan.rule, plan.warmup, rng, span, &mut run)?;
            Ok::<_, String>(m.map(|m| (m, span)))
        })();
        match measured {
            Ok(Some((m, span))) => {
                let what = format!(
                    "{class} kernel ({name}, rounds {}..{} differential, checksums verified by \
                     the probe)",
                    span.0, span.1
                );
                match ratio_estimate(&m, &native, plan, rng, &what) {
                    // A ratio outside what any runtime can show (a burst during one side's
                    // blocks) is a failed measurement, not a coefficient: the class keeps the
                    // scheme's `slowdown`, and the profile stays loadable.
                    Ok(f) if !(MIN_SLOWDOWN..=MAX_SLOWDOWN).contains(&f.value()) => {
                        r.errors.push(format!(
                            "{name}: measured slowdown {:.3} is outside [{MIN_SLOWDOWN}, \
                             {MAX_SLOWDOWN}]; not stored, the {class} class uses the scheme's \
                             slowdown",
                            f.value()
                        ));
                    }
                    Ok(f) => {
                        r.costs.slowdown_by_class.insert(class, f);
                    }
                    Err(line) => r.errors.push(line),
                }
            }
            Ok(None) => {}
            Err(line) => r.errors.push(line),
        }
    }
}

/// `local_access_per_byte` from the `local_access.bytes=N` details (two or more sizes): the
/// least-squares slope, its interval from the extreme points' intervals. `local_access`, measured
/// at the main table's `main_bytes`-byte records, becomes `g0 = g(main) - main * g_b`.
pub(super) fn fit_per_byte(r: &mut SchemeResult, main_bytes: Option<usize>) {
    let mut pts: Vec<(f64, &Estimate<Nanos>)> = r
        .costs
        .details
        .iter()
        .filter_map(|(k, e)| Some((kernels::parse_access_op(k)? as f64, e)))
        .filter(|(_, e)| e.source.is_measured())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (Some(&(s0, a)), Some(&(s1, b))) = (pts.first(), pts.last()) else {
        return;
    };
    if s1 <= s0 {
        return;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1.point.get()).sum::<f64>() / n,
    );
    let sxy: f64 = pts
        .iter()
        .map(|p| (p.0 - mx) * (p.1.point.get() - my))
        .sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = sxy / sxx;
    let lo = (b.lower.get() - a.upper.get()) / (s1 - s0);
    let hi = (b.upper.get() - a.lower.get()) / (s1 - s0);
    let point = slope.max(0.0);
    let mut method = format!(
        "least-squares slope of local_access.bytes=N over {} sizes ({s0:.0} B: {:.1} ns ..          {s1:.0} B: {:.1} ns); interval from the extreme sizes' intervals",
        pts.len(),
        a.point.get(),
        b.point.get()
    );
    if slope < 0.0 {
        method.push_str(&format!(
            "; the fitted slope {slope:.5} ns/B was negative (noise), reported as 0"
        ));
    }
    let samples = a.samples.min(b.samples);
    let confidence = a.confidence.min(b.confidence);
    r.costs.local_access_per_byte = Some(Estimate::measured(
        NanosPerByte::new(point),
        NanosPerByte::new(lo.clamp(0.0, point)),
        NanosPerByte::new(hi.max(point)),
        confidence,
        samples,
        method,
    ));
    r.measured.push("local_access_per_byte");
    let la = &mut r.costs.local_access;
    if let (Some(s), true) = (main_bytes, la.source.is_measured()) {
        let s = s as f64;
        let g0 = (la.point.get() - s * point).max(0.0);
        la.lower = Nanos::new((la.lower.get() - s * hi.max(point)).clamp(0.0, g0));
        la.upper = Nanos::new((la.upper.get() - s * lo.clamp(0.0, point)).max(g0));
        la.point = Nanos::new(g0);
        if let Source::Measured { method } = &mut la.source {
            method.push_str(&format!(
                "; then extrapolated to 0 B: minus {s:.0} B x local_access_per_byte"
            ));
        }
    }
}
