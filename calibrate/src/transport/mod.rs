//! Transport measurements: ping-pong and pipelined echo over TCP, UDP, Unix stream sockets and a
//! shared-memory ring, swept over message sizes, in two core placements.
//!
//! A *round trip* is one request of `n` bytes and one response of `n` bytes. Both ends run on
//! their own thread, pinned with `sched_setaffinity`: both on one core (*same core*: the pure
//! software cost of the system calls, copies and the two context switches) or on two cores
//! (*cross core*: adds the wake-up of the other core, an IPI that exits to the hypervisor in a
//! VM). Each sample is a batch of round trips; each side reports its own thread CPU time for the
//! batch (user + kernel), the client also the wall time. Per side, the per-sample CPU per round
//! trip is fitted against the payload bytes of the round trip (`q + r = 2n`, each counted once)
//! as `a + b * bytes` ([`crate::fit`]).
//!
//! Pipelined runs keep `window` requests in flight on one connection: the server then finds the
//! next request already queued and drains several per wake-up, which is the saturated end of the
//! model's `processing + wakeup / drained`. Their round-trip latency is given by Little's law,
//! `window x time per request`.
//!
//! The shared-memory ring polls: a poller's CPU is all wall time, most of it spent waiting. Its
//! per-request CPU is therefore the *busy* time (from "message seen" to "reply published",
//! clock overhead subtracted); the idle spin belongs to a dedicated core's reservation, not to
//! a request.

mod drain;
mod shm;

pub use drain::{drain_flags, drain_floor};

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use costmodel::CoreRegime;

use crate::cpu::{self, CounterReading, CounterSet};
use crate::error::{CalibrateError, Result};
use crate::fit::{LinearFit, fit_medians};
use crate::harness::{Clock, Measurement, StopReason, StopRule, WallClock, sample_until};
use crate::stats::{Rng, Summary, ceil_count, median};

/// How long a peer may stay silent before a measurement is declared failed.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest UDP payload over IPv4.
const UDP_MAX: usize = 65_507;
/// Bytes a pipelined UDP window may hold in flight: under Linux's default socket receive buffer
/// (`net.core.rmem_default`, 208 KiB) with room for the kernel's per-datagram accounting (a 4 KiB
/// datagram is charged about twice its size), so nothing is dropped.
const UDP_PIPELINE_BYTES: u64 = 64 * 1024;
/// Largest message any transport is asked to carry.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The transports the harness measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportKind {
    /// Kernel TCP over loopback, `TCP_NODELAY`.
    Tcp,
    /// Kernel UDP over loopback, connected sockets.
    Udp,
    /// Unix stream socket pair.
    Unix,
    /// Shared-memory ring between two threads.
    Shm,
}

impl TransportKind {
    /// Every transport, in profile order.
    pub const ALL: [TransportKind; 4] = [
        TransportKind::Tcp,
        TransportKind::Udp,
        TransportKind::Unix,
        TransportKind::Shm,
    ];

    /// The transport id used in profiles.
    pub fn id(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Udp => "udp",
            TransportKind::Unix => "unix",
            TransportKind::Shm => "shm",
        }
    }

    /// What the transport is, for the profile.
    pub fn description(self) -> &'static str {
        match self {
            TransportKind::Tcp => "kernel TCP over loopback",
            TransportKind::Udp => "kernel UDP over loopback",
            TransportKind::Unix => "Unix stream socket",
            TransportKind::Shm => "shared-memory ring between two threads (kernel-bypass stand-in)",
        }
    }

    /// The transport with id `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The largest message this transport can carry in one piece.
    pub fn max_message(self) -> usize {
        match self {
            TransportKind::Udp => UDP_MAX,
            _ => MAX_MESSAGE,
        }
    }

    /// The core placement the profile's headline numbers use: same core for kernel sockets (the
    /// pure software cost; cross-core wake-ups are recorded as `other_cores`), cross core for
    /// the polling ring (a poller needs its own core).
    pub fn headline(self, cpus: usize) -> CoreRegime {
        match self {
            TransportKind::Shm if cpus >= 2 => CoreRegime::CrossCore,
            _ => CoreRegime::SameCore,
        }
    }
}

