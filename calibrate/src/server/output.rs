//! From a sweep to a profile entry: the transport costs (v1 links and v2 server terms), the
//! sanity flags, the profile written atomically, and the summary table.

use crate::report::compare::number;
use std::fmt::Write as _;
use std::path::Path;

use costmodel::{
    CoreRegime, Estimate, HostProfile, LinkCosts, Nanos, NanosPerByte, SanityFlag, ServerCoeffs,
    ServerRequestTerms, SideCosts, TransportCosts, TransportId,
};

use super::session::ServerOutcome;
use super::state::ProbeSpread;
use super::sweep::{Point, Sweep};
use super::terms::{Coefficient, TermsFit};
use crate::fit::fit_medians;
use crate::report::table;
use crate::stats::{Rng, Summary, median};

/// R^2 below which the fit is flagged as poor.
pub const POOR_R2: f64 = 0.9;

/// How far apart the request terms' unpipelined get and the entry's measured one may be before
/// the entry says so: a round factor, not fitted to any result (samples of one machine state
/// agree within [`super::state::SPREAD_FACTOR`]; 2x is past any one state's spread).
pub const REFERENCE_FACTOR: f64 = 2.0;

fn flag(field: String, value: f64, low: f64, high: f64, note: String) -> SanityFlag {
    SanityFlag {
        field,
        value,
        low,
        high,
        note,
    }
}

/// A measured estimate from a term; a negative value is stored as 0 and said so.
fn term_estimate<U: costmodel::Quantity>(
    c: &Coefficient,
    unit: fn(f64) -> U,
    samples: u32,
    method: &str,
) -> Estimate<U> {
    if !c.identified {
        return Estimate::derived(
            unit(0.0),
            format!(
                "{}: not identified by this sweep (see notes); {method}",
                c.name
            ),
        );
    }
    let p = c.value.max(0.0);
    let mut note = match c.negative {
        Some(v) => format!(
            "; negative when free ({v:.4}): fixed at 0 and the other terms refitted (flagged)"
        ),
        None => String::new(),
    };
    if c.lower < 0.0 {
        note.push_str(&format!(
            "; the interval's lower end {:.4} is below 0 (stored as 0)",
            c.lower
        ));
    }
    Estimate::measured(
        unit(p),
        unit(c.lower.max(0.0).min(p)),
        unit(c.upper.max(p)),
        0.95,
        samples,
        format!("{}{note}; {method}", c.name),
    )
}

fn server_terms(o: &ServerOutcome, f: &TermsFit) -> ServerRequestTerms {
    let samples: u32 = o
        .sweep
        .points
        .iter()
        .map(|p| u32::try_from(p.samples.len()).unwrap_or(u32::MAX))
        .sum();
    let method = format!(
        "calibrate server: server CPU per request from /proc/{pid}/task/*/schedstat over {n} \
         points x {r} interleaved rounds, fitted to processing + per_syscall x syscall rounds + \
         per_wakeup x wake-ups + per_key x keys + per_byte x value bytes + per_peer_wakeup x \
         client wake-ups per request (per point: {rounds}, wake-ups = the server's voluntary \
         context switches/request, client wake-ups = calibrate's client threads' voluntary \
         context switches/request, measured; busy-client points separate the two); weighted \
         least squares (1/y^2) through per-point medians; 95% interval for the next calibration \
         from {rf} per-round fits (noise::rounds::combine: t s sqrt(2/n), clean rounds); \
         R2={r2:.3}; {placement}; noise {noise}{partial}",
        pid = o.pid,
        n = f.points,
        r = o.sweep.rounds,
        rounds = if f.syscalls_per_round < 0.05 {
            "rounds = 1/depth, from the configuration (procfs counted none of this server's \
             read/write calls)"
                .to_owned()
        } else {
            format!(
                "rounds = (syscr+syscw)/request over {:.2} counted at one client unpipelined",
                f.syscalls_per_round
            )
        },
        rf = f.round_fits,
        r2 = f.r2,
        placement = o.placement,
        noise = o.sweep.noise.summary(),
        partial = if o.stopped().is_some() {
            "; PARTIAL: the sweep stopped early"
        } else {
            ""
        },
    );
    let [p, y, w, u, b, v] = &f.terms;
    ServerRequestTerms {
        server: format!(
            "{}{}",
            o.server,
            if o.stopped().is_some() {
                " (partial)"
            } else {
                ""
            }
        ),
        processing: term_estimate(p, Nanos::new, samples, &method),
        per_syscall: term_estimate(y, Nanos::new, samples, &method),
        per_wakeup: term_estimate(w, Nanos::new, samples, &method),
        // Not separated: `per_wakeup` carries it, and the model prices it so.
        per_peer_wakeup: v
            .identified
            .then(|| term_estimate(v, Nanos::new, samples, &method)),
        per_key: term_estimate(u, Nanos::new, samples, &method),
        per_byte: term_estimate(b, NanosPerByte::new, samples, &method),
        fit_r2: Some(f.r2.min(1.0)),
        points: u32::try_from(f.points).unwrap_or(u32::MAX),
    }
}

