//! The ranking engine: one host profile's model, its candidate sets, and the loaded workloads.
//!
//! An [`Engine`] is immutable once built. The service holds the current one behind an atomic
//! pointer ([`arc_swap::ArcSwap`]): a profile upload builds a whole new engine off the ranking
//! path and swaps it in with one store; a ranking loads the pointer (no lock, no I/O) and keeps
//! its engine alive for the length of the request even if a swap happens meanwhile.
//!
//! # Node layout
//!
//! The solver indexes nodes by [`NodeId`]; requests name nodes. Every request is mapped onto one
//! canonical layout: `NodeId(0)` is the node holding the function's data (where the storage-side
//! placements, dedicated and multiplexed, run), `NodeId(1..=n)` are the request's `n` compute
//! nodes in request order (where remote placements run). The candidate set for a layout (every
//! scheme x transport on the data node in the two storage regimes, and remote on each compute
//! node) is prepared once per `(data node present, n)` on first use and kept, so the ranking
//! path only ranks.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use costmodel::{
    HostProfile, MaxStorageThroughput, MinLatency, MinTotalCpu, Model, NodeId, Placement, Regime,
    WeightedPrice, WorkloadProfile,
};
use solver::{Candidates, ClusterState, Job, Pushback, RankBuffers, Ranking};

use crate::error::ApiError;

/// Most compute nodes one request may name.
pub const MAX_NODES: usize = 1024;

/// Which objective ranks the candidates (lower score is better).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveKind {
    /// [`WeightedPrice::default`]: storage and compute CPU priced alike, storage CPU dearer
    /// as the storage server fills up.
    #[default]
    Weighted,
    /// [`Pushback::default`]: the congestion surcharge falls on work inside the storage server.
    Pushback,
    /// [`MinTotalCpu`].
    MinTotalCpu,
    /// [`MaxStorageThroughput`]: minimise storage CPU.
    MaxStorageThroughput,
    /// [`MinLatency`].
    MinLatency,
}

/// The cluster as one request describes it, in the canonical layout.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// Free cores of the data node, or `None` when the data node is not a candidate.
    pub data_free: Option<f64>,
    /// Free cores of each compute node (`NodeId(1 + i)`).
    pub compute_free: &'a [f64],
}

/// Scalar conditions of one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalars {
    /// Storage utilisation `rho` in `[0, 1)`.
    pub storage_utilisation: f64,
    /// Warm-hit probability in `[0, 1]`.
    pub warm_hit: f64,
    /// Requests the storage server drains per wake-up (>= 1).
    pub drained_per_wakeup: f64,
    /// Requests sharing one read and one write at the storage server (>= 1; pipelining).
    pub requests_per_syscall: f64,
    /// Clients the server's replies wake per request (>= 0), when known; else one per server
    /// wake-up.
    pub peer_wakeups_per_request: Option<f64>,
}

impl Default for Scalars {
    /// The solver's idle view: utilisation 0, warm contexts, one request per wake-up.
    fn default() -> Self {
        Scalars {
            storage_utilisation: 0.0,
            warm_hit: 1.0,
            drained_per_wakeup: 1.0,
            requests_per_syscall: 1.0,
            peer_wakeups_per_request: None,
        }
    }
}

/// One host profile's model with its prepared candidate sets and the loaded workloads.
#[derive(Debug)]
pub struct Engine {
    model: Model,
    profile_ron: String,
    generation: u64,
    inside: Vec<Placement>,
    remote: Vec<Placement>,
    /// Candidate sets by number of compute nodes, with the data node (`[0]`) and without (`[1]`).
    sets: [Vec<OnceLock<Candidates>>; 2],
    workloads: Arc<BTreeMap<String, (WorkloadProfile, Job)>>,
}

thread_local! {
    /// Each worker thread's ranking buffers: grown to the largest set it ranked, then reused.
    static BUFFERS: RefCell<RankBuffers> = RefCell::new(RankBuffers::with_capacity(0));
}

