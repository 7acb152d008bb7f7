//! Where each workload should run on a calibrated host, and why, ranked by the solver.
//!
//! Every candidate of [`costmodel::Model::default_candidates`] (each scheme and transport,
//! inside on a dedicated core, inside multiplexed, or remote on a compute node like this host) is
//! ranked by [`solver::Candidates::rank`] under the workload's own warm-hit probability (its
//! inter-arrival distribution against a keep-alive of [`KEEP_ALIVE`]), an idle storage server and
//! one request per wake-up, scored by total CPU (storage + compute). Infeasible candidates
//! (unsupported scheme, SLO broken, a dedicated core the model refuses, a node without the free
//! CPU) are counted, not silently dropped. A remote candidate over a same-host transport
//! (`unix`, `shm`: [`costmodel::Transport::crosses_network`] false) cannot reach the data on
//! another node: [`costmodel::Model::check_reach`] refuses it before ranking, and the advice
//! lists it under [`Advice::refused`].

use std::fmt::Write as _;
use std::time::Duration;

use costmodel::{
    Conditions, Crossover, HostProfile, MinTotalCpu, Model, Nanos, NodeId, Placement,
    PlacementCost, Regime, WorkloadSet,
};
use solver::{Candidates, ClusterState, Job, RankBuffers};

use crate::error::Result;

/// Keep-alive of warm contexts assumed for the warm-hit probability.
pub const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// The best placement of each kind for one workload.
#[derive(Clone, Debug)]
pub struct Advice {
    /// The function id.
    pub function: String,
    /// Warm-hit probability used.
    pub warm_hit: f64,
    /// Cheapest candidate overall, with its cost.
    pub best: Option<(Placement, PlacementCost)>,
    /// Cheapest inside the storage server.
    pub best_inside: Option<(Placement, PlacementCost)>,
    /// Cheapest at a compute node.
    pub best_remote: Option<(Placement, PlacementCost)>,
    /// Candidates that could not be priced or broke the SLO, counted (including `refused`).
    pub infeasible: usize,
    /// Candidates refused before ranking, each with the model's reason: remote placements over
    /// a same-host transport.
    pub refused: Vec<(Placement, String)>,
    /// Records per invocation `k` of the workload.
    pub records: f64,
    /// Storage-CPU crossover `k*` between the best multiplexed inside placement and the best
    /// one-key remote one, when both exist.
    pub crossover: Option<Crossover>,
}

/// Ranks every candidate for every workload in `sets` on `host` with the solver.
///
/// # Errors
/// A validation error for the profile or a workload, or a solver error.
pub fn advise(host: &HostProfile, sets: &[(String, WorkloadSet)]) -> Result<Vec<Advice>> {
    let model = Model::from_profile(host.clone())?;
    // The storage node (node 0) holds the data; remote candidates run on a compute node (node
    // 1) of the same kind as this host.
    let storage = NodeId(0);
    let mut placements = Vec::new();
    let mut refused = Vec::new();
    for p in model.default_candidates() {
        let p = if p.regime == Regime::Remote {
            p.on(NodeId(1))
        } else {
            p
        };
        match model.check_reach(&p, storage) {
            Ok(()) => placements.push(p),
            Err(costmodel::CostError::BadPlacement { message, .. }) => refused.push((p, message)),
            Err(e) => return Err(e.into()),
        }
    }
    let candidates = Candidates::prepare(&model, &placements)?;
    let mut buf = RankBuffers::for_candidates(&candidates);
    let cores = f64::from(host.host.cores.max(1));
    let free_cores = [cores, cores];
    let mut out = Vec::new();
    for (_, set) in sets {
        for w in &set.workloads {
            let h = w
                .arrival
                .warm_hit_probability(Nanos::from_duration(KEEP_ALIVE))
                .clamp(0.0, 1.0);
            let cond = Conditions::default().with_warm_hit(h)?;
            let state = ClusterState::new(&free_cores, storage)?.with_warm_hit(h)?;
            let job = Job::from_profile(w)?;
            let ranking = candidates.rank(&job, &state, &MinTotalCpu, &mut buf)?;
            let with_cost = |r: solver::Ranked<'_>| r.cost().map(|c| (*r.placement, c));
            let mut advice = Advice {
                function: w.id.to_string(),
                warm_hit: h,
                best: ranking.best().and_then(with_cost),
                best_inside: ranking
                    .feasible()
                    .find(|r| r.placement.regime != Regime::Remote)
                    .and_then(with_cost),
                best_remote: ranking
                    .feasible()
                    .find(|r| r.placement.regime == Regime::Remote)
                    .and_then(with_cost),
                infeasible: ranking.infeasible().len() + refused.len(),
                refused: refused.clone(),
                records: w.records_per_invocation,
                crossover: None,
            };
            if let (Some((i, _)), Some((r, _))) = (&advice.best_inside, &advice.best_remote)
                && i.regime == Regime::Multiplexed
                && r.multiget.get() == 1
            {
                advice.crossover = model.crossover(w, i, r, &cond).ok();
            }
            out.push(advice);
        }
    }
    Ok(out)
}

