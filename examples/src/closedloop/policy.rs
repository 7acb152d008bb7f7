//! Who decides where each invocation runs: the [`Policy`] trait and the five policies.

use costmodel::{FunctionId, Model, NodeId, Placement, SchemeId, Side, TransportId};
use profiler::{InvocationRecord, Profiler, ProfilerConfig};
use solver::{Candidates, ClusterState, Job, Pushback, RankBuffers};

/// Where one invocation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// INVOKE: inside the storage server under the configured scheme.
    Inside,
    /// MULTIGET the records, run the function at the client.
    Client,
}

/// What the loop tells a policy once per control tick (one STATS answer).
#[derive(Clone, Debug, Default)]
pub struct Tick {
    /// Seconds since the run started.
    pub at_s: f64,
    /// Server thread CPU over wall time since the previous tick (schedstat of its thread).
    pub utilisation: f64,
    /// Invocations completed per second since the previous tick.
    pub throughput: f64,
    /// Server-side accounting: estimated server CPU (ns) per inside invocation, per function.
    pub inside_server_ns: Vec<f64>,
    /// Estimated server CPU (ns) to serve one client-run invocation's reads, per function.
    pub client_server_ns: Vec<f64>,
}

/// A finished invocation, as the client saw it.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// Function index.
    pub function: usize,
    /// Where it ran.
    pub at: Where,
    /// Start, ns since the run began.
    pub start_ns: u64,
    /// Wall time from send to result, ns.
    pub latency_ns: u64,
    /// Client CPU spent computing it (0 inside), ns.
    pub client_ns: u64,
    /// Records read.
    pub records: u32,
    /// Bytes per record.
    pub record_bytes: usize,
}

/// A placement policy: asked once per invocation, told about ticks and completions.
pub trait Policy {
    /// Name in the report.
    fn name(&self) -> &'static str;
    /// Where invocation of function `f` (index into the mix) runs.
    fn place(&mut self, f: usize) -> Where;
    /// A control tick.
    fn tick(&mut self, _t: &Tick) {}
    /// An invocation finished.
    fn completed(&mut self, _c: &Completion, _t: &Tick) {}
}

/// Everything inside the server.
#[derive(Debug, Default)]
pub struct AllInside;
impl Policy for AllInside {
    fn name(&self) -> &'static str {
        "all-inside"
    }
    fn place(&mut self, _f: usize) -> Where {
        Where::Inside
    }
}

/// Everything at the client.
#[derive(Debug, Default)]
pub struct AllClient;
impl Policy for AllClient {
    fn name(&self) -> &'static str {
        "all-client"
    }
    fn place(&mut self, _f: usize) -> Where {
        Where::Client
    }
}

/// A fixed split: function `f` runs inside with probability `inside[f]` (deterministic credit,
/// not random). The oracle sweeps these.
#[derive(Debug, Clone)]
pub struct Static {
    /// Fraction run inside per function.
    pub inside: Vec<f64>,
    credit: Vec<f64>,
}
impl Static {
    /// A split with `inside[f]` of function `f` run inside.
    pub fn new(inside: Vec<f64>) -> Self {
        let credit = vec![0.0; inside.len()];
        Static { inside, credit }
    }
}
/// Spreads a fraction evenly: true on `frac` of the calls.
fn credit_pick(credit: &mut f64, frac: f64) -> bool {
    *credit += frac;
    if *credit >= 1.0 - 1e-9 {
        *credit -= 1.0;
        true
    } else {
        false
    }
}
impl Policy for Static {
    fn name(&self) -> &'static str {
        "static"
    }
    fn place(&mut self, f: usize) -> Where {
        if credit_pick(&mut self.credit[f], self.inside[f]) {
            Where::Inside
        } else {
            Where::Client
        }
    }
}

