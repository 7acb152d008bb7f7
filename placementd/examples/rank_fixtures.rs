//! The Rust side of the Python package's equality test: ranks every bundled workload on every
//! bundled host with the solver directly (default candidates, one node with 16 free cores, the
//! default weighted price, idle conditions) and prints the rankings as JSON.
//!
//! ```text
//! cargo run -p placementd --example rank_fixtures [-- FIXTURES_DIR]
//! ```

use std::process::ExitCode;

use costmodel::{HostProfile, Model, NodeId, WeightedPrice, WorkloadSet};
use serde_json::{Value, json};
use solver::{Candidates, ClusterState, Job, RankBuffers};

fn main() -> ExitCode {
    match run() {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rank_fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Value, Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures").to_owned());
    let mut hosts: Vec<_> = std::fs::read_dir(format!("{root}/hosts"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    hosts.sort();
    let sets = WorkloadSet::load_dir(format!("{root}/workloads"))?;
    let free = [16.0];
    let state = ClusterState::new(&free, NodeId(0))?;
    let mut out = Vec::new();
    for path in hosts {
        let model = Model::from_profile(HostProfile::load(&path)?)?;
        let cands = Candidates::prepare(&model, &model.default_candidates())?;
        let mut buf = RankBuffers::for_candidates(&cands);
        for (file, set) in &sets {
            for w in &set.workloads {
                let job = Job::from_profile(w)?;
                let r = cands.rank(&job, &state, &WeightedPrice::default(), &mut buf)?;
                let list: Vec<Value> = r
                    .iter()
                    .map(|e| {
                        json!({
                            "placement": e.placement.to_string(),
                            "score": e.is_feasible().then_some(e.score),
                            "infeasible": e.infeasible.map(|x| x.to_string()),
                        })
                    })
                    .collect();
                out.push(json!({
                    "host": path.file_name().map(|f| f.to_string_lossy().into_owned()),
                    "file": file,
                    "workload": w.id.as_str(),
                    "ranking": list,
                }));
            }
        }
    }
    Ok(Value::Array(out))
}
