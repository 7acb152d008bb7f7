//! `POST /v1/rank` and `POST /v1/explain`: the service's own JSON API.
//!
//! Request (`RankRequest`):
//!
//! ```json
//! {"workload_id": "graph-4hop",
//!  "nodes": [{"name": "storage-0", "free_cores": 2.0}, {"name": "compute-1", "free_cores": 8}],
//!  "data_node": "storage-0",
//!  "storage_utilisation": 0.3, "warm_hit": 1.0, "drained_per_wakeup": 1.0,
//!  "requests_per_syscall": 1.0, "peer_wakeups_per_request": 1.0,
//!  "objective": "weighted", "limit": 5}
//! ```
//!
//! Exactly one of `workload` (a workload profile as JSON, the fields of the RON files) and
//! `workload_id` (an id in the workload set the service loaded) is given. `data_node` names the
//! node holding the function's records: storage-side placements run there, every other node of
//! `nodes` is a compute node for remote placements. Without `nodes`, the cluster is one storage
//! node `storage` holding the data and one compute node `compute`, both with unbounded free
//! cores. The scalars default to the solver's idle view (0, 1, 1, 1, and one client woken per
//! server wake-up), the objective to `weighted`.

use std::fmt::Write as _;

use costmodel::{Axis, NodeId, PlacementCost, Term};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use solver::{Job, Ranked, Ranking};

use crate::engine::{Engine, Layout, ObjectiveKind, Scalars};
use crate::error::ApiError;

/// Free cores assumed for the default nodes: far more than any placement needs.
const UNBOUNDED_CORES: f64 = 1e9;

/// One node of a `/v1/rank` request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Its name.
    pub name: String,
    /// Free CPU, in cores.
    pub free_cores: f64,
}

/// The body of `POST /v1/rank` and `POST /v1/explain`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankRequest {
    /// The workload profile, as JSON.
    #[serde(default)]
    pub workload: Option<Value>,
    /// Or the id of a loaded workload.
    #[serde(default)]
    pub workload_id: Option<String>,
    /// The candidate nodes.
    #[serde(default)]
    pub nodes: Option<Vec<NodeSpec>>,
    /// The node holding the data (required with `nodes`).
    #[serde(default)]
    pub data_node: Option<String>,
    /// Storage utilisation in `[0, 1)`.
    #[serde(default)]
    pub storage_utilisation: Option<f64>,
    /// Warm-hit probability in `[0, 1]`.
    #[serde(default)]
    pub warm_hit: Option<f64>,
    /// Requests drained per wake-up, >= 1.
    #[serde(default)]
    pub drained_per_wakeup: Option<f64>,
    /// Requests sharing one read and one write at the storage server, >= 1 (pipelining depth;
    /// read by transports with a server's own request terms).
    #[serde(default)]
    pub requests_per_syscall: Option<f64>,
    /// Clients the server's replies wake per request, >= 0 (read by server terms with
    /// `per_peer_wakeup`; by default one per server wake-up).
    #[serde(default)]
    pub peer_wakeups_per_request: Option<f64>,
    /// The objective.
    #[serde(default)]
    pub objective: ObjectiveKind,
    /// Return only the best `limit` candidates.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A cost breakdown in JSON: totals, and every term that is not zero.
#[derive(Clone, Debug, Serialize)]
pub struct CostJson {
    /// Storage-server CPU per invocation, ns.
    pub storage_cpu_ns: f64,
    /// Compute-node CPU per invocation, ns.
    pub compute_cpu_ns: f64,
    /// Both, ns.
    pub total_cpu_ns: f64,
    /// Expected latency, ns.
    pub latency_ns: f64,
    /// Bytes over the network per invocation.
    pub network_bytes: f64,
    /// Each non-zero term.
    pub terms: Vec<TermJson>,
}

/// One named term of a cost.
#[derive(Clone, Debug, Serialize)]
pub struct TermJson {
    /// The term's name (`server per-request`).
    pub term: &'static str,
    /// The axis it is charged to: `storage_cpu`, `compute_cpu` or `latency`.
    pub axis: &'static str,
    /// Its value, ns.
    pub ns: f64,
}

fn axis_name(a: Axis) -> &'static str {
    match a {
        Axis::StorageCpu => "storage_cpu",
        Axis::ComputeCpu => "compute_cpu",
        Axis::Latency => "latency",
    }
}

impl From<&PlacementCost> for CostJson {
    fn from(c: &PlacementCost) -> Self {
        CostJson {
            storage_cpu_ns: c.storage_cpu.get(),
            compute_cpu_ns: c.compute_cpu.get(),
            total_cpu_ns: c.total_cpu().get(),
            latency_ns: c.latency.get(),
            network_bytes: c.network_bytes.get(),
            terms: c
                .terms
                .iter()
                .filter(|(_, v)| v.get() != 0.0)
                .map(|(t, v)| TermJson {
                    term: t.name(),
                    axis: axis_name(c.terms.axis_of(t)),
                    ns: v.get(),
                })
                .collect(),
        }
    }
}

