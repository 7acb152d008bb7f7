//! `HostProfile`: everything calibrated about one machine.
//!
//! A profile holds the machine's identity and capabilities, one [`TransportCosts`] per transport
//! and one [`IsolationCosts`] per isolation scheme. Every number is an [`Estimate`] that says
//! whether it was measured here or is a cited literature default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::estimate::Estimate;
use crate::id::{SchemeId, TransportId};
use crate::units::{Bytes, Factor, Nanos, NanosPerByte};
use crate::validate::Check;

/// The host profile format this crate writes. It reads this and every earlier version
/// (from [`OLDEST_HOST_FORMAT_VERSION`]); a version-1 file is read as version 2 with the new
/// fields empty.
pub const HOST_FORMAT_VERSION: u32 = 2;

/// The oldest host profile format this crate still reads.
pub const OLDEST_HOST_FORMAT_VERSION: u32 = 1;

/// Everything calibrated about one machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostProfile {
    /// From [`OLDEST_HOST_FORMAT_VERSION`] to [`HOST_FORMAT_VERSION`]; loading an older file
    /// sets it to [`HOST_FORMAT_VERSION`].
    pub format_version: u32,
    /// What machine this is and what it can do.
    pub host: HostIdentity,
    /// CPU to hand one invocation to a multiplexed context (queue, wake the worker, pick up).
    pub dispatch: Estimate<Nanos>,
    /// Memory-copy cost per byte, for cross-checking transport per-byte slopes.
    #[serde(default)]
    pub memory_copy: Option<Estimate<NanosPerByte>>,
    /// Extra CPU to read a record at a scattered key over one read in a run of consecutive keys
    /// (its data misses the cache; in a run it was fetched with its neighbours). Each scheme's
    /// `local_access` is the in-run cost; the first record an invocation reads, and every record
    /// of dependent reads, pays this on top, inside the storage server and in its lookups for
    /// remote fetches alike. Calibrate measures it with the native probe on the probe table.
    #[serde(default)]
    pub scattered_access: Option<Estimate<Nanos>>,
    /// The native probe's record reads over tables of several sizes (version 2), with which
    /// [`HostProfile::at_table`] moves `local_access` and `scattered_access` from the probe
    /// table to a storage server's table of another size.
    #[serde(default)]
    pub table_access: Option<crate::table::TableAccess>,
    /// Costs per transport.
    #[serde(deserialize_with = "crate::validate::strict_map")]
    pub transports: BTreeMap<TransportId, TransportCosts>,
    /// Costs per isolation scheme.
    #[serde(deserialize_with = "crate::validate::strict_map")]
    pub isolation: BTreeMap<SchemeId, IsolationCosts>,
    /// Results that fell outside the plausible ranges of the literature.
    #[serde(default)]
    pub flags: Vec<SanityFlag>,
    /// What else used the CPU while this profile was measured, and the run's noise grade.
    #[serde(default)]
    pub noise: Option<crate::noise::NoiseRecord>,
}

/// Identity and capabilities of a machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostIdentity {
    /// A short name for the machine kind (`dev-2vcpu-epyc`).
    pub name: String,
    /// CPU model string.
    pub cpu_model: String,
    /// Logical CPUs available.
    pub cores: u32,
    /// Kernel release.
    pub kernel: String,
    /// True when running under a hypervisor.
    pub virtualised: bool,
    /// Speculative-execution mitigations in force (`/sys/devices/system/cpu/vulnerabilities`).
    pub mitigations: Vec<String>,
    /// True when hardware cycle/instruction counters can be read.
    pub hardware_counters: bool,
    /// True when `/dev/kvm` can create a VM.
    pub kvm: bool,
    /// True when protection keys (PKU + OSPKE) are usable.
    pub pku: bool,
    /// The kernel clock source in use.
    pub clock_source: String,
    /// When the profile was made (RFC 3339), or empty for literature-only profiles.
    pub calibrated_at: String,
    /// What made the profile (`calibrate 0.1.0 --quick`, `literature defaults`).
    pub tool: String,
}

/// Which cores the two ends of a transport measurement ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoreRegime {
    /// Client and server pinned to the same core (no cross-core wake-ups).
    SameCore,
    /// Client and server on different cores (each request may wake the server via an IPI).
    CrossCore,
}

