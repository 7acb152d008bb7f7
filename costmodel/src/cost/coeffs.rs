//! The numbers the equations read: an invocation, and a scheme's and a transport's costs
//! reduced to point values, with the one wake-up amortisation both ends of a transport use.

use super::Conditions;
use crate::error::Result;
use crate::profile::{ComputeClass, IsolationCosts, ServerRequestTerms, SideCosts, TransportCosts};
use crate::units::{Bytes, Factor, Nanos, NanosPerByte, PerSecond};
use crate::validate::Check;
use crate::workload::WorkloadProfile;

/// A workload reduced to the numbers the equations use, checked when it is built: every number
/// is finite, not negative and within the file formats' limits ([`crate::limits`]), so pricing
/// never checks it again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Invocation {
    records: f64,
    record_bytes: Bytes,
    message_bytes: Bytes,
    compute: Nanos,
    rate: PerSecond,
    dependent_reads: bool,
    class: ComputeClass,
}

impl Invocation {
    /// An invocation reading `records` records (`k`, a mean, so fractional) of `record_bytes`
    /// each (`s`), with request plus response `message_bytes` (`q + r`), native `compute` (`c`,
    /// of class `int_mul`) and arrivals at `rate`; reads independent of each other.
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming the first number that is NaN, negative or past its
    /// limit (a positive rate below [`crate::limits::MIN_RATE`] included).
    pub fn new(
        records: f64,
        record_bytes: Bytes,
        message_bytes: Bytes,
        compute: Nanos,
        rate: PerSecond,
    ) -> Result<Self> {
        let inv = Invocation {
            records,
            record_bytes,
            message_bytes,
            compute,
            rate,
            dependent_reads: false,
            class: ComputeClass::IntMul,
        };
        inv.check()?;
        Ok(inv)
    }

    /// Checks every number once (the constructors call it).
    fn check(&self) -> Result<()> {
        use crate::validate::limits::{MAX_COMPUTE_NANOS, MAX_RATE, MAX_RECORDS, MIN_RATE};
        let c = Check::new("invocation");
        c.bounded("records", self.records, MAX_RECORDS, "")?;
        c.quantity("record_bytes", self.record_bytes)?;
        c.quantity("message_bytes", self.message_bytes)?;
        c.bounded("compute", self.compute.get(), MAX_COMPUTE_NANOS, "ns")?;
        let rate = self.rate.get();
        c.bounded("rate", rate, MAX_RATE, "/s")?;
        if rate > 0.0 && rate < MIN_RATE {
            return Err(c.fail(
                "rate",
                format!("must be 0 or >= {MIN_RATE:e}/s (the format's limit), got {rate:e}"),
            ));
        }
        Ok(())
    }

