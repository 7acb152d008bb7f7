//! The server's event loop: one thread, non-blocking sockets, level-triggered epoll.
//!
//! - Fairness: each ready connection gets one read (up to [`SCRATCH_BYTES`]) per turn, its
//!   complete requests are answered, and its answers are written with one `write` when the read
//!   is drained: a pipelined client still gets its responses in batches, and the server drains
//!   several requests per wake-up (the saturated regime of the cost model).
//! - Memory follows bytes received: input is read into one shared scratch buffer; only the
//!   tail of an incomplete frame is copied into the connection's own buffer, which grows as its
//!   bytes arrive (a length prefix alone allocates nothing). A connection whose unsent answers
//!   pass [`Limits::write_high_water`] is not read until they drain.
//! - Faults stay local: a malformed frame gets an error reply and a lingering close of that
//!   connection only; a connection holding a partial frame or unsent answers with no progress
//!   for [`Limits::stall_timeout`] is closed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use isolation_plugins::store::{StorageCall, StorageFunction};

use super::kv::Store;
use super::poll::{self, Epoll, Event, Waker};
use super::protocol::{self, Request};
use super::server::{Counters, Limits, Shared};
use calibrate::cpu;

/// Bytes one read may take from a connection.
pub(super) const SCRATCH_BYTES: usize = 256 << 10;
/// How long a connection that got an error reply may keep sending before it is closed.
const LINGER: Duration = Duration::from_secs(2);
/// Input discarded from a closing connection before it is closed at once.
const LINGER_BYTES: usize = 1 << 20;
const LISTENER: u64 = 0;
const WAKER: u64 = 1;
const FIRST_CONN: u64 = 2;

/// What the loop answers with.
pub(super) struct Ctx<'a> {
    pub(super) store: &'a Store,
    pub(super) fns: Vec<Box<dyn StorageFunction>>,
    pub(super) counters: Counters,
}

impl Ctx<'_> {
    /// Appends the answer to one request frame to `out`, or says why the frame is malformed.
    fn answer(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.counters.requests += 1;
        match protocol::decode(frame).map_err(|e| e.to_string())? {
            Request::Get(k) => {
                let rec = self.store.get(k).unwrap_or(&[]);
                push_response(out, &[rec]);
            }
            Request::MultiGet(keys) => {
                let start = out.len();
                out.extend_from_slice(&[0; 4]);
                for k in keys.iter() {
                    out.extend_from_slice(self.store.get(k).unwrap_or(&[]));
                    if out.len() - start - 4 > protocol::MAX_RESPONSE_BYTES {
                        out.truncate(start);
                        return Err(format!(
                            "multiget of {} keys answers more than the response cap of {} bytes",
                            keys.len(),
                            protocol::MAX_RESPONSE_BYTES
                        ));
                    }
                }
                let n = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
                out[start..start + 4].copy_from_slice(&n.to_le_bytes());
            }
            Request::Invoke {
                scheme,
                first_key,
                records,
                rounds,
            } => {
                let schemes = self.fns.len();
                let f = self.fns.get_mut(usize::from(scheme)).ok_or_else(|| {
                    format!(
                        "unknown scheme {scheme}: this server runs schemes 0 to {}",
                        schemes.saturating_sub(1)
                    )
                })?;
                let r = f
                    .run(StorageCall {
                        first_key,
                        records,
                        rounds,
                    })
                    .map_err(|e| format!("invoke under scheme {scheme}: {e}"))?;
                self.counters.invocations += 1;
                push_response(out, &[&r.digest.to_le_bytes(), &r.checksum.to_le_bytes()]);
            }
            Request::Stats => {
                let cpu = cpu::thread_cpu_ns();
                let (sleeps, preemptions) = cpu::thread_context_switches();
                let c = &self.counters;
                push_response(
                    out,
                    &[
                        &cpu.to_le_bytes(),
                        &c.invocations.to_le_bytes(),
                        &c.requests.to_le_bytes(),
                        &c.reads.to_le_bytes(),
                        &sleeps.to_le_bytes(),
                        &preemptions.to_le_bytes(),
                    ],
                );
            }
        }
        Ok(())
    }

    /// Answers the complete frames at the start of `input` while `out` holds less than
    /// `high_water` unsent bytes (from `sent` on). Returns the bytes consumed, and the error
    /// text of a malformed frame (which is consumed with everything after it).
    fn answer_all(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        sent: usize,
        high_water: usize,
    ) -> (usize, Option<String>) {
        let mut at = 0;
        while out.len() - sent < high_water {
            let Some(prefix) = input.get(at..at + 4) else {
                break;
            };
            let n = match protocol::request_len(prefix.try_into().unwrap_or([0; 4])) {
                Ok(n) => n,
                Err(e) => return (input.len(), Some(e.to_string())),
            };
            let Some(frame) = input.get(at + 4..at + 4 + n) else {
                break;
            };
            at += 4 + n;
            if let Err(e) = self.answer(frame, out) {
                return (input.len(), Some(e));
            }
        }
        (at, None)
    }
}

