//! What a ranking is asked about: the function ([`Job`]) and the cluster ([`ClusterState`]),
//! each checked once, when it is built (linfa's checked parameters): a ranking reads them
//! without checking them again.

use costmodel::{Conditions, Invocation, Nanos, NodeId, SchemeId, WorkloadProfile};

use crate::error::{Result, SolverError, positive, within};

/// The function being placed: its invocation numbers and its latency objective. Checked when it
/// is built (the [`Invocation`] by its own constructor, the SLO here).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    invocation: Invocation,
    slo: Option<Nanos>,
}

impl Job {
    /// A job for `invocation` with latency objective `slo` per invocation, if any.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `job.slo` unless it is finite and positive.
    pub fn new(invocation: Invocation, slo: Option<Nanos>) -> Result<Self> {
        if let Some(slo) = slo {
            positive("job.slo", slo.get())?;
        }
        Ok(Job { invocation, slo })
    }

    /// Reduces a workload profile (validating it).
    ///
    /// # Errors
    /// [`SolverError::Cost`] naming the first bad field.
    pub fn from_profile(w: &WorkloadProfile) -> Result<Self> {
        Job::new(Invocation::from_profile(w)?, w.slo)
    }

    /// The numbers the equations use (records, bytes, compute, rate).
    #[inline]
    pub fn invocation(&self) -> &Invocation {
        &self.invocation
    }

    /// Latency objective per invocation, if any.
    #[inline]
    pub fn slo(&self) -> Option<Nanos> {
        self.slo
    }

    /// The same job for another (already checked) invocation.
    pub fn with_invocation(self, invocation: Invocation) -> Self {
        Job { invocation, ..self }
    }

    /// The same job with latency objective `slo`.
    ///
    /// # Errors
    /// As [`Job::new`].
    pub fn with_slo(self, slo: Option<Nanos>) -> Result<Self> {
        Job::new(self.invocation, slo)
    }
}

/// A warm context the cluster holds: invocations placed on `node` under `scheme` find it warm
/// with probability `hit`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarmContext {
    node: NodeId,
    scheme: SchemeId,
    hit: f64,
}

impl WarmContext {
    /// A context on `node` under `scheme` found warm with probability `hit` (1 for a context
    /// idle now).
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.warm.hit` unless it is in `[0, 1]`.
    pub fn new(node: NodeId, scheme: SchemeId, hit: f64) -> Result<Self> {
        within("state.warm.hit", hit, 0.0, 1.0, "must be in [0, 1]")?;
        Ok(WarmContext { node, scheme, hit })
    }

    /// The node holding the context.
    #[inline]
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The scheme of the context.
    #[inline]
    pub fn scheme(&self) -> SchemeId {
        self.scheme
    }

    /// Probability in `[0, 1]` that an invocation finds it warm.
    #[inline]
    pub fn hit(&self) -> f64 {
        self.hit
    }
}

/// What the scheduler knows about the cluster at the moment of the decision, checked when it is
/// built. Borrowed, so a scheduler can keep its own arrays and hand out a view per call (the
/// borrow keeps them unchanged while the view lives).
#[derive(Clone, Copy, Debug)]
pub struct ClusterState<'a> {
    free_cores: &'a [f64],
    data_node: NodeId,
    /// Default warm-hit probability, storage utilisation and drain rate, checked.
    conditions: Conditions,
    warm: &'a [WarmContext],
}

impl<'a> ClusterState<'a> {
    /// An idle cluster view: `free_cores` per node (indexed by [`NodeId`]; every candidate's
    /// node must be there), the function's data on `data_node`, utilisation 0, one request per
    /// wake-up, contexts warm (`h = 1`), no explicit warm list.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.free_cores` for a NaN, infinite or negative
    /// entry, [`SolverError::UnknownNode`] for a data node outside `free_cores`.
    pub fn new(free_cores: &'a [f64], data_node: NodeId) -> Result<Self> {
        // One pass: the sum is finite exactly when every entry is, the minimum is not negative
        // exactly when none is; the exact check names the entry.
        let (mut min, mut sum) = (0.0f64, 0.0f64);
        for &f in free_cores {
            sum += f;
            min = if f < min { f } else { min };
        }
        if !(min >= 0.0 && sum.is_finite()) {
            for &f in free_cores {
                super::verdicts::valid_free(f)?;
            }
        }
        let known = free_cores.len();
        if data_node.0 as usize >= known {
            return Err(SolverError::UnknownNode {
                node: data_node.0,
                known,
            });
        }
        Ok(ClusterState {
            free_cores,
            data_node,
            conditions: Conditions::default(),
            warm: &[],
        })
    }

    /// The same view at storage utilisation `rho`.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.storage_utilisation` unless it is in `[0, 1)`.
    #[inline]
    pub fn with_utilisation(self, rho: f64) -> Result<Self> {
        match self.conditions.with_utilisation(rho) {
            Ok(conditions) => Ok(ClusterState { conditions, ..self }),
            Err(_) => Err(bad("state.storage_utilisation", "must be in [0, 1)", rho)),
        }
    }

