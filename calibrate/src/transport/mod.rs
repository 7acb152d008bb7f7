//! Transport measurements: ping-pong and pipelined echo over TCP, UDP, Unix stream sockets and a
//! shared-memory ring, swept over message sizes, in two core placements.
//!
//! A *round trip* is one request of `n` bytes and one response of `n` bytes. Both ends run on
//! their own thread, pinned with `sched_setaffinity`: both on one core (*same core*: the pure
//! software cost of the system calls, copies and the two context switches) or on two cores
//! (*cross core*: adds the wake-up of the other core, an IPI that exits to the hypervisor in a
//! VM). Each sample is a batch of round trips; each side reports its own thread CPU time for the
//! batch (user + kernel), the client also the wall time. Per side, the per-sample CPU per round
//! trip is fitted against the payload bytes of the round trip (`q + r = 2n`, each counted once)
//! as `a + b * bytes` ([`crate::fit`]).
//!
//! Pipelined runs keep `window` requests in flight on one connection: the server then finds the
//! next request already queued and drains several per wake-up, which is the saturated end of the
//! model's `processing + wakeup / drained`. Their round-trip latency is given by Little's law,
//! `window x time per request`.
//!
//! The shared-memory ring polls: a poller's CPU is all wall time, most of it spent waiting. Its
//! per-request CPU is therefore the *busy* time (from "message seen" to "reply published",
//! clock overhead subtracted); the idle spin belongs to a dedicated core's reservation, not to
//! a request.
//!
//! The harness measures any [`costmodel::Transport`] that provides a probe
//! ([`costmodel::Transport::probe`]): the probe opens a connected (client, server) link pair,
//! and the harness serves the server end with its own echo thread. The built-in drivers
//! ([`Tcp`], [`Udp`], [`Unix`], [`Shm`]) are such transports; a third party's is measured the same
//! way through [`TransportKind::new`].

mod drain;
mod drivers;
mod echo;
mod shm;

pub use drain::{drain_flags, drain_floor};
pub use drivers::{Shm, Tcp, Udp, Unix};
pub use echo::sweep;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use costmodel::{CoreRegime, Transport, TransportProbe};

use crate::cpu::CounterSet;
use crate::error::{CalibrateError, Result};
use crate::fit::{LinearFit, fit_medians};
use crate::harness::{Measurement, StopReason, StopRule};
use crate::stats::{Rng, Summary, median};

/// How long a peer may stay silent before a measurement is declared failed.
pub(crate) const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest message any transport is asked to carry.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// A transport the harness can measure: a `'static` [`Transport`] and its id. Not a closed
/// set: the built-in drivers are constants, and [`TransportKind::new`] wraps any other.
#[derive(Clone, Copy)]
pub struct TransportKind {
    transport: &'static dyn Transport,
    id: &'static str,
}

impl TransportKind {
    /// Kernel TCP over loopback.
    pub const TCP: TransportKind = TransportKind {
        transport: &Tcp,
        id: "tcp",
    };
    /// Kernel UDP over loopback.
    pub const UDP: TransportKind = TransportKind {
        transport: &Udp,
        id: "udp",
    };
    /// Unix stream socket pair.
    pub const UNIX: TransportKind = TransportKind {
        transport: &Unix,
        id: "unix",
    };
    /// Shared-memory ring between two threads.
    pub const SHM: TransportKind = TransportKind {
        transport: &Shm,
        id: "shm",
    };

    /// The built-in transports, in profile order.
    pub const ALL: [TransportKind; 4] = [Self::TCP, Self::UDP, Self::UNIX, Self::SHM];

