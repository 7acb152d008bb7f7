//! The load one point of the sweep puts on the server: client connections sending batches of
//! `depth` pipelined gets of `keys` keys for a fixed window, driven as [`ClientModel`] says.
//!
//! The server's CPU per request depends on how its clients wait, not only on how many requests
//! share its system calls and wake-ups: each reply that wakes a client blocked on its own
//! connection costs the server a remote wake-up inside its `write`. Thread-per-client (every
//! reply wakes one thread) and an event-loop client (one thread for all connections, woken once
//! per batch of replies, as `redis-benchmark` and most load generators are) load the server
//! differently at the same requests per wake-up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::sweep::{Options, PointSpec, Sample, Target};
use super::{DriverError, ServerDriver};
use crate::cpu;
use crate::stats::Rng;

/// How a point's client connections are driven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientModel {
    /// One thread per connection, each blocking on its own replies: every reply to an
    /// unpipelined client wakes a thread.
    #[default]
    ThreadPerClient,
    /// One thread drives every connection of a point in turn: it sends a batch on each, then
    /// reads each one's replies, so it wakes about once per round over the connections, as an
    /// event-loop load generator does.
    OneThread,
}

impl ClientModel {
    /// `per-client` or `one-thread`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientModel::ThreadPerClient => "per-client",
            ClientModel::OneThread => "one-thread",
        }
    }

    /// Parses [`ClientModel::as_str`]'s names.
    ///
    /// # Errors
    /// The value and the choices, one line.
    pub fn parse(s: &str) -> Result<Self, String> {
        [ClientModel::ThreadPerClient, ClientModel::OneThread]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown client model {s:?}: expected per-client or one-thread"))
    }
}