/// The CPU one side of a transport spends: a fixed cost per request plus a cost per byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideCosts {
    /// CPU per request (one send plus one receive on this side).
    pub per_request: Estimate<Nanos>,
    /// CPU per payload byte (both directions' bytes counted once).
    pub per_byte: Estimate<NanosPerByte>,
}

/// Client-side and server-side CPU plus round-trip latency, in one load regime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCosts {
    /// CPU at the requesting side.
    pub client: SideCosts,
    /// CPU at the serving side.
    pub server: SideCosts,
    /// Round-trip latency of a small request.
    pub round_trip: Estimate<Nanos>,
    /// R^2 of the per-request/per-byte fit, when fitted.
    #[serde(default)]
    pub fit_r2: Option<f64>,
}

/// Costs of one transport on this host.
///
/// The server's per-request cost is `processing + wakeup / drained`, where `drained` is how many
/// requests the server handles per wake-up: the ping-pong end ([`TransportCosts::idle_end`],
/// `drained = 1`) and `saturated`, the floor where the server never sleeps.
/// [`TransportCosts::server_at`] interpolates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportCosts {
    /// What the transport is (`kernel TCP over loopback`).
    #[serde(default)]
    pub description: String,
    /// Which core placement the `unloaded` and `saturated` numbers were measured with.
    pub headline: CoreRegime,
    /// One request at a time (ping-pong).
    pub unloaded: LinkCosts,
    /// The server saturated by several clients (the regime that sets throughput).
    pub saturated: LinkCosts,
    /// Ping-pong with the other core placement than `headline`, when measured.
    #[serde(default)]
    pub other_cores: Option<LinkCosts>,
    /// A real storage server's own request cost (version 2), measured on that server by
    /// `calibrate server`. When present the model prices the server side of this transport with
    /// it, else with [`TransportCosts::server_at`].
    #[serde(default)]
    pub server_terms: Option<ServerRequestTerms>,
}

/// Request cost of a real storage server, measured on that server by `calibrate server`
/// (version 2). Server CPU for one request carrying `keys` keys and `bytes` payload bytes is
///
/// ```text
/// processing + per_syscall * syscalls_per_request + per_wakeup * wakeups_per_request
///   + per_peer_wakeup * peer_wakeups_per_request + per_key * keys + per_byte * bytes
/// ```
///
/// where `syscalls_per_request = 1 / requests_per_syscall` (pipelining shares a read/write
/// pair), `wakeups_per_request = 1 / requests_per_wakeup` (many clients share a wake-up) and
/// `peer_wakeups_per_request` is how often a reply finds its client asleep and wakes it
/// ([`crate::Conditions::peer_wakeups_per_request`]; by default one per server wake-up, as in
/// a sweep whose clients block on their replies). Terms without `per_peer_wakeup` (profiles
/// before it, or sweeps that could not separate it) carry that cost inside `per_wakeup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRequestTerms {
    /// What the server is (`redis 7.0.15 over RESP`), free text.
    #[serde(default)]
    pub server: String,
    /// CPU per request outside system calls and wake-ups: parse, dispatch, reply (`p`).
    pub processing: Estimate<Nanos>,
    /// CPU per read/write round on the server's socket (`y`): the read and the write system
    /// calls one unpipelined request pays, shared by the requests of one pipelined batch.
    pub per_syscall: Estimate<Nanos>,
    /// CPU per server wake-up (sleep in epoll, woken by a request) (`w`).
    pub per_wakeup: Estimate<Nanos>,
    /// CPU the server spends waking a client that sleeps on its reply (`v`): on a VM, the
    /// cross-core wake-up inside the server's `write`. Absent when the sweep could not separate
    /// it from `per_wakeup`, which then carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_peer_wakeup: Option<Estimate<Nanos>>,
    /// CPU per key looked up and answered, beyond the request's own cost (`u`).
    pub per_key: Estimate<Nanos>,
    /// CPU per value byte returned (`b_s`).
    pub per_byte: Estimate<NanosPerByte>,
    /// R^2 of the fit over the sweep's points.
    #[serde(default)]
    pub fit_r2: Option<f64>,
    /// How many sweep points the fit used.
    #[serde(default)]
    pub points: u32,
}

