//! The load generator: keeps a window of requests outstanding on one connection so the server
//! never waits for work, and either asks the server to run the function (inside) or fetches the
//! records and runs the function itself (outside).

use std::collections::VecDeque;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::protocol;
use calibrate::cpu;

/// Which side runs the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// INVOKE: the server runs the function under scheme index `scheme`.
    Inside {
        /// Index of the server's function (scheme).
        scheme: u8,
    },
    /// GET/MULTIGET the records (`multiget` keys per request), run the function here.
    Outside {
        /// Keys per request (1 = plain GET).
        multiget: u32,
    },
}

/// One measurement's settings.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Inside or outside.
    pub mode: Mode,
    /// Records per invocation.
    pub records: u32,
    /// Kernel rounds per invocation (compute).
    pub rounds: u32,
    /// Requests kept outstanding.
    pub window: usize,
    /// Untimed warm-up.
    pub warmup: Duration,
    /// Timed run.
    pub duration: Duration,
    /// Number of keys in the store.
    pub keys: u64,
    /// Bytes per record.
    pub record_bytes: usize,
}

/// What one measurement saw.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Server thread CPU per invocation, ns.
    pub server_cpu_ns: f64,
    /// Server requests per invocation.
    pub requests_per_invocation: f64,
    /// Requests the server handled per read of its socket.
    pub requests_per_read: f64,
    /// Requests the server handled per sleep (voluntary context switch): the `drained` of the
    /// cost model, since only a sleep pays the wake-up. A read that finds data does not sleep,
    /// so this is at least `requests_per_read` (requests over a run with no sleep at all count
    /// as one).
    pub requests_per_wakeup: f64,
    /// Server preemptions (involuntary context switches) per thousand requests: other load on
    /// the server's core.
    pub preemptions_per_k_requests: f64,
    /// Times the load generator's thread went to sleep (voluntary context switches) per server
    /// request: replies that found it asleep, each a wake-up the server paid for.
    pub client_wakeups_per_request: f64,
    /// Median round trip of 100 STATS requests just before the timed run, ns: the machine's
    /// state, comparable with `calibrate server`'s probe.
    pub probe_rtt_ns: f64,
    /// Completed invocations per second of wall time.
    pub throughput: f64,
    /// Load-generator thread CPU per invocation, ns.
    pub client_cpu_ns: f64,
    /// Invocations completed in the timed run.
    pub invocations: u64,
    /// Checksum of all results (keeps the work from being optimised away).
    pub checksum: u64,
}

/// The server's counters, from a STATS request.
#[derive(Clone, Copy, Debug)]
struct ServerStats {
    cpu_ns: u64,
    invocations: u64,
    requests: u64,
    reads: u64,
    sleeps: u64,
    preemptions: u64,
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    wbuf: Vec<u8>,
    frame: Vec<u8>,
}

impl Conn {
    fn stats(&mut self) -> io::Result<ServerStats> {
        self.wbuf.clear();
        protocol::encode_stats(&mut self.wbuf);
        self.writer.write_all(&self.wbuf)?;
        protocol::read_frame(&mut self.reader, &mut self.frame)?;
        let f = &self.frame;
        let word = |i: usize| {
            f.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        Ok(ServerStats {
            cpu_ns: word(0),
            invocations: word(1),
            requests: word(2),
            reads: word(3),
            sleeps: word(4),
            preemptions: word(5),
        })
    }
}

/// Round trips in the state probe before each measurement.
const PROBE_PINGS: usize = 100;

/// Runs one measurement against the server at `addr`, from a thread pinned to `core`.
///
/// # Errors
/// I/O errors talking to the server.
pub fn measure(addr: SocketAddr, load: &Load, core: usize) -> io::Result<Sample> {
    // Best effort: an unpinned load generator still measures, only with more noise.
    let _ = cpu::pin_to_cpu(core);
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut conn = Conn {
        reader: BufReader::with_capacity(256 << 10, stream.try_clone()?),
        writer: stream,
        wbuf: Vec::with_capacity(64 << 10),
        frame: Vec::with_capacity(64 << 10),
    };
    let mut generator = Generator::new(load);
    generator.run(&mut conn, load.warmup)?;
    // The machine's state: `calibrate server`'s probe (100 STATS round trips, the kv driver's
    // ping), on this connection just before the timed run.
    let mut rtt = Vec::with_capacity(PROBE_PINGS);
    for _ in 0..PROBE_PINGS {
        let t = Instant::now();
        conn.stats()?;
        rtt.push(t.elapsed().as_nanos() as f64);
    }
    let probe_rtt_ns = calibrate::stats::median(&rtt);
    let s0 = conn.stats()?;
    let client0 = cpu::thread_cpu_ns();
    let (sleeps0, _) = cpu::thread_context_switches();
    let done0 = generator.completed;
    let t0 = Instant::now();
    generator.run(&mut conn, load.duration)?;
    let wall = t0.elapsed().as_secs_f64();
    let client1 = cpu::thread_cpu_ns();
    let (sleeps1, _) = cpu::thread_context_switches();
    let s1 = conn.stats()?;
    let completed = generator.completed - done0;
    let invocations = match load.mode {
        Mode::Inside { .. } => s1.invocations - s0.invocations,
        Mode::Outside { .. } => completed,
    };
    let n = invocations.max(1) as f64;
    let requests = (s1.requests - s0.requests) as f64;
    Ok(Sample {
        server_cpu_ns: (s1.cpu_ns - s0.cpu_ns) as f64 / n,
        requests_per_invocation: requests / n,
        requests_per_read: requests / (s1.reads - s0.reads).max(1) as f64,
        requests_per_wakeup: requests / (s1.sleeps - s0.sleeps).max(1) as f64,
        preemptions_per_k_requests: 1e3 * (s1.preemptions - s0.preemptions) as f64
            / requests.max(1.0),
        client_wakeups_per_request: sleeps1.saturating_sub(sleeps0) as f64 / requests.max(1.0),
        probe_rtt_ns,
        throughput: completed as f64 / wall,
        client_cpu_ns: (client1 - client0) as f64 / n,
        invocations,
        checksum: generator.checksum,
    })
}

struct Generator {
    mode: Mode,
    records: u32,
    rounds: u32,
    window: usize,
    keys: u64,
    record_bytes: usize,
    rng: u64,
    /// Responses still expected per outstanding invocation, and its digest so far.
    pending: VecDeque<(u32, u64)>,
    outstanding: usize,
    completed: u64,
    checksum: u64,
    key_buf: Vec<u64>,
}

impl Generator {
    fn new(load: &Load) -> Self {
        Generator {
            mode: load.mode,
            records: load.records,
            rounds: load.rounds,
            window: load.window.max(1),
            keys: load.keys.max(1),
            record_bytes: load.record_bytes.max(1),
            rng: 0x2545_f491_4f6c_dd1d,
            pending: VecDeque::new(),
            outstanding: 0,
            completed: 0,
            checksum: 0,
            key_buf: Vec::new(),
        }
    }

