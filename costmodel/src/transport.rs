//! The `Transport` trait: a way to move requests and records between nodes, and the probe hook
//! the calibration harness drives to measure it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::id::TransportId;
use crate::profile::{CoreRegime, TransportCosts};
use crate::validate::Check;

/// Ids of the built-in transports that never leave the host (`unix`, `shm`). A transport known
/// only from a profile entry ([`ProfiledTransport`]) with one of these ids is same-host.
pub const SAME_HOST_BUILTINS: [&str; 2] = ["unix", "shm"];

/// A transport the cost model can price. Object safe.
///
/// A transport supplies its identity, literature defaults for hosts not yet calibrated, its
/// capabilities, and optionally a [`TransportProbe`] the calibration harness drives to measure
/// it (ping-pong, pipelined and size sweeps).
pub trait Transport: Send + Sync {
    /// Stable identifier (`tcp`, `udp`, `unix`, `shm`, ...).
    fn id(&self) -> TransportId;

    /// Literature defaults, each number's `source` citing where it comes from.
    fn defaults(&self) -> TransportCosts;

    /// Whether data crosses a machine boundary. A same-host transport (`shm`, `unix`) returns
    /// false and is never priced for a placement on another node than the data.
    fn crosses_network(&self) -> bool {
        true
    }

    /// Whether a fetch costs the storage server CPU. A one-sided transport (RDMA read) returns
    /// false: the model then charges a remote fetch no server-side request cost.
    fn fetch_uses_server_cpu(&self) -> bool {
        true
    }

    /// A probe the calibration harness drives to measure this transport, if it can be measured
    /// on this host.
    fn probe(&self) -> Option<Box<dyn TransportProbe>> {
        None
    }
}

/// One end of a connected transport, as the harness drives it. Every message is a whole
/// request or response of a size both ends agree on.
pub trait TransportLink: Send {
    /// Sends one message (all of `buf`).
    ///
    /// # Errors
    /// The transport's I/O error.
    fn send(&mut self, buf: &[u8]) -> io::Result<()>;

    /// Blocks until a message is ready, when the transport polls; a no-op for blocking links
    /// (their `recv` blocks).
    ///
    /// # Errors
    /// The transport's I/O error, or a timeout.
    fn wait(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Receives one message of exactly `buf.len()` bytes.
    ///
    /// # Errors
    /// The transport's I/O error, a timeout or a message of the wrong size.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()>;

    /// True when the transport polls: its CPU is busy time, not thread time.
    fn polls(&self) -> bool {
        false
    }

    /// True for byte streams, which can move several queued messages per system call.
    fn streams(&self) -> bool {
        false
    }

    /// Reads the bytes that are available (at least one; blocks until there are some). Only
    /// byte streams support it ([`TransportLink::streams`]).
    ///
    /// # Errors
    /// [`io::ErrorKind::Unsupported`] for a message transport, else the I/O error.
    fn recv_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _ = buf;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "not a byte stream",
        ))
    }
}

/// How the harness wants a link pair opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkOptions {
    /// Both ends run on the same core (a poller should yield rather than spin).
    pub same_core: bool,
    /// How long a peer may stay silent before an operation fails.
    pub timeout: Duration,
    /// The largest message the harness will send.
    pub max_message: usize,
}

/// A connected pair: the client end (the harness's caller) and the server end (served by the
/// harness's echo thread).
pub struct LinkPair {
    /// The caller's end.
    pub client: Box<dyn TransportLink>,
    /// The server's end.
    pub server: Box<dyn TransportLink>,
}

impl std::fmt::Debug for LinkPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkPair").finish_non_exhaustive()
    }
}

/// Opens link pairs of one transport for the calibration harness.
pub trait TransportProbe: Send {
    /// What the transport is, for the profile (`kernel TCP over loopback`).
    fn description(&self) -> String;

    /// Opens a connected (client, server) pair.
    ///
    /// # Errors
    /// The I/O error of the setup (bind, connect, map).
    fn connect(&mut self, options: &LinkOptions) -> io::Result<LinkPair>;

    /// The largest message this transport carries in one piece.
    fn max_message(&self) -> usize {
        64 * 1024
    }

    /// Bytes a pipelined window may hold in flight without loss (a datagram transport drops
    /// what overflows the receive buffer); `None` for no limit.
    fn pipeline_bytes(&self) -> Option<u64> {
        None
    }

    /// The core placement the profile's headline numbers use, given `cpus` usable CPUs.
    fn headline(&self, cpus: usize) -> CoreRegime {
        let _ = cpus;
        CoreRegime::SameCore
    }
}

/// A transport's defaults, validated: every number finite, non-negative and within the
/// format's limits, with a one-line error naming the transport and the field.
///
/// # Errors
/// A validation error (`defaults of transport X: unloaded.server.per_request ...`).
pub fn checked_defaults<T: Transport + ?Sized>(transport: &T) -> Result<TransportCosts> {
    let costs = transport.defaults();
    let origin = format!("defaults of transport {}", transport.id());
    costs.check(&mut Check::new(&origin))?;
    Ok(costs)
}

impl<T: Transport + ?Sized> Transport for &T {
    fn id(&self) -> TransportId {
        (**self).id()
    }
    fn defaults(&self) -> TransportCosts {
        (**self).defaults()
    }
    fn crosses_network(&self) -> bool {
        (**self).crosses_network()
    }
    fn fetch_uses_server_cpu(&self) -> bool {
        (**self).fetch_uses_server_cpu()
    }
    fn probe(&self) -> Option<Box<dyn TransportProbe>> {
        (**self).probe()
    }
}

macro_rules! forward_transport {
    ($($ptr:ident),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ptr<T> {
            fn id(&self) -> TransportId { (**self).id() }
            fn defaults(&self) -> TransportCosts { (**self).defaults() }
            fn crosses_network(&self) -> bool { (**self).crosses_network() }
            fn fetch_uses_server_cpu(&self) -> bool { (**self).fetch_uses_server_cpu() }
            fn probe(&self) -> Option<Box<dyn TransportProbe>> { (**self).probe() }
        }
    )*};
}
forward_transport!(Box, Arc);

/// A transport defined only by a profile entry. It crosses the network unless its id is one of
/// [`SAME_HOST_BUILTINS`] or it is built with [`ProfiledTransport::same_host`].
#[derive(Clone, Debug)]
pub struct ProfiledTransport {
    id: TransportId,
    costs: TransportCosts,
    crosses_network: bool,
}

impl ProfiledTransport {
    /// A transport with id `id` whose costs are `costs`.
    pub fn new(id: TransportId, costs: TransportCosts) -> Self {
        let crosses_network = !SAME_HOST_BUILTINS.contains(&id.as_str());
        ProfiledTransport {
            id,
            costs,
            crosses_network,
        }
    }

    /// The same transport, marked as never leaving the host.
    #[must_use]
    pub fn same_host(mut self) -> Self {
        self.crosses_network = false;
        self
    }
}

impl Transport for ProfiledTransport {
    fn id(&self) -> TransportId {
        self.id
    }
    fn defaults(&self) -> TransportCosts {
        self.costs.clone()
    }
    fn crosses_network(&self) -> bool {
        self.crosses_network
    }
}
