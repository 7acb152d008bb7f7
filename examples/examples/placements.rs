//! Ranks every placement of a host profile for every bundled workload by total CPU
//! (`MinTotalCpu`) through the solver and prints each breakdown, the refused placements last with
//! the reason (a scheme the host lacks, a dedicated core that cannot keep up, an SLO the latency
//! breaks): the cost model and the solver alone, no measurement.
//!
//! ```text
//! cargo run -p examples --example placements [-- HOST.ron [WORKLOAD_DIR]]
//! ```

use std::error::Error;
use std::process::ExitCode;

use costmodel::{HostProfile, MinTotalCpu, Model, NodeId, WorkloadSet};
use solver::{Candidates, ClusterState, Job, RankBuffers};

/// Free cores of node 0, the only node the default candidates name: as many as a finite number
/// can say, so no placement is refused for room and the ranking shows the model's prices and
/// refusals only (capacity is the scheduler example's subject, not this one's).
const FREE_CORES: [f64; 1] = [f64::MAX];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
    let mut args = std::env::args().skip(1);
    let host_path = args
        .next()
        .unwrap_or_else(|| format!("{root}/hosts/reference.ron"));
    let dir = args.next().unwrap_or_else(|| format!("{root}/workloads"));
    let host = HostProfile::load(&host_path)?;
    println!("host profile: {host_path} ({})", host.host.name);
    let model = Model::from_profile(host)?;
    let candidates = Candidates::prepare(&model, &model.default_candidates())?;
    let mut buf = RankBuffers::for_candidates(&candidates);
    // The data on node 0; idle storage, warm contexts, one request per wake-up.
    let state = ClusterState::new(&FREE_CORES, NodeId(0))?;
    for (file, set) in WorkloadSet::load_dir(&dir)? {
        println!("\n== {file}: {}", set.description);
        for w in &set.workloads {
            println!("\n-- {} ({})", w.id, w.description);
            let job = Job::from_profile(w)?;
            // Feasible placements by score (ties by id), then the refused ones by id.
            let ranking = candidates.rank(&job, &state, &MinTotalCpu, &mut buf)?;
            for r in ranking.iter() {
                let p = r.placement.to_string();
                match (r.infeasible, r.cost()) {
                    (None, Some(c)) => println!("  {p:<32} total cpu {:>10}  {c}", c.total_cpu()),
                    // Priced but refused (an unsupported scheme, a broken SLO): its breakdown still shows.
                    (Some(why), Some(c)) => {
                        println!("  {p:<32} refused: {why}; total cpu {}  {c}", c.total_cpu())
                    }
                    (Some(why), None) => println!("  {p:<32} refused: {why}"),
                    (None, None) => println!("  {p:<32} feasible but not priced"),
                }
            }
        }
    }
    Ok(())
}