/// One ranked candidate in JSON.
#[derive(Clone, Debug, Serialize)]
pub struct RankedJson {
    /// 1 = best.
    pub rank: usize,
    /// `regime/scheme/transport[/mgetM][/batchB]@node`.
    pub placement: String,
    /// `dedicated`, `multiplexed` or `remote`.
    pub regime: &'static str,
    /// Isolation scheme id.
    pub scheme: String,
    /// Transport id.
    pub transport: String,
    /// The node's name.
    pub node: String,
    /// The objective's score (lower is better); `null` when infeasible.
    pub score: Option<f64>,
    /// Why it cannot be used, or `null`.
    pub infeasible: Option<String>,
    /// The cost breakdown, when priced.
    pub cost: Option<CostJson>,
    /// `/v1/explain` only: the terms that put it behind the winner, `[name, ns]` (positive:
    /// this candidate pays more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_winner: Option<Vec<(&'static str, f64)>>,
    /// `/v1/explain` only: the explanation as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// The answer of `/v1/rank` and `/v1/explain`.
#[derive(Clone, Debug, Serialize)]
pub struct RankResponse {
    /// The host profile's name.
    pub host: String,
    /// Which profile upload ranked it (0 = the one loaded at start).
    pub generation: u64,
    /// The workload's id.
    pub workload: String,
    /// The objective.
    pub objective: ObjectiveKind,
    /// Feasible candidates.
    pub feasible: usize,
    /// Candidates, best first, infeasible ones last.
    pub ranking: Vec<RankedJson>,
}

/// A request checked and mapped onto the engine's layout.
struct Prepared {
    workload: String,
    job: Job,
    names: Vec<String>,
    /// Name of the canonical slot `i` (slot 0 = data node).
    data_free: Option<f64>,
    compute_free: Vec<f64>,
    scalars: Scalars,
}

fn finite_in(field: &str, v: f64, lo: f64, hi: f64, hi_open: bool) -> Result<f64, ApiError> {
    let ok = v.is_finite() && v >= lo && if hi_open { v < hi } else { v <= hi };
    if ok {
        Ok(v)
    } else {
        let close = if hi_open { ")" } else { "]" };
        Err(ApiError::bad(
            field,
            format!("must be in [{lo}, {hi}{close}, got {v}"),
        ))
    }
}

fn prepare(engine: &Engine, req: &RankRequest) -> Result<Prepared, ApiError> {
    let (workload, job) = match (&req.workload, &req.workload_id) {
        (Some(v), None) => {
            let (w, j) = crate::workload::from_json_value(v, "workload")?;
            (w.id.to_string(), j)
        }
        (None, Some(id)) => {
            let (w, j) = engine.workload("workload_id", id)?;
            (w.id.to_string(), *j)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "workload",
                "give either workload or workload_id, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad(
                "workload",
                "missing: give workload (a profile) or workload_id",
            ));
        }
    };
    let default_nodes;
    let (nodes, data_node) = match (&req.nodes, &req.data_node) {
        (Some(n), Some(d)) => (n.as_slice(), d.as_str()),
        (Some(_), None) => return Err(ApiError::bad("data_node", "missing (required with nodes)")),
        (None, d) => {
            default_nodes = [
                NodeSpec {
                    name: "storage".into(),
                    free_cores: UNBOUNDED_CORES,
                },
                NodeSpec {
                    name: "compute".into(),
                    free_cores: UNBOUNDED_CORES,
                },
            ];
            (&default_nodes[..], d.as_deref().unwrap_or("storage"))
        }
    };
    let mut names = vec![String::new()];
    let mut data_free = None;
    let mut compute_free = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let free = finite_in(
            &format!("nodes[{i}].free_cores"),
            n.free_cores,
            0.0,
            f64::MAX,
            false,
        )?;
        if nodes[..i].iter().any(|o| o.name == n.name) {
            return Err(ApiError::bad(
                format!("nodes[{i}].name"),
                format!("node {:?} listed twice", n.name),
            ));
        }
        if n.name == data_node {
            data_free = Some(free);
            names[0].clone_from(&n.name);
        } else {
            compute_free.push(free);
            names.push(n.name.clone());
        }
    }
    if data_free.is_none() {
        let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(ApiError::bad(
            "data_node",
            format!("unknown node {data_node:?}; nodes: [{}]", known.join(", ")),
        ));
    }
    let d = Scalars::default();
    let scalars = Scalars {
        storage_utilisation: finite_in(
            "storage_utilisation",
            req.storage_utilisation.unwrap_or(d.storage_utilisation),
            0.0,
            1.0,
            true,
        )?,
        warm_hit: finite_in(
            "warm_hit",
            req.warm_hit.unwrap_or(d.warm_hit),
            0.0,
            1.0,
            false,
        )?,
        drained_per_wakeup: finite_in(
            "drained_per_wakeup",
            req.drained_per_wakeup.unwrap_or(d.drained_per_wakeup),
            1.0,
            f64::MAX,
            false,
        )?,
        requests_per_syscall: finite_in(
            "requests_per_syscall",
            req.requests_per_syscall.unwrap_or(d.requests_per_syscall),
            1.0,
            f64::MAX,
            false,
        )?,
        peer_wakeups_per_request: req
            .peer_wakeups_per_request
            .map(|n| finite_in("peer_wakeups_per_request", n, 0.0, f64::MAX, false))
            .transpose()?,
    };
    Ok(Prepared {
        workload,
        job,
        names,
        data_free,
        compute_free,
        scalars,
    })
}

