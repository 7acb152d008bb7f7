//! Turning measurements into a [`HostProfile`].
//!
//! The profile starts from the literature reference (`fixtures/hosts/reference.ron`, built in),
//! so every coefficient that is not measured here (a scheme not compiled in, a transport left
//! out with `--only`, the dispatch cost) keeps its cited value and says so; each measured
//! coefficient replaces its default with a [`Estimate::measured`] whose method names what was
//! timed, the statistic, the interval and the stop rule's verdict.

use costmodel::{
    CoreRegime, Estimate, HostProfile, LinkCosts, Nanos, NanosPerByte, SideCosts, Source,
    TransportCosts,
};

use crate::error::Result;
use crate::fit::LinearFit;
use crate::stats::Summary;
use crate::transport::SweepResult;

/// The built-in literature profile.
pub const REFERENCE_RON: &str = include_str!("../../fixtures/hosts/reference.ron");

/// The literature reference profile, parsed.
///
/// # Errors
/// Only if the built-in file is broken (a test guards against that).
pub fn reference() -> Result<HostProfile> {
    Ok(HostProfile::from_ron(
        REFERENCE_RON,
        "fixtures/hosts/reference.ron (built in)",
    )?)
}

/// An estimate in ns from a summary.
pub fn nanos(s: &Summary, method: String) -> Estimate<Nanos> {
    Estimate::measured(
        Nanos::new(s.median.max(0.0)),
        Nanos::new(s.lower.max(0.0)),
        Nanos::new(s.upper.max(0.0)),
        s.confidence,
        u32::try_from(s.n).unwrap_or(u32::MAX),
        method,
    )
}

/// `[lo, hi]` clamped to be non-negative and to contain `point` (also clamped).
fn clamp_interval(point: f64, (lo, hi): (f64, f64)) -> (f64, f64, f64) {
    let p = point.max(0.0);
    (p, lo.max(0.0).min(p), hi.max(p))
}

fn side(fit: &LinearFit, what: &str, sweep: &SweepResult) -> SideCosts {
    let sizes: Vec<String> = sweep.points.iter().map(|p| p.size.to_string()).collect();
    let base = format!(
        "{what}: least squares (linfa, relative-error weights 1/y^2) of CPU per round trip on \
         payload bytes q+r (echo of n B each way, n in {{{}}} B), through per-size medians; 95% \
         stratified bootstrap CI; R2={:.3}; {} points from {} samples; cpus {:?}; {}; {}",
        sizes.join(", "),
        fit.r2,
        fit.points,
        fit.samples,
        sweep.cpus,
        sweep.counters,
        sweep.stop_summary()
    );
    let clamped = |v: f64, unit: &str| {
        if v < 0.0 {
            format!("; the fit gave {v:.4} {unit}, clamped to 0")
        } else {
            String::new()
        }
    };
    let (a, alo, ahi) = clamp_interval(fit.intercept, fit.intercept_ci);
    let (b, blo, bhi) = clamp_interval(fit.slope, fit.slope_ci);
    let n = u32::try_from(fit.samples).unwrap_or(u32::MAX);
    SideCosts {
        per_request: Estimate::measured(
            Nanos::new(a),
            Nanos::new(alo),
            Nanos::new(ahi),
            fit.confidence,
            n,
            format!("{base}; intercept a{}", clamped(fit.intercept, "ns")),
        ),
        per_byte: Estimate::measured(
            NanosPerByte::new(b),
            NanosPerByte::new(blo),
            NanosPerByte::new(bhi),
            fit.confidence,
            n,
            format!("{base}; slope b{}", clamped(fit.slope, "ns/B")),
        ),
    }
}

/// The link costs of one sweep.
pub fn link(sweep: &SweepResult) -> LinkCosts {
    let label = sweep.label();
    let rt_method = if sweep.window > 1 {
        format!(
            "{label}: Little's law, {} requests in flight x wall time per request at {} B; {}",
            sweep.window,
            sweep.points.first().map_or(0, |p| p.size),
            sweep.round_trip.describe()
        )
    } else {
        format!(
            "{label}: wall time per round trip at {} B; {}",
            sweep.points.first().map_or(0, |p| p.size),
            sweep.round_trip.describe()
        )
    };
    LinkCosts {
        client: side(&sweep.client_fit, &format!("{label}, client"), sweep),
        server: side(&sweep.server_fit, &format!("{label}, server"), sweep),
        round_trip: nanos(&sweep.round_trip, rt_method),
        fit_r2: Some(sweep.server_fit.r2),
    }
}