    /// Reduces a workload profile (validating it).
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] for the first bad field.
    pub fn from_profile(w: &WorkloadProfile) -> Result<Self> {
        w.validate("workload")?;
        Ok(Invocation {
            records: w.records_per_invocation,
            record_bytes: w.record_bytes,
            message_bytes: w.request_bytes + w.response_bytes,
            compute: w.compute.native(),
            rate: w.arrival.rate,
            dependent_reads: w.dependent_reads,
            class: w.compute.class,
        })
    }

    /// The same invocation reading `k` records.
    ///
    /// # Errors
    /// As [`Invocation::new`], for `k`.
    pub fn with_records(self, k: f64) -> Result<Self> {
        let inv = Invocation { records: k, ..self };
        inv.check()?;
        Ok(inv)
    }

    /// The same invocation reading no records (always valid).
    pub(crate) fn without_records(self) -> Self {
        Invocation {
            records: 0.0,
            ..self
        }
    }

    /// The same invocation with native compute `c`.
    ///
    /// # Errors
    /// As [`Invocation::new`], for `c`.
    pub fn with_compute(self, c: Nanos) -> Result<Self> {
        let inv = Invocation { compute: c, ..self };
        inv.check()?;
        Ok(inv)
    }

    /// The same invocation arriving at `rate`.
    ///
    /// # Errors
    /// As [`Invocation::new`], for `rate`.
    pub fn with_rate(self, rate: PerSecond) -> Result<Self> {
        let inv = Invocation { rate, ..self };
        inv.check()?;
        Ok(inv)
    }

    /// The same invocation with compute of `class`.
    pub fn with_class(self, class: ComputeClass) -> Self {
        Invocation { class, ..self }
    }

    /// The same invocation with reads that depend on each other (`true`: each key comes from
    /// the record before) or not.
    pub fn with_dependent_reads(self, dependent: bool) -> Self {
        Invocation {
            dependent_reads: dependent,
            ..self
        }
    }

    /// Records read (`k`).
    #[inline]
    pub fn records(&self) -> f64 {
        self.records
    }

    /// Bytes per record (`s`).
    #[inline]
    pub fn record_bytes(&self) -> Bytes {
        self.record_bytes
    }

    /// Request plus response bytes (`q + r`).
    #[inline]
    pub fn message_bytes(&self) -> Bytes {
        self.message_bytes
    }

    /// Native compute (`c`).
    #[inline]
    pub fn compute(&self) -> Nanos {
        self.compute
    }

    /// Arrival rate.
    #[inline]
    pub fn rate(&self) -> PerSecond {
        self.rate
    }

    /// True when reads depend on each other.
    #[inline]
    pub fn dependent_reads(&self) -> bool {
        self.dependent_reads
    }

    /// What kind of compute `c` is, which picks the scheme's slowdown (version 2).
    #[inline]
    pub fn class(&self) -> ComputeClass {
        self.class
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

/// A scheme's costs reduced to point values (`w`, `z`, `g`, `g_b`, `f`), from checked
/// [`IsolationCosts`] ([`SchemeCoeffs::try_from`], or [`crate::Model::price`] from its host).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SchemeCoeffs {
    warm_invoke: Nanos,
    cold_start: Nanos,
    local_access: Nanos,
    local_access_per_byte: NanosPerByte,
    slowdown: Factor,
    slowdown_by_class: [Factor; ComputeClass::ALL.len()],
    supported: bool,
}

impl SchemeCoeffs {
    /// Warm switch (`w`).
    #[inline]
    pub fn warm_invoke(&self) -> Nanos {
        self.warm_invoke
    }

    /// Cold start (`z`).
    #[inline]
    pub fn cold_start(&self) -> Nanos {
        self.cold_start
    }

    /// Local access per record (`g0`, the record-size-independent part).
    #[inline]
    pub fn local_access(&self) -> Nanos {
        self.local_access
    }

    /// Local access per record byte (`g_b`; zero when not measured).
    #[inline]
    pub fn local_access_per_byte(&self) -> NanosPerByte {
        self.local_access_per_byte
    }

    /// Compute slowdown of the version-1 kernel (int_mul).
    #[inline]
    pub fn slowdown(&self) -> Factor {
        self.slowdown
    }

    /// Whether the scheme runs on this host.
    #[inline]
    pub fn supported(&self) -> bool {
        self.supported
    }

    /// Local access of one record of `record_bytes` bytes: `g(s) = g0 + s g_b`.
    #[inline]
    pub fn local_access_at(&self, record_bytes: Bytes) -> Nanos {
        self.local_access + record_bytes * self.local_access_per_byte
    }

    /// Compute slowdown for `class` (the profile's entry for it, else [`SchemeCoeffs::slowdown`]).
    #[inline]
    pub fn slowdown_for(&self, class: ComputeClass) -> Factor {
        self.slowdown_by_class[class as usize]
    }

    /// From costs already checked (a validated host's).
    pub(crate) fn from_checked(c: &IsolationCosts) -> Self {
        SchemeCoeffs {
            warm_invoke: c.warm_invoke.point,
            cold_start: c.cold_start.point,
            local_access: c.local_access.point,
            local_access_per_byte: c
                .local_access_per_byte
                .as_ref()
                .map_or(NanosPerByte::ZERO, |e| e.point),
            slowdown: c.slowdown.point,
            slowdown_by_class: ComputeClass::ALL.map(|k| c.slowdown_for(k).point),
            supported: c.support.is_supported(),
        }
    }
}

