//! `neardata._native`: the compiled half of the `neardata` Python package (PyO3).
//!
//! It is deliberately thin: it parses and validates with `costmodel`, ranks with `solver`, and
//! hands results to Python as JSON text, which the pure-Python half (`neardata/__init__.py`)
//! turns into plain Python objects. No Rust type outlives a call except [`Host`], which holds a
//! validated model so ranking does not re-read the profile.

use std::path::PathBuf;

use costmodel::{
    Crossover, HostProfile, MaxStorageThroughput, MinLatency, MinTotalCpu, Model, NodeId,
    Objective, Placement, Regime, WeightedPrice, WorkloadSet,
};
use pyo3::prelude::*;
use serde_json::{Value, json};
use solver::{
    AdvisorConfig, Candidates, ClusterState, FunctionTrack, Job, Pushback, RankBuffers,
    RegimeAdvisor, RegimeOptions, Resources,
};

mod convert;
mod errors;

use convert::PlacementTuple;

/// A validated host profile and the model built from it.
#[pyclass(frozen, module = "neardata._native")]
struct Host {
    model: Model,
    origin: String,
}

/// Calls `f` with the objective named `name`.
macro_rules! with_objective {
    ($py:expr, $name:expr, |$o:ident| $body:expr) => {
        match $name {
            "weighted" => {
                let $o = WeightedPrice::default();
                $body
            }
            "pushback" => {
                let $o = Pushback::default();
                $body
            }
            "min_total_cpu" => {
                let $o = MinTotalCpu;
                $body
            }
            "max_storage_throughput" => {
                let $o = MaxStorageThroughput;
                $body
            }
            "min_latency" => {
                let $o = MinLatency;
                $body
            }
            other => Err(errors::bad(
                $py,
                "objective",
                format!("{other:?}"),
                "must be weighted, pushback, min_total_cpu, max_storage_throughput or min_latency",
            )),
        }
    };
}

fn to_text(py: Python<'_>, v: &Value) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| errors::bad(py, "result", e, "cannot be encoded"))
}

fn rank_with<O: Objective>(
    py: Python<'_>,
    cands: &Candidates,
    job: &Job,
    state: &ClusterState<'_>,
    objective: &O,
    explain: bool,
) -> PyResult<Value> {
    let mut buf = RankBuffers::for_candidates(cands);
    let r = cands
        .rank(job, state, objective, &mut buf)
        .map_err(|e| errors::solver(py, e))?;
    let list: Vec<Value> = r
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let vs: Vec<Value> = match (explain, r.best()) {
                (true, Some(w)) if i > 0 => e
                    .against(&w)
                    .into_iter()
                    .flatten()
                    .map(|(t, d)| json!([t.name(), d.get()]))
                    .collect(),
                _ => Vec::new(),
            };
            json!({
                "rank": i + 1,
                "placement": convert::placement_json(e.placement),
                "label": e.placement.to_string(),
                "score": e.is_feasible().then_some(e.score),
                "infeasible": e.infeasible.map(|x| x.to_string()),
                "cost": e.cost().as_ref().map(convert::cost_json),
                "explanation": if explain { r.explain(i).map(|x| x.to_string()) } else { None },
                "vs_winner": vs,
            })
        })
        .collect();
    Ok(json!({"feasible": r.feasible_len(), "objective": objective.name(), "ranking": list}))
}

