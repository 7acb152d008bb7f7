//! The closed loop (issue 13): five placement policies on a live storage server, pinned to one
//! core, with the client/compute node on the other; throughput, server CPU per invocation,
//! latency at 70% of saturation and convergence after each phase change, plus the oracle.
//!
//! `cargo run --release -p examples --example closed_loop -- [--quick] [--functions a,b,...]
//! [--phase-ms N] [--scheme 0|1|2] [--reps N] [--kayak-slo-us N] [--out DIR]` writes
//! `summary.csv`, `series.csv` and `throughput.svg` under `DIR` (default
//! `examples/results/closed-loop`), or under `DIR/rep1..repN` with `--reps N` above 1, and
//! `aggregate.txt` and `aggregate.csv` (mean, range and deviation over the repetitions, the
//! ratios of ours to the baselines and the oracle) under `DIR`.

use std::path::PathBuf;

use examples::closedloop::{self, aggregate, config::Config};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results/closed-loop");
    if let Some(i) = args.iter().position(|a| a == "--out") {
        match args.get(i + 1) {
            Some(d) => out = PathBuf::from(d),
            None => {
                eprintln!("closed loop: --out needs a value");
                std::process::exit(2);
            }
        }
        args.drain(i..=i + 1);
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    };
    let mut reports = Vec::new();
    let mut loads = Vec::new();
    for rep in 1..=config.reps {
        let before = loadavg();
        let report = match closedloop::run(&config, |line| eprintln!("{line}")) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let after = loadavg();
        loads.push(format!("rep {rep}: loadavg {before} -> {after}"));
        let dir = if config.reps == 1 {
            out.clone()
        } else {
            out.join(format!("rep{rep}"))
        };
        print!("{}", report.csv());
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("summary.csv"), report.csv())?;
            std::fs::write(dir.join("series.csv"), report.series_csv())?;
            report.write_svg(&dir.join("throughput.svg"))
        };
        if let Err(e) = write() {
            eprintln!("closed loop: writing {}: {e}", dir.display());
            std::process::exit(1);
        }
        eprintln!(
            "repetition {rep} of {}: host profile {}; {}; wrote {}",
            config.reps,
            report.host,
            loads[rep - 1],
            dir.display()
        );
        reports.push(report);
    }
    let text = aggregate::text(&reports, &loads.join("; "));
    let write = || -> std::io::Result<()> {
        std::fs::write(out.join("aggregate.txt"), &text)?;
        std::fs::write(out.join("aggregate.csv"), aggregate::csv(&reports))
    };
    if let Err(e) = write() {
        eprintln!("closed loop: writing {}: {e}", out.display());
        std::process::exit(1);
    }
    eprint!("{text}");
}