impl Engine {
    /// An engine for `host` with the workloads `workloads` (by id).
    ///
    /// # Errors
    /// [`ApiError`] (field `profile`) when the model refuses the profile.
    pub fn new(
        host: HostProfile,
        profile_ron: String,
        generation: u64,
        workloads: Arc<BTreeMap<String, (WorkloadProfile, Job)>>,
    ) -> Result<Self, ApiError> {
        let model = Model::from_profile(host).map_err(|e| ApiError::bad("profile", e))?;
        let mut inside = Vec::new();
        let mut remote = Vec::new();
        for p in model.default_candidates() {
            match p.regime {
                Regime::Remote => remote.push(p),
                Regime::DedicatedCore | Regime::Multiplexed => inside.push(p.on(NodeId(0))),
            }
        }
        let empty = || (0..=MAX_NODES).map(|_| OnceLock::new()).collect();
        Ok(Engine {
            model,
            profile_ron,
            generation,
            inside,
            remote,
            sets: [empty(), empty()],
            workloads,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The host profile as RON, as it was loaded.
    pub fn profile_ron(&self) -> &str {
        &self.profile_ron
    }

    /// How many profiles were loaded before this one (0 for the profile given at start).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The loaded workloads, by id.
    pub fn workloads(&self) -> &Arc<BTreeMap<String, (WorkloadProfile, Job)>> {
        &self.workloads
    }

    /// The loaded workload with `id`.
    ///
    /// # Errors
    /// [`ApiError`] naming `field` when there is none.
    pub fn workload(&self, field: &str, id: &str) -> Result<&(WorkloadProfile, Job), ApiError> {
        self.workloads.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.workloads.keys().map(String::as_str).collect();
            ApiError::bad(
                field,
                format!("unknown workload id {id:?}; loaded: [{}]", known.join(", ")),
            )
        })
    }

    /// The candidate set for `layout` (prepared on first use).
    fn candidates(&self, layout: &Layout<'_>) -> Result<&Candidates, ApiError> {
        let n = layout.compute_free.len();
        if n > MAX_NODES {
            return Err(ApiError::bad(
                "nodes",
                format!("at most {MAX_NODES} compute nodes per request, got {n}"),
            ));
        }
        let with_data = layout.data_free.is_some();
        if n == 0 && !with_data {
            return Err(ApiError::bad(
                "nodes",
                "no candidate node: neither the data node nor a compute node",
            ));
        }
        let slot = &self.sets[usize::from(!with_data)][n];
        if let Some(c) = slot.get() {
            return Ok(c);
        }
        let mut placements = Vec::with_capacity(self.inside.len() + n * self.remote.len());
        if with_data {
            placements.extend_from_slice(&self.inside);
        }
        for i in 1..=n {
            let node = NodeId(u32::try_from(i).unwrap_or(u32::MAX));
            placements.extend(self.remote.iter().map(|p| p.on(node)));
        }
        let prepared =
            Candidates::prepare(&self.model, &placements).map_err(|e| ApiError::bad("nodes", e))?;
        Ok(slot.get_or_init(|| prepared))
    }

    /// Ranks `job` on `layout` under `scalars` by `objective` and hands the ranking to `visit`.
    ///
    /// The ranking borrows this thread's buffers, so `visit` must not rank again.
    ///
    /// # Errors
    /// [`ApiError`] naming the field for bad numbers or a layout without nodes.
    pub fn rank<R>(
        &self,
        job: &Job,
        layout: &Layout<'_>,
        scalars: &Scalars,
        objective: ObjectiveKind,
        visit: impl FnOnce(&Ranking<'_>) -> R,
    ) -> Result<R, ApiError> {
        let candidates = self.candidates(layout)?;
        BUFFERS.with(|cell| {
            let mut buf = cell
                .try_borrow_mut()
                .map_err(|_| ApiError::internal("ranking buffers already in use on this thread"))?;
            if buf.capacity() < candidates.len() {
                *buf = RankBuffers::for_candidates(candidates);
            }
            let mut free = [0.0f64; 64];
            let mut heap = Vec::new();
            let free: &mut [f64] = if layout.compute_free.len() < free.len() {
                &mut free[..=layout.compute_free.len()]
            } else {
                heap.resize(layout.compute_free.len() + 1, 0.0);
                &mut heap
            };
            free[0] = layout.data_free.unwrap_or(0.0);
            free[1..].copy_from_slice(layout.compute_free);
            let state = ClusterState::new(free, NodeId(0))
                .and_then(|s| s.with_utilisation(scalars.storage_utilisation))
                .and_then(|s| s.with_warm_hit(scalars.warm_hit))
                .and_then(|s| s.with_drained(scalars.drained_per_wakeup))
                .and_then(|s| s.with_requests_per_syscall(scalars.requests_per_syscall))
                .and_then(|s| match scalars.peer_wakeups_per_request {
                    Some(n) => s.with_peer_wakeups_per_request(n),
                    None => Ok(s),
                })
                .map_err(ApiError::from_solver)?;
            let ranking = match objective {
                ObjectiveKind::Weighted => {
                    candidates.rank(job, &state, &WeightedPrice::default(), &mut buf)
                }
                ObjectiveKind::Pushback => {
                    candidates.rank(job, &state, &Pushback::default(), &mut buf)
                }
                ObjectiveKind::MinTotalCpu => candidates.rank(job, &state, &MinTotalCpu, &mut buf),
                ObjectiveKind::MaxStorageThroughput => {
                    candidates.rank(job, &state, &MaxStorageThroughput, &mut buf)
                }
                ObjectiveKind::MinLatency => candidates.rank(job, &state, &MinLatency, &mut buf),
            }
            .map_err(ApiError::from_solver)?;
            Ok(visit(&ranking))
        })
    }
}

/// Parses and validates a workload set's RON and reduces each workload to its [`Job`].
///
/// # Errors
/// [`ApiError`] naming the file and field.
pub fn workload_map(
    sets: &[(String, costmodel::WorkloadSet)],
) -> Result<BTreeMap<String, (WorkloadProfile, Job)>, ApiError> {
    let mut map = BTreeMap::new();
    for (file, set) in sets {
        for w in &set.workloads {
            let job = Job::from_profile(w).map_err(|e| ApiError::bad("workloads", e))?;
            if map.insert(w.id.to_string(), (w.clone(), job)).is_some() {
                return Err(ApiError::bad(
                    "workloads",
                    format!("{file}: workload id {:?} defined twice", w.id.as_str()),
                ));
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
        let host = HostProfile::load(format!("{root}/hosts/reference.ron")).unwrap();
        let sets = costmodel::WorkloadSet::load_dir(format!("{root}/workloads")).unwrap();
        Engine::new(
            host,
            String::new(),
            0,
            Arc::new(workload_map(&sets).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn remote_nodes_follow_the_data_node_in_the_layout() {
        let e = engine();
        let (_, job) = e.workload("w", "graph-4hop").unwrap();
        let free = [4.0, 4.0, 4.0];
        let layout = Layout {
            data_free: Some(4.0),
            compute_free: &free,
        };
        let nodes = e
            .rank(
                job,
                &layout,
                &Scalars::default(),
                ObjectiveKind::Weighted,
                |r| {
                    let mut seen: Vec<u32> = r.iter().map(|x| x.placement.node.0).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    seen
                },
            )
            .unwrap();
        assert_eq!(nodes, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_layout_without_nodes_is_refused() {
        let e = engine();
        let (_, job) = e.workload("w", "graph-4hop").unwrap();
        let layout = Layout {
            data_free: None,
            compute_free: &[],
        };
        let err = e
            .rank(
                job,
                &layout,
                &Scalars::default(),
                ObjectiveKind::Weighted,
                |_| (),
            )
            .unwrap_err();
        assert_eq!(err.field, "nodes");
    }

    #[test]
    fn an_unknown_workload_id_names_the_field() {
        let e = engine();
        let err = e.workload("workload_id", "nope").unwrap_err();
        assert_eq!(err.field, "workload_id");
        assert!(err.message.contains("graph-4hop"), "{}", err.message);
    }
}