fn push_response(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    /// Received bytes not yet answered: an incomplete frame, or complete frames held back while
    /// the answers before them do not drain.
    input: Vec<u8>,
    /// Answers, sent from `sent` on.
    output: Vec<u8>,
    sent: usize,
    /// Registered interest.
    interest: u32,
    /// The peer shut down its side: answer what is complete, then close.
    eof: bool,
    /// An error reply was queued: send it, shut down, discard input until EOF or the deadline.
    closing: Option<(Instant, usize)>,
    shut: bool,
    last_progress: Instant,
}

impl Conn {
    fn pending(&self) -> usize {
        self.output.len() - self.sent
    }

    fn wants(&self, high_water: usize) -> u32 {
        let read = self.closing.is_some() || (!self.eof && self.pending() < high_water);
        (if read { poll::IN } else { 0 }) | (if self.pending() > 0 { poll::OUT } else { 0 })
    }

    fn refuse(&mut self, ctx: &mut Ctx<'_>, text: &str, now: Instant) {
        ctx.counters.errors += 1;
        protocol::encode_error(&mut self.output, text);
        self.input = Vec::new();
        self.closing = Some((now + LINGER, 0));
    }

    /// Answers what `input` holds.
    fn pump(&mut self, ctx: &mut Ctx<'_>, high_water: usize, now: Instant) {
        let (used, bad) = ctx.answer_all(&self.input, &mut self.output, self.sent, high_water);
        self.input.drain(..used);
        if self.input.is_empty() && self.input.capacity() > SCRATCH_BYTES {
            self.input = Vec::new();
        }
        if let Some(text) = bad {
            self.refuse(ctx, &text, now);
        }
    }

    /// Writes what it can; after an error reply is out, shuts the write side.
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        while self.sent < self.output.len() {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.last_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.sent = 0;
        if self.output.capacity() > SCRATCH_BYTES {
            self.output = Vec::new();
        }
        if self.closing.is_some() && !self.shut {
            self.shut = true;
            self.stream.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }

    /// Serves one readiness report; false when the connection is done.
    fn service(
        &mut self,
        ready: u32,
        scratch: &mut [u8],
        ctx: &mut Ctx<'_>,
        high_water: usize,
        now: Instant,
    ) -> bool {
        if ready & poll::ERR != 0 {
            return false;
        }
        if ready & poll::IN != 0 && self.wants(high_water) & poll::IN != 0 {
            match self.stream.read(scratch) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    if let Some((_, discarded)) = &mut self.closing {
                        *discarded += n;
                        if *discarded > LINGER_BYTES {
                            return false;
                        }
                    } else {
                        ctx.counters.reads += 1;
                        self.last_progress = now;
                        if self.input.is_empty() {
                            // Fast path: answer straight from the scratch buffer, keep the tail.
                            let (used, bad) = ctx.answer_all(
                                &scratch[..n],
                                &mut self.output,
                                self.sent,
                                high_water,
                            );
                            self.input.extend_from_slice(&scratch[used..n]);
                            if let Some(text) = bad {
                                self.refuse(ctx, &text, now);
                            }
                        } else {
                            self.input.extend_from_slice(&scratch[..n]);
                            self.pump(ctx, high_water, now);
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return false,
            }
        }
        loop {
            if self.flush(now).is_err() {
                return false;
            }
            // Frames held back by the high water: answer them now that the output drained.
            if self.closing.is_some() || self.input.is_empty() || self.pending() >= high_water {
                break;
            }
            let before = self.input.len();
            self.pump(ctx, high_water, now);
            if self.input.len() == before && self.closing.is_none() {
                break;
            }
        }
        if self.eof {
            // Closing: the peer read our error reply and closed. Otherwise done once answered
            // (an incomplete frame left at EOF can never complete).
            return self.closing.is_none() && self.pending() > 0;
        }
        true
    }
}

/// The loop's state.
pub(super) struct Loop<'a> {
    pub(super) epoll: Epoll,
    pub(super) listener: TcpListener,
    pub(super) shared: &'a Shared,
    pub(super) limits: Limits,
    pub(super) ctx: Ctx<'a>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    freed: Vec<usize>,
    open: usize,
    listening: bool,
}

impl<'a> Loop<'a> {
    /// A loop over `listener` (already non-blocking), stopped through `waker` and `shared`.
    pub(super) fn new(
        listener: TcpListener,
        waker: &'a Waker,
        shared: &'a Shared,
        limits: Limits,
        ctx: Ctx<'a>,
    ) -> io::Result<Self> {
        let epoll = Epoll::new(256)?;
        epoll.add(listener.as_raw_fd(), LISTENER, poll::IN)?;
        epoll.add(waker.raw(), WAKER, poll::IN)?;
        Ok(Loop {
            epoll,
            listener,
            shared,
            limits,
            ctx,
            conns: Vec::new(),
            free: Vec::new(),
            freed: Vec::new(),
            open: 0,
            listening: true,
        })
    }

