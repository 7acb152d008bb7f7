//! The named terms of a cost, the one table that says where each is charged, and the totals
//! derived from it.

use std::fmt;

use crate::placement::Side;
use crate::units::{Bytes, Nanos};

/// A named term of a cost breakdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Term {
    /// Storage server's per-request CPU (`a_s`, times requests; with a real server's terms
    /// `p + y / requests_per_syscall + w / requests_per_wakeup`).
    ServerRequest,
    /// Storage server's per-byte CPU.
    ServerBytes,
    /// Client's or compute node's per-request CPU (`a_c`).
    ClientRequest,
    /// Client's or compute node's per-byte CPU.
    ClientBytes,
    /// Handing the invocation to a context.
    Dispatch,
    /// Entering and leaving a warm context (`w`).
    WarmSwitch,
    /// Expected cold start (`(1 - h) z`).
    ColdStart,
    /// Reading records: from inside the context (`k g(s)`, `g(s) = g0 + s g_b`), or, for a
    /// remote fetch, the storage server finding the records it sends (`k l(s)`: the server's
    /// measured per-key cost, else the native lookup `g_0(s)`); plus the scattered-read premium.
    LocalAccess,
    /// The function's own compute under the scheme (`f c`).
    Compute,
    /// Idle time of a dedicated core charged to the function.
    Reservation,
    /// Network round trips on the latency path.
    RoundTrips,
    /// Waiting in the storage server's queue.
    Queueing,
    /// Waiting for a batch to fill.
    BatchWait,
}

/// Number of [`Term`] variants.
pub const TERM_COUNT: usize = 13;

impl Term {
    /// Every term, in declaration order.
    pub const ALL: [Term; TERM_COUNT] = [
        Term::ServerRequest,
        Term::ServerBytes,
        Term::ClientRequest,
        Term::ClientBytes,
        Term::Dispatch,
        Term::WarmSwitch,
        Term::ColdStart,
        Term::LocalAccess,
        Term::Compute,
        Term::Reservation,
        Term::RoundTrips,
        Term::Queueing,
        Term::BatchWait,
    ];

    /// A short name for explanations.
    pub fn name(self) -> &'static str {
        match self {
            Term::ServerRequest => "server per-request",
            Term::ServerBytes => "server per-byte",
            Term::ClientRequest => "client per-request",
            Term::ClientBytes => "client per-byte",
            Term::Dispatch => "dispatch",
            Term::WarmSwitch => "warm switch",
            Term::ColdStart => "cold start",
            Term::LocalAccess => "local access",
            Term::Compute => "compute",
            Term::Reservation => "core reservation",
            Term::RoundTrips => "round trips",
            Term::Queueing => "queueing",
            Term::BatchWait => "batch wait",
        }
    }

    /// True for terms that are latency only, not CPU.
    pub fn is_latency_only(self) -> bool {
        self.row().charge == Charge::LatencyOnly
    }

    /// True when the term lies on an invocation's latency path.
    pub fn on_latency_path(self) -> bool {
        self.row().on_latency_path
    }

    /// This term's row of [`TERM_TABLE`].
    #[inline]
    pub fn row(self) -> &'static TermRow {
        &TERM_TABLE[self as usize]
    }
}

/// Which CPU a term is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Always the storage server's CPU.
    Storage,
    /// Always the compute node's (or client's) CPU.
    Compute,
    /// The CPU of the side the placement's context runs on (storage inside, compute remote).
    Context,
    /// No CPU: latency only.
    LatencyOnly,
}

/// One row of [`TERM_TABLE`]: where a term is charged and whether it delays the invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TermRow {
    /// The term.
    pub term: Term,
    /// Which CPU it is charged to.
    pub charge: Charge,
    /// True when it lies on the latency path. The server's and the client's per-request CPU
    /// are inside the round trip, and a dedicated core's idle time delays no one.
    pub on_latency_path: bool,
}

/// Which terms count towards each axis, per side of the context: [`TERM_TABLE`] unrolled at
/// compile time (indexed `[side][axis][term]`), so a total is a fixed-length masked sum.
const MASKS: [[[bool; TERM_COUNT]; 3]; 2] = [masks(Side::Storage), masks(Side::Compute)];