    /// A uniformly random first key such that all `records` keys exist.
    fn next_first_key(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % (self.keys.saturating_sub(u64::from(self.records)) + 1)
    }

    /// Queues one invocation's requests into `out`; returns how many requests it made.
    fn queue_invocation(&mut self, out: &mut Vec<u8>) -> u32 {
        let first = self.next_first_key();
        match self.mode {
            Mode::Inside { scheme } => {
                protocol::encode_invoke(out, scheme, first, self.records, self.rounds);
                1
            }
            Mode::Outside { multiget } => {
                self.key_buf.clear();
                self.key_buf
                    .extend((0..u64::from(self.records)).map(|i| first + i));
                let m = usize::try_from(multiget.max(1)).unwrap_or(1);
                let mut n = 0;
                for chunk in self.key_buf.chunks(m) {
                    if m == 1 {
                        protocol::encode_get(out, chunk[0]);
                    } else {
                        protocol::encode_multiget(out, chunk);
                    }
                    n += 1;
                }
                n
            }
        }
    }

    /// Keeps the window full for `how_long`, then drains everything outstanding.
    fn run(&mut self, conn: &mut Conn, how_long: Duration) -> io::Result<()> {
        let deadline = Instant::now() + how_long;
        loop {
            let open = Instant::now() < deadline;
            if open {
                conn.wbuf.clear();
                while self.outstanding < self.window {
                    let mut buf = std::mem::take(&mut conn.wbuf);
                    let n = self.queue_invocation(&mut buf);
                    conn.wbuf = buf;
                    self.pending.push_back((n, 0));
                    self.outstanding += usize::try_from(n).unwrap_or(0);
                }
                conn.writer.write_all(&conn.wbuf)?;
            }
            if self.outstanding == 0 {
                return Ok(());
            }
            // Read half a window (or everything, when draining) before topping up again.
            let batch = if open {
                (self.window / 2).max(1).min(self.outstanding)
            } else {
                self.outstanding
            };
            for _ in 0..batch {
                protocol::read_frame(&mut conn.reader, &mut conn.frame)?;
                self.outstanding -= 1;
                self.on_response(&conn.frame);
            }
        }
    }

    fn on_response(&mut self, body: &[u8]) {
        let Some(head) = self.pending.front_mut() else {
            return;
        };
        match self.mode {
            Mode::Inside { .. } => {
                let word = |i: usize| {
                    body.get(i..i + 8)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, u64::from_le_bytes)
                };
                self.checksum = self.checksum.wrapping_add(word(0) ^ word(8));
                self.pending.pop_front();
                self.completed += 1;
            }
            Mode::Outside { .. } => {
                for rec in body.chunks(self.record_bytes) {
                    head.1 = super::digest_record(head.1, rec);
                }
                head.0 -= 1;
                if head.0 == 0 {
                    let digest = head.1;
                    self.pending.pop_front();
                    let r = digest ^ super::kernel_checksum(self.rounds);
                    self.checksum = self.checksum.wrapping_add(r);
                    self.completed += 1;
                }
            }
        }
    }
}
