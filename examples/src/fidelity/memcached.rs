//! memcached: calibrated by `calibrate server`, measured under a load generator of our own
//! (memcached has no `redis-benchmark`): one thread and connection per client, pinned to the
//! load core, each sending its share of the requests `depth` at a time.

use std::net::SocketAddr;
use std::time::Duration;

use calibrate::server::procfs::ServerProcess;
use calibrate::server::{Attach, DriverFactory, Options, Protocol, Spawned, calibrate_server};
use costmodel::ServerCoeffs;

use super::{Plan, Row, idle_rate, measure_run, predict_fetch};

/// Keys of the load runs start here (calibrate stores its own from 1,000,000 up).
pub const FIRST_KEY: u64 = 10;

/// Sends `requests` get requests of `keys` keys each over `proto`, spread over `clients`
/// threads pinned to `cpu`, `depth` requests per write (keys `FIRST_KEY..FIRST_KEY + keyspace`).
///
/// # Errors
/// The first client's failure, one line.
pub fn load(
    proto: Protocol,
    addr: SocketAddr,
    cpu: usize,
    keyspace: u64,
    (clients, depth, requests): (u32, u32, u64),
    keys: u32,
) -> Result<(), String> {
    let per_client = requests / u64::from(clients.max(1));
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || -> Result<(), String> {
                    calibrate::cpu::pin_to_cpu(cpu).map_err(|e| e.to_string())?;
                    let mut d = proto
                        .connect(addr, Duration::from_secs(5))
                        .map_err(|e| format!("{} at {addr}: {e}", proto.as_str()))?;
                    let mut next = u64::from(c).wrapping_mul(7919);
                    let batch = u64::from(depth) * u64::from(keys);
                    let mut ks = Vec::with_capacity(usize::try_from(batch).unwrap_or(0));
                    let mut sent = 0;
                    while sent < per_client {
                        ks.clear();
                        for _ in 0..batch {
                            next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                            ks.push(FIRST_KEY + (next >> 33) % keyspace);
                        }
                        d.pipelined_get(&ks, keys as usize)
                            .map_err(|e| format!("{} get: {e}", proto.as_str()))?;
                        sent += u64::from(depth);
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a load thread panicked".into()))
            })
            .collect()
    });
    results.into_iter().collect()
}

fn points(quick: bool) -> Vec<(u32, u32, u32)> {
    // (keys, clients, depth)
    if quick {
        return vec![(1, 1, 1), (1, 1, 16), (16, 1, 1)];
    }
    vec![
        (1, 1, 1),
        (1, 16, 1),
        (1, 1, 16),
        (4, 1, 1),
        (16, 1, 1),
        (32, 1, 1),
    ]
}

/// Calibrates and measures memcached, started pinned to `server_cpu`.
///
/// # Errors
/// One line when the server, the calibration or a load run fails.
pub fn run(
    plan: &Plan,
    (server_cpu, load_cpu): (usize, usize),
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Row>, String), String> {
    let cmd = format!(
        "taskset -c {server_cpu} memcached -p {{port}} -l 127.0.0.1 -U 0 -t 2 -u $(id -un)"
    );
    let mut server = Spawned::start(&cmd, &Protocol::Memcached, Duration::from_secs(10))?;
    let result = with_server(plan, &server, load_cpu, progress);
    server.stop();
    result
}

fn with_server(
    plan: &Plan,
    server: &Spawned,
    load_cpu: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Row>, String), String> {
    let (addr, pid) = (server.addr, server.pid);
    progress(&format!(
        "memcached at {addr} (pid {pid}): calibrate server"
    ));
    let opts = if plan.quick {
        Options::quick()
    } else {
        Options::standard()
    };
    let outcome = calibrate_server(
        &Protocol::Memcached,
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
                "memcached: calibrate server gave no request terms: {:?}",
                outcome.fit
            )
        })?;
    let t = ServerCoeffs::try_from(terms).map_err(|e| e.to_string())?;
    let mut calibration = calibrate::server::summary(&outcome);
    let process = ServerProcess::open(pid)?;
    // Every run is measured in the machine state the calibration was held to.
    let held = outcome.sweep.noise.core_state;
    let mut control = Protocol::Memcached
        .connect(addr, Duration::from_secs(5))
        .map_err(|e| format!("memcached at {addr}: {e}"))?;
    let mut rows = Vec::new();
    for &size in &plan.sizes {
        let value = vec![b'v'; size];
        for k in FIRST_KEY..FIRST_KEY + plan.keyspace {
            control
                .set(k, &value)
                .map_err(|e| format!("memcached set: {e}"))?;
        }
        let idle = idle_rate(&process, Duration::from_millis(200))?;
        for (keys, clients, depth) in points(plan.quick) {
            let (k, s) = (f64::from(keys), size as f64);
            let predict = |dv: (f64, f64)| predict_fetch(&t, k, s, f64::from(depth), dv);
            let at = f64::from(clients * depth);
            let n = plan.requests(predict((at, 1.0 / at)), clients, depth);
            let name = if keys == 1 {
                format!("get c={clients} d={depth} s={size}")
            } else {
                format!("multiget k={keys} s={size}")
            };
            progress(&format!(
                "memcached {name}: {n} requests x {}",
                plan.repeats
            ));
            let mut row = Row {
                server: "memcached",
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
                    load(
                        Protocol::Memcached,
                        addr,
                        load_cpu,
                        plan.keyspace,
                        (clients, depth, n),
                        keys,
                    )
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
    }
    progress("memcached: quick re-calibration (state check)");
    let check = super::state_check(&Protocol::Memcached, (addr, pid), &opts, &outcome);
    progress(&check);
    calibration.push_str(&format!("memcached {check}\n"));
    Ok((rows, calibration))
}