impl ServerRequestTerms {
    /// Validates every number, naming the field on error.
    pub fn check(&self, c: &mut Check<'_>) -> Result<()> {
        self.processing.check(c, "processing")?;
        self.per_syscall.check(c, "per_syscall")?;
        self.per_wakeup.check(c, "per_wakeup")?;
        if let Some(v) = &self.per_peer_wakeup {
            v.check(c, "per_peer_wakeup")?;
        }
        self.per_key.check(c, "per_key")?;
        self.per_byte.check(c, "per_byte")?;
        if let Some(r2) = self.fit_r2 {
            c.within("fit_r2", r2, f64::NEG_INFINITY, 1.0)?;
        }
        Ok(())
    }
}

/// The kind of compute a function does: runtimes slow each kind down differently.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ComputeClass {
    /// 64-bit integer multiplies (FNV-1a, hashing): the version-1 kernel.
    #[default]
    IntMul,
    /// Simple arithmetic (adds, compares, shifts) in a loop.
    Arith,
    /// Memory bound: dependent loads over a buffer larger than L1.
    Memory,
}

impl ComputeClass {
    /// Every class, in order.
    pub const ALL: [ComputeClass; 3] = [
        ComputeClass::IntMul,
        ComputeClass::Arith,
        ComputeClass::Memory,
    ];

    /// The class's name as files spell it (`int_mul`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComputeClass::IntMul => "int_mul",
            ComputeClass::Arith => "arith",
            ComputeClass::Memory => "memory",
        }
    }
}

impl std::fmt::Display for ComputeClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TransportCosts {
    /// Literature defaults with the same cost on both sides: `per_request` and `per_byte` when
    /// unloaded (ping-pong, same core), `saturated_per_request` when the server never sleeps.
    pub fn literature(
        per_request: Nanos,
        per_byte: NanosPerByte,
        round_trip: Nanos,
        saturated_per_request: Nanos,
        citation: &str,
    ) -> Self {
        let side = |a: Nanos| SideCosts {
            per_request: Estimate::cited(a, citation),
            per_byte: Estimate::cited(per_byte, citation),
        };
        let link = |a: Nanos| LinkCosts {
            client: side(a),
            server: side(a),
            round_trip: Estimate::cited(round_trip, citation),
            fit_r2: None,
        };
        TransportCosts {
            description: String::new(),
            headline: CoreRegime::SameCore,
            unloaded: link(per_request),
            saturated: link(saturated_per_request),
            other_cores: None,
            server_terms: None,
        }
    }

    /// The `drained = 1` end of the per-request interpolation: one request per wake-up, sent
    /// from another core. A storage server's clients are never on its core, so when the headline
    /// is same-core and a cross-core ping-pong was measured (`other_cores`), that is the idle
    /// end; otherwise `unloaded`. (On the 2-vCPU development VM the cross-core ping-pong server
    /// cost divided by `drained` predicted the saturated server's per-request cost within about
    /// 15% for `drained` from 2 to 64; the same-core one was a third too small.)
    pub fn idle_end(&self) -> &LinkCosts {
        match (&self.headline, &self.other_cores) {
            (CoreRegime::SameCore, Some(cross)) => cross,
            _ => &self.unloaded,
        }
    }

    /// Server (per-request, per-byte) CPU when `drained` requests are handled per wake-up.
    pub fn server_at(&self, drained: f64) -> (Nanos, NanosPerByte) {
        crate::cost::side_at(&self.idle_end().server, &self.saturated.server, drained)
    }

    /// Client (per-request, per-byte) CPU when `drained` responses are handled per wake-up.
    pub fn client_at(&self, drained: f64) -> (Nanos, NanosPerByte) {
        crate::cost::side_at(&self.idle_end().client, &self.saturated.client, drained)
    }

    /// Validates every number, naming the field on error.
    pub fn check(&self, c: &mut Check<'_>) -> Result<()> {
        for (name, link) in [("unloaded", &self.unloaded), ("saturated", &self.saturated)]
            .into_iter()
            .chain(self.other_cores.iter().map(|l| ("other_cores", l)))
        {
            c.with(name, |c| link.check(c))?;
        }
        if let Some(terms) = &self.server_terms {
            c.with("server_terms", |c| terms.check(c))?;
        }
        Ok(())
    }
}

impl LinkCosts {
    fn check(&self, c: &mut Check<'_>) -> Result<()> {
        for (name, side) in [("client", &self.client), ("server", &self.server)] {
            c.with(name, |c| {
                side.per_request.check(c, "per_request")?;
                side.per_byte.check(c, "per_byte")
            })?;
        }
        self.round_trip.check(c, "round_trip")?;
        if let Some(r2) = self.fit_r2 {
            c.within("fit_r2", r2, f64::NEG_INFINITY, 1.0)?;
        }
        Ok(())
    }
}