    /// Wraps `transport`, whose id must be `id`.
    ///
    /// # Errors
    /// [`CalibrateError::Transport`] when `transport.id()` is not `id`, or the transport has no
    /// probe to measure it with.
    pub fn new(transport: &'static dyn Transport, id: &'static str) -> Result<Self> {
        let fail = |message: String| CalibrateError::Transport {
            transport: id.to_owned(),
            message,
        };
        if transport.id().as_str() != id {
            return Err(fail(format!("its id() is {}, not {id}", transport.id())));
        }
        if transport.probe().is_none() {
            return Err(fail(
                "it has no probe (Transport::probe returns None)".to_owned(),
            ));
        }
        Ok(TransportKind { transport, id })
    }

    /// The transport.
    pub fn transport(self) -> &'static dyn Transport {
        self.transport
    }

    /// The transport id used in profiles.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The built-in transport with id `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == id)
    }

    /// A fresh probe of the transport.
    ///
    /// # Errors
    /// [`CalibrateError::Transport`] when the transport has none.
    pub fn probe(self) -> Result<Box<dyn TransportProbe>> {
        self.transport
            .probe()
            .ok_or_else(|| CalibrateError::Transport {
                transport: self.id.to_owned(),
                message: "it has no probe (Transport::probe returns None)".to_owned(),
            })
    }

    /// What the transport is, for the profile.
    pub fn description(self) -> String {
        self.transport.probe().map_or_else(
            || self.transport.defaults().description,
            |p| p.description(),
        )
    }

    /// The largest message this transport can carry in one piece (at most [`MAX_MESSAGE`]).
    pub fn max_message(self) -> usize {
        self.transport
            .probe()
            .map_or(MAX_MESSAGE, |p| p.max_message().clamp(1, MAX_MESSAGE))
    }

    /// The core placement the profile's headline numbers use: the probe's choice (same core
    /// for kernel sockets, whose cross-core wake-ups are recorded as `other_cores`; cross core
    /// for a polling ring, which needs its own core).
    pub fn headline(self, cpus: usize) -> CoreRegime {
        self.transport
            .probe()
            .map_or(CoreRegime::SameCore, |p| p.headline(cpus))
    }
}

impl fmt::Debug for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportKind({})", self.id)
    }
}

impl PartialEq for TransportKind {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for TransportKind {}

impl PartialOrd for TransportKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TransportKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(other.id)
    }
}

impl Hash for TransportKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

/// (client cpu, server cpu, wall, switches, task clock / thread clock) of one batch, per round
/// trip.
pub(crate) type BatchResult = (f64, f64, f64, Option<f64>, Option<f64>);

/// One message size's samples (all per round trip).
#[derive(Clone, Debug)]
pub struct PointResult {
    /// Message size each way, bytes.
    pub size: usize,
    /// Round trips per sample.
    pub per_sample: u64,
    /// Client CPU per round trip, ns.
    pub client: Vec<f64>,
    /// Server CPU per round trip, ns.
    pub server: Vec<f64>,
    /// Wall time per round trip, ns.
    pub wall: Vec<f64>,
    /// Context switches per round trip (both sides), when counted.
    pub switches: Vec<f64>,
    /// perf task clock / thread CPU clock per sample (both sides), when counted: a cross-check
    /// of the two CPU sources (1.0 when they agree).
    pub task_over_thread: Vec<f64>,
    /// The stop rule's verdict and summary (on server CPU).
    pub measurement: Measurement,
}

/// A size sweep in one core placement and one load regime.
#[derive(Clone, Debug)]
pub struct SweepResult {
    /// The transport.
    pub kind: TransportKind,
    /// Core placement.
    pub regime: CoreRegime,
    /// Requests in flight (1 = ping-pong).
    pub window: u32,
    /// The CPUs used (client, server).
    pub cpus: (usize, usize),
    /// Per-size samples.
    pub points: Vec<PointResult>,
    /// Client CPU per round trip against `2 * size`.
    pub client_fit: LinearFit,
    /// Server CPU per round trip against `2 * size`.
    pub server_fit: LinearFit,
    /// Round-trip latency at the smallest size (Little's law when pipelined), ns.
    pub round_trip: Summary,
    /// Median (client + server CPU) / wall at the smallest size.
    pub cpu_over_wall: f64,
    /// Median context switches per round trip at the smallest size.
    pub switches_per_rt: Option<f64>,
    /// Median perf task clock / thread CPU clock over all samples, when counted.
    pub task_over_thread: Option<f64>,
    /// What the counters were.
    pub counters: String,
}

