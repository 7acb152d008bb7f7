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

/// Runs the whole experiment: every policy through every phase at saturation, each at 70% of
/// its saturation throughput for latency, and the oracle's sweep. `progress` gets one line per
/// step.
///
/// # Errors
/// A bad configuration, a host profile that does not load, or I/O with the server, as one line.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, String> {
    config.check().map_err(|e| e.to_string())?;
    let (model, host) = host_model()?;
    let store = Arc::new(Store::new(config.store_records, config.record_bytes));
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
    let go = |policy: &mut dyn Policy, c: &Config, pace: Pace, len| -> Result<RunResult, String> {
        runner::run(addr, c, policy, pace, len).map_err(|e| format!("closed loop: {e}"))
    };
    let mut policies = Vec::new();
    for name in POLICIES {
        let mut p = make_policy(name, config, &model)?;
        let sat = go(p.as_mut(), config, Pace::Saturate, config.phase_duration)?;
        let tput0 = sat.completed[0] as f64 / sat.seconds[0].max(1e-9);
        let mut lat_cfg = config.clone();
        lat_cfg.phases.truncate(1);
        let mut p2 = make_policy(name, config, &model)?;
        let lat = go(
            p2.as_mut(),
            &lat_cfg,
            Pace::Rate(0.7 * tput0),
            config.latency_duration,
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
        policies.push(PolicyReport::new(name, config, &sat, &lat));
    }
    // The oracle: the best static split per function (each all inside or all at the client),
    // per phase, by sweeping every combination; then the split oracle, which starts from that
    // best combination and sweeps each function's fraction inside in steps of `oracle_step`
    // (0.1; 0.25 in the quick run) in turn, the others held (a static policy may split a
    // function too, as ours does). Each choice is then measured again on its own.
    let n = config.functions.len();
    let mut oracle = Vec::new();
    let mut oracle_split = Vec::new();
    for phase in 0..config.phases.len() {
        let mut c = config.clone();
        c.phases = vec![config.phases[phase].clone()];
        let try_split = |split: &[f64]| -> Result<f64, String> {
            let mut p = Static::new(split.to_vec());
            let r = go(&mut p, &c, Pace::Saturate, config.oracle_duration)?;
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
        // again in a run of its own, and that is what is reported.
        let chosen = (try_split(&best.1)?, try_split(&refined.1)?);
        progress(&format!(
            "split oracle, phase {}: {:.0} invocations/s with inside = {:?}; remeasured: \
             oracle {:.0}, split oracle {:.0}",
            config.phases[phase].label, refined.0, refined.1, chosen.0, chosen.1
        ));
        best.0 = chosen.0;
        refined.0 = chosen.1;
        oracle.push(best);
        oracle_split.push(refined);
    }
    let stats = srv
        .stop()
        .map_err(|e| format!("closed loop: stopping the server: {e}"))?;
    Ok(Report {
        host,
        policies,
        oracle,
        oracle_split,
        server_errors: stats.errors,
        config: config.clone(),
    })
}
