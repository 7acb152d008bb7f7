//! Redis: calibrated by `calibrate server` and the `redis` scheme's probes, measured under
//! `redis-benchmark`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use calibrate::server::load::ClientModel;
use calibrate::server::procfs::ServerProcess;
use calibrate::server::{
    Attach, DriverFactory, Options, Protocol, ServerOutcome, Spawned, calibrate_server,
};
use costmodel::{CoreState, IsolationCosts, ServerCoeffs};
use isolation_plugins::redis::{MeasurePlan, Redis, ServerConfig, measure};

use super::{Plan, Row, idle_rate, measure_run, predict_fetch};

/// The function the FCALL points call: GET each key, return the bytes read.
const LIBRARY: &str = "#!lua name=fidelity\nredis.register_function('fid_read', \
    function(keys, args) local n = 0 for i = 1, #keys do local v = redis.call('GET', keys[i]) \
    if v then n = n + #v end end return n end)\n";

/// What the Redis side found besides the rows.
#[derive(Debug)]
pub struct RedisOutcome {
    /// The compared points.
    pub rows: Vec<Row>,
    /// The calibrated request terms (`summary` of the calibration).
    pub calibration: String,
    /// The `redis` scheme's measured warm invoke, g0 and g_b.
    pub scheme: String,
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Reads one simple reply line (`+OK`, `:n`, `-ERR`), failing on an error reply.
fn reply(r: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| format!("redis: reading a reply: {e}"))?;
    if line.starts_with('-') || line.is_empty() {
        return Err(format!("redis: error reply {:?}", line.trim_end()));
    }
    Ok(line)
}

/// Stores `key:%012d` for `0..keys` with values of `size` bytes (redis-benchmark's
/// `__rand_int__` keys) and loads the FCALL library.
fn populate(addr: SocketAddr, keys: u64, size: usize) -> Result<(), String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("redis at {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let value = vec![b'v'; size];
    for chunk in (0..keys).collect::<Vec<_>>().chunks(64) {
        let mut buf = Vec::new();
        for k in chunk {
            buf.extend(resp(&[b"SET", format!("key:{k:012}").as_bytes(), &value]));
        }
        w.write_all(&buf).map_err(|e| format!("redis: SET: {e}"))?;
        for _ in chunk {
            reply(&mut r)?;
        }
    }
    w.write_all(&resp(&[
        b"FUNCTION",
        b"LOAD",
        b"REPLACE",
        LIBRARY.as_bytes(),
    ]))
    .map_err(|e| format!("redis: FUNCTION LOAD: {e}"))?;
    // The reply is a bulk string: `$8` then the name.
    reply(&mut r)?;
    reply(&mut r)?;
    Ok(())
}