impl SweepResult {
    /// A short name: `tcp same-core ping-pong`.
    pub fn label(&self) -> String {
        label(self.kind, self.regime, self.window)
    }
}

fn regime_name(r: CoreRegime) -> &'static str {
    match r {
        CoreRegime::SameCore => "same-core",
        CoreRegime::CrossCore => "cross-core",
    }
}

/// `tcp same-core ping-pong` / `tcp same-core pipelined x16`.
pub fn label(kind: TransportKind, regime: CoreRegime, window: u32) -> String {
    if window <= 1 {
        format!("{} {} ping-pong", kind.id(), regime_name(regime))
    } else {
        format!("{} {} pipelined x{window}", kind.id(), regime_name(regime))
    }
}

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepPlan {
    /// Message sizes (each way), bytes; capped at the transport's maximum.
    pub sizes: Vec<usize>,
    /// Requests in flight (1 = ping-pong).
    pub window: u32,
    /// Stop rule per size.
    pub rule: StopRule,
    /// Warm-up per size.
    pub warmup: Duration,
    /// Target length of one sample.
    pub sample_time: Duration,
    /// Bootstrap resamples for the fits.
    pub fit_resamples: usize,
}

/// Fits the per-side lines and summarises the smallest size.
pub(crate) fn finish(
    kind: TransportKind,
    regime: CoreRegime,
    plan: &SweepPlan,
    cpus: (usize, usize),
    polls: bool,
    points: Vec<PointResult>,
    rng: &mut Rng,
) -> Result<SweepResult> {
    let what = label(kind, regime, plan.window);
    let groups = |side: fn(&PointResult) -> &Vec<f64>| -> Vec<(f64, Vec<f64>)> {
        points
            .iter()
            .map(|p| (2.0 * p.size as f64, side(p).clone()))
            .collect()
    };
    let fit = |side: fn(&PointResult) -> &Vec<f64>, name: &str, rng: &mut Rng| {
        let g = groups(side);
        if g.len() >= 2 {
            fit_medians(&g, 0.95, plan.fit_resamples, rng, &format!("{what} {name}"))
        } else {
            // A single size: the per-request cost is its median, with no per-byte slope.
            let xs = g.first().map(|x| x.1.clone()).unwrap_or_default();
            let s = Summary::of(&xs, 0.95, plan.fit_resamples, rng).ok_or_else(|| {
                CalibrateError::NoSamples {
                    what: format!("{what} {name}"),
                }
            })?;
            Ok(LinearFit {
                intercept: s.median,
                slope: 0.0,
                intercept_ci: (s.lower, s.upper),
                slope_ci: (0.0, 0.0),
                r2: 0.0,
                confidence: 0.95,
                samples: s.n,
                points: 1,
            })
        }
    };
    let client_fit = fit(|p| &p.client, "client", rng)?;
    let server_fit = fit(|p| &p.server, "server", rng)?;
    let first = points
        .first()
        .ok_or_else(|| CalibrateError::NoSamples { what: what.clone() })?;
    let window = f64::from(plan.window.max(1));
    let latency: Vec<f64> = first.wall.iter().map(|w| w * window).collect();
    let round_trip = Summary::of(&latency, 0.95, plan.fit_resamples, rng).ok_or_else(|| {
        CalibrateError::NoSamples {
            what: format!("{what} round trip"),
        }
    })?;
    let cpu_sum: Vec<f64> = first
        .client
        .iter()
        .zip(&first.server)
        .zip(&first.wall)
        .map(|((c, s), w)| (c + s) / w.max(1e-9))
        .collect();
    let switches_per_rt = (!first.switches.is_empty()).then(|| median(&first.switches));
    let ratios: Vec<f64> = points
        .iter()
        .flat_map(|p| p.task_over_thread.iter().copied())
        .collect();
    let task_over_thread = (!ratios.is_empty() && !polls).then(|| median(&ratios));
    let counters = if polls {
        "busy time from the monotonic clock (poller), clock overhead subtracted".to_owned()
    } else {
        format!(
            "thread CPU clock per side (user+kernel); {}",
            CounterSet::open_for_this_thread().describe()
        )
    };
    Ok(SweepResult {
        kind,
        regime,
        window: plan.window.max(1),
        cpus,
        cpu_over_wall: median(&cpu_sum),
        switches_per_rt,
        task_over_thread,
        round_trip,
        client_fit,
        server_fit,
        points,
        counters,
    })
}