/// One end of a connected transport.
pub(crate) trait Link: Send {
    /// Sends one message (all of `buf`).
    fn send(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Blocks until a message is ready, when the transport polls; a no-op for blocking sockets
    /// (their `recv` blocks).
    fn wait(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Receives one message of exactly `buf.len()` bytes.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()>;
    /// True when the transport polls (CPU is busy time, not thread time).
    fn polls(&self) -> bool {
        false
    }
    /// True for byte streams, which can move several queued messages per system call.
    fn streams(&self) -> bool {
        false
    }
    /// Reads the bytes that are available (at least one; blocks until there are some). Only
    /// byte streams support it ([`Link::streams`]).
    fn recv_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _ = buf;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "not a byte stream",
        ))
    }
}

struct Stream<S>(S);

impl<S: Read + Write + Send> Link for Stream<S> {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }
    fn streams(&self) -> bool {
        true
    }
    fn recv_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed")),
            n => Ok(n),
        }
    }
}

struct Datagram(UdpSocket);

impl Link for Datagram {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        let n = self.0.send(buf)?;
        if n == buf.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "short datagram"))
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let n = self.0.recv(buf)?;
        if n == buf.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected a {} B datagram, got {n} B", buf.len()),
            ))
        }
    }
}

type Pair = (Box<dyn Link>, Box<dyn Link>);

/// A connected (client, server) pair of `kind`.
fn connect(kind: TransportKind, same_core: bool) -> Result<Pair> {
    let os = |what: &str| {
        let what = format!("{}: {what}", kind.id());
        move |e: io::Error| CalibrateError::os(what, e)
    };
    let t = Some(PEER_TIMEOUT);
    Ok(match kind {
        TransportKind::Tcp => {
            let l = TcpListener::bind("127.0.0.1:0").map_err(os("bind"))?;
            let addr = l.local_addr().map_err(os("local address"))?;
            let c = TcpStream::connect(addr).map_err(os("connect"))?;
            let (s, _) = l.accept().map_err(os("accept"))?;
            for x in [&c, &s] {
                x.set_nodelay(true).map_err(os("TCP_NODELAY"))?;
                x.set_read_timeout(t).map_err(os("read timeout"))?;
                x.set_write_timeout(t).map_err(os("write timeout"))?;
            }
            (Box::new(Stream(c)), Box::new(Stream(s)))
        }
        TransportKind::Unix => {
            let (c, s) = UnixStream::pair().map_err(os("socketpair"))?;
            for x in [&c, &s] {
                x.set_read_timeout(t).map_err(os("read timeout"))?;
                x.set_write_timeout(t).map_err(os("write timeout"))?;
            }
            (Box::new(Stream(c)), Box::new(Stream(s)))
        }
        TransportKind::Udp => {
            let c = UdpSocket::bind("127.0.0.1:0").map_err(os("bind"))?;
            let s = UdpSocket::bind("127.0.0.1:0").map_err(os("bind"))?;
            c.connect(s.local_addr().map_err(os("local address"))?)
                .map_err(os("connect"))?;
            s.connect(c.local_addr().map_err(os("local address"))?)
                .map_err(os("connect"))?;
            for x in [&c, &s] {
                x.set_read_timeout(t).map_err(os("read timeout"))?;
                x.set_write_timeout(t).map_err(os("write timeout"))?;
            }
            (Box::new(Datagram(c)), Box::new(Datagram(s)))
        }
        TransportKind::Shm => {
            let spins = if same_core {
                0
            } else {
                shm::SPINS_BEFORE_YIELD
            };
            let (c, s) = shm::pair(MAX_MESSAGE, spins, PEER_TIMEOUT);
            (Box::new(c), Box::new(s))
        }
    })
}

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
    mut link: Box<dyn Link>,
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
    link: &mut dyn Link,
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
    link: &mut dyn Link,
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

/// (client cpu, server cpu, wall, switches, task clock / thread clock) of one batch, per round
/// trip.
type BatchResult = (f64, f64, f64, Option<f64>, Option<f64>);

/// One message size's samples (all per round trip).
#[derive(Clone, Debug)]
pub struct PointResult {
    /// Message size each way, bytes.
    pub size: usize,
    /// Round trips per sample.
    pub per_sample: u64,
    /// Client CPU per round trip, ns.
    pub client: Vec<f64>,
    /// Server CPU per round trip, ns.
    pub server: Vec<f64>,
    /// Wall time per round trip, ns.
    pub wall: Vec<f64>,
    /// Context switches per round trip (both sides), when counted.
    pub switches: Vec<f64>,
    /// perf task clock / thread CPU clock per sample (both sides), when counted: a cross-check
    /// of the two CPU sources (1.0 when they agree).
    pub task_over_thread: Vec<f64>,
    /// The stop rule's verdict and summary (on server CPU).
    pub measurement: Measurement,
}

