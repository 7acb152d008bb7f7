//! The cost equations (DESIGN.md §5, versions 1 and 2) and the cost breakdown they produce.
//!
//! Symbols: `k` records of `s` bytes; request `q` and response `r` bytes; native compute `c` of
//! class `K`; for the transport, per-request CPU `a_c` (client) and `a_s` (server), per-byte
//! `b_c`, `b_s`, round trip `RTT`; for the scheme, warm switch `w`, cold start `z`, record access
//! `g(s) = g0 + s g_b`, slowdown `f_K`; warm-hit probability `h`; batch `B`; multi-get width `m`;
//! storage utilisation `rho`.
//!
//! Inside the storage server (multiplexed):
//! - storage CPU = `a_s/B + b_s(q + r) + dispatch/B + w/B + (1 - h) z + k g(s) + f_K c`
//! - compute CPU = `a_c/B + b_c(q + r)`
//! - latency     = `RTT + queueing + batch wait + dispatch/B + w/B + (1 - h) z + k g(s) + f_K c
//!   + copies`
//!
//! Inside on a dedicated core: no dispatch, switch or cold start per invocation, the server
//! polls its own queue (saturated per-request cost, no wake-ups), and the core's idle time is
//! charged to the function: `reservation = max(0, 1/rate - busy)` per invocation.
//!
//! At a compute node (`n = ceil(k/m)` requests; `rounds = n` for dependent reads, else 1):
//! - storage CPU = `n a_s + k s b_s + k l(s)`
//! - compute CPU = `dispatch + w/B + (1 - h) z + f_K c + n a_c + k s b_c`
//! - latency     = `rounds RTT + queueing + batch wait + compute-side terms + copies`
//!
//! `l(s)` is the storage server's own lookup of a record it sends: the server's measured per-key
//! cost `u` when the transport carries [`crate::ServerRequestTerms`] (measured on the server the
//! operator runs), else `g_0(s)`, the `native` scheme's record access
//! ([`PricedPlacement::lookup`], [`PricedPlacement::lookup_per_byte`]). The crossover's
//! denominator becomes `a_s + s b_s + l(s) - g(s)`, DESIGN.md §5's for `l = 0`.
//!
//! `k g` and `k l` price records read in a run of consecutive keys. A record at a scattered
//! key also pays `g_s` ([`crate::HostProfile::scattered_access`]: one read's latency after the
//! network stack ran, nothing to overlap it). Inside, that is the first record of the
//! invocation's run, or every record of dependent reads; remote, the first record of every
//! request as well (`max(n_s, requests)`): each request's lookup follows its own network work
//! and cannot overlap another request's, whatever its key. (On the 2-vCPU Xeon VM four GETs of
//! consecutive keys cost the server 3.3-4.1x one GET, a premium each.) A server request priced
//! from [`crate::ServerRequestTerms`] is charged `a_s - g_s`
//! ([`PricedPlacement::server_request`]): `calibrate server` fits its terms on requests that
//! each start at a random key, so its per-request cost carries one scattered read, which the
//! model charges through `g_s` instead.
//!
//! The server's per-request cost `a_s`: with [`crate::ServerRequestTerms`],
//! `p + y / requests_per_syscall + w / drained + v * peer_wakeups`
//! ([`Conditions::requests_per_syscall`], [`Conditions::drained_per_wakeup`],
//! [`Conditions::peer_wakeups`]; many unpipelined clients share wake-ups but not system
//! calls, pipelining shares both, and a reply costs the server a cross-core wake-up only when
//! its client sleeps on it), and `b_s` is the server's per value byte; without them the
//! version-1 `processing + wakeup / drained` of [`crate::TransportCosts`].
//! Queueing at storage is M/M/1-like: `rho / (1 - rho)` times the storage service time per visit.
//!
//! Storage CPU, compute CPU and latency are sums over [`TERM_TABLE`], the one place that says
//! which axis each term is charged to and whether it is on the latency path.

mod coeffs;
mod conditions;
mod crossover;
mod terms;

use std::fmt;
use std::num::NonZeroU32;

pub(crate) use coeffs::side_at;
pub use coeffs::{Invocation, SchemeCoeffs, ServerCoeffs, TransportCoeffs};
pub use conditions::Conditions;
pub use crossover::{Crossover, crossover};
pub use terms::{Axis, Charge, PlacementCost, TERM_COUNT, TERM_TABLE, Term, TermRow, Terms};

use crate::error::{CostError, Result};
use crate::placement::{Placement, Regime};
use crate::units::{Bytes, Nanos, NanosPerByte};

