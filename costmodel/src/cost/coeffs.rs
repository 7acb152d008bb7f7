//! The numbers the equations read: an invocation, and a scheme's and a transport's costs
//! reduced to point values, with the one wake-up amortisation both ends of a transport use.

use crate::error::Result;
use crate::profile::{ComputeClass, IsolationCosts, ServerRequestTerms, SideCosts, TransportCosts};
use crate::units::Nanos;
use crate::workload::WorkloadProfile;

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
    /// What kind of compute `c` is, which picks the scheme's slowdown (version 2).
    pub class: ComputeClass,
}

impl Invocation {
    /// Reduces a workload profile (validating it).
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] for the first bad field.
    pub fn from_profile(w: &WorkloadProfile) -> Result<Self> {
        w.validate("workload")?;
        Ok(Invocation {
            records: w.records_per_invocation,
            record_bytes: w.record_bytes.get(),
            message_bytes: w.request_bytes.get() + w.response_bytes.get(),
            compute_ns: w.compute.native().get(),
            rate: w.arrival.rate.get(),
            dependent_reads: w.dependent_reads,
            class: w.compute.class,
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

    /// The same invocation with compute of `class`.
    pub fn with_class(self, class: ComputeClass) -> Self {
        Invocation { class, ..self }
    }

    /// Records read at a scattered key: every record of dependent reads (each key comes from
    /// the record before), else the first of the run (`min(k, 1)`).
    #[inline]
    pub fn scattered_reads(&self) -> f64 {
        if self.dependent_reads {
            self.records
        } else {
            self.records.min(1.0)
        }
    }
}

/// A scheme's costs reduced to point values (`w`, `z`, `g`, `g_b`, `f`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SchemeCoeffs {
    /// Warm switch, ns.
    pub warm_invoke: f64,
    /// Cold start, ns.
    pub cold_start: f64,
    /// Local access per record, ns (`g0`, the record-size-independent part).
    pub local_access: f64,
    /// Local access per record byte, ns (`g_b`; zero when not measured).
    pub local_access_per_byte: f64,
    /// Compute slowdown factor of the version-1 kernel (int_mul).
    pub slowdown: f64,
    /// Compute slowdown per [`ComputeClass`], indexed by `class as usize` (a class the profile
    /// does not list has `slowdown`).
    pub slowdown_by_class: [f64; ComputeClass::ALL.len()],
    /// Whether the scheme runs on this host.
    pub supported: bool,
}

impl SchemeCoeffs {
    /// Local access of one record of `record_bytes` bytes: `g(s) = g0 + s g_b`, ns.
    #[inline]
    pub fn local_access_at(&self, record_bytes: f64) -> f64 {
        self.local_access + record_bytes * self.local_access_per_byte
    }

    /// Compute slowdown for `class`.
    #[inline]
    pub fn slowdown_for(&self, class: ComputeClass) -> f64 {
        self.slowdown_by_class[class as usize]
    }
}

impl From<&IsolationCosts> for SchemeCoeffs {
    fn from(c: &IsolationCosts) -> Self {
        SchemeCoeffs {
            warm_invoke: c.warm_invoke.value(),
            cold_start: c.cold_start.value(),
            local_access: c.local_access.value(),
            local_access_per_byte: c.local_access_per_byte.as_ref().map_or(0.0, |e| e.value()),
            slowdown: c.slowdown.value(),
            slowdown_by_class: ComputeClass::ALL.map(|k| c.slowdown_for(k).value()),
            supported: c.support.is_supported(),
        }
    }
}

/// A real server's request cost ([`ServerRequestTerms`]) reduced to point values, ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerCoeffs {
    /// Per request outside system calls and wake-ups (`p`).
    pub processing: f64,
    /// Per read or write system call (`y`).
    pub per_syscall: f64,
    /// Per wake-up (`w`).
    pub per_wakeup: f64,
    /// Per key looked up and answered (`u`).
    pub per_key: f64,
    /// Per value byte (`b_s`).
    pub per_byte: f64,
}

impl From<&ServerRequestTerms> for ServerCoeffs {
    fn from(t: &ServerRequestTerms) -> Self {
        ServerCoeffs {
            processing: t.processing.value(),
            per_syscall: t.per_syscall.value(),
            per_wakeup: t.per_wakeup.value(),
            per_key: t.per_key.value(),
            per_byte: t.per_byte.value(),
        }
    }
}