/// A size sweep in one core placement and one load regime.
#[derive(Clone, Debug)]
pub struct SweepResult {
    /// The transport.
    pub kind: TransportKind,
    /// Core placement.
    pub regime: CoreRegime,
    /// Requests in flight (1 = ping-pong).
    pub window: u32,
    /// The CPUs used (client, server).
    pub cpus: (usize, usize),
    /// Per-size samples.
    pub points: Vec<PointResult>,
    /// Client CPU per round trip against `2 * size`.
    pub client_fit: LinearFit,
    /// Server CPU per round trip against `2 * size`.
    pub server_fit: LinearFit,
    /// Round-trip latency at the smallest size (Little's law when pipelined), ns.
    pub round_trip: Summary,
    /// Median (client + server CPU) / wall at the smallest size.
    pub cpu_over_wall: f64,
    /// Median context switches per round trip at the smallest size.
    pub switches_per_rt: Option<f64>,
    /// Median perf task clock / thread CPU clock over all samples, when counted.
    pub task_over_thread: Option<f64>,
    /// What the counters were.
    pub counters: String,
}

impl SweepResult {
    /// A short name: `tcp same-core ping-pong`.
    pub fn label(&self) -> String {
        label(self.kind, self.regime, self.window)
    }
}

fn regime_name(r: CoreRegime) -> &'static str {
    match r {
        CoreRegime::SameCore => "same-core",
        CoreRegime::CrossCore => "cross-core",
    }
}