/// A capability a scheme needs from the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requirement {
    /// `/dev/kvm` usable.
    Kvm,
    /// Memory protection keys (CPUID PKU and OSPKE, `pkey_alloc` succeeds).
    Pku,
    /// Linux namespaces (user, pid, net, mount).
    Namespaces,
    /// Executable memory for a JIT.
    Jit,
    /// Anything else, described.
    Other(String),
}

/// Whether a scheme can run on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Support {
    /// It runs here.
    Supported,
    /// It cannot run here; the reason says what is missing.
    Unsupported {
        /// What is missing (`CPUID.7.0:ECX.OSPKE = 0`).
        reason: String,
    },
}

impl Support {
    /// True for [`Support::Supported`].
    pub fn is_supported(&self) -> bool {
        matches!(self, Support::Supported)
    }
}

/// Costs of one isolation scheme on this host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationCosts {
    /// What the scheme is.
    #[serde(default)]
    pub description: String,
    /// CPU to enter and leave a warm context (one invocation's domain switch), `w`.
    pub warm_invoke: Estimate<Nanos>,
    /// CPU to create a context when none is warm, `z`.
    pub cold_start: Estimate<Nanos>,
    /// CPU per record read from inside the context, `g`.
    pub local_access: Estimate<Nanos>,
    /// Compute time versus native code for the same work, `f` (1.0 = native speed).
    pub slowdown: Estimate<Factor>,
    /// Memory one context holds.
    pub memory_per_context: Estimate<Bytes>,
    /// What the scheme needs from the host.
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    /// Whether it runs on this host.
    pub support: Support,
    /// Sub-measurements (e.g. `cold_start.namespaces`, `warm_invoke.jit`), by name.
    #[serde(default, deserialize_with = "crate::validate::strict_map")]
    pub details: BTreeMap<String, Estimate<Nanos>>,
    /// CPU per byte of record read from inside the context, `g_b` (version 2): a record of `s`
    /// bytes costs `g(s) = g0 + s g_b`, where `local_access` is then `g0`, the probe's cost
    /// extrapolated to 0 B. `None` reads `local_access` as the whole cost at any size.
    #[serde(default)]
    pub local_access_per_byte: Option<Estimate<NanosPerByte>>,
    /// Compute slowdown per [`ComputeClass`] (version 2). A class missing here uses `slowdown`,
    /// which is the int_mul kernel's.
    #[serde(default, deserialize_with = "crate::validate::strict_map")]
    pub slowdown_by_class: BTreeMap<ComputeClass, Estimate<Factor>>,
}

impl IsolationCosts {
    /// Validates every number, naming the field on error.
    pub fn check(&self, c: &mut Check<'_>) -> Result<()> {
        self.warm_invoke.check(c, "warm_invoke")?;
        self.cold_start.check(c, "cold_start")?;
        self.local_access.check(c, "local_access")?;
        self.slowdown.check(c, "slowdown")?;
        c.with("slowdown", |c| slowdown_in_range(c, self.slowdown.value()))?;
        self.memory_per_context.check(c, "memory_per_context")?;
        if let Support::Unsupported { reason } = &self.support {
            c.with("support", |c| c.non_empty("reason", reason))?;
        }
        c.with("details", |c| {
            for (name, e) in &self.details {
                e.check(c, name)?;
            }
            Ok(())
        })?;
        if let Some(gb) = &self.local_access_per_byte {
            gb.check(c, "local_access_per_byte")?;
        }
        c.with("slowdown_by_class", |c| {
            for (class, f) in &self.slowdown_by_class {
                f.check(c, class.as_str())?;
                c.with(class.as_str(), |c| slowdown_in_range(c, f.value()))?;
            }
            Ok(())
        })
    }

    /// Compute slowdown for `class`: its own entry in `slowdown_by_class`, else `slowdown`.
    pub fn slowdown_for(&self, class: ComputeClass) -> &Estimate<Factor> {
        self.slowdown_by_class.get(&class).unwrap_or(&self.slowdown)
    }
}

/// A slowdown's point must lie in `[MIN_SLOWDOWN, MAX_SLOWDOWN]` (see [`crate::limits`]).
fn slowdown_in_range(c: &mut Check<'_>, f: f64) -> Result<()> {
    use crate::validate::limits::{MAX_SLOWDOWN, MIN_SLOWDOWN};
    c.within("point", f, MIN_SLOWDOWN, MAX_SLOWDOWN)
}

