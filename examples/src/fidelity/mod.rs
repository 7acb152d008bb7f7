//! Does the model transfer to servers we did not write? Redis and memcached are calibrated with
//! [`calibrate::server::calibrate_server`] (the predicted side), then loaded by a separate load
//! generator (`redis-benchmark` for Redis, [`memcached::load`] for memcached) pinned to another
//! core while the server's own CPU is read from `/proc/<pid>/task/*/schedstat` (the measured
//! side). Nothing is fitted on the measured runs.
//!
//! The prediction for a point is the model's storage CPU per invocation:
//! - a fetch of `k` keys of `s` bytes in one request (GET, MGET, memcached get):
//!   `p + y / r + w / d + k u + k s b_s` ([`costmodel::ServerCoeffs::per_request`] and the
//!   `Remote` regime's server terms, with `u` the server's per-key cost);
//! - an FCALL reading `k` keys inside Redis: `p + y / r + w / d + warm_invoke + k (g0 + s g_b)`
//!   (the `Multiplexed` regime's storage terms with the `redis` scheme's measured costs; the
//!   host's dispatch is left out because Redis has no dispatcher of ours in front of it).
//!
//! Each server is calibrated with clients that wait the way its load generator's do: Redis with
//! `--clients one-thread` (redis-benchmark drives every connection from one event-loop thread,
//! so a reply wakes it about once per batch), memcached with the default per-client threads (its
//! load generator has one blocking thread per connection). A client blocked on every reply
//! costs the server a cross-CPU wake-up inside each write: at 16 unpipelined connections that
//! was about 1.4x the server CPU per request of an event-loop client at the same requests per
//! wake-up (measured on the 2-vCPU VM). The model prices it (`per_peer_wakeup`, at the load
//! generator's own sleeps per request, [`RunCost::client_wakeups`]), and the calibration still
//! drives its clients like the load generator's.
//!
//! `r` (requests per system call) is the pipelining depth of the configuration. `d` (requests
//! per wake-up) is the number of requests divided by the server's voluntary context switches
//! during the run (`/proc/<pid>/task/*/status`): a scheduler that runs the storage server can
//! read that counter, while the configuration alone cannot tell how many of 16 unpipelined
//! clients a single-threaded server finds waiting per wake-up.

pub mod memcached;
pub mod redis;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use calibrate::noise::core_state;
use calibrate::server::procfs::{ProcSample, ServerProcess};
use calibrate::server::state::{SPREAD_FACTOR, same_state};
use costmodel::{CoreState, ServerCoeffs};

/// How much to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Quick (CI) plan.
    pub quick: bool,
    /// Value sizes, bytes.
    pub sizes: Vec<usize>,
    /// Repeats of every point.
    pub repeats: usize,
    /// Target server CPU per run, ns (the request count is sized from the prediction).
    pub run_ns: f64,
    /// Keys stored per value size.
    pub keyspace: u64,
}

impl Plan {
    /// The full plan: 64 B, 1 KiB, 8 KiB, 3 repeats of about 80 ms of server CPU.
    pub fn full() -> Self {
        Plan {
            quick: false,
            sizes: vec![64, 1024, 8192],
            repeats: 3,
            run_ns: 80e6,
            keyspace: 1024,
        }
    }

    /// The quick plan: 1 KiB only, 3 repeats of about 8 ms.
    pub fn quick() -> Self {
        Plan {
            quick: true,
            sizes: vec![1024],
            repeats: 3,
            run_ns: 8e6,
            keyspace: 256,
        }
    }

    /// Requests of one run for a point predicted at `predicted_ns` per request.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to [200, 4e5]
    pub fn requests(&self, predicted_ns: f64, clients: u32, depth: u32) -> u64 {
        let unit = u64::from(clients.max(1) * depth.max(1));
        let n = (self.run_ns / predicted_ns.max(500.0)).clamp(200.0, 400_000.0) as u64;
        n.div_ceil(unit) * unit
    }
}

/// What one load run cost the server.
#[derive(Clone, Copy, Debug)]
pub struct RunCost {
    /// Server CPU per request, idle background subtracted, ns.
    pub cpu_per_request: f64,
    /// Requests per wake-up (requests / voluntary context switches).
    pub per_wakeup: f64,
    /// Read and write system calls per request (`/proc/<pid>/io`; memcached's `sendmsg` is not
    /// counted).
    pub syscalls: f64,
    /// The load generator's sleeps per request (voluntary context switches of this process's
    /// threads and of its waited-for children over the run): replies that found a client
    /// asleep.
    pub client_wakeups: f64,
    /// Wall time of the run, s.
    pub wall_s: f64,
    /// Idle background subtracted, ns.
    pub idle_ns: f64,
    /// Whether the run stayed in the calibration's machine state (true when none was held).
    pub in_state: bool,
}