    /// The same view with default warm-hit probability `h` (for candidates with no entry in
    /// the warm list; from [`crate::locality`]; 0 = always cold).
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.default_warm_hit` unless it is in `[0, 1]`.
    pub fn with_warm_hit(self, h: f64) -> Result<Self> {
        match self.conditions.with_warm_hit(h) {
            Ok(conditions) => Ok(ClusterState { conditions, ..self }),
            Err(_) => Err(bad("state.default_warm_hit", "must be in [0, 1]", h)),
        }
    }

    /// The same view with `drained` requests handled per storage-server wake-up (1 = ping-pong;
    /// large = saturated).
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.drained_per_wakeup` unless it is finite and
    /// at least 1.
    pub fn with_drained(self, drained: f64) -> Result<Self> {
        match self.conditions.with_drained(drained) {
            Ok(conditions) => Ok(ClusterState { conditions, ..self }),
            Err(_) => Err(bad(
                "state.drained_per_wakeup",
                "must be finite and >= 1",
                drained,
            )),
        }
    }

    /// The same view with `n >= 1` requests sharing one read and one write at the storage server
    /// (its clients' pipelining depth). Read by transports with a server's own request terms.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.requests_per_syscall` unless it is finite and
    /// at least 1.
    pub fn with_requests_per_syscall(self, n: f64) -> Result<Self> {
        match self.conditions.with_requests_per_syscall(n) {
            Ok(conditions) => Ok(ClusterState { conditions, ..self }),
            Err(_) => Err(bad(
                "state.requests_per_syscall",
                "must be finite and >= 1",
                n,
            )),
        }
    }

    /// The same view with `n >= 0` clients woken per request by the storage server's replies
    /// (0 for clients that are busy or poll when replies arrive; by default one per server
    /// wake-up). Read by transports whose server terms separate `per_peer_wakeup`.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming `state.peer_wakeups_per_request` unless it is finite
    /// and not negative.
    pub fn with_peer_wakeups_per_request(self, n: f64) -> Result<Self> {
        match self.conditions.with_peer_wakeups_per_request(n) {
            Ok(conditions) => Ok(ClusterState { conditions, ..self }),
            Err(_) => Err(bad(
                "state.peer_wakeups_per_request",
                "must be finite and >= 0",
                n,
            )),
        }
    }

    /// The same view with the warm contexts `warm` (each checked when it was built). Small: it
    /// is scanned per candidate.
    pub fn with_warm(self, warm: &'a [WarmContext]) -> Self {
        ClusterState { warm, ..self }
    }

    /// Free CPU per node, in cores, indexed by [`NodeId`].
    #[inline]
    pub fn free_cores(&self) -> &'a [f64] {
        self.free_cores
    }

    /// The storage node that holds the function's records. Storage-side candidates must run
    /// there.
    #[inline]
    pub fn data_node(&self) -> NodeId {
        self.data_node
    }

    /// Utilisation `rho` of the data node, in `[0, 1)`.
    #[inline]
    pub fn storage_utilisation(&self) -> f64 {
        self.conditions.storage_utilisation()
    }

    /// Requests the storage server handles per wake-up.
    #[inline]
    pub fn drained_per_wakeup(&self) -> f64 {
        self.conditions.drained_per_wakeup()
    }

    /// Warm-hit probability for candidates with no entry in the warm list.
    #[inline]
    pub fn default_warm_hit(&self) -> f64 {
        self.conditions.warm_hit()
    }

    /// Contexts known to be warm.
    #[inline]
    pub fn warm(&self) -> &'a [WarmContext] {
        self.warm
    }

    /// The conditions candidates without a warm context are priced under.
    #[inline]
    pub fn conditions(&self) -> Conditions {
        self.conditions
    }
}

#[cold]
fn bad(field: &'static str, expected: &'static str, value: f64) -> SolverError {
    SolverError::InvalidInput {
        field,
        expected,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_input_is_named() {
        let free = [1.0];
        let ok = ClusterState::new(&free, NodeId(0)).unwrap();
        let cases = [
            (ok.with_utilisation(1.0), "state.storage_utilisation"),
            (ok.with_utilisation(f64::NAN), "state.storage_utilisation"),
            (ok.with_warm_hit(1.5), "state.default_warm_hit"),
            (ok.with_drained(0.5), "state.drained_per_wakeup"),
            (
                ClusterState::new(&[1.0, -1.0], NodeId(0)),
                "state.free_cores",
            ),
            (
                ClusterState::new(&[f64::NAN], NodeId(0)),
                "state.free_cores",
            ),
        ];
        for (state, field) in cases {
            let e = state.unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
        assert!(matches!(
            ClusterState::new(&free, NodeId(1)),
            Err(SolverError::UnknownNode { node: 1, known: 1 })
        ));
        let scheme = SchemeId::new("wasm").unwrap();
        let e = WarmContext::new(NodeId(0), scheme, 2.0).unwrap_err();
        assert!(e.to_string().starts_with("state.warm.hit"), "{e}");
        let inv = Invocation::new(
            1.0,
            costmodel::Bytes::new(1.0),
            costmodel::Bytes::new(1.0),
            Nanos::new(1.0),
            costmodel::PerSecond::new(1.0),
        )
        .unwrap();
        let e = Job::new(inv, Some(Nanos::ZERO)).unwrap_err();
        assert!(e.to_string().starts_with("job.slo"), "{e}");
    }
}
