//! The sweep, the model's prediction for every point, and the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use calibrate::harness::WallClock;
use calibrate::noise::block::{NoiseLog, RedoPolicy, measure_block, remeasure_block};
use calibrate::noise::{Clock, LinuxProc, Monitor, Thresholds};
use costmodel::{HostProfile, NoiseRecord, SchemeId};

use super::client::{self, Load, Mode, Sample};
use isolation_plugins::store::{StorageFunction, TableShape};

use super::kv::Store;
use super::predict::{self, Prediction};
use super::server::{self, FunctionFactory};

/// Builds a scheme's instance of the storage function on the server thread.
pub type MakeFunction = fn(Arc<Store>) -> Result<Box<dyn StorageFunction>, String>;

/// A scheme the server can run functions under.
#[derive(Clone)]
pub struct SchemeSpec {
    /// The scheme's id in the host profile (`native`, `wasm`, `ebpf`).
    pub id: SchemeId,
    /// Builds the function.
    pub make: MakeFunction,
}

impl std::fmt::Debug for SchemeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SchemeSpec({})", self.id)
    }
}

fn native(store: Arc<Store>) -> Result<Box<dyn StorageFunction>, String> {
    Ok(Box::new(isolation_plugins::native::NativeInstance::new(
        store,
    )))
}

fn wasm(store: Arc<Store>) -> Result<Box<dyn StorageFunction>, String> {
    use isolation_plugins::wasm::{Allocator, WasmRuntime};
    let runtime = WasmRuntime::new(Allocator::Pooling).map_err(|e| e.to_string())?;
    let instance = runtime.instantiate(store).map_err(|e| e.to_string())?;
    Ok(Box::new(instance))
}

fn ebpf(store: Arc<Store>) -> Result<Box<dyn StorageFunction>, String> {
    use isolation_plugins::ebpf::{EbpfInstance, Mode};
    let instance = EbpfInstance::new(store, Mode::Jit).map_err(|e| e.to_string())?;
    Ok(Box::new(instance))
}

/// The schemes a storage server can run functions under: native, Wasm (pooling allocator) and
/// eBPF (JIT), all from `isolation-plugins`.
///
/// # Errors
/// Never in practice (the ids are valid); typed for the id parser.
pub fn builtin_schemes() -> costmodel::Result<Vec<SchemeSpec>> {
    Ok(vec![
        SchemeSpec {
            id: SchemeId::new("native")?,
            make: native,
        },
        SchemeSpec {
            id: SchemeId::new("wasm")?,
            make: wasm,
        },
        SchemeSpec {
            id: SchemeId::new("ebpf")?,
            make: ebpf,
        },
    ])
}

/// What to sweep and how long to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// Records per invocation, `k`.
    pub records: Vec<u32>,
    /// Native compute per invocation, microseconds.
    pub compute_us: Vec<f64>,
    /// Schemes run inside the server.
    pub schemes: Vec<SchemeSpec>,
    /// Repetitions per point, each in its own interleaved round.
    pub reps: usize,
    /// The least time from the first round's start to the last's: rounds that would come
    /// sooner wait ([`sweep`]), so that the measured side spans about the minutes a
    /// calibration's rounds span instead of a few seconds of one spell. Zero: no waits.
    pub span: Duration,
    /// Timed run per repetition.
    pub duration: Duration,
    /// Untimed warm-up per repetition.
    pub warmup: Duration,
    /// Requests the load generator keeps outstanding.
    pub window: usize,
    /// Records in the store.
    pub store_records: u64,
    /// Bytes per record.
    pub record_bytes: usize,
    /// Core the server thread is pinned to.
    pub server_core: usize,
    /// Core the load generator is pinned to.
    pub client_core: usize,
    /// Hold every repetition to free cores ([`calibrate::noise::sibling`]); [`run`] sets it
    /// when the profile it scores was calibrated that way (`calibrate run --hold-free-cores`).
    pub hold_free_cores: bool,
    /// Start each round once the wide kernel reads like this (a calibration's
    /// [`costmodel::SharedCores::median_ns`]) within [`costmodel::SharedCores::FACTOR`],
    /// waiting up to `cores_wait` ([`calibrate::noise::sibling::wait_for_median`]); [`run`]
    /// sets it from the profile it scores when it is `None`, unless that calibration's cores
    /// read shared around most of its blocks ([`costmodel::SharedCores::mostly_shared`]: no
    /// figure is given against it). `None`: no wait.
    pub cores_target_ns: Option<f64>,
    /// The longest a round waits for those cores ([`ROUND_CORES_WAIT`]).
    pub cores_wait: Duration,
}

