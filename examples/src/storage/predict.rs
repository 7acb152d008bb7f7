//! The model's side of the sweep: every measured point priced from a host profile, the decisions
//! (inside or outside) and the crossovers.
//!
//! Two ways to price the server's requests:
//! - [`Prediction::Echo`]: the host's `tcp` transport, calibrated on `calibrate run`'s in-process
//!   echo server (version 1), at `drained = window` requests per wake-up, the lockstep drain at
//!   which calibrate measures the saturated end. Nothing measured at the point is read.
//! - [`Prediction::ServerTerms`]: a transport entry `calibrate server` measured on this storage
//!   server itself (version 2 [`costmodel::ServerRequestTerms`]), under the conditions the server
//!   reported for the point: its requests per read (`requests_per_syscall`: one read and one
//!   write serve that many requests), its requests per sleep (`drained_per_wakeup`) and the load
//!   generator's own sleeps per request (`peer_wakeups_per_request`: replies that found it
//!   asleep). Those are the quantities the calibration's fit regresses on (system-call rounds,
//!   wake-ups and client wake-ups per request, each measured per point), counted by the server
//!   and the load generator here instead of through `/proc`; the server's CPU, the quantity
//!   scored, is never read.

use costmodel::{
    Bytes, Compute, Conditions, Crossover, HostProfile, Invocation, Model, Nanos, PerSecond,
    Placement, SchemeId, TransportId, WorkloadProfile,
};

use super::experiment::{Config, CrossoverRow, ExperimentError, Point, Report, Side, Sweep};
use super::protocol;

/// What prices the server's requests.
#[derive(Clone, Debug)]
pub enum Prediction<'a> {
    /// The host's echo-calibrated `tcp` transport at `window` requests per wake-up.
    Echo(&'a HostProfile),
    /// `transport` of `host`, an entry with the server's own request terms, at each point's
    /// reported requests per read and per wake-up.
    ServerTerms {
        /// The profile holding the schemes and the entry.
        host: &'a HostProfile,
        /// The entry (`kv@storage-server`).
        transport: TransportId,
    },
}

impl Prediction<'_> {
    fn host(&self) -> &HostProfile {
        match self {
            Prediction::Echo(h) | Prediction::ServerTerms { host: h, .. } => h,
        }
    }

    fn transport(&self) -> costmodel::Result<TransportId> {
        match self {
            Prediction::Echo(_) => TransportId::new("tcp"),
            Prediction::ServerTerms { transport, .. } => Ok(*transport),
        }
    }

    /// The conditions a point is priced under.
    fn conditions(&self, config: &Config, p: &Point) -> costmodel::Result<Conditions> {
        match self {
            // The load generator keeps `window` requests outstanding so that the server is
            // saturated: each wake-up finds the window queued. Predicting each point at the
            // requests per sleep its server reported was tried with this (version-1) entry and
            // is worse: a busy server that sleeps once per 50-500 requests still pays about
            // what it pays at 32, so `floor + (a(1) - floor) / d` holds near the lockstep drain
            // it was fitted at and not far beyond it.
            Prediction::Echo(_) => Conditions::new(1.0, 0.0, config.window as f64),
            // Reads that carried part of a frame can make fewer than one request per read.
            Prediction::ServerTerms { .. } => {
                Conditions::new(1.0, 0.0, p.requests_per_wakeup.max(1.0))?
                    .with_requests_per_syscall(p.requests_per_read.max(1.0))?
                    .with_peer_wakeups_per_request(p.client_wakeups_per_request)
            }
        }
    }

    /// One line naming what priced the requests and the records.
    fn describe(&self, config: &Config) -> String {
        let mb = config.table_shape().data_bytes() as f64 / 1e6;
        let records = match &self.host().table_access {
            Some(_) => format!(
                "; local access moved to the store's table ({mb:.1} MB of records) by the \
                 profile's table-size curve"
            ),
            None => format!(
                "; local access as measured on the probe table (the profile has no table-size \
                 curve to move it to the store's {mb:.1} MB)"
            ),
        };
        let requests = match self {
            Prediction::Echo(_) => format!(
                "transport tcp (calibrate run's echo server) at {} requests per wake-up",
                config.window
            ),
            Prediction::ServerTerms { transport, .. } => format!(
                "transport {transport} (calibrate server's terms for this server) at each \
                 point's requests per read, per wake-up and client wake-ups per request"
            ),
        };
        requests + &records
    }
}

/// The profile the sweep predicts from: `host` moved to the store's table
/// ([`HostProfile::at_table`]) when it has a table-size curve, else as it is.
fn at_store_table(host: &HostProfile, config: &Config) -> Result<HostProfile, ExperimentError> {
    if host.table_access.is_none() {
        return Ok(host.clone());
    }
    let bytes = Bytes::new(config.table_shape().data_bytes() as f64);
    Ok(host.at_table(bytes)?)
}

/// The workload the model prices for a point.
fn workload(k: u32, record_bytes: usize, compute_ns: f64, inside: bool) -> WorkloadProfile {
    let k_f = f64::from(k);
    // Wire sizes of this protocol. A GET's response is the record plus a 4-byte length; the
    // model counts the record in `k s` and the rest in `q + r`.
    let (q, r) = if inside {
        (
            protocol::INVOKE_BYTES as f64,
            protocol::INVOKE_RESPONSE_BYTES as f64,
        )
    } else {
        (protocol::GET_BYTES as f64, 4.0)
    };
    WorkloadProfile {
        id: costmodel::FunctionId::new("point").unwrap_or_else(|_| unreachable!()),
        description: String::new(),
        records_per_invocation: k_f,
        record_bytes: Bytes::new(record_bytes as f64),
        request_bytes: Bytes::new(q),
        response_bytes: Bytes::new(r),
        compute: Compute::fixed(Nanos::new(compute_ns)),
        dependent_reads: false,
        arrival: costmodel::Arrival::poisson(PerSecond::new(1e5)),
        slo: None,
        chain: Vec::new(),
    }
}

