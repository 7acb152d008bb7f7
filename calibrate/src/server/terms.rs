//! Fitting the version-2 request terms to the sweep.
//!
//! Per point, server CPU per request is modelled as
//! `processing + per_syscall * rounds + per_wakeup * wakeups + per_key * keys + per_byte * bytes
//! + per_peer_wakeup * peer_wakeups`
//! where every regressor is measured at that point: `rounds` are the server's read/write
//! system calls per request relative to the unpipelined single client (so `rounds` = 1 there and
//! about `1/d` at pipelining depth `d`, the model's `1 / requests_per_syscall`), `wakeups` its
//! voluntary context switches per request (`1 / requests_per_wakeup`), `keys` the keys per
//! request, `bytes` the value bytes returned per request and `peer_wakeups` the client threads'
//! voluntary context switches per request (each a reply that found its client asleep and woke
//! it: on a VM a cross-core wake-up the server pays inside its `write`). Points whose clients
//! compute before reading their replies ([`PointSpec::busy_us`]) wake few clients per server
//! wake-up; without them the two wake-up columns move together and `per_peer_wakeup` is not
//! identified (then `per_wakeup` carries both, as before it existed).
//!
//! The point estimate is weighted least squares (relative-error weights `1 / y^2`, solved by a
//! column-scaled QR) through each point's median over rounds. Its interval comes from the spread
//! between rounds: the same model is fitted to every round on its own, and the interval is the
//! combination `calibrate run` uses for its rounds ([`combine`]: the median of the rounds' fits
//! `+- t(n-1) s sqrt(2/n)`, only rounds whose blocks were all clean when any was; widened to
//! contain the point estimate), so it says where the next calibration lands and covers the
//! drift between rounds, which on a shared host is most of the difference between two
//! calibrations. A term
//! the sweep cannot separate (a column constant over the points or a combination of others,
//! such as bytes with one value size) is reported as not identified, never guessed. R^2 is that
//! of the fit through the medians, unweighted.

use costmodel::{Estimate, Nanos, NanosPerByte, Quantity};

use super::state::{ProbeSpread, SPREAD_FACTOR, same_state};
use super::sweep::{Idle, PerRequest, Point, PointSpec};
use crate::noise::rounds::combine;
use crate::stats::median;

/// How many terms the fit has.
pub const N: usize = 6;

/// The terms' names, in column order (the first is the intercept).
pub const NAMES: [&str; N] = [
    "processing",
    "per_syscall",
    "per_wakeup",
    "per_key",
    "per_byte",
    "per_peer_wakeup",
];

/// The column of `per_byte` (the one term in ns per byte).
pub const PER_BYTE: usize = 4;

/// One fitted term.
#[derive(Clone, Debug, PartialEq)]
pub struct Coefficient {
    /// Its name (`per_wakeup`).
    pub name: &'static str,
    /// The fit through the medians (0 when fixed there, see `negative`).
    pub value: f64,
    /// Lower end of the 95% prediction interval from the round-to-round spread.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// False when the sweep could not separate this term (its value is then 0).
    pub identified: bool,
    /// The value the free fit gave when it was negative (the term is then fixed at 0).
    pub negative: Option<f64>,
}

/// A point's medians and the fit's prediction there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Residual {
    /// The point.
    pub spec: PointSpec,
    /// Median per-request quantities over its samples.
    pub median: PerRequest,
    /// Median system-call rounds per request.
    pub rounds: f64,
    /// The fit's server CPU per request there.
    pub predicted: f64,
}

/// The fitted terms.
#[derive(Clone, Debug, PartialEq)]
pub struct TermsFit {
    /// `processing`, `per_syscall`, `per_wakeup`, `per_key`, `per_byte`, `per_peer_wakeup`, in
    /// that order ([`NAMES`]).
    pub terms: [Coefficient; N],
    /// R^2 of the fit through the per-point medians.
    pub r2: f64,
    /// Points fitted.
    pub points: usize,
    /// Rounds fitted on their own (the interval's sample).
    pub round_fits: usize,
    /// Counted read/write system calls per request at the unpipelined single-client point (one
    /// system-call round).
    pub syscalls_per_round: f64,
    /// Per point: medians and prediction.
    pub residuals: Vec<Residual>,
    /// Why a term was not identified, or other caveats of the fit.
    pub notes: Vec<String>,
}

impl TermsFit {
    /// The term named `name`.
    pub fn term(&self, name: &str) -> Option<&Coefficient> {
        self.terms.iter().find(|c| c.name == name)
    }
}

