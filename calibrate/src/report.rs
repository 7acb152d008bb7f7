//! Readable tables: a profile (`show`) and two profiles side by side (`diff`, in
//! `report/diff.rs`); a run's summary is [`crate::run::run_summary`]. These files read nothing
//! but `costmodel` and [`crate::noise::report`], so the fuzz crate compiles them in by path
//! (`fuzz/src/lib.rs`); the submodule is named by a path relative to this file so that it
//! resolves the same from both crates.

use std::fmt::Write as _;

use costmodel::{CoreRegime, Estimate, HostProfile, LinkCosts, Quantity, Source};

#[path = "report/diff.rs"]
pub(crate) mod compare;

pub use compare::{Coefficient, DiffRow, coefficients, diff, diff_rows};

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

/// The table-size curve on one line: per table, its size and the in-run / scattered read (the
/// probe table marked).
fn table_curve(t: &costmodel::TableAccess) -> String {
    t.points
        .iter()
        .map(|p| {
            let probe = if p.table_bytes == t.probe_table_bytes {
                " (probe table)"
            } else {
                ""
            };
            format!(
                "{:.1} MB{probe}: {:.0} / {:.0} ns",
                p.table_bytes.get() / 1e6,
                p.in_run.point.get(),
                p.scattered.point.get()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
        + " (in runs / scattered)"
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

/// The server request terms (version 2) of every transport that has them, each with its
/// interval; empty when none has.
fn server_terms(p: &HostProfile) -> String {
    let mut rows = vec![vec![
        "transport / server term".to_owned(),
        "value [95% interval]".to_owned(),
    ]];
    for (id, t) in &p.transports {
        let Some(s) = &t.server_terms else {
            continue;
        };
        let fit = match s.fit_r2 {
            Some(r2) => format!("R2 {r2:.3} over {} points", s.points),
            None => format!("{} points", s.points),
        };
        rows.push(vec![format!("{id}: {}", s.server), fit]);
        for (name, value) in [
            ("processing", est(&s.processing)),
            ("per_syscall", est(&s.per_syscall)),
            ("per_wakeup", est(&s.per_wakeup)),
            ("per_key", est(&s.per_key)),
            ("per_byte", est(&s.per_byte)),
            (
                "per_peer_wakeup",
                s.per_peer_wakeup
                    .as_ref()
                    .map_or_else(|| "- (inside per_wakeup)".to_owned(), est),
            ),
        ] {
            rows.push(vec![format!("  {name}"), value]);
        }
    }
    if rows.len() == 1 {
        return String::new();
    }
    let mut out = table(&rows);
    out.push_str(
        "server CPU per request = processing + per_syscall / requests per system call + \
         per_wakeup / requests per wake-up + per_key x keys + per_byte x value bytes + \
         per_peer_wakeup x clients woken per request; = derived (not identified by the sweep)\n\n",
    );
    out
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
        vec![
            "record read by table size".to_owned(),
            p.table_access.as_ref().map_or("-".to_owned(), table_curve),
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
    out.push_str(&server_terms(p));
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
    fn show_renders_a_profile() {
        let p = crate::profile::reference().unwrap();
        let text = show(&p, "reference.ron");
        assert!(
            text.contains("tcp unloaded (same-core, headline)"),
            "{text}"
        );
        assert!(text.contains("wasm"));
        // No transport has server terms: no table for them.
        assert!(!text.contains("server term"), "{text}");
    }

    #[test]
    fn show_prints_each_server_term_with_its_interval() {
        let p = compare::tests::with_terms(50_000.0);
        let text = show(&p, "kv.ron");
        let line = |name: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("no {name} line in {text}"))
        };
        assert!(line("kv@test: storage-server over kv").contains("R2 0.980 over 18 points"));
        assert!(
            line("per_wakeup").ends_with("50.00 us [45.00 us .. 55.00 us]"),
            "{text}"
        );
        assert!(
            line("processing").ends_with("900.0 ns [810.0 ns .. 990.0 ns]"),
            "{text}"
        );
        // Not identified: a derived point, marked as such, with no interval.
        let b = line("per_byte");
        assert!(b.ends_with("0.0000 ns/B =") && !b.contains('['), "{b}");
    }
}
