//! The sweep: points over clients, pipelining depth, value size and keys per multi-get,
//! measured in interleaved rounds (every point once per round, the order reversed on odd
//! rounds), so a burst of noise spreads over points instead of spoiling one.
//!
//! A point runs `clients` connections (one thread each, or one thread for all: [`ClientModel`],
//! in [`super::load`]), pinned to a core other than the server's when the host allows, each
//! sending batches of `depth` pipelined gets of `keys` keys for a fixed window. The server's counters are read just before the window opens (every
//! client connected and warmed up) and just after the last client finished its last batch.
//!
//! Every point's sample is a block under the noise monitor ([`crate::noise`]): other
//! processes' CPU (not calibrate's own, not the measured server's) and steal over a threshold
//! make it redone, up to three tries (two with `--quick`) while the sweep's budget allows; the
//! sweep's noise record grades the calibration and the fit combines the clean rounds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use costmodel::NoiseRecord;

use super::DriverFactory;
pub use super::load::{ClientModel, measure};
use super::procfs::{ProcSample, ServerProcess};
use crate::harness::WallClock;
use crate::noise::block::{NoiseLog, RedoPolicy, measure_block};
use crate::noise::{Clock, LinuxProc, Monitor, Thresholds, rounds};

/// How much to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Quick plan (a few seconds) instead of the standard one (under 2 minutes).
    pub quick: bool,
    /// Rounds over every point.
    pub rounds: u32,
    /// Measuring window of one point in one round.
    pub window: Duration,
    /// Most client threads (connections) at a point (at most 16).
    pub max_clients: u32,
    /// Timeout on connect and on every read and write.
    pub timeout: Duration,
    /// Keys stored per value size.
    pub keys_per_size: u64,
    /// How long the idle server is watched before the sweep (its background CPU is
    /// subtracted).
    pub idle: Duration,
    /// Seed of the key choice.
    pub seed: u64,
    /// How the client connections of a point are driven.
    pub clients: ClientModel,
}

impl Options {
    /// The standard plan: 39 points, 5 rounds of 200 ms windows (about a minute).
    pub fn standard() -> Self {
        Options {
            quick: false,
            rounds: 5,
            window: Duration::from_millis(200),
            max_clients: 16,
            timeout: Duration::from_secs(2),
            keys_per_size: 2048,
            idle: Duration::from_millis(300),
            seed: 0x5e7e_c0de,
            clients: ClientModel::default(),
        }
    }

    /// The quick plan: 10 points, 3 rounds of 60 ms windows (a few seconds).
    pub fn quick() -> Self {
        Options {
            quick: true,
            rounds: 3,
            window: Duration::from_millis(60),
            max_clients: 4,
            keys_per_size: 256,
            idle: Duration::from_millis(100),
            ..Options::standard()
        }
    }
}

/// One point of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PointSpec {
    /// Client threads, one connection each.
    pub clients: u32,
    /// Requests each client sends before reading their replies.
    pub depth: u32,
    /// Bytes of each value.
    pub value_bytes: usize,
    /// Keys per request (1: a get, more: a multi-get).
    pub keys: u32,
    /// Microseconds each client thread computes (spins) between sending a batch and reading its
    /// replies, so that replies find it awake: 0 = clients block on their replies at once.
    /// These points separate the server's cost of waking a sleeping client
    /// (`per_peer_wakeup`) from its own wake-ups.
    pub busy_us: u32,
}

impl PointSpec {
    /// A point whose clients block on their replies (`busy_us` 0).
    pub fn blocked(clients: u32, depth: u32, value_bytes: usize, keys: u32) -> Self {
        PointSpec {
            clients,
            depth,
            value_bytes,
            keys,
            busy_us: 0,
        }
    }
}

impl std::fmt::Display for PointSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} client(s) x depth {}, {} B values, {} key(s)/request",
            self.clients, self.depth, self.value_bytes, self.keys
        )?;
        if self.busy_us > 0 {
            write!(f, ", clients busy {} us per batch", self.busy_us)?;
        }
        Ok(())
    }
}

