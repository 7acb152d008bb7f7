//! Prices every bundled workload under every placement of a host profile and prints the
//! breakdowns: the cost model alone, no solver, no measurement.
//!
//! ```text
//! cargo run -p examples --example placements [-- HOST.ron [WORKLOAD_DIR]]
//! ```

use std::process::ExitCode;

use costmodel::{
    Conditions, HostProfile, MinTotalCpu, Model, Objective, ObjectiveContext, WorkloadSet,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> costmodel::Result<()> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
    let mut args = std::env::args().skip(1);
    let host_path = args
        .next()
        .unwrap_or_else(|| format!("{root}/hosts/reference.ron"));
    let dir = args.next().unwrap_or_else(|| format!("{root}/workloads"));
    let host = HostProfile::load(&host_path)?;
    println!("host profile: {host_path} ({})", host.host.name);
    let model = Model::from_profile(host)?;
    let cond = Conditions::default();
    for (file, set) in WorkloadSet::load_dir(&dir)? {
        println!("\n== {file}: {}", set.description);
        for w in &set.workloads {
            let ctx = ObjectiveContext {
                storage_utilisation: cond.storage_utilisation(),
                slo: w.slo,
            };
            println!("\n-- {} ({})", w.id, w.description);
            let mut rows = Vec::new();
            for p in model.default_candidates() {
                match model.evaluate(w, &p, &cond) {
                    Ok(c) => rows.push((MinTotalCpu.score(&c, &ctx), p, Ok(c))),
                    Err(e) => rows.push((f64::INFINITY, p, Err(e))),
                }
            }
            rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (_, p, c) in rows {
                match c {
                    Ok(c) => println!("  {p:<32} total cpu {:>10}  {c}", c.total_cpu()),
                    Err(e) => println!("  {p:<32} refused: {e}"),
                }
            }
        }
    }
    Ok(())
}