/// The server's idle CPU rate, ns per second of wall time.
pub fn idle_rate(p: &ServerProcess, d: Duration) -> Result<f64, String> {
    let a = sample(p)?;
    let t = Instant::now();
    std::thread::sleep(d);
    let b = sample(p)?;
    Ok(b.since(&a).cpu_ns as f64 / t.elapsed().as_secs_f64())
}

fn sample(p: &ServerProcess) -> Result<ProcSample, String> {
    p.sample()
        .map_err(|e| format!("server pid {}: reading /proc: {e}", p.pid))
}

/// Tries per run to measure it in the calibration's machine state.
const STATE_TRIES: u32 = 3;

/// Runs `load` (which sends `requests` requests) and returns the server's cost per request.
/// When `held` (the calibration's machine state, [`costmodel::CoreState`]) is given, the run
/// starts once the machine is in it (waiting up to 5 s) and is measured again, up to three
/// tries, when the state was not the same before and after it; the last try is kept with
/// [`RunCost::in_state`] false.
pub fn measure_run(
    p: &ServerProcess,
    held: Option<&CoreState>,
    idle_ns_per_s: f64,
    requests: u64,
    mut load: impl FnMut() -> Result<(), String>,
) -> Result<RunCost, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let before = held.is_none_or(|s| core_state::wait_for(s, calibrate::noise::STATE_WAIT));
        let a = sample(p)?;
        let sleeps = calibrate::cpu::process_and_children_sleeps();
        let t = Instant::now();
        load()?;
        let wall = t.elapsed().as_secs_f64();
        let slept = calibrate::cpu::process_and_children_sleeps().saturating_sub(sleeps);
        let d = sample(p)?.since(&a);
        let in_state = before && held.is_none_or(core_state::in_state);
        if !in_state && tries < STATE_TRIES {
            continue;
        }
        let n = requests.max(1) as f64;
        let cpu = (d.cpu_ns as f64 - idle_ns_per_s * wall).max(0.0);
        return Ok(RunCost {
            cpu_per_request: cpu / n,
            per_wakeup: (n / d.voluntary.max(1) as f64).max(1.0),
            syscalls: (d.syscr + d.syscw) as f64 / n,
            client_wakeups: slept as f64 / n,
            wall_s: wall,
            idle_ns: idle_ns_per_s * wall,
            in_state,
        });
    }
}

/// One compared point.
#[derive(Clone, Debug)]
pub struct Row {
    /// `redis` or `memcached`.
    pub server: &'static str,
    /// Point name (`get c=16 d=1 s=64`).
    pub point: String,
    /// Measured server CPU per invocation, per repeat, ns.
    pub measured: Vec<f64>,
    /// Requests per wake-up seen per repeat.
    pub per_wakeup: Vec<f64>,
    /// Read/write system calls per request seen per repeat.
    pub syscalls: Vec<f64>,
    /// Client sleeps per request seen per repeat.
    pub client_wakeups: Vec<f64>,
    /// Repeats kept out of the calibration's machine state (every try was).
    pub out_of_state: usize,
    /// Predicted server CPU per invocation, ns.
    pub predicted: f64,
}

impl Row {
    /// Median of the repeats.
    pub fn median(&self) -> f64 {
        median(&self.measured)
    }

    /// (max - min) / median of the repeats, %.
    pub fn spread_pct(&self) -> f64 {
        let lo = self.measured.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .measured
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        100.0 * (hi - lo) / self.median()
    }

    /// (predicted - measured median) / measured median, %.
    pub fn error_pct(&self) -> f64 {
        100.0 * (self.predicted - self.median()) / self.median()
    }
}

/// After a server's load runs: a quick calibration of the same server (`opts`, quick), its
/// reference point set against `calibration`'s. One line saying whether the machine was in the
/// same state for the measured side as for the calibration.
pub fn state_check(
    protocol: &calibrate::server::Protocol,
    (addr, pid): (std::net::SocketAddr, u32),
    opts: &calibrate::server::Options,
    calibration: &calibrate::server::ServerOutcome,
) -> String {
    let Some(before) = calibration.sweep.reference() else {
        return "state check: the calibration has no reference point".to_owned();
    };
    let quick = calibrate::server::Options {
        clients: opts.clients,
        keys_per_size: opts.keys_per_size,
        ..calibrate::server::Options::quick()
    };
    let after = calibrate::server::calibrate_server(
        protocol,
        &calibrate::server::Attach::Running { addr, pid },
        &quick,
        &mut |_| {},
    );
    match after.as_ref().ok().and_then(|o| o.sweep.reference()) {
        Some(now) => {
            let (ratio, text) = now.compare(&before);
            let verdict = if same_state(1.0, ratio) {
                format!("same state (within {SPREAD_FACTOR}x)")
            } else {
                "CHANGED: the machine was in another state for the measured side than for the \
                 calibration, so this run's errors are partly the machine's"
                    .to_owned()
            };
            format!("state check: {text}: {verdict}")
        }
        None => format!(
            "state check: the quick re-calibration failed: {}",
            after.err().map_or_else(String::new, |e| e.to_string())
        ),
    }
}