fn clamp(point: f64, lo: f64, hi: f64) -> (f64, f64, f64) {
    let p = point.max(0.0);
    (p, lo.max(0.0).min(p), hi.max(p))
}

/// One side (server or client CPU) of the points of one regime: a line over value bytes when
/// there are two sizes or more, else the median with the per-byte term from the fit.
fn side(
    points: &[&Point],
    o: &ServerOutcome,
    what: &str,
    server: bool,
) -> Option<(SideCosts, Option<f64>)> {
    let mut rng = Rng::new(0x51de);
    let groups: Vec<(f64, Vec<f64>)> = points
        .iter()
        .map(|p| {
            let per: Vec<_> = p
                .samples
                .iter()
                .map(|s| s.per_request(&p.spec, &o.sweep.idle))
                .collect();
            let x = median(&per.iter().map(|r| r.bytes).collect::<Vec<_>>());
            let ys = per
                .iter()
                .map(|r| if server { r.cpu_ns } else { r.client_cpu_ns })
                .collect();
            (x, ys)
        })
        .filter(|g: &(f64, Vec<f64>)| !g.1.is_empty())
        .collect();
    let first = groups.first()?;
    let n = u32::try_from(groups.iter().map(|g| g.1.len()).sum::<usize>()).unwrap_or(u32::MAX);
    let base = format!(
        "calibrate server, {what}: CPU per request ({}) of {} at {} value size(s)",
        if server {
            format!("server threads, /proc/{}/task/*/schedstat", o.pid)
        } else {
            "client threads, CLOCK_THREAD_CPUTIME_ID".to_owned()
        },
        o.server,
        groups.len()
    );
    if groups.len() >= 2
        && let Ok(f) = fit_medians(&groups, 0.95, 500, &mut rng, what)
    {
        let (a, alo, ahi) = clamp(f.intercept, f.intercept_ci.0, f.intercept_ci.1);
        let (b, blo, bhi) = clamp(f.slope, f.slope_ci.0, f.slope_ci.1);
        let clamped = |v: f64| {
            if v < 0.0 {
                format!("; the fit gave {v:.4}, stored as 0")
            } else {
                String::new()
            }
        };
        let m = format!(
            "{base}; least squares over value bytes (relative weights), R2={:.3}, 95% bootstrap CI",
            f.r2
        );
        let costs = SideCosts {
            per_request: Estimate::measured(
                Nanos::new(a),
                Nanos::new(alo),
                Nanos::new(ahi),
                0.95,
                n,
                format!("{m}; intercept{}", clamped(f.intercept)),
            ),
            per_byte: Estimate::measured(
                NanosPerByte::new(b),
                NanosPerByte::new(blo),
                NanosPerByte::new(bhi),
                0.95,
                n,
                format!("{m}; slope{}", clamped(f.slope)),
            ),
        };
        return Some((costs, Some(f.r2)));
    }
    let s = Summary::of(&first.1, 0.95, 500, &mut rng)?;
    let per_byte = o
        .fit
        .as_ref()
        .ok()
        .and_then(|f| f.term("per_byte"))
        .filter(|c| c.identified)
        .map_or(0.0, |c| c.value.max(0.0));
    let (a, alo, ahi) = clamp(s.median, s.lower, s.upper);
    let costs = SideCosts {
        per_request: Estimate::measured(
            Nanos::new(a),
            Nanos::new(alo),
            Nanos::new(ahi),
            0.95,
            n,
            format!("{base}; median over rounds at {:.0} B", first.0),
        ),
        per_byte: Estimate::derived(
            NanosPerByte::new(per_byte),
            "one value size at this regime: the fitted server per_byte term",
        ),
    };
    Some((costs, None))
}

