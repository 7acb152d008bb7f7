//! What a ranking is asked about: the function ([`Job`]) and the cluster ([`ClusterState`]),
//! and the one place each is checked.

use costmodel::{Conditions, Invocation, Nanos, NodeId, SchemeId, WorkloadProfile};

use crate::error::{Result, SolverError, non_negative, positive, within};

/// The function being placed: its invocation numbers and its latency objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    /// The numbers the equations use (records, bytes, compute, rate).
    pub invocation: Invocation,
    /// Latency objective per invocation, if any.
    pub slo: Option<Nanos>,
}

impl Job {
    /// Reduces a workload profile (validating it).
    ///
    /// # Errors
    /// [`SolverError::Cost`] naming the first bad field.
    pub fn from_profile(w: &WorkloadProfile) -> Result<Self> {
        Ok(Job {
            invocation: Invocation::from_profile(w)?,
            slo: w.slo,
        })
    }

    /// Checks every number: finite, not negative, the SLO positive.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming the field and the value.
    pub fn check(&self) -> Result<()> {
        let i = &self.invocation;
        non_negative("invocation.records", i.records)?;
        non_negative("invocation.record_bytes", i.record_bytes)?;
        non_negative("invocation.message_bytes", i.message_bytes)?;
        non_negative("invocation.compute_ns", i.compute_ns)?;
        non_negative("invocation.rate", i.rate)?;
        if let Some(slo) = self.slo {
            positive("job.slo", slo.get())?;
        }
        Ok(())
    }
}

/// A warm context the cluster holds: invocations placed on `node` under `scheme` find it warm
/// with probability `hit`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarmContext {
    /// The node holding the context.
    pub node: NodeId,
    /// The scheme of the context.
    pub scheme: SchemeId,
    /// Probability in `[0, 1]` that an invocation finds it warm (1 for a context idle now).
    pub hit: f64,
}

/// What the scheduler knows about the cluster at the moment of the decision. Borrowed, so a
/// scheduler can keep its own arrays and hand out a view per call.
#[derive(Clone, Copy, Debug)]
pub struct ClusterState<'a> {
    /// Free CPU per node, in cores, indexed by [`NodeId`]. Every candidate's node must be here.
    pub free_cores: &'a [f64],
    /// The storage node that holds the function's records. Storage-side candidates must run here.
    pub data_node: NodeId,
    /// Utilisation `rho` of that storage node, in `[0, 1)`.
    pub storage_utilisation: f64,
    /// Requests the storage server handles per wake-up (1 = ping-pong; large = saturated).
    pub drained_per_wakeup: f64,
    /// Warm-hit probability for candidates with no entry in `warm` (from
    /// [`crate::locality`]; 0 = always cold).
    pub default_warm_hit: f64,
    /// Contexts known to be warm. Small: it is scanned per candidate.
    pub warm: &'a [WarmContext],
}

impl<'a> ClusterState<'a> {
    /// An idle cluster view: `free_cores` per node, data on `data_node`, utilisation 0, one
    /// request per wake-up, contexts warm (`h = 1`), no explicit warm list.
    pub fn new(free_cores: &'a [f64], data_node: NodeId) -> Self {
        ClusterState {
            free_cores,
            data_node,
            storage_utilisation: 0.0,
            drained_per_wakeup: 1.0,
            default_warm_hit: 1.0,
            warm: &[],
        }
    }

    /// The same view at storage utilisation `rho`.
    pub fn with_utilisation(self, rho: f64) -> Self {
        ClusterState {
            storage_utilisation: rho,
            ..self
        }
    }

    /// The same view with default warm-hit probability `h`.
    pub fn with_warm_hit(self, h: f64) -> Self {
        ClusterState {
            default_warm_hit: h,
            ..self
        }
    }

    /// The same view with the warm contexts `warm`.
    pub fn with_warm(self, warm: &'a [WarmContext]) -> Self {
        ClusterState { warm, ..self }
    }

    /// Checks the state and returns the conditions it prices under. Every scalar is checked on
    /// every call (three comparisons when they are valid); the free cores are checked where
    /// they are read ([`super::candidates::Candidates`] reads each node a candidate names).
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming the field, [`SolverError::UnknownNode`] for a data
    /// node outside `free_cores`.
    #[inline]
    pub(crate) fn conditions(&self) -> Result<Conditions> {
        let known = self.free_cores.len();
        if self.data_node.0 as usize >= known {
            return Err(SolverError::UnknownNode {
                node: self.data_node.0,
                known,
            });
        }
        for w in self.warm {
            within("state.warm.hit", w.hit, 0.0, 1.0, "must be in [0, 1]")?;
        }
        match Conditions::new(
            self.default_warm_hit,
            self.storage_utilisation,
            self.drained_per_wakeup,
        ) {
            Ok(c) => Ok(c),
            Err(e) => Err(self.bad_scalar().unwrap_or(SolverError::Cost(e))),
        }
    }

    /// The error naming the first bad scalar, in the solver's words (`None` if the solver sees
    /// none: the cost model's own error is then passed on).
    #[cold]
    fn bad_scalar(&self) -> Option<SolverError> {
        let below_one = f64::from_bits(1.0f64.to_bits() - 1);
        let rho = self.storage_utilisation;
        let rho = within(
            "state.storage_utilisation",
            rho,
            0.0,
            below_one,
            "must be in [0, 1)",
        );
        let d = self.drained_per_wakeup;
        let drained = if d >= 1.0 && d.is_finite() {
            Ok(d)
        } else {
            Err(SolverError::InvalidInput {
                field: "state.drained_per_wakeup",
                expected: "must be finite and >= 1",
                value: d,
            })
        };
        let h = self.default_warm_hit;
        let h = within("state.default_warm_hit", h, 0.0, 1.0, "must be in [0, 1]");
        rho.and(drained).and(h).err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_scalar_is_named() {
        let free = [1.0];
        let ok = ClusterState::new(&free, NodeId(0));
        assert!(ok.conditions().is_ok());
        let cases = [
            (ok.with_utilisation(1.0), "state.storage_utilisation"),
            (ok.with_utilisation(f64::NAN), "state.storage_utilisation"),
            (ok.with_warm_hit(1.5), "state.default_warm_hit"),
            (
                ClusterState {
                    drained_per_wakeup: 0.5,
                    ..ok
                },
                "state.drained_per_wakeup",
            ),
        ];
        for (state, field) in cases {
            let e = state.conditions().unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
        let far = ClusterState::new(&free, NodeId(1));
        assert!(matches!(
            far.conditions(),
            Err(SolverError::UnknownNode { node: 1, known: 1 })
        ));
    }
}