impl Config {
    /// The full sweep: k in {1, 2, 4, 8, 16, 32}, c in {0, 1, 5, 10} us, 3 repetitions.
    pub fn full(schemes: Vec<SchemeSpec>) -> Self {
        Config {
            records: vec![1, 2, 4, 8, 16, 32],
            compute_us: vec![0.0, 1.0, 5.0, 10.0],
            schemes,
            reps: 3,
            span: Duration::ZERO,
            duration: Duration::from_millis(250),
            warmup: Duration::from_millis(50),
            window: 32,
            store_records: 100_000,
            record_bytes: 100,
            server_core: 0,
            client_core: 1,
            hold_free_cores: false,
            cores_target_ns: None,
            cores_wait: ROUND_CORES_WAIT,
        }
    }

    /// A reduced sweep for CI and quick checks: k in {1, 4, 32}, c in {0, 5} us.
    pub fn quick(schemes: Vec<SchemeSpec>) -> Self {
        Config {
            records: vec![1, 4, 32],
            compute_us: vec![0.0, 5.0],
            reps: 2,
            duration: Duration::from_millis(120),
            warmup: Duration::from_millis(30),
            ..Config::full(schemes)
        }
    }

    /// Checks the store's shape: the shape calibrate's probe tables allow
    /// ([`TableShape::checked`]: records a function can read whole, a table of at most 4 GiB),
    /// with at least as many records as the largest `k` reads.
    ///
    /// # Errors
    /// One line naming the field and the value.
    pub fn check_store(&self) -> Result<(), String> {
        let most = u64::from(self.records.iter().copied().max().unwrap_or(1));
        if self.store_records < most {
            return Err(format!(
                "store records: must be at least {most} (the largest k), got {}",
                self.store_records
            ));
        }
        self.table_shape()
            .checked()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The store's shape.
    pub fn table_shape(&self) -> TableShape {
        TableShape {
            records: self.store_records,
            record_bytes: self.record_bytes,
        }
    }

    fn points(&self) -> usize {
        self.records.len() * self.compute_us.len() * (self.schemes.len() + 1)
    }
}

/// Median and range of the repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median.
    pub median: f64,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
}

impl Summary {
    pub(super) fn of(mut xs: Vec<f64>) -> Self {
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        };
        Summary {
            median,
            min: xs.first().copied().unwrap_or(f64::NAN),
            max: xs.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Where a point's function ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// Inside the server under this scheme.
    Inside(String),
    /// At the load generator, fetching records with one GET each.
    Outside,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Side::Inside(s) => write!(f, "inside/{s}"),
            Side::Outside => f.write_str("outside/get"),
        }
    }
}

/// One measured grid point with its prediction.
#[derive(Clone, Debug)]
pub struct Point {
    /// Inside (which scheme) or outside.
    pub side: Side,
    /// Records per invocation.
    pub records: u32,
    /// Native compute per invocation, us.
    pub compute_us: f64,
    /// Kernel rounds that make that compute.
    pub rounds: u32,
    /// Server thread CPU per invocation, ns.
    pub server_cpu_ns: Summary,
    /// Completed invocations per second (wall clock).
    pub throughput: Summary,
    /// Server requests per invocation.
    pub requests_per_invocation: f64,
    /// Requests the server handled per read of its socket (a diagnostic, not an input of the
    /// prediction).
    pub requests_per_read: f64,
    /// Requests the server handled per sleep (voluntary context switch of its thread): the
    /// `drained` of the model's definition (a diagnostic, not an input of the prediction).
    pub requests_per_wakeup: f64,
    /// Server preemptions per thousand requests: other load on its core (a diagnostic).
    pub preemptions_per_k_requests: f64,
    /// The load generator's sleeps per server request: how often a reply found it asleep
    /// (read by predictions from `calibrate server` terms that separated client wake-ups).
    pub client_wakeups_per_request: f64,
    /// Median over the repetitions of the state probe's round trip before each, ns.
    pub probe_rtt_ns: f64,
    /// Repetitions measured in a block under the noise thresholds. The point's figures are
    /// theirs when any is; a point with none is left out of the fidelity figures and the
    /// decisions ([`Point::scored`]): it measured the noise, not the server.
    pub clean_reps: u32,
    /// Predicted server CPU per invocation, ns.
    pub predicted_cpu_ns: f64,
}

impl Point {
    /// Server capacity implied by its CPU per invocation: invocations per server-core-second.
    pub fn capacity(&self) -> f64 {
        1e9 / self.server_cpu_ns.median
    }

    /// Predicted capacity.
    pub fn predicted_capacity(&self) -> f64 {
        1e9 / self.predicted_cpu_ns
    }

    /// Whether the prediction picks the side that measured cheaper for the server, between an
    /// inside point and the outside point at the same records and compute.
    pub fn decided_right(inside: &Point, outside: &Point) -> bool {
        (inside.server_cpu_ns.median < outside.server_cpu_ns.median)
            == (inside.predicted_cpu_ns < outside.predicted_cpu_ns)
    }

    /// Absolute error of the predicted CPU, percent of the measured.
    pub fn abs_error_pct(&self) -> f64 {
        ((self.predicted_cpu_ns - self.server_cpu_ns.median) / self.server_cpu_ns.median).abs()
            * 100.0
    }