/// Why the model refuses to price a placement for an invocation.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Refusal {
    /// A dedicated core was asked for a function with no arrivals (its whole idle time would be
    /// charged to nothing).
    NoArrivals,
    /// The function alone would keep its dedicated core busy all the time.
    CannotKeepUp {
        /// The core's utilisation from this function alone (`>= 1`).
        utilisation: f64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoArrivals => f.write_str("a dedicated core needs arrival rate > 0, got 0"),
            Refusal::CannotKeepUp { utilisation } => write!(
                f,
                "one dedicated core cannot keep up: utilisation {utilisation:.2} >= 1"
            ),
        }
    }
}

/// A placement with its coefficients resolved, ready to be priced without lookups. Built by
/// [`crate::Model::price`] from its checked host, so every coefficient is finite and not
/// negative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PricedPlacement {
    placement: Placement,
    scheme: SchemeCoeffs,
    transport: TransportCoeffs,
    dispatch: Nanos,
    lookup: Nanos,
    lookup_per_byte: NanosPerByte,
    scattered: Nanos,
}

/// What [`PricedPlacement::evaluate`] computes before the storage server's queueing, the only
/// part of a cost that depends on the storage utilisation: from [`PricedPlacement::unqueued`],
/// completed by [`UnqueuedCost::queued`]. A scheduler that prices the same invocation under many
/// utilisations computes this once and completes it per utilisation, with results identical
/// to [`PricedPlacement::evaluate`] bit for bit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnqueuedCost {
    /// Complete but for the queueing term and the latency (complete for a dedicated core).
    cost: PlacementCost,
    regime: Regime,
    /// Multiplexed: storage service time per invocation. Remote: round trips.
    a: f64,
    /// Remote: storage service time per request.
    b: f64,
}

impl UnqueuedCost {
    /// The CPU the storage server spends per invocation (does not depend on utilisation).
    #[inline]
    pub fn storage_cpu(&self) -> Nanos {
        self.cost.storage_cpu
    }

    /// The CPU the compute node or client spends per invocation (does not depend on
    /// utilisation).
    #[inline]
    pub fn compute_cpu(&self) -> Nanos {
        self.cost.compute_cpu
    }

    /// The full cost under `cond`, which must equal the conditions given to
    /// [`PricedPlacement::unqueued`] but for its storage utilisation (only that is read here).
    /// Equal, bit for bit, to [`PricedPlacement::evaluate`] under `cond`.
    #[inline]
    pub fn queued(&self, cond: &Conditions) -> PlacementCost {
        let mut cost = self.cost;
        let rho = cond.storage_utilisation;
        let congestion = rho / (1.0 - rho);
        let wait = match self.regime {
            // `a`: the storage service time per invocation.
            Regime::Multiplexed => congestion * self.a,
            // `a` visits (rounds) of `b`, the storage service time per request.
            Regime::Remote => self.a * congestion * self.b,
            // Its own core's queueing, already priced.
            Regime::DedicatedCore => return cost,
        };
        cost.terms.values[Term::Queueing as usize] = wait;
        // The unqueued latency is the table's sum with no queueing; queueing is on the latency
        // path (TERM_TABLE), so it is added here rather than summing the table again per call.
        cost.latency = Nanos::new(cost.latency.get() + wait);
        cost
    }
}

impl PricedPlacement {
    /// A placement with checked coefficients (the model's host, or a conformance kit's).
    pub(crate) fn from_parts(
        placement: Placement,
        scheme: SchemeCoeffs,
        transport: TransportCoeffs,
        dispatch: Nanos,
        (lookup, lookup_per_byte): (Nanos, NanosPerByte),
        scattered: Nanos,
    ) -> Self {
        PricedPlacement {
            placement,
            scheme,
            transport,
            dispatch,
            lookup,
            lookup_per_byte,
            scattered,
        }
    }

