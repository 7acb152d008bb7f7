//! Ours: the placement that maximises the predicted throughput of two saturated resources,
//! the storage server's core and the client's core, from the cost model's per-invocation CPU
//! of each function on each side, over live `profiler` profiles, re-learned when a CUSUM
//! change detector sees the mix change.
//!
//! # The decision
//!
//! For function `i` with arrival share `p_i`, the model (priced through the solver's
//! [`Candidates`] on the calibrated host profile) gives four per-invocation CPU figures: server
//! and client CPU when it runs inside, and when it runs at the client. With `x_i` the fraction
//! of `i` run inside, the server's CPU per invocation of the mix is
//! `L_s = sum p_i (S_out_i + x_i (S_in_i - S_out_i))` and the client's `L_c` likewise; each side
//! is one core, so the loop completes at most `1e9 / max(L_s, L_c)` invocations per second.
//! [`split`] minimises `max(L_s, L_c)` exactly: a function cheaper inside on both sides runs
//! inside, one cheaper at the client on both runs there; the others trade one side's CPU for
//! the other's, and starting from the client's own optimum, while the server is the busier
//! side, it moves them in order of client CPU spent per server CPU saved, splitting the last
//! one so the two loads meet. At most one function is split. No threshold, no step size: the
//! only inputs are the model's costs and the observed shares.
//!
//! # The profile
//!
//! The model charges access, dispatch and isolation itself, so the profile must hold the
//! function's *native* compute, not the CPU of the run that was observed (using the server's
//! CPU for an inside run double-counted them, biasing toward the client). The client measures
//! native compute directly: its own thread CPU for the function when it runs it. So only
//! client runs feed the profiles, and in every control tick the first invocation of each
//! function runs at the client (one sample per function per tick, 50 a second at the 20 ms
//! tick; a function the split keeps inside gives up under 2% of its invocations to it). An
//! earlier version derived an inside run's native compute from the server-side accounting
//! less the model's inside overhead; on the loaded VM that estimate moved by 2x between
//! segments of the same mix (the per-tick regression cannot separate functions whose counts
//! move together), so it was dropped.
//!
//! # Phase changes
//!
//! The profiler's moments are cumulative, so a change of mix or of records per invocation
//! must restart them. Per function, two `profiler::RateDetector`s (the workspace's CUSUM,
//! through [`costmodel::ChangeDetector`]) watch its completions and its records read per
//! window of [`Ours::WINDOW`] completions of the whole mix (counting by completions, not time,
//! keeps the counts independent of the throughput that this policy's own decisions change).
//! When one raises a change the profiles, shares and detectors restart, and the next decision
//! comes after one window of the new segment.

use costmodel::{
    Bytes, ChangeDetector, FunctionId, MinTotalCpu, Model, Nanos, NodeId, Placement, SchemeId,
    Side, TransportId,
};
use profiler::{CusumParams, InvocationRecord, Profiler, ProfilerConfig, RateDetector};
use solver::{Candidates, ClusterState, Job, RankBuffers};

use super::policy::{Completion, Policy, Tick, Where, credit_pick};

/// Keys per multi-get: more than any invocation reads, so a fetch is one request.
const ONE_MULTIGET: std::num::NonZeroU32 = std::num::NonZeroU32::new(1 << 20).unwrap();

/// Per-invocation CPU of one function, ns, as the model predicts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Costs {
    /// Server CPU when it runs inside.
    pub server_inside: f64,
    /// Client CPU when it runs inside (sending the call, reading the result).
    pub client_inside: f64,
    /// Server CPU when it runs at the client (serving its reads).
    pub server_client: f64,
    /// Client CPU when it runs at the client (fetching and computing).
    pub client_client: f64,
}