/// Median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The model's server CPU for one request of `keys` keys of `size` bytes, with `rps` requests
/// per system call, `drained` per wake-up and `peer` clients woken per request (the `Remote`
/// regime's storage terms).
pub fn predict_fetch(
    t: &ServerCoeffs,
    keys: f64,
    size: f64,
    rps: f64,
    (drained, peer): (f64, f64),
) -> f64 {
    t.per_request_with(drained, rps, peer).get()
        + keys * t.per_key().get()
        + keys * size * t.per_byte().get()
}

/// `server fidelity: median_abs_error_pct=... points=...` over `rows` of `server`.
pub fn fidelity_line(server: &str, rows: &[Row]) -> String {
    let errs: Vec<f64> = rows
        .iter()
        .filter(|r| r.server == server)
        .map(|r| r.error_pct().abs())
        .collect();
    let within = errs.iter().filter(|e| **e <= 15.0).count();
    let out = rows
        .iter()
        .filter(|r| r.server == server && r.out_of_state > 0)
        .count();
    format!(
        "{server} fidelity: median_abs_error_pct={:.1} points={} within_15pct={within} \
         points_with_a_repeat_out_of_state={out}",
        median(&errs),
        errs.len()
    )
}

/// The CSV of `rows`.
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "server,point,measured_median_ns,spread_pct,predicted_ns,error_pct,requests_per_wakeup,\
         syscalls_per_request,client_wakeups_per_request\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{:.0},{:.1},{:.0},{:.1},{:.2},{:.2},{:.4}",
            r.server,
            r.point,
            r.median(),
            r.spread_pct(),
            r.predicted,
            r.error_pct(),
            median(&r.per_wakeup),
            median(&r.syscalls),
            median(&r.client_wakeups)
        );
    }
    s
}

/// Writes `name` under `dir`, creating it.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The first of `names` missing from `$PATH`, `/usr/bin` and `/usr/local/bin`, if any.
pub fn missing(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|n| isolation_plugins::redis::find_binary(n).is_none())
        .map(|n| (*n).to_owned())
}

/// The allowed CPUs as (server cpu, load cpu): the last and the first.
pub fn cpus() -> Result<(usize, usize), String> {
    let c = calibrate::cpu::allowed_cpus();
    match (c.first(), c.last()) {
        (Some(&a), Some(&b)) if a != b => Ok((b, a)),
        _ => Err(format!(
            "need two cpus (server on one, load on another), have {c:?}"
        )),
    }
}

/// Runs Redis and memcached with `plan`, writes `fidelity.csv` and `summary.txt` under `out`
/// and returns the summary; `None` (after printing why) when a needed binary is absent.
///
/// # Errors
/// One line when a server, a calibration or a load run fails, or a file cannot be written.
pub fn run_all(
    plan: &Plan,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<String>, String> {
    let need = ["redis-server", "redis-benchmark", "memcached", "taskset"];
    if let Some(m) = missing(&need) {
        println!("server fidelity skipped: {m} not found (apt-get install redis-server memcached)");
        return Ok(None);
    }
    let cpus = cpus()?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let r = redis::run(plan, cpus, progress)?;
    let (mc_rows, mc_cal) = memcached::run(plan, cpus, progress)?;
    let mut rows = r.rows;
    rows.extend(mc_rows);
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "server fidelity ({} plan; server on cpu {}, load on cpu {}; loadavg before {}, after {})",
        if plan.quick { "quick" } else { "full" },
        cpus.0,
        cpus.1,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        s,
        "{}\n{}\n{}",
        r.calibration.trim_end(),
        r.scheme,
        mc_cal.trim_end()
    );
    let _ = writeln!(
        s,
        "{:<34} {:>11} {:>8} {:>11} {:>8} {:>6} {:>6}",
        "point", "measured ns", "spread%", "predicted", "error%", "req/wk", "sys/rq"
    );
    for row in &rows {
        let _ = writeln!(
            s,
            "{:<34} {:>11.0} {:>8.1} {:>11.0} {:>8.1} {:>6.2} {:>6.2}",
            format!("{} {}", row.server, row.point),
            row.median(),
            row.spread_pct(),
            row.predicted,
            row.error_pct(),
            median(&row.per_wakeup),
            median(&row.syscalls)
        );
    }
    let _ = writeln!(s, "{}", fidelity_line("redis", &rows));
    let _ = writeln!(s, "{}", fidelity_line("memcached", &rows));
    write(out, "fidelity.csv", &csv(&rows))?;
    write(out, "summary.txt", &s)?;
    Ok(Some(s))
}