/// How long a busy point's clients compute per batch: longer than this VM's unloaded round trip
/// over loopback (tens of microseconds), so most replies arrive while the client still computes.
/// Each point's client wake-ups are counted, not assumed, so a reply that comes later only
/// moves the point.
pub const BUSY_US: u32 = 150;

/// The points to measure, for the value sizes the server can hold (one size for a server with
/// a fixed table).
pub fn plan(opts: &Options, sizes: &[usize]) -> Vec<PointSpec> {
    let cmax = opts.max_clients.clamp(1, 16);
    let small = sizes.iter().copied().min().unwrap_or(64);
    let mid = sizes
        .iter()
        .copied()
        .find(|&s| s > small && s < 4096)
        .unwrap_or(small);
    let large = sizes.iter().copied().max().unwrap_or(small);
    let p = |clients: u32, depth: u32, value_bytes: usize, keys: u32| {
        PointSpec::blocked(clients.min(cmax), depth, value_bytes, keys)
    };
    let busy = |spec: PointSpec| PointSpec {
        busy_us: BUSY_US,
        ..spec
    };
    let mut out = Vec::new();
    if opts.quick {
        for (c, d) in [(1, 1), (cmax, 1), (1, 16), (cmax, 16)] {
            out.push(p(c, d, small, 1));
        }
        out.push(p(1, 1, large, 1));
        out.push(p(cmax, 16, large, 1));
        out.push(p(1, 1, small, 16));
        out.push(p(1, 1, mid, 32));
        out.push(busy(p(1, 1, small, 1)));
        out.push(busy(p(cmax, 1, small, 1)));
    } else {
        for c in [1, 2, 4, 8, 16] {
            for d in [1, 4, 16] {
                out.push(p(c, d, small, 1));
            }
        }
        for s in [mid, large] {
            for (c, d) in [(1, 1), (1, 16), (cmax, 1), (cmax, 16)] {
                out.push(p(c, d, s, 1));
            }
        }
        for k in [4, 16, 32] {
            for s in [small, mid, large] {
                out.push(p(1, 1, s, k));
            }
            // Pipelined, so that the keys' cost is not buried under a wake-up per request.
            out.push(p(1, 16, small, k));
        }
        // Clients awake when their replies arrive: the server wakes no one.
        for (c, d) in [(1, 1), (4, 1), (cmax, 1), (1, 4)] {
            out.push(busy(p(c, d, small, 1)));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|s| seen.insert(*s));
    out
}

/// One measurement of one point: the server's counters over the window (idle not yet
/// subtracted) and what the clients did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Round it was taken in.
    pub round: u32,
    /// Requests completed.
    pub requests: u64,
    /// Value bytes received.
    pub value_bytes: u64,
    /// Wall time of the window, ns.
    pub wall_ns: u64,
    /// The server's counters over the window.
    pub server: ProcSample,
    /// CPU time of all client threads, ns.
    pub client_cpu_ns: u64,
    /// Times the client threads went to sleep (voluntary context switches) in the window: the
    /// wake-ups the server's replies caused.
    pub client_wakeups: u64,
    /// Median round trip of a short ping-pong on a connection of its own just before the
    /// window, ns (0 when it failed): the machine's state at the sample. On a shared VM the
    /// same round trip sits at one of two levels about 2x apart for seconds at a time, and the
    /// server's CPU per request moves with it.
    pub probe_rtt_ns: f64,
    /// False when the noise monitor saw this sample's block over a threshold on every try.
    pub clean: bool,
}

/// A point and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// What was measured.
    pub spec: PointSpec,
    /// One sample per round (fewer when the run stopped early).
    pub samples: Vec<Sample>,
}

/// The server's background activity while idle, per second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Idle {
    /// CPU ns per second.
    pub cpu_ns: f64,
    /// Counted read/write system calls per second.
    pub syscalls: f64,
    /// Wake-ups per second.
    pub wakeups: f64,
}

