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
//! - optional [`ANN_UTILISATION`], [`ANN_WARM_HIT`], [`ANN_DRAINED`]: the storage node's
//!   utilisation, the warm-hit probability and requests drained per wake-up (decimals), and
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

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use solver::{Infeasible, Job};

use crate::engine::{Engine, Layout, ObjectiveKind, Scalars};
use crate::error::ApiError;

/// Pod annotation: the workload profile (JSON or RON).
pub const ANN_WORKLOAD: &str = "placement.neardata.io/workload";
/// Pod annotation: the id of a loaded workload.
pub const ANN_WORKLOAD_ID: &str = "placement.neardata.io/workload-id";
/// Pod annotation: the node holding the function's data.
pub const ANN_DATA_NODE: &str = "placement.neardata.io/data-node";
/// Pod annotation: the storage node's utilisation in `[0, 1)`.
pub const ANN_UTILISATION: &str = "placement.neardata.io/storage-utilisation";
/// Pod annotation: the warm-hit probability in `[0, 1]`.
pub const ANN_WARM_HIT: &str = "placement.neardata.io/warm-hit";
/// Pod annotation: requests the storage server drains per wake-up (>= 1).
pub const ANN_DRAINED: &str = "placement.neardata.io/drained-per-wakeup";
/// Pod annotation: the objective.
pub const ANN_OBJECTIVE: &str = "placement.neardata.io/objective";
/// Node label: `storage` or `compute`.
pub const LABEL_ROLE: &str = "placement.neardata.io/role";
/// Node annotation: free CPU in cores.
pub const ANN_FREE_CORES: &str = "placement.neardata.io/free-cores";

/// Highest score the extender protocol allows (`MaxExtenderPriority`).
pub const MAX_PRIORITY: i64 = 10;

// The Kubernetes objects are read with borrowed strings and only the keys the service uses:
// the rest of each object is skipped without allocating (a Node is 1-2 KB of JSON).

/// The pod annotations the service reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodAnnotations<'a> {
    /// [`ANN_WORKLOAD`].
    #[serde(borrow, default, rename = "placement.neardata.io/workload")]
    pub workload: Option<Cow<'a, str>>,
    /// [`ANN_WORKLOAD_ID`].
    #[serde(borrow, default, rename = "placement.neardata.io/workload-id")]
    pub workload_id: Option<Cow<'a, str>>,
    /// [`ANN_DATA_NODE`].
    #[serde(borrow, default, rename = "placement.neardata.io/data-node")]
    pub data_node: Option<Cow<'a, str>>,
    /// [`ANN_UTILISATION`].
    #[serde(borrow, default, rename = "placement.neardata.io/storage-utilisation")]
    pub storage_utilisation: Option<Cow<'a, str>>,
    /// [`ANN_WARM_HIT`].
    #[serde(borrow, default, rename = "placement.neardata.io/warm-hit")]
    pub warm_hit: Option<Cow<'a, str>>,
    /// [`ANN_DRAINED`].
    #[serde(borrow, default, rename = "placement.neardata.io/drained-per-wakeup")]
    pub drained_per_wakeup: Option<Cow<'a, str>>,
    /// [`ANN_OBJECTIVE`].
    #[serde(borrow, default, rename = "placement.neardata.io/objective")]
    pub objective: Option<Cow<'a, str>>,
}

/// `ObjectMeta` of a pod, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodMeta<'a> {
    /// Annotations.
    #[serde(borrow, default)]
    pub annotations: Option<PodAnnotations<'a>>,
}

/// `v1.Pod`, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod<'a> {
    /// Metadata.
    #[serde(borrow, default)]
    pub metadata: PodMeta<'a>,
}

/// The node labels the service reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeLabels<'a> {
    /// [`LABEL_ROLE`].
    #[serde(borrow, default, rename = "placement.neardata.io/role")]
    pub role: Option<Cow<'a, str>>,
}

/// The node annotations the service reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeAnnotations<'a> {
    /// [`ANN_FREE_CORES`].
    #[serde(borrow, default, rename = "placement.neardata.io/free-cores")]
    pub free_cores: Option<Cow<'a, str>>,
}

/// `ObjectMeta` of a node, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeMeta<'a> {
    /// Name.
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
    /// Labels.
    #[serde(borrow, default)]
    pub labels: Option<NodeLabels<'a>>,
    /// Annotations.
    #[serde(borrow, default)]
    pub annotations: Option<NodeAnnotations<'a>>,
}

/// `status.allocatable`, the resource read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Allocatable {
    /// CPU quantity (`4`, `3500m`).
    #[serde(default)]
    pub cpu: Option<Value>,
}

