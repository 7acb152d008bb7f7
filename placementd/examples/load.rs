//! Load benchmark of `/prioritize` with 16 nodes, on loopback, bounded in time.
//!
//! Starts the `placementd` binary built beside this example (so build both in release:
//! `cargo build --release -p placementd --bins --examples`), then runs `--connections`
//! closed-loop clients, each on its own keep-alive connection and thread, for `--seconds`
//! after a warm-up, and prints requests per second, latency percentiles, and the server's CPU
//! per request read from its own threads (`/proc/PID/task/*/schedstat`).
//!
//! ```text
//! cargo run --release -p placementd --example load -- [--connections 4] [--seconds 5]
//!     [--server-threads 1] [--names]
//! ```
//!
//! `--names` sends `nodenames` (a scheduler with `nodeCacheCapable: true`) instead of full
//! Node objects: a 1 KB request instead of 22 KB.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use placementd::client::Client;

struct Opts {
    connections: usize,
    seconds: f64,
    server_threads: usize,
    names: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        connections: 4,
        seconds: 5.0,
        server_threads: 1,
        names: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--connections" => {
                o.connections = val("--connections")?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?;
            }
            "--seconds" => {
                o.seconds = val("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?;
            }
            "--server-threads" => {
                o.server_threads = val("--server-threads")?
                    .parse()
                    .map_err(|e| format!("--server-threads: {e}"))?;
            }
            "--names" => o.names = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !(o.seconds > 0.0 && o.seconds <= 60.0) || o.connections == 0 || o.connections > 64 {
        return Err("--seconds must be in (0, 60] and --connections in 1..=64".into());
    }
    Ok(o)
}

/// CPU time of all threads of `pid`, ns (first field of each task's schedstat).
fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank; the index is within the slice.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    #[allow(clippy::cast_precision_loss)]
    let us = sorted[i.min(sorted.len() - 1)] as f64 / 1e3;
    us
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let o = parse_args()?;
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("placementd"))
        .filter(|p| p.exists())
        .ok_or("no placementd binary beside this example: cargo build --release -p placementd")?;
    let mut child = Command::new(&bin)
        .arg("--host")
        .arg(here.join("../fixtures/hosts/reference.ron"))
        .arg("--nodes")
        .arg(here.join("fixtures/nodes-16.json"))
        .args(["--listen", "127.0.0.1:0", "--threads"])
        .arg(o.server_threads.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let result = drive(&o, &mut child, &here);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn drive(o: &Opts, child: &mut std::process::Child, here: &std::path::Path) -> Result<(), String> {
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or(format!("no address in {line:?}"))?;
    let text = std::fs::read_to_string(here.join("fixtures/extender-args-16-nodes.json"))
        .map_err(|e| e.to_string())?;
    let mut args: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if o.names {
        let names: Vec<serde_json::Value> = args["nodes"]["items"]
            .as_array()
            .ok_or("fixture has no nodes")?
            .iter()
            .map(|n| n["metadata"]["name"].clone())
            .collect();
        args["nodes"] = serde_json::Value::Null;
        args["nodenames"] = serde_json::Value::Array(names);
    }
    let body = Arc::new(args.to_string().into_bytes());
    // Check the answer once before timing anything.
    let mut c = Client::connect(addr).map_err(|e| e.to_string())?;
    let r = c.post("/prioritize", &body).map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("/prioritize answered {}: {}", r.status, r.text()));
    }
    println!(
        "/prioritize, 16 nodes, {} B requests ({}), {} connections, server threads {}, {} s",
        body.len(),
        if o.names { "nodenames" } else { "full nodes" },
        o.connections,
        o.server_threads,
        o.seconds
    );
    let warm = Duration::from_secs_f64((o.seconds / 5.0).min(1.0));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let pid = child.id();
    let mut handles = Vec::new();
    for _ in 0..o.connections {
        let (body, stop, measuring) =
            (Arc::clone(&body), Arc::clone(&stop), Arc::clone(&measuring));
        handles.push(std::thread::spawn(move || -> Result<Vec<u64>, String> {
            let mut c = Client::connect(addr).map_err(|e| e.to_string())?;
            let mut lat = Vec::with_capacity(1 << 20);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = c.post("/prioritize", &body).map_err(|e| e.to_string())?;
                let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                if r.status != 200 {
                    return Err(format!("status {}", r.status));
                }
                if measuring.load(Ordering::Relaxed) && lat.len() < 50_000_000 {
                    lat.push(ns);
                }
            }
            Ok(lat)
        }));
    }
    std::thread::sleep(warm);
    let cpu0 = process_cpu_ns(pid);
    let t0 = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs_f64(o.seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = process_cpu_ns(pid);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| "a client thread panicked")??);
    }
    all.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let n = all.len() as f64;
    #[allow(clippy::cast_precision_loss)]
    let cpu_per_req = (cpu1 - cpu0) as f64 / n / 1e3;
    #[allow(clippy::cast_precision_loss)]
    let server_cores = (cpu1 - cpu0) as f64 / 1e9 / elapsed;
    println!(
        "requests {:.0}  throughput {:.0} req/s  latency p50 {:.1} us  p90 {:.1} us  p99 {:.1} us  \
         p99.9 {:.1} us  max {:.1} us",
        n,
        n / elapsed,
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 99.9),
        percentile(&all, 100.0)
    );
    println!(
        "server cpu {cpu_per_req:.1} us per request ({server_cores:.2} cores busy), read from \
         /proc/{pid}/task/*/schedstat"
    );
    Ok(())
}
