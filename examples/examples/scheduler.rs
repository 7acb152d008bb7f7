//! A small scheduler loop embedding the solver: every bundled workload is placed on the
//! reference host, epoch by epoch, as the storage server fills up; each decision is printed with
//! its explanation. Then the regime advisor, batching and the three-function chain.
//!
//! Run with `cargo run -p examples --example scheduler`.

use std::error::Error;
use std::path::PathBuf;

use costmodel::{
    Arrival, Bytes, Conditions, HostProfile, Model, Nanos, NodeId, Placement, Regime, SchemeId,
    TransportId, WorkloadProfile, WorkloadSet,
};
use solver::{
    AdvisorConfig, Candidates, ChainStage, ClusterState, EdgePrice, FunctionTrack, Job, ModelChain,
    Pushback, RankBuffers, RegimeAdvisor, RegimeOptions, largest_batch, shared_slot_hits,
    solve_linear,
};

/// Node 0 is the storage server holding every function's data; nodes 1-3 are compute nodes.
const COMPUTE_NODES: u32 = 3;
/// The largest batch the scheduler considers.
const MAX_BATCH: std::num::NonZeroU32 = std::num::NonZeroU32::new(256).unwrap();

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let model = Model::from_profile(HostProfile::load(root.join("hosts/reference.ron"))?)?;
    let sets = WorkloadSet::load_dir(root.join("workloads"))?;
    let workloads: Vec<&WorkloadProfile> = sets.iter().flat_map(|(_, s)| &s.workloads).collect();

    // The candidate set, resolved once: inside the storage server (multiplexed or on a
    // dedicated core) under every scheme, or remote on any compute node under native or wasm.
    let tcp = TransportId::new("tcp")?;
    let mut placements = Vec::new();
    for s in model.scheme_ids() {
        placements.push(Placement::inside(s, tcp));
        placements.push(Placement::inside(s, tcp).with_regime(Regime::DedicatedCore));
    }
    for node in 1..=COMPUTE_NODES {
        for s in ["native", "wasm"] {
            placements.push(Placement::remote(SchemeId::new(s)?, tcp).on(NodeId(node)));
        }
    }
    let candidates = Candidates::prepare(&model, &placements)?;
    let mut buf = RankBuffers::for_candidates(&candidates);
    println!(
        "{} candidates in {} cost classes, {} workloads on host {:?}\n",
        candidates.len(),
        candidates.classes(),
        workloads.len(),
        model.host().host.name
    );

    // Temporal locality: every function shares the storage server's 4 context slots, kept
    // warm 10 ms (Che's approximation).
    let arrivals: Vec<Arrival> = workloads.iter().map(|w| w.arrival.clone()).collect();
    let mut warm = vec![0.0; workloads.len()];
    let slots = shared_slot_hits(&arrivals, 4, Nanos::new(1e7), &mut warm)?;
    println!(
        "context slots: residence {} ({}), warm-hit probability per function:",
        slots.residence,
        if slots.slot_bound {
            "slot-bound"
        } else {
            "keep-alive-bound"
        }
    );
    for (w, h) in workloads.iter().zip(&warm) {
        println!("  {:<12} {:.3}", w.id.as_str(), h);
    }

    let objective = Pushback::default();
    let mut free = vec![16.0; 1 + COMPUTE_NODES as usize];
    for (epoch, rho) in [0.1, 0.7, 0.97].into_iter().enumerate() {
        println!("\n=== epoch {epoch}: storage utilisation {rho:.2} ===");
        for (w, h) in workloads.iter().zip(&warm) {
            let job = Job::from_profile(w)?;
            let state = ClusterState::new(&free, NodeId(0))?
                .with_utilisation(rho)?
                .with_warm_hit(*h)?;
            let ranking = candidates.rank(&job, &state, &objective, &mut buf)?;
            let Some(best) = ranking.best() else {
                println!("{:<12} nothing feasible", w.id.as_str());
                continue;
            };
            println!(
                "{:<12} -> {} ({} feasible, {} infeasible)",
                w.id.as_str(),
                best.placement,
                ranking.feasible_len(),
                ranking.len() - ranking.feasible_len()
            );
            if let Some(e) = ranking.explain(0) {
                println!("  {e}");
            }
            if let Some(e) = ranking.explain(1) {
                println!("  {e}");
            }
            if let Some(first) = ranking.infeasible().next()
                && let Some(why) = first.infeasible
            {
                println!("  first infeasible: {} ({why})", first.placement);
            }
            // Account the chosen placement's load on its node for the next decisions.
            if let Some(cost) = best.cost() {
                let cpu = match best.placement.regime.side() {
                    costmodel::Side::Storage => cost.storage_cpu,
                    costmodel::Side::Compute => cost.compute_cpu,
                };
                let node = best.placement.node.0 as usize;
                free[node] = (free[node] - job.invocation().rate().busy_fraction(cpu)).max(0.0);
            }
        }
    }

    // The regime advisor, fed 10 ms windows at each function's mean rate.
    println!("\n=== regime advisor (40 windows of 10 ms at the profiled rate) ===");
    let advisor = RegimeAdvisor::new(AdvisorConfig::default(), costmodel::MinTotalCpu)?;
    let wasm = SchemeId::new("wasm")?;
    for w in &workloads {
        let job = Job::from_profile(w)?;
        let price = |r: Regime| {
            model
                .price(&Placement::inside(wasm, tcp).with_regime(r))
                .ok()
        };
        let options = RegimeOptions {
            dedicated: price(Regime::DedicatedCore),
            multiplexed: price(Regime::Multiplexed),
            remote: price(Regime::Remote),
            invocation: *job.invocation(),
            conditions: Conditions::default(),
        };
        let mut track = FunctionTrack::new(
            Regime::Multiplexed,
            profiler::RateDetector::new(profiler::CusumParams::default()),
        );
        let per_window = w.arrival.rate.get() * 0.01;
        let mut last = None;
        for _ in 0..40 {
            let advice = advisor.observe(&mut track, &options, per_window)?;
            last = Some(advice);
            if advice.switched.is_some() {
                break;
            }
        }
        if let Some(a) = last {
            println!(
                "{:<12} {:?} ({:?}; {:.0}/s, saving {:.0} ns/s over {})",
                w.id.as_str(),
                a.regime,
                a.reason,
                a.rate.get(),
                a.saving_per_s,
                a.horizon
            );
        }
    }

    // Batching for functions with an SLO.
    println!("\n=== batching (wasm inside, largest batch meeting the slo) ===");
    let inside = model.price(&Placement::inside(wasm, tcp))?;
    for w in workloads.iter().filter(|w| w.slo.is_some()) {
        let job = Job::from_profile(w)?;
        let b = largest_batch(&inside, &job, &Conditions::default(), MAX_BATCH)?;
        println!(
            "{:<12} batch {:>3}: latency {} (slo {}), storage cpu saved {}/invocation",
            w.id.as_str(),
            b.batch,
            b.cost.latency,
            w.slo.unwrap_or_default(),
            b.storage_cpu_saved
        );
    }

    // The three-function chain, placed jointly.
    println!("\n=== chain ingest -> enrich -> aggregate ===");
    let chain_set = sets
        .iter()
        .find(|(_, s)| s.workloads.iter().any(|w| !w.chain.is_empty()))
        .map(|(_, s)| s)
        .ok_or("no chain in the bundled workloads")?;
    let stages: Vec<ChainStage<'_>> = chain_set
        .workloads
        .iter()
        .map(|w| {
            Ok(ChainStage {
                job: Job::from_profile(w)?,
                candidates: &placements,
                bytes_to_next: w.chain.first().map_or(Bytes::ZERO, |e| e.bytes),
            })
        })
        .collect::<Result<_, Box<dyn Error>>>()?;
    let chain = ModelChain::build(
        &model,
        &stages,
        &objective,
        &Conditions::default(),
        EdgePrice::from_model(&model),
    )?;
    let plan = solve_linear(&chain)?;
    for (s, o) in plan.choice.iter().enumerate() {
        let fused = s > 0 && plan.fused[s - 1];
        println!(
            "  {:<10} {}{}",
            chain_set.workloads[s].id.as_str(),
            chain.placement(s, *o),
            if fused {
                "  (fused with the previous stage)"
            } else {
                ""
            }
        );
    }
    println!("  total score {:.0}", plan.total);
    Ok(())
}