    /// The placement.
    #[inline]
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The same priced placement with batches of `b` invocations (the coefficients do not
    /// depend on the batch).
    #[inline]
    pub fn with_batch(mut self, b: NonZeroU32) -> Self {
        self.placement.batch = b;
        self
    }

    /// The same priced placement with `m` keys per multi-get (the coefficients do not depend on
    /// it).
    #[inline]
    pub fn with_multiget(mut self, m: NonZeroU32) -> Self {
        self.placement.multiget = m;
        self
    }

    /// Its scheme's coefficients.
    #[inline]
    pub fn scheme(&self) -> &SchemeCoeffs {
        &self.scheme
    }

    /// Its transport's coefficients.
    #[inline]
    pub fn transport(&self) -> &TransportCoeffs {
        &self.transport
    }

    /// CPU to dispatch one invocation to a multiplexed context.
    #[inline]
    pub fn dispatch(&self) -> Nanos {
        self.dispatch
    }

    /// CPU the storage server spends finding one record it serves to a remote fetch (`g_0`;
    /// [`crate::Model`] uses the `native` scheme's local access). Not read when the transport
    /// has [`ServerCoeffs`], whose per-key cost is the server's own lookup.
    #[inline]
    pub fn lookup(&self) -> Nanos {
        self.lookup
    }

    /// The lookup's cost per record byte (`g_0`'s `g_b`; [`crate::Model`] uses the `native`
    /// scheme's `local_access_per_byte`, zero when not measured).
    #[inline]
    pub fn lookup_per_byte(&self) -> NanosPerByte {
        self.lookup_per_byte
    }

    /// Extra CPU for a record read at a scattered key rather than in a run (`g_s`, from
    /// [`crate::HostProfile::scattered_access`]; zero when not measured).
    #[inline]
    pub fn scattered(&self) -> Nanos {
        self.scattered
    }

    /// CPU the storage server spends reading the invocation's records inside the placement's
    /// context: `k g(s) + n_s g_s`, with `g(s) = g0 + s g_b` and `n_s` the scattered reads (the
    /// first record of a run, or every record of dependent reads).
    #[inline]
    pub fn inside_access(&self, inv: &Invocation) -> Nanos {
        self.scheme.local_access_at(inv.record_bytes()) * inv.records()
            + self.scattered * inv.scattered_reads()
    }

    /// CPU the storage server spends finding one record of `record_bytes` it sends to a remote
    /// fetch, `l(s)`: the server's per-key cost when measured, else `g_0 + s g_0b`.
    #[inline]
    pub fn remote_lookup(&self, record_bytes: Bytes) -> Nanos {
        match self.transport.server_terms() {
            Some(t) => t.per_key(),
            None => self.lookup + record_bytes * self.lookup_per_byte,
        }
    }

    /// The server's (per-request, per-byte) CPU for one request with `drained` requests per
    /// wake-up under `cond`: [`TransportCoeffs::server_under`], less the scattered-read premium
    /// `g_s` when the transport carries [`ServerCoeffs`] (not below zero). `calibrate server`'s
    /// requests each start at a random key, so the per-request cost it fits includes one
    /// scattered read; the model charges `g_s` per scattered read of the invocation instead
    /// (the first record of every request, or every record of dependent reads), so without
    /// this a one-key fetch paid it twice.
    #[inline]
    pub fn server_request(&self, drained: f64, cond: &Conditions) -> (Nanos, NanosPerByte) {
        let (a_s, b_s) = self.transport.server_under(drained, cond);
        match self.transport.server_terms() {
            Some(_) => (Nanos::new((a_s - self.scattered).get().max(0.0)), b_s),
            None => (a_s, b_s),
        }
    }

    /// Why the model refuses this placement for `inv`, or `None` when it prices it. The same
    /// check [`PricedPlacement::evaluate`] makes, without building an error message.
    #[inline]
    pub fn refusal(&self, inv: &Invocation, cond: &Conditions) -> Option<Refusal> {
        self.try_unqueued(inv, cond).err()
    }

    /// Prices one invocation under `cond`.
    ///
    /// # Errors
    /// [`CostError::Refused`] when a dedicated core is asked for a function with no arrivals,
    /// or when the function alone would saturate its dedicated core.
    #[inline]
    pub fn evaluate(&self, inv: &Invocation, cond: &Conditions) -> Result<PlacementCost> {
        Ok(self.unqueued(inv, cond)?.queued(cond))
    }

    /// Everything [`PricedPlacement::evaluate`] computes but the storage queueing, which
    /// [`UnqueuedCost::queued`] adds for a given utilisation (`cond`'s utilisation is not read).
    ///
    /// # Errors
    /// As [`PricedPlacement::evaluate`].
    #[inline]
    pub fn unqueued(&self, inv: &Invocation, cond: &Conditions) -> Result<UnqueuedCost> {
        self.try_unqueued(inv, cond)
            .map_err(|refusal| CostError::Refused {
                placement: self.placement.to_string(),
                refusal,
            })
    }

    /// [`PricedPlacement::unqueued`] with the model's refusal as a value.
    ///
    /// # Errors
    /// The [`Refusal`] when the model refuses the placement for `inv`.
    #[inline]
    pub fn try_unqueued(
        &self,
        inv: &Invocation,
        cond: &Conditions,
    ) -> std::result::Result<UnqueuedCost, Refusal> {
        let p = &self.placement;
        let s = &self.scheme;
        let t = &self.transport;
        let batch = f64::from(p.batch.get());
        let k = inv.records();
        let rate = inv.rate();
        let mut v = [0.0f64; TERM_COUNT];
        let compute = (inv.compute() * s.slowdown_for(inv.class())).get();
        let cold = (1.0 - cond.warm_hit) * s.cold_start().get();
        // Latency-only: waiting for B - 1 other invocations to arrive.
        if batch > 1.0 && rate.get() > 0.0 {
            v[Term::BatchWait as usize] = (batch - 1.0) / 2.0 * 1e9 / rate.get();
        }
        let (bytes, a, b);
        let (a_c, b_c) = t.client(cond.drained_per_wakeup);
        v[Term::Compute as usize] = compute;
        v[Term::RoundTrips as usize] = t.round_trip().get();
        match p.regime {
            Regime::Multiplexed | Regime::DedicatedCore => {
                let dedicated = p.regime == Regime::DedicatedCore;
                // A dedicated core polls its own queue: it never sleeps.
                let drained = if dedicated {
                    f64::INFINITY
                } else {
                    cond.drained_per_wakeup
                };
                let (a_s, b_s) = self.server_request(drained, cond);
                let message = inv.message_bytes();
                v[Term::ServerRequest as usize] = (a_s / batch).get();
                v[Term::ServerBytes as usize] = (b_s * message).get();
                v[Term::ClientRequest as usize] = (a_c / batch).get();
                v[Term::ClientBytes as usize] = (b_c * message).get();
                v[Term::LocalAccess as usize] = self.inside_access(inv).get();
                if !dedicated {
                    v[Term::Dispatch as usize] = (self.dispatch / batch).get();
                    v[Term::WarmSwitch as usize] = (s.warm_invoke() / batch).get();
                    v[Term::ColdStart as usize] = cold;
                }
                bytes = message;
                (a, b) = (0.0, 0.0);
            }
            Regime::Remote => {
                let m = f64::from(p.multiget.get());
                let requests = (k / m).ceil();
                let rounds = if inv.dependent_reads() {
                    requests
                } else {
                    requests.min(1.0)
                };
                let moved = inv.record_bytes() * k;
                let (a_s, b_s) = self.server_request(cond.drained_per_wakeup, cond);
                v[Term::ServerRequest as usize] = (a_s * requests).get();
                v[Term::ServerBytes as usize] = (b_s * moved).get();
                v[Term::ClientRequest as usize] = (a_c * requests).get();
                v[Term::ClientBytes as usize] = (b_c * moved).get();
                v[Term::Dispatch as usize] = (self.dispatch / batch).get();
                v[Term::WarmSwitch as usize] = (s.warm_invoke() / batch).get();
                v[Term::ColdStart as usize] = cold;
                v[Term::LocalAccess as usize] = (self.remote_lookup(inv.record_bytes()) * k
                    + self.scattered * remote_scattered_reads(inv, requests))
                .get();
                v[Term::RoundTrips as usize] *= rounds;
                bytes = moved;
                (a, b) = (rounds, requests);
            }
        }
        let mut terms = Terms {
            values: v,
            side: p.regime.side(),
        };
        // Storage service time per invocation (before any reservation).
        let busy = terms.total(Axis::StorageCpu).get();
        if p.regime == Regime::DedicatedCore {
            if !(rate.get() > 0.0) {
                return Err(Refusal::NoArrivals);
            }
            let own = rate.busy_fraction(Nanos::new(busy));
            if own >= 1.0 {
                return Err(Refusal::CannotKeepUp { utilisation: own });
            }
            terms.values[Term::Reservation as usize] = (rate.mean_interval().get() - busy).max(0.0);
            terms.values[Term::Queueing as usize] = own / (1.0 - own) * busy;
        }
        let (a, b) = match p.regime {
            Regime::Multiplexed | Regime::DedicatedCore => (busy, 0.0),
            // Queueing per visit: `rounds` visits of the storage service time per request.
            Regime::Remote => (a, if b > 0.0 { busy / b } else { 0.0 }),
        };
        Ok(UnqueuedCost {
            cost: PlacementCost {
                storage_cpu: terms.total(Axis::StorageCpu),
                compute_cpu: terms.total(Axis::ComputeCpu),
                network_bytes: bytes,
                latency: terms.latency(),
                terms,
            },
            regime: p.regime,
            a,
            b,
        })
    }

    pub(crate) fn bad(&self, message: &str) -> CostError {
        CostError::BadPlacement {
            placement: self.placement.to_string(),
            message: message.to_owned(),
        }
    }
}

/// Records a remote fetch reads at a scattered key in the server: the first of every request
/// (`requests` of them), or every record of dependent reads (`max(n_s, requests)`).
#[inline]
pub(crate) fn remote_scattered_reads(inv: &Invocation, requests: f64) -> f64 {
    inv.scattered_reads().max(requests)
}
