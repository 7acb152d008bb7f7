//! Open transports: validated defaults, same-host reach, and the transport conformance kit.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use costmodel::{
    CostError, HostProfile, LinkOptions, LinkPair, Model, Nanos, NanosPerByte, NodeId, Placement,
    ProfiledTransport, Registry, SchemeId, Transport, TransportCosts, TransportId, TransportLink,
    TransportProbe,
};

fn reference() -> HostProfile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/hosts/reference.ron"
    );
    HostProfile::load(path).unwrap()
}

fn costs(per_request: f64) -> TransportCosts {
    TransportCosts::literature(
        Nanos::new(per_request),
        NanosPerByte::new(0.1),
        Nanos::new(10_000.0),
        Nanos::new(1_000.0),
        "test literature",
    )
}

/// A Unix socketpair transport; `corrupt` flips the first byte of every message it sends.
struct Pair {
    id: &'static str,
    per_request: f64,
    corrupt: bool,
}

struct End(UnixStream, bool);

impl TransportLink for End {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.1 {
            let mut b = buf.to_vec();
            b[0] ^= 1;
            return self.0.write_all(&b);
        }
        self.0.write_all(buf)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }
}

struct PairProbe(bool);

impl TransportProbe for PairProbe {
    fn description(&self) -> String {
        "socketpair (test)".to_owned()
    }
    fn connect(&mut self, o: &LinkOptions) -> io::Result<LinkPair> {
        let (c, s) = UnixStream::pair()?;
        c.set_read_timeout(Some(o.timeout))?;
        s.set_read_timeout(Some(o.timeout))?;
        Ok(LinkPair {
            client: Box::new(End(c, false)),
            server: Box::new(End(s, self.0)),
        })
    }
}

impl Transport for Pair {
    fn id(&self) -> TransportId {
        TransportId::new(self.id).unwrap()
    }
    fn defaults(&self) -> TransportCosts {
        costs(self.per_request)
    }
    fn crosses_network(&self) -> bool {
        false
    }
    fn probe(&self) -> Option<Box<dyn TransportProbe>> {
        Some(Box::new(PairProbe(self.corrupt)))
    }
}

fn pair(id: &'static str, per_request: f64) -> Pair {
    Pair {
        id,
        per_request,
        corrupt: false,
    }
}

#[test]
fn a_negative_or_nan_default_is_refused_naming_transport_and_field() {
    for (bad, shown) in [
        (-5000.0, "-5000"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
    ] {
        let mut r = Registry::new();
        let e = r
            .register_transport(pair("cheat", bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("defaults of transport cheat"), "{e}");
        assert!(e.contains("per_request"), "{e}");
        assert!(e.contains(shown), "{e}");
    }
    // A good one registers and prices from its defaults.
    let mut r = Registry::from_profile(&reference());
    r.register_transport(pair("pair", 900.0)).unwrap();
    let m = Model::new(reference(), &r).unwrap();
    assert!(m.transport(TransportId::new("pair").unwrap()).is_ok());
}

#[test]
fn a_same_host_transport_is_refused_across_nodes_with_a_reason() {
    let m = Model::from_profile(reference()).unwrap();
    let native = SchemeId::new("native").unwrap();
    let t = |id: &str| TransportId::new(id).unwrap();
    let storage = NodeId(0);
    for id in ["shm", "unix"] {
        let p = Placement::remote(native, t(id)).on(NodeId(1));
        let e = m.check_reach(&p, storage).unwrap_err();
        assert!(matches!(e, CostError::BadPlacement { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("same-host") && msg.contains(id), "{msg}");
        // On the storage node itself, and inside, it is fine.
        m.check_reach(&Placement::remote(native, t(id)).on(storage), storage)
            .unwrap();
        m.check_reach(&Placement::inside(native, t(id)), storage)
            .unwrap();
    }
    for id in ["tcp", "udp"] {
        let p = Placement::remote(native, t(id)).on(NodeId(1));
        m.check_reach(&p, storage).unwrap();
    }
}

#[test]
fn profiled_transports_know_the_builtin_same_host_ids() {
    let t = |id: &str| ProfiledTransport::new(TransportId::new(id).unwrap(), costs(1.0));
    assert!(!t("shm").crosses_network());
    assert!(!t("unix").crosses_network());
    assert!(t("tcp").crosses_network());
    assert!(!t("rdma").same_host().crosses_network());
    assert!(t("tcp").fetch_uses_server_cpu());
}

#[cfg(feature = "conformance")]
mod kit {
    use super::*;
    use costmodel::conformance::{check_transport, check_transport_probe};

    #[test]
    fn a_socketpair_transport_conforms() {
        check_transport(&pair("pair", 900.0)).unwrap();
        // A profile-only transport has no probe and conforms on its defaults.
        let p = ProfiledTransport::new(TransportId::new("tcp").unwrap(), costs(7_000.0));
        check_transport(&p).unwrap();
    }

    #[test]
    fn a_corrupting_probe_and_a_bad_default_fail() {
        let bad = Pair {
            id: "flip",
            per_request: 900.0,
            corrupt: true,
        };
        let e = check_transport(&bad).unwrap_err().to_string();
        assert!(
            e.contains("transport flip") && e.contains("came back changed"),
            "{e}"
        );
        let e = check_transport(&pair("neg", -5000.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("per_request"), "{e}");
        let e = check_transport_probe(&mut PairProbe(true)).unwrap_err();
        assert!(e.contains("1 B"), "{e}");
    }
}
