//! The saturated floor of a transport's per-request cost, from the drain curve
//! `a(d) = floor + wake / d` fitted through the measured drain depths ([`crate::fit::fit_drain`]).
//!
//! The idle end `a(1)` (one request per wake-up) and the pipelined runs (`d` requests per
//! wake-up, lockstep) are the measured points. The fit keeps the floor and the wake-up cost
//! non-negative (the constrained least-squares solution, continuous in the data); when a bound
//! was active or the fit is poor, the estimate's method says so and [`drain_flags`] turns that
//! into a [`SanityFlag`]: the floor is never clamped to zero in silence.
//!
//! An earlier rule anchored a negative fitted floor at the measured cost of the largest `d`.
//! On this machine kind the two-point floor `(32 a(32) - a(1)) / 31` is a small difference of
//! large numbers (about 0 +- 100 ns for tcp), so noise flipped it between about 30 ns and the
//! anchor (about 850 ns) from run to run, and the storage sweep's median error with it
//! (5-30% over five quiet calibrations).

use costmodel::{Estimate, HostProfile, Nanos, SanityFlag, Source};

use crate::error::Result;
use crate::fit::{DrainFit, fit_drain};

/// Marks a flagged floor in the estimate's method; [`drain_flags`] finds it there (combining
/// rounds keeps the first round's method as the prefix).
const FLAGGED: &str = "drain floor flagged, unconstrained floor ";

/// The floor of `a(d) = floor + wake / d` from the idle end `idle = a(1)` and the costs measured
/// at drain depths `drained` (`(d, a(d))`, `d > 1`), as the estimate the profile stores in place
/// of the largest depth's cost. Its interval is the fit through every point's lower (upper)
/// bound, kept around the point.
///
/// # Errors
/// [`crate::CalibrateError::Fit`] when the points cannot be fitted (fewer than two distinct
/// depths, a value that is not finite).
pub fn drain_floor(
    idle: &Estimate<Nanos>,
    drained: &[(f64, &Estimate<Nanos>)],
    what: &str,
) -> Result<Estimate<Nanos>> {
    let fit_with = |pick: &dyn Fn(&Estimate<Nanos>) -> f64| -> Result<DrainFit> {
        let mut pts = vec![(1.0, pick(idle))];
        pts.extend(drained.iter().map(|(d, e)| (*d, pick(e))));
        fit_drain(&pts, what)
    };
    let fit = fit_with(&|e| e.point.get())?;
    let (d_max, at) = drained
        .iter()
        .copied()
        .fold(
            None,
            |best: Option<(f64, &Estimate<Nanos>)>, p| match best {
                Some(b) if b.0 >= p.0 => Some(b),
                _ => Some(p),
            },
        )
        .map_or((1.0, idle), |p| p);
    let method = match &at.source {
        Source::Measured { method } => method.clone(),
        other => other.detail().to_owned(),
    };
    let depths: Vec<String> = drained.iter().map(|(d, _)| format!("{d:.0}")).collect();
    // Lower costs everywhere give the lower floor, higher ones the higher.
    let bound = |f: Result<DrainFit>| f.map_or(fit.floor, |f| f.floor);
    let lo = bound(fit_with(&|e| e.lower.get()));
    let hi = bound(fit_with(&|e| e.upper.get()));
    let described = format!(
        "floor of a(d) = floor + wake / d fitted (floor, wake >= 0) through a(1) = {} (one \
         request per wake-up from another core) and d = [{}] (lockstep, d requests per \
         wake-up){}; wake {:.1} ns; a({d_max:.0}) = {}: {method}",
        idle.point,
        depths.join(", "),
        fit.r2.map_or(String::new(), |r| format!(", R^2 {r:.4}")),
        fit.wake,
        at.point,
    );
    let text = match &fit.flag {
        Some(why) => format!("{FLAGGED}{:.3} ns: {why}; {described}", fit.fitted_floor),
        None => described,
    };
    let p = fit.floor;
    Ok(Estimate::measured(
        Nanos::new(p),
        Nanos::new(lo.min(hi).min(p)),
        Nanos::new(lo.max(hi).max(p)),
        at.confidence,
        at.samples,
        text,
    ))
}

/// A [`SanityFlag`] for every saturated per-request cost of `profile` whose drain fit
/// [`drain_floor`] flagged: the value is the unconstrained fitted floor, the range from 0 to
/// the stored floor's upper bound.
pub fn drain_flags(profile: &HostProfile) -> Vec<SanityFlag> {
    let mut out = Vec::new();
    for (id, t) in &profile.transports {
        for (side, e) in [
            ("server", &t.saturated.server.per_request),
            ("client", &t.saturated.client.per_request),
        ] {
            let Source::Measured { method } = &e.source else {
                continue;
            };
            let Some(at) = method.find(FLAGGED) else {
                continue;
            };
            let rest = &method[at + FLAGGED.len()..];
            let fitted = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .unwrap_or(e.point.get());
            let why = rest.split_once(": ").map_or(rest, |(_, w)| w);
            let why = why.split("; floor of a(d)").next().unwrap_or(why);
            out.push(SanityFlag {
                field: format!("transports.{id}.saturated.{side}.per_request"),
                value: fitted,
                low: 0.0,
                high: e.upper.get(),
                note: format!(
                    "saturated floor {} from a constrained drain fit: {why}",
                    e.point
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(p: f64) -> Estimate<Nanos> {
        Estimate::measured(
            Nanos::new(p),
            Nanos::new(p * 0.9),
            Nanos::new(p * 1.1),
            0.95,
            10,
            "lockstep x32",
        )
    }

    #[test]
    fn a_good_drain_gives_the_fitted_floor_with_its_interval() {
        let idle = measured(24_000.0);
        let at = measured(1_000.0);
        let e = drain_floor(&idle, &[(32.0, &at)], "tcp server").unwrap();
        // floor = (32 x 1,000 - 24,000) / 31
        assert!((e.point.get() - 8_000.0 / 31.0).abs() < 1e-6, "{e}");
        assert!(e.lower <= e.point && e.point <= e.upper);
        assert!(e.source.detail().contains("lockstep x32"));
        assert!(!e.source.detail().contains(FLAGGED));
    }

    #[test]
    fn a_negative_floor_is_held_at_zero_and_flagged_not_clamped_in_silence() {
        let idle = measured(24_000.0);
        let at = measured(500.0);
        let e = drain_floor(&idle, &[(32.0, &at)], "tcp server").unwrap();
        assert_eq!(e.point.get(), 0.0, "the constrained least-squares floor");
        assert!(e.lower <= e.point && e.point <= e.upper);
        let mut p = crate::profile::reference().unwrap();
        let id = costmodel::TransportId::new("tcp").unwrap();
        if let Some(t) = p.transports.get_mut(&id) {
            t.saturated.server.per_request = e;
        }
        let flags = drain_flags(&p);
        assert_eq!(flags.len(), 1, "{flags:?}");
        let f = &flags[0];
        assert_eq!(f.field, "transports.tcp.saturated.server.per_request");
        assert!(
            (f.value - (32.0 * 500.0 - 24_000.0) / 31.0).abs() < 1e-2,
            "{f:?}"
        );
        assert_eq!(f.low, 0.0);
        assert!(f.note.contains("negative"), "{}", f.note);
        assert!(!f.note.contains("floor of a(d)"), "{}", f.note);
    }
}