/// `tcp same-core ping-pong` / `tcp same-core pipelined x16`.
pub fn label(kind: TransportKind, regime: CoreRegime, window: u32) -> String {
    if window <= 1 {
        format!("{} {} ping-pong", kind.id(), regime_name(regime))
    } else {
        format!("{} {} pipelined x{window}", kind.id(), regime_name(regime))
    }
}

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepPlan {
    /// Message sizes (each way), bytes; capped at the transport's maximum.
    pub sizes: Vec<usize>,
    /// Requests in flight (1 = ping-pong).
    pub window: u32,
    /// Stop rule per size.
    pub rule: StopRule,
    /// Warm-up per size.
    pub warmup: Duration,
    /// Target length of one sample.
    pub sample_time: Duration,
    /// Bootstrap resamples for the fits.
    pub fit_resamples: usize,
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
    let (mut client, server_link) = connect(kind, client_cpu == server_cpu)?;
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
                let send = |link: &mut Box<dyn Link>, busy: &mut f64| -> io::Result<()> {
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
            let size = requested.clamp(1, kind.max_message());
            // Datagrams beyond the receive buffer are dropped, not queued: a pipelined UDP
            // window must fit the default buffer, so larger sizes are left out of that sweep.
            if kind == TransportKind::Udp && window > 1 && size as u64 * window > UDP_PIPELINE_BYTES
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
    finish(kind, regime, plan, (client_cpu, server_cpu), points, rng)
}

/// Fits the per-side lines and summarises the smallest size.
fn finish(
    kind: TransportKind,
    regime: CoreRegime,
    plan: &SweepPlan,
    cpus: (usize, usize),
    points: Vec<PointResult>,
    rng: &mut Rng,
) -> Result<SweepResult> {
    let what = label(kind, regime, plan.window);
    let groups = |side: fn(&PointResult) -> &Vec<f64>| -> Vec<(f64, Vec<f64>)> {
        points
            .iter()
            .map(|p| (2.0 * p.size as f64, side(p).clone()))
            .collect()
    };
    let fit = |side: fn(&PointResult) -> &Vec<f64>, name: &str, rng: &mut Rng| {
        let g = groups(side);
        if g.len() >= 2 {
            fit_medians(&g, 0.95, plan.fit_resamples, rng, &format!("{what} {name}"))
        } else {
            // A single size: the per-request cost is its median, with no per-byte slope.
            let xs = g.first().map(|x| x.1.clone()).unwrap_or_default();
            let s = Summary::of(&xs, 0.95, plan.fit_resamples, rng).ok_or_else(|| {
                CalibrateError::NoSamples {
                    what: format!("{what} {name}"),
                }
            })?;
            Ok(LinearFit {
                intercept: s.median,
                slope: 0.0,
                intercept_ci: (s.lower, s.upper),
                slope_ci: (0.0, 0.0),
                r2: 0.0,
                confidence: 0.95,
                samples: s.n,
                points: 1,
            })
        }
    };
    let client_fit = fit(|p| &p.client, "client", rng)?;
    let server_fit = fit(|p| &p.server, "server", rng)?;
    let first = points
        .first()
        .ok_or_else(|| CalibrateError::NoSamples { what: what.clone() })?;
    let window = f64::from(plan.window.max(1));
    let latency: Vec<f64> = first.wall.iter().map(|w| w * window).collect();
    let round_trip = Summary::of(&latency, 0.95, plan.fit_resamples, rng).ok_or_else(|| {
        CalibrateError::NoSamples {
            what: format!("{what} round trip"),
        }
    })?;
    let cpu_sum: Vec<f64> = first
        .client
        .iter()
        .zip(&first.server)
        .zip(&first.wall)
        .map(|((c, s), w)| (c + s) / w.max(1e-9))
        .collect();
    let switches_per_rt = (!first.switches.is_empty()).then(|| median(&first.switches));
    let ratios: Vec<f64> = points
        .iter()
        .flat_map(|p| p.task_over_thread.iter().copied())
        .collect();
    let task_over_thread =
        (!ratios.is_empty() && kind != TransportKind::Shm).then(|| median(&ratios));
    let counters = if kind == TransportKind::Shm {
        "busy time from the monotonic clock (poller), clock overhead subtracted".to_owned()
    } else {
        format!(
            "thread CPU clock per side (user+kernel); {}",
            CounterSet::open_for_this_thread().describe()
        )
    };
    Ok(SweepResult {
        kind,
        regime,
        window: plan.window.max(1),
        cpus,
        cpu_over_wall: median(&cpu_sum),
        switches_per_rt,
        task_over_thread,
        round_trip,
        client_fit,
        server_fit,
        points,
        counters,
    })
}

impl SweepResult {
    /// The worst stop verdict over the sizes (budget spent beats max samples beats converged).
    pub fn stop_summary(&self) -> String {
        let conv = self
            .points
            .iter()
            .filter(|p| p.measurement.stop == StopReason::Converged)
            .count();
        let budget = self
            .points
            .iter()
            .filter(|p| p.measurement.stop == StopReason::BudgetSpent)
            .count();
        format!(
            "{} sizes: {conv} converged, {budget} budget spent, {} max samples",
            self.points.len(),
            self.points.len() - conv - budget
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_plan(window: u32) -> SweepPlan {
        SweepPlan {
            sizes: vec![16, 2048],
            window,
            rule: StopRule {
                min_samples: 3,
                max_samples: 4,
                target_rel_half_width: 0.5,
                budget: Duration::from_millis(200),
                confidence: 0.95,
                resamples: 50,
            },
            warmup: Duration::from_millis(1),
            sample_time: Duration::from_micros(200),
            fit_resamples: 20,
        }
    }

    // Each transport carries real messages in both regimes and produces finite fits; no timing
    // is asserted (the machine may be loaded).
    #[test]
    fn every_transport_sweeps_ping_pong_and_pipelined() {
        let cpus = cpu::allowed_cpus();
        for kind in TransportKind::ALL {
            for window in [1, 4] {
                let mut rng = Rng::new(9);
                let r = sweep(
                    kind,
                    CoreRegime::SameCore,
                    &cpus,
                    &tiny_plan(window),
                    &mut rng,
                    |_| {},
                )
                .unwrap_or_else(|e| panic!("{kind:?} x{window}: {e}"));
                assert_eq!(r.points.len(), 2);
                assert!(r.server_fit.intercept.is_finite(), "{}", r.label());
                assert!(r.round_trip.median > 0.0);
                assert!(r.points.iter().all(|p| p.client.len() == p.server.len()));
            }
        }
    }

    #[test]
    fn cross_core_needs_two_cpus() {
        let mut rng = Rng::new(1);
        let e = sweep(
            TransportKind::Unix,
            CoreRegime::CrossCore,
            &[0],
            &tiny_plan(1),
            &mut rng,
            |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("two CPUs"), "{e}");
    }

    #[test]
    fn ids_round_trip() {
        for k in TransportKind::ALL {
            assert_eq!(TransportKind::from_id(k.id()), Some(k));
        }
        assert_eq!(TransportKind::from_id("carrier-pigeon"), None);
    }
}