impl SweepResult {
    /// The worst stop verdict over the sizes (budget spent beats max samples beats converged).
    pub fn stop_summary(&self) -> String {
        let conv = self
            .points
            .iter()
            .filter(|p| p.measurement.stop == StopReason::Converged)
            .count();
        let budget = self
            .points
            .iter()
            .filter(|p| p.measurement.stop == StopReason::BudgetSpent)
            .count();
        format!(
            "{} sizes: {conv} converged, {budget} budget spent, {} max samples",
            self.points.len(),
            self.points.len() - conv - budget
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu;

    fn tiny_plan(window: u32) -> SweepPlan {
        SweepPlan {
            sizes: vec![16, 2048],
            window,
            rule: StopRule {
                min_samples: 3,
                max_samples: 4,
                target_rel_half_width: 0.5,
                budget: Duration::from_millis(200),
                confidence: 0.95,
                resamples: 50,
            },
            warmup: Duration::from_millis(1),
            sample_time: Duration::from_micros(200),
            fit_resamples: 20,
        }
    }

    // Each transport carries real messages in both regimes and produces finite fits; no timing
    // is asserted (the machine may be loaded).
    #[test]
    fn every_transport_sweeps_ping_pong_and_pipelined() {
        let cpus = cpu::allowed_cpus();
        for kind in TransportKind::ALL {
            for window in [1, 4] {
                let mut rng = Rng::new(9);
                let r = sweep(
                    kind,
                    CoreRegime::SameCore,
                    &cpus,
                    &tiny_plan(window),
                    &mut rng,
                    |_| {},
                )
                .unwrap_or_else(|e| panic!("{kind:?} x{window}: {e}"));
                assert_eq!(r.points.len(), 2);
                assert!(r.server_fit.intercept.is_finite(), "{}", r.label());
                assert!(r.round_trip.median > 0.0);
                assert!(r.points.iter().all(|p| p.client.len() == p.server.len()));
            }
        }
    }

    #[test]
    fn cross_core_needs_two_cpus() {
        let mut rng = Rng::new(1);
        let e = sweep(
            TransportKind::UNIX,
            CoreRegime::CrossCore,
            &[0],
            &tiny_plan(1),
            &mut rng,
            |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("two CPUs"), "{e}");
    }

    #[test]
    fn ids_round_trip() {
        for k in TransportKind::ALL {
            assert_eq!(TransportKind::from_id(k.id()), Some(k));
        }
        assert_eq!(TransportKind::from_id("carrier-pigeon"), None);
    }

    // Every built-in driver is an open `Transport`: valid defaults from the reference profile,
    // a probe, and the right reach (unix and shm never leave the host).
    #[test]
    fn builtin_drivers_are_transports_with_probes() {
        for k in TransportKind::ALL {
            let t = k.transport();
            assert_eq!(t.id().as_str(), k.id());
            costmodel::checked_defaults(t).unwrap();
            assert!(t.probe().is_some(), "{}", k.id());
            assert_eq!(t.crosses_network(), !matches!(k.id(), "unix" | "shm"));
        }
        assert!(TransportKind::new(&Tcp, "udp").is_err());
    }
}
