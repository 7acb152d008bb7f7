//! The version-1 cost equations (DESIGN.md §5) and the cost breakdown they produce.
//!
//! Symbols: `k` records of `s` bytes; request `q` and response `r` bytes; native compute `c`;
//! for the transport, per-request CPU `a_c` (client) and `a_s` (server), per-byte `b_c`, `b_s`,
//! round trip `RTT`; for the scheme, warm switch `w`, cold start `z`, local access `g`, slowdown
//! `f`; warm-hit probability `h`; batch `B`; multi-get width `m`; storage utilisation `rho`.
//!
//! Inside the storage server (multiplexed):
//! - storage CPU = `a_s/B + b_s(q + r) + dispatch/B + w/B + (1 - h) z + k g + f c`
//! - compute CPU = `a_c/B + b_c(q + r)`
//! - latency     = `RTT + queueing + batch wait + dispatch/B + w/B + (1 - h) z + k g + f c + copies`
//!
//! Inside on a dedicated core: no dispatch, switch or cold start per invocation, the server
//! polls its own queue (saturated per-request cost), and the core's idle time is charged to the
//! function: `reservation = max(0, 1/rate - busy)` per invocation.
//!
//! At a compute node (`n = ceil(k/m)` requests; `rounds = n` for dependent reads, else 1):
//! - storage CPU = `n a_s + k s b_s + k g_0`
//! - compute CPU = `dispatch + w/B + (1 - h) z + f c + n a_c + k s b_c`
//! - latency     = `rounds RTT + queueing + batch wait + compute-side terms + copies`
//!
//! `g_0` is the storage server's own lookup of a record it sends ([`PricedPlacement::lookup`]:
//! the `native` scheme's local access when the model knows one). A GET has to find its record
//! as surely as a function inside does; without this term a remote fetch was priced as an echo,
//! and the storage-server experiment under-predicted every GET by about that much. The
//! crossover's denominator becomes `a_s + s b_s + g_0 - g`, DESIGN.md §5's for `g_0 = 0`.
//!
//! `k g` and `k g_0` price records read in a run of consecutive keys. A record at a scattered
//! key (the first of an invocation's run; every record of dependent reads) also pays `g_s`
//! ([`crate::HostProfile::scattered_access`]), inside and remote alike, so it moves both sides
//! and not the crossover.
//!
//! The server's per-request cost is `processing + wakeup / drained` (see
//! [`crate::TransportCosts`]); [`Conditions::drained_per_wakeup`] says which regime to expect.
//! Queueing at storage is M/M/1-like: `rho / (1 - rho)` times the storage service time per visit.

use std::fmt;

use crate::error::{CostError, Result};
use crate::placement::{Placement, Regime, Side};
use crate::profile::{IsolationCosts, TransportCosts};
use crate::units::{Bytes, Nanos};
use crate::validate::Check;
use crate::workload::WorkloadProfile;

/// A named term of a cost breakdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Term {
    /// Storage server's per-request CPU (`a_s`, times requests).
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
    /// Reading records: from inside the context (`k g`), or, for a remote fetch, the storage
    /// server finding the records it sends (`k g_0`); plus the scattered-read premium.
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
        matches!(self, Term::RoundTrips | Term::Queueing | Term::BatchWait)
    }
}

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
    values: [f64; TERM_COUNT],
    side: Side,
}

impl Terms {
    /// The value of `term` (zero when it does not apply).
    pub fn get(&self, term: Term) -> Nanos {
        Nanos::new(self.values[term as usize])
    }

    /// The CPU axis `term` was charged to, or `Latency` for latency-only terms.
    pub fn axis_of(&self, term: Term) -> Axis {
        match term {
            Term::ServerRequest | Term::ServerBytes | Term::LocalAccess | Term::Reservation => {
                Axis::StorageCpu
            }
            Term::ClientRequest | Term::ClientBytes => Axis::ComputeCpu,
            Term::Dispatch | Term::WarmSwitch | Term::ColdStart | Term::Compute => {
                match self.side {
                    Side::Storage => Axis::StorageCpu,
                    Side::Compute => Axis::ComputeCpu,
                }
            }
            Term::RoundTrips | Term::Queueing | Term::BatchWait => Axis::Latency,
        }
    }