/// The advice as text: per workload, the winner, the best of the other side, and the saving.
pub fn render(advice: &[Advice]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Where each bundled workload should run on this host (objective: total CPU = storage + \
         compute, idle storage, one request per wake-up; ranked by the solver):"
    );
    for a in advice {
        let _ = writeln!(
            out,
            "\n{} (warm-hit probability {:.2})",
            a.function, a.warm_hit
        );
        let Some((best, cost)) = &a.best else {
            let _ = writeln!(out, "  no feasible placement ({} infeasible)", a.infeasible);
            continue;
        };
        if !a.refused.is_empty() {
            let mut transports: Vec<String> = a
                .refused
                .iter()
                .map(|(p, _)| p.transport.to_string())
                .collect();
            transports.dedup();
            let _ = writeln!(
                out,
                "  ({} remote candidates refused: same-host transport {} across nodes)",
                a.refused.len(),
                transports.join(", ")
            );
        }
        let _ = writeln!(out, "  run: {best}  total cpu {}", cost.total_cpu());
        let _ = writeln!(out, "       {cost}");
        let other = if best.regime == Regime::Remote {
            a.best_inside.as_ref()
        } else {
            a.best_remote.as_ref()
        };
        if let Some((p, c)) = other {
            let _ = writeln!(out, "  vs:  {p}  total cpu {}", c.total_cpu());
            let _ = writeln!(out, "       {c}");
            let saving = c.total_cpu().get() - cost.total_cpu().get();
            let storage = c.storage_cpu.get() - cost.storage_cpu.get();
            let _ = writeln!(
                out,
                "  why: saves {} of CPU per invocation ({} {} on the storage server)",
                Nanos::new(saving),
                Nanos::new(storage.abs()),
                if storage >= 0.0 { "less" } else { "more" }
            );
        }
        match a.crossover {
            Some(Crossover::At(k)) => {
                let _ = writeln!(
                    out,
                    "       inside uses less storage CPU than remote above k* = {k:.1} records per \
                     invocation; this function reads {:.1}",
                    a.records
                );
            }
            Some(Crossover::Never) => {
                let _ = writeln!(
                    out,
                    "       inside never uses less storage CPU than remote here (a local record \
                     access costs more than fetching it)"
                );
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_workload_gets_a_placement_on_the_reference_host() {
        let host = crate::profile::reference().unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/workloads");
        let sets = WorkloadSet::load_dir(dir).unwrap();
        let advice = advise(&host, &sets).unwrap();
        assert!(!advice.is_empty());
        for a in &advice {
            assert!(a.best.is_some(), "{}", a.function);
        }
        let text = render(&advice);
        assert!(text.contains("sweep-k1"), "{text}");
        assert!(text.contains("why:"));
        assert!(advice.iter().any(|a| a.crossover.is_some()));
    }

    // The main job never advises a same-host transport for a placement across nodes: the
    // remote candidates over unix and shm are refused, listed, and never the best remote.
    #[test]
    fn no_same_host_transport_is_advised_across_nodes() {
        let host = crate::profile::reference().unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/workloads");
        let sets = WorkloadSet::load_dir(dir).unwrap();
        let advice = advise(&host, &sets).unwrap();
        let same_host = |p: &Placement| matches!(p.transport.as_str(), "unix" | "shm");
        for a in &advice {
            for (p, _) in [&a.best, &a.best_remote, &a.best_inside]
                .into_iter()
                .flatten()
            {
                assert!(
                    !(p.regime == Regime::Remote && same_host(p)),
                    "{}: advised {p}",
                    a.function
                );
            }
            assert!(!a.refused.is_empty(), "{}", a.function);
            for (p, why) in &a.refused {
                assert!(p.regime == Regime::Remote && same_host(p), "{p}");
                assert!(why.contains("same-host"), "{why}");
            }
        }
        // The network transports remain candidates.
        assert!(advice.iter().any(|a| a.best_remote.is_some()));
        let text = render(&advice);
        assert!(!text.contains("remote/native/shm@node1"), "{text}");
        assert!(text.contains("refused: same-host transport"), "{text}");
    }
}
