//! `calibrate server`: calibrate a running storage server from outside.
//!
//! The server is driven through a [`ServerDriver`], a request codec over one connection (ping,
//! set, get, multi-get, pipelined gets, optionally a server-side function). Built in: RESP
//! (Redis, Valkey), memcached's text protocol and the project's KV protocol ([`Protocol`]); a
//! third party implements [`ServerDriver`] and [`DriverFactory`] in its own crate and passes the
//! factory to [`calibrate_server`].
//!
//! The server's CPU is read from the server's own threads ([`procfs`]: the first field of
//! `/proc/<pid>/task/*/schedstat`, ns), never from the client's clock, together with its
//! read/write system calls (`/proc/<pid>/io`) and wake-ups (voluntary context switches), so the
//! system calls and wake-ups per request are measured, not assumed. [`sweep`] runs the points
//! (clients, pipelining depth, value size, keys per multi-get) in interleaved rounds; [`terms`]
//! fits the version-2 [`costmodel::ServerRequestTerms`] with intervals from the spread between
//! rounds; [`output`] writes them into a host profile as a transport entry named after the
//! server (`resp@redis-7.0`).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub mod cli;
pub mod conn;
pub mod kv;
pub mod load;
pub mod memcached;
pub mod output;
pub mod procfs;
pub mod resp;
pub mod session;
pub mod spawn;
pub mod state;
pub mod sweep;
pub mod terms;

pub use output::{apply_to_profile, summary, write_atomically};
pub use session::{Attach, ServerOutcome, calibrate_server, calibrate_server_with};
pub use spawn::Spawned;
pub use sweep::{Options, Point, PointSpec, Sample, Sweep};
pub use terms::{Coefficient, TermsFit};

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// No reply (or no progress sending) within the connection's timeout.
    #[error("no reply within the timeout")]
    Timeout,
    /// The server closed the connection (or reset it).
    #[error("the server closed the connection")]
    Closed,
    /// Another I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered something the protocol does not allow here.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server (or this driver) cannot do this operation.
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// `Result` with [`DriverError`].
pub type DriverResult<T> = std::result::Result<T, DriverError>;

/// A request codec over one connection to a storage server.
///
/// Keys are numbers; each driver names them in its protocol (`calibrate:17` for RESP and
/// memcached, the number itself for the KV protocol). Gets are split into [`queue_get`]
/// (append a request to the send buffer), [`flush`] (send) and [`read_get`] (read the oldest
/// outstanding reply), so the provided [`pipelined_get`] writes N requests and then reads N
/// replies. The trait is object safe; the harness holds `Box<dyn ServerDriver>`, one per client
/// thread.
///
/// [`queue_get`]: ServerDriver::queue_get
/// [`flush`]: ServerDriver::flush
/// [`read_get`]: ServerDriver::read_get
/// [`pipelined_get`]: ServerDriver::pipelined_get
pub trait ServerDriver: Send {
    /// The wire protocol, the transport id's prefix: `resp`, `memcached`, `kv`.
    fn protocol(&self) -> &str;

    /// Asks the server what software it is (`redis`, `valkey`, `memcached`).
    ///
    /// # Errors
    /// I/O or protocol errors.
    fn name(&mut self) -> DriverResult<String>;

    /// Asks the server its version (`7.0.15`).
    ///
    /// # Errors
    /// I/O or protocol errors.
    fn version(&mut self) -> DriverResult<String>;

    /// One round trip that does no data work (RESP `PING`, memcached `version`).
    ///
    /// # Errors
    /// I/O or protocol errors.
    fn ping(&mut self) -> DriverResult<()>;

    /// Stores `value` under `key`. [`DriverError::Unsupported`] for a server with a fixed data
    /// set (the KV server): the harness then reads the records it already holds.
    ///
    /// # Errors
    /// I/O or protocol errors, or unsupported.
    fn set(&mut self, key: u64, value: &[u8]) -> DriverResult<()>;

    /// Deletes `key` (calibrate removes the keys it stored from a server it did not start).
    /// The default is unsupported.
    ///
    /// # Errors
    /// I/O or protocol errors, or unsupported.
    fn delete(&mut self, key: u64) -> DriverResult<()> {
        let _ = key;
        Err(DriverError::Unsupported("delete".to_owned()))
    }

    /// Appends a get of `keys` to the send buffer without sending: one key is a plain get,
    /// several the protocol's multi-get (`MGET`, memcached `get k1 k2`, KV `MULTIGET`).
    ///
    /// # Errors
    /// [`DriverError::Unsupported`] for more keys than the protocol allows in one request.
    fn queue_get(&mut self, keys: &[u64]) -> DriverResult<()>;

