//! The pod's reading of its annotations: the job, the data node, the scalars and the
//! objective, each checked and named by its annotation when wrong.

use std::cell::RefCell;

use serde_json::Value;
use solver::Job;

use crate::engine::{Engine, ObjectiveKind, Scalars};
use crate::error::ApiError;
use crate::kube_objects::{
    ANN_DATA_NODE, ANN_DRAINED, ANN_OBJECTIVE, ANN_PEER_WAKEUPS, ANN_REQUESTS_PER_SYSCALL,
    ANN_UTILISATION, ANN_WARM_HIT, ANN_WORKLOAD, ANN_WORKLOAD_ID, Pod, PodAnnotations,
};

/// The pod's reading of the annotations.
pub(crate) struct PodInputs {
    pub(crate) job: Job,
    pub(crate) data_node: String,
    pub(crate) scalars: Scalars,
    pub(crate) objective: ObjectiveKind,
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

pub(crate) fn pod_inputs(engine: &Engine, pod: Option<&Pod<'_>>) -> Result<PodInputs, ApiError> {
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
        requests_per_syscall: annotation_number(
            ann.requests_per_syscall.as_deref(),
            ANN_REQUESTS_PER_SYSCALL,
            d.requests_per_syscall,
        )?,
        peer_wakeups_per_request: match ann.peer_wakeups_per_request.as_deref() {
            None => None,
            Some(v) => Some(annotation_number(Some(v), ANN_PEER_WAKEUPS, 0.0)?),
        },
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
