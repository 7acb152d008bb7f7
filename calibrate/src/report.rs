//! Readable tables: a profile (`show`), two profiles side by side (`diff`), a run's summary.

use std::fmt::Write as _;

use costmodel::{CoreRegime, Estimate, HostProfile, LinkCosts, Quantity, Source};

use crate::run::RunReport;

/// Left-aligns the first column and right-aligns the others, two spaces apart.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i == 0 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `12.3 ns [11.9, 12.8]` with a source mark: `*` literature, `=` derived, none measured.
fn est<U: Quantity>(e: &Estimate<U>) -> String {
    let mark = match e.source {
        Source::Measured { .. } => "",
        Source::Literature { .. } => " *",
        Source::Derived { .. } => " =",
    };
    if e.lower == e.upper {
        format!("{}{mark}", e.point)
    } else {
        format!("{} [{} .. {}]{mark}", e.point, e.lower, e.upper)
    }
}

fn regime(r: CoreRegime) -> &'static str {
    match r {
        CoreRegime::SameCore => "same-core",
        CoreRegime::CrossCore => "cross-core",
    }
}

fn link_rows(rows: &mut Vec<Vec<String>>, name: String, l: &LinkCosts) {
    rows.push(vec![
        name,
        est(&l.client.per_request),
        est(&l.client.per_byte),
        est(&l.server.per_request),
        est(&l.server.per_byte),
        est(&l.round_trip),
        l.fit_r2.map_or("-".to_owned(), |r| format!("{r:.2}")),
    ]);
}

