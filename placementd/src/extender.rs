//! The Kubernetes scheduler-extender verbs: `POST /filter` and `POST /prioritize`.
//!
//! The JSON is the extender protocol's (`k8s.io/kube-scheduler/extender/v1`): `ExtenderArgs`
//! `{pod, nodes, nodenames}` in; `ExtenderFilterResult` `{nodes, nodenames, failedNodes,
//! failedAndUnresolvableNodes, error}` or a `HostPriorityList` `[{host, score}]` out, scores in
//! `0..=10` (`MaxExtenderPriority`). Pods and nodes are Kubernetes objects: only the fields
//! below are read and the rest is ignored (they are the API server's objects, not ours).
//!
//! # What the service reads
//!
//! Pod annotations (`metadata.annotations`):
//! - [`ANN_WORKLOAD`]: the function's workload profile, JSON (starts with `{`) or RON, the
//!   fields of one entry of a workload file; or
//! - [`ANN_WORKLOAD_ID`]: the id of a workload in the set the service loaded (`--workloads`);
//! - [`ANN_DATA_NODE`] (required): the name of the node whose storage server holds the
//!   function's records;
//! - optional [`ANN_UTILISATION`], [`ANN_WARM_HIT`], [`ANN_DRAINED`],
//!   [`ANN_REQUESTS_PER_SYSCALL`], [`ANN_PEER_WAKEUPS`]: the storage node's utilisation, the
//!   warm-hit probability, requests drained per wake-up, requests sharing a system call and
//!   clients woken per request (decimals), and
//!   [`ANN_OBJECTIVE`] (`weighted`, `pushback`, `min_total_cpu`, `max_storage_throughput`,
//!   `min_latency`).
//!
//! Nodes: the label [`LABEL_ROLE`] (`storage` or `compute`; absent = `compute`), and the free
//! CPU from the annotation [`ANN_FREE_CORES`] (decimal cores, kept current by a node agent) or,
//! without it, `status.allocatable.cpu` (a quantity: `4`, `3500m`). With `nodenames` only
//! (`nodeCacheCapable: true`), each name is looked up in the node list given at start
//! (`--nodes`).
//!
//! # From nodes to placements
//!
//! The data node runs the storage-side placements (inside the storage server, multiplexed or on
//! a dedicated core); every `compute` node runs the remote placements; a `storage` node that does
//! not hold the data runs nothing for this pod. A node's value is the best score of the
//! placements it can run (see [`crate::engine`] for the layout). `prioritize` gives each node
//! `round(10 x best / node's best)`: the cheapest node 10, a node twice as costly 5, a node with
//! no feasible placement 0. `filter` keeps the nodes with a feasible placement; the others go
//! to `failedNodes` when lacking free CPU (preemption may help), else to
//! `failedAndUnresolvableNodes`, each with the solver's reason.

use solver::Infeasible;

use crate::engine::{Engine, Layout};
use crate::error::ApiError;
use crate::pod_inputs::pod_inputs;

pub use crate::kube_objects::{
    ANN_DATA_NODE, ANN_DRAINED, ANN_FREE_CORES, ANN_OBJECTIVE, ANN_PEER_WAKEUPS,
    ANN_REQUESTS_PER_SYSCALL, ANN_UTILISATION, ANN_WARM_HIT, ANN_WORKLOAD, ANN_WORKLOAD_ID,
    Allocatable, ExtenderArgs, ExtenderFilterResult, HostPriority, LABEL_ROLE, MAX_PRIORITY, Node,
    NodeAnnotations, NodeLabels, NodeList, NodeMeta, NodeStatus, Pod, PodAnnotations, PodMeta,
};
pub use crate::node_view::{KnownNode, NodeView, Role, views_from_names};

/// Per request node: its best feasible score, or why it has none.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Its best feasible placement's score.
    Score(f64),
    /// No feasible placement; `true` when more free CPU would help.
    Fails(String, bool),
}