/// Marks every literature estimate of a link as not measured here.
fn mark_link(l: &mut LinkCosts, why: &str) {
    for e in [
        &mut l.client.per_request.source,
        &mut l.server.per_request.source,
        &mut l.round_trip.source,
    ] {
        mark(e, why);
    }
    for e in [&mut l.client.per_byte.source, &mut l.server.per_byte.source] {
        mark(e, why);
    }
}

fn mark(s: &mut Source, why: &str) {
    if let Source::Literature { citation } = s
        && !citation.starts_with("not measured")
    {
        *citation = format!("not measured on this host ({why}); cited: {citation}");
    }
}

/// A transport's costs: measured links where there are sweeps, the reference's elsewhere.
pub fn transport(
    base: &TransportCosts,
    description: &str,
    headline: CoreRegime,
    unloaded: Option<&SweepResult>,
    saturated: Option<&SweepResult>,
    other: Option<&SweepResult>,
) -> TransportCosts {
    let mut t = base.clone();
    t.description = description.to_owned();
    match unloaded {
        Some(s) => {
            t.headline = headline;
            t.unloaded = link(s);
        }
        None => mark_link(&mut t.unloaded, "ping-pong not measured"),
    }
    match saturated {
        Some(s) => t.saturated = link(s),
        None => mark_link(&mut t.saturated, "saturated regime not measured"),
    }
    t.other_cores = other.map(link);
    if let Some(s) = saturated
        && s.window > 1
    {
        let idle = t.idle_end().clone();
        let d = f64::from(s.window);
        extrapolate_floor(
            &mut t.saturated.server.per_request,
            &idle.server.per_request,
            d,
        );
        extrapolate_floor(
            &mut t.saturated.client.per_request,
            &idle.client.per_request,
            d,
        );
    }
    t
}

/// Turns the per-request cost measured with exactly `d` requests per wake-up (lockstep
/// pipelining) into the floor of `a(d) = floor + wake / d`, the cost when the server never
/// sleeps, fitted with the idle end `a(1)` ([`crate::transport::drain_floor`]): a negative floor
/// is held at 0 with the wake-up cost refitted, and flagged, never clamped in silence. The cost
/// model interpolates between `a(1)` and this floor.
fn extrapolate_floor(at_d: &mut Estimate<Nanos>, idle: &Estimate<Nanos>, d: f64) {
    if let Ok(floor) = crate::transport::drain_floor(idle, &[(d, at_d)], "drain floor") {
        *at_d = floor;
    }
}

/// Marks every literature estimate of a transport as not measured here.
pub fn mark_transport(t: &mut TransportCosts, why: &str) {
    mark_link(&mut t.unloaded, why);
    mark_link(&mut t.saturated, why);
    if let Some(o) = &mut t.other_cores {
        mark_link(o, why);
    }
}

/// Marks the dispatch cost as cited (a run that did not measure it: `--only` without
/// `dispatch` or a scheme, or `calibrate server`, which measures only the server).
pub fn mark_dispatch(p: &mut HostProfile) {
    mark(
        &mut p.dispatch.source,
        "dispatch was not measured by this run",
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_floor_is_extrapolated_from_a_known_drain_and_the_idle_end() {
        let idle = Estimate::cited(Nanos::new(24_000.0), "idle");
        let mut at = Estimate::measured(
            Nanos::new(1_000.0),
            Nanos::new(900.0),
            Nanos::new(1_100.0),
            0.95,
            10,
            "lockstep x32",
        );
        extrapolate_floor(&mut at, &idle, 32.0);
        // floor = (32 x 1,000 - 24,000) / 31
        assert!((at.point.get() - 8_000.0 / 31.0).abs() < 1e-6);
        assert!(at.lower <= at.point && at.point <= at.upper);
        assert!(at.source.detail().contains("lockstep x32"));
        // A floor below zero is held at 0 by the constrained fit, and the method says so.
        let mut at = Estimate::measured(
            Nanos::new(500.0),
            Nanos::new(500.0),
            Nanos::new(500.0),
            0.95,
            3,
            "x",
        );
        extrapolate_floor(&mut at, &idle, 32.0);
        assert_eq!(at.point.get(), 0.0);
        assert!(at.source.detail().contains("flagged"));
    }

    use super::*;

    #[test]
    fn built_in_reference_parses() {
        let r = reference().unwrap();
        assert!(r.transports.len() >= 4);
        assert!(r.isolation.len() >= 6);
    }

    #[test]
    fn intervals_are_clamped_non_negative_around_the_point() {
        assert_eq!(clamp_interval(-3.0, (-5.0, 1.0)), (0.0, 0.0, 1.0));
        assert_eq!(clamp_interval(2.0, (2.5, 3.0)), (2.0, 2.0, 3.0));
        assert_eq!(clamp_interval(2.0, (1.0, 1.5)), (2.0, 1.0, 2.0));
    }
}
