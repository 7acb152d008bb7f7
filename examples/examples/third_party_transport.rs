//! A third-party transport, written outside the built-in crates: a pair of anonymous pipes
//! (`pipe(2)`, one per direction). It passes the costmodel transport conformance kit, is
//! calibrated by the `calibrate` harness through its probe like the built-in drivers (ping-pong
//! and pipelined size sweeps, the server's CPU read from the server thread's own clock), and is
//! priced by the model, which refuses it for a placement across nodes because pipes never
//! leave the host.
//!
//! ```text
//! cargo run -p examples --example third_party_transport -- [--quick]
//! ```

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use calibrate::harness::StopRule;
use calibrate::stats::Rng;
use calibrate::transport::{self, SweepPlan, TransportKind};
use costmodel::conformance::check_transport;
use costmodel::{
    Check, CoreRegime, LinkOptions, LinkPair, Model, NodeId, Placement, ProfiledTransport,
    Registry, SchemeId, Transport, TransportCosts, TransportId, TransportLink, TransportProbe,
};

/// The pipe transport.
#[derive(Clone, Copy, Debug, Default)]
pub struct PipeTransport;

/// The one instance the harness measures (it takes `'static` transports).
pub static PIPE: PipeTransport = PipeTransport;

/// One end: it reads from one pipe and writes to the other.
struct PipeEnd {
    rx: PipeReader,
    tx: PipeWriter,
}

impl TransportLink for PipeEnd {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tx.write_all(buf)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.rx.read_exact(buf)
    }
    fn streams(&self) -> bool {
        true
    }
    fn recv_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.rx.read(buf)? {
            0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed")),
            n => Ok(n),
        }
    }
}

struct PipeProbe;

impl TransportProbe for PipeProbe {
    fn description(&self) -> String {
        "anonymous pipe pair (third-party example)".to_owned()
    }
    fn connect(&mut self, _options: &LinkOptions) -> io::Result<LinkPair> {
        // Pipes have no read timeout: a peer that dies closes its ends, which the other side
        // reads as end of file.
        let (req_rx, req_tx) = io::pipe()?;
        let (resp_rx, resp_tx) = io::pipe()?;
        Ok(LinkPair {
            client: Box::new(PipeEnd {
                rx: resp_rx,
                tx: req_tx,
            }),
            server: Box::new(PipeEnd {
                rx: req_rx,
                tx: resp_tx,
            }),
        })
    }
}

impl Transport for PipeTransport {
    fn id(&self) -> TransportId {
        TransportId::new("pipe").expect("a valid id")
    }
    /// Until calibrated, the Unix stream socket's literature entry stands in: a pipe pays the
    /// same pair of system calls and copies.
    fn defaults(&self) -> TransportCosts {
        let host = calibrate::profile::reference().expect("the built-in reference profile loads");
        let mut d = host
            .transports
            .get(&TransportId::new("unix").expect("a valid id"))
            .cloned()
            .expect("the reference profile has unix");
        d.description = "anonymous pipe pair (defaults: the unix socket's)".to_owned();
        d
    }
    fn crosses_network(&self) -> bool {
        false
    }
    fn probe(&self) -> Option<Box<dyn TransportProbe>> {
        Some(Box::new(PipeProbe))
    }
}

/// What one run found.
#[derive(Debug)]
pub struct Outcome {
    /// The calibrated costs.
    pub costs: TransportCosts,
    /// Server CPU per round trip at the smallest size, ping-pong and pipelined, ns.
    pub server_ns: (f64, f64),
    /// Why the model refused the pipe for a remote placement on another node.
    pub refusal: String,
}

fn plan(quick: bool, window: u32) -> SweepPlan {
    SweepPlan {
        sizes: if quick {
            vec![64, 4096]
        } else {
            vec![64, 1024, 4096, 16384]
        },
        window,
        rule: StopRule {
            min_samples: if quick { 3 } else { 10 },
            max_samples: if quick { 6 } else { 60 },
            target_rel_half_width: 0.05,
            budget: Duration::from_millis(if quick { 300 } else { 3_000 }),
            confidence: 0.95,
            resamples: if quick { 50 } else { 500 },
        },
        warmup: Duration::from_millis(if quick { 5 } else { 100 }),
        sample_time: Duration::from_micros(if quick { 500 } else { 5_000 }),
        fit_resamples: if quick { 50 } else { 500 },
    }
}

/// Runs the kit, calibrates the pipe with the harness and prices it.
///
/// # Errors
/// One line naming what failed.
pub fn run(quick: bool) -> Result<Outcome, String> {
    check_transport(&PIPE).map_err(|e| e.to_string())?;
    let kind = TransportKind::new(&PIPE, "pipe").map_err(|e| e.to_string())?;
    let cpus = calibrate::cpu::allowed_cpus();
    let mut rng = Rng::new(11);
    let regime = CoreRegime::SameCore;
    let unloaded = transport::sweep(kind, regime, &cpus, &plan(quick, 1), &mut rng, |_| {})
        .map_err(|e| e.to_string())?;
    let saturated = transport::sweep(kind, regime, &cpus, &plan(quick, 4), &mut rng, |_| {})
        .map_err(|e| e.to_string())?;
    let costs = calibrate::profile::transport(
        &PIPE.defaults(),
        &kind.description(),
        regime,
        Some(&unloaded),
        Some(&saturated),
        None,
    );
    costs
        .check(&mut Check::new("calibrated pipe"))
        .map_err(|e| e.to_string())?;
    let first = |s: &transport::SweepResult| {
        s.points
            .first()
            .map_or(f64::NAN, |p| p.measurement.summary.median)
    };
    let server_ns = (first(&unloaded), first(&saturated));

    // Priced by the model beside the built-in transports; refused across nodes.
    let host = calibrate::profile::reference().map_err(|e| e.to_string())?;
    let mut registry = Registry::from_profile(&host);
    registry
        .register_transport(ProfiledTransport::new(PIPE.id(), costs.clone()).same_host())
        .map_err(|e| e.to_string())?;
    let model = Model::new(host, &registry).map_err(|e| e.to_string())?;
    let native = SchemeId::new("native").map_err(|e| e.to_string())?;
    let inside = Placement::inside(native, PIPE.id());
    model.price(&inside).map_err(|e| e.to_string())?;
    let across = Placement::remote(native, PIPE.id()).on(NodeId(1));
    let refusal = match model.check_reach(&across, NodeId(0)) {
        Ok(()) => return Err("the model priced a pipe across nodes".to_owned()),
        Err(e) => e.to_string(),
    };
    Ok(Outcome {
        costs,
        server_ns,
        refusal,
    })
}

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick");
    match run(quick) {
        Ok(o) => {
            println!("pipe passes the costmodel transport conformance kit");
            println!(
                "pipe server CPU per round trip at 64 B: {:.0} ns ping-pong, {:.0} ns pipelined x4",
                o.server_ns.0, o.server_ns.1
            );
            let s = &o.costs.unloaded.server;
            println!(
                "pipe calibrated: server {:.0} ns + {:.3} ns/B per round trip; round trip {:.0} ns",
                s.per_request.value(),
                s.per_byte.value(),
                o.costs.unloaded.round_trip.value()
            );
            println!("across nodes: {}", o.refusal);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("third_party_transport: {e}");
            ExitCode::FAILURE
        }
    }
}