impl TryFrom<&IsolationCosts> for SchemeCoeffs {
    type Error = crate::CostError;

    /// Checks the costs ([`IsolationCosts::check`]) and reduces them.
    fn try_from(c: &IsolationCosts) -> Result<Self> {
        c.check(&mut Check::new("isolation costs"))?;
        Ok(SchemeCoeffs::from_checked(c))
    }
}

/// A real server's request cost ([`ServerRequestTerms`]) reduced to point values, from checked
/// terms ([`ServerCoeffs::try_from`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerCoeffs {
    processing: Nanos,
    per_syscall: Nanos,
    per_wakeup: Nanos,
    per_peer_wakeup: Option<Nanos>,
    per_key: Nanos,
    per_byte: NanosPerByte,
}

impl TryFrom<&ServerRequestTerms> for ServerCoeffs {
    type Error = crate::CostError;

    /// Checks the terms ([`ServerRequestTerms::check`]) and reduces them.
    fn try_from(t: &ServerRequestTerms) -> Result<Self> {
        t.check(&mut Check::new("server terms"))?;
        Ok(ServerCoeffs::from_checked(t))
    }
}

impl ServerCoeffs {
    /// From terms already checked (a validated host's).
    pub(crate) fn from_checked(t: &ServerRequestTerms) -> Self {
        ServerCoeffs {
            processing: t.processing.point,
            per_syscall: t.per_syscall.point,
            per_wakeup: t.per_wakeup.point,
            per_peer_wakeup: t.per_peer_wakeup.as_ref().map(|v| v.point),
            per_key: t.per_key.point,
            per_byte: t.per_byte.point,
        }
    }

    /// Per request outside system calls and wake-ups (`p`).
    #[inline]
    pub fn processing(&self) -> Nanos {
        self.processing
    }

    /// Per read or write system call (`y`).
    #[inline]
    pub fn per_syscall(&self) -> Nanos {
        self.per_syscall
    }

    /// Per wake-up (`w`).
    #[inline]
    pub fn per_wakeup(&self) -> Nanos {
        self.per_wakeup
    }

    /// Per client woken by a reply (`v`), when the calibration separated it from `w`.
    #[inline]
    pub fn per_peer_wakeup(&self) -> Option<Nanos> {
        self.per_peer_wakeup
    }

    /// Per key looked up and answered (`u`).
    #[inline]
    pub fn per_key(&self) -> Nanos {
        self.per_key
    }

    /// Per value byte (`b_s`).
    #[inline]
    pub fn per_byte(&self) -> NanosPerByte {
        self.per_byte
    }

    /// CPU per request, keys and bytes aside, when `requests_per_syscall` requests share a
    /// system call and `drained` share a wake-up: `p + y / requests_per_syscall + w / drained`,
    /// plus `v / drained` when `v` was measured (one client woken per server wake-up, the
    /// calibration sweep's condition).
    #[inline]
    pub fn per_request(&self, drained: f64, requests_per_syscall: f64) -> Nanos {
        self.per_request_with(drained, requests_per_syscall, share(drained))
    }

    /// As [`ServerCoeffs::per_request`] with `peer_wakeups` clients woken per request
    /// (`+ v * peer_wakeups`; read only when `v` was measured).
    #[inline]
    pub fn per_request_with(
        &self,
        drained: f64,
        requests_per_syscall: f64,
        peer_wakeups: f64,
    ) -> Nanos {
        let own = self.processing
            + self.per_syscall * share(requests_per_syscall)
            + self.per_wakeup * share(drained);
        match self.per_peer_wakeup {
            Some(v) => own + v * peer_wakeups,
            None => own,
        }
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
pub(crate) fn side_at(idle: &SideCosts, floor: &SideCosts, drained: f64) -> (Nanos, NanosPerByte) {
    let s = share(drained.max(1.0));
    (
        Nanos::new(amortise(
            idle.per_request.value(),
            floor.per_request.value(),
            s,
        )),
        NanosPerByte::new(amortise(idle.per_byte.value(), floor.per_byte.value(), s)),
    )
}

/// A transport's costs reduced to point values, from checked [`TransportCosts`]
/// ([`TransportCoeffs::try_from`], or [`crate::Model::price`] from its host).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransportCoeffs {
    server_unloaded: (f64, f64),
    server_saturated: (f64, f64),
    client_unloaded: (f64, f64),
    client_saturated: (f64, f64),
    round_trip: Nanos,
    server_terms: Option<ServerCoeffs>,
}

impl TryFrom<&TransportCosts> for TransportCoeffs {
    type Error = crate::CostError;

