//! Why a candidate cannot be used, and the one check of whether a node has room.

use std::fmt;

use costmodel::{Nanos, NodeId, PerSecond, SchemeId};

use crate::error::SolverError;

/// Why the cost model refused a dedicated core: the model's own [`costmodel::Refusal`] (its
/// equation lives once, in `PricedPlacement::try_unqueued`). Non-exhaustive.
pub type DedicatedRefusal = costmodel::Refusal;

/// Why a candidate cannot be used. Non-exhaustive: a `match` on it needs a `_` arm, and the
/// ranking treats a candidate as feasible only when it has no verdict at all (`None`), so a
/// variant added later can never be scored as feasible by accident.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Infeasible {
    /// The host does not support the candidate's isolation scheme.
    UnsupportedScheme {
        /// The scheme.
        scheme: SchemeId,
    },
    /// A storage-side candidate on a node that does not hold the function's data.
    DataElsewhere {
        /// The candidate's node.
        node: NodeId,
        /// Where the data lives.
        data: NodeId,
    },
    /// A remote candidate on another node than the data's that fetches over a same-host
    /// transport (`shm`, `unix`), which cannot cross the network
    /// ([`costmodel::Model::check_reach`]).
    SameHostTransport {
        /// The transport.
        transport: costmodel::TransportId,
        /// The candidate's node.
        node: NodeId,
        /// Where the data lives.
        data: NodeId,
    },
    /// The cost model refuses a dedicated core.
    DedicatedRefused(DedicatedRefusal),
    /// The node lacks the free CPU the placement's load needs.
    NodeFull {
        /// The node.
        node: NodeId,
        /// Cores the placement would use there (`cpu per invocation x rate`).
        need_cores: f64,
        /// Free cores on the node.
        free_cores: f64,
    },
    /// Expected latency exceeds the function's SLO.
    SloViolated {
        /// Expected latency.
        latency: Nanos,
        /// The objective.
        slo: Nanos,
    },
}

impl fmt::Display for Infeasible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Infeasible::UnsupportedScheme { scheme } => {
                write!(f, "scheme {scheme} is not supported on this host")
            }
            Infeasible::DataElsewhere { node, data } => {
                write!(f, "runs inside {node} but the data lives on {data}")
            }
            Infeasible::SameHostTransport {
                transport,
                node,
                data,
            } => write!(
                f,
                "fetches over {transport}, a same-host transport, from {node} but the data lives \
                 on {data}"
            ),
            Infeasible::DedicatedRefused(DedicatedRefusal::NoArrivals) => {
                f.write_str("dedicated core refused: the function has no arrivals")
            }
            Infeasible::DedicatedRefused(DedicatedRefusal::CannotKeepUp { utilisation }) => {
                write!(
                    f,
                    "dedicated core refused: one core cannot keep up (utilisation {utilisation:.2})"
                )
            }
            Infeasible::DedicatedRefused(other) => write!(f, "dedicated core refused: {other}"),
            Infeasible::NodeFull {
                node,
                need_cores,
                free_cores,
            } => write!(
                f,
                "{node} is full: needs {need_cores:.3} cores, {free_cores:.3} free"
            ),
            Infeasible::SloViolated { latency, slo } => {
                write!(f, "latency {latency} exceeds the slo of {slo}")
            }
        }
    }
}

/// A member's verdict as the ranking stores it; the full [`Infeasible`] is rebuilt when a
/// caller looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reason {
    Feasible,
    DataElsewhere,
    NodeFull,
    /// The verdict of what priced it (its class or its warm-context override): scheme,
    /// dedicated core, SLO.
    Verdict,
}

/// Whether a node has room for a placement's load: the only place this is decided.
///
/// A load of `need` cores fits `free` free cores when `need <= free (1 + 1e-9) + 1e-12` (the
/// slack lets a dedicated core, exactly one core, fit a node with exactly one free). Solved for
/// `free` once per load, the check per node is one comparison: `free >= floor`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Room {
    /// Fewest free cores that admit the load (never negative).
    floor: f64,
}

impl Room {
    /// The room `need` cores take.
    #[inline]
    pub(crate) fn for_need(need: f64) -> Self {
        Room {
            floor: ((need - 1e-12) / (1.0 + 1e-9)).max(0.0),
        }
    }

    /// The room a placement needs: `cpu_ns` per invocation on its side at `rate` per second.
    #[inline]
    pub(crate) fn for_load(cpu: Nanos, rate: PerSecond) -> Self {
        Room::for_need(need_cores(cpu, rate))
    }

    /// True when a node with `free` cores (already checked: finite, not negative) admits it.
    #[inline(always)]
    pub(crate) fn admits(self, free: f64) -> bool {
        free >= self.floor
    }

    /// True when every node with at least `min_free` free cores admits it.
    #[inline(always)]
    pub(crate) fn admits_all(self, min_free: f64) -> bool {
        min_free >= self.floor
    }
}

/// Cores a placement's load needs: CPU per invocation times the rate.
#[inline]
pub(crate) fn need_cores(cpu: Nanos, rate: PerSecond) -> f64 {
    rate.busy_fraction(cpu)
}

/// Checks one node's free cores: finite and not negative.
#[inline(always)]
pub(crate) fn valid_free(free: f64) -> Result<f64, SolverError> {
    if (0.0..=f64::MAX).contains(&free) {
        Ok(free)
    } else {
        Err(bad_free_cores(free))
    }
}

#[cold]
fn bad_free_cores(value: f64) -> SolverError {
    SolverError::InvalidInput {
        field: "state.free_cores",
        expected: "must be finite and >= 0",
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_admits_what_the_rule_admits() {
        let rule = |need: f64, free: f64| need <= free * (1.0 + 1e-9) + 1e-12;
        for need in [
            0.0,
            1e-13,
            0.25,
            1.0,
            1.0 + 1e-12,
            1.5,
            7.999_999_999,
            8.0,
            1e6,
        ] {
            let room = Room::for_need(need);
            for free in [0.0, 0.25, 1.0, 1.5, 8.0, 1e6] {
                assert_eq!(
                    room.admits(free),
                    rule(need, free),
                    "need {need} free {free}"
                );
                assert_eq!(room.admits_all(free), room.admits(free));
            }
        }
        // A dedicated core fits a node with exactly one free core.
        assert!(Room::for_load(Nanos::new(1e9 / 1000.0), PerSecond::new(1000.0)).admits(1.0));
    }

    #[test]
    fn bad_free_cores_are_refused() {
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            let e = valid_free(bad).unwrap_err().to_string();
            assert!(e.starts_with("state.free_cores"), "{e}");
        }
        assert_eq!(valid_free(0.0).unwrap(), 0.0);
    }
}
