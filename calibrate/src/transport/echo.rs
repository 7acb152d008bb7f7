//! The harness's echo: a pinned server thread serving the probe's server end, and the client
//! loop that drives ping-pong, pipelined and drained batches over the client end.

use std::io;
use std::sync::mpsc;
use std::time::Instant;

use costmodel::{CoreRegime, LinkOptions, TransportLink};

use super::{
    BatchResult, MAX_MESSAGE, PEER_TIMEOUT, PointResult, SweepPlan, SweepResult, TransportKind,
    finish, label,
};
use crate::cpu::{self, CounterReading, CounterSet};
use crate::error::{CalibrateError, Result};
use crate::harness::{Clock, WallClock, sample_until};
use crate::stats::{Rng, ceil_count};

/// Orders from the client to the server thread.
enum Command {
    /// Serve `count` requests of `size` bytes; with `drain`, read every queued request with one
    /// system call and answer them all with one.
    Batch {
        count: u64,
        size: usize,
        drain: bool,
    },
    /// Exit.
    Stop,
}

/// What the server measured for one batch.
struct ServerReport {
    counters: CounterReading,
    busy_ns: f64,
}

/// The server thread: pinned to `cpu`, echoes batches on command, reports its CPU per batch.
fn serve(
    mut link: Box<dyn TransportLink>,
    cpu: usize,
    overhead_ns: f64,
    commands: &mpsc::Receiver<Command>,
    reports: &mpsc::Sender<std::result::Result<ServerReport, String>>,
) {
    if let Err(e) = cpu::pin_to_cpu(cpu) {
        let _ = reports.send(Err(e.to_string()));
        return;
    }
    let mut counters = CounterSet::open_for_this_thread();
    let mut buf = vec![0u8; MAX_MESSAGE];
    let polls = link.polls();
    let mut queued: Vec<u8> = Vec::new();
    while let Ok(Command::Batch { count, size, drain }) = commands.recv() {
        let msg = &mut buf[..size];
        let before = counters.read();
        let mut busy = 0.0;
        let mut run = || -> io::Result<()> {
            if drain {
                return drain_echo(&mut *link, &mut queued, count, size);
            }
            for _ in 0..count {
                if polls {
                    link.wait()?;
                    let t0 = Instant::now();
                    link.recv(msg)?;
                    link.send(msg)?;
                    busy += t0.elapsed().as_secs_f64() * 1e9 - overhead_ns;
                } else {
                    link.recv(msg)?;
                    link.send(msg)?;
                }
            }
            Ok(())
        };
        let outcome = run();
        let counters = counters.read().since(&before);
        let report = outcome
            .map(|()| ServerReport {
                counters,
                busy_ns: busy,
            })
            .map_err(|e| format!("server: {e}"));
        let failed = report.is_err();
        if reports.send(report).is_err() || failed {
            return;
        }
    }
}

/// The saturated server of a byte stream: each wake-up reads every request already queued
/// (one `read`) and answers all the complete ones with one `write`, as a busy key-value server
/// does. This is the `drained > 1` end of the model's `processing + wakeup / drained`.
fn drain_echo(
    link: &mut dyn TransportLink,
    queued: &mut Vec<u8>,
    count: u64,
    size: usize,
) -> io::Result<()> {
    let room = size * 64;
    if queued.len() < room + size {
        queued.resize(room + size, 0);
    }
    let (mut have, mut served) = (0usize, 0u64);
    while served < count {
        have += link.recv_some(&mut queued[have..])?;
        let complete = u64::try_from(have / size).unwrap_or(0).min(count - served);
        if complete == 0 {
            continue;
        }
        let bytes = usize::try_from(complete).unwrap_or(0) * size;
        link.send(&queued[..bytes])?;
        queued.copy_within(bytes..have, 0);
        have -= bytes;
        served += complete;
    }
    Ok(())
}