const fn masks(side: Side) -> [[bool; TERM_COUNT]; 3] {
    let mut m = [[false; TERM_COUNT]; 3];
    let mut i = 0;
    while i < TERM_COUNT {
        let r = &TERM_TABLE[i];
        let axis = match r.charge {
            Charge::Storage => Some(Axis::StorageCpu),
            Charge::Compute => Some(Axis::ComputeCpu),
            Charge::Context => match side {
                Side::Storage => Some(Axis::StorageCpu),
                Side::Compute => Some(Axis::ComputeCpu),
            },
            Charge::LatencyOnly => None,
        };
        if let Some(a) = axis {
            m[a as usize][i] = true;
        }
        m[Axis::Latency as usize][i] = r.on_latency_path;
        i += 1;
    }
    m
}

const fn row(term: Term, charge: Charge, on_latency_path: bool) -> TermRow {
    TermRow {
        term,
        charge,
        on_latency_path,
    }
}

/// Every term's axis and latency-path membership, in [`Term`] declaration order (so
/// `TERM_TABLE[t as usize].term == t`). Storage CPU, compute CPU and latency are sums over this
/// table ([`Terms::total`], [`Terms::latency`]): a new term is one variant and one row.
pub const TERM_TABLE: [TermRow; TERM_COUNT] = [
    row(Term::ServerRequest, Charge::Storage, false),
    row(Term::ServerBytes, Charge::Storage, true),
    row(Term::ClientRequest, Charge::Compute, false),
    row(Term::ClientBytes, Charge::Compute, true),
    row(Term::Dispatch, Charge::Context, true),
    row(Term::WarmSwitch, Charge::Context, true),
    row(Term::ColdStart, Charge::Context, true),
    row(Term::LocalAccess, Charge::Storage, true),
    row(Term::Compute, Charge::Context, true),
    row(Term::Reservation, Charge::Storage, false),
    row(Term::RoundTrips, Charge::LatencyOnly, true),
    row(Term::Queueing, Charge::LatencyOnly, true),
    row(Term::BatchWait, Charge::LatencyOnly, true),
];

/// Which total a term contributes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Storage-server CPU.
    StorageCpu,
    /// Compute-node (or client) CPU.
    ComputeCpu,
    /// End-to-end latency.
    Latency,
}

/// The named terms of one placement's cost, without allocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms {
    pub(super) values: [f64; TERM_COUNT],
    pub(super) side: Side,
}

impl Terms {
    /// The value of `term` (zero when it does not apply).
    pub fn get(&self, term: Term) -> Nanos {
        Nanos::new(self.values[term as usize])
    }

    /// The CPU axis `term` was charged to, or `Latency` for latency-only terms.
    #[inline]
    pub fn axis_of(&self, term: Term) -> Axis {
        match term.row().charge {
            Charge::Storage => Axis::StorageCpu,
            Charge::Compute => Axis::ComputeCpu,
            Charge::Context => match self.side {
                Side::Storage => Axis::StorageCpu,
                Side::Compute => Axis::ComputeCpu,
            },
            Charge::LatencyOnly => Axis::Latency,
        }
    }

    /// The sum of the terms charged to `axis` (for `Latency`, of every term on the latency
    /// path), in declaration order.
    #[inline]
    pub fn total(&self, axis: Axis) -> Nanos {
        let mask = &MASKS[self.side as usize][axis as usize];
        let mut sum = 0.0;
        for (v, counts) in self.values.iter().zip(mask) {
            // Adding +0.0 leaves a sum of non-negative terms unchanged, bit for bit.
            sum += if *counts { *v } else { 0.0 };
        }
        Nanos::new(sum)
    }

    /// Expected latency: the sum of every term on the latency path.
    #[inline]
    pub fn latency(&self) -> Nanos {
        self.total(Axis::Latency)
    }