    /// Sends everything queued.
    ///
    /// # Errors
    /// I/O errors.
    fn flush(&mut self) -> DriverResult<()>;

    /// Reads the reply to the oldest outstanding get, which asked for `keys`; returns the value
    /// bytes received (0 for a missing key).
    ///
    /// # Errors
    /// I/O or protocol errors.
    fn read_get(&mut self, keys: &[u64]) -> DriverResult<usize>;

    /// Gets one key; returns its value's length.
    ///
    /// # Errors
    /// As [`ServerDriver::read_get`].
    fn get(&mut self, key: u64) -> DriverResult<usize> {
        self.queue_get(&[key])?;
        self.flush()?;
        self.read_get(&[key])
    }

    /// Gets several keys in one request; returns the value bytes received.
    ///
    /// # Errors
    /// As [`ServerDriver::read_get`].
    fn multi_get(&mut self, keys: &[u64]) -> DriverResult<usize> {
        self.queue_get(keys)?;
        self.flush()?;
        self.read_get(keys)
    }

    /// Pipelined gets: writes one request per chunk of `keys_per_request` keys, sends them
    /// together, then reads every reply. Returns the value bytes received.
    ///
    /// # Errors
    /// As [`ServerDriver::read_get`]; a zero `keys_per_request` is unsupported.
    fn pipelined_get(&mut self, keys: &[u64], keys_per_request: usize) -> DriverResult<usize> {
        if keys_per_request == 0 {
            return Err(DriverError::Unsupported("zero keys per request".to_owned()));
        }
        for chunk in keys.chunks(keys_per_request) {
            self.queue_get(chunk)?;
        }
        self.flush()?;
        let mut bytes = 0;
        for chunk in keys.chunks(keys_per_request) {
            bytes += self.read_get(chunk)?;
        }
        Ok(bytes)
    }

    /// Runs a server-side function over `keys` (Redis `FCALL function n keys...`); `Ok(None)`
    /// when the server or driver has none. Returns the reply's payload bytes.
    ///
    /// # Errors
    /// I/O or protocol errors.
    fn invoke(&mut self, function: &str, keys: &[u64]) -> DriverResult<Option<usize>> {
        let _ = (function, keys);
        Ok(None)
    }
}

/// Opens connections: the harness opens one per client thread.
pub trait DriverFactory: Send + Sync {
    /// The protocol the drivers speak (`resp`).
    fn protocol(&self) -> &str;

    /// Connects to `addr`, with `timeout` on the connect and on every later read and write.
    ///
    /// # Errors
    /// The connect error ([`DriverError::Timeout`] when it did not complete in time).
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> DriverResult<Box<dyn ServerDriver>>;
}

/// The built-in protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// RESP (Redis, Valkey).
    Resp,
    /// memcached's text protocol.
    Memcached,
    /// The project's KV protocol (`examples`' storage server).
    Kv,
}

impl Protocol {
    /// Every built-in protocol.
    pub const ALL: [Protocol; 3] = [Protocol::Resp, Protocol::Memcached, Protocol::Kv];

    /// Its name on the command line and in transport ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Resp => "resp",
            Protocol::Memcached => "memcached",
            Protocol::Kv => "kv",
        }
    }

    /// Parses `resp`, `memcached` or `kv`.
    ///
    /// # Errors
    /// [`crate::CalibrateError::BadOption`] naming the value and the choices.
    pub fn parse(s: &str) -> crate::Result<Self> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| crate::CalibrateError::BadOption {
                option: "--driver",
                message: format!("unknown driver {s:?}: expected resp, memcached or kv"),
            })
    }
}

/// Connects a TCP stream with `timeout` on connect, reads and writes, and no Nagle delay.
///
/// # Errors
/// The connect error, or [`DriverError::Timeout`].
pub fn connect_tcp(addr: SocketAddr, timeout: Duration) -> DriverResult<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(conn::io_error)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    Ok(s)
}

impl DriverFactory for Protocol {
    fn protocol(&self) -> &str {
        self.as_str()
    }

    fn connect(&self, addr: SocketAddr, timeout: Duration) -> DriverResult<Box<dyn ServerDriver>> {
        let s = connect_tcp(addr, timeout)?;
        Ok(match self {
            Protocol::Resp => Box::new(resp::Resp::new(s)),
            Protocol::Memcached => Box::new(memcached::Memcached::new(s)),
            Protocol::Kv => Box::new(kv::Kv::new(s)),
        })
    }
}