/// The fraction of each function to run inside that minimises `max(L_s, L_c)` (module docs),
/// and that minimum, ns per invocation of the mix. `shares` need not sum to 1 (they are
/// normalised); functions with share 0 run inside when that is no worse on both sides.
pub fn split(shares: &[f64], costs: &[Costs]) -> (Vec<f64>, f64) {
    let total: f64 = shares.iter().filter(|s| s.is_finite() && **s > 0.0).sum();
    let p: Vec<f64> = shares
        .iter()
        .map(|s| {
            if total > 0.0 && *s > 0.0 {
                s / total
            } else {
                0.0
            }
        })
        .collect();
    let ds: Vec<f64> = costs
        .iter()
        .map(|c| c.server_inside - c.server_client)
        .collect();
    let dc: Vec<f64> = costs
        .iter()
        .map(|c| c.client_inside - c.client_client)
        .collect();
    // The client's own optimum: inside wherever that costs the client less (ties: the server).
    let mut x: Vec<f64> = (0..costs.len())
        .map(|i| f64::from(u8::from(dc[i] < 0.0 || (dc[i] == 0.0 && ds[i] < 0.0))))
        .collect();
    let loads = |x: &[f64]| {
        (0..costs.len()).fold((0.0, 0.0), |(s, c), i| {
            (
                s + p[i] * (costs[i].server_client + x[i] * ds[i]),
                c + p[i] * (costs[i].client_client + x[i] * dc[i]),
            )
        })
    };
    let (mut ls, mut lc) = loads(&x);
    // Moves that take server CPU off at a client cost: a function inside that costs the server
    // more inside goes out, one outside that costs the server less inside comes in. Cheapest
    // client CPU per server CPU saved first.
    let mut moves: Vec<(f64, usize)> = (0..costs.len())
        .filter(|&i| p[i] > 0.0 && ((x[i] == 1.0 && ds[i] > 0.0) || (x[i] == 0.0 && ds[i] < 0.0)))
        .map(|i| (dc[i].abs() / ds[i].abs(), i))
        .collect();
    moves.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (_, i) in moves {
        if ls <= lc {
            break;
        }
        // Moving all of function i changes the server by -|ds| p and the client by +|dc| p.
        let server = ds[i].abs() * p[i];
        let client = dc[i].abs() * p[i];
        let gap = ls - lc;
        let f = (gap / (server + client)).min(1.0);
        x[i] = if x[i] == 1.0 { 1.0 - f } else { f };
        ls -= f * server;
        lc += f * client;
    }
    (x, ls.max(lc))
}

/// Ours: [`split`] over the model's costs of live profiles (module docs).
pub struct Ours {
    ids: Vec<FunctionId>,
    candidates: Candidates,
    buf: RankBuffers,
    drained: f64,
    cfg: ProfilerConfig,
    profiler: Profiler,
    costs: Vec<Option<Costs>>,
    counts: Vec<f64>,
    since_change: u64,
    window: Window,
    inside: Vec<f64>,
    credit: Vec<f64>,
    sampled: Vec<bool>,
    changes: u64,
    predicted: f64,
    loads: (f64, f64),
}

/// Completions and records per function in the open detection window, and the detectors.
struct Window {
    n: u64,
    counts: Vec<f64>,
    records: Vec<f64>,
    arrivals: Vec<RateDetector>,
    reads: Vec<RateDetector>,
}

impl Window {
    fn new(n: usize) -> Self {
        Window {
            n: 0,
            counts: vec![0.0; n],
            records: vec![0.0; n],
            arrivals: vec![RateDetector::new(CusumParams::default()); n],
            reads: vec![RateDetector::new(CusumParams::default()); n],
        }
    }
}

impl std::fmt::Debug for Ours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ours(inside {:?}, {} changes)",
            self.inside, self.changes
        )
    }
}

impl Ours {
    /// Completions per detection window: the rarest function of a four-function mix in which
    /// one has four times the others' weight still averages about 37 per window, above the 20
    /// per window at which the detector's delay is documented (a doubling found in 4-5 windows).
    pub const WINDOW: u64 = 256;
    /// A policy for `names` on `model`: inside under `scheme`, at the client under `native`,
    /// both over `tcp`, priced at `drained` requests per server wake-up (the loop's window, as
    /// the sweep's prediction does).
    ///
    /// # Errors
    /// An unknown scheme or transport in the host profile, or a bad function name.
    pub fn new(model: &Model, scheme: &str, names: &[&str], drained: f64) -> Result<Self, String> {
        let err = |e: &dyn std::fmt::Display| format!("closed loop, ours: {e}");
        let tcp = TransportId::new("tcp").map_err(|e| err(&e))?;
        let s = SchemeId::new(scheme).map_err(|e| err(&e))?;
        let native = SchemeId::new("native").map_err(|e| err(&e))?;
        let inside = Placement::inside(s, tcp);
        // The loop fetches all of an invocation's records with one MULTIGET.
        let remote = Placement::remote(native, tcp)
            .with_multiget(ONE_MULTIGET)
            .on(NodeId(1));
        let candidates = Candidates::prepare(model, &[inside, remote]).map_err(|e| err(&e))?;
        let buf = RankBuffers::for_candidates(&candidates);
        let cfg = ProfilerConfig {
            window_ns: 100_000_000,
            ..ProfilerConfig::default()
        };
        let profiler = Profiler::new(cfg).map_err(|e| err(&e))?;
        let ids = names
            .iter()
            .map(|n| FunctionId::new(n).map_err(|e| err(&e)))
            .collect::<Result<Vec<_>, _>>()?;
        let n = ids.len();
        Ok(Ours {
            ids,
            candidates,
            buf,
            drained,
            cfg,
            profiler,
            costs: vec![None; n],
            counts: vec![0.0; n],
            since_change: 0,
            window: Window::new(n),
            inside: vec![1.0; n],
            credit: vec![0.0; n],
            sampled: vec![false; n],
            changes: 0,
            predicted: 0.0,
            loads: (0.0, 0.0),
        })
    }