/// `v1.NodeStatus`, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeStatus {
    /// Allocatable resources.
    #[serde(default)]
    pub allocatable: Option<Allocatable>,
}

/// `v1.Node`, the fields read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Node<'a> {
    /// Metadata.
    #[serde(borrow, default)]
    pub metadata: NodeMeta<'a>,
    /// Status.
    #[serde(default)]
    pub status: NodeStatus,
}

/// `v1.NodeList` with items of type `N`.
#[derive(Debug, Deserialize, Serialize)]
pub struct NodeList<N> {
    /// The nodes.
    #[serde(default = "Vec::new")]
    pub items: Vec<N>,
}

/// `ExtenderArgs` with node items of type `N`.
#[derive(Debug, Deserialize)]
pub struct ExtenderArgs<'a, N> {
    /// The pod being scheduled.
    #[serde(borrow, default)]
    pub pod: Option<Pod<'a>>,
    /// Candidate nodes (`nodeCacheCapable: false`).
    #[serde(default = "Option::default")]
    pub nodes: Option<NodeList<N>>,
    /// Candidate node names (`nodeCacheCapable: true`).
    #[serde(borrow, default)]
    pub nodenames: Option<Vec<Cow<'a, str>>>,
}

/// `ExtenderFilterResult`.
#[derive(Debug, Default, Serialize)]
pub struct ExtenderFilterResult<'a> {
    /// Nodes that passed (when the request gave nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeList<&'a RawValue>>,
    /// Names of the nodes that passed (when the request gave names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodenames: Option<Vec<String>>,
    /// Nodes that failed and might fit after preemption, with the reason.
    #[serde(rename = "failedNodes")]
    pub failed_nodes: BTreeMap<String, String>,
    /// Nodes that failed for good, with the reason.
    #[serde(rename = "failedAndUnresolvableNodes")]
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// Error, if any (the service answers errors with HTTP 400 instead).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `HostPriority`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPriority {
    /// Node name.
    pub host: String,
    /// Score in `0..=10`.
    pub score: i64,
}

/// A node the service knows from `--nodes`, for `nodenames` requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownNode {
    /// Node name.
    pub name: String,
    /// `storage` or `compute`.
    pub role: Role,
    /// Free CPU, cores.
    pub free_cores: f64,
}

/// What a node is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs a storage server.
    Storage,
    /// Runs functions that fetch over the network.
    Compute,
}

/// One candidate node, resolved.
#[derive(Clone, Debug)]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Free CPU, cores.
    pub free_cores: f64,
}

/// Parses a quantity of CPU (`4`, `2.5`, `3500m`) into cores.
fn cpu_quantity(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.strip_suffix('m') {
            Some(milli) => milli.parse::<f64>().ok()? / 1000.0,
            None => s.parse::<f64>().ok()?,
        },
        _ => return None,
    };
    (x.is_finite() && x >= 0.0).then_some(x)
}

impl NodeView {
    /// Reads a node object (`at` is its path in the request).
    ///
    /// # Errors
    /// [`ApiError`] naming the label, annotation or field.
    pub fn from_node(n: &Node<'_>, at: &str) -> Result<Self, ApiError> {
        let name = &n.metadata.name;
        if name.is_empty() {
            return Err(ApiError::bad(format!("{at}.metadata.name"), "missing"));
        }
        let role = match n.metadata.labels.as_ref().and_then(|l| l.role.as_deref()) {
            None | Some("compute") => Role::Compute,
            Some("storage") => Role::Storage,
            Some(r) => {
                return Err(ApiError::bad(
                    format!("{at}.metadata.labels[{LABEL_ROLE}]"),
                    format!("must be storage or compute, got {r:?}"),
                ));
            }
        };
        let ann = n
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.free_cores.as_deref());
        let free_cores = match ann {
            Some(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| {
                    ApiError::bad(
                        format!("{at}.metadata.annotations[{ANN_FREE_CORES}]"),
                        format!("must be a finite number of cores >= 0, got {s:?}"),
                    )
                })?,
            None => {
                let q = n.status.allocatable.as_ref().and_then(|a| a.cpu.as_ref());
                let field = format!("{at}.status.allocatable.cpu");
                match q {
                    None => {
                        return Err(ApiError::bad(
                            field,
                            format!("missing (and no {ANN_FREE_CORES} annotation)"),
                        ));
                    }
                    Some(v) => cpu_quantity(v).ok_or_else(|| {
                        ApiError::bad(
                            field,
                            format!("must be a cpu quantity like 4 or 3500m, got {v}"),
                        )
                    })?,
                }
            }
        };
        Ok(NodeView {
            name: name.to_string(),
            role,
            free_cores,
        })
    }
}