    /// True when `term` lies on the latency path.
    fn on_latency_path(term: Term) -> bool {
        !matches!(
            term,
            Term::ServerRequest | Term::ClientRequest | Term::Reservation
        )
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
                Axis::Latency => Self::on_latency_path(t),
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

/// The runtime conditions an invocation is priced under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions {
    warm_hit: f64,
    storage_utilisation: f64,
    drained_per_wakeup: f64,
    requests_per_syscall: f64,
}

impl Default for Conditions {
    /// Warm contexts, idle storage, one request per wake-up (ping-pong), one request per system
    /// call (no pipelining).
    fn default() -> Self {
        Conditions {
            warm_hit: 1.0,
            storage_utilisation: 0.0,
            drained_per_wakeup: 1.0,
            requests_per_syscall: 1.0,
        }
    }
}

impl Conditions {
    /// Conditions with warm-hit probability `h` in `[0, 1]`, storage utilisation `rho` in
    /// `[0, 1)`, and `drained >= 1` requests handled per server wake-up.
    ///
    /// # Errors
    /// [`CostError::Invalid`] naming the parameter that is NaN or out of range.
    #[inline]
    pub fn new(warm_hit: f64, storage_utilisation: f64, drained_per_wakeup: f64) -> Result<Self> {
        // The accepted set below, without building a `Check` (each range excludes NaN and
        // infinities).
        if (0.0..=1.0).contains(&warm_hit)
            && (0.0..1.0).contains(&storage_utilisation)
            && (1.0..=f64::MAX).contains(&drained_per_wakeup)
        {
            return Ok(Conditions {
                warm_hit,
                storage_utilisation,
                drained_per_wakeup,
                requests_per_syscall: 1.0,
            });
        }
        Self::checked(warm_hit, storage_utilisation, drained_per_wakeup)
    }

    /// [`Conditions::new`] with an error naming the first bad parameter.
    #[cold]
    fn checked(warm_hit: f64, storage_utilisation: f64, drained_per_wakeup: f64) -> Result<Self> {
        let c = Check::new("conditions");
        c.within("warm_hit", warm_hit, 0.0, 1.0)?;
        c.finite("storage_utilisation", storage_utilisation)?;
        if !(0.0..1.0).contains(&storage_utilisation) {
            return Err(c.fail(
                "storage_utilisation",
                format!("must be in [0, 1), got {storage_utilisation}"),
            ));
        }
        c.finite("drained_per_wakeup", drained_per_wakeup)?;
        if drained_per_wakeup < 1.0 {
            return Err(c.fail(
                "drained_per_wakeup",
                format!("must be >= 1, got {drained_per_wakeup}"),
            ));
        }
        Ok(Conditions {
            warm_hit,
            storage_utilisation,
            drained_per_wakeup,
            requests_per_syscall: 1.0,
        })
    }

    /// Probability `h` that a warm context is available.
    pub fn warm_hit(&self) -> f64 {
        self.warm_hit
    }

    /// Storage server utilisation `rho`.
    pub fn storage_utilisation(&self) -> f64 {
        self.storage_utilisation
    }

    /// Requests the server handles per wake-up (1 = ping-pong; large = saturated).
    pub fn drained_per_wakeup(&self) -> f64 {
        self.drained_per_wakeup
    }

    /// Requests that share one read and one write system call at the server (the pipelining
    /// depth; 1 = none). Only transports with [`crate::ServerRequestTerms`] read it.
    pub fn requests_per_syscall(&self) -> f64 {
        self.requests_per_syscall
    }

    /// The same conditions with warm-hit probability `h`.
    ///
    /// # Errors
    /// As [`Conditions::new`].
    pub fn with_warm_hit(self, h: f64) -> Result<Self> {
        Conditions::new(h, self.storage_utilisation, self.drained_per_wakeup)
            .map(|c| c.keep_pipelining(self))
    }

