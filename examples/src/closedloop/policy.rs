//! Who decides where each invocation runs: the [`Policy`] trait and the five policies.

pub use super::baselines::{Asfp, Kayak};
pub use super::ours::Ours;

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
    /// Ticks in which the accounting saw inside invocations of each function (how many
    /// observations stand behind `inside_server_ns`).
    pub inside_ticks: Vec<u32>,
    /// Requests sent to the server and not yet answered when the tick's STATS was sent: the
    /// server's queue plus what is in flight.
    pub outstanding: usize,
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
    /// The most invocations this policy keeps outstanding at saturation (`None`: the loop's
    /// window). Kayak's rate controller sets it.
    fn window(&self) -> Option<usize> {
        None
    }
    /// What the policy has decided, for the progress log (empty: nothing to say).
    fn describe(&self) -> String {
        String::new()
    }
    /// The decision it acts on now, as fractions run inside (per function, or one for the
    /// whole mix), read after every control tick to time how long a policy takes to settle
    /// after a phase change. `None`: a fixed policy, nothing to settle.
    fn decision(&self) -> Option<Vec<f64>> {
        None
    }
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
pub(super) fn credit_pick(credit: &mut f64, frac: f64) -> bool {
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