    /// Changes the detectors raised so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The fraction of each function placed inside now.
    pub fn fractions(&self) -> &[f64] {
        &self.inside
    }

    /// Predicted invocations per second of the current split (0 before the first decision).
    pub fn predicted_throughput(&self) -> f64 {
        if self.predicted > 0.0 {
            1e9 / self.predicted
        } else {
            0.0
        }
    }

    fn restart(&mut self) {
        let n = self.ids.len();
        self.changes += 1;
        self.profiler = Profiler::new(self.cfg).unwrap_or_else(|_| unreachable!());
        self.counts = vec![0.0; n];
        self.since_change = 0;
        self.window = Window::new(n);
    }

    /// The model's four CPU figures for function `i`'s profile.
    fn price(&mut self, i: usize) -> Option<Costs> {
        let p = self.profiler.function(self.ids[i])?;
        let job = Job::from_profile(&p.workload_profile(&self.cfg)).ok()?;
        let free = [f64::from(u16::MAX); 2];
        let state = ClusterState::new(&free, NodeId(0))
            .and_then(|s| s.with_drained(self.drained))
            .ok()?;
        let ranking = self
            .candidates
            .rank(&job, &state, &MinTotalCpu, &mut self.buf)
            .ok()?;
        let (mut inside, mut client) = (None, None);
        for r in ranking.iter() {
            let cost = r.cost()?;
            match r.placement.regime.side() {
                Side::Storage => inside = Some(cost),
                Side::Compute => client = Some(cost),
            }
        }
        let (inside, client) = (inside?, client?);
        Some(Costs {
            server_inside: inside.storage_cpu.get(),
            client_inside: inside.compute_cpu.get(),
            server_client: client.storage_cpu.get(),
            client_client: client.compute_cpu.get(),
        })
    }
}

