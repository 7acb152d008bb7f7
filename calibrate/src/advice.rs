//! Where each workload should run on a calibrated host, and why, from the costmodel equations.
//!
//! Every candidate of [`costmodel::Model::default_candidates`] (each supported scheme and
//! transport, inside on a dedicated core, inside multiplexed, or remote) is priced with
//! the version-1 equations under the workload's own warm-hit probability (its inter-arrival
//! distribution against a keep-alive of [`KEEP_ALIVE`]), an idle storage server and one request
//! per wake-up, and scored by total CPU (storage + compute). The solver crate will refine this
//! (batching, multi-get, chains); the breakdowns already say which terms decide.

use std::fmt::Write as _;
use std::time::Duration;

use costmodel::{
    Conditions, Crossover, HostProfile, MinTotalCpu, Model, Nanos, Objective, ObjectiveContext,
    Placement, PlacementCost, Regime, WorkloadSet,
};

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
    /// Candidates that could not be priced or broke the SLO, counted.
    pub infeasible: usize,
    /// Records per invocation `k` of the workload.
    pub records: f64,
    /// Storage-CPU crossover `k*` between the best multiplexed inside placement and the best
    /// one-key remote one, when both exist.
    pub crossover: Option<Crossover>,
}

/// Prices every candidate for every workload in `sets` on `host`.
///
/// # Errors
/// A validation error for the profile or a workload.
pub fn advise(host: &HostProfile, sets: &[(String, WorkloadSet)]) -> Result<Vec<Advice>> {
    let model = Model::from_profile(host.clone())?;
    let objective = MinTotalCpu;
    let candidates: Vec<Placement> = model
        .default_candidates()
        .into_iter()
        .filter(|p| {
            model
                .scheme(p.scheme)
                .is_ok_and(|s| s.costs.support.is_supported())
        })
        .collect();
    let mut out = Vec::new();
    for (_, set) in sets {
        for w in &set.workloads {
            let h = w
                .arrival
                .warm_hit_probability(Nanos::from_duration(KEEP_ALIVE))
                .clamp(0.0, 1.0);
            let cond = Conditions::default().with_warm_hit(h)?;
            let ctx = ObjectiveContext {
                storage_utilisation: 0.0,
                slo: w.slo,
            };
            let mut advice = Advice {
                function: w.id.to_string(),
                warm_hit: h,
                best: None,
                best_inside: None,
                best_remote: None,
                infeasible: 0,
                records: w.records_per_invocation,
                crossover: None,
            };
            for p in &candidates {
                let Ok(cost) = model.evaluate(w, p, &cond) else {
                    advice.infeasible += 1;
                    continue;
                };
                if objective.feasible(&cost, &ctx).is_err() {
                    advice.infeasible += 1;
                    continue;
                }
                let score = objective.score(&cost, &ctx);
                let better = |slot: &Option<(Placement, PlacementCost)>| {
                    slot.as_ref().is_none_or(|(bp, bc)| {
                        let s = objective.score(bc, &ctx);
                        score < s || (score == s && p < bp)
                    })
                };
                if better(&advice.best) {
                    advice.best = Some((*p, cost));
                }
                let slot = if p.regime == Regime::Remote {
                    &mut advice.best_remote
                } else {
                    &mut advice.best_inside
                };
                if better(slot) {
                    *slot = Some((*p, cost));
                }
            }
            if let (Some((i, _)), Some((r, _))) = (&advice.best_inside, &advice.best_remote)
                && i.regime == Regime::Multiplexed
                && r.multiget == 1
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
         compute, idle storage, one request per wake-up; costmodel v1 equations):"
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
}
