//! The loop itself: one client/compute thread, pinned, keeping a window of invocations
//! outstanding on one connection to the storage server (pinned to the other core), placing
//! each invocation by the policy, and accounting the server's CPU per function from STATS.

use std::collections::VecDeque;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use calibrate::cpu;
use costmodel::{FunctionId, PerSecond};
use profiler::synth::{FunctionSpec, Generator};

use super::config::Config;
use super::policy::{Completion, Policy, Tick, Where};
use crate::storage::protocol;

/// Recursive least squares with forgetting: the server's CPU over a tick against what it
/// served in that tick (inside invocations per function, MULTIGET requests, records fetched,
/// bytes fetched).
#[derive(Debug, Clone)]
pub struct Accounting {
    theta: Vec<f64>,
    p: Vec<Vec<f64>>,
    lambda: f64,
}

impl Accounting {
    /// `n` unknowns, forgetting factor `lambda`.
    pub fn new(n: usize, lambda: f64) -> Self {
        let mut p = vec![vec![0.0; n]; n];
        for (i, row) in p.iter_mut().enumerate() {
            row[i] = 1e6;
        }
        Accounting {
            theta: vec![0.0; n],
            p,
            lambda,
        }
    }

    /// One observation: `y` ns of server CPU for counts `x`.
    pub fn update(&mut self, x: &[f64], y: f64) {
        let px: Vec<f64> = self
            .p
            .iter()
            .map(|row| row.iter().zip(x).map(|(p, x)| p * x).sum())
            .collect();
        let denom = self.lambda + x.iter().zip(&px).map(|(a, b)| a * b).sum::<f64>();
        if !(denom.is_finite() && denom > 0.0) {
            return;
        }
        let err = y - x.iter().zip(&self.theta).map(|(a, b)| a * b).sum::<f64>();
        for (t, pxi) in self.theta.iter_mut().zip(&px) {
            *t += pxi * err / denom;
        }
        for (row, pxi) in self.p.iter_mut().zip(&px) {
            for (p, pxj) in row.iter_mut().zip(&px) {
                *p = (*p - pxi * pxj / denom) / self.lambda;
            }
        }
    }

    /// The estimates.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }
}

/// How the client paces invocations.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// A full window at all times (saturation).
    Saturate,
    /// Open loop at this many invocations per second (latency at a given load).
    Rate(f64),
}

/// What one run of one policy measured.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Completions per bucket (time series).
    pub series: Vec<f64>,
    /// Completed invocations per phase.
    pub completed: Vec<u64>,
    /// Wall seconds per phase.
    pub seconds: Vec<f64>,
    /// Server CPU (ns) per phase.
    pub server_ns: Vec<u64>,
    /// Client/compute thread CPU (ns) per phase: everything the client does, the policy's own
    /// bookkeeping included.
    pub client_ns: Vec<u64>,
    /// Latencies (ns from scheduled start) of every completion.
    pub latencies: Vec<u64>,
    /// Checksum of the results.
    pub checksum: u64,
    /// The policy's own account of its decision at the end of each phase.
    pub notes: Vec<String>,
    /// Its decision ([`Policy::decision`]) at the end of each phase.
    pub phase_decisions: Vec<Option<Vec<f64>>>,
    /// Its decision ([`Policy::decision`]) after every control tick: seconds since the run
    /// began, and the fractions.
    pub decisions: Vec<(f64, Vec<f64>)>,
}

enum Pending {
    Stats(Vec<f64>),
    Invocation {
        f: usize,
        at: Where,
        digest: u64,
        due: Instant,
        rounds: u32,
        records: u32,
    },
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    frame: Vec<u8>,
}

/// One arrival order per phase, from the profiler's synthetic generator: each function a
/// Poisson stream at its phase weight; the loop takes their merged order.
fn arrivals(config: &Config, phase: usize, n: usize) -> Vec<usize> {
    let weights = &config.phases[phase].weights;
    let total: f64 = weights.iter().sum();
    let specs: Vec<FunctionSpec> = config
        .functions
        .iter()
        .zip(weights)
        .filter_map(|(f, w)| {
            let id = FunctionId::new(f.name).ok()?;
            Some(FunctionSpec::poisson(id, PerSecond::new(1e4 * w / total)))
        })
        .collect();
    let names: Vec<FunctionId> = specs.iter().map(|s| s.id).collect();
    let end = whole(n as f64 / 1e4 * 1e9 * 1.2) + 1_000_000;
    Generator::new(
        config.seed + u64::try_from(phase).unwrap_or(0),
        specs,
        end,
        0,
    )
    .filter_map(|r| names.iter().position(|id| *id == r.function))
    .take(n)
    .collect()
}