/// ASFP-style server-side pushback (Bhardwaj, Kulkarni, Stutsman, ATC'20).
///
/// - The server keeps a cost model per function from observing its execution (the paper's
///   "server-internal cost model", §3): here the server-side accounting of CPU per inside
///   invocation ([`Tick::inside_server_ns`]), which is what the server's own thread can see.
/// - Everything runs at storage by default; when the server is overloaded it pushes back
///   invocations of the most CPU-expensive functions to their clients, which fetch the data and
///   run them (§3, "pushback"); when the load falls it takes them back.
/// - Overload is the server's own CPU: utilisation at or above [`Asfp::OVERLOADED`]; it takes
///   work back below [`Asfp::UNDERLOADED`]. Both fixed before any run, not tuned.
///
/// It sees no client CPU and no network cost: a real ASFP server does not either. Only the
/// paper's abstract and summary were available to this implementation (search tool); section
/// numbers above follow that summary.
#[derive(Debug)]
pub struct Asfp {
    /// Pushed-back fraction per function, in steps of [`Asfp::STEP`].
    pushed: Vec<f64>,
    credit: Vec<f64>,
}
impl Asfp {
    /// Server utilisation at which it is overloaded.
    pub const OVERLOADED: f64 = 0.95;
    /// Utilisation below which it takes work back.
    pub const UNDERLOADED: f64 = 0.80;
    /// Fraction of one function moved per tick.
    pub const STEP: f64 = 0.25;
    /// A fresh policy for `n` functions, all at storage.
    pub fn new(n: usize) -> Self {
        Asfp {
            pushed: vec![0.0; n],
            credit: vec![0.0; n],
        }
    }
}
impl Policy for Asfp {
    fn name(&self) -> &'static str {
        "asfp"
    }
    fn place(&mut self, f: usize) -> Where {
        if credit_pick(&mut self.credit[f], self.pushed[f]) {
            Where::Client
        } else {
            Where::Inside
        }
    }
    fn tick(&mut self, t: &Tick) {
        let cost = |i: usize| t.inside_server_ns.get(i).copied().unwrap_or(0.0);
        if t.utilisation >= Self::OVERLOADED {
            // Push back more of the most expensive function not fully pushed back.
            let pick = (0..self.pushed.len())
                .filter(|&i| self.pushed[i] < 1.0)
                .max_by(|&a, &b| cost(a).total_cmp(&cost(b)));
            if let Some(i) = pick {
                self.pushed[i] = (self.pushed[i] + Self::STEP).min(1.0);
            }
        } else if t.utilisation < Self::UNDERLOADED {
            // Take back the cheapest pushed-back function first.
            let pick = (0..self.pushed.len())
                .filter(|&i| self.pushed[i] > 0.0)
                .min_by(|&a, &b| cost(a).total_cmp(&cost(b)));
            if let Some(i) = pick {
                self.pushed[i] = (self.pushed[i] - Self::STEP).max(0.0);
            }
        }
    }
}

/// Kayak-style client ratio controller (You, Wu, Jin, Chowdhury, NSDI'21).
///
/// The client sends a fraction `r` of requests as RPC (inside) and the rest as KV (fetch and
/// compute at the client), one ratio for the application (§4: the ratio controller), and moves
/// `r` along the measured throughput gradient: each control epoch it probes `r + d` then `r - d`
/// and steps `r += eta * (T+ - T-) / (2 d) / T` (a two-point stochastic-approximation gradient
/// step, the scheme the paper's convergence argument is built on). It sees only its own
/// throughput: no server CPU, no per-function cost. Its rate controller (AIMD on the latency
/// SLO) is replaced by the loop's fixed window at saturation and the fixed pace at 70%.
#[derive(Debug)]
pub struct Kayak {
    ratio: f64,
    probe_up: bool,
    ticks: u32,
    sum: f64,
    up: Option<f64>,
    credit: f64,
}
impl Kayak {
    /// Probe offset `d`.
    pub const DELTA: f64 = 0.1;
    /// Step size `eta`.
    pub const ETA: f64 = 0.2;
    /// Ticks per probe epoch.
    pub const EPOCH_TICKS: u32 = 5;
    /// Starts at an even split.
    pub fn new() -> Self {
        Kayak {
            ratio: 0.5,
            probe_up: true,
            ticks: 0,
            sum: 0.0,
            up: None,
            credit: 0.0,
        }
    }
    fn current(&self) -> f64 {
        let d = if self.probe_up {
            Self::DELTA
        } else {
            -Self::DELTA
        };
        (self.ratio + d).clamp(0.0, 1.0)
    }
}
impl Default for Kayak {
    fn default() -> Self {
        Kayak::new()
    }
}
impl Policy for Kayak {
    fn name(&self) -> &'static str {
        "kayak"
    }
    fn place(&mut self, _f: usize) -> Where {
        let r = self.current();
        if credit_pick(&mut self.credit, r) {
            Where::Inside
        } else {
            Where::Client
        }
    }
    fn tick(&mut self, t: &Tick) {
        self.sum += t.throughput;
        self.ticks += 1;
        if self.ticks < Self::EPOCH_TICKS {
            return;
        }
        let mean = self.sum / f64::from(self.ticks);
        self.ticks = 0;
        self.sum = 0.0;
        if self.probe_up {
            self.up = Some(mean);
            self.probe_up = false;
        } else if let Some(up) = self.up.take() {
            let avg = (up + mean) / 2.0;
            if avg > 0.0 {
                let grad = (up - mean) / (2.0 * Self::DELTA) / avg;
                self.ratio = (self.ratio + Self::ETA * grad).clamp(0.0, 1.0);
            }
            self.probe_up = true;
        }
    }
}