/// A `redis-benchmark` run pinned to `cpu`: `requests` of `command`, `clients` connections,
/// `depth` pipelined.
fn bench(
    addr: SocketAddr,
    cpu: usize,
    keyspace: u64,
    (clients, depth, requests): (u32, u32, u64),
    command: &[String],
) -> Result<(), String> {
    let out = Command::new("taskset")
        .args(["-c", &cpu.to_string(), "redis-benchmark", "-h"])
        .arg(addr.ip().to_string())
        .args(["-p", &addr.port().to_string()])
        .args(["-c", &clients.to_string(), "-P", &depth.to_string()])
        .args([
            "-n",
            &requests.to_string(),
            "-r",
            &keyspace.to_string(),
            "-q",
        ])
        .args(command)
        .output()
        .map_err(|e| format!("redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("ERR") {
        return Err(format!(
            "redis-benchmark {}: {} {}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Point kinds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Get,
    Mget,
    Fcall,
}

fn points(quick: bool) -> Vec<(Kind, u32, u32, u32)> {
    // (kind, keys, clients, depth)
    if quick {
        return vec![
            (Kind::Get, 1, 1, 1),
            (Kind::Get, 1, 1, 16),
            (Kind::Mget, 16, 1, 1),
            (Kind::Fcall, 16, 1, 1),
        ];
    }
    let mut v = vec![
        (Kind::Get, 1, 1, 1),
        (Kind::Get, 1, 16, 1),
        (Kind::Get, 1, 1, 16),
    ];
    for k in [1, 4, 16, 32] {
        v.push((Kind::Mget, k, 1, 1));
    }
    for k in [1, 4, 16, 32] {
        v.push((Kind::Fcall, k, 1, 1));
    }
    // Diagnostics (outside the fidelity line): the same requests pipelined 16 deep, as the
    // redis scheme's probes send them.
    v.push((Kind::Mget, 16, 1, 16));
    v.push((Kind::Fcall, 16, 1, 16));
    v
}

fn command(kind: Kind, keys: u32) -> Vec<String> {
    let key = || "key:__rand_int__".to_owned();
    match kind {
        Kind::Get => vec!["GET".into(), key()],
        Kind::Mget => std::iter::once("MGET".into())
            .chain((0..keys).map(|_| key()))
            .collect(),
        Kind::Fcall => ["FCALL".into(), "fid_read".into(), keys.to_string()]
            .into_iter()
            .chain((0..keys).map(|_| key()))
            .collect(),
    }
}

/// A diagnostic point beside the acceptance ones: GET at 16 clients unpipelined driven by one
/// thread and one blocking connection per client (as `calibrate server --clients per-client`
/// drives its sweep) instead of `redis-benchmark`'s single event-loop thread, predicted from a
/// per-client calibration. Reported as server `redis-threads`, outside the fidelity line.
fn threads_point(
    plan: &Plan,
    (server_addr, process, held): (SocketAddr, &ServerProcess, Option<&CoreState>),
    idle: f64,
    t: &ServerCoeffs,
    size: usize,
    load_cpu: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Row, String> {
    let target = super::memcached::FIRST_KEY;
    let mut d = Protocol::Resp
        .connect(server_addr, Duration::from_secs(5))
        .map_err(|e| format!("redis: {e}"))?;
    let value = vec![b'v'; size];
    for k in target..target + plan.keyspace {
        d.set(k, &value).map_err(|e| format!("redis set: {e}"))?;
    }
    let (clients, depth) = (16, 1);
    let predict = |dv: (f64, f64)| predict_fetch(t, 1.0, size as f64, 1.0, dv);
    let n = plan.requests(predict((16.0, 1.0 / 16.0)), clients, depth);
    let mut row = Row {
        server: "redis-threads",
        point: format!("get c={clients} d={depth} s={size}"),
        measured: Vec::new(),
        per_wakeup: Vec::new(),
        syscalls: Vec::new(),
        client_wakeups: Vec::new(),
        out_of_state: 0,
        predicted: 0.0,
    };
    progress(&format!(
        "redis-threads {}: {n} requests x {}",
        row.point, plan.repeats
    ));
    for _ in 0..plan.repeats {
        let c = measure_run(process, held, idle, n, || {
            super::memcached::load(
                Protocol::Resp,
                server_addr,
                load_cpu,
                plan.keyspace,
                (clients, depth, n),
                1,
            )
        })?;
        progress(&format!(
            "  {:.0} ns/request, {:.2} requests/wake-up, {:.2} syscalls/request",
            c.cpu_per_request, c.per_wakeup, c.syscalls
        ));
        row.measured.push(c.cpu_per_request);
        row.per_wakeup.push(c.per_wakeup);
        row.syscalls.push(c.syscalls);
        row.client_wakeups.push(c.client_wakeups);
        row.out_of_state += usize::from(!c.in_state);
    }
    row.predicted = predict((
        super::median(&row.per_wakeup),
        super::median(&row.client_wakeups),
    ));
    Ok(row)
}

/// Calibrates and measures Redis. Starts `redis-server` pinned to `server_cpu`.
///
/// # Errors
/// One line when the server, the calibration, a probe or a `redis-benchmark` run fails.
pub fn run(
    plan: &Plan,
    (server_cpu, load_cpu): (usize, usize),
    progress: &mut dyn FnMut(&str),
) -> Result<RedisOutcome, String> {
    let cmd = format!(
        "taskset -c {server_cpu} redis-server --port {{port}} --bind 127.0.0.1 --save '' \
         --appendonly no"
    );
    let mut server = Spawned::start(&cmd, &Protocol::Resp, Duration::from_secs(10))?;
    let result = with_server(plan, &server, load_cpu, progress);
    server.stop();
    result
}

/// Calibrates the Redis at `addr` with `clients` driving the sweep's connections.
fn calibrate(
    plan: &Plan,
    addr: SocketAddr,
    pid: u32,
    clients: ClientModel,
) -> Result<(ServerOutcome, ServerCoeffs), String> {
    let opts = Options {
        clients,
        ..if plan.quick {
            Options::quick()
        } else {
            Options::standard()
        }
    };
    let outcome = calibrate_server(
        &Protocol::Resp,
        &Attach::Running { addr, pid },
        &opts,
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    let terms = outcome
        .transport
        .as_ref()
        .and_then(|t| t.server_terms.as_ref())
        .ok_or_else(|| {
            format!(
                "redis: calibrate server gave no request terms: {:?}",
                outcome.fit
            )
        })?;
    let t = ServerCoeffs::try_from(terms).map_err(|e| e.to_string())?;
    Ok((outcome, t))
}

fn with_server(
    plan: &Plan,
    server: &Spawned,
    load_cpu: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<RedisOutcome, String> {
    let (addr, pid) = (server.addr, server.pid);
    progress(&format!(
        "redis at {addr} (pid {pid}): calibrate server --clients one-thread"
    ));
    // redis-benchmark drives its connections from one event-loop thread: the calibration's
    // clients do the same, so a reply wakes the client about once per batch in both.
    let (outcome, t) = calibrate(plan, addr, pid, ClientModel::OneThread)?;
    let mut calibration = calibrate::server::summary(&outcome);
    // Every run is measured in the machine state the calibration was held to.
    let held = outcome.sweep.noise.core_state;
    // The thread-per-client diagnostic is predicted from a calibration whose clients wait the
    // same way (one blocking thread per connection).
    let threads_terms = if plan.quick {
        None
    } else {
        progress("redis: calibrate server --clients per-client (for redis-threads)");
        let (_, t) = calibrate(plan, addr, pid, ClientModel::ThreadPerClient)?;
        calibration.push_str(&format!(
            "calibrate server --clients per-client (predicts the redis-threads rows): processing \
             {:.0} ns, per_syscall {:.0} ns, per_wakeup {:.0} ns, per_key {:.0} ns, per_byte \
             {:.4} ns/B\n",
            t.processing().get(),
            t.per_syscall().get(),
            t.per_wakeup().get(),
            t.per_key().get(),
            t.per_byte().get()
        ));
        Some(t)
    };
    progress("redis scheme probes (warm invoke, record access)");
    let mplan = if plan.quick {
        MeasurePlan::quick()
    } else {
        MeasurePlan::standard()
    };
    let scheme = Redis::with_config(ServerConfig::Attach { addr, pid })
        .open_probe()
        .and_then(|mut p| measure(&mut p, &mplan))
        .map_err(|e| format!("redis scheme: {e}"))?;
    let costs: &IsolationCosts = &scheme.costs;
    let warm = costs.warm_invoke.value();
    let g0 = costs.local_access.value();
    let gb = costs
        .local_access_per_byte
        .as_ref()
        .map_or(0.0, |g| g.value());
    let scheme_text = format!(
        "redis {}: warm invoke {warm:.0} ns, g0 {g0:.0} ns, g_b {gb:.3} ns/B",
        scheme.version
    );
    let process = ServerProcess::open(pid)?;
    let mut rows = Vec::new();
    for &size in &plan.sizes {
        populate(addr, plan.keyspace, size)?;
        let idle = idle_rate(&process, Duration::from_millis(200))?;
        for (kind, keys, clients, depth) in points(plan.quick) {
            let (k, s) = (f64::from(keys), size as f64);
            let extra = match kind {
                Kind::Fcall => warm + k * (g0 + s * gb),
                _ => 0.0,
            };
            let fetch_keys = match kind {
                Kind::Fcall => 0.0,
                _ => k,
            };
            // Prediction at requests per wake-up `d` (observed), requests per call = depth.
            let predict =
                |dv: (f64, f64)| predict_fetch(&t, fetch_keys, s, f64::from(depth), dv) + extra;
            let at = f64::from(clients * depth);
            let n = plan.requests(predict((at, 1.0 / at)), clients, depth);
            let name = match kind {
                Kind::Get => format!("get c={clients} d={depth} s={size}"),
                Kind::Mget if depth > 1 => format!("mget k={keys} d={depth} s={size}"),
                Kind::Fcall if depth > 1 => format!("fcall k={keys} d={depth} s={size}"),
                Kind::Mget => format!("mget k={keys} s={size}"),
                Kind::Fcall => format!("fcall k={keys} s={size}"),
            };
            progress(&format!("redis {name}: {n} requests x {}", plan.repeats));
            let cmdline = command(kind, keys);
            let mut row = Row {
                server: match kind {
                    Kind::Get => "redis",
                    _ if depth > 1 => "redis-diag",
                    _ => "redis",
                },
                point: name,
                measured: Vec::new(),
                per_wakeup: Vec::new(),
                syscalls: Vec::new(),
                client_wakeups: Vec::new(),
                out_of_state: 0,
                predicted: 0.0,
            };
            for _ in 0..plan.repeats {
                let c = measure_run(&process, held.as_ref(), idle, n, || {
                    bench(addr, load_cpu, plan.keyspace, (clients, depth, n), &cmdline)
                })?;
                progress(&format!(
                    "  {:.0} ns/request, {:.2} requests/wake-up, {:.3} s, idle {:.2} ms subtracted",
                    c.cpu_per_request,
                    c.per_wakeup,
                    c.wall_s,
                    c.idle_ns / 1e6
                ));
                row.measured.push(c.cpu_per_request);
                row.per_wakeup.push(c.per_wakeup);
                row.syscalls.push(c.syscalls);
                row.client_wakeups.push(c.client_wakeups);
                row.out_of_state += usize::from(!c.in_state);
            }
            row.predicted = predict((
                super::median(&row.per_wakeup),
                super::median(&row.client_wakeups),
            ));
            rows.push(row);
        }
        if let Some(tt) = &threads_terms {
            rows.push(threads_point(
                plan,
                (addr, &process, held.as_ref()),
                idle,
                tt,
                size,
                load_cpu,
                progress,
            )?);
        }
    }
    progress("redis: quick re-calibration (state check)");
    let check = super::state_check(
        &Protocol::Resp,
        (addr, pid),
        &Options {
            clients: ClientModel::OneThread,
            ..Options::standard()
        },
        &outcome,
    );
    progress(&check);
    calibration.push_str(&format!("redis {check}\n"));
    Ok(RedisOutcome {
        rows,
        calibration,
        scheme: scheme_text,
    })
}