    /// The same conditions with storage utilisation `rho`.
    ///
    /// # Errors
    /// As [`Conditions::new`].
    pub fn with_utilisation(self, rho: f64) -> Result<Self> {
        Conditions::new(self.warm_hit, rho, self.drained_per_wakeup)
            .map(|c| c.keep_pipelining(self))
    }

    /// The same conditions with `drained` requests per wake-up.
    ///
    /// # Errors
    /// As [`Conditions::new`].
    pub fn with_drained(self, drained: f64) -> Result<Self> {
        Conditions::new(self.warm_hit, self.storage_utilisation, drained)
            .map(|c| c.keep_pipelining(self))
    }

    /// The same conditions with `n >= 1` requests per server system call (pipelining depth).
    ///
    /// # Errors
    /// [`CostError::Invalid`] naming `requests_per_syscall` when `n` is NaN, infinite or < 1.
    pub fn with_requests_per_syscall(self, n: f64) -> Result<Self> {
        if !(1.0..=f64::MAX).contains(&n) {
            let c = Check::new("conditions");
            c.finite("requests_per_syscall", n)?;
            return Err(c.fail("requests_per_syscall", format!("must be >= 1, got {n}")));
        }
        Ok(Conditions {
            requests_per_syscall: n,
            ..self
        })
    }

    fn keep_pipelining(self, from: Conditions) -> Self {
        Conditions {
            requests_per_syscall: from.requests_per_syscall,
            ..self
        }
    }
}

/// A validated workload reduced to the numbers the equations use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Invocation {
    /// Records read (`k`).
    pub records: f64,
    /// Bytes per record (`s`).
    pub record_bytes: f64,
    /// Request plus response bytes (`q + r`).
    pub message_bytes: f64,
    /// Native compute (`c`), ns.
    pub compute_ns: f64,
    /// Arrival rate, per second.
    pub rate: f64,
    /// Reads depend on each other.
    pub dependent_reads: bool,
}

impl Invocation {
    /// Reduces a workload profile (validating it).
    ///
    /// # Errors
    /// [`CostError::Invalid`] for the first bad field.
    pub fn from_profile(w: &WorkloadProfile) -> Result<Self> {
        w.validate("workload")?;
        Ok(Invocation {
            records: w.records_per_invocation,
            record_bytes: w.record_bytes.get(),
            message_bytes: w.request_bytes.get() + w.response_bytes.get(),
            compute_ns: w.compute.native().get(),
            rate: w.arrival.rate.get(),
            dependent_reads: w.dependent_reads,
        })
    }

    /// The same invocation reading `k` records.
    pub fn with_records(self, k: f64) -> Self {
        Invocation { records: k, ..self }
    }

    /// The same invocation with native compute `c`.
    pub fn with_compute(self, c: Nanos) -> Self {
        Invocation {
            compute_ns: c.get(),
            ..self
        }
    }
}

/// A scheme's costs reduced to point values (`w`, `z`, `g`, `f`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SchemeCoeffs {
    /// Warm switch, ns.
    pub warm_invoke: f64,
    /// Cold start, ns.
    pub cold_start: f64,
    /// Local access per record, ns.
    pub local_access: f64,
    /// Compute slowdown factor.
    pub slowdown: f64,
    /// Whether the scheme runs on this host.
    pub supported: bool,
}

impl From<&IsolationCosts> for SchemeCoeffs {
    fn from(c: &IsolationCosts) -> Self {
        SchemeCoeffs {
            warm_invoke: c.warm_invoke.value(),
            cold_start: c.cold_start.value(),
            local_access: c.local_access.value(),
            slowdown: c.slowdown.value(),
            supported: c.support.is_supported(),
        }
    }
}

/// A transport's costs reduced to point values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransportCoeffs {
    server_unloaded: (f64, f64),
    server_saturated: (f64, f64),
    client_unloaded: (f64, f64),
    client_saturated: (f64, f64),
    round_trip: f64,
}

