//! Conversions between Python-side values (JSON text, tuples) and the crates' types.

use std::num::NonZeroU32;

use costmodel::{
    Axis, Conditions, NodeId, Placement, PlacementCost, Regime, SchemeId, TransportId,
    WorkloadProfile,
};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors;

/// A placement as Python passes it: `(regime, scheme, transport, multiget, batch, node)`.
pub(crate) type PlacementTuple = (String, String, String, u32, u32, u32);

/// The first key of `input` (recursively) that `known` lacks, as a dotted path.
fn unknown_key(input: &Value, known: &Value, path: &str) -> Option<String> {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match b.get(k) {
                None => Some(at),
                Some(kv) => unknown_key(v, kv, &at),
            }
        }),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| unknown_key(x, y, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// A workload from its JSON (the fields of one entry of a workload file), validated, with
/// unknown fields refused; `origin` names it in errors.
pub(crate) fn workload(py: Python<'_>, text: &str, origin: &str) -> PyResult<WorkloadProfile> {
    let input: Value = serde_json::from_str(text).map_err(|e| {
        errors::profile_error(
            py,
            format!("{origin}: {e}"),
            Some(origin.into()),
            None,
            None,
        )
    })?;
    let w: WorkloadProfile = serde_path_to_error::deserialize(&input).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        errors::profile_error(
            py,
            format!("{origin}: {path}: {inner}"),
            Some(origin.into()),
            (path != ".").then_some(path),
            None,
        )
    })?;
    let known = serde_json::to_value(&w)
        .map_err(|e| errors::bad(py, "workload", e, "cannot be encoded"))?;
    if let Some(path) = unknown_key(&input, &known, "") {
        return Err(errors::profile_error(
            py,
            format!("{origin}: {path}: unknown field"),
            Some(origin.into()),
            Some(path),
            None,
        ));
    }
    w.validate(origin).map_err(|e| errors::cost(py, e))?;
    Ok(w)
}

/// A regime from its short name.
pub(crate) fn regime(py: Python<'_>, name: &str) -> PyResult<Regime> {
    match name {
        "dedicated" => Ok(Regime::DedicatedCore),
        "multiplexed" => Ok(Regime::Multiplexed),
        "remote" => Ok(Regime::Remote),
        other => Err(errors::bad(
            py,
            "regime",
            format!("{other:?}"),
            "must be dedicated, multiplexed or remote",
        )),
    }
}

/// A placement from its tuple.
pub(crate) fn placement(py: Python<'_>, t: &PlacementTuple) -> PyResult<Placement> {
    let (r, s, tr, multiget, batch, node) = t;
    let scheme = SchemeId::new(s).map_err(|e| errors::cost(py, e))?;
    let transport = TransportId::new(tr).map_err(|e| errors::cost(py, e))?;
    let count = |field: &str, n: u32| {
        NonZeroU32::new(n).ok_or_else(|| errors::bad(py, field, n, "must be >= 1"))
    };
    Ok(Placement::inside(scheme, transport)
        .with_regime(regime(py, r)?)
        .with_multiget(count("placement.multiget", *multiget)?)
        .with_batch(count("placement.batch", *batch)?)
        .on(NodeId(*node)))
}

/// A placement as JSON.
pub(crate) fn placement_json(p: &Placement) -> Value {
    json!({
        "regime": p.regime.name(),
        "scheme": p.scheme.to_string(),
        "transport": p.transport.to_string(),
        "multiget": p.multiget.get(),
        "batch": p.batch.get(),
        "node": p.node.0,
    })
}

fn axis_name(a: Axis) -> &'static str {
    match a {
        Axis::StorageCpu => "storage_cpu",
        Axis::ComputeCpu => "compute_cpu",
        Axis::Latency => "latency",
    }
}

/// A cost breakdown as JSON: totals and every term with its axis.
pub(crate) fn cost_json(c: &PlacementCost) -> Value {
    let terms: Vec<Value> = c
        .terms
        .iter()
        .map(|(t, v)| json!({"term": t.name(), "axis": axis_name(c.terms.axis_of(t)), "ns": v.get()}))
        .collect();
    json!({
        "storage_cpu_ns": c.storage_cpu.get(),
        "compute_cpu_ns": c.compute_cpu.get(),
        "total_cpu_ns": c.total_cpu().get(),
        "latency_ns": c.latency.get(),
        "network_bytes": c.network_bytes.get(),
        "terms": terms,
        "text": c.to_string(),
    })
}

/// The server-side conditions from Python: requests per wake-up, requests per read/write
/// (pipelining) and clients woken per request (`None`: one per server wake-up).
pub(crate) type ServerScalars = (f64, f64, Option<f64>);

/// Conditions from the scalars.
pub(crate) fn conditions(
    py: Python<'_>,
    warm_hit: f64,
    utilisation: f64,
    (drained, requests_per_syscall, peer_wakeups): ServerScalars,
) -> PyResult<Conditions> {
    Conditions::new(warm_hit, utilisation, drained)
        .and_then(|c| c.with_requests_per_syscall(requests_per_syscall))
        .and_then(|c| match peer_wakeups {
            Some(n) => c.with_peer_wakeups_per_request(n),
            None => Ok(c),
        })
        .map_err(|e| errors::cost(py, e))
}