impl Policy for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn place(&mut self, f: usize) -> Where {
        if !self.sampled[f] {
            // This tick's native-compute sample of f.
            self.sampled[f] = true;
            return Where::Client;
        }
        if credit_pick(&mut self.credit[f], self.inside[f]) {
            Where::Inside
        } else {
            Where::Client
        }
    }
    fn completed(&mut self, c: &Completion, t: &Tick) {
        let f = c.function;
        let records = f64::from(c.records);
        // Change detection over windows of the mix's completions.
        let w = &mut self.window;
        w.counts[f] += 1.0;
        w.records[f] += records;
        w.n += 1;
        if w.n >= Self::WINDOW {
            let mut changed = false;
            for i in 0..w.counts.len() {
                changed |= w.arrivals[i].observe_window(w.counts[i]);
                changed |= w.reads[i].observe_window(w.records[i]);
            }
            w.n = 0;
            w.counts.iter_mut().for_each(|v| *v = 0.0);
            w.records.iter_mut().for_each(|v| *v = 0.0);
            if changed {
                self.restart();
            }
        }
        self.counts[f] += 1.0;
        self.since_change += 1;
        if c.at == Where::Inside {
            return;
        }
        let mut r = InvocationRecord::new(self.ids[f], c.start_ns, Nanos::new(c.latency_ns as f64));
        r.records_read = u64::from(c.records);
        r.bytes_read = Bytes::new(records * c.record_bytes as f64);
        r.input_bytes = Bytes::new(17.0);
        r.output_bytes = Bytes::new(16.0);
        r.side = Side::Compute;
        r.compute_cpu = Nanos::new(c.client_ns as f64);
        r.storage_cpu = Nanos::new(t.client_server_ns.get(f).copied().unwrap_or(0.0));
        let _ = self.profiler.ingest(&r);
    }
    fn decision(&self) -> Option<Vec<f64>> {
        Some(self.inside.clone())
    }
    fn describe(&self) -> String {
        let us = |v: f64| v / 1e3;
        let costs: Vec<String> = self
            .costs
            .iter()
            .map(|c| {
                c.map_or("-".into(), |c| {
                    format!(
                        "in {:.1}/{:.1} out {:.1}/{:.1}",
                        us(c.server_inside),
                        us(c.client_inside),
                        us(c.server_client),
                        us(c.client_client)
                    )
                })
            })
            .collect();
        format!(
            "inside {:?}, predicted {:.1}/{:.1} us server/client per invocation, {} changes; \
             model us server/client per function: {}",
            self.inside
                .iter()
                .map(|x| (x * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            us(self.loads.0),
            us(self.loads.1),
            self.changes,
            costs.join("; ")
        )
    }
    fn tick(&mut self, t: &Tick) {
        self.sampled.iter_mut().for_each(|s| *s = false);
        self.profiler
            .advance_to(super::runner::whole(t.at_s * 1e9).max(1));
        if self.since_change < Self::WINDOW {
            return;
        }
        for i in 0..self.ids.len() {
            if let Some(c) = self.price(i) {
                self.costs[i] = Some(c);
            }
        }
        let known: Vec<usize> = (0..self.ids.len())
            .filter(|&i| self.costs[i].is_some())
            .collect();
        if known.is_empty() {
            return;
        }
        let shares: Vec<f64> = known.iter().map(|&i| self.counts[i]).collect();
        let costs: Vec<Costs> = known.iter().filter_map(|&i| self.costs[i]).collect();
        let (x, worst) = split(&shares, &costs);
        for (k, &i) in known.iter().enumerate() {
            self.inside[i] = x[k];
        }
        self.predicted = worst;
        let total: f64 = shares.iter().sum();
        self.loads = costs
            .iter()
            .zip(&shares)
            .zip(&x)
            .fold((0.0, 0.0), |(s, c), ((k, p), x)| {
                let p = p / total.max(1.0);
                (
                    s + p * (x * k.server_inside + (1.0 - x) * k.server_client),
                    c + p * (x * k.client_inside + (1.0 - x) * k.client_client),
                )
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(si: f64, ci: f64, so: f64, co: f64) -> Costs {
        Costs {
            server_inside: si,
            client_inside: ci,
            server_client: so,
            client_client: co,
        }
    }

    #[test]
    fn dominated_functions_go_to_the_cheaper_side() {
        let (x, _) = split(&[1.0, 1.0], &[c(5.0, 1.0, 6.0, 2.0), c(9.0, 3.0, 6.0, 2.0)]);
        assert_eq!(x, vec![1.0, 0.0]);
    }

    #[test]
    fn a_server_bound_mix_splits_one_function_so_the_loads_meet() {
        // Heavy: 100 us inside on the server, 100 us at the client. Light: 10 us inside,
        // 12 us of server and 20 of client outside. All inside: server 55, client 1.
        let costs = [c(100.0, 1.0, 2.0, 100.0), c(10.0, 1.0, 12.0, 20.0)];
        let (x, worst) = split(&[1.0, 1.0], &costs);
        assert_eq!(x[1], 1.0, "light is cheaper inside on both sides");
        assert!(x[0] > 0.0 && x[0] < 1.0, "{x:?}");
        let ls = 0.5 * (2.0 + x[0] * 98.0) + 0.5 * 10.0;
        let lc = 0.5 * (100.0 - x[0] * 99.0) + 0.5 * 1.0;
        assert!(
            (ls - lc).abs() < 1e-9 && (worst - ls).abs() < 1e-9,
            "{ls} {lc} {worst}"
        );
        // Every other split of the heavy function is worse.
        for k in 0..=20 {
            let y = f64::from(k) / 20.0;
            let s = 0.5 * (2.0 + y * 98.0) + 5.0;
            let l = 0.5 * (100.0 - y * 99.0) + 0.5;
            assert!(s.max(l) >= worst - 1e-9);
        }
    }

    #[test]
    fn the_cheapest_client_cpu_per_server_cpu_saved_moves_first() {
        // Both cost the server 50 more inside; a saves 10 of client inside, b saves 100. All
        // of a goes out first (server 35, client 6), then part of b.
        let costs = [c(60.0, 1.0, 10.0, 11.0), c(60.0, 1.0, 10.0, 101.0)];
        let (x, _) = split(&[1.0, 1.0], &costs);
        assert!(x[0] == 0.0 && x[1] > 0.0 && x[1] < 1.0, "{x:?}");
    }

    #[test]
    fn a_client_bound_mix_stays_at_the_clients_optimum() {
        // Inside: server 3, client 10; outside: server 1, client 50. Moving any out only adds
        // to the busier client.
        let (x, worst) = split(&[1.0], &[c(3.0, 10.0, 1.0, 50.0)]);
        assert_eq!(x, vec![1.0]);
        assert_eq!(worst, 10.0);
    }
}