impl From<&TransportCosts> for TransportCoeffs {
    fn from(t: &TransportCosts) -> Self {
        let pair = |s: &crate::profile::SideCosts| (s.per_request.value(), s.per_byte.value());
        let idle = t.idle_end();
        TransportCoeffs {
            server_unloaded: pair(&idle.server),
            server_saturated: pair(&t.saturated.server),
            client_unloaded: pair(&idle.client),
            client_saturated: pair(&t.saturated.client),
            round_trip: t.unloaded.round_trip.value(),
        }
    }
}

/// Records of `inv` read at a scattered key: every record of dependent reads (each key comes from
/// the record before), else the first of the run (`min(k, 1)`).
#[inline]
fn scattered_reads(inv: &Invocation) -> f64 {
    if inv.dependent_reads {
        inv.records
    } else {
        inv.records.min(1.0)
    }
}

/// `sat + (unloaded - sat) / drained` per coefficient, never below the saturated value.
#[inline]
fn at_drain(unloaded: (f64, f64), sat: (f64, f64), drained: f64) -> (f64, f64) {
    let inv = 1.0 / drained;
    (
        sat.0.min(unloaded.0) + (unloaded.0 - sat.0).max(0.0) * inv,
        sat.1.min(unloaded.1) + (unloaded.1 - sat.1).max(0.0) * inv,
    )
}

impl TransportCoeffs {
    /// Server (per-request ns, per-byte ns) with `drained` requests per wake-up.
    #[inline]
    pub fn server(&self, drained: f64) -> (f64, f64) {
        at_drain(self.server_unloaded, self.server_saturated, drained)
    }

    /// Client (per-request ns, per-byte ns) with `drained` responses per wake-up.
    #[inline]
    pub fn client(&self, drained: f64) -> (f64, f64) {
        at_drain(self.client_unloaded, self.client_saturated, drained)
    }

    /// Unloaded round-trip latency, ns.
    pub fn round_trip(&self) -> f64 {
        self.round_trip
    }
}

/// A placement with its coefficients resolved, ready to be priced without lookups.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PricedPlacement {
    /// The placement.
    pub placement: Placement,
    /// Its scheme's coefficients.
    pub scheme: SchemeCoeffs,
    /// Its transport's coefficients.
    pub transport: TransportCoeffs,
    /// CPU to dispatch one invocation to a multiplexed context, ns.
    pub dispatch: f64,
    /// CPU the storage server spends finding one record it serves to a remote fetch, ns
    /// (`g_0`; [`crate::Model`] uses the `native` scheme's local access).
    pub lookup: f64,
    /// Extra CPU for a record read at a scattered key rather than in a run, ns (`g_s`, from
    /// [`crate::HostProfile::scattered_access`]; zero when not measured).
    pub scattered: f64,
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
        let v = &mut cost.terms.values;
        match self.regime {
            Regime::Multiplexed => {
                let busy = self.a;
                let wait = congestion * busy;
                v[Term::Queueing as usize] = wait;
                cost.latency = Nanos::new(
                    v[Term::RoundTrips as usize] + wait + v[Term::BatchWait as usize] + busy
                        - v[Term::ServerRequest as usize]
                        + v[Term::ClientBytes as usize],
                );
            }
            Regime::Remote => {
                v[Term::Queueing as usize] = self.a * congestion * self.b;
                cost.latency = Nanos::new(
                    v[Term::RoundTrips as usize]
                        + v[Term::Queueing as usize]
                        + v[Term::BatchWait as usize]
                        + v[Term::ServerBytes as usize]
                        + v[Term::LocalAccess as usize]
                        + v[Term::ClientBytes as usize]
                        + v[Term::Dispatch as usize]
                        + v[Term::WarmSwitch as usize]
                        + v[Term::ColdStart as usize]
                        + v[Term::Compute as usize],
                );
            }
            Regime::DedicatedCore => {}
        }
        cost
    }
}

impl PricedPlacement {
    /// CPU the storage server spends reading the invocation's records inside the placement's
    /// context: `k g + n_s g_s`, with `n_s` the scattered reads (the first record of a run, or
    /// every record of dependent reads).
    #[inline]
    pub fn inside_access(&self, inv: &Invocation) -> f64 {
        inv.records * self.scheme.local_access + scattered_reads(inv) * self.scattered
    }

