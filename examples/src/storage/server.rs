//! The storage server: one thread, pinned to one core, serving GET, MULTIGET and INVOKE over
//! TCP on loopback from an in-process store.
//!
//! Requests are read through a buffer and responses written through one; the writer is flushed
//! only when no complete request is left in the read buffer, so a pipelined client gets its
//! responses in batches and the server drains several requests per wake-up (the saturated
//! regime of the cost model).

use std::io::{self, BufReader, BufWriter};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use isolation_plugins::store::{StorageCall, StorageFunction};

use super::kv::Store;
use super::protocol::{self, Request};
use calibrate::cpu;

/// Builds a scheme's instance of the standard storage function on the server thread, bound to
/// the server's store (the tenant's context: created once, invoked warm).
pub type FunctionFactory =
    Box<dyn FnOnce(Arc<Store>) -> Result<Box<dyn StorageFunction>, String> + Send>;

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Whether the server thread got pinned to its core.
    pub pinned: bool,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// Stops the server and waits for its thread.
    ///
    /// # Errors
    /// The server thread's I/O error, if it failed.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("server thread panicked")),
            None => Ok(()),
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
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("storage-server".into())
        .spawn(move || {
            let pinned = cpu::pin_to_cpu(core).is_ok();
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
            let _ = tx.send(Ok(pinned));
            let mut counters = Counters::default();
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let conn = conn?;
                conn.set_nodelay(true)?;
                match serve(&conn, &store, &mut fns, &mut counters) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?;
    let pinned = match rx.recv() {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(io::Error::other(e)),
        Err(_) => return Err(io::Error::other("server thread died during start-up")),
    };
    Ok(ServerHandle {
        addr,
        pinned,
        stop,
        thread: Some(thread),
    })
}

#[derive(Default)]
struct Counters {
    invocations: u64,
    requests: u64,
    /// Times the server found no complete request buffered and had to read (and maybe sleep).
    wakeups: u64,
}

fn serve(
    conn: &TcpStream,
    store: &Store,
    fns: &mut [Box<dyn StorageFunction>],
    counters: &mut Counters,
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(256 << 10, conn);
    let mut writer = BufWriter::with_capacity(256 << 10, conn);
    let mut frame = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(64 << 10);
    loop {
        if reader.buffer().len() < 4 {
            // About to block for more input: send what we have first.
            io::Write::flush(&mut writer)?;
            counters.wakeups += 1;
        }
        protocol::read_frame(&mut reader, &mut frame)?;
        counters.requests += 1;
        match protocol::decode(&frame)? {
            Request::Get(k) => {
                let rec = store.get(k).unwrap_or(&[]);
                protocol::write_response(&mut writer, &[rec])?;
            }
            Request::MultiGet(keys) => {
                out.clear();
                for k in keys.iter() {
                    out.extend_from_slice(store.get(k).unwrap_or(&[]));
                }
                protocol::write_response(&mut writer, &[&out])?;
            }
            Request::Invoke {
                scheme,
                first_key,
                records,
                rounds,
            } => {
                counters.invocations += 1;
                let f = fns
                    .get_mut(usize::from(scheme))
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no such scheme"))?;
                let out = f
                    .run(StorageCall {
                        first_key,
                        records,
                        rounds,
                    })
                    .map_err(io::Error::other)?;
                protocol::write_response(
                    &mut writer,
                    &[&out.digest.to_le_bytes(), &out.checksum.to_le_bytes()],
                )?;
            }
            Request::Stats => {
                let cpu = cpu::thread_cpu_ns();
                let (sleeps, preemptions) = cpu::thread_context_switches();
                protocol::write_response(
                    &mut writer,
                    &[
                        &cpu.to_le_bytes(),
                        &counters.invocations.to_le_bytes(),
                        &counters.requests.to_le_bytes(),
                        &counters.wakeups.to_le_bytes(),
                        &sleeps.to_le_bytes(),
                        &preemptions.to_le_bytes(),
                    ],
                )?;
            }
        }
    }
}