/// Per-request quantities of one sample, idle activity subtracted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerRequest {
    /// Server CPU ns per request.
    pub cpu_ns: f64,
    /// Counted read/write system calls per request.
    pub syscalls: f64,
    /// Server wake-ups per request.
    pub wakeups: f64,
    /// Client wake-ups per request (the server woke a sleeping client).
    pub peer_wakeups: f64,
    /// Keys per request.
    pub keys: f64,
    /// Value bytes per request.
    pub bytes: f64,
    /// Client CPU ns per request.
    pub client_cpu_ns: f64,
    /// Wall ns per request per connection (the round trip at depth 1).
    pub wall_ns: f64,
}

impl Sample {
    /// Requests completed per second of the window's wall time.
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / (self.wall_ns.max(1) as f64 / 1e9)
    }

    /// The sample per request, with `idle` activity over its window subtracted.
    pub fn per_request(&self, spec: &PointSpec, idle: &Idle) -> PerRequest {
        let n = self.requests.max(1) as f64;
        let secs = self.wall_ns as f64 / 1e9;
        let sub = |v: u64, rate: f64| (v as f64 - rate * secs).max(0.0) / n;
        PerRequest {
            cpu_ns: sub(self.server.cpu_ns, idle.cpu_ns),
            syscalls: sub(self.server.syscr + self.server.syscw, idle.syscalls),
            wakeups: sub(self.server.voluntary, idle.wakeups),
            peer_wakeups: self.client_wakeups as f64 / n,
            keys: f64::from(spec.keys),
            bytes: self.value_bytes as f64 / n,
            client_cpu_ns: self.client_cpu_ns as f64 / n,
            wall_ns: self.wall_ns as f64 * f64::from(spec.clients * spec.depth) / n,
        }
    }
}

/// Where the keys of one value size live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySet {
    /// Bytes per value.
    pub value_bytes: usize,
    /// First key id.
    pub first: u64,
    /// Number of keys.
    pub count: u64,
}

/// Everything a point measurement needs.
pub struct Target<'a> {
    /// Opens connections.
    pub factory: &'a dyn DriverFactory,
    /// The server's address.
    pub addr: SocketAddr,
    /// The server's process.
    pub process: ServerProcess,
    /// Key sets by value size.
    pub keys: Vec<KeySet>,
    /// CPUs the client threads are pinned to, round-robin (empty: not pinned).
    pub client_cpus: Vec<usize>,
}

/// Watches the idle server for `d`.
///
/// # Errors
/// When the server's counters cannot be read.
pub fn idle(process: &ServerProcess, d: Duration) -> std::io::Result<Idle> {
    let a = process.sample()?;
    let t0 = Instant::now();
    std::thread::sleep(d);
    let b = process.sample()?;
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    let x = b.since(&a);
    Ok(Idle {
        cpu_ns: x.cpu_ns as f64 / secs,
        syscalls: (x.syscr + x.syscw) as f64 / secs,
        wakeups: x.voluntary as f64 / secs,
    })
}

/// The sweep's result: every point with the samples taken, and why it stopped early if it did.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The points.
    pub points: Vec<Point>,
    /// The idle server's background activity (subtracted from every sample).
    pub idle: Idle,
    /// Rounds planned.
    pub rounds: u32,
    /// The error that stopped the sweep (the samples before it are kept).
    pub stopped: Option<String>,
    /// How long the sweep took.
    pub elapsed: Duration,
    /// What else used the CPU during the samples, and the calibration's noise grade.
    pub noise: NoiseRecord,
}

/// The sweep's reference point as measured: one client, unpipelined, one key of the smallest
/// value, clients blocking on their replies. Measured again later (a quick calibration after a
/// fidelity check's load runs), it says whether the machine is still in the state the
/// calibration saw: on a shared VM the same point's cost can move 1.7x for minutes with
/// nothing in steal or other processes' CPU to show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reference {
    /// The point.
    pub spec: PointSpec,
    /// Median server CPU per request over the rounds, idle subtracted, ns.
    pub server_ns: f64,
    /// Median requests per second over the rounds.
    pub requests_per_s: f64,
}