    /// Checks the costs ([`TransportCosts::check`]) and reduces them.
    fn try_from(t: &TransportCosts) -> Result<Self> {
        t.check(&mut Check::new("transport costs"))?;
        Ok(TransportCoeffs::from_checked(t))
    }
}

/// Both coefficients of a side amortised over `drained` requests per wake-up.
#[inline]
fn at_drain(unloaded: (f64, f64), sat: (f64, f64), drained: f64) -> (Nanos, NanosPerByte) {
    let s = share(drained);
    (
        Nanos::new(amortise(unloaded.0, sat.0, s)),
        NanosPerByte::new(amortise(unloaded.1, sat.1, s)),
    )
}

impl TransportCoeffs {
    /// From costs already checked (a validated host's).
    pub(crate) fn from_checked(t: &TransportCosts) -> Self {
        let pair = |s: &SideCosts| (s.per_request.value(), s.per_byte.value());
        let idle = t.idle_end();
        TransportCoeffs {
            server_unloaded: pair(&idle.server),
            server_saturated: pair(&t.saturated.server),
            client_unloaded: pair(&idle.client),
            client_saturated: pair(&t.saturated.client),
            round_trip: t.unloaded.round_trip.point,
            server_terms: t.server_terms.as_ref().map(ServerCoeffs::from_checked),
        }
    }

    /// Server (per-request, per-byte) CPU with `drained` requests per wake-up and one request
    /// per system call. With [`ServerCoeffs`] that is [`ServerCoeffs::per_request`] and their
    /// per-byte cost (per-key costs are separate: [`TransportCoeffs::server_terms`]); else the
    /// version-1 interpolation between the idle end and the saturated floor.
    #[inline]
    pub fn server(&self, drained: f64) -> (Nanos, NanosPerByte) {
        self.server_with(drained, 1.0)
    }

    /// As [`TransportCoeffs::server`], with `requests_per_syscall` requests sharing a system
    /// call (read only by transports with [`ServerCoeffs`]).
    #[inline]
    pub fn server_with(&self, drained: f64, requests_per_syscall: f64) -> (Nanos, NanosPerByte) {
        match &self.server_terms {
            Some(t) => (t.per_request(drained, requests_per_syscall), t.per_byte),
            None => at_drain(self.server_unloaded, self.server_saturated, drained),
        }
    }

    /// Server (per-request, per-byte) CPU under `cond` with `drained` requests per server
    /// wake-up (the conditions' own, or infinite for a core that never sleeps): its requests
    /// per system call and clients woken per request
    /// ([`Conditions::peer_wakeups_per_request`], by default one per wake-up at the
    /// conditions' drain) are read by transports with [`ServerCoeffs`].
    #[inline]
    pub fn server_under(&self, drained: f64, cond: &Conditions) -> (Nanos, NanosPerByte) {
        match &self.server_terms {
            Some(t) => (
                t.per_request_with(drained, cond.requests_per_syscall, cond.peer_wakeups()),
                t.per_byte,
            ),
            None => at_drain(self.server_unloaded, self.server_saturated, drained),
        }
    }

    /// Client (per-request, per-byte) CPU with `drained` responses per wake-up.
    #[inline]
    pub fn client(&self, drained: f64) -> (Nanos, NanosPerByte) {
        at_drain(self.client_unloaded, self.client_saturated, drained)
    }

    /// Unloaded round-trip latency.
    #[inline]
    pub fn round_trip(&self) -> Nanos {
        self.round_trip
    }

    /// The server's own request cost, when it was measured on a real server (version 2).
    #[inline]
    pub fn server_terms(&self) -> Option<&ServerCoeffs> {
        self.server_terms.as_ref()
    }
}