/// Prices every point of `sweep` as `prediction` says and scores the decisions.
///
/// # Errors
/// The model cannot be built from the profile or cannot price a point (an unknown transport or
/// scheme, bad conditions).
pub fn report(
    sweep: &Sweep,
    config: &Config,
    prediction: &Prediction<'_>,
) -> Result<Report, ExperimentError> {
    let host = prediction.host();
    let model = Model::from_profile(at_store_table(host, config)?)?;
    let t = prediction.transport()?;
    let native = SchemeId::new("native")?;
    let mut points = sweep.points.clone();
    for p in &mut points {
        let compute_ns = f64::from(p.rounds) * sweep.ns_per_round;
        let cond = prediction.conditions(config, p)?;
        let (placement, inside) = match &p.side {
            Side::Outside => (model.price(&Placement::remote(native, t))?, false),
            Side::Inside(s) => (model.price(&Placement::inside(SchemeId::new(s)?, t))?, true),
        };
        let inv = Invocation::from_profile(&workload(
            p.records,
            config.record_bytes,
            compute_ns,
            inside,
        ))?;
        p.predicted_cpu_ns = placement.evaluate(&inv, &cond)?.storage_cpu.get();
    }

    let mut decisions = 0;
    let mut correct = 0;
    let mut crossovers = Vec::new();
    for s in &config.schemes {
        let name = s.id.to_string();
        for &c in &config.compute_us {
            let mut measured_diffs = Vec::new();
            let mut predicted_diffs = Vec::new();
            for &k in &config.records {
                let find = |side: &Side| {
                    points
                        .iter()
                        .find(|p| &p.side == side && p.records == k && p.compute_us == c)
                };
                let (Some(i), Some(o)) = (find(&Side::Inside(name.clone())), find(&Side::Outside))
                else {
                    continue;
                };
                // Only between points measured in a clean block (as the error figure).
                if i.scored() && o.scored() {
                    decisions += 1;
                    if Point::decided_right(i, o) {
                        correct += 1;
                    }
                }
                let k = f64::from(k);
                measured_diffs.push((k, o.server_cpu_ns.median - i.server_cpu_ns.median));
                predicted_diffs.push((k, o.predicted_cpu_ns - i.predicted_cpu_ns));
            }
            let (measured, measured_note) = crossing(&measured_diffs);
            let predicted = match prediction {
                Prediction::Echo(_) => echo_crossover(&model, s.id, t, config, sweep, &points, c)?,
                // The conditions differ per point: read the crossing off the points' own
                // predictions, as the measured one is.
                Prediction::ServerTerms { .. } => crossing(&predicted_diffs).0,
            };
            crossovers.push(CrossoverRow {
                scheme: name.clone(),
                compute_us: c,
                measured,
                measured_note,
                predicted,
            });
        }
    }
    let mut report = Report {
        points,
        crossovers,
        ns_per_round: sweep.ns_per_round,
        pinned: sweep.pinned,
        decisions,
        correct_decisions: correct,
        elapsed: sweep.elapsed,
        host: host.host.name.clone(),
        predicted_from: prediction.describe(config),
        noise: sweep.noise.clone(),
        speed: None,
        cores_reference: Vec::new(),
        cores: None,
        cores_waits: sweep.cores_waits.clone(),
        round_cores: sweep.round_cores.clone(),
    };
    if let Some(n) = &host.noise {
        report.check_speed(n, "the host profile's calibration");
    }
    Ok(report)
}

/// The model's own crossover `k*` for `scheme` at compute `c` under the echo's one condition.
fn echo_crossover(
    model: &Model,
    scheme: SchemeId,
    t: TransportId,
    config: &Config,
    sweep: &Sweep,
    points: &[Point],
    c: f64,
) -> Result<Option<f64>, ExperimentError> {
    let cond = Conditions::new(1.0, 0.0, config.window as f64)?;
    let compute_ns = points
        .iter()
        .find(|p| p.compute_us == c)
        .map_or(0.0, |p| f64::from(p.rounds) * sweep.ns_per_round);
    let inv = Invocation::from_profile(&workload(1, config.record_bytes, compute_ns, true))?;
    Ok(
        match costmodel::crossover(
            &model.price(&Placement::inside(scheme, t))?,
            &model.price(&Placement::remote(SchemeId::new("native")?, t))?,
            &inv,
            &cond,
        )? {
            Crossover::At(k) => Some(k),
            Crossover::Never => None,
        },
    )
}

/// Interpolates where `outside - inside` changes sign from negative to positive, in log2(k).
fn crossing(diffs: &[(f64, f64)]) -> (Option<f64>, &'static str) {
    if diffs.is_empty() {
        return (None, "no data");
    }
    if diffs[0].1 >= 0.0 {
        return (None, "inside wins at every k");
    }
    for w in diffs.windows(2) {
        let ((k0, d0), (k1, d1)) = (w[0], w[1]);
        if d0 < 0.0 && d1 >= 0.0 {
            let (l0, l1) = (k0.log2(), k1.log2());
            let t = -d0 / (d1 - d0);
            return (Some((l0 + t * (l1 - l0)).exp2()), "");
        }
    }
    (None, "outside wins at every k")
}
