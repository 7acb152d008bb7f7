//! The storage server: one thread, optionally pinned to one core, serving GET, MULTIGET and
//! INVOKE over TCP from an in-process store, to many clients at once.
//!
//! The thread runs a non-blocking event loop ([`event_loop`](super::event_loop)): a slow,
//! idle or malformed client affects only its own connection, and the server's CPU is still one
//! thread's CPU, which `STATS` reports and the sweep divides by the invocations.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use isolation_plugins::store::StorageFunction;

use super::event_loop::{self, Ctx, Loop};
use super::kv::Store;
use super::poll::Waker;
use calibrate::cpu;

/// Builds a scheme's instance of the standard storage function on the server thread, bound to
/// the server's store (the tenant's context: created once, invoked warm).
pub type FunctionFactory =
    Box<dyn FnOnce(Arc<Store>) -> Result<Box<dyn StorageFunction>, String> + Send>;

/// Bounds on what one connection may hold or take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection holding an incomplete frame or unsent answers, with no bytes moved for this
    /// long, is closed.
    pub stall_timeout: Duration,
    /// Unsent answer bytes past which a connection is not read until they drain.
    pub write_high_water: usize,
}

impl Default for Limits {
    /// 4,096 connections, a 10 s stall timeout, 1 MiB of unsent answers.
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            stall_timeout: Duration::from_secs(10),
            write_high_water: 1 << 20,
        }
    }
}

/// Where and how to run a server.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// Address to bind (port 0: any free port; [`ServerHandle::addr`] says which).
    pub addr: SocketAddr,
    /// Core to pin the server thread to (`None`: not pinned).
    pub core: Option<usize>,
    /// Per-connection bounds.
    pub limits: Limits,
}

impl Default for ServerOptions {
    /// `127.0.0.1:0`, not pinned, default limits.
    fn default() -> Self {
        ServerOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            core: None,
            limits: Limits::default(),
        }
    }
}

/// The server thread's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counters {
    pub(super) invocations: u64,
    pub(super) requests: u64,
    /// Reads that returned data.
    pub(super) reads: u64,
    pub(super) errors: u64,
    pub(super) accepted: u64,
    pub(super) closed: u64,
    pub(super) stalled: u64,
    pub(super) peak_open: u64,
}

/// What the server thread has done so far, as [`ServerHandle::stats`] reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests decoded or refused (one per frame).
    pub requests: u64,
    /// Functions run inside the server.
    pub invocations: u64,
    /// Error replies sent (each closed its connection).
    pub errors: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed, for any reason.
    pub closed: u64,
    /// Of those, closed for making no progress within the stall timeout.
    pub stalled: u64,
    /// Connections open now.
    pub open: u64,
    /// The most connections open at once.
    pub peak_open: u64,
}

/// Counters the server thread publishes once per loop turn, and the stop flag.
#[derive(Debug, Default)]
pub(super) struct Shared {
    stop: AtomicBool,
    words: [AtomicU64; 8],
}

impl Shared {
    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(super) fn publish(&self, c: &Counters, open: usize) {
        let v = [
            c.requests,
            c.invocations,
            c.errors,
            c.accepted,
            c.closed,
            c.stalled,
            open as u64,
            c.peak_open,
        ];
        for (w, v) in self.words.iter().zip(v) {
            w.store(v, Ordering::Relaxed);
        }
    }

    fn read(&self) -> ServerStats {
        let w = |i: usize| self.words[i].load(Ordering::Relaxed);
        ServerStats {
            requests: w(0),
            invocations: w(1),
            errors: w(2),
            accepted: w(3),
            closed: w(4),
            stalled: w(5),
            open: w(6),
            peak_open: w(7),
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Whether the server thread got pinned to its core.
    pub pinned: bool,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The server thread's counters (as of its last loop turn).
    pub fn stats(&self) -> ServerStats {
        self.shared.read()
    }

    /// Stops the server, waits for its thread, and returns its final counters.
    ///
    /// # Errors
    /// The server thread's I/O error, if it failed.
    pub fn stop(mut self) -> io::Result<ServerStats> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.waker.wake()?;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r.map(|()| self.shared.read()),
            Some(Err(_)) => Err(io::Error::other("server thread panicked")),
            None => Ok(self.shared.read()),
        }
    }
}

impl Drop for ServerHandle {
    /// A handle dropped without [`ServerHandle::stop`] still stops its server (without waiting).
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.stop.store(true, Ordering::SeqCst);
            let _ = self.waker.wake();
        }
    }
}

/// Starts a server on `127.0.0.1:0`, pinned to `core`, with `functions` indexed by scheme id.
///
/// # Errors
/// When the socket cannot be bound or a function cannot be built.
pub fn spawn(
    store: Arc<Store>,
    functions: Vec<FunctionFactory>,
    core: usize,
) -> io::Result<ServerHandle> {
    spawn_with(
        store,
        functions,
        ServerOptions {
            core: Some(core),
            ..ServerOptions::default()
        },
    )
}

/// Starts a server as `options` say, with `functions` indexed by scheme id (INVOKE's scheme
/// byte).
///
/// # Errors
/// When the socket cannot be bound or a function cannot be built.
pub fn spawn_with(
    store: Arc<Store>,
    functions: Vec<FunctionFactory>,
    options: ServerOptions,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(options.addr)?;
    let addr = listener.local_addr()?;
    event_loop::prepare(&listener)?;
    let shared = Arc::new(Shared::default());
    let waker = Arc::new(Waker::new()?);
    let (tx, rx) = std::sync::mpsc::channel();
    let (shared2, waker2) = (Arc::clone(&shared), Arc::clone(&waker));
    let thread = std::thread::Builder::new()
        .name("storage-server".into())
        .spawn(move || {
            let pinned = options.core.is_some_and(|c| cpu::pin_to_cpu(c).is_ok());
            let mut fns = Vec::new();
            for f in functions {
                match f(Arc::clone(&store)) {
                    Ok(f) => fns.push(f),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                }
            }
            let ctx = Ctx {
                store: &store,
                fns,
                counters: Counters::default(),
            };
            let mut lp = match Loop::new(listener, &waker2, &shared2, options.limits, ctx) {
                Ok(lp) => lp,
                Err(e) => {
                    let _ = tx.send(Err(format!("event loop: {e}")));
                    return Ok(());
                }
            };
            let _ = tx.send(Ok(pinned));
            lp.run()
        })?;
    let pinned = match rx.recv() {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(io::Error::other(e)),
        Err(_) => return Err(io::Error::other("server thread died during start-up")),
    };
    Ok(ServerHandle {
        addr,
        pinned,
        shared,
        waker,
        thread: Some(thread),
    })
}