impl Reference {
    /// `server X us at Y/s` and, against `earlier`, the ratio of the server CPU per request.
    pub fn compare(&self, earlier: &Reference) -> (f64, String) {
        let ratio = self.server_ns / earlier.server_ns.max(1e-9);
        (
            ratio,
            format!(
                "reference point ({}): {:.2} us of server CPU per request at {:.0}/s in the \
                 calibration, {:.2} us at {:.0}/s now ({ratio:.2}x)",
                self.spec,
                earlier.server_ns / 1e3,
                earlier.requests_per_s,
                self.server_ns / 1e3,
                self.requests_per_s
            ),
        )
    }
}

impl Sweep {
    /// The reference point's medians, when it was measured.
    pub fn reference(&self) -> Option<Reference> {
        let p = self
            .points
            .iter()
            .filter(|p| {
                let s = p.spec;
                s.clients == 1 && s.depth == 1 && s.keys == 1 && s.busy_us == 0
            })
            .filter(|p| !p.samples.is_empty())
            .min_by_key(|p| p.spec.value_bytes)?;
        let cpu: Vec<f64> = p
            .samples
            .iter()
            .map(|s| s.per_request(&p.spec, &self.idle).cpu_ns)
            .collect();
        let rate: Vec<f64> = p.samples.iter().map(Sample::requests_per_s).collect();
        Some(Reference {
            spec: p.spec,
            server_ns: crate::stats::median(&cpu),
            requests_per_s: crate::stats::median(&rate),
        })
    }
}

/// Clock time after which no contaminated sample is redone: twice the plan's nominal time
/// (`window` + 100 ms of connecting and warming up per sample).
pub fn redo_budget(points: usize, opts: &Options) -> Duration {
    let per = opts.window + Duration::from_millis(100);
    per * u32::try_from(points)
        .unwrap_or(u32::MAX)
        .saturating_mul(opts.rounds)
        * 2
}

