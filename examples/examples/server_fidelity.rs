//! Does the model transfer to servers we did not write? Calibrates a Redis and a memcached it
//! starts (pinned to one core) with `calibrate server`, measures their CPU per invocation by
//! their own schedstat under `redis-benchmark` and a load generator pinned to another core, and
//! compares with the model's prediction. Writes `fidelity.csv` and `summary.txt`.
//!
//! ```text
//! cargo run --release -p examples --example server_fidelity [-- --quick] [--out DIR]
//! ```
//!
//! Without `redis-server`, `redis-benchmark` or `memcached` it prints why and exits 0.

use std::path::PathBuf;

use examples::fidelity::{self, Plan};

fn main() {
    if let Err(e) = run() {
        eprintln!("server_fidelity: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut quick = false;
    let mut out = PathBuf::from("examples/results/server-fidelity");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            other => return Err(format!("unknown argument {other:?} (--quick, --out DIR)")),
        }
    }
    let plan = if quick { Plan::quick() } else { Plan::full() };
    let t0 = std::time::Instant::now();
    let mut progress = |m: &str| eprintln!("{:6.1}s {m}", t0.elapsed().as_secs_f64());
    if let Some(summary) = fidelity::run_all(&plan, &out, &mut progress)? {
        print!("{summary}");
    }
    Ok(())
}
