//! The run's own summary, printed after a calibration run.

use std::fmt::Write as _;

use crate::report::table;
use crate::run::RunReport;

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