#[pymethods]
impl Host {
    /// Loads and validates a host profile file (RON).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Host> {
        let host = HostProfile::load(&path).map_err(|e| errors::cost(py, e))?;
        Host::build(py, host, path.display().to_string())
    }

    /// Parses and validates a host profile from RON text.
    #[staticmethod]
    #[pyo3(signature = (text, origin = "<string>"))]
    fn from_ron(py: Python<'_>, text: &str, origin: &str) -> PyResult<Host> {
        let host = HostProfile::from_ron(text, origin).map_err(|e| errors::cost(py, e))?;
        Host::build(py, host, origin.to_owned())
    }

    /// The host's name.
    #[getter]
    fn name(&self) -> String {
        self.model.host().host.name.clone()
    }

    /// Where it was loaded from.
    #[getter]
    fn origin(&self) -> String {
        self.origin.clone()
    }

    /// Known scheme ids.
    fn scheme_ids(&self) -> Vec<String> {
        self.model.scheme_ids().map(|s| s.to_string()).collect()
    }

    /// Known transport ids.
    fn transport_ids(&self) -> Vec<String> {
        self.model.transport_ids().map(|s| s.to_string()).collect()
    }

    /// The profile moved from its probe table to a storage server's table of `table_bytes`
    /// bytes of records (`HostProfile::at_table`).
    fn at_table(&self, py: Python<'_>, table_bytes: f64) -> PyResult<Host> {
        let moved = self
            .model
            .host()
            .at_table(costmodel::Bytes::new(table_bytes))
            .map_err(|e| errors::cost(py, e))?;
        Host::build(
            py,
            moved,
            format!("{} at a table of {table_bytes} B", self.origin),
        )
    }

    /// The profile as RON.
    fn to_ron(&self) -> String {
        self.model.host().to_ron()
    }

    /// The default candidates as JSON.
    fn default_candidates_json(&self, py: Python<'_>) -> PyResult<String> {
        let list: Vec<Value> = self
            .model
            .default_candidates()
            .iter()
            .map(convert::placement_json)
            .collect();
        to_text(py, &Value::Array(list))
    }

    /// The cost of `workload` under `placement`, as JSON.
    fn evaluate_json(
        &self,
        py: Python<'_>,
        workload: &str,
        placement: PlacementTuple,
        warm_hit: f64,
        utilisation: f64,
        server: convert::ServerScalars,
    ) -> PyResult<String> {
        let w = convert::workload(py, workload, "workload")?;
        let p = convert::placement(py, &placement)?;
        let cond = convert::conditions(py, warm_hit, utilisation, server)?;
        let c = self
            .model
            .evaluate(&w, &p, &cond)
            .map_err(|e| errors::cost(py, e))?;
        to_text(py, &convert::cost_json(&c))
    }

    /// Ranks `candidates` (default: the model's) for `workload`; JSON.
    #[allow(clippy::too_many_arguments)]
    fn rank_json(
        &self,
        py: Python<'_>,
        workload: &str,
        candidates: Option<Vec<PlacementTuple>>,
        free_cores: Vec<f64>,
        data_node: u32,
        utilisation: f64,
        warm_hit: f64,
        server: convert::ServerScalars,
        objective: &str,
        explain: bool,
    ) -> PyResult<String> {
        let w = convert::workload(py, workload, "workload")?;
        let job = Job::from_profile(&w).map_err(|e| errors::solver(py, e))?;
        let placements: Vec<Placement> = match candidates {
            None => self.model.default_candidates(),
            Some(list) => list
                .iter()
                .map(|t| convert::placement(py, t))
                .collect::<PyResult<_>>()?,
        };
        for (i, f) in free_cores.iter().enumerate() {
            if !(*f >= 0.0) {
                return Err(errors::bad(
                    py,
                    &format!("free_cores[{i}]"),
                    f,
                    "must be >= 0",
                ));
            }
        }
        let cands =
            Candidates::prepare(&self.model, &placements).map_err(|e| errors::solver(py, e))?;
        let (drained, requests_per_syscall, peer_wakeups) = server;
        let state = ClusterState::new(&free_cores, NodeId(data_node))
            .and_then(|s| s.with_utilisation(utilisation))
            .and_then(|s| s.with_warm_hit(warm_hit))
            .and_then(|s| s.with_drained(drained))
            .and_then(|s| s.with_requests_per_syscall(requests_per_syscall))
            .and_then(|s| match peer_wakeups {
                Some(n) => s.with_peer_wakeups_per_request(n),
                None => Ok(s),
            })
            .map_err(|e| errors::solver(py, e))?;
        let v = with_objective!(py, objective, |o| rank_with(
            py, &cands, &job, &state, &o, explain
        ))?;
        to_text(py, &v)
    }

    /// The crossover `k*` (records per invocation above which inside uses less storage CPU than
    /// remote), or `None` when inside never does.
    #[allow(clippy::too_many_arguments)]
    fn crossover(
        &self,
        py: Python<'_>,
        workload: &str,
        inside: PlacementTuple,
        remote: PlacementTuple,
        warm_hit: f64,
        utilisation: f64,
        server: convert::ServerScalars,
    ) -> PyResult<Option<f64>> {
        let w = convert::workload(py, workload, "workload")?;
        let i = convert::placement(py, &inside)?;
        let r = convert::placement(py, &remote)?;
        let cond = convert::conditions(py, warm_hit, utilisation, server)?;
        match self.model.crossover(&w, &i, &r, &cond) {
            Ok(Crossover::At(k)) => Ok(Some(k)),
            Ok(Crossover::Never) => Ok(None),
            Err(e) => Err(errors::cost(py, e)),
        }
    }

    /// Feeds the regime advisor one arrival count per window; JSON list of advice.
    #[allow(clippy::too_many_arguments)]
    fn advise_json(
        &self,
        py: Python<'_>,
        workload: &str,
        arrivals: Vec<f64>,
        scheme: &str,
        transport: &str,
        start: &str,
        objective: &str,
        config: Option<&str>,
    ) -> PyResult<String> {
        let w = convert::workload(py, workload, "workload")?;
        let job = Job::from_profile(&w).map_err(|e| errors::solver(py, e))?;
        let inside = convert::placement(
            py,
            &(
                "multiplexed".into(),
                scheme.into(),
                transport.into(),
                1,
                1,
                0,
            ),
        )?;
        let price = |p: Placement| self.model.price(&p).map_err(|e| errors::cost(py, e));
        let options = RegimeOptions {
            dedicated: Some(price(inside.with_regime(Regime::DedicatedCore))?),
            multiplexed: Some(price(inside)?),
            remote: Some(price(inside.with_regime(Regime::Remote))?),
            invocation: *job.invocation(),
            conditions: costmodel::Conditions::default(),
        };
        let (cfg, cusum) = advisor_config(py, config)?;
        let mut track = FunctionTrack::new(
            convert::regime(py, start)?,
            profiler::RateDetector::new(cusum),
        );
        let v = with_objective!(py, objective, |o| {
            let advisor = RegimeAdvisor::new(cfg, o).map_err(|e| errors::solver(py, e))?;
            let mut out = Vec::with_capacity(arrivals.len());
            for (i, a) in arrivals.iter().enumerate() {
                let adv = advisor
                    .observe(&mut track, &options, *a)
                    .map_err(|e| errors::solver(py, e))?;
                out.push(json!({
                    "window": i,
                    "regime": adv.regime.name(),
                    "switched": adv.switched.map(|(f, t)| [f.name(), t.name()]),
                    "reason": format!("{:?}", adv.reason),
                    "rate": adv.rate.get(),
                    "saving_per_s": adv.saving_per_s,
                    "horizon_ns": adv.horizon.get(),
                    "change_point": adv.change_point,
                }));
            }
            Ok(Value::Array(out))
        })?;
        to_text(py, &v)
    }
}