    /// Whether the point counts in the fidelity figures: at least one repetition was measured
    /// in a block under the noise thresholds. Chosen from the noise monitor, never from the
    /// server's CPU, so this selects points, not results.
    pub fn scored(&self) -> bool {
        self.clean_reps > 0
    }
}

/// Crossover of one scheme at one compute level.
#[derive(Clone, Debug)]
pub struct CrossoverRow {
    /// Scheme.
    pub scheme: String,
    /// Compute, us.
    pub compute_us: f64,
    /// Measured k* (interpolated between swept k), `None` when inside never or always won.
    pub measured: Option<f64>,
    /// What the measurement says when there is no crossing in range.
    pub measured_note: &'static str,
    /// Predicted k*.
    pub predicted: Option<f64>,
}

/// The experiment's result.
#[derive(Clone, Debug)]
pub struct Report {
    /// Every grid point.
    pub points: Vec<Point>,
    /// k* per (scheme, compute).
    pub crossovers: Vec<CrossoverRow>,
    /// Native kernel cost per round, ns (what compute was priced at).
    pub ns_per_round: f64,
    /// Whether the server thread was pinned.
    pub pinned: bool,
    /// Decisions checked: (scheme, compute, k) triples.
    pub decisions: usize,
    /// Decisions where the model picked the measured winner.
    pub correct_decisions: usize,
    /// Wall time of the sweep.
    pub elapsed: Duration,
    /// Host profile name the prediction used.
    pub host: String,
    /// What priced the server's requests (`tcp echo at 32 requests/wake-up`, or a server's own
    /// calibrated terms).
    pub predicted_from: String,
    /// The measured side's noise: the sweep's [`Sweep::noise`].
    pub noise: NoiseRecord,
    /// The sweep's speed against the calibrations that priced it, where they differ most
    /// ([`Report::check_speed`]), and which calibration that was.
    pub speed: Option<(costmodel::SpeedCheck, String)>,
    /// How often the calibrations that priced the sweep read their cores shared, and which
    /// calibration each was ([`Report::check_speed`] takes them; [`Report::cores_line`]).
    pub cores_reference: Vec<(costmodel::SharedCores, String)>,
    /// The sweep's cores against the calibrations that priced it, where they differ most
    /// ([`Report::check_speed`]), and which calibration that was; `None` where either did not
    /// time the wide kernel in ns.
    pub cores: Option<(costmodel::CoresCheck, String)>,
    /// How each wait for cores like its calibration's ended ([`Sweep::cores_waits`]).
    pub cores_waits: Vec<calibrate::noise::sibling::CoresWait>,
    /// Each round's cores against the calibration's ([`Sweep::round_cores`]).
    pub round_cores: Vec<RoundCores>,
}

/// How compute was priced: the reference kernel's cost per round timed on the server's CPU at
/// the start of every repetition (the sweep's monitor watches the speed there,
/// [`calibrate::noise::speed`]), averaged.
///
/// On this machine kind one timing (a few milliseconds) lands in one of two speeds about 1.2x
/// apart that alternate every few tens of milliseconds (347 and 414 ns per round on the 2-vCPU
/// EPYC). A timing taken once before the sweep, on whichever CPU the main thread was on, made
/// the predicted compute of a whole sweep 20% lower or not depending on which one it caught;
/// points run for hundreds of milliseconds and see the mix.
pub fn describe_kernel(speed: Option<&costmodel::CpuSpeed>, fallback_ns: f64) -> String {
    match speed {
        Some(s) => format!(
            "kernel {:.2} ns/round (mean of {} timings on cpu {}, {:.1} .. {:.1})",
            s.ns_per_round, s.timings, s.cpu, s.min, s.max
        ),
        None => format!("kernel {fallback_ns:.2} ns/round (one timing before the sweep)"),
    }
}

/// The kernel's timings compute was priced from: the sweep's monitor times the speed on the
/// server's CPU only, so its record holds that one CPU (`None` when it could not be timed).
fn server_kernel(noise: &costmodel::NoiseRecord) -> Option<&costmodel::CpuSpeed> {
    noise.speed.first()
}

impl Sweep {
    /// The kernel's timings compute was priced from ([`describe_kernel`]).
    pub fn kernel(&self) -> Option<&costmodel::CpuSpeed> {
        server_kernel(&self.noise)
    }
}

impl Report {
    /// The sweep's [`Sweep::kernel`] ([`describe_kernel`]).
    pub fn kernel(&self) -> Option<&costmodel::CpuSpeed> {
        server_kernel(&self.noise)
    }
}

/// Errors of the experiment.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// Talking to the server failed.
    #[error("storage server i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The model could not price a point.
    #[error("cost model: {0}")]
    Model(#[from] costmodel::CostError),
    /// The load generator thread died.
    #[error("load generator thread panicked")]
    Generator,
}