/// Weighted least squares of `y` on the columns of `rows` marked `active`, by modified
/// Gram-Schmidt QR on the weighted, norm-scaled columns. A column whose remainder after
/// orthogonalisation is below 1e-6 of its norm depends on the earlier ones: it is dropped (its
/// flag cleared in the returned mask) and its coefficient is 0.
///
/// # Errors
/// When fewer rows than active columns remain, or a value is not finite.
pub fn lstsq(
    rows: &[[f64; N]],
    y: &[f64],
    w: &[f64],
    active: [bool; N],
) -> Result<([f64; N], [bool; N]), String> {
    if rows
        .iter()
        .flatten()
        .chain(y)
        .chain(w)
        .any(|v| !v.is_finite())
    {
        return Err("a point is not finite".to_owned());
    }
    let m = rows.len();
    let sw: Vec<f64> = w.iter().map(|v| v.max(0.0).sqrt()).collect();
    let mut mask = active;
    let mut q: Vec<Vec<f64>> = Vec::new();
    let mut cols = Vec::new();
    let mut scale = Vec::new();
    for j in 0..N {
        if !mask[j] {
            continue;
        }
        let mut v: Vec<f64> = (0..m).map(|i| rows[i][j] * sw[i]).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            mask[j] = false;
            continue;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        for qk in &q {
            let d: f64 = v.iter().zip(qk).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(qk).for_each(|(a, b)| *a -= d * b);
        }
        let rest = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if rest < 1e-6 {
            mask[j] = false;
            continue;
        }
        v.iter_mut().for_each(|x| *x /= rest);
        q.push(v);
        cols.push(j);
        scale.push(norm);
    }
    let k = cols.len();
    if m < k || k == 0 {
        return Err(format!("{m} point(s) for {k} term(s)"));
    }
    // R = Q^T A (scaled), upper triangular; solve R c = Q^T b.
    let a = |i: usize, j: usize| rows[i][cols[j]] * sw[i] / scale[j];
    let mut r = vec![vec![0.0; k]; k];
    let mut qb = vec![0.0; k];
    for (p, qp) in q.iter().enumerate() {
        for (j, rpj) in r[p].iter_mut().enumerate().skip(p) {
            *rpj = (0..m).map(|i| qp[i] * a(i, j)).sum();
        }
        qb[p] = (0..m).map(|i| qp[i] * y[i] * sw[i]).sum();
    }
    let mut c = vec![0.0; k];
    for p in (0..k).rev() {
        let s: f64 = (p + 1..k).map(|j| r[p][j] * c[j]).sum();
        if r[p][p].abs() < 1e-12 {
            return Err("a singular design".to_owned());
        }
        c[p] = (qb[p] - s) / r[p][p];
    }
    let mut out = [0.0; N];
    for (p, &j) in cols.iter().enumerate() {
        out[j] = c[p] / scale[p];
    }
    if out.iter().any(|v| !v.is_finite()) {
        return Err("the solve gave a non-finite term".to_owned());
    }
    Ok((out, mask))
}

/// Counted read/write calls per request at the reference point below which procfs is taken to
/// count none of the server's socket calls.
const UNCOUNTED: f64 = 0.05;

/// A point's system-call rounds per request: its counted read/write calls over `per_round`, the
/// count of one unpipelined request; when procfs counts none of the server's calls (`per_round`
/// below [`UNCOUNTED`]: it uses recv/send or recvmsg/sendmsg), the configuration's `1 / depth`,
/// the model's `1 / requests_per_syscall`.
fn rounds(p: &PerRequest, spec: &PointSpec, per_round: f64) -> f64 {
    if per_round < UNCOUNTED {
        1.0 / f64::from(spec.depth.max(1))
    } else {
        p.syscalls / per_round
    }
}

fn row(p: &PerRequest, spec: &PointSpec, per_round: f64) -> [f64; N] {
    [
        1.0,
        rounds(p, spec, per_round),
        p.wakeups,
        p.keys,
        p.bytes,
        p.peer_wakeups,
    ]
}

fn weights(y: &[f64]) -> Vec<f64> {
    let top = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = (top * 1e-6).max(1e-9);
    y.iter().map(|v| 1.0 / v.abs().max(floor).powi(2)).collect()
}

/// Term `j`'s interval from the rounds' fits (clean flag per round in `fits`), combined by
/// [`combine`]: each round's fit is a measured estimate without a within-round interval.
fn round_interval<U: Quantity>(fits: &[([f64; N], bool)], j: usize) -> (f64, f64) {
    let rounds: Vec<Estimate<U>> = fits
        .iter()
        .map(|(f, _)| {
            let v = U::from_value(f[j]);
            Estimate::measured(v, v, v, 0.95, 1, "one round's fit")
        })
        .collect();
    let pairs: Vec<(&Estimate<U>, bool)> =
        rounds.iter().zip(fits).map(|(e, (_, c))| (e, *c)).collect();
    combine(&pairs).map_or((fits[0].0[j], fits[0].0[j]), |e| {
        (e.lower.value(), e.upper.value())
    })
}