impl SanityFlag {
    /// Validates the numbers: finite, within the format's limit, `low <= high`.
    pub(crate) fn check(&self, c: &mut Check<'_>) -> Result<()> {
        use crate::validate::limits::MAX_OTHER;
        for (name, v) in [
            ("value", self.value),
            ("low", self.low),
            ("high", self.high),
        ] {
            c.within(name, v, -MAX_OTHER, MAX_OTHER)?;
        }
        if self.low > self.high {
            return Err(c.fail(
                "low",
                format!("must be <= high ({}), got {}", self.high, self.low),
            ));
        }
        Ok(())
    }
}

/// A measured value that fell outside the literature's plausible range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanityFlag {
    /// Dotted field path (`transports.tcp.unloaded.server.per_request`).
    pub field: String,
    /// The value measured, in the field's unit.
    pub value: f64,
    /// Lower end of the plausible range.
    pub low: f64,
    /// Upper end of the plausible range.
    pub high: f64,
    /// Why this range, and what may explain the deviation.
    pub note: String,
}

impl HostProfile {
    /// Validates every field; errors name `origin`, the field path and the value.
    ///
    /// # Errors
    /// [`crate::CostError::FormatVersion`] for a format version this crate does not read,
    /// [`crate::CostError::Invalid`] for the first bad field.
    pub fn validate(&self, origin: &str) -> Result<()> {
        if !(OLDEST_HOST_FORMAT_VERSION..=HOST_FORMAT_VERSION).contains(&self.format_version) {
            return Err(crate::CostError::FormatVersion {
                origin: origin.to_owned(),
                oldest: OLDEST_HOST_FORMAT_VERSION,
                expected: HOST_FORMAT_VERSION,
                found: self.format_version,
            });
        }
        let mut c = Check::new(origin);
        self.dispatch.check(&mut c, "dispatch")?;
        if let Some(m) = &self.memory_copy {
            m.check(&mut c, "memory_copy")?;
        }
        if let Some(m) = &self.scattered_access {
            m.check(&mut c, "scattered_access")?;
        }
        if let Some(t) = &self.table_access {
            c.with("table_access", |c| t.check(c))?;
        }
        if let Some(n) = &self.noise {
            c.with("noise", |c| n.check(c))?;
        }
        c.with("transports", |c| {
            for (id, t) in &self.transports {
                c.with(id.as_str(), |c| t.check(c))?;
            }
            Ok(())
        })?;
        c.with("isolation", |c| {
            for (id, s) in &self.isolation {
                c.with(id.as_str(), |c| s.check(c))?;
            }
            Ok(())
        })?;
        for (i, f) in self.flags.iter().enumerate() {
            c.with(&format!("flags[{i}]"), |c| f.check(c))?;
        }
        if self.transports.is_empty() {
            return Err(crate::CostError::Empty {
                origin: origin.to_owned(),
                what: "transports",
            });
        }
        if self.isolation.is_empty() {
            return Err(crate::CostError::Empty {
                origin: origin.to_owned(),
                what: "isolation",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(a: f64) -> LinkCosts {
        TransportCosts::literature(
            Nanos::new(a),
            NanosPerByte::new(0.0),
            Nanos::new(a),
            Nanos::new(a),
            "test",
        )
        .unloaded
    }

    #[test]
    fn the_idle_end_is_the_cross_core_ping_pong_when_measured() {
        let mut t = TransportCosts::literature(
            Nanos::new(8_000.0),
            NanosPerByte::new(0.0),
            Nanos::new(16_000.0),
            Nanos::new(100.0),
            "test",
        );
        // Same-core headline, nothing else measured: the headline is the idle end.
        assert!((t.server_at(1.0).0.get() - 8_000.0).abs() < 1e-9);
        t.other_cores = Some(link(24_000.0));
        // A storage server's clients are on other cores: a(d) = 100 + (24,000 - 100) / d.
        assert!((t.server_at(1.0).0.get() - 24_000.0).abs() < 1e-9);
        assert!((t.server_at(32.0).0.get() - (100.0 + 23_900.0 / 32.0)).abs() < 1e-9);
        // A cross-core headline is its own idle end.
        t.headline = CoreRegime::CrossCore;
        assert!((t.server_at(1.0).0.get() - 8_000.0).abs() < 1e-9);
    }
}
