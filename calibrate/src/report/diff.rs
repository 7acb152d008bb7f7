//! Two profiles side by side (`calibrate diff`): every coefficient flattened to a dotted path,
//! compared with the beyond-the-intervals rule of [`crate::noise::report::beyond_rule`].
//! Compiled in by path from `report.rs` (see there).

use std::fmt::Write as _;

use costmodel::{Estimate, HostProfile, LinkCosts, Quantity};

use super::table;

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
        if let Some(s) = &t.server_terms {
            let b = format!("transports.{id}.server_terms");
            coef(&mut out, format!("{b}.processing"), &s.processing);
            coef(&mut out, format!("{b}.per_syscall"), &s.per_syscall);
            coef(&mut out, format!("{b}.per_wakeup"), &s.per_wakeup);
            coef(&mut out, format!("{b}.per_key"), &s.per_key);
            coef(&mut out, format!("{b}.per_byte"), &s.per_byte);
            if let Some(v) = &s.per_peer_wakeup {
                coef(&mut out, format!("{b}.per_peer_wakeup"), v);
            }
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

/// A number with precision to suit its size (also `calibrate server`'s tables).
pub(crate) fn number(v: f64) -> String {
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
pub(super) mod tests {
    use super::*;
    use costmodel::{Nanos, NanosPerByte, ServerRequestTerms, TransportId};

    /// The reference profile with a `kv@test` transport carrying server terms, `per_wakeup` at
    /// `wakeup` ns (measured, +-10%), `per_byte` not identified (derived 0).
    pub(in crate::report) fn with_terms(wakeup: f64) -> HostProfile {
        let mut p = crate::profile::reference().unwrap();
        let m = |v: f64| {
            Estimate::measured(
                Nanos::new(v),
                Nanos::new(v * 0.9),
                Nanos::new(v * 1.1),
                0.95,
                10,
                "test",
            )
        };
        let mut t = p.transports.values().next().unwrap().clone();
        t.server_terms = Some(ServerRequestTerms {
            server: "storage-server over kv".to_owned(),
            processing: m(900.0),
            per_syscall: m(13_000.0),
            per_wakeup: m(wakeup),
            per_peer_wakeup: None,
            per_key: m(300.0),
            per_byte: Estimate::derived(NanosPerByte::new(0.0), "not identified"),
            fit_r2: Some(0.98),
            points: 18,
        });
        p.transports.insert(TransportId::new("kv@test").unwrap(), t);
        p
    }

    #[test]
    fn a_profile_diffed_with_itself_has_no_differences() {
        let p = with_terms(50_000.0);
        let rows = diff_rows(&p, &p);
        assert!(rows.iter().any(|r| r.path.contains("server_terms")));
        assert!(
            rows.iter()
                .all(|r| r.beyond_ci != Some(true) && (r.ratio - 1.0).abs() < 1e-12)
        );
    }

    #[test]
    fn server_terms_are_diffed_side_by_side_with_the_beyond_mark() {
        let (a, b) = (with_terms(50_000.0), with_terms(100_000.0));
        let rows = diff_rows(&a, &b);
        let row = |name: &str| {
            rows.iter()
                .find(|r| r.path == format!("transports.kv@test.server_terms.{name}"))
                .unwrap_or_else(|| panic!("no {name} row in {rows:?}"))
        };
        let w = row("per_wakeup");
        assert_eq!((w.a, w.b, w.beyond_ci), (50_000.0, 100_000.0, Some(true)));
        assert!((w.ratio - 2.0).abs() < 1e-12);
        assert_eq!(row("processing").beyond_ci, Some(false));
        // Not identified: a derived point with no interval is not compared.
        assert_eq!(row("per_byte").beyond_ci, None);
        let text = diff(&a, &b, "a.ron", "b.ron");
        let line = text
            .lines()
            .find(|l| l.starts_with("transports.kv@test.server_terms.per_wakeup"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains("50000") && line.contains("100000") && line.ends_with("yes"),
            "{line}"
        );
        // Terms only one profile has are listed as such.
        let plain = crate::profile::reference().unwrap();
        let text = diff(&plain, &a, "plain.ron", "a.ron");
        assert!(
            text.lines().any(|l| l.starts_with("only in B:")
                && l.contains("transports.kv@test.server_terms.per_wakeup")),
            "{text}"
        );
    }
}