fn predict(c: &[f64; N], r: &[f64; N]) -> f64 {
    c.iter().zip(r).map(|(a, b)| a * b).sum()
}

/// The points with only the samples taken in the sweep's main machine state: those whose probe
/// round trip is within [`SPREAD_FACTOR`] of the median probe over all samples (a sample without
/// a probe is kept). On a VM whose request cost sits at one of two levels about 2x apart
/// ([`crate::server::state`]), a fit through samples of both fits neither; this one describes
/// the state most samples saw, and says how many it left out (or, where the probe drifted over a
/// range and no state held most samples, that the fit is of a minority).
fn one_state(points: &[Point]) -> (Vec<Point>, Option<String>) {
    let Some(spread) = ProbeSpread::of_points(points) else {
        return (points.to_vec(), None);
    };
    let mid = spread.p50;
    let keep = |r: f64| r <= 0.0 || same_state(mid, r);
    let held: Vec<Point> = points
        .iter()
        .map(|p| Point {
            spec: p.spec,
            samples: p
                .samples
                .iter()
                .filter(|s| keep(s.probe_rtt_ns))
                .copied()
                .collect(),
        })
        .collect();
    let left: usize = points
        .iter()
        .map(|p| p.samples.iter().filter(|s| !keep(s.probe_rtt_ns)).count())
        .sum();
    let note = (left > 0).then(|| {
        if 2 * left > spread.samples {
            // A probe spread evenly over a range has no state most samples saw: say so rather
            // than call the median's neighbourhood the main state.
            format!(
                "no one machine state held most samples: fitted to the {} of {} whose probe \
                 round trip was within {SPREAD_FACTOR}x of the median {:.1} us (a minority), \
                 {left} left out",
                spread.samples - left,
                spread.samples,
                mid / 1e3
            )
        } else {
            format!(
                "fitted to the machine state most samples saw (probe round trip within \
                 {SPREAD_FACTOR}x of {:.1} us): {left} of {} samples in another state left out",
                mid / 1e3,
                spread.samples
            )
        }
    });
    (held, note)
}

/// Fits the terms to the sweep's points (idle activity subtracted).
///
/// # Errors
/// One line when there are too few points with samples, or no reference point (one client,
/// depth 1, one key).
pub fn fit(points: &[Point], idle: &Idle) -> Result<TermsFit, String> {
    let (held, note) = one_state(points);
    let Some(note) = note else {
        return fit_all(points, idle);
    };
    let (mut f, note) = match fit_all(&held, idle) {
        Ok(f) => (f, note),
        // Too few points left, or not the reference point: every sample, and say so.
        Err(why) => (
            fit_all(points, idle)?,
            format!(
                "{note}; but that state's samples alone could not be fitted ({why}), so the fit \
                 uses every sample, of both states"
            ),
        ),
    };
    f.notes.insert(0, note);
    Ok(f)
}