    /// Prices one invocation under `cond`.
    ///
    /// # Errors
    /// [`CostError::BadPlacement`] when a dedicated core is asked for a function with no
    /// arrivals, or when the function alone would saturate its dedicated core.
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
        let p = &self.placement;
        let s = &self.scheme;
        let batch = f64::from(p.batch.max(1));
        let k = inv.records;
        let h = cond.warm_hit;
        let mut v = [0.0f64; TERM_COUNT];
        let compute = s.slowdown * inv.compute_ns;
        let cold = (1.0 - h) * s.cold_start;
        // Latency-only: waiting for B - 1 other invocations to arrive.
        if batch > 1.0 && inv.rate > 0.0 {
            v[Term::BatchWait as usize] = (batch - 1.0) / 2.0 * 1e9 / inv.rate;
        }
        let (storage, compute_cpu, bytes, latency, a, b);
        match p.regime {
            Regime::Multiplexed | Regime::DedicatedCore => {
                let dedicated = p.regime == Regime::DedicatedCore;
                let drained = if dedicated {
                    f64::INFINITY
                } else {
                    cond.drained_per_wakeup
                };
                let (a_s, b_s) = self.transport.server(drained);
                let (a_c, b_c) = self.transport.client(cond.drained_per_wakeup);
                v[Term::ServerRequest as usize] = a_s / batch;
                v[Term::ServerBytes as usize] = b_s * inv.message_bytes;
                v[Term::ClientRequest as usize] = a_c / batch;
                v[Term::ClientBytes as usize] = b_c * inv.message_bytes;
                v[Term::LocalAccess as usize] = self.inside_access(inv);
                v[Term::Compute as usize] = compute;
                if !dedicated {
                    v[Term::Dispatch as usize] = self.dispatch / batch;
                    v[Term::WarmSwitch as usize] = s.warm_invoke / batch;
                    v[Term::ColdStart as usize] = cold;
                }
                let busy = v[Term::ServerRequest as usize]
                    + v[Term::ServerBytes as usize]
                    + v[Term::Dispatch as usize]
                    + v[Term::WarmSwitch as usize]
                    + v[Term::ColdStart as usize]
                    + v[Term::LocalAccess as usize]
                    + v[Term::Compute as usize];
                v[Term::RoundTrips as usize] = self.transport.round_trip;
                if dedicated {
                    if !(inv.rate > 0.0) {
                        return Err(self.bad("a dedicated core needs arrival rate > 0, got 0"));
                    }
                    let own = inv.rate * busy / 1e9;
                    if own >= 1.0 {
                        return Err(self.bad(&format!(
                            "one dedicated core cannot keep up: utilisation {own:.2} >= 1"
                        )));
                    }
                    v[Term::Reservation as usize] = (1e9 / inv.rate - busy).max(0.0);
                    let wait = own / (1.0 - own) * busy;
                    v[Term::Queueing as usize] = wait;
                    latency =
                        v[Term::RoundTrips as usize] + wait + v[Term::BatchWait as usize] + busy
                            - v[Term::ServerRequest as usize]
                            + v[Term::ClientBytes as usize];
                } else {
                    // Completed by `queued`.
                    latency = 0.0;
                }
                storage = busy + v[Term::Reservation as usize];
                compute_cpu = v[Term::ClientRequest as usize] + v[Term::ClientBytes as usize];
                bytes = inv.message_bytes;
                (a, b) = (busy, 0.0);
            }
            Regime::Remote => {
                let m = f64::from(p.multiget.max(1));
                let requests = (k / m).ceil();
                let rounds = if inv.dependent_reads {
                    requests
                } else {
                    requests.min(1.0)
                };
                let moved = k * inv.record_bytes;
                let (a_s, b_s) = self.transport.server(cond.drained_per_wakeup);
                let (a_c, b_c) = self.transport.client(cond.drained_per_wakeup);
                v[Term::ServerRequest as usize] = requests * a_s;
                v[Term::ServerBytes as usize] = moved * b_s;
                v[Term::ClientRequest as usize] = requests * a_c;
                v[Term::ClientBytes as usize] = moved * b_c;
                v[Term::Dispatch as usize] = self.dispatch / batch;
                v[Term::WarmSwitch as usize] = s.warm_invoke / batch;
                v[Term::ColdStart as usize] = cold;
                v[Term::Compute as usize] = compute;
                v[Term::LocalAccess as usize] =
                    k * self.lookup + scattered_reads(inv) * self.scattered;
                storage = v[Term::ServerRequest as usize]
                    + v[Term::ServerBytes as usize]
                    + v[Term::LocalAccess as usize];
                let per_visit = if requests > 0.0 {
                    storage / requests
                } else {
                    0.0
                };
                v[Term::RoundTrips as usize] = rounds * self.transport.round_trip;
                compute_cpu = v[Term::ClientRequest as usize]
                    + v[Term::ClientBytes as usize]
                    + v[Term::Dispatch as usize]
                    + v[Term::WarmSwitch as usize]
                    + v[Term::ColdStart as usize]
                    + v[Term::Compute as usize];
                bytes = moved;
                // Completed by `queued`.
                latency = 0.0;
                (a, b) = (rounds, per_visit);
            }
        }
        Ok(UnqueuedCost {
            cost: PlacementCost {
                storage_cpu: Nanos::new(storage),
                compute_cpu: Nanos::new(compute_cpu),
                network_bytes: Bytes::new(bytes),
                latency: Nanos::new(latency),
                terms: Terms {
                    values: v,
                    side: p.regime.side(),
                },
            },
            regime: p.regime,
            a,
            b,
        })
    }

    fn bad(&self, message: &str) -> CostError {
        CostError::BadPlacement {
            placement: self.placement.to_string(),
            message: message.to_owned(),
        }
    }
}