/// A profile as tables: identity, transports, isolation schemes, flags.
pub fn show(p: &HostProfile, origin: &str) -> String {
    let h = &p.host;
    let mut out = String::new();
    let _ = writeln!(out, "host profile {origin}");
    let id_rows = vec![
        vec!["name".to_owned(), h.name.clone()],
        vec![
            "cpu".to_owned(),
            format!("{} ({} cpus)", h.cpu_model, h.cores),
        ],
        vec!["kernel".to_owned(), h.kernel.clone()],
        vec![
            "virtualised / kvm / pku".to_owned(),
            format!("{} / {} / {}", h.virtualised, h.kvm, h.pku),
        ],
        vec![
            "hardware counters".to_owned(),
            h.hardware_counters.to_string(),
        ],
        vec!["clock source".to_owned(), h.clock_source.clone()],
        vec![
            "mitigations".to_owned(),
            format!("{} in force", h.mitigations.len()),
        ],
        vec![
            "calibrated".to_owned(),
            format!("{} by {}", h.calibrated_at, h.tool),
        ],
        vec!["dispatch".to_owned(), est(&p.dispatch)],
        vec![
            "memory copy".to_owned(),
            p.memory_copy.as_ref().map_or("-".to_owned(), |m| {
                format!("{} ({:.1} GB/s)", est(m), 1.0 / m.value())
            }),
        ],
        vec![
            "scattered-read premium".to_owned(),
            p.scattered_access.as_ref().map_or("-".to_owned(), est),
        ],
    ];
    out.push_str(&table(&id_rows));
    out.push('\n');
    let mut rows = vec![vec![
        "transport / regime".to_owned(),
        "client a".to_owned(),
        "client b".to_owned(),
        "server a".to_owned(),
        "server b".to_owned(),
        "round trip".to_owned(),
        "R2".to_owned(),
    ]];
    for (id, t) in &p.transports {
        let other = match t.headline {
            CoreRegime::SameCore => CoreRegime::CrossCore,
            CoreRegime::CrossCore => CoreRegime::SameCore,
        };
        link_rows(
            &mut rows,
            format!("{id} unloaded ({}, headline)", regime(t.headline)),
            &t.unloaded,
        );
        // The pipelined sweep gives the server a core of its own when there are two CPUs.
        let saturated = if p.host.cores >= 2 {
            CoreRegime::CrossCore
        } else {
            t.headline
        };
        link_rows(
            &mut rows,
            format!("{id} saturated ({})", regime(saturated)),
            &t.saturated,
        );
        if let Some(o) = &t.other_cores {
            link_rows(&mut rows, format!("{id} unloaded ({})", regime(other)), o);
        }
    }
    out.push_str(&table(&rows));
    out.push_str("a: CPU per request; b: CPU per payload byte (request + response bytes)\n\n");
    let mut rows = vec![vec![
        "scheme".to_owned(),
        "warm invoke".to_owned(),
        "cold start".to_owned(),
        "local access".to_owned(),
        "slowdown".to_owned(),
        "memory".to_owned(),
        "support".to_owned(),
    ]];
    for (id, s) in &p.isolation {
        rows.push(vec![
            id.to_string(),
            est(&s.warm_invoke),
            est(&s.cold_start),
            est(&s.local_access),
            est(&s.slowdown),
            est(&s.memory_per_context),
            match &s.support {
                costmodel::Support::Supported => "yes".to_owned(),
                costmodel::Support::Unsupported { reason } => format!("no: {reason}"),
            },
        ]);
        for (name, d) in &s.details {
            rows.push(vec![
                format!("  {name}"),
                est(d),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        let blank = || vec![String::new(); 7];
        if let Some(g) = &s.local_access_per_byte {
            let mut row = blank();
            row[0] = "  local_access per byte (ns/B)".to_owned();
            row[3] = est(g);
            rows.push(row);
        }
        for (class, f) in &s.slowdown_by_class {
            let mut row = blank();
            row[0] = format!("  slowdown {class}");
            row[4] = est(f);
            rows.push(row);
        }
    }
    out.push_str(&table(&rows));
    out.push_str("* literature value (cited, not measured here); [..] 95% interval\n");
    if !p.flags.is_empty() {
        let _ = writeln!(out, "\nsanity flags ({}):", p.flags.len());
        for f in &p.flags {
            let _ = writeln!(
                out,
                "  ! {} = {:.4} outside [{:.4}, {:.4}]: {}",
                f.field, f.value, f.low, f.high, f.note
            );
        }
    }
    out.push('\n');
    out.push_str(&crate::noise::report::show(p.noise.as_ref()));
    out
}

/// One coefficient of a profile, flattened.
#[derive(Clone, Debug, PartialEq)]
pub struct Coefficient {
    /// Dotted path.
    pub path: String,
    /// Point value.
    pub point: f64,
    /// Interval.
    pub lower: f64,
    /// Interval.
    pub upper: f64,
    /// Measured (or derived) rather than cited.
    pub measured: bool,
}

fn coef<U: Quantity>(out: &mut Vec<Coefficient>, path: String, e: &Estimate<U>) {
    out.push(Coefficient {
        path,
        point: e.point.value(),
        lower: e.lower.value(),
        upper: e.upper.value(),
        measured: e.source.is_measured(),
    });
}

fn link_coefs(out: &mut Vec<Coefficient>, base: &str, l: &LinkCosts) {
    coef(
        out,
        format!("{base}.client.per_request"),
        &l.client.per_request,
    );
    coef(out, format!("{base}.client.per_byte"), &l.client.per_byte);
    coef(
        out,
        format!("{base}.server.per_request"),
        &l.server.per_request,
    );
    coef(out, format!("{base}.server.per_byte"), &l.server.per_byte);
    coef(out, format!("{base}.round_trip"), &l.round_trip);
}

/// Every coefficient of a profile, in a stable order.
pub fn coefficients(p: &HostProfile) -> Vec<Coefficient> {
    let mut out = Vec::new();
    coef(&mut out, "dispatch".to_owned(), &p.dispatch);
    if let Some(m) = &p.memory_copy {
        coef(&mut out, "memory_copy".to_owned(), m);
    }
    if let Some(m) = &p.scattered_access {
        coef(&mut out, "scattered_access".to_owned(), m);
    }
    for (id, t) in &p.transports {
        link_coefs(&mut out, &format!("transports.{id}.unloaded"), &t.unloaded);
        link_coefs(
            &mut out,
            &format!("transports.{id}.saturated"),
            &t.saturated,
        );
        if let Some(o) = &t.other_cores {
            link_coefs(&mut out, &format!("transports.{id}.other_cores"), o);
        }
    }
    for (id, s) in &p.isolation {
        let b = format!("isolation.{id}");
        coef(&mut out, format!("{b}.warm_invoke"), &s.warm_invoke);
        coef(&mut out, format!("{b}.cold_start"), &s.cold_start);
        coef(&mut out, format!("{b}.local_access"), &s.local_access);
        coef(&mut out, format!("{b}.slowdown"), &s.slowdown);
        coef(
            &mut out,
            format!("{b}.memory_per_context"),
            &s.memory_per_context,
        );
        for (name, d) in &s.details {
            coef(&mut out, format!("{b}.details.{name}"), d);
        }
        if let Some(g) = &s.local_access_per_byte {
            coef(&mut out, format!("{b}.local_access_per_byte"), g);
        }
        for (class, f) in &s.slowdown_by_class {
            coef(&mut out, format!("{b}.slowdown_by_class.{class}"), f);
        }
    }
    out
}

/// One row of a diff.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffRow {
    /// Dotted path.
    pub path: String,
    /// Value in A.
    pub a: f64,
    /// Value in B.
    pub b: f64,
    /// `b / a` (NaN when `a` is 0 and `b` is not).
    pub ratio: f64,
    /// True when the values differ beyond their intervals ([`crate::noise::report::beyond_rule`]);
    /// `None` when either has no interval (a single sample or a cited point value).
    pub beyond_ci: Option<bool>,
    /// Whether each value was measured.
    pub measured: (bool, bool),
}

/// Compares every coefficient both profiles have.
pub fn diff_rows(a: &HostProfile, b: &HostProfile) -> Vec<DiffRow> {
    let cb = coefficients(b);
    let predictive = crate::noise::report::predictive(a, b);
    let outside = |v: f64, c: &Coefficient| v < c.lower || v > c.upper;
    coefficients(a)
        .into_iter()
        .filter_map(|x| {
            let y = cb.iter().find(|y| y.path == x.path)?;
            let ratio = if x.point == 0.0 {
                if y.point == 0.0 { 1.0 } else { f64::NAN }
            } else {
                y.point / x.point
            };
            Some(DiffRow {
                path: x.path.clone(),
                a: x.point,
                b: y.point,
                ratio,
                beyond_ci: (x.upper > x.lower && y.upper > y.lower).then_some(if predictive {
                    outside(y.point, &x) && outside(x.point, y)
                } else {
                    x.upper < y.lower || y.upper < x.lower
                }),
                measured: (x.measured, y.measured),
            })
        })
        .collect()
}

/// A number with precision to suit its size.
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Two profiles side by side as a table.
pub fn diff(a: &HostProfile, b: &HostProfile, name_a: &str, name_b: &str) -> String {
    let rows = diff_rows(a, b);
    let mut out = String::new();
    let _ = writeln!(out, "A = {name_a} ({})", a.host.name);
    let _ = writeln!(out, "B = {name_b} ({})", b.host.name);
    let mut t = vec![vec![
        "coefficient".to_owned(),
        "A".to_owned(),
        "B".to_owned(),
        "B/A".to_owned(),
        "beyond CIs".to_owned(),
    ]];
    let mark = |m: bool| if m { "" } else { " *" };
    let mut beyond = 0;
    let mut comparable = 0;
    for r in &rows {
        match r.beyond_ci {
            Some(true) => {
                beyond += 1;
                comparable += 1;
            }
            Some(false) => comparable += 1,
            None => {}
        }
        t.push(vec![
            r.path.clone(),
            format!("{}{}", number(r.a), mark(r.measured.0)),
            format!("{}{}", number(r.b), mark(r.measured.1)),
            if r.ratio.is_finite() {
                format!("{:.2}x", r.ratio)
            } else {
                "-".to_owned()
            },
            match r.beyond_ci {
                Some(true) => "yes".to_owned(),
                Some(false) => String::new(),
                None => "n/a".to_owned(),
            },
        ]);
    }
    out.push_str(&table(&t));
    let _ = writeln!(
        out,
        "{beyond} of {comparable} coefficients with intervals differ beyond them ({}; n/a: a \
         single sample or a cited point value, {} of {}); * literature value; units: ns, ns/B, \
         factor, bytes",
        crate::noise::report::beyond_rule(a, b),
        rows.len() - comparable,
        rows.len()
    );
    out.push_str(&crate::noise::report::diff(a, b));
    let only = |x: &HostProfile, y: &HostProfile| -> Vec<String> {
        let cy = coefficients(y);
        coefficients(x)
            .into_iter()
            .filter(|c| !cy.iter().any(|d| d.path == c.path))
            .map(|c| c.path)
            .collect()
    };
    for (label, v) in [("only in A", only(a, b)), ("only in B", only(b, a))] {
        if !v.is_empty() {
            let _ = writeln!(out, "{label}: {}", v.join(", "));
        }
    }
    out
}

/// The run's own summary: environment, measurements with their checks, failures, flags.
pub fn run_summary(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "calibration finished in {:.1} s ({})",
        r.elapsed.as_secs_f64(),
        r.profile.host.tool
    );
    let mut env: Vec<(String, String)> = vec![(
        "mitigations".to_owned(),
        r.env.identity.mitigations.join("; "),
    )];
    env.extend(r.env.extra.iter().cloned());
    env.push((
        "clock read overhead".to_owned(),
        format!(
            "{} ns (subtracted from timed intervals)",
            r.timer_overhead.as_nanos()
        ),
    ));
    if let Some(s) = &r.syscall {
        env.push((
            "null syscall (getppid)".to_owned(),
            format!(
                "{:.1} ns [{:.1} .. {:.1}]",
                s.summary.median, s.summary.lower, s.summary.upper
            ),
        ));
    }
    for (k, v) in env {
        let _ = writeln!(out, "{k}: {v}");
    }
    out.push('\n');

    let copy = r.memcpy.as_ref().map(|m| m.summary.median);
    let mut rows = vec![vec![
        "transport sweep".to_owned(),
        "server a".to_owned(),
        "server b".to_owned(),
        "b / memcpy".to_owned(),
        "client a".to_owned(),
        "R2 s/c".to_owned(),
        "ctx sw/RT".to_owned(),
        "task/thread".to_owned(),
        "cpu/wall".to_owned(),
        "stop".to_owned(),
    ]];
    for t in &r.transports {
        for (s, tag) in [
            (&t.unloaded, " (headline)"),
            (&t.saturated, ""),
            (&t.other, ""),
        ] {
            let Some(s) = s else { continue };
            let conv = s
                .points
                .iter()
                .filter(|p| p.measurement.stop == crate::harness::StopReason::Converged)
                .count();
            rows.push(vec![
                format!("{}{tag}", s.label()),
                format!("{:.2} us", s.server_fit.intercept / 1e3),
                format!("{:.4} ns/B", s.server_fit.slope),
                copy.map_or("-".to_owned(), |c| {
                    format!("{:.1}x", s.server_fit.slope / c)
                }),
                format!("{:.2} us", s.client_fit.intercept / 1e3),
                format!("{:.2}/{:.2}", s.server_fit.r2, s.client_fit.r2),
                s.switches_per_rt
                    .map_or("-".to_owned(), |x| format!("{x:.2}")),
                s.task_over_thread
                    .map_or("-".to_owned(), |x| format!("{x:.3}")),
                format!("{:.2}", s.cpu_over_wall),
                format!("{conv}/{} conv", s.points.len()),
            ]);
        }
    }
    out.push_str(&table(&rows));
    if let Some(c) = copy {
        let _ = writeln!(
            out,
            "memcpy (64 KiB, in cache): {c:.4} ns/B = {:.1} GB/s. A socket side copies each payload \
             byte once (a round trip copies each direction twice), so b / memcpy should be >= 1 \
             and a small multiple.",
            1.0 / c
        );
    }
    let _ = writeln!(
        out,
        "ctx sw/RT: perf context switches per round trip (both sides); task/thread: perf task \
         clock over the thread CPU clock (two sources of the same CPU time; 1.000 when they agree)."
    );
    let _ = writeln!(
        out,
        "Headline numbers: same-core ping-pong for kernel sockets (pure software cost; the \
         cross-core row adds wake-ups), cross-core for the polling ring; saturated = pipelined \
         x{} in lockstep (each server wake-up drains the whole window, one system call per \
         side), server on a core of its own (cross-core) when there are two CPUs, stored as the \
         floor a(d -> inf) extrapolated with the cross-core ping-pong as a(1).",
        crate::run::SATURATED_WINDOW
    );
    out.push('\n');
    if r.schemes.is_empty() {
        out.push_str(
            "isolation: no scheme is compiled into this build; all schemes keep their cited \
             defaults\n",
        );
    }
    for s in &r.schemes {
        let _ = writeln!(
            out,
            "scheme {}: {}",
            s.id,
            if s.measured.is_empty() {
                "nothing measured (cited defaults kept)".to_owned()
            } else {
                format!("measured {}", s.measured.join(", "))
            }
        );
        for n in &s.notes {
            let _ = writeln!(out, "    {n}");
        }
    }
    for t in &r.transports {
        for line in &t.skipped {
            let _ = writeln!(out, "{}: {line}", t.kind.id());
        }
    }
    let errors = r.errors();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nproblems ({}):", errors.len());
        for e in errors {
            let _ = writeln!(out, "  - {e}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(&[
            vec!["a".to_owned(), "1".to_owned()],
            vec!["long name".to_owned(), "12345".to_owned()],
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].len(), lines[1].len());
        assert!(lines[0].ends_with("    1"));
    }

    #[test]
    fn a_profile_diffed_with_itself_has_no_differences() {
        let p = crate::profile::reference().unwrap();
        let rows = diff_rows(&p, &p);
        assert!(!rows.is_empty());
        assert!(
            rows.iter()
                .all(|r| r.beyond_ci != Some(true) && (r.ratio - 1.0).abs() < 1e-12)
        );
        let text = show(&p, "reference.ron");
        assert!(
            text.contains("tcp unloaded (same-core, headline)"),
            "{text}"
        );
        assert!(text.contains("wasm"));
    }
}