/// Ranks the pod over `nodes` and gives each node its verdict, in request order.
///
/// # Errors
/// [`ApiError`] naming the annotation or field at fault.
pub fn verdicts(
    engine: &Engine,
    pod: Option<&Pod<'_>>,
    nodes: &[NodeView],
) -> Result<Vec<Verdict>, ApiError> {
    let inputs = pod_inputs(engine, pod)?;
    // Canonical slot per request node: 0 = data node, 1.. = compute nodes, None = runs nothing.
    let mut slots = Vec::with_capacity(nodes.len());
    let mut compute_free = Vec::with_capacity(nodes.len());
    let mut data_free = None;
    for n in nodes {
        if n.name == inputs.data_node {
            data_free = Some(n.free_cores);
            slots.push(Some(0usize));
        } else if n.role == Role::Compute {
            compute_free.push(n.free_cores);
            slots.push(Some(compute_free.len()));
        } else {
            slots.push(None);
        }
    }
    let elsewhere = |n: &NodeView| {
        Verdict::Fails(
            format!(
                "storage node {} does not hold this function's data (on {})",
                n.name, inputs.data_node
            ),
            false,
        )
    };
    if data_free.is_none() && compute_free.is_empty() {
        return Ok(nodes.iter().map(elsewhere).collect());
    }
    let layout = Layout {
        data_free,
        compute_free: &compute_free,
    };
    let n_slots = compute_free.len() + 1;
    let (best, why) = engine.rank(
        &inputs.job,
        &layout,
        &inputs.scalars,
        inputs.objective,
        |r| {
            let mut best: Vec<Option<f64>> = vec![None; n_slots];
            let mut why: Vec<Option<(Infeasible, bool)>> = vec![None; n_slots];
            // Slots the layout has: 0 only with the data node, 1.. for the compute nodes.
            let mut missing = n_slots - usize::from(data_free.is_none());
            for e in r.feasible() {
                let s = &mut best[e.placement.node.0 as usize];
                if s.is_none() {
                    *s = Some(e.score);
                    missing -= 1;
                    if missing == 0 {
                        break;
                    }
                }
            }
            if missing > 0 {
                for e in r.infeasible() {
                    let slot = e.placement.node.0 as usize;
                    if best[slot].is_some() {
                        continue;
                    }
                    if let Some(reason) = e.infeasible {
                        let full = matches!(reason, Infeasible::NodeFull { .. });
                        let w = &mut why[slot];
                        if w.is_none() || (full && !w.is_some_and(|x| x.1)) {
                            *w = Some((reason, full));
                        }
                    }
                }
            }
            (best, why)
        },
    )?;
    let out = slots
        .iter()
        .zip(nodes)
        .map(|(slot, n)| match slot {
            None => elsewhere(n),
            Some(s) => match (best[*s], why[*s]) {
                (Some(score), _) => Verdict::Score(score),
                (None, Some((reason, full))) => {
                    Verdict::Fails(format!("{}: {reason}", n.name), full)
                }
                (None, None) => {
                    Verdict::Fails(format!("{}: no candidate placement", n.name), false)
                }
            },
        })
        .collect();
    Ok(out)
}

/// Maps verdicts to extender priorities: `round(10 x best / score)`, 0 for failing nodes.
pub fn priorities(nodes: &[NodeView], verdicts: &[Verdict]) -> Vec<HostPriority> {
    let best = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Score(s) => Some(*s),
            Verdict::Fails(..) => None,
        })
        .fold(f64::INFINITY, f64::min);
    nodes
        .iter()
        .zip(verdicts)
        .map(|(n, v)| HostPriority {
            host: n.name.clone(),
            score: match v {
                Verdict::Fails(..) => 0,
                Verdict::Score(s) if *s <= best || *s <= 0.0 => MAX_PRIORITY,
                Verdict::Score(s) => {
                    let r = (MAX_PRIORITY as f64 * best.max(0.0) / s).round();
                    // The largest priority not above r: r is in [0, 10] (best <= s, both
                    // finite and positive here), and this needs no float-to-int cast.
                    (0..=MAX_PRIORITY)
                        .rev()
                        .find(|&p| p as f64 <= r)
                        .unwrap_or(0)
                }
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, free: f64) -> NodeView {
        NodeView {
            name: name.into(),
            role: Role::Compute,
            free_cores: free,
        }
    }

    #[test]
    fn the_cheapest_node_scores_ten_and_a_twice_as_costly_one_five() {
        let nodes = [view("a", 1.0), view("b", 1.0), view("c", 1.0)];
        let v = [
            Verdict::Score(100.0),
            Verdict::Score(200.0),
            Verdict::Fails("c: full".into(), true),
        ];
        let p = priorities(&nodes, &v);
        assert_eq!(
            p.iter().map(|h| h.score).collect::<Vec<_>>(),
            vec![10, 5, 0]
        );
    }
}