/// What one point's repetitions measured.
struct Measured {
    cpu: Summary,
    throughput: Summary,
    requests_per_invocation: f64,
    requests_per_read: f64,
    requests_per_wakeup: f64,
    preemptions_per_k_requests: f64,
    client_wakeups_per_request: f64,
    probe_rtt_ns: f64,
    clean_reps: u32,
}

impl Measured {
    /// One point's repetitions: medians and ranges of the CPU and throughput, means of the
    /// counted conditions, over the repetitions whose block was clean when any was (as
    /// calibrate combines only clean rounds), over all of them otherwise.
    fn of(reps: &[Rep]) -> Self {
        let clean: Vec<&Sample> = reps.iter().filter(|r| r.clean).map(|r| &r.sample).collect();
        let samples = if clean.is_empty() {
            reps.iter().map(|r| &r.sample).collect()
        } else {
            clean
        };
        let mean = |f: fn(&Sample) -> f64| {
            samples.iter().map(|s| f(s)).sum::<f64>() / samples.len().max(1) as f64
        };
        Measured {
            cpu: Summary::of(samples.iter().map(|s| s.server_cpu_ns).collect()),
            throughput: Summary::of(samples.iter().map(|s| s.throughput).collect()),
            requests_per_invocation: mean(|s| s.requests_per_invocation),
            requests_per_read: mean(|s| s.requests_per_read),
            requests_per_wakeup: mean(|s| s.requests_per_wakeup),
            preemptions_per_k_requests: mean(|s| s.preemptions_per_k_requests),
            client_wakeups_per_request: mean(|s| s.client_wakeups_per_request),
            probe_rtt_ns: Summary::of(samples.iter().map(|s| s.probe_rtt_ns).collect()).median,
            clean_reps: u32::try_from(reps.iter().filter(|r| r.clean).count()).unwrap_or(u32::MAX),
        }
    }

    /// The grid point these measurements make, not yet predicted (`predicted_cpu_ns` is NaN).
    fn point(self, side: Side, records: u32, compute_us: f64, rounds: u32) -> Point {
        Point {
            side,
            records,
            compute_us,
            rounds,
            server_cpu_ns: self.cpu,
            throughput: self.throughput,
            requests_per_invocation: self.requests_per_invocation,
            requests_per_read: self.requests_per_read,
            requests_per_wakeup: self.requests_per_wakeup,
            preemptions_per_k_requests: self.preemptions_per_k_requests,
            client_wakeups_per_request: self.client_wakeups_per_request,
            probe_rtt_ns: self.probe_rtt_ns,
            clean_reps: self.clean_reps,
            predicted_cpu_ns: f64::NAN,
        }
    }
}

/// Which server the sweep loads.
#[derive(Clone, Copy, Debug)]
pub enum ServerAt {
    /// A server thread started in this process for the sweep, pinned to the config's
    /// `server_core`, stopped afterwards.
    InProcess,
    /// A server already running (`storage_server serve`, with the config's table shape and
    /// the built-in schemes in order).
    Running {
        /// Where it listens.
        addr: SocketAddr,
        /// Whether its server thread is pinned to one core.
        pinned: bool,
        /// Its process, when it is another one: the noise monitor counts its CPU as the
        /// measurement, not as other load.
        pid: Option<u32>,
    },
}

/// The sweep's measurements before any prediction.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Every grid point (`predicted_cpu_ns` NaN until [`predict::report`]).
    pub points: Vec<Point>,
    /// Native kernel cost per round, ns: the mean of the timings on the server's CPU over the
    /// sweep (`noise.speed`), the cost compute is priced at.
    pub ns_per_round: f64,
    /// Whether the server thread was pinned.
    pub pinned: bool,
    /// Wall time of the sweep.
    pub elapsed: Duration,
    /// What else used the CPU during each repetition (steal, other processes), what was redone,
    /// and the sweep's noise grade: the mechanism `calibrate run` and `calibrate server` use.
    pub noise: NoiseRecord,
    /// How each wait for cores like its calibration's ended, in order: one before each round
    /// and one before each try of a round measured again (empty without
    /// [`Config::cores_target_ns`]).
    pub cores_waits: Vec<calibrate::noise::sibling::CoresWait>,
    /// Each round's cores against the calibration's, in order (empty without
    /// [`Config::cores_target_ns`]).
    pub round_cores: Vec<RoundCores>,
}

/// How one round of a sweep compared with the calibration's cores ([`Sweep::round_cores`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundCores {
    /// How many times the round was measured (at most [`ROUND_TRIES`]).
    pub tries: usize,
    /// The try kept: the median over its blocks of the wide kernel's slowest timing around
    /// each, over the calibration's [`costmodel::SharedCores::median_ns`].
    pub ratio: f64,
}