impl Host {
    fn build(py: Python<'_>, host: HostProfile, origin: String) -> PyResult<Host> {
        let model = Model::from_profile(host).map_err(|e| errors::cost(py, e))?;
        Ok(Host { model, origin })
    }
}

/// The advisor's configuration from JSON (`{"window_ns": ..., ...}`; absent keys default).
fn advisor_config(
    py: Python<'_>,
    config: Option<&str>,
) -> PyResult<(AdvisorConfig, profiler::CusumParams)> {
    let mut cfg = AdvisorConfig::default();
    let mut cusum = profiler::CusumParams::default();
    let Some(text) = config else {
        return Ok((cfg, cusum));
    };
    let v: serde_json::Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| errors::bad(py, "advisor config", e, "must be a JSON object"))?;
    for (k, val) in &v {
        let num = |val: &Value| {
            val.as_f64()
                .ok_or_else(|| errors::bad(py, k, val, "must be a number"))
        };
        match k.as_str() {
            "window_ns" => cfg.window = costmodel::Nanos::new(num(val)?),
            "cusum_k" => cusum.k = num(val)?,
            "cusum_h" => cusum.h = num(val)?,
            "cusum_warmup" => {
                cusum.warmup = val
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(|| errors::bad(py, k, val, "must be a whole number"))?;
            }
            "min_windows" => {
                cfg.min_windows = val
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(|| errors::bad(py, k, val, "must be a whole number"))?;
            }
            "max_horizon_ns" => cfg.max_horizon = costmodel::Nanos::new(num(val)?),
            "hysteresis" => cfg.hysteresis = num(val)?,
            "reverse_band" => cfg.reverse_band = num(val)?,
            "transition" => {
                let a: Vec<f64> = serde_json::from_value(val.clone()).map_err(|_| {
                    errors::bad(
                        py,
                        k,
                        val,
                        "must be three numbers [dedicated, multiplexed, remote]",
                    )
                })?;
                cfg.transition = <[f64; 3]>::try_from(a.as_slice()).map_err(|_| {
                    errors::bad(
                        py,
                        k,
                        val,
                        "must be three numbers [dedicated, multiplexed, remote]",
                    )
                })?;
            }
            other => return Err(errors::bad(py, other, val, "is not an advisor setting")),
        }
    }
    cfg.check().map_err(|e| errors::solver(py, e))?;
    if !(cusum.k.is_finite() && cusum.k >= 0.0) {
        return Err(errors::bad(
            py,
            "cusum_k",
            cusum.k,
            "must be a finite number >= 0",
        ));
    }
    if !(cusum.h.is_finite() && cusum.h > 0.0) {
        return Err(errors::bad(
            py,
            "cusum_h",
            cusum.h,
            "must be a finite number > 0",
        ));
    }
    Ok((cfg, cusum))
}