/// `regime/scheme/transport[/mgetM][/batchB]@name`.
pub fn label(r: &Ranked<'_>, names: &[String]) -> String {
    let node = names
        .get(r.placement.node.0 as usize)
        .map_or("?", String::as_str);
    format!("{}@{node}", r.placement.on(NodeId(0)))
}

/// The explanation text of `entry` at `rank` (0-based), against `winner`.
pub fn explanation(
    rank: usize,
    entry: &Ranked<'_>,
    winner: Option<&Ranked<'_>>,
    names: &[String],
) -> String {
    let mut s = format!("#{} {}", rank + 1, label(entry, names));
    match &entry.infeasible {
        Some(why) => {
            let _ = write!(s, ": infeasible, {why}");
        }
        None => {
            let _ = write!(s, ": score {:.1}", entry.score);
        }
    }
    if let Some(cost) = entry.cost() {
        let _ = write!(s, "\n    {cost}");
    }
    if let Some(w) = winner {
        let mut first = true;
        for (t, d) in entry.against(w).into_iter().flatten() {
            s.push_str(if first { "\n    vs winner: " } else { ", " });
            first = false;
            let sign = if d.get() >= 0.0 { "+" } else { "-" };
            let _ = write!(
                s,
                "{} {sign}{}",
                t.name(),
                costmodel::Nanos::new(d.get().abs())
            );
        }
    }
    s
}

fn entry_json(
    rank: usize,
    r: &Ranked<'_>,
    winner: Option<&Ranked<'_>>,
    names: &[String],
    explain: bool,
) -> RankedJson {
    let cost = r.cost();
    RankedJson {
        rank: rank + 1,
        placement: label(r, names),
        regime: r.placement.regime.name(),
        scheme: r.placement.scheme.to_string(),
        transport: r.placement.transport.to_string(),
        node: names
            .get(r.placement.node.0 as usize)
            .cloned()
            .unwrap_or_default(),
        score: r.is_feasible().then_some(r.score),
        infeasible: r.infeasible.map(|i| i.to_string()),
        cost: cost.as_ref().map(CostJson::from),
        vs_winner: explain.then(|| match winner {
            Some(w) if rank > 0 => r
                .against(w)
                .into_iter()
                .flatten()
                .map(|(t, d): (Term, costmodel::Nanos)| (t.name(), d.get()))
                .collect(),
            _ => Vec::new(),
        }),
        explanation: explain.then(|| explanation(rank, r, winner, names)),
    }
}

/// Answers `/v1/rank` (`explain = false`) or `/v1/explain` (`explain = true`).
///
/// # Errors
/// [`ApiError`] naming the request field at fault.
pub fn rank(engine: &Engine, req: &RankRequest, explain: bool) -> Result<RankResponse, ApiError> {
    let p = prepare(engine, req)?;
    let layout = Layout {
        data_free: p.data_free,
        compute_free: &p.compute_free,
    };
    let limit = req.limit.unwrap_or(usize::MAX);
    let (feasible, ranking) = engine.rank(
        &p.job,
        &layout,
        &p.scalars,
        req.objective,
        |r: &Ranking<'_>| {
            let winner = r.best();
            let list: Vec<RankedJson> = r
                .iter()
                .take(limit)
                .enumerate()
                .map(|(i, e)| entry_json(i, &e, winner.as_ref(), &p.names, explain))
                .collect();
            (r.feasible_len(), list)
        },
    )?;
    Ok(RankResponse {
        host: engine.model().host().host.name.clone(),
        generation: engine.generation(),
        workload: p.workload,
        objective: req.objective,
        feasible,
        ranking,
    })
}