/// Ours: the solver's ranking under the [`Pushback`] objective, over live profiles the
/// [`Profiler`] builds from the invocations as they complete, on the calibrated host profile.
/// Re-decided every [`Ours::EVERY_TICKS`] ticks at the measured server utilisation.
pub struct Ours {
    ids: Vec<FunctionId>,
    profiler: Profiler,
    cfg: ProfilerConfig,
    candidates: Candidates,
    buf: RankBuffers,
    placement: Vec<Where>,
    ticks: u32,
}
impl std::fmt::Debug for Ours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ours({:?})", self.placement)
    }
}
impl Ours {
    /// Ticks between decisions.
    pub const EVERY_TICKS: u32 = 5;
    /// A policy for `names` on `model`, inside under `scheme`, remote under native.
    ///
    /// # Errors
    /// An unknown scheme or transport in the host profile, or a bad function name.
    pub fn new(model: &Model, scheme: &str, names: &[&str]) -> Result<Self, String> {
        let tcp = TransportId::new("tcp").map_err(|e| e.to_string())?;
        let s = SchemeId::new(scheme).map_err(|e| e.to_string())?;
        let native = SchemeId::new("native").map_err(|e| e.to_string())?;
        let placements = [
            Placement::inside(s, tcp),
            Placement::remote(native, tcp).on(NodeId(1)),
        ];
        let candidates = Candidates::prepare(model, &placements).map_err(|e| e.to_string())?;
        let buf = RankBuffers::for_candidates(&candidates);
        let cfg = ProfilerConfig {
            window_ns: 100_000_000,
            ..ProfilerConfig::default()
        };
        let profiler = Profiler::new(cfg).map_err(|e| e.to_string())?;
        let ids = names
            .iter()
            .map(|n| FunctionId::new(n).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ours {
            placement: vec![Where::Inside; ids.len()],
            ids,
            profiler,
            cfg,
            candidates,
            buf,
            ticks: 0,
        })
    }
}
impl Policy for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn place(&mut self, f: usize) -> Where {
        self.placement[f]
    }
    fn completed(&mut self, c: &Completion, t: &Tick) {
        let mut r = InvocationRecord::new(
            self.ids[c.function],
            c.start_ns,
            costmodel::Nanos::new(c.latency_ns as f64),
        );
        r.records_read = u64::from(c.records);
        r.bytes_read = costmodel::Bytes::new(f64::from(c.records) * c.record_bytes as f64);
        r.output_bytes = costmodel::Bytes::new(16.0);
        r.input_bytes = costmodel::Bytes::new(17.0);
        // CPU on the executing tier, as a tracing system records it: the server-side
        // accounting for an inside run, the client's own thread CPU for a client run.
        match c.at {
            Where::Inside => {
                r.side = Side::Storage;
                r.storage_cpu = costmodel::Nanos::new(
                    t.inside_server_ns
                        .get(c.function)
                        .copied()
                        .unwrap_or(0.0)
                        .max(0.0),
                );
            }
            Where::Client => {
                r.side = Side::Compute;
                r.compute_cpu = costmodel::Nanos::new(c.client_ns as f64);
                r.storage_cpu = costmodel::Nanos::new(
                    t.client_server_ns
                        .get(c.function)
                        .copied()
                        .unwrap_or(0.0)
                        .max(0.0),
                );
            }
        }
        let _ = self.profiler.ingest(&r);
    }
    fn tick(&mut self, t: &Tick) {
        self.ticks += 1;
        if self.ticks < Self::EVERY_TICKS {
            return;
        }
        self.ticks = 0;
        self.profiler.advance_to(super::runner::whole(t.at_s * 1e9));
        let free = [16.0, 16.0];
        let objective = Pushback::default();
        for (i, id) in self.ids.iter().enumerate() {
            let Some(p) = self.profiler.function(*id) else {
                continue;
            };
            let Ok(job) = Job::from_profile(&p.workload_profile(&self.cfg)) else {
                continue;
            };
            let state =
                ClusterState::new(&free, NodeId(0)).with_utilisation(t.utilisation.clamp(0.0, 1.0));
            if let Ok(ranking) = self
                .candidates
                .rank(&job, &state, &objective, &mut self.buf)
                && let Some(best) = ranking.best()
            {
                self.placement[i] = match best.placement.regime.side() {
                    Side::Storage => Where::Inside,
                    Side::Compute => Where::Client,
                };
            }
        }
    }
}