/// Loads and validates a workload file, or every `*.ron` file of a directory; JSON
/// `[[file, set], ...]`.
#[pyfunction]
fn load_workloads_json(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let sets = if path.is_dir() {
        WorkloadSet::load_dir(&path).map_err(|e| errors::cost(py, e))?
    } else {
        let set = WorkloadSet::load(&path).map_err(|e| errors::cost(py, e))?;
        vec![(path.display().to_string(), set)]
    };
    serde_json::to_string(&sets).map_err(|e| errors::bad(py, "workloads", e, "cannot be encoded"))
}

/// Parses and validates a workload set from RON text; JSON.
#[pyfunction]
#[pyo3(signature = (text, origin = "<string>"))]
fn workloads_from_ron_json(py: Python<'_>, text: &str, origin: &str) -> PyResult<String> {
    let set = WorkloadSet::from_ron(text, origin).map_err(|e| errors::cost(py, e))?;
    serde_json::to_string(&set).map_err(|e| errors::bad(py, "workloads", e, "cannot be encoded"))
}

/// Validates one workload given as JSON (unknown fields refused); its normalised JSON.
#[pyfunction]
#[pyo3(signature = (text, origin = "workload"))]
fn check_workload_json(py: Python<'_>, text: &str, origin: &str) -> PyResult<String> {
    let w = convert::workload(py, text, origin)?;
    serde_json::to_string(&w).map_err(|e| errors::bad(py, "workload", e, "cannot be encoded"))
}

/// Packs functions onto machines; each resource is `(cpu_millicores, memory_bytes,
/// nic_milliqueues)`. JSON.
#[pyfunction]
fn provision_json(
    py: Python<'_>,
    machines: Vec<(u64, u64, u64)>,
    demands: Vec<(u64, u64, u64)>,
) -> PyResult<String> {
    let r = |(c, m, n): (u64, u64, u64)| Resources::new(c, m, n);
    let machines: Vec<Resources> = machines.into_iter().map(r).collect();
    let demands: Vec<Resources> = demands.into_iter().map(r).collect();
    let p = solver::provision(&machines, &demands).map_err(|e| errors::solver(py, e))?;
    let v = json!({
        "assignment": p.assignment,
        "used": p.used.iter().map(Resources::as_array).collect::<Vec<_>>(),
        "machines_used": p.machines_used,
        "lower_bound": p.lower_bound,
        "gap": p.gap,
        "unplaced": p.unplaced,
    });
    to_text(py, &v)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Host>()?;
    m.add_function(wrap_pyfunction!(load_workloads_json, m)?)?;
    m.add_function(wrap_pyfunction!(workloads_from_ron_json, m)?)?;
    m.add_function(wrap_pyfunction!(check_workload_json, m)?)?;
    m.add_function(wrap_pyfunction!(provision_json, m)?)?;
    Ok(())
}