/// The pod's reading of the annotations.
struct PodInputs {
    job: Job,
    data_node: String,
    scalars: Scalars,
    objective: ObjectiveKind,
}

thread_local! {
    /// The last annotation text parsed on this thread and its job: pods of one function carry
    /// the same profile, so a scheduler's burst of calls parses it once.
    static LAST_PROFILE: RefCell<Option<(String, Job)>> = const { RefCell::new(None) };
}

fn annotation_number(value: Option<&str>, key: &str, default: f64) -> Result<f64, ApiError> {
    match value {
        None => Ok(default),
        Some(s) => s.trim().parse::<f64>().map_err(|_| {
            ApiError::bad(
                format!("pod.metadata.annotations[{key}]"),
                format!("must be a number, got {s:?}"),
            )
        }),
    }
}

fn pod_inputs(engine: &Engine, pod: Option<&Pod<'_>>) -> Result<PodInputs, ApiError> {
    let pod = pod.ok_or_else(|| ApiError::bad("pod", "missing"))?;
    let none = PodAnnotations::default();
    let ann = pod.metadata.annotations.as_ref().unwrap_or(&none);
    let field = |k: &str| format!("pod.metadata.annotations[{k}]");
    let job = match (ann.workload.as_deref(), ann.workload_id.as_deref()) {
        (Some(text), None) => {
            let cached = LAST_PROFILE.with(|c| {
                c.borrow()
                    .as_ref()
                    .and_then(|(t, j)| (t == text).then_some(*j))
            });
            match cached {
                Some(j) => j,
                None => {
                    let (_, j) = crate::workload::from_text(text, &field(ANN_WORKLOAD))?;
                    LAST_PROFILE.with(|c| *c.borrow_mut() = Some((text.to_owned(), j)));
                    j
                }
            }
        }
        (None, Some(id)) => engine.workload(&field(ANN_WORKLOAD_ID), id)?.1,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                field(ANN_WORKLOAD),
                format!("give either {ANN_WORKLOAD} or {ANN_WORKLOAD_ID}, not both"),
            ));
        }
        (None, None) => {
            return Err(ApiError::bad(
                field(ANN_WORKLOAD),
                format!("missing: annotate the pod with {ANN_WORKLOAD} or {ANN_WORKLOAD_ID}"),
            ));
        }
    };
    let data_node = ann
        .data_node
        .as_deref()
        .ok_or_else(|| ApiError::bad(field(ANN_DATA_NODE), "missing"))?
        .to_owned();
    let d = Scalars::default();
    let scalars = Scalars {
        storage_utilisation: annotation_number(
            ann.storage_utilisation.as_deref(),
            ANN_UTILISATION,
            d.storage_utilisation,
        )?,
        warm_hit: annotation_number(ann.warm_hit.as_deref(), ANN_WARM_HIT, d.warm_hit)?,
        drained_per_wakeup: annotation_number(
            ann.drained_per_wakeup.as_deref(),
            ANN_DRAINED,
            d.drained_per_wakeup,
        )?,
    };
    let objective = match ann.objective.as_deref() {
        None => ObjectiveKind::default(),
        Some(s) => serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
            ApiError::bad(
                field(ANN_OBJECTIVE),
                format!(
                    "must be weighted, pushback, min_total_cpu, max_storage_throughput or \
                     min_latency, got {s:?}"
                ),
            )
        })?,
    };
    Ok(PodInputs {
        job,
        data_node,
        scalars,
        objective,
    })
}

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

/// Resolves `nodenames` against the nodes given at start.
///
/// # Errors
/// [`ApiError`] naming `nodenames[i]` for a name the service does not know.
pub fn views_from_names(
    names: &[Cow<'_, str>],
    known: &[KnownNode],
) -> Result<Vec<NodeView>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            known
                .iter()
                .find(|k| k.name == *name)
                .map(|k| NodeView {
                    name: k.name.clone(),
                    role: k.role,
                    free_cores: k.free_cores,
                })
                .ok_or_else(|| {
                    ApiError::bad(
                        format!("nodenames[{i}]"),
                        format!(
                            "unknown node {name:?}: the service knows {} nodes from --nodes; \
                             send full nodes (nodeCacheCapable: false) or list it there",
                            known.len()
                        ),
                    )
                })
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

    #[test]
    fn cpu_quantities_parse_in_cores() {
        assert_eq!(cpu_quantity(&Value::String("3500m".into())), Some(3.5));
        assert_eq!(cpu_quantity(&Value::String("4".into())), Some(4.0));
        assert_eq!(cpu_quantity(&Value::String("-1".into())), None);
        assert_eq!(cpu_quantity(&Value::String("lots".into())), None);
    }
}
