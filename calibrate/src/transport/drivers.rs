//! The built-in transport drivers: kernel TCP, UDP and Unix stream sockets and a shared-memory
//! ring, each a [`costmodel::Transport`] whose probe opens connected link pairs for the harness.
//! Their defaults are the reference profile's literature entries.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;

use costmodel::{
    CoreRegime, LinkOptions, LinkPair, Transport, TransportCosts, TransportId, TransportLink,
    TransportProbe,
};

use super::shm;

/// Largest UDP payload over IPv4.
const UDP_MAX: usize = 65_507;
/// Bytes a pipelined UDP window may hold in flight: under Linux's default socket receive buffer
/// (`net.core.rmem_default`, 208 KiB) with room for the kernel's per-datagram accounting (a 4 KiB
/// datagram is charged about twice its size), so nothing is dropped.
const UDP_PIPELINE_BYTES: u64 = 64 * 1024;

/// The reference profile's entry for built-in transport `id`.
fn reference_defaults(id: &str) -> TransportCosts {
    crate::profile::reference()
        .ok()
        .and_then(|p| {
            let id = TransportId::new(id).ok()?;
            p.transports.get(&id).cloned()
        })
        // The built-in reference profile holds every built-in transport; a test checks it.
        .expect("the built-in reference profile has an entry for every built-in transport")
}

fn transport_id(id: &'static str) -> TransportId {
    TransportId::new(id).expect("built-in transport ids are valid")
}

/// A byte-stream link (TCP, Unix).
struct Stream<S>(S);

impl<S: Read + Write + Send> TransportLink for Stream<S> {
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

/// A connected UDP socket: one datagram per message.
struct Datagram(UdpSocket);

impl TransportLink for Datagram {
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

fn ctx(what: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

macro_rules! driver {
    ($name:ident, $probe:ident, $id:literal, $doc:literal, crosses: $crosses:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Transport for $name {
            fn id(&self) -> TransportId {
                transport_id($id)
            }
            fn defaults(&self) -> TransportCosts {
                reference_defaults($id)
            }
            fn crosses_network(&self) -> bool {
                $crosses
            }
            fn probe(&self) -> Option<Box<dyn TransportProbe>> {
                Some(Box::new($probe))
            }
        }

        struct $probe;
    };
}

driver!(Tcp, TcpProbe, "tcp", "Kernel TCP over loopback, `TCP_NODELAY`.", crosses: true);
driver!(Udp, UdpProbe, "udp", "Kernel UDP over loopback, connected sockets.", crosses: true);
driver!(Unix, UnixProbe, "unix", "Unix stream socket pair (same host only).", crosses: false);
driver!(
    Shm,
    ShmProbe,
    "shm",
    "Shared-memory ring between two threads (kernel-bypass stand-in, same host only).",
    crosses: false
);

impl TransportProbe for TcpProbe {
    fn description(&self) -> String {
        "kernel TCP over loopback".to_owned()
    }
    fn connect(&mut self, o: &LinkOptions) -> io::Result<LinkPair> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(ctx("bind"))?;
        let addr = l.local_addr().map_err(ctx("local address"))?;
        let c = TcpStream::connect(addr).map_err(ctx("connect"))?;
        let (s, _) = l.accept().map_err(ctx("accept"))?;
        for x in [&c, &s] {
            x.set_nodelay(true).map_err(ctx("TCP_NODELAY"))?;
            x.set_read_timeout(Some(o.timeout))
                .map_err(ctx("read timeout"))?;
            x.set_write_timeout(Some(o.timeout))
                .map_err(ctx("write timeout"))?;
        }
        Ok(LinkPair {
            client: Box::new(Stream(c)),
            server: Box::new(Stream(s)),
        })
    }
}

impl TransportProbe for UnixProbe {
    fn description(&self) -> String {
        "Unix stream socket".to_owned()
    }
    fn connect(&mut self, o: &LinkOptions) -> io::Result<LinkPair> {
        let (c, s) = UnixStream::pair().map_err(ctx("socketpair"))?;
        for x in [&c, &s] {
            x.set_read_timeout(Some(o.timeout))
                .map_err(ctx("read timeout"))?;
            x.set_write_timeout(Some(o.timeout))
                .map_err(ctx("write timeout"))?;
        }
        Ok(LinkPair {
            client: Box::new(Stream(c)),
            server: Box::new(Stream(s)),
        })
    }
}

impl TransportProbe for UdpProbe {
    fn description(&self) -> String {
        "kernel UDP over loopback".to_owned()
    }
    fn connect(&mut self, o: &LinkOptions) -> io::Result<LinkPair> {
        let c = UdpSocket::bind("127.0.0.1:0").map_err(ctx("bind"))?;
        let s = UdpSocket::bind("127.0.0.1:0").map_err(ctx("bind"))?;
        c.connect(s.local_addr().map_err(ctx("local address"))?)
            .map_err(ctx("connect"))?;
        s.connect(c.local_addr().map_err(ctx("local address"))?)
            .map_err(ctx("connect"))?;
        for x in [&c, &s] {
            x.set_read_timeout(Some(o.timeout))
                .map_err(ctx("read timeout"))?;
            x.set_write_timeout(Some(o.timeout))
                .map_err(ctx("write timeout"))?;
        }
        Ok(LinkPair {
            client: Box::new(Datagram(c)),
            server: Box::new(Datagram(s)),
        })
    }
    fn max_message(&self) -> usize {
        UDP_MAX
    }
    fn pipeline_bytes(&self) -> Option<u64> {
        Some(UDP_PIPELINE_BYTES)
    }
}

impl TransportProbe for ShmProbe {
    fn description(&self) -> String {
        "shared-memory ring between two threads (kernel-bypass stand-in)".to_owned()
    }
    fn connect(&mut self, o: &LinkOptions) -> io::Result<LinkPair> {
        let spins = if o.same_core {
            0
        } else {
            shm::SPINS_BEFORE_YIELD
        };
        let (c, s) = shm::pair(o.max_message, spins, o.timeout);
        Ok(LinkPair {
            client: Box::new(c),
            server: Box::new(s),
        })
    }
    /// A poller needs its own core: cross core when there are two.
    fn headline(&self, cpus: usize) -> CoreRegime {
        if cpus >= 2 {
            CoreRegime::CrossCore
        } else {
            CoreRegime::SameCore
        }
    }
}
