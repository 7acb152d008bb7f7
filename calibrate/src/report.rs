//! Readable tables: a profile (`show`) and two profiles side by side (`diff`); a run's summary is
//! [`crate::run::run_summary`]. This file reads nothing but `costmodel` and
//! [`crate::noise::report`], so the fuzz crate compiles it in by path (`fuzz/src/lib.rs`).

use std::fmt::Write as _;

use costmodel::{CoreRegime, Estimate, HostProfile, LinkCosts, Quantity, Source};

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
