//! The saturated floor of a transport's per-request cost, from the drain curve
//! `a(d) = floor + wake / d` fitted through the measured drain depths ([`crate::fit::fit_drain`]).
//!
//! The idle end `a(1)` (one request per wake-up) and the pipelined runs (`d` requests per
//! wake-up, lockstep) are the measured points. When the fitted floor is negative, the wake-up
//! cost negative or the fit poor, the floor is anchored at the cost measured at the largest `d`
//! (the model is flat beyond it), the estimate's method says so, and [`drain_flags`] turns that
//! into a [`SanityFlag`]: the floor is never clamped to zero in silence.

use costmodel::{Estimate, HostProfile, Nanos, SanityFlag, Source};

use crate::error::Result;
use crate::fit::{DrainFit, fit_drain};

/// Marks an anchored floor in the estimate's method; [`drain_flags`] finds it there (combining
/// rounds keeps the first round's method as the prefix).
const ANCHORED: &str = "drain floor anchored at the measured cost, fitted floor ";

/// The floor of `a(d) = floor + wake / d` from the idle end `idle = a(1)` and the costs measured
/// at drain depths `drained` (`(d, a(d))`, `d > 1`), as the estimate the profile stores in place
/// of the largest depth's cost. Its interval is the fit through every point's lower (upper)
/// bound, kept around the point; an anchored floor keeps the anchor's own interval.
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
    let (lo, hi, text) = match &fit.anchored {
        Some(why) => (
            at.lower.get(),
            at.upper.get(),
            format!(
                "{ANCHORED}{:.3} ns: {why}; the model is flat beyond d = {d_max:.0}, at a({d_max:.0}) \
                 = {}; a({d_max:.0}): {method}",
                fit.fitted_floor, at.point
            ),
        ),
        None => {
            let bound = |f: Result<DrainFit>| f.map_or(fit.floor, |f| f.fitted_floor.max(0.0));
            let lo = bound(fit_with(&|e| e.lower.get()));
            let hi = bound(fit_with(&|e| e.upper.get()));
            (
                lo.min(hi),
                lo.max(hi),
                format!(
                    "floor of a(d) = floor + wake / d fitted through a(1) = {} (one request per \
                     wake-up from another core) and d = [{}] (lockstep, d requests per wake-up){}; \
                     wake {:.1} ns; a({d_max:.0}): {method}",
                    idle.point,
                    depths.join(", "),
                    fit.r2.map_or(String::new(), |r| format!(", R^2 {r:.4}")),
                    fit.wake,
                ),
            )
        }
    };
    let p = fit.floor;
    Ok(Estimate::measured(
        Nanos::new(p),
        Nanos::new(lo.min(p)),
        Nanos::new(hi.max(p)),
        at.confidence,
        at.samples,
        text,
    ))
}

/// A [`SanityFlag`] for every saturated per-request cost of `profile` whose floor
/// [`drain_floor`] anchored: the value is the fitted floor, the range `[0, anchor]`.
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
            let Some(at) = method.find(ANCHORED) else {
                continue;
            };
            let rest = &method[at + ANCHORED.len()..];
            let fitted = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .unwrap_or(e.point.get());
            let why = rest.split_once(": ").map_or(rest, |(_, w)| w);
            let why = why.split("; a(").next().unwrap_or(why);
            out.push(SanityFlag {
                field: format!("transports.{id}.saturated.{side}.per_request"),
                value: fitted,
                low: 0.0,
                high: e.point.get(),
                note: format!(
                    "saturated floor anchored at the measured largest-drain cost {} instead of \
                     the fitted floor: {why}",
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
        assert!(!e.source.detail().contains(ANCHORED));
    }

    #[test]
    fn a_negative_floor_is_anchored_and_flagged_not_clamped_to_zero() {
        // The old rule stored max(0, (32 x 500 - 24,000) / 31) = 0 and said nothing.
        let idle = measured(24_000.0);
        let at = measured(500.0);
        let e = drain_floor(&idle, &[(32.0, &at)], "tcp server").unwrap();
        assert_eq!(e.point.get(), 500.0, "anchored at the measured a(32)");
        assert!(e.lower.get() > 0.0);
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
        assert_eq!((f.low, f.high), (0.0, 500.0));
        assert!(f.note.contains("negative"), "{}", f.note);
    }
}
