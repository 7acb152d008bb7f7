//! Conformance kit for transports (feature `conformance`).
//!
//! Any transport's tests call [`check_transport`] (or [`assert_transport_conformant`]). It
//! checks that the id and capabilities are deterministic; that the defaults are finite,
//! non-negative, well-formed estimates, each with a citation or method; and, when the
//! transport has a probe, that the probe describes itself and that a link pair it opens carries
//! messages intact: bytes echoed by a server thread come back unchanged at several sizes up to
//! the probe's maximum, one at a time and with four requests in flight.

use std::time::Duration;

use crate::profile::TransportCosts;
use crate::transport::{LinkOptions, Transport, TransportLink, TransportProbe, checked_defaults};

/// What the transport conformance kit found wrong.
#[derive(Debug, thiserror::Error)]
#[error("transport {transport} fails conformance: {problem}")]
pub struct TransportConformanceFailure {
    /// The transport id.
    pub transport: String,
    /// What is wrong.
    pub problem: String,
}

/// Largest message the kit sends.
const KIT_MAX: usize = 64 * 1024;
/// Requests the pipelined check keeps in flight.
const WINDOW: usize = 4;

/// Checks a transport; see the module docs for what is checked.
///
/// # Errors
/// The first [`TransportConformanceFailure`] found.
pub fn check_transport<T: Transport + Send + Sync + ?Sized>(
    transport: &T,
) -> Result<(), TransportConformanceFailure> {
    let id = transport.id();
    let name = id.as_str().to_owned();
    let fail = |problem: String| TransportConformanceFailure {
        transport: name.clone(),
        problem,
    };
    if transport.id() != id {
        return Err(fail("id() is not deterministic".to_owned()));
    }
    let d = checked_defaults(transport).map_err(|e| fail(e.to_string()))?;
    if d != transport.defaults() {
        return Err(fail("defaults() is not deterministic".to_owned()));
    }
    cited(&d).map_err(fail)?;
    if transport.crosses_network() != transport.crosses_network()
        || transport.fetch_uses_server_cpu() != transport.fetch_uses_server_cpu()
    {
        return Err(fail("capabilities are not deterministic".to_owned()));
    }
    if transport.probe().is_some() != transport.probe().is_some() {
        return Err(fail(
            "probe() is sometimes present, sometimes not".to_owned(),
        ));
    }
    if let Some(mut probe) = transport.probe() {
        check_transport_probe(&mut *probe).map_err(fail)?;
    }
    Ok(())
}

/// Panics with the failure when [`check_transport`] fails. For tests.
///
/// # Panics
/// When the transport does not conform.
pub fn assert_transport_conformant<T: Transport + Send + Sync + ?Sized>(transport: &T) {
    if let Err(e) = check_transport(transport) {
        panic!("{e}");
    }
}

fn cited(d: &TransportCosts) -> Result<(), String> {
    let links = [("unloaded", &d.unloaded), ("saturated", &d.saturated)]
        .into_iter()
        .chain(d.other_cores.iter().map(|l| ("other_cores", l)));
    for (link, l) in links {
        for (side, s) in [("client", &l.client), ("server", &l.server)] {
            for (field, detail) in [
                ("per_request", s.per_request.source.detail()),
                ("per_byte", s.per_byte.source.detail()),
            ] {
                if detail.trim().is_empty() {
                    return Err(format!("{link}.{side}.{field} has no citation or method"));
                }
            }
        }
        if l.round_trip.source.detail().trim().is_empty() {
            return Err(format!("{link}.round_trip has no citation or method"));
        }
    }
    Ok(())
}

/// A message of `len` bytes whose content depends on `seed`, so a swapped, truncated or stale
/// message is caught.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            u8::try_from(i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7)) % 251).unwrap_or(0)
        })
        .collect()
}

/// Opens a link pair from `probe` and checks that it carries messages intact both ways, one at
/// a time at several sizes and [`WINDOW`] in flight. A server thread echoes every message.
///
/// # Errors
/// What went wrong, as one line.
pub fn check_transport_probe(probe: &mut dyn TransportProbe) -> Result<(), String> {
    if probe.description().trim().is_empty() {
        return Err("probe description is empty".to_owned());
    }
    let max = probe.max_message();
    if max == 0 {
        return Err("probe max_message is 0".to_owned());
    }
    let max = max.min(KIT_MAX);
    let mut sizes: Vec<usize> = [1, 64, 1500, 4096, max]
        .into_iter()
        .filter(|&s| s <= max)
        .collect();
    sizes.dedup();
    let small = sizes[0].max(64.min(max));
    let options = LinkOptions {
        same_core: false,
        timeout: Duration::from_secs(5),
        max_message: max,
    };
    let pair = probe
        .connect(&options)
        .map_err(|e| format!("connect: {e}"))?;
    let (mut client, server) = (pair.client, pair.server);
    // The server echoes each size once, then WINDOW messages of `small` bytes.
    let plan: Vec<usize> = sizes
        .iter()
        .copied()
        .chain(std::iter::repeat_n(small, WINDOW))
        .collect();
    let server_plan = plan.clone();
    std::thread::scope(|scope| {
        let echo = scope.spawn(move || echo(server, &server_plan));
        let run = (|| {
            for (seed, &n) in sizes.iter().enumerate() {
                let out = pattern(n, seed);
                client
                    .send(&out)
                    .map_err(|e| format!("client send {n} B: {e}"))?;
                expect(&mut *client, &out, n)?;
            }
            let outs: Vec<Vec<u8>> = (0..WINDOW).map(|i| pattern(small, 100 + i)).collect();
            for out in &outs {
                client
                    .send(out)
                    .map_err(|e| format!("client send (pipelined): {e}"))?;
            }
            for out in &outs {
                expect(&mut *client, out, small)?;
            }
            Ok::<(), String>(())
        })();
        // Closing the client ends a server still waiting after a client-side failure.
        drop(client);
        let served = echo
            .join()
            .map_err(|_| "the echo server thread panicked".to_owned())?;
        run.and(served)
    })
}

fn expect(client: &mut dyn TransportLink, want: &[u8], n: usize) -> Result<(), String> {
    let mut got = vec![0u8; n];
    client
        .wait()
        .and_then(|()| client.recv(&mut got))
        .map_err(|e| format!("client recv {n} B: {e}"))?;
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "a {n} B message came back changed (first difference at byte {at})"
        ));
    }
    Ok(())
}

fn echo(mut link: Box<dyn TransportLink>, plan: &[usize]) -> Result<(), String> {
    for &n in plan {
        let mut buf = vec![0u8; n];
        link.wait()
            .and_then(|()| link.recv(&mut buf))
            .map_err(|e| format!("server recv {n} B: {e}"))?;
        link.send(&buf)
            .map_err(|e| format!("server send {n} B: {e}"))?;
    }
    Ok(())
}
