//! A small driver for instruction counts: ranks one of the bench's candidate sets `CALLS` times
//! (default 10,000) under a different utilisation each call, as `benches/solver.rs` does.
//!
//! ```text
//! cargo build --release -p benches --example rank_calls
//! valgrind --tool=callgrind target/release/examples/rank_calls CALLS [OBJECTIVE] [N] [SHAPE] [STATE]
//! ```
//! `OBJECTIVE`: `weighted` (default), `pushback`, `pushback-priced` (bytes and latency priced
//! too) or `min-total-cpu`; `N`: candidates (64);
//! `SHAPE`: `fleet` (default; 8, 64 or 512) or `distinct` (every candidate its own class);
//! `STATE`: `reuse` (default: the cluster state is built and checked once, each call sets its
//! utilisation) or `rebuild` (each call builds and checks a state over the nodes the candidates
//! name, then sets the utilisation).
//! Divide the difference between two runs (for example 10,000 and 20,000 calls) by the
//! difference in calls for the instructions per call, free of the set-up.

use std::hint::black_box;
use std::path::PathBuf;

use costmodel::{HostProfile, Model, NodeId, Placement, Regime, SchemeId, TransportId};
use solver::{Candidates, ClusterState, Job, Pushback, RankBuffers};

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u32 = args
        .next()
        .map_or(10_000, |a| a.parse().expect("calls: a count"));
    let objective = args.next().unwrap_or_else(|| "weighted".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let host = HostProfile::load(root.join("hosts/reference.ron")).expect("reference host");
    let model = Model::from_profile(host).expect("model");
    let set =
        costmodel::WorkloadSet::load(root.join("workloads/graph-lookup.ron")).expect("workload");
    let job = Job::from_profile(&set.workloads[0]).expect("job");
    let n: usize = args.next().map_or(64, |a| a.parse().expect("n: a count"));
    let shape = args.next().unwrap_or_else(|| "fleet".into());
    let placements = if shape == "distinct" {
        distinct(&model, n)
    } else {
        fleet(n)
    };
    let cands = Candidates::prepare(&model, &placements).expect("prepare");
    let mut buf = RankBuffers::for_candidates(&cands);
    let rebuild = args.next().is_some_and(|a| a == "rebuild");
    let free = vec![8.0; 1024];
    // The nodes the candidates name (for `rebuild`: a state over just those, rebuilt per call).
    let nodes = placements
        .iter()
        .map(|p| p.node.0 as usize)
        .max()
        .unwrap_or(0)
        + 1;
    let base = ClusterState::new(&free, NodeId(0)).expect("state");
    let mut sum = 0.0;
    for tick in 0..calls {
        let rho = f64::from(tick % 64) / 80.0;
        let state = if rebuild {
            ClusterState::new(black_box(&free[..nodes]), NodeId(0)).expect("state")
        } else {
            base
        }
        .with_utilisation(rho)
        .expect("rho");
        let best = match objective.as_str() {
            "pushback" => cands.rank(
                black_box(&job),
                black_box(&state),
                &Pushback::default(),
                &mut buf,
            ),
            // Every resource priced: bytes and latency too (the default prices them at zero).
            "pushback-priced" => cands.rank(
                black_box(&job),
                black_box(&state),
                &Pushback {
                    network_byte: costmodel::NanosPerByte::new(0.01),
                    latency: 0.1,
                    ..Pushback::default()
                },
                &mut buf,
            ),
            "min-total-cpu" => cands.rank(
                black_box(&job),
                black_box(&state),
                &costmodel::MinTotalCpu,
                &mut buf,
            ),
            _ => cands.rank(
                black_box(&job),
                black_box(&state),
                &costmodel::WeightedPrice::default(),
                &mut buf,
            ),
        }
        .expect("rank")
        .best()
        .map_or(0.0, |e| e.score);
        sum += black_box(best);
    }
    println!("{calls} calls, checksum {sum}");
}

/// The bench's fleet: inside the data node (multiplexed, and on a dedicated core above 8
/// candidates) under four schemes, then remote under two schemes and two transports per node.
fn fleet(n: usize) -> Vec<Placement> {
    let id = |s: &str| SchemeId::new(s).expect("scheme id");
    let tr = |s: &str| TransportId::new(s).expect("transport id");
    let mut out = Vec::new();
    let regimes: &[Regime] = if n <= 8 {
        &[Regime::Multiplexed]
    } else {
        &[Regime::Multiplexed, Regime::DedicatedCore]
    };
    for r in regimes {
        for s in ["native", "wasm", "ebpf", "process"] {
            out.push(Placement::inside(id(s), tr("tcp")).with_regime(*r));
        }
    }
    out.truncate(n);
    'nodes: for node in 1u32.. {
        for s in ["native", "wasm"] {
            for t in ["tcp", "shm"] {
                if out.len() >= n {
                    break 'nodes;
                }
                out.push(Placement::remote(id(s), tr(t)).on(NodeId(node)));
            }
        }
    }
    out
}

/// `n` candidates that all differ in more than their node (the bench's worst case).
fn distinct(model: &Model, n: usize) -> Vec<Placement> {
    let schemes: Vec<_> = model.scheme_ids().collect();
    let transports: Vec<_> = model.transport_ids().collect();
    let mut out = Vec::new();
    'outer: for batch in (1u32..).filter_map(std::num::NonZeroU32::new) {
        for r in [Regime::Multiplexed, Regime::Remote, Regime::DedicatedCore] {
            for s in &schemes {
                for t in &transports {
                    if out.len() == n {
                        break 'outer;
                    }
                    out.push(Placement::inside(*s, *t).with_regime(r).with_batch(batch));
                }
            }
        }
    }
    out
}
