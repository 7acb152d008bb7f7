//! The closed loop (issue 13): per-invocation placement on a live storage server, five
//! policies against the same server and mix, and an offline oracle.
//!
//! - [`config`]: the function catalogue, the mix and its two phase changes, checks.
//! - [`policy`]: the [`Policy`](policy::Policy) trait, all inside, all at the client, a static
//!   split (the oracle's).
//! - [`baselines`]: ASFP's server-side pushback and Kayak's ratio and rate controllers, from
//!   their authors' code.
//! - [`ours`]: the split that maximises the model's predicted throughput of the two cores,
//!   over live `profiler` profiles, re-learned on a CUSUM change.
//! - [`runner`]: the client/compute thread and the server-side CPU accounting.
//! - [`report`]: metrics, CSV and SVG; [`aggregate`]: several repetitions.
//!
//! The server is `storage::server` (one thread, pinned to one core, its CPU read from its own
//! thread's schedstat through STATS); the client/compute node is one thread pinned to the other
//! core. Every policy sees the same arrivals (the profiler's synthetic generator, per phase).

pub mod aggregate;
pub mod baselines;
pub mod config;
pub mod ours;
pub mod policy;
pub mod report;
pub mod runner;

use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use calibrate::harness::WallClock;
use calibrate::noise::block::{NoiseLog, RedoPolicy, measure_block};
use calibrate::noise::{BlockNoise, Clock as _, LinuxProc, Monitor, Thresholds};
use costmodel::{HostProfile, Model};

use crate::storage::experiment::builtin_schemes;
use crate::storage::kv::Store;
use crate::storage::server::{self, FunctionFactory};
use config::Config;
use policy::{AllClient, AllInside, Asfp, Kayak, Ours, Policy, Static};
use report::{PolicyReport, Report};
use runner::{Pace, RunResult};

/// The policies' names, in report order.
pub const POLICIES: [&str; 5] = ["all-inside", "all-client", "asfp", "kayak", "ours"];

/// Loads `./host.ron` when present, else the committed 2-CPU profile.
///
/// # Errors
/// The profile's load or validation error, as one line.
pub fn host_model() -> Result<(Model, String), String> {
    let local = Path::new("host.ron");
    let path = if local.exists() {
        local.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hosts/vm-2cpu-amd-epyc.ron")
    };
    let host = HostProfile::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let model = Model::from_profile(host).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((model, path.display().to_string()))
}

fn make_policy(name: &str, config: &Config, model: &Model) -> Result<Box<dyn Policy>, String> {
    let n = config.functions.len();
    let names: Vec<&str> = config.functions.iter().map(|f| f.name).collect();
    let scheme = ["native", "wasm", "ebpf"][usize::from(config.scheme.min(2))];
    Ok(match name {
        "all-inside" => Box::new(AllInside),
        "all-client" => Box::new(AllClient),
        "asfp" => Box::new(Asfp::new(n)),
        "kayak" => Box::new(Kayak::new(config.kayak_slo)),
        _ => Box::new(Ours::new(model, scheme, &names, config.window as f64)?),
    })
}

/// The time one repetition takes when no run is redone.
fn nominal(config: &Config) -> Duration {
    let phases = u32::try_from(config.phases.len()).unwrap_or(u32::MAX);
    let policies = u32::try_from(POLICIES.len()).unwrap_or(u32::MAX);
    let n = u32::try_from(config.functions.len()).unwrap_or(31).min(31);
    let steps =
        u32::try_from(runner::whole((1.0 / config.oracle_step).round()).max(1)).unwrap_or(u32::MAX);
    let splits = (1u32 << n) + n * (steps - 1) + 2;
    (config.phase_duration * phases + config.latency_warmup + config.latency_duration) * policies
        + config.oracle_duration * splits.saturating_mul(phases)
}

