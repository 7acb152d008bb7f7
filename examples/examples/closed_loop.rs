//! The closed loop (issue 13): five placement policies on a live storage server, pinned to one
//! core, with the client/compute node on the other; throughput, server CPU per invocation,
//! latency at 70% of saturation and convergence after each phase change, plus the oracle.
//!
//! `cargo run --release -p examples --example closed_loop -- [--quick] [--functions a,b,...]
//! [--phase-ms N] [--scheme 0|1|2] [--out DIR]` writes `summary.csv`, `series.csv` and
//! `throughput.svg` under `DIR` (default `examples/results/closed-loop`).

use std::path::PathBuf;

use examples::closedloop::{self, config::Config};

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
    let report = match closedloop::run(&config, |line| eprintln!("{line}")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    print!("{}", report.csv());
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("summary.csv"), report.csv())?;
        std::fs::write(out.join("series.csv"), report.series_csv())?;
        report.write_svg(&out.join("throughput.svg"))
    };
    if let Err(e) = write() {
        eprintln!("closed loop: writing {}: {e}", out.display());
        std::process::exit(1);
    }
    eprintln!("host profile {}; wrote {}", report.host, out.display());
}