/// Runs every point `opts.rounds` times in interleaved rounds, calling `between_rounds(r)`
/// before round `r` (from 1: every round but the first). An error stops the sweep; what was
/// measured before it is returned with the error in [`Sweep::stopped`].
pub fn run(
    t: &Target<'_>,
    specs: &[PointSpec],
    opts: &Options,
    idle: Idle,
    mut progress: impl FnMut(u32, usize, &PointSpec),
    mut between_rounds: impl FnMut(u32),
) -> Sweep {
    let t0 = Instant::now();
    let clock = WallClock::start();
    let thresholds = Thresholds::default();
    // Calibrate's own process (the client threads) is measured by the monitor already; the
    // server is the measurement too, not noise. Samples are held to the machine state the
    // first finds (on the first two CPUs, where the fidelity checks pin client and server): a
    // request's cost moves with it (see `state`).
    let mut monitor = Monitor::new(LinuxProc::new(), &clock, thresholds)
        .watch_this_host_state(None)
        .watch_this_host_speed_on_probe_cpus()
        .watch_this_host_siblings_on_probe_cpus(false);
    monitor.exclude(t.process.pid);
    let mut log = NoiseLog::new(thresholds);
    let mut policy = RedoPolicy {
        max_attempts: if opts.quick { 2 } else { 3 },
        deadline: clock.elapsed() + redo_budget(specs.len(), opts),
    };
    let mut points: Vec<Point> = specs
        .iter()
        .map(|&spec| Point {
            spec,
            samples: Vec::new(),
        })
        .collect();
    let mut stopped = None;
    'rounds: for round in 0..opts.rounds {
        if round > 0 {
            policy.outside_budget(&clock, || between_rounds(round));
        }
        for i in rounds::order(round as usize, points.len()) {
            let spec = points[i].spec;
            progress(round, i, &spec);
            let name = format!("round {} {spec}", round + 1);
            match measure_block(&monitor, &mut log, &name, &policy, || {
                measure(t, spec, round, opts)
            }) {
                Ok(kept) => {
                    let mut s = kept.value;
                    s.clean = kept.clean;
                    if s.server.cpu_ns == 0 && s.requests > 100 {
                        stopped = Some(format!(
                            "server pid {} used no CPU while answering {} requests at {}: is \
                             it the process listening there?",
                            t.process.pid, s.requests, t.addr
                        ));
                        break 'rounds;
                    }
                    points[i].samples.push(s);
                }
                Err(e) => {
                    let why = if t.process.alive() {
                        e
                    } else {
                        format!("the server (pid {}) exited ({e})", t.process.pid)
                    };
                    stopped = Some(format!(
                        "{} (pid {}): round {} of {}, point {spec}: {why}",
                        t.addr,
                        t.process.pid,
                        round + 1,
                        opts.rounds
                    ));
                    break 'rounds;
                }
            }
        }
    }
    Sweep {
        points,
        idle,
        rounds: opts.rounds,
        stopped,
        elapsed: t0.elapsed(),
        noise: log.record(opts.rounds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_axis_without_duplicates() {
        let full = plan(&Options::standard(), &[64, 1024, 8192]);
        assert_eq!(full.len(), 39);
        for axis in [
            |p: &PointSpec| p.clients as usize,
            |p: &PointSpec| p.depth as usize,
            |p: &PointSpec| p.value_bytes,
            |p: &PointSpec| p.keys as usize,
        ] {
            let distinct: std::collections::BTreeSet<usize> = full.iter().map(axis).collect();
            assert!(distinct.len() >= 3, "{distinct:?}");
        }
        assert!(full.iter().filter(|p| p.busy_us > 0).count() >= 3);
        let quick = plan(&Options::quick(), &[64, 1024, 8192]);
        assert_eq!(quick.len(), 10);
        // A fixed table has one value size: the size points collapse.
        let fixed = plan(&Options::quick(), &[128]);
        assert!(fixed.len() < 10 && fixed.iter().all(|p| p.value_bytes == 128));
    }

    #[test]
    fn the_reference_is_the_smallest_unpipelined_single_key_point_with_blocked_clients() {
        let spec = |clients, depth, value_bytes, keys, busy_us| PointSpec {
            busy_us,
            ..PointSpec::blocked(clients, depth, value_bytes, keys)
        };
        // `cpu` ns per request over 1,000 requests in 10 ms: 100,000 requests/s.
        let point = |spec: PointSpec, cpu: u64| Point {
            spec,
            samples: (0..3)
                .map(|round| Sample {
                    round,
                    requests: 1_000,
                    value_bytes: 64_000,
                    wall_ns: 10_000_000,
                    server: ProcSample {
                        cpu_ns: cpu * 1_000,
                        ..ProcSample::default()
                    },
                    client_cpu_ns: 0,
                    client_wakeups: 1_000,
                    probe_rtt_ns: 0.0,
                    clean: true,
                })
                .collect(),
        };
        let sweep = |points| Sweep {
            points,
            idle: Idle::default(),
            rounds: 3,
            stopped: None,
            elapsed: Duration::ZERO,
            noise: NoiseLog::new(Thresholds::default()).record(3),
        };
        let calibrated = sweep(vec![
            point(spec(1, 1, 1024, 1, 0), 9_000),
            point(spec(1, 1, 64, 1, BUSY_US), 3_000),
            point(spec(1, 16, 64, 1, 0), 500),
            point(spec(1, 1, 64, 1, 0), 8_000),
            point(spec(1, 1, 64, 16, 0), 9_500),
        ]);
        let r = calibrated.reference().unwrap();
        assert_eq!(r.spec, spec(1, 1, 64, 1, 0));
        assert!((r.server_ns - 8_000.0).abs() < 1e-9 && (r.requests_per_s - 1e5).abs() < 1e-6);
        let later = sweep(vec![point(spec(1, 1, 64, 1, 0), 14_000)])
            .reference()
            .unwrap();
        let (ratio, text) = later.compare(&r);
        assert!((ratio - 1.75).abs() < 1e-9, "{text}");
        assert!(
            text.contains("8.00 us") && text.contains("14.00 us"),
            "{text}"
        );
        assert!(
            sweep(vec![point(spec(2, 1, 64, 1, 0), 1)])
                .reference()
                .is_none()
        );
    }
}