    /// Non-zero terms with their values, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (Term, Nanos)> + '_ {
        Term::ALL
            .into_iter()
            .map(|t| (t, self.get(t)))
            .filter(|(_, v)| v.get() != 0.0)
    }

    /// The (up to) three largest terms charged to `axis`, largest first. For `Latency`, every
    /// term on the latency path counts.
    pub fn top(&self, axis: Axis) -> [Option<(Term, Nanos)>; 3] {
        let mut best: [Option<(Term, Nanos)>; 3] = [None; 3];
        for t in Term::ALL {
            let v = self.values[t as usize];
            let counts = match axis {
                Axis::Latency => t.on_latency_path(),
                a => self.axis_of(t) == a,
            };
            if !counts || v <= 0.0 {
                continue;
            }
            let mut item = Some((t, Nanos::new(v)));
            for slot in best.iter_mut() {
                match (*slot, item) {
                    (None, _) => {
                        *slot = item;
                        break;
                    }
                    (Some((_, sv)), Some((_, iv))) if iv.get() > sv.get() => {
                        std::mem::swap(slot, &mut item);
                    }
                    _ => {}
                }
            }
        }
        best
    }
}

/// The cost of running one invocation under one placement: totals and the terms behind them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacementCost {
    /// CPU the storage server spends per invocation.
    pub storage_cpu: Nanos,
    /// CPU the compute node or client spends per invocation.
    pub compute_cpu: Nanos,
    /// Bytes that cross the network between storage and compute per invocation.
    pub network_bytes: Bytes,
    /// Expected end-to-end latency of one invocation.
    pub latency: Nanos,
    /// The named terms that produced the totals.
    pub terms: Terms,
}

impl PlacementCost {
    /// Storage plus compute CPU.
    pub fn total_cpu(&self) -> Nanos {
        self.storage_cpu + self.compute_cpu
    }
}

impl fmt::Display for PlacementCost {
    /// One line per axis with its three largest terms:
    /// `storage 14.2 us (server per-request 9.1 us, compute 3.0 us, ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let axes = [
            ("storage cpu", self.storage_cpu, Axis::StorageCpu),
            ("compute cpu", self.compute_cpu, Axis::ComputeCpu),
            ("latency", self.latency, Axis::Latency),
        ];
        for (i, (name, total, axis)) in axes.into_iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name} {total}")?;
            let top = self.terms.top(axis);
            let mut first = true;
            for (t, v) in top.into_iter().flatten() {
                f.write_str(if first { " (" } else { ", " })?;
                first = false;
                write!(f, "{} {v}", t.name())?;
            }
            if !first {
                f.write_str(")")?;
            }
        }
        write!(f, "; network {}", self.network_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_term_in_declaration_order() {
        for (i, t) in Term::ALL.into_iter().enumerate() {
            assert_eq!(TERM_TABLE[i].term, t);
            assert_eq!(t as usize, i);
        }
        // Latency-only terms are on the latency path and charged to no CPU.
        for r in &TERM_TABLE {
            assert!(
                r.charge != Charge::LatencyOnly || r.on_latency_path,
                "{:?}",
                r.term
            );
        }
    }

    #[test]
    fn totals_follow_the_table_for_each_side() {
        let values = std::array::from_fn(|i| (1u64 << i) as f64);
        let inside = Terms {
            values,
            side: Side::Storage,
        };
        let remote = Terms {
            values,
            side: Side::Compute,
        };
        let bits = |ts: &[Term]| ts.iter().map(|t| (1u64 << *t as usize) as f64).sum::<f64>();
        let context = [
            Term::Dispatch,
            Term::WarmSwitch,
            Term::ColdStart,
            Term::Compute,
        ];
        let storage = [
            Term::ServerRequest,
            Term::ServerBytes,
            Term::LocalAccess,
            Term::Reservation,
        ];
        let client = [Term::ClientRequest, Term::ClientBytes];
        assert_eq!(
            inside.total(Axis::StorageCpu).get(),
            bits(&storage) + bits(&context)
        );
        assert_eq!(inside.total(Axis::ComputeCpu).get(), bits(&client));
        assert_eq!(remote.total(Axis::StorageCpu).get(), bits(&storage));
        assert_eq!(
            remote.total(Axis::ComputeCpu).get(),
            bits(&client) + bits(&context)
        );
        let off_path = bits(&[Term::ServerRequest, Term::ClientRequest, Term::Reservation]);
        assert_eq!(inside.latency().get(), bits(&Term::ALL) - off_path);
    }
}