fn link(points: &[&Point], o: &ServerOutcome, what: &str) -> Option<LinkCosts> {
    let (server, r2) = side(points, o, what, true)?;
    let (client, _) = side(points, o, what, false)?;
    let smallest = points.iter().min_by_key(|p| p.spec.value_bytes)?;
    let wall: Vec<f64> = smallest
        .samples
        .iter()
        .map(|s| s.per_request(&smallest.spec, &o.sweep.idle).wall_ns)
        .collect();
    let s = Summary::of(&wall, 0.95, 500, &mut Rng::new(0x7a11))?;
    Some(LinkCosts {
        client,
        server,
        round_trip: Estimate::measured(
            Nanos::new(s.median),
            Nanos::new(s.lower),
            Nanos::new(s.upper),
            0.95,
            u32::try_from(s.n).unwrap_or(u32::MAX),
            format!(
                "calibrate server, {what}: wall time per request x requests in flight ({} \
                 client(s) x depth {}) at {} B; {}",
                smallest.spec.clients,
                smallest.spec.depth,
                smallest.spec.value_bytes,
                s.describe()
            ),
        ),
        fit_r2: r2,
    })
}

/// The transport entry and its flags from a calibration's sweep and fit. `None` when the
/// unloaded or saturated points have no sample (the sweep stopped too early).
pub fn transport(o: &ServerOutcome) -> (Option<TransportCosts>, Vec<SanityFlag>) {
    let base = format!("transports.{}", o.id);
    let mut flags = Vec::new();
    if let Some(why) = o.stopped() {
        let done: usize = o.sweep.points.iter().map(|p| p.samples.len()).sum();
        let planned = o.planned * o.sweep.rounds as usize;
        flags.push(flag(
            format!("{base}.server_terms.points"),
            done as f64,
            planned as f64,
            planned as f64,
            format!("partial: the sweep stopped after {done} of {planned} samples: {why}"),
        ));
    }
    flags.extend(ProbeSpread::of(&o.sweep).and_then(|p| p.flag(&base)));
    let noise = &o.sweep.noise;
    if noise.grade != costmodel::NoiseGrade::Quiet {
        flags.push(flag(
            format!("{base}.server_terms.noise"),
            f64::from(noise.contaminated),
            0.0,
            0.0,
            // Kept over a threshold, redone often, or on cores another guest shared around
            // most samples: the summary says which.
            format!("the sweep was not quiet: {}", noise.summary()),
        ));
    }
    let pick = |f: &dyn Fn(&Point) -> bool| -> Vec<&Point> {
        o.sweep
            .points
            .iter()
            .filter(|p| f(p) && p.spec.keys == 1 && p.spec.busy_us == 0 && !p.samples.is_empty())
            .collect()
    };
    let unloaded = pick(&|p| p.spec.clients == 1 && p.spec.depth == 1);
    let cmax = o
        .sweep
        .points
        .iter()
        .map(|p| p.spec.clients)
        .max()
        .unwrap_or(1);
    let dmax = o
        .sweep
        .points
        .iter()
        .map(|p| p.spec.depth)
        .max()
        .unwrap_or(1);
    let saturated = pick(&|p| p.spec.clients == cmax && p.spec.depth == dmax);
    let terms = match &o.fit {
        Ok(f) => {
            for c in &f.terms {
                if !c.identified && c.name == "per_peer_wakeup" {
                    // Stored as absent, not as 0: per_wakeup carries it (the fit's note says so).
                } else if !c.identified {
                    flags.push(flag(
                        format!("{base}.server_terms.{}", c.name),
                        0.0,
                        0.0,
                        0.0,
                        "not identified by this sweep: stored as a derived 0".to_owned(),
                    ));
                } else if let Some(v) = c.negative {
                    flags.push(flag(
                        format!("{base}.server_terms.{}", c.name),
                        v,
                        0.0,
                        1e9,
                        "the free fit gave a negative cost; the term was fixed at 0 and the others \
                         refitted: this sweep cannot separate it (it moves with another term, or \
                         is below the noise)"
                            .to_owned(),
                    ));
                }
            }
            if f.r2 < POOR_R2 {
                flags.push(flag(
                    format!("{base}.server_terms.fit_r2"),
                    f.r2,
                    POOR_R2,
                    1.0,
                    "a poor fit: the terms explain little of the per-point CPU (a noisy host, \
                     or costs the model lacks)"
                        .to_owned(),
                ));
            }
            Some(server_terms(o, f))
        }
        Err(_) => None,
    };
    let (Some(u), Some(s)) = (
        link(&unloaded, o, "1 client, unpipelined"),
        link(&saturated, o, &format!("{cmax} clients x depth {dmax}")),
    ) else {
        return (None, flags);
    };
    if let Some(terms) = &terms {
        flags.extend(reference_flag(&base, terms, u.server.per_request.value()));
    }
    let t = TransportCosts {
        description: format!(
            "{} at {}, calibrated from outside by calibrate server{}",
            o.server,
            o.addr,
            if o.stopped().is_some() {
                " (partial)"
            } else {
                ""
            }
        ),
        headline: if o.cross_core {
            CoreRegime::CrossCore
        } else {
            CoreRegime::SameCore
        },
        unloaded: u,
        saturated: s,
        other_cores: None,
        server_terms: terms,
    };
    (Some(t), flags)
}