/// Where running inside starts to beat fetching remotely, in records per invocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Crossover {
    /// Inside uses less storage CPU than remote for every `k` above this value.
    At(f64),
    /// Inside never uses less storage CPU (each record costs inside at least as much as a
    /// remote fetch of it).
    Never,
}

/// The crossover `k*` for storage CPU between an inside placement and a remote one:
///
/// `k* = (a_s + b_s(q + r) + dispatch + w + (1 - h) z + f c) / (a_s' + s b_s' + g_0 - g)`
///
/// (primes: the remote placement's transport; `g_0`: its [`PricedPlacement::lookup`]). Exact for
/// the equations above when the inside placement is multiplexed and the remote one fetches one
/// key per request. The scattered-read premium `g_s` is paid on both sides alike and cancels,
/// so both placements must carry the same one (they do when one [`crate::Model`] priced them).
///
/// # Errors
/// [`CostError::BadPlacement`] when `inside` is not multiplexed, `remote` is not a one-key
/// remote placement, or their scattered-read premiums differ.
pub fn crossover(
    inside: &PricedPlacement,
    remote: &PricedPlacement,
    inv: &Invocation,
    cond: &Conditions,
) -> Result<Crossover> {
    if inside.placement.regime != Regime::Multiplexed {
        return Err(inside.bad("crossover needs a multiplexed inside placement"));
    }
    if remote.placement.regime != Regime::Remote || remote.placement.multiget != 1 {
        return Err(remote.bad("crossover needs a remote placement with multiget 1"));
    }
    if inside.scattered.to_bits() != remote.scattered.to_bits() {
        return Err(remote.bad(&format!(
            "crossover needs the same scattered-read premium on both sides (one host), got {} \
             inside and {} remote",
            inside.scattered, remote.scattered
        )));
    }
    let at0 = inside
        .evaluate(&inv.with_records(0.0), cond)?
        .storage_cpu
        .get();
    let g = inside.scheme.local_access;
    let (a_s, b_s) = remote.transport.server(cond.drained_per_wakeup);
    let per_record_remote = a_s + inv.record_bytes * b_s + remote.lookup;
    let saving = per_record_remote - g;
    if saving <= 0.0 {
        return Ok(Crossover::Never);
    }
    Ok(Crossover::At(at0 / saving))
}