impl ServerCoeffs {
    /// CPU per request, keys and bytes aside, when `requests_per_syscall` requests share a
    /// system call and `drained` share a wake-up: `p + y / requests_per_syscall + w / drained`.
    #[inline]
    pub fn per_request(&self, drained: f64, requests_per_syscall: f64) -> f64 {
        self.processing
            + self.per_syscall * share(requests_per_syscall)
            + self.per_wakeup * share(drained)
    }
}

/// The share of one event (a wake-up, a system call) each of the `n >= 1` requests it serves
/// pays: `1 / n` (0 for `n = inf`, a server that never sleeps).
#[inline]
pub(crate) fn share(n: f64) -> f64 {
    1.0 / n
}

/// The wake-up amortisation, the one place it lives: a cost that is `idle` when each request
/// has a wake-up of its own and falls to `floor` when the wake-up is shared without end is
/// `floor + (idle - floor) * share` for `share` = [`share`]`(drained)`, never below the
/// smaller of the two (a measured floor above the idle end is read as no amortisation).
#[inline]
pub(crate) fn amortise(idle: f64, floor: f64, share: f64) -> f64 {
    floor.min(idle) + (idle - floor).max(0.0) * share
}

/// Per-request and per-byte CPU of one side with `drained` requests per wake-up.
#[inline]
pub(crate) fn side_at(idle: &SideCosts, floor: &SideCosts, drained: f64) -> (f64, f64) {
    let s = share(drained.max(1.0));
    (
        amortise(idle.per_request.value(), floor.per_request.value(), s),
        amortise(idle.per_byte.value(), floor.per_byte.value(), s),
    )
}

/// A transport's costs reduced to point values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransportCoeffs {
    server_unloaded: (f64, f64),
    server_saturated: (f64, f64),
    client_unloaded: (f64, f64),
    client_saturated: (f64, f64),
    round_trip: f64,
    server_terms: Option<ServerCoeffs>,
}

impl From<&TransportCosts> for TransportCoeffs {
    fn from(t: &TransportCosts) -> Self {
        let pair = |s: &SideCosts| (s.per_request.value(), s.per_byte.value());
        let idle = t.idle_end();
        TransportCoeffs {
            server_unloaded: pair(&idle.server),
            server_saturated: pair(&t.saturated.server),
            client_unloaded: pair(&idle.client),
            client_saturated: pair(&t.saturated.client),
            round_trip: t.unloaded.round_trip.value(),
            server_terms: t.server_terms.as_ref().map(ServerCoeffs::from),
        }
    }
}

/// Both coefficients of a side amortised over `drained` requests per wake-up.
#[inline]
fn at_drain(unloaded: (f64, f64), sat: (f64, f64), drained: f64) -> (f64, f64) {
    let s = share(drained);
    (
        amortise(unloaded.0, sat.0, s),
        amortise(unloaded.1, sat.1, s),
    )
}

impl TransportCoeffs {
    /// Server (per-request ns, per-byte ns) with `drained` requests per wake-up and one request
    /// per system call. With [`ServerCoeffs`] that is [`ServerCoeffs::per_request`] and their
    /// per-byte cost (per-key costs are separate: [`TransportCoeffs::server_terms`]); else the
    /// version-1 interpolation between the idle end and the saturated floor.
    #[inline]
    pub fn server(&self, drained: f64) -> (f64, f64) {
        self.server_with(drained, 1.0)
    }

    /// As [`TransportCoeffs::server`], with `requests_per_syscall` requests sharing a system
    /// call (read only by transports with [`ServerCoeffs`]).
    #[inline]
    pub fn server_with(&self, drained: f64, requests_per_syscall: f64) -> (f64, f64) {
        match &self.server_terms {
            Some(t) => (t.per_request(drained, requests_per_syscall), t.per_byte),
            None => at_drain(self.server_unloaded, self.server_saturated, drained),
        }
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

    /// The server's own request cost, when it was measured on a real server (version 2).
    pub fn server_terms(&self) -> Option<&ServerCoeffs> {
        self.server_terms.as_ref()
    }
}