/// A flag on `base.server_terms.reference` when `terms` put an unpipelined single-key get (one
/// system-call round, the server's and the client's wake-up, no value bytes) further than
/// [`REFERENCE_FACTOR`] from `measured`, the entry's unloaded server CPU per request over all its
/// samples: the terms then do not reproduce the host's own reference point (they were fitted to
/// another machine state than most of that point's samples, or the fit is poor).
fn reference_flag(base: &str, terms: &ServerRequestTerms, measured: f64) -> Option<SanityFlag> {
    let c = ServerCoeffs::try_from(terms).ok()?;
    let fitted = c.per_request(1.0, 1.0).get() + c.per_key().get();
    let ratio = fitted / measured;
    let agree = 1.0 / REFERENCE_FACTOR..=REFERENCE_FACTOR;
    (measured > 0.0 && !agree.contains(&ratio)).then(|| {
        flag(
            format!("{base}.server_terms.reference"),
            ratio,
            *agree.start(),
            *agree.end(),
            format!(
                "the request terms put an unpipelined get at {fitted:.0} ns of server CPU, the \
                 unloaded point measured {measured:.0} ns over all its samples ({ratio:.2}x): \
                 the terms do not reproduce this host's own reference point (fitted to another \
                 machine state than most of its samples, see probe_spread, or a poor fit)"
            ),
        )
    })
}