struct Shared {
    ready: AtomicUsize,
    done: AtomicUsize,
    go: AtomicBool,
    stop: AtomicBool,
    error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, msg: String) {
        if let Ok(mut e) = self.error.lock()
            && e.is_none()
        {
            *e = Some(msg);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
    fn failed(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// What one client thread did in the window.
#[derive(Default)]
struct ClientResult {
    requests: u64,
    bytes: u64,
    cpu_ns: u64,
    wakeups: u64,
}

/// One batch on every connection of a thread: `depth` requests of `keys` keys queued and sent on
/// each connection in turn, then each connection's replies read in turn (one connection: the
/// driver's pipelined get). Returns the value bytes received.
fn batch(
    conns: &mut [Box<dyn ServerDriver>],
    keys: &mut [Vec<u64>],
    spec: PointSpec,
    set: super::sweep::KeySet,
    rng: &mut Rng,
) -> Result<usize, DriverError> {
    let per = spec.keys as usize;
    for (d, keys) in conns.iter_mut().zip(keys.iter_mut()) {
        for chunk in keys.chunks_mut(per) {
            let start = rng.below(usize::try_from(set.count).unwrap_or(1)) as u64;
            for (i, k) in chunk.iter_mut().enumerate() {
                *k = set.first + (start + i as u64) % set.count;
            }
            d.queue_get(chunk)?;
        }
        d.flush()?;
    }
    if spec.busy_us > 0 {
        let until = Instant::now() + Duration::from_micros(u64::from(spec.busy_us));
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    let mut total = 0;
    for (d, keys) in conns.iter_mut().zip(keys.iter()) {
        let expect = spec.value_bytes * keys.len();
        let mut got = 0;
        for chunk in keys.chunks(per) {
            got += d.read_get(chunk)?;
        }
        if got != expect {
            return Err(DriverError::Protocol(format!(
                "{} value(s) of {} B came back as {got} bytes (expected {expect}): were the keys \
                 evicted or changed?",
                keys.len(),
                spec.value_bytes
            )));
        }
        total += got;
    }
    Ok(total)
}

/// One client thread driving connections `first..first + count`.
fn client(
    t: &Target<'_>,
    spec: PointSpec,
    (first, count): (u32, u32),
    timeout: Duration,
    seed: u64,
    shared: &Shared,
) -> ClientResult {
    let mut out = ClientResult::default();
    if !t.client_cpus.is_empty() {
        let _ = cpu::pin_to_cpu(t.client_cpus[first as usize % t.client_cpus.len()]);
    }
    let Some(set) = t
        .keys
        .iter()
        .find(|k| k.value_bytes == spec.value_bytes)
        .copied()
    else {
        shared.fail(format!("no keys of {} B were stored", spec.value_bytes));
        shared.ready.fetch_add(1, Ordering::SeqCst);
        return out;
    };
    let fail = |what: &str, e: DriverError| {
        shared.fail(format!("client {first}: {what}: {e}"));
    };
    let mut conns = Vec::with_capacity(count as usize);
    for _ in 0..count {
        match t.factory.connect(t.addr, timeout) {
            Ok(d) => conns.push(d),
            Err(e) => {
                fail("connect", e);
                shared.ready.fetch_add(1, Ordering::SeqCst);
                return out;
            }
        }
    }
    let mut rng = Rng::new(seed ^ (u64::from(first) << 32));
    let per_batch = (spec.depth * spec.keys) as usize;
    let mut keys = vec![vec![0u64; per_batch]; conns.len()];
    if let Err(e) = batch(&mut conns, &mut keys, spec, set, &mut rng) {
        fail("warm-up", e);
        shared.ready.fetch_add(1, Ordering::SeqCst);
        return out;
    }
    shared.ready.fetch_add(1, Ordering::SeqCst);
    while !shared.go.load(Ordering::SeqCst) {
        if shared.stop.load(Ordering::SeqCst) {
            return out;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let c0 = cpu::thread_cpu_ns();
    let (v0, _) = cpu::thread_context_switches();
    while !shared.stop.load(Ordering::Relaxed) {
        match batch(&mut conns, &mut keys, spec, set, &mut rng) {
            Ok(b) => {
                out.requests += u64::from(spec.depth) * u64::from(count);
                out.bytes += b as u64;
            }
            Err(e) => {
                fail("get", e);
                break;
            }
        }
    }
    out.cpu_ns = cpu::thread_cpu_ns().saturating_sub(c0);
    out.wakeups = cpu::thread_context_switches().0.saturating_sub(v0);
    shared.done.fetch_add(1, Ordering::SeqCst);
    out
}

/// Pings sent by [`probe`] (after three to warm the connection): about 1-3 ms here.
const PROBE_PINGS: usize = 100;

/// The median round trip of [`PROBE_PINGS`] pings on a fresh connection, from a thread pinned
/// where the point's first client is, ns; 0 when the server cannot be pinged.
fn probe(t: &Target<'_>, timeout: Duration) -> f64 {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(&c) = t.client_cpus.first() {
                let _ = cpu::pin_to_cpu(c);
            }
            let Ok(mut d) = t.factory.connect(t.addr, timeout) else {
                return 0.0;
            };
            let mut rtt = Vec::with_capacity(PROBE_PINGS);
            for i in 0..PROBE_PINGS + 3 {
                let t0 = Instant::now();
                if d.ping().is_err() {
                    return 0.0;
                }
                if i >= 3 {
                    rtt.push(t0.elapsed().as_nanos() as f64);
                }
            }
            crate::stats::median(&rtt)
        })
        .join()
        .unwrap_or(0.0)
    })
}

/// Measures one point once.
///
/// # Errors
/// One line: a client's connect or request error, or the server's counters becoming
/// unreadable.
pub fn measure(
    t: &Target<'_>,
    spec: PointSpec,
    round: u32,
    opts: &Options,
) -> Result<Sample, String> {
    let shared = Shared {
        ready: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        go: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    // (first connection, connections) per client thread.
    let threads: Vec<(u32, u32)> = match opts.clients {
        ClientModel::ThreadPerClient => (0..spec.clients).map(|i| (i, 1)).collect(),
        ClientModel::OneThread => vec![(0, spec.clients.max(1))],
    };
    let n = threads.len();
    let seed = opts.seed ^ (u64::from(round) << 48) ^ (spec.value_bytes as u64) << 8;
    let bound = opts.timeout * 2 + Duration::from_secs(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = threads
            .iter()
            .map(|&conns| {
                let shared = &shared;
                s.spawn(move || client(t, spec, conns, opts.timeout, seed, shared))
            })
            .collect();
        let abort = |shared: &Shared, msg: String| {
            shared.fail(msg);
            shared.failed().unwrap_or_default()
        };
        let t0 = Instant::now();
        while shared.ready.load(Ordering::SeqCst) < n {
            if t0.elapsed() > bound {
                return Err(abort(&shared, "clients did not connect in time".to_owned()));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        if let Some(e) = shared.failed() {
            return Err(e);
        }
        let probe_rtt_ns = probe(t, opts.timeout);
        let before = t
            .process
            .sample()
            .map_err(|e| abort(&shared, e.to_string()))?;
        let start = Instant::now();
        shared.go.store(true, Ordering::SeqCst);
        while start.elapsed() < opts.window && shared.failed().is_none() {
            std::thread::sleep(Duration::from_millis(2).min(opts.window));
        }
        shared.stop.store(true, Ordering::SeqCst);
        let t1 = Instant::now();
        while shared.done.load(Ordering::SeqCst) < n && shared.failed().is_none() {
            if t1.elapsed() > bound {
                return Err(abort(&shared, "clients did not finish in time".to_owned()));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let wall = start.elapsed();
        let after = t.process.sample().map_err(|e| e.to_string());
        let results: Vec<ClientResult> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        if let Some(e) = shared.failed() {
            return Err(e);
        }
        let after = after?;
        Ok(Sample {
            round,
            requests: results.iter().map(|r| r.requests).sum(),
            value_bytes: results.iter().map(|r| r.bytes).sum(),
            wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
            server: after.since(&before),
            client_cpu_ns: results.iter().map(|r| r.cpu_ns).sum(),
            client_wakeups: results.iter().map(|r| r.wakeups).sum(),
            probe_rtt_ns,
            clean: true,
        })
    })
}