/// Runs `policy` through every phase of `config` against the server at `addr`.
///
/// # Errors
/// I/O errors talking to the server.
pub fn run(
    addr: SocketAddr,
    config: &Config,
    policy: &mut dyn Policy,
    pace: Pace,
    phase_len: Duration,
) -> io::Result<RunResult> {
    // Pinned for the run only: the calling thread's affinity is restored after it, so the noise
    // monitor's machine-state probe (which needs two allowed CPUs) still runs between runs.
    let mut once = Some(policy);
    let pinned = cpu::with_pinned(config.cores.1, || {
        run_here(
            addr,
            config,
            once.take().unwrap_or_else(|| unreachable!()),
            pace,
            phase_len,
        )
    });
    match (pinned, once) {
        (Ok(r), _) => r,
        // Not pinnable (one CPU, or a mask without it): run where the thread is.
        (Err(_), Some(policy)) => run_here(addr, config, policy, pace, phase_len),
        (Err(e), None) => Err(io::Error::other(e.to_string())),
    }
}

fn run_here(
    addr: SocketAddr,
    config: &Config,
    policy: &mut dyn Policy,
    pace: Pace,
    phase_len: Duration,
) -> io::Result<RunResult> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut conn = Conn {
        reader: BufReader::with_capacity(256 << 10, stream.try_clone()?),
        writer: stream,
        frame: Vec::with_capacity(64 << 10),
    };
    let nf = config.functions.len();
    let mut acct = Accounting::new(nf + 3, 0.9);
    let mut out = RunResult::default();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut outstanding = 0usize;
    let mut wbuf = Vec::with_capacity(64 << 10);
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let keys = config.store_records;
    let t_start = Instant::now();
    let mut tick = Tick {
        inside_server_ns: vec![0.0; nf],
        client_server_ns: vec![0.0; nf],
        inside_ticks: vec![0; nf],
        ..Tick::default()
    };
    // Counts since the last STATS answer: inside per function, multigets, records fetched,
    // KiB fetched (KiB keeps the regression's unknowns within a few orders of one another).
    let mut counts = vec![0.0; nf + 3];
    let mut done_since = 0u64;
    let mut last_stats: Option<(Instant, u64)> = None;
    let mut stats_out = false;
    let mut next_tick = Instant::now();
    for phase in 0..config.phases.len() {
        let factor = config.phases[phase].records_factor;
        // 20,000 arrivals, repeated cyclically: the generator costs more per record than the loop.
        let order = arrivals(config, phase, 20_000);
        let mut next = 0usize;
        let phase_start = Instant::now();
        let deadline = phase_start + phase_len;
        let mut completed = 0u64;
        let cpu0 = server_cpu(&mut conn, &mut pending, &mut outstanding)?;
        let client0 = cpu::thread_cpu_ns();
        let mut due = Instant::now();
        loop {
            let now = Instant::now();
            let open = now < deadline;
            wbuf.clear();
            if open {
                if now >= next_tick && !stats_out {
                    protocol::encode_stats(&mut wbuf);
                    // What the server serves between this STATS and the previous one.
                    pending.push_back(Pending::Stats(std::mem::replace(
                        &mut counts,
                        vec![0.0; nf + 3],
                    )));
                    tick.outstanding = outstanding;
                    outstanding += 1;
                    stats_out = true;
                    next_tick = now + config.tick;
                }
                let cap = match pace {
                    Pace::Saturate => policy.window().map_or(config.window, |w| w.max(1)),
                    Pace::Rate(_) => config.window * 16,
                };
                while outstanding < cap {
                    let scheduled = if let Pace::Rate(r) = pace {
                        if due > Instant::now() {
                            break;
                        }
                        let at = due;
                        due += Duration::from_secs_f64(1.0 / r);
                        at
                    } else {
                        Instant::now()
                    };
                    let f = order[next % order.len()];
                    next += 1;
                    let spec = &config.functions[f];
                    let records = spec.records * factor;
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // Function f reads its own table: keys f * keys .. (f + 1) * keys.
                    let table = u64::try_from(f).unwrap_or(0) * keys;
                    let first = table + rng % (keys.saturating_sub(u64::from(records)) + 1);
                    let at = policy.place(f);
                    match at {
                        Where::Inside => {
                            protocol::encode_invoke(
                                &mut wbuf,
                                config.scheme,
                                first,
                                records,
                                spec.rounds,
                            );
                            counts[f] += 1.0;
                        }
                        Where::Client => {
                            let ks: Vec<u64> = (0..u64::from(records)).map(|i| first + i).collect();
                            protocol::encode_multiget(&mut wbuf, &ks);
                            counts[nf] += 1.0;
                            counts[nf + 1] += f64::from(records);
                            counts[nf + 2] +=
                                f64::from(records) * spec.record_bytes as f64 / 1024.0;
                        }
                    }
                    pending.push_back(Pending::Invocation {
                        f,
                        at,
                        digest: 0,
                        due: scheduled,
                        rounds: spec.rounds,
                        records,
                    });
                    outstanding += 1;
                }
            }
            if !wbuf.is_empty() {
                conn.writer.write_all(&wbuf)?;
            }
            if outstanding == 0 {
                if open {
                    // Paced and nothing due yet.
                    std::thread::sleep(
                        due.saturating_duration_since(Instant::now())
                            .min(Duration::from_millis(1)),
                    );
                    continue;
                }
                break;
            }
            let batch = if open {
                (outstanding / 2).max(1)
            } else {
                outstanding
            };
            for _ in 0..batch {
                protocol::read_frame(&mut conn.reader, &mut conn.frame)?;
                outstanding -= 1;
                match pending.pop_front() {
                    Some(Pending::Stats(served)) => {
                        stats_out = false;
                        let now = Instant::now();
                        let cpu_ns = word(&conn.frame, 0);
                        if let Some((t, c)) = last_stats {
                            let dt = now.duration_since(t).as_secs_f64().max(1e-6);
                            let dcpu = cpu_ns.saturating_sub(c) as f64;
                            acct.update(&served, dcpu);
                            for (seen, n) in tick.inside_ticks.iter_mut().zip(&served) {
                                *seen += u32::from(*n > 0.0);
                            }
                            tick.utilisation = dcpu / 1e9 / dt;
                            tick.throughput = done_since as f64 / dt;
                            let th = acct.theta();
                            for i in 0..nf {
                                tick.inside_server_ns[i] = th[i].max(0.0);
                                let spec = &config.functions[i];
                                let recs = f64::from(spec.records * factor);
                                let kib = recs * spec.record_bytes as f64 / 1024.0;
                                tick.client_server_ns[i] =
                                    (th[nf] + th[nf + 1] * recs + th[nf + 2] * kib).max(0.0);
                            }
                            tick.at_s = now.duration_since(t_start).as_secs_f64();
                            policy.tick(&tick);
                            if let Some(d) = policy.decision() {
                                out.decisions.push((tick.at_s, d));
                            }
                        }
                        done_since = 0;
                        last_stats = Some((now, cpu_ns));
                    }
                    Some(Pending::Invocation {
                        f,
                        at,
                        digest,
                        due,
                        rounds,
                        records,
                    }) => {
                        let mut client_ns = 0;
                        let result = match at {
                            Where::Inside => word(&conn.frame, 0) ^ word(&conn.frame, 8),
                            Where::Client => {
                                let c0 = cpu::thread_cpu_ns();
                                let mut d = digest;
                                let size = config.functions[f].record_bytes.max(1);
                                for rec in conn.frame.chunks(size) {
                                    d = crate::storage::digest_record(d, rec);
                                }
                                let r = d ^ crate::storage::kernel_checksum(rounds);
                                client_ns = cpu::thread_cpu_ns().saturating_sub(c0);
                                r
                            }
                        };
                        out.checksum = out.checksum.wrapping_add(result);
                        let now = Instant::now();
                        let latency_ns =
                            u64::try_from(now.saturating_duration_since(due).as_nanos())
                                .unwrap_or(u64::MAX);
                        if matches!(pace, Pace::Rate(_))
                            && due.duration_since(t_start) >= config.latency_warmup
                        {
                            out.latencies.push(latency_ns);
                        }
                        let c = Completion {
                            function: f,
                            at,
                            start_ns: u64::try_from(
                                due.saturating_duration_since(t_start).as_nanos(),
                            )
                            .unwrap_or(0),
                            latency_ns,
                            client_ns,
                            records,
                            record_bytes: config.functions[f].record_bytes,
                        };
                        policy.completed(&c, &tick);
                        completed += 1;
                        done_since += 1;
                        let b = index(
                            now.duration_since(t_start).as_secs_f64() / config.bucket.as_secs_f64(),
                        );
                        if out.series.len() <= b {
                            out.series.resize(b + 1, 0.0);
                        }
                        out.series[b] += 1.0;
                    }
                    None => return Err(io::Error::other("a response nobody asked for")),
                }
            }
        }
        let cpu1 = server_cpu(&mut conn, &mut pending, &mut outstanding)?;
        out.notes.push(policy.describe());
        out.phase_decisions.push(policy.decision());
        out.completed.push(completed);
        out.seconds.push(phase_start.elapsed().as_secs_f64());
        out.server_ns.push(cpu1.saturating_sub(cpu0));
        out.client_ns
            .push(cpu::thread_cpu_ns().saturating_sub(client0));
    }
    let per_s = 1.0 / config.bucket.as_secs_f64();
    out.series.iter_mut().for_each(|v| *v *= per_s);
    Ok(out)
}

/// Reads the server thread's CPU with the pipeline drained.
fn server_cpu(
    conn: &mut Conn,
    pending: &mut VecDeque<Pending>,
    outstanding: &mut usize,
) -> io::Result<u64> {
    debug_assert!(pending.is_empty() && *outstanding == 0);
    let mut b = Vec::new();
    protocol::encode_stats(&mut b);
    conn.writer.write_all(&b)?;
    protocol::read_frame(&mut conn.reader, &mut conn.frame)?;
    Ok(word(&conn.frame, 0))
}

/// `x` rounded down to a whole number, saturating: NaN and negatives give 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // `as` saturates; clamped
pub(super) fn whole(x: f64) -> u64 {
    if x.is_nan() { 0 } else { x.max(0.0) as u64 }
}

/// [`whole`] as an index.
pub(super) fn index(x: f64) -> usize {
    usize::try_from(whole(x)).unwrap_or(usize::MAX)
}

fn word(f: &[u8], i: usize) -> u64 {
    f.get(i..i + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