/// Puts the outcome's entry into `profile` (replacing an entry of the same id and its flags,
/// keeping everything else) and validates the result.
///
/// # Errors
/// [`crate::CalibrateError::Transport`] when there is no entry (too little measured) or the id
/// is invalid; a validation error from the cost model.
pub fn apply_to_profile(profile: &mut HostProfile, o: &ServerOutcome) -> crate::Result<()> {
    let fail = |message: String| crate::CalibrateError::Transport {
        transport: o.id.clone(),
        message,
    };
    let t = o
        .transport
        .clone()
        .ok_or_else(|| fail("too little was measured for a profile entry".to_owned()))?;
    let id = TransportId::new(&o.id).map_err(|e| fail(e.to_string()))?;
    profile.transports.insert(id, t);
    let prefix = format!("transports.{}.", o.id);
    profile.flags.retain(|f| !f.field.starts_with(&prefix));
    profile.flags.extend(o.flags.iter().cloned());
    profile.format_version = costmodel::HOST_FORMAT_VERSION;
    profile.validate("the profile with the new entry")?;
    Ok(())
}

/// Writes `profile` to `path` through a temporary file in the same directory and a rename, so
/// a reader never sees half a file. Refuses an existing `path` unless `force`.
///
/// # Errors
/// [`crate::CalibrateError::Write`] naming the file.
pub fn write_atomically(profile: &HostProfile, path: &Path, force: bool) -> crate::Result<()> {
    let werr = |source| crate::CalibrateError::Write {
        path: path.to_owned(),
        source,
    };
    if path.exists() && !force {
        return Err(werr(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it exists (pass --force to overwrite it)",
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".to_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, profile.to_ron()).map_err(werr)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        werr(e)
    })
}

/// The points as a table, the fitted terms with intervals, R^2 and the flags.
pub fn summary(o: &ServerOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "calibrate server: {} at {} (pid {}{}), entry {}",
        o.server,
        o.addr,
        o.pid,
        o.spawned
            .as_ref()
            .map(|c| format!(", started as {c:?}"))
            .unwrap_or_default(),
        o.id
    );
    let _ = writeln!(
        out,
        "{}; idle server: {:.0} ns CPU/s, {:.1} wake-ups/s (subtracted)",
        o.placement, o.sweep.idle.cpu_ns, o.sweep.idle.wakeups
    );
    let Sweep { points, .. } = &o.sweep;
    let mut rows = vec![vec![
        "clients x depth, value, keys".to_owned(),
        "n".to_owned(),
        "req/s".to_owned(),
        "server ns/req".to_owned(),
        "syscalls/req".to_owned(),
        "wake-ups/req".to_owned(),
        "client wk/req".to_owned(),
        "probe us".to_owned(),
        "fit ns/req".to_owned(),
        "err".to_owned(),
    ]];
    let fitted = o.fit.as_ref().ok();
    for p in points {
        if p.samples.is_empty() {
            continue;
        }
        let per: Vec<_> = p
            .samples
            .iter()
            .map(|s| s.per_request(&p.spec, &o.sweep.idle))
            .collect();
        let m = |f: fn(&super::sweep::PerRequest) -> f64| {
            median(&per.iter().map(f).collect::<Vec<_>>())
        };
        let rate = median(
            &p.samples
                .iter()
                .map(super::sweep::Sample::requests_per_s)
                .collect::<Vec<_>>(),
        );
        let pred = fitted.and_then(|f| f.residuals.iter().find(|r| r.spec == p.spec));
        let cpu = m(|r| r.cpu_ns);
        rows.push(vec![
            format!(
                "{:>2} x {:>2}, {:>4} B, {:>2}{}",
                p.spec.clients,
                p.spec.depth,
                p.spec.value_bytes,
                p.spec.keys,
                if p.spec.busy_us > 0 {
                    format!(", busy {} us", p.spec.busy_us)
                } else {
                    String::new()
                }
            ),
            p.samples.len().to_string(),
            format!("{rate:.0}"),
            number(cpu),
            number(m(|r| r.syscalls)),
            number(m(|r| r.wakeups)),
            number(m(|r| r.peer_wakeups)),
            number(median(
                &p.samples
                    .iter()
                    .map(|s| s.probe_rtt_ns / 1e3)
                    .collect::<Vec<_>>(),
            )),
            pred.map_or("-".to_owned(), |r| number(r.predicted)),
            pred.map_or("-".to_owned(), |r| {
                format!("{:+.0}%", 100.0 * (r.predicted - cpu) / cpu.max(1e-9))
            }),
        ]);
    }
    out.push_str(&table(&rows));
    match &o.fit {
        Ok(f) => {
            let _ = writeln!(
                out,
                "\nrequest terms (95% interval for the next calibration, from {} per-round fits), \
                 R2 = {:.3} over {} points; one syscall round = {:.2} counted read/write calls",
                f.round_fits, f.r2, f.points, f.syscalls_per_round
            );
            let mut rows = vec![vec![
                "term".to_owned(),
                "value".to_owned(),
                "95% interval".to_owned(),
                String::new(),
            ]];
            for c in &f.terms {
                let unit = if c.name == "per_byte" { "ns/B" } else { "ns" };
                rows.push(vec![
                    c.name.to_owned(),
                    format!("{} {unit}", number(c.value)),
                    if c.identified {
                        format!("[{} .. {}]", number(c.lower), number(c.upper))
                    } else {
                        "-".to_owned()
                    },
                    if !c.identified {
                        "not identified".to_owned()
                    } else if let Some(v) = c.negative {
                        format!("negative when free ({}): fixed at 0, flagged", number(v))
                    } else {
                        String::new()
                    },
                ]);
            }
            out.push_str(&table(&rows));
            for n in &f.notes {
                let _ = writeln!(out, "  note: {n}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "\nno fit: {e}");
        }
    }
    if !o.flags.is_empty() {
        let _ = writeln!(out, "\nsanity flags ({}):", o.flags.len());
        for f in &o.flags {
            let _ = writeln!(out, "  ! {} = {:.4}: {}", f.field, f.value, f.note);
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        crate::noise::report::grade_line(&o.sweep.noise)
    );
    if let Some(p) = ProbeSpread::of(&o.sweep) {
        let _ = writeln!(out, "{}", p.line());
    }
    if let Some(why) = o.stopped() {
        let _ = writeln!(out, "\nPARTIAL: the sweep stopped early: {why}");
    }
    if let Some(why) = &o.cleanup {
        let _ = writeln!(out, "note: {why}");
    }
    let _ = writeln!(out, "took {:.1} s", o.elapsed.as_secs_f64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(per_wakeup: f64) -> ServerRequestTerms {
        let ns = |v: f64| Estimate::derived(Nanos::new(v), "test");
        ServerRequestTerms {
            server: "test".to_owned(),
            processing: ns(500.0),
            per_syscall: ns(1_000.0),
            per_wakeup: ns(per_wakeup),
            per_peer_wakeup: Some(ns(1_500.0)),
            per_key: ns(0.0),
            per_byte: Estimate::derived(NanosPerByte::new(0.25), "test"),
            fit_r2: Some(0.99),
            points: 8,
        }
    }

    // An unpipelined get from the terms is p + y + w + v + u (value bytes aside): 6,000 ns here.
    #[test]
    fn terms_that_miss_the_measured_get_by_more_than_the_factor_are_flagged() {
        let t = terms(3_000.0);
        assert!(reference_flag("transports.x", &t, 6_000.0).is_none());
        assert!(reference_flag("transports.x", &t, 3_001.0).is_none());
        assert!(reference_flag("transports.x", &t, 11_999.0).is_none());
        let low = reference_flag("transports.x", &t, 25_000.0).unwrap();
        assert_eq!(low.field, "transports.x.server_terms.reference");
        assert!((low.value - 0.24).abs() < 1e-12, "{low:?}");
        assert!(
            low.note.contains("6000 ns") && low.note.contains("25000 ns"),
            "{low:?}"
        );
        let high = reference_flag("transports.x", &t, 2_000.0).unwrap();
        assert!((high.value - 3.0).abs() < 1e-12, "{high:?}");
        // Nothing measured: nothing to compare.
        assert!(reference_flag("transports.x", &t, 0.0).is_none());
    }
}