/// The pipelined client of a byte stream: writes the whole window at once, then after each
/// read tops the window up with one write for all the replies that completed.
fn drain_client(
    link: &mut dyn TransportLink,
    out: &[u8],
    replies: &mut [u8],
    window: u64,
    count: u64,
    size: usize,
) -> io::Result<()> {
    let bytes = |n: u64| usize::try_from(n).unwrap_or(0) * size;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut have = 0usize;
    while received < count {
        // Lockstep: a whole window at once, then wait for all of its replies, so every
        // server wake-up finds the whole window queued (drained = window, by construction).
        let n = window.min(count - sent);
        link.send(&out[..bytes(n)])?;
        sent += n;
        while received < sent {
            have += link.recv_some(&mut replies[have..])?;
            received += u64::try_from(have / size).unwrap_or(0);
            have %= size;
        }
    }
    Ok(())
}

/// Runs `plan` for `kind` in `regime`, calling `on_point(size, budget)` before each size.
///
/// # Errors
/// Setup failures, a peer that fails or times out, or a fit that cannot be made.
pub fn sweep(
    kind: TransportKind,
    regime: CoreRegime,
    cpus: &[usize],
    plan: &SweepPlan,
    rng: &mut Rng,
    mut on_point: impl FnMut(usize),
) -> Result<SweepResult> {
    let fail = |message: String| CalibrateError::Transport {
        transport: kind.id().to_owned(),
        message,
    };
    let (client_cpu, server_cpu) = match (regime, cpus) {
        (_, []) => return Err(fail("no CPU available".to_owned())),
        (CoreRegime::SameCore, [c, ..]) => (*c, *c),
        (CoreRegime::CrossCore, [c, s, ..]) => (*c, *s),
        (CoreRegime::CrossCore, [_]) => {
            return Err(fail(
                "cross-core needs two CPUs, one is available".to_owned(),
            ));
        }
    };
    let overhead_ns = crate::harness::timer_overhead(2_000).as_secs_f64() * 1e9;
    let mut probe = kind.probe()?;
    let max_message = probe.max_message().clamp(1, MAX_MESSAGE);
    let pipeline_bytes = probe.pipeline_bytes();
    let options = LinkOptions {
        same_core: client_cpu == server_cpu,
        timeout: PEER_TIMEOUT,
        max_message: MAX_MESSAGE,
    };
    let pair = probe
        .connect(&options)
        .map_err(|e| fail(format!("connect: {e}")))?;
    let (mut client, server_link) = (pair.client, pair.server);
    let polls = client.polls();
    let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
    let (rep_tx, rep_rx) = mpsc::channel();
    let server = std::thread::Builder::new()
        .name(format!("calibrate-{}-server", kind.id()))
        .spawn(move || serve(server_link, server_cpu, overhead_ns, &cmd_rx, &rep_tx))
        .map_err(|e| CalibrateError::os("spawn server thread", e))?;
    let result = cpu::with_pinned(client_cpu, || {
        let mut counters = CounterSet::open_for_this_thread();
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut reply_buf = vec![0u8; MAX_MESSAGE];
        let window = u64::from(plan.window.max(1));
        // Pipelined byte streams move queued messages in bulk (see `drain_echo`).
        let drain = window > 1 && client.streams();
        let out = if drain {
            vec![0u8; MAX_MESSAGE * usize::try_from(window).unwrap_or(1)]
        } else {
            Vec::new()
        };
        let mut replies = out.clone();
        // One batch: `count` round trips of `size` bytes. Returns (client cpu, server cpu, wall,
        // switches), all per round trip, and the perf task clock over the thread CPU clock.
        let mut batch = |count: u64, size: usize| -> Result<BatchResult> {
            cmd_tx
                .send(Command::Batch { count, size, drain })
                .map_err(|_| fail("server thread exited".to_owned()))?;
            let msg = &mut buf[..size];
            let before = counters.read();
            let t0 = Instant::now();
            let mut busy = 0.0;
            let mut io_run = || -> io::Result<()> {
                if drain {
                    return drain_client(&mut *client, &out, &mut replies, window, count, size);
                }
                let mut sent = 0u64;
                let send = |link: &mut Box<dyn TransportLink>, busy: &mut f64| -> io::Result<()> {
                    if polls {
                        let t = Instant::now();
                        link.send(msg)?;
                        *busy += t.elapsed().as_secs_f64() * 1e9 - overhead_ns;
                        Ok(())
                    } else {
                        link.send(msg)
                    }
                };
                while sent < window.min(count) {
                    send(&mut client, &mut busy)?;
                    sent += 1;
                }
                let reply = &mut reply_buf[..size];
                for _ in 0..count {
                    if polls {
                        client.wait()?;
                        let t = Instant::now();
                        client.recv(reply)?;
                        busy += t.elapsed().as_secs_f64() * 1e9 - overhead_ns;
                    } else {
                        client.recv(reply)?;
                    }
                    if sent < count {
                        send(&mut client, &mut busy)?;
                        sent += 1;
                    }
                }
                Ok(())
            };
            let outcome = io_run();
            let wall = t0.elapsed().as_secs_f64() * 1e9;
            let mine = counters.read().since(&before);
            outcome.map_err(|e| fail(format!("client: {e}")))?;
            let theirs = rep_rx
                .recv_timeout(PEER_TIMEOUT * 2)
                .map_err(|_| fail("server thread did not report".to_owned()))?
                .map_err(fail)?;
            let n = count as f64;
            let (c, s) = if polls {
                (busy / n, theirs.busy_ns / n)
            } else {
                (
                    mine.thread_cpu_ns as f64 / n,
                    theirs.counters.thread_cpu_ns as f64 / n,
                )
            };
            let switches = match (mine.context_switches, theirs.counters.context_switches) {
                (Some(a), Some(b)) => Some((a + b) as f64 / n),
                _ => None,
            };
            let thread = (mine.thread_cpu_ns + theirs.counters.thread_cpu_ns) as f64;
            let task = match (mine.task_clock_ns, theirs.counters.task_clock_ns) {
                (Some(a), Some(b)) if thread > 0.0 => Some((a + b) as f64 / thread),
                _ => None,
            };
            Ok((c.max(0.0), s.max(0.0), wall / n, switches, task))
        };

        let mut points = Vec::with_capacity(plan.sizes.len());
        for &requested in &plan.sizes {
            let size = requested.clamp(1, max_message);
            // Datagrams beyond the receive buffer are dropped, not queued: a pipelined UDP
            // window must fit the default buffer, so larger sizes are left out of that sweep.
            if let Some(limit) = pipeline_bytes
                && window > 1
                && size as u64 * window > limit
            {
                continue;
            }
            on_point(size);
            // Warm-up, which also sizes the batch so a sample lasts about `sample_time`.
            let clock = WallClock::start();
            let mut count = 16u64.max(window * 2);
            let per_rt = loop {
                let (_, _, w, _, _) = batch(count, size)?;
                if clock.elapsed() >= plan.warmup {
                    break w;
                }
            };
            count = ceil_count(plan.sample_time.as_secs_f64() * 1e9 / per_rt.max(1.0))
                .clamp(window * 4, 200_000);
            let (mut cl, mut wl, mut sw, mut tk) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let clock = WallClock::start();
            let measurement = sample_until(&plan.rule, &clock, rng, || {
                let (c, s, w, x, t) = batch(count, size)?;
                cl.push(c);
                wl.push(w);
                sw.extend(x);
                tk.extend(t);
                Ok::<f64, CalibrateError>(s)
            })?
            .ok_or_else(|| CalibrateError::NoSamples {
                what: label(kind, regime, plan.window),
            })?;
            points.push(PointResult {
                size,
                per_sample: count,
                client: cl,
                server: measurement.samples.clone(),
                wall: wl,
                switches: sw,
                task_over_thread: tk,
                measurement,
            });
        }
        Ok::<_, CalibrateError>(points)
    });
    let _ = cmd_tx.send(Command::Stop);
    drop(cmd_tx);
    let joined = server.join();
    let points = result??;
    if joined.is_err() {
        return Err(fail("server thread panicked".to_owned()));
    }
    finish(
        kind,
        regime,
        plan,
        (client_cpu, server_cpu),
        polls,
        points,
        rng,
    )
}