    /// Serves until the stop flag is set and the waker signalled.
    pub(super) fn run(&mut self) -> io::Result<()> {
        let mut scratch = vec![0u8; SCRATCH_BYTES];
        let mut events = Vec::with_capacity(256);
        let tick = (self.limits.stall_timeout / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(1));
        let tick_ms = i32::try_from(tick.as_millis()).unwrap_or(1000);
        let mut next_scan = Instant::now() + tick;
        loop {
            let timeout = if self.open > 0 || !self.listening {
                tick_ms
            } else {
                -1
            };
            self.epoll.wait(&mut events, timeout)?;
            let now = Instant::now();
            for &Event { token, ready } in &events {
                match token {
                    LISTENER => self.accept(now),
                    WAKER => {
                        if self.shared.stopping() {
                            self.shared.publish(&self.ctx.counters, self.open);
                            return Ok(());
                        }
                    }
                    t => {
                        let i = usize::try_from(t - FIRST_CONN).unwrap_or(usize::MAX);
                        self.service(i, ready, &mut scratch, now);
                    }
                }
            }
            self.free.append(&mut self.freed);
            if now >= next_scan {
                next_scan = now + tick;
                self.scan(now);
            }
            self.shared.publish(&self.ctx.counters, self.open);
        }
    }

    fn service(&mut self, i: usize, ready: u32, scratch: &mut [u8], now: Instant) {
        let high_water = self.limits.write_high_water;
        let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if !conn.service(ready, scratch, &mut self.ctx, high_water, now) {
            self.close(i);
            return;
        }
        let want = conn.wants(high_water);
        if want != conn.interest {
            conn.interest = want;
            if self
                .epoll
                .modify(conn.stream.as_raw_fd(), FIRST_CONN + i as u64, want)
                .is_err()
            {
                self.close(i);
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..64 {
            if self.open >= self.limits.max_connections {
                self.pause_accepting();
                return;
            }
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors (EMFILE, ENFILE) or memory: wait for a close or a tick.
                Err(_) => {
                    self.pause_accepting();
                    return;
                }
            };
            if stream.set_nonblocking(true).is_err() || stream.set_nodelay(true).is_err() {
                continue;
            }
            let i = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            if self
                .epoll
                .add(stream.as_raw_fd(), FIRST_CONN + i as u64, poll::IN)
                .is_err()
            {
                self.freed.push(i);
                continue;
            }
            self.conns[i] = Some(Conn {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                sent: 0,
                interest: poll::IN,
                eof: false,
                closing: None,
                shut: false,
                last_progress: now,
            });
            self.open += 1;
            self.ctx.counters.accepted += 1;
            let c = &mut self.ctx.counters;
            c.peak_open = c.peak_open.max(self.open as u64);
        }
    }

    fn pause_accepting(&mut self) {
        if self.listening && self.epoll.delete(self.listener.as_raw_fd()).is_ok() {
            self.listening = false;
        }
    }

    fn resume_accepting(&mut self) {
        if !self.listening
            && self.open < self.limits.max_connections
            && self
                .epoll
                .add(self.listener.as_raw_fd(), LISTENER, poll::IN)
                .is_ok()
        {
            self.listening = true;
        }
    }

    fn close(&mut self, i: usize) {
        if let Some(conn) = self.conns.get_mut(i).and_then(Option::take) {
            let _ = self.epoll.delete(conn.stream.as_raw_fd());
            self.open -= 1;
            self.freed.push(i);
            self.ctx.counters.closed += 1;
        }
        self.resume_accepting();
    }

    /// Closes connections past their linger, and stalled ones: a partial frame or unsent answers
    /// with no progress for the stall timeout.
    fn scan(&mut self, now: Instant) {
        let stall = self.limits.stall_timeout;
        for i in 0..self.conns.len() {
            let Some(c) = &self.conns[i] else { continue };
            let lingered = c.closing.is_some_and(|(until, _)| now >= until);
            let stalled = c.closing.is_none()
                && (!c.input.is_empty() || c.pending() > 0)
                && now.duration_since(c.last_progress) > stall;
            if stalled {
                self.ctx.counters.stalled += 1;
            }
            if lingered || stalled {
                self.close(i);
            }
        }
        self.resume_accepting();
    }
}

/// Raises the listen backlog of `listener` (best effort: the default still works, only slower
/// under a burst of connections).
pub(super) fn prepare(listener: &TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let _ = poll::listen_backlog_max(listener.as_raw_fd());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    /// A stream of mostly valid requests (no STATS: its answer carries the CPU clock),
    /// sometimes with random bytes in it.
    fn stream(rng: &mut Rng) -> Vec<u8> {
        let mut s = Vec::new();
        for _ in 0..1 + rng.below(20) {
            match rng.below(12) {
                0..=3 => protocol::encode_get(&mut s, rng.next() % 80),
                4..=6 => {
                    let keys: Vec<u64> = (0..rng.below(5)).map(|_| rng.next() % 80).collect();
                    protocol::encode_multiget(&mut s, &keys);
                }
                7 => protocol::encode_invoke(&mut s, 0, 1, 2, 3),
                _ => {
                    // Random bytes: any frame at all.
                    s.extend((0..rng.below(16)).map(|_| rng.next().to_le_bytes()[0]));
                }
            }
        }
        s
    }

    /// Feeds `input` in the pieces `cuts` makes, as a connection's buffer receives them.
    fn feed(ctx: &mut Ctx<'_>, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<String>) {
        let (mut buf, mut out, mut at) = (Vec::new(), Vec::new(), 0);
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            buf.extend_from_slice(&input[at..cut.max(at)]);
            at = cut.max(at);
            let (used, bad) = ctx.answer_all(&buf, &mut out, 0, usize::MAX);
            assert!(used <= buf.len());
            buf.drain(..used);
            if bad.is_some() {
                assert!(buf.is_empty(), "a malformed frame consumes the rest");
                return (out, bad);
            }
        }
        (out, None)
    }

    // Property: how a stream is cut into reads does not change the answers, and a malformed
    // frame ends them with the same error text, wherever the cuts fall.
    #[test]
    fn answers_do_not_depend_on_how_the_input_is_cut() {
        let store = Store::new(64, 16);
        let mut ctx = Ctx {
            store: &store,
            fns: Vec::new(),
            counters: Counters::default(),
        };
        let mut rng = Rng(0x1234_5678);
        let mut refused = 0;
        for _ in 0..2000 {
            let whole = stream(&mut rng);
            let mut cuts: Vec<usize> = (0..rng.below(6))
                .map(|_| rng.below(whole.len() + 1))
                .collect();
            cuts.sort_unstable();
            let once = feed(&mut ctx, &whole, &[]);
            let pieces = feed(&mut ctx, &whole, &cuts);
            assert_eq!(once, pieces, "cuts {cuts:?} of {whole:?}");
            refused += usize::from(once.1.is_some());
        }
        // Both kinds of stream were exercised.
        assert!((200..1800).contains(&refused), "{refused} of 2000 refused");
    }
}