fn fit_all(points: &[Point], idle: &Idle) -> Result<TermsFit, String> {
    let points: Vec<&Point> = points.iter().filter(|p| !p.samples.is_empty()).collect();
    let per = |p: &Point| -> Vec<PerRequest> {
        p.samples
            .iter()
            .map(|s| s.per_request(&p.spec, idle))
            .collect()
    };
    let reference = points
        .iter()
        .filter(|p| p.spec.clients == 1 && p.spec.depth == 1 && p.spec.keys == 1)
        .min_by_key(|p| p.spec.value_bytes)
        .ok_or("no unpipelined single-client get was measured (the reference point)")?;
    let mut notes = Vec::new();
    let counted: Vec<f64> = per(reference).iter().map(|r| r.syscalls).collect();
    let per_round = median(&counted);
    // Without points whose clients were awake for their replies, client wake-ups follow the
    // server's own and the two cannot be told apart: `per_wakeup` then carries both.
    let mut active = [true; N];
    active[N - 1] = points.iter().any(|p| p.spec.busy_us > 0);
    if !active[N - 1] {
        notes.push(
            "per_peer_wakeup not fitted: no point had busy clients, so client wake-ups move with              the server's own; per_wakeup carries both"
                .to_owned(),
        );
    }
    if per_round < UNCOUNTED {
        notes.push(format!(
            "system-call rounds from the configuration (1/depth): /proc/<pid>/io counted \
             {per_round:.3} read/write calls per request at the reference point (the server uses \
             calls procfs does not count, such as recv/send or recvmsg/sendmsg)"
        ));
    }
    let med = |xs: &[PerRequest]| -> PerRequest {
        let m = |f: fn(&PerRequest) -> f64| median(&xs.iter().map(f).collect::<Vec<_>>());
        PerRequest {
            cpu_ns: m(|r| r.cpu_ns),
            syscalls: m(|r| r.syscalls),
            wakeups: m(|r| r.wakeups),
            peer_wakeups: m(|r| r.peer_wakeups),
            keys: m(|r| r.keys),
            bytes: m(|r| r.bytes),
            client_cpu_ns: m(|r| r.client_cpu_ns),
            wall_ns: m(|r| r.wall_ns),
        }
    };
    let medians: Vec<PerRequest> = points.iter().map(|p| med(&per(p))).collect();
    let rows: Vec<[f64; N]> = points
        .iter()
        .zip(&medians)
        .map(|(p, m)| row(m, &p.spec, per_round))
        .collect();
    let y: Vec<f64> = medians.iter().map(|m| m.cpu_ns).collect();
    let w = weights(&y);
    let (mut coef, mut mask) =
        lstsq(&rows, &y, &w, active).map_err(|e| format!("fitting the request terms: {e}"))?;
    for j in 1..N {
        if active[j] && !mask[j] {
            notes.push(format!(
                "{} not identified: its column is constant over the points or a combination of \
                 the others (e.g. one value size makes bytes proportional to keys{})",
                NAMES[j],
                if j == N - 1 {
                    "; client wake-ups that follow the server's: per_wakeup carries both"
                } else {
                    ""
                }
            ));
        }
    }
    // A cost cannot be negative: a term that comes out negative is fixed at 0 and the others
    // refitted (an active-set non-negative fit), and said so, never clamped after the fact.
    let mut negative = [None; N];
    while let Some(j) = (0..N)
        .filter(|&j| mask[j] && coef[j] < 0.0)
        .min_by(|&a, &b| {
            let contribution =
                |j: usize| coef[j] * median(&rows.iter().map(|r| r[j]).collect::<Vec<_>>());
            contribution(a).total_cmp(&contribution(b))
        })
    {
        negative[j] = Some(coef[j]);
        let mut m = mask;
        m[j] = false;
        if !m.iter().any(|&x| x) {
            break;
        }
        let (c, m2) =
            lstsq(&rows, &y, &w, m).map_err(|e| format!("refitting the request terms: {e}"))?;
        notes.push(format!(
            "{} came out negative ({:.4}) when free: fixed at 0 and the other terms refitted",
            NAMES[j], coef[j]
        ));
        coef = c;
        mask = m2;
    }
    // One fit per round, with the same terms.
    let rounds: std::collections::BTreeSet<u32> = points
        .iter()
        .flat_map(|p| p.samples.iter().map(|s| s.round))
        .collect();
    // Each round's fit, and whether every block of that round was clean.
    let mut fits: Vec<([f64; N], bool)> = Vec::new();
    for r in rounds {
        let mut clean = true;
        let mut rr = Vec::new();
        let mut yr = Vec::new();
        for p in &points {
            if let Some(s) = p.samples.iter().find(|s| s.round == r) {
                clean &= s.clean;
                let q = s.per_request(&p.spec, idle);
                rr.push(row(&q, &p.spec, per_round));
                yr.push(q.cpu_ns);
            }
        }
        if let Ok((c, m)) = lstsq(&rr, &yr, &weights(&yr), mask)
            && m == mask
        {
            fits.push((c, clean));
        }
    }
    if fits.len() < 2 {
        notes.push(format!(
            "{} round(s) could be fitted on their own: the intervals are points, not spreads",
            fits.len()
        ));
    }
    let mean_y = y.iter().sum::<f64>() / y.len() as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean_y).powi(2)).sum();
    let ss_res: f64 = rows
        .iter()
        .zip(&y)
        .map(|(r, v)| (v - predict(&coef, r)).powi(2))
        .sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        1.0
    };
    let terms = std::array::from_fn(|j| {
        let (mut lo, mut hi) = (coef[j], coef[j]);
        if mask[j] && fits.len() >= 2 {
            // The same combination as `calibrate run`'s rounds (one mechanism): where the next
            // calibration lands, from the spread between the rounds' own fits.
            let (l, u) = if j == PER_BYTE {
                round_interval::<NanosPerByte>(&fits, j)
            } else {
                round_interval::<Nanos>(&fits, j)
            };
            lo = lo.min(l);
            hi = hi.max(u);
        }
        Coefficient {
            name: NAMES[j],
            value: coef[j],
            lower: lo,
            upper: hi,
            identified: mask[j] || negative[j].is_some(),
            negative: negative[j],
        }
    });
    let residuals = points
        .iter()
        .zip(&medians)
        .zip(&rows)
        .map(|((p, m), r)| Residual {
            spec: p.spec,
            median: *m,
            rounds: r[1],
            predicted: predict(&coef, r),
        })
        .collect();
    Ok(TermsFit {
        terms,
        r2,
        points: points.len(),
        round_fits: fits.len(),
        syscalls_per_round: per_round,
        residuals,
        notes,
    })
}

#[cfg(test)]
mod tests;