impl RoundCores {
    /// Whether the try kept ran on cores like the calibration's: within
    /// [`costmodel::SharedCores::FACTOR`] either way.
    pub fn matched(&self) -> bool {
        costmodel::within_either_way(self.ratio, costmodel::SharedCores::FACTOR)
    }
}

/// The most times a sweep measures one round whose cores read unlike its calibration's
/// ([`Sweep::round_cores`]). Why measure again: after waits that found windows like the
/// calibration's, ten sweeps' blocks still read 0.99-1.07x its median (batches 50-52 on the
/// 2-vCPU EPYC VM, 2026-12-04): the cores under the sweep's own load are what a round's blocks
/// read, so the round itself is the reading that tells.
pub const ROUND_TRIES: usize = 3;

/// Runs the sweep against a fresh in-process server and predicts every point from `host`'s
/// echo-calibrated `tcp` transport.
///
/// # Errors
/// Server, load-generator or model errors.
pub fn run(
    config: &Config,
    host: &HostProfile,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Report, ExperimentError> {
    // The measured side is held to the machine state the profile was calibrated in: cross-core
    // request costs move with it, and a profile holds in its own state only.
    let held = host.noise.as_ref().and_then(|n| n.core_state);
    // And to free cores, when the profile was.
    let mut config = config.clone();
    config.hold_free_cores = host
        .noise
        .as_ref()
        .and_then(|n| n.shared_cores)
        .is_some_and(|s| s.held);
    // And each round started on cores like the calibration's, on average (unless the caller
    // named other cores), except against a calibration whose cores another guest shared around
    // most of its blocks: the sweep gives no figure against it ([`Report::unscored`]), so
    // waiting to match them would only cost time.
    config.cores_target_ns = config.cores_target_ns.or_else(|| {
        let cores = host.noise.as_ref()?.shared_cores?;
        cores.median_ns.filter(|_| !cores.mostly_shared())
    });
    let config = &config;
    let s = sweep(config, ServerAt::InProcess, held.as_ref(), progress)?;
    predict::report(&s, config, &Prediction::Echo(host))
}

/// The longest a sweep waits, before its first point, for the machine state it is held to.
pub const START_STATE_WAIT: Duration = Duration::from_secs(60);

/// The longest a round waits, by default, for cores like its calibration's
/// ([`Config::cores_target_ns`]): spells of sharing last seconds to tens of seconds here.
pub const ROUND_CORES_WAIT: Duration = Duration::from_secs(30);

/// The least time a sweep gives, after its rounds, to measuring again the points none of whose
/// repetitions was clean (it gives the rounds' nominal time when that is longer).
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(30);

/// The pause before each pass over the points measured again: steal bursts on these hosts
/// last seconds, and a try straight after the last one would find the same burst.
const CATCH_UP_PAUSE: Duration = Duration::from_secs(1);

/// One repetition of a point: what it measured, whether its block was under the thresholds,
/// and the index of its block in the sweep's noise log.
#[derive(Clone, Debug)]
struct Rep {
    sample: Sample,
    clean: bool,
    block: usize,
}

/// Measures every grid point against `at`: the server's CPU per invocation (its `STATS`) and
/// its requests per read and per wake-up, over `config.reps` repetitions in interleaved rounds
/// (every point once per round, the order reversed on odd rounds). Repetitions are held to the
/// machine state `held` (a profile's; when `None`, the state the first finds): the sweep starts
/// once the machine is in it (waiting up to [`START_STATE_WAIT`]), and a repetition that left
/// it is redone once the state is back, like one over a noise threshold. A point's figures come
/// from its repetitions measured in a clean block; a point with none is measured again after
/// the rounds (for up to the rounds' nominal time, at least [`CATCH_UP_WAIT`]), and one still
/// without is left out of the figures ([`Point::scored`]).
///
/// # Errors
/// Server or load-generator errors.
pub fn sweep(
    config: &Config,
    at: ServerAt,
    held: Option<&costmodel::CoreState>,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Sweep, ExperimentError> {
    sweep_with(config, at, held, progress, |_| {})
}

/// [`sweep`], calling `between_rounds(r)` before round `r` (from 1: every round but the first),
/// where a caller measures something else in the same period, as `kv-fidelity` runs its
/// calibration's rounds between the sweep's.
///
/// # Errors
/// As [`sweep`].
pub fn sweep_with(
    config: &Config,
    at: ServerAt,
    held: Option<&costmodel::CoreState>,
    mut progress: impl FnMut(usize, usize, &str),
    mut between_rounds: impl FnMut(usize),
) -> Result<Sweep, ExperimentError> {
    let started = Instant::now();
    // Rounds are fixed from a first timing on the server's CPU; compute is priced at the mean
    // of the monitor's timings there over the sweep.
    let first_ns_per_round = calibrate::noise::speed::kernel_ns_per_round(config.server_core)
        .unwrap_or_else(calibrate::noise::speed::kernel_ns_per_round_here);
    let server_pid = match at {
        ServerAt::Running { pid, .. } => pid,
        ServerAt::InProcess => None,
    };
    let (server, addr, pinned) = match at {
        ServerAt::InProcess => {
            let store = Arc::new(Store::new(config.store_records, config.record_bytes));
            let factories: Vec<FunctionFactory> = config
                .schemes
                .iter()
                .map(|s| {
                    let make = s.make;
                    Box::new(make) as FunctionFactory
                })
                .collect();
            let server = server::spawn(Arc::clone(&store), factories, config.server_core)?;
            let (addr, pinned) = (server.addr, server.pinned);
            (Some(server), addr, pinned)
        }
        ServerAt::Running { addr, pinned, .. } => (None, addr, pinned),
    };
    // Start in the profile's machine state: it dwells seconds to tens of seconds, more than the
    // per-block wait covers, so a sweep started in the other one would spend its redos there.
    if let Some(state) = held {
        progress(
            0,
            config.points(),
            "waiting for the profile's machine state",
        );
        calibrate::noise::core_state::wait_for(state, START_STATE_WAIT);
    }
    let total = config.points();
    let mut cores_waits = Vec::new();
    let mut round_cores = Vec::new();
    let mut wait_for_cores =
        |round: &str, done: usize, progress: &mut dyn FnMut(usize, usize, &str)| {
            let Some(target) = config.cores_target_ns else {
                return false;
            };
            progress(
                done,
                total * config.reps.max(1),
                &format!("round {round}: waiting for the profile's cores"),
            );
            let cpus: Vec<u32> = [config.server_core, config.client_core]
                .iter()
                .filter_map(|&c| u32::try_from(c).ok())
                .collect();
            let start = Instant::now();
            let w = calibrate::noise::sibling::wait_for_median(
                &cpus,
                &|c| calibrate::noise::sibling::wide_ns_per_round(usize::try_from(c).ok()?),
                target,
                costmodel::SharedCores::FACTOR,
                config.cores_wait,
                &std::thread::sleep,
                &|| start.elapsed(),
            );
            cores_waits.extend(w);
            w.is_some_and(|w| w.matched)
        };
    wait_for_cores("1", 0, &mut progress);
    // Every repetition is a block under the noise monitor: one over a threshold (steal, other
    // processes' CPU) or out of the machine state is redone, up to three tries while twice the
    // nominal time allows.
    let clock = WallClock::start();
    let thresholds = Thresholds::default();
    let mut monitor = Monitor::new(LinuxProc::new(), &clock, thresholds)
        .watch_this_host_state(held)
        .watch_this_host_speed(&[config.server_core])
        .watch_this_host_siblings(
            &[config.server_core, config.client_core],
            config.hold_free_cores,
        );
    if let Some(pid) = server_pid {
        monitor.exclude(pid);
    }
    let mut log = NoiseLog::new(thresholds);
    let reps = config.reps.max(1);
    let reps_u32 = u32::try_from(reps).unwrap_or(u32::MAX);
    let nominal = (config.warmup + config.duration)
        * u32::try_from(total)
            .unwrap_or(u32::MAX)
            .saturating_mul(reps_u32);
    let mut policy = RedoPolicy {
        max_attempts: 3,
        deadline: clock.elapsed() + nominal * 2,
    };
    // The grid, in the order the first round measures it.
    let mut grid: Vec<(Side, Mode, u32, f64, u32)> = Vec::with_capacity(total);
    for &c in &config.compute_us {
        let rounds = rounds_for(c * 1e3, first_ns_per_round);
        for &k in &config.records {
            grid.push((Side::Outside, Mode::Outside { multiget: 1 }, k, c, rounds));
            for (i, s) in config.schemes.iter().enumerate() {
                let scheme = u8::try_from(i).unwrap_or(u8::MAX);
                grid.push((
                    Side::Inside(s.id.to_string()),
                    Mode::Inside { scheme },
                    k,
                    c,
                    rounds,
                ));
            }
        }
    }
    // Interleaved rounds, as calibrate's probes and `calibrate server`'s points are: every point
    // once per round, the order reversed on odd rounds, so that the host's drift over the sweep
    // lands on every point alike instead of on the points measured while it lasted.
    let measure = |i: usize| {
        let (_, mode, k, _, rounds) = &grid[i];
        let load = Load {
            mode: *mode,
            records: *k,
            rounds: *rounds,
            window: config.window,
            warmup: config.warmup,
            duration: config.duration,
            keys: config.store_records,
            record_bytes: config.record_bytes,
        };
        let core = config.client_core;
        std::thread::spawn(move || client::measure(addr, &load, core))
            .join()
            .map_err(|_| ExperimentError::Generator)?
            .map_err(ExperimentError::from)
    };
    // Each repetition kept, whether its block was clean, and where the log holds its block.
    let mut samples: Vec<Vec<Rep>> = vec![Vec::with_capacity(reps); grid.len()];
    let mut done = 0;
    let rounds_start = Instant::now();
    for rep in 0..reps {
        if rep > 0 {
            policy.outside_budget(&clock, || {
                between_rounds(rep);
                // Round `rep` starts no sooner than its share of the span.
                let due = round_due(config.span, rep, reps);
                if let Some(wait) = due.checked_sub(rounds_start.elapsed()) {
                    progress(
                        done,
                        total * reps,
                        &format!("round {} in {:.1} s", rep + 1, wait.as_secs_f64()),
                    );
                    std::thread::sleep(wait);
                }
                wait_for_cores(&(rep + 1).to_string(), done, &mut progress);
            });
        }
        // A round whose blocks read their cores unlike the calibration's (its median beyond
        // the factor either way) measured another machine than the one priced: it is measured
        // again, after a wait that found such cores, up to ROUND_TRIES times, and the try
        // nearest the calibration's cores is kept. Outside the redo budget, as the waits are.
        let measure_round = |log: &mut NoiseLog,
                             done: &mut usize,
                             progress: &mut dyn FnMut(usize, usize, &str),
                             policy: &RedoPolicy| {
            let mut kept_round = vec![None; grid.len()];
            for i in calibrate::noise::rounds::order(rep, grid.len()) {
                let (side, mode, k, c, rounds) = &grid[i];
                progress(
                    *done,
                    total * reps,
                    &format!("round {} {side} k={k} c={c}us", rep + 1),
                );
                let name = format!("{mode:?} k={k} rounds={rounds} rep {}", rep + 1);
                let kept = measure_block(&monitor, log, &name, policy, || measure(i))?;
                kept_round[i] = Some(Rep {
                    sample: kept.value,
                    clean: kept.clean,
                    block: log.entries().len() - 1,
                });
                *done += 1;
            }
            Ok::<_, ExperimentError>(kept_round.into_iter().flatten().collect::<Vec<Rep>>())
        };
        let (log_before, done_before) = (log.clone(), done);
        let mut judged = RoundTries::default();
        let mut unjudged = None;
        loop {
            let start = clock.elapsed();
            let round = measure_round(&mut log, &mut done, &mut progress, &policy)?;
            if judged.tries > 0 {
                policy.deadline += clock.elapsed().saturating_sub(start);
            }
            let Some(ratio) = config
                .cores_target_ns
                .and_then(|target| Some(round_cores_ns(&log, &round)? / target))
            else {
                // Not judged (no target, or no timing): the round as measured.
                unjudged = Some((log.clone(), round));
                break;
            };
            if judged.take(ratio, || (log.clone(), round)) {
                break;
            }
            let found = policy.outside_budget(&clock, || {
                wait_for_cores(
                    &format!(
                        "{} again (its cores read {ratio:.2}x the calibration's)",
                        rep + 1
                    ),
                    done,
                    &mut progress,
                )
            });
            if !found {
                break;
            }
            log = log_before.clone();
            done = done_before;
        }
        let kept = unjudged.or_else(|| {
            let (cores, kept) = judged.kept()?;
            round_cores.push(cores);
            Some(kept)
        });
        if let Some((kept_log, round)) = kept {
            log = kept_log;
            done = done_before + round.len();
            for (i, r) in round.into_iter().enumerate() {
                samples[i].push(r);
            }
        }
    }
    // A point none of whose repetitions was clean (a burst outlasted every try) is measured
    // again after the rounds, once the burst may have passed: passes over those points, a
    // pause apart, for up to as long again as the rounds' nominal time (at least
    // CATCH_UP_WAIT). A clean try takes its block's place; a point still without one is
    // left out of the figures ([`Point::clean_reps`]).
    let catch_up = RedoPolicy {
        max_attempts: 1,
        deadline: clock.elapsed() + nominal.max(CATCH_UP_WAIT),
    };
    loop {
        let dirty: Vec<usize> = (0..grid.len())
            .filter(|&i| !samples[i].iter().any(|r| r.clean))
            .collect();
        if dirty.is_empty() || clock.elapsed() + CATCH_UP_PAUSE >= catch_up.deadline {
            break;
        }
        std::thread::sleep(CATCH_UP_PAUSE);
        for i in dirty {
            progress(
                done,
                total * reps,
                &format!("again {} k={} c={}us", grid[i].0, grid[i].2, grid[i].3),
            );
            // Its first repetition is measured again (each kept the least contaminated try).
            let Some(r) = samples[i].first().map(|r| r.block) else {
                continue;
            };
            match remeasure_block(&monitor, &mut log, r, &catch_up, || measure(i))? {
                Some(kept) if kept.clean => {
                    samples[i][0] = Rep {
                        sample: kept.value,
                        clean: true,
                        block: r,
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    let points: Vec<Point> = grid
        .into_iter()
        .zip(samples)
        .map(|((side, _, k, c, rounds), reps)| Measured::of(&reps).point(side, k, c, rounds))
        .collect();
    progress(done, total * reps, "done");
    if let Some(server) = server {
        server.stop()?;
    }
    let noise = log.record(reps_u32);
    Ok(Sweep {
        points,
        ns_per_round: server_kernel(&noise).map_or(first_ns_per_round, |k| k.ns_per_round),
        pinned,
        elapsed: started.elapsed(),
        noise,
        cores_waits,
        round_cores,
    })
}

/// The tries of one sweep round against a calibration's cores: keeps the try whose blocks read
/// nearest the calibration's median (either way), and says when the round is done: a try within
/// [`costmodel::SharedCores::FACTOR`], or [`ROUND_TRIES`] tries.
#[derive(Debug)]
struct RoundTries<T> {
    tries: usize,
    best: Option<(f64, T)>,
}

impl<T> Default for RoundTries<T> {
    fn default() -> Self {
        RoundTries {
            tries: 0,
            best: None,
        }
    }
}

impl<T> RoundTries<T> {
    /// Takes a try whose blocks read `ratio` times the calibration's median, keeping `value()`
    /// when it is the nearest so far; true when the round is done.
    fn take(&mut self, ratio: f64, value: impl FnOnce() -> T) -> bool {
        self.tries += 1;
        if self
            .best
            .as_ref()
            .is_none_or(|(r, _)| ratio.ln().abs() < r.ln().abs())
        {
            self.best = Some((ratio, value()));
        }
        costmodel::within_either_way(ratio, costmodel::SharedCores::FACTOR)
            || self.tries >= ROUND_TRIES
    }

    /// How the round compared, and the try kept; `None` before any try.
    fn kept(self) -> Option<(RoundCores, T)> {
        let tries = self.tries;
        self.best
            .map(|(ratio, value)| (RoundCores { tries, ratio }, value))
    }
}

/// The median over a round's blocks of the wide kernel's slowest timing around each, ns per
/// round, as [`costmodel::SharedCores::median_ns`] is over a run's; `None` when none was timed.
fn round_cores_ns(log: &NoiseLog, round: &[Rep]) -> Option<f64> {
    let ns: Vec<f64> = round
        .iter()
        .filter_map(|r| Some(log.entries().get(r.block)?.noise.as_ref()?.cores?.ns))
        .collect();
    (!ns.is_empty()).then(|| calibrate::stats::median(&ns))
}

/// How long after the first round's start round `rep` of `reps` is due when the rounds span
/// `span`: evenly spaced, the last at `span`.
fn round_due(span: Duration, rep: usize, reps: usize) -> Duration {
    if reps < 2 {
        return Duration::ZERO;
    }
    span.mul_f64(rep as f64 / (reps - 1) as f64)
}

/// Kernel rounds whose native cost is closest to `compute_ns`.
fn rounds_for(compute_ns: f64, ns_per_round: f64) -> u32 {
    let r = (compute_ns / ns_per_round).round();
    // In range by the clamp, and a whole number by the rounding.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let r = r.clamp(0.0, f64::from(u32::MAX)) as u32;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    // A round is done at its first try within the factor either way, or at its third; the try
    // kept is the nearest, whichever side of the calibration's it read.
    #[test]
    fn a_round_keeps_the_try_nearest_the_calibrations_cores() {
        let run = |ratios: &[f64]| {
            let mut tries = RoundTries::default();
            let mut taken = 0;
            for (i, &r) in ratios.iter().enumerate() {
                taken += 1;
                if tries.take(r, || i) {
                    break;
                }
            }
            let (cores, kept) = tries.kept().unwrap();
            (taken, cores, kept)
        };
        let (taken, cores, kept) = run(&[0.99, 1.2]);
        assert_eq!((taken, cores.tries, kept), (1, 1, 0));
        assert!(cores.matched());
        let (taken, cores, kept) = run(&[1.08, 0.97, 1.0]);
        assert_eq!((taken, cores.tries, kept, cores.ratio), (2, 2, 1, 0.97));
        // Three tries, none within: the nearest kept (1.07 is nearer than 0.93 or 1.10).
        let (taken, cores, kept) = run(&[1.10, 0.93, 1.07, 1.0]);
        assert_eq!((taken, cores.tries, kept), (3, 3, 2));
        assert!(!cores.matched() && cores.ratio == 1.07);
        assert!(RoundTries::<()>::default().kept().is_none());
    }

    #[test]
    fn rounds_are_due_evenly_over_the_span() {
        let span = Duration::from_secs(60);
        let due: Vec<Duration> = (0..5).map(|r| round_due(span, r, 5)).collect();
        assert_eq!(due, [0, 15, 30, 45, 60].map(Duration::from_secs).to_vec());
        // One round, or no span: nothing waits.
        assert_eq!(round_due(span, 0, 1), Duration::ZERO);
        assert_eq!(round_due(Duration::ZERO, 3, 5), Duration::ZERO);
    }
}