/// Runs the whole experiment: every policy through every phase at saturation, each at 70% of
/// its saturation throughput for latency, and the oracle's sweep. `progress` gets one line per
/// step.
///
/// # Errors
/// A bad configuration, a host profile that does not load, or I/O with the server, as one line.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, String> {
    config.check().map_err(|e| e.to_string())?;
    let (model, host) = host_model()?;
    let tables: Vec<(u64, usize)> = config
        .functions
        .iter()
        .map(|f| (config.store_records, f.record_bytes))
        .collect();
    let store = Arc::new(Store::tables(&tables));
    let schemes = builtin_schemes().map_err(|e| e.to_string())?;
    let factories: Vec<FunctionFactory> = schemes
        .iter()
        .map(|s| {
            let make = s.make;
            Box::new(make) as FunctionFactory
        })
        .collect();
    let srv = server::spawn(Arc::clone(&store), factories, config.cores.0)
        .map_err(|e| format!("closed loop: starting the server: {e}"))?;
    let addr = srv.addr;
    // Every run (each policy's saturation and latency runs, each split the oracles try) is a
    // block under the noise monitor that calibrate and the storage sweep use: steal, other
    // processes' CPU, and the machine state (the cache-line round trip between the loop's two
    // cores, which the host moves 2-6x and with it every cross-core cost). A block over a
    // threshold or out of the state the first block found is redone, up to three tries while
    // twice the nominal time allows (one try in the quick run); what was kept, redone and why
    // goes into the report.
    let clock = WallClock::start();
    let thresholds = Thresholds::default();
    let monitor = Monitor::new(LinuxProc::new(), &clock, thresholds).watch_this_host_state(None);
    let mut log = NoiseLog::new(thresholds);
    let redo = RedoPolicy {
        max_attempts: config.tries,
        deadline: clock.elapsed() + nominal(config) * 2,
    };
    let mut go = |name: &str,
                  make: &mut dyn FnMut() -> Result<Box<dyn Policy>, String>,
                  c: &Config,
                  pace: Pace,
                  len: Duration|
     -> Result<(RunResult, Option<BlockNoise>, bool), String> {
        let kept = measure_block(&monitor, &mut log, name, &redo, || {
            let mut policy = make()?;
            runner::run(addr, c, policy.as_mut(), pace, len)
                .map_err(|e| format!("closed loop: {e}"))
        })?;
        let noise = log.entries().last().and_then(|e| e.noise.clone());
        Ok((kept.value, noise, kept.clean))
    };
    let mut policies = Vec::new();
    let mut ours_splits: Vec<Option<Vec<f64>>> = Vec::new();
    for name in POLICIES {
        let mut make = || make_policy(name, config, &model);
        let (sat, noise, clean) = go(
            &format!("{name} at saturation"),
            &mut make,
            config,
            Pace::Saturate,
            config.phase_duration,
        )?;
        let tput0 = sat.completed[0] as f64 / sat.seconds[0].max(1e-9);
        let mut lat_cfg = config.clone();
        lat_cfg.phases.truncate(1);
        let (lat, _, _) = go(
            &format!("{name} at 70% of saturation"),
            &mut make,
            &lat_cfg,
            Pace::Rate(0.7 * tput0),
            config.latency_warmup + config.latency_duration,
        )?;
        progress(&format!(
            "{name}: {:.0} invocations/s on the base mix",
            tput0
        ));
        for (phase, note) in config.phases.iter().zip(&sat.notes) {
            if !note.is_empty() {
                progress(&format!("{name}, end of {}: {note}", phase.label));
            }
        }
        if name == "ours" {
            ours_splits.clone_from(&sat.phase_decisions);
        }
        let mut report = PolicyReport::new(name, config, &sat, &lat);
        report.core_state_ns = noise
            .as_ref()
            .and_then(|n| n.core_state)
            .map_or([None, None], |r| [Some(r.before_ns), Some(r.after_ns)]);
        report.steal_cores = noise.as_ref().map(|n| n.steal_cores);
        report.clean = clean;
        if !clean {
            progress(&format!(
                "{name}: every try of its saturation run was disturbed; kept the least disturbed"
            ));
        }
        policies.push(report);
    }
    // The oracle: the best static split per function (each all inside or all at the client),
    // per phase, by sweeping every combination; then the split oracle, which starts from that
    // best combination and sweeps each function's fraction inside in steps of `oracle_step`
    // (0.1; 0.25 in the quick run) in turn, the others held (a static policy may split a
    // function too, as ours does). Each choice is then measured again on its own.
    let n = config.functions.len();
    let mut oracle = Vec::new();
    let mut oracle_split = Vec::new();
    let mut ours_static = Vec::new();
    for phase in 0..config.phases.len() {
        let mut c = config.clone();
        c.phases = vec![config.phases[phase].clone()];
        let mut try_split = |split: &[f64]| -> Result<f64, String> {
            let mut make = || Ok(Box::new(Static::new(split.to_vec())) as Box<dyn Policy>);
            let name = format!("static {split:?}, {}", config.phases[phase].label);
            let (r, _, _) = go(&name, &mut make, &c, Pace::Saturate, config.oracle_duration)?;
            Ok(r.completed[0] as f64 / r.seconds[0].max(1e-9))
        };
        let mut best = (0.0f64, Vec::new());
        for mask in 0..(1u32 << n) {
            let split: Vec<f64> = (0..n).map(|i| f64::from((mask >> i) & 1)).collect();
            let t = try_split(&split)?;
            if t > best.0 {
                best = (t, split);
            }
        }
        progress(&format!(
            "oracle, phase {}: {:.0} invocations/s with inside = {:?}",
            config.phases[phase].label, best.0, best.1
        ));
        let mut refined = best.clone();
        for i in 0..n {
            let mut split = refined.1.clone();
            let steps = runner::whole((1.0 / config.oracle_step).round()).max(1);
            for k in 1..steps {
                split[i] = k as f64 / steps as f64;
                let t = try_split(&split)?;
                if t > refined.0 {
                    refined = (t, split.clone());
                }
            }
        }
        // The best of many short noisy runs is biased upward: each oracle's choice is measured
        // again in runs of its own, and that is what is reported. The split oracle's runs
        // alternate with runs of ours' end-of-phase split, so the two decisions are compared
        // side by side, minutes away from ours' live run.
        let again = try_split(&best.1)?;
        let ours_split = ours_splits.get(phase).cloned().flatten();
        let (mut theirs, mut mine) = (Vec::new(), Vec::new());
        for _ in 0..config.oracle_pairs {
            theirs.push(try_split(&refined.1)?);
            if let Some(x) = &ours_split {
                mine.push(try_split(x)?);
            }
        }
        let median = calibrate::stats::median;
        progress(&format!(
            "split oracle, phase {}: {:.0} invocations/s with inside = {:?}; remeasured: \
             oracle {again:.0}, split oracle {:.0}{}",
            config.phases[phase].label,
            refined.0,
            refined.1,
            median(&theirs),
            ours_split.as_ref().map_or(String::new(), |x| format!(
                ", ours' split [{}] beside it {:.0}",
                report::fractions(x, Some(2), ", "),
                median(&mine)
            ))
        ));
        best.0 = again;
        refined.0 = median(&theirs);
        oracle.push(best);
        oracle_split.push(refined);
        ours_static.push(ours_split.map(|x| (median(&mine), x)));
    }
    let noise = log.record(1);
    progress(&format!(
        "noise: {}; {} of {} runs redone",
        noise.grade, noise.redone, noise.blocks
    ));
    let stats = srv
        .stop()
        .map_err(|e| format!("closed loop: stopping the server: {e}"))?;
    Ok(Report {
        host,
        policies,
        oracle,
        oracle_split,
        ours_static,
        noise,
        server_errors: stats.errors,
        config: config.clone(),
    })
}
