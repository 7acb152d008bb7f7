//! Property tests of the solver over random valid inputs (and some invalid ones).

use std::path::PathBuf;
use std::sync::OnceLock;

use std::num::NonZeroU32;

use costmodel::{
    Bytes, Conditions, HostProfile, Invocation, Model, Nanos, NanosPerByte, NodeId, PerSecond,
    Placement, Regime, SchemeId, Side, TransportId, WeightedPrice,
};
use proptest::prelude::*;
use solver::chain::{MatrixChain, MatrixDag, dag_total, exhaustive_linear};
use solver::{
    AdvisorConfig, Candidates, ClusterState, FunctionTrack, Job, Pushback, RankBuffers,
    RegimeAdvisor, RegimeOptions, Resources, provision, solve_dag, solve_linear,
};

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hosts/reference.ron");
        Model::from_profile(HostProfile::load(path).expect("reference host")).expect("model")
    })
}

/// Every candidate the generators draw from: schemes x transports x regimes x batch {1, 4} x
/// nodes 0..4 (node 0 holds the data).
fn universe() -> &'static [Placement] {
    static ALL: OnceLock<Vec<Placement>> = OnceLock::new();
    ALL.get_or_init(|| {
        let m = model();
        let mut out = Vec::new();
        for s in m.scheme_ids() {
            for t in m.transport_ids() {
                for r in [Regime::DedicatedCore, Regime::Multiplexed, Regime::Remote] {
                    for b in [NonZeroU32::MIN, NonZeroU32::new(4).expect("4")] {
                        for n in 0..4u32 {
                            out.push(
                                Placement::inside(s, t)
                                    .with_regime(r)
                                    .with_batch(b)
                                    .on(NodeId(n)),
                            );
                        }
                    }
                }
            }
        }
        out
    })
}

fn candidates() -> impl Strategy<Value = Vec<Placement>> {
    proptest::sample::subsequence(universe().to_vec(), 1..48)
}

fn job() -> impl Strategy<Value = Job> {
    (
        0.0..64.0f64,
        1.0..4096.0f64,
        16.0..4096.0f64,
        0.0..1e6f64,
        1.0..1e6f64,
        any::<bool>(),
        proptest::option::of(1e4..1e7f64),
    )
        .prop_map(|(k, s, msg, c, rate, dep, slo)| {
            let inv = Invocation::new(
                k,
                Bytes::new(s),
                Bytes::new(msg),
                Nanos::new(c),
                PerSecond::new(rate),
            )
            .expect("valid invocation")
            .with_dependent_reads(dep);
            Job::new(inv, slo.map(Nanos::new)).expect("valid job")
        })
}

#[derive(Clone, Debug)]
struct State {
    free: Vec<f64>,
    rho: f64,
    drained: f64,
    h: f64,
}

fn state() -> impl Strategy<Value = State> {
    (
        proptest::collection::vec(0.0..16.0f64, 4),
        0.0..0.95f64,
        1.0..64.0f64,
        0.0..=1.0f64,
    )
        .prop_map(|(free, rho, drained, h)| State {
            free,
            rho,
            drained,
            h,
        })
}

impl State {
    fn view(&self) -> ClusterState<'_> {
        ClusterState::new(&self.free, NodeId(0))
            .and_then(|s| s.with_utilisation(self.rho))
            .and_then(|s| s.with_drained(self.drained))
            .and_then(|s| s.with_warm_hit(self.h))
            .expect("valid state")
    }
}

fn ranked(
    placements: &[Placement],
    job: &Job,
    state: &ClusterState<'_>,
    objective: &dyn costmodel::Objective,
) -> Vec<(Placement, bool, f64)> {
    let c = Candidates::prepare(model(), placements).expect("prepare");
    let mut buf = RankBuffers::for_candidates(&c);
    let r = c.rank(job, state, objective, &mut buf).expect("rank");
    r.iter()
        .map(|e| (*e.placement, e.is_feasible(), e.score))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The ranking is a permutation of the candidates: the feasible ones first, in
    /// non-decreasing score order with equal scores in id order, then every infeasible one with
    /// its reason.
    #[test]
    fn ranking_is_a_permutation_of_the_feasible_candidates(
        placements in candidates(), job in job(), st in state()
    ) {
        let view = st.view();
        let out = ranked(&placements, &job, &view, &WeightedPrice::default());
        let mut got: Vec<Placement> = out.iter().map(|e| e.0).collect();
        let mut want = placements.clone();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
        let feasible = out.iter().take_while(|e| e.1).count();
        prop_assert!(out[feasible..].iter().all(|e| !e.1), "infeasible ones come last");
        for w in out[..feasible].windows(2) {
            let (a, b) = (&w[0], &w[1]);
            prop_assert!(a.2 <= b.2 * (1.0 + 1e-12) + 1e-12, "{} before {}", a.2, b.2);
            if a.2.to_bits() == b.2.to_bits() {
                prop_assert!(a.0 < b.0, "ties broken by id");
            }
        }
        for w in out[feasible..].windows(2) {
            prop_assert!(w[0].0 < w[1].0, "infeasible ones in id order");
        }
    }

    /// The ranking does not depend on the order the candidates were given in.
    #[test]
    fn ranking_does_not_depend_on_input_order(
        placements in candidates().prop_shuffle(), job in job(), st in state(), seed in any::<u64>()
    ) {
        let mut shuffled = placements.clone();
        // A second, different order: rotate and reverse by the seed.
        let len = shuffled.len();
        shuffled.rotate_left(usize::try_from(seed % len as u64).unwrap_or(0));
        if seed % 2 == 0 {
            shuffled.reverse();
        }
        let view = st.view();
        let a = ranked(&placements, &job, &view, &Pushback::default());
        let b = ranked(&shuffled, &job, &view, &Pushback::default());
        prop_assert_eq!(a, b);
    }

    /// Raising storage utilisation never moves an invocation from compute back to storage under
    /// the pushback price. The one exception is a hard constraint: when the compute placement
    /// that won at the lower utilisation has become infeasible (its queueing latency now breaks
    /// the SLO), the invocation may go where it still meets the SLO.
    #[test]
    fn raising_storage_utilisation_never_moves_an_invocation_from_compute_back_to_storage(
        placements in candidates(), job in job(), st in state(),
        rho_a in 0.0..0.99f64, rho_b in 0.0..0.99f64,
        p0 in 0.25..4.0f64, pc in 0.25..4.0f64, byte in 0.0..0.01f64, lat in 0.0..1.0f64,
    ) {
        let (lo, hi) = if rho_a <= rho_b { (rho_a, rho_b) } else { (rho_b, rho_a) };
        let price = Pushback {
            storage: p0, compute: pc, network_byte: NanosPerByte::new(byte), latency: lat,
        };
        let view = st.view();
        let at_lo = ranked(&placements, &job, &view.with_utilisation(lo).expect("rho"), &price);
        let at_hi = ranked(&placements, &job, &view.with_utilisation(hi).expect("rho"), &price);
        let best_lo = at_lo.first().filter(|e| e.1).map(|e| e.0);
        let best_hi = at_hi.first().filter(|e| e.1).map(|e| e.0);
        if let (Some(before), Some(after)) = (best_lo, best_hi)
            && before.regime.side() == Side::Compute
            && after.regime.side() == Side::Storage
        {
            let still = at_hi.iter().find(|e| e.0 == before).map(|e| e.1);
            prop_assert!(job.slo().is_some() && still == Some(false),
                "moved from {before} to {after} as rho rose {lo} -> {hi}");
        }
    }

    /// Buffers reused across candidate sets, jobs and states (what a scheduler does) rank
    /// exactly as fresh buffers do: nothing kept from one call leaks into the next.
    #[test]
    fn reused_buffers_rank_as_fresh_ones(
        a in candidates(), b in candidates(), j1 in job(), j2 in job(), s1 in state(),
        s2 in state(), rho in 0.0..0.95f64,
    ) {
        let detail = |c: &Candidates, job: &Job, st: &ClusterState<'_>, buf: &mut RankBuffers| {
            let r = c.rank(job, st, &Pushback::default(), buf).expect("rank");
            r.iter()
                .map(|e| format!("{} {:?} {:?} {:?}", e.placement, e.score, e.infeasible, e.cost()))
                .collect::<Vec<_>>()
        };
        let ca = Candidates::prepare(model(), &a).expect("prepare");
        let cb = Candidates::prepare(model(), &b).expect("prepare");
        let mut shared = RankBuffers::with_capacity(a.len().max(b.len()));
        let (v1, v2) = (s1.view(), s2.view());
        let v1_rho = v1.with_utilisation(rho).expect("rho");
        let v1_h = v1_rho.with_warm_hit(s2.h).expect("h");
        let v1_drained = v1_h.with_drained(s2.drained).expect("drained");
        let steps: [(&Candidates, &Job, &ClusterState<'_>); 10] = [
            (&ca, &j1, &v1),
            (&ca, &j1, &v1_rho),
            (&cb, &j1, &v1_rho),
            (&ca, &j1, &v1_rho),
            (&ca, &j1, &v1_h),
            (&ca, &j1, &v1_drained),
            (&ca, &j2, &v1_rho),
            (&ca, &j2, &v2),
            (&cb, &j2, &v2),
            (&ca, &j1, &v1),
        ];
        for (c, job, st) in steps {
            let reused = detail(c, job, st, &mut shared);
            let fresh = detail(c, job, st, &mut RankBuffers::for_candidates(c));
            prop_assert_eq!(reused, fresh);
        }
    }

    /// No input, however malformed (NaN, infinite, negative), gets past the constructors: each
    /// returns an error naming it (never a panic), and what they accept ranks without error.
    #[test]
    fn malformed_numbers_return_errors_not_panics(
        placements in candidates(),
        nums in proptest::collection::vec(
            prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), Just(0.0), -1e9..1e9f64], 10),
    ) {
        let bad = |x: f64| !(x.is_finite() && x >= 0.0);
        let inv = Invocation::new(
            nums[0], Bytes::new(nums[1]), Bytes::new(nums[2]), Nanos::new(nums[3]),
            PerSecond::new(nums[4]),
        );
        prop_assert!(inv.is_err() || !nums[..5].iter().any(|x| bad(*x)));
        let job = inv.map_err(solver::SolverError::from).and_then(|i| Job::new(i, Some(Nanos::new(nums[5]))));
        prop_assert!(job.is_err() || nums[5] > 0.0);
        let free = [nums[6], 1.0, 1.0, 1.0];
        let state = ClusterState::new(&free, NodeId(0))
            .and_then(|s| s.with_utilisation(nums[7]))
            .and_then(|s| s.with_drained(nums[8]))
            .and_then(|s| s.with_warm_hit(nums[9]));
        prop_assert!(state.is_err() || !bad(nums[6]) && (0.0..1.0).contains(&nums[7]));
        let c = Candidates::prepare(model(), &placements).expect("prepare");
        let mut buf = RankBuffers::for_candidates(&c);
        if let (Ok(job), Ok(state)) = (job, state) {
            c.rank(&job, &state, &WeightedPrice::default(), &mut buf).expect("checked inputs rank");
        }
    }

    /// The linear-chain DP finds the same total as trying every combination, on chains of up to
    /// five functions (negative edge costs included: fusion credits).
    #[test]
    fn chain_dp_equals_brute_force_up_to_five_functions(
        stage in proptest::collection::vec(proptest::collection::vec(0.0..100.0f64, 1..5), 1..=5),
        seed in any::<u64>(),
    ) {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let edge = (1..stage.len())
            .map(|s| {
                (0..stage[s - 1].len())
                    .map(|_| (0..stage[s].len()).map(|_| next() * 60.0 - 10.0).collect())
                    .collect()
            })
            .collect();
        let chain = MatrixChain { stage, edge };
        let dp = solve_linear(&chain).expect("dp");
        let brute = exhaustive_linear(&chain).expect("brute force");
        prop_assert!((dp.total - brute.total).abs() <= 1e-9 * brute.total.abs().max(1.0),
            "dp {} brute {}", dp.total, brute.total);
        prop_assert!((solver::chain::chain_total(&chain, &dp.choice) - dp.total).abs() < 1e-9);
    }

    /// The DAG heuristic returns a consistent plan that is never better than the optimum found
    /// by brute force (which would mean it mis-totals), on small random DAGs.
    #[test]
    fn dag_heuristic_is_consistent_and_bounded_by_the_optimum(
        nodes in 2usize..6, options in 1usize..4, seed in any::<u64>(),
    ) {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let node: Vec<Vec<f64>> = (0..nodes).map(|_| (0..options).map(|_| next() * 100.0).collect()).collect();
        let mut edges = Vec::new();
        for b in 1..nodes {
            for a in 0..b {
                if next() < 0.5 {
                    edges.push((a, b));
                }
            }
        }
        let edge = edges.iter().map(|_| (0..options).map(|_| (0..options).map(|_| next() * 50.0).collect()).collect()).collect();
        let dag = MatrixDag { node, edges, edge };
        let plan = solve_dag(&dag).expect("dag");
        prop_assert!((dag_total(&dag, &plan.choice) - plan.total).abs() < 1e-9);
        let mut best = f64::INFINITY;
        let combos = options.pow(u32::try_from(nodes).unwrap_or(0));
        for mut k in 0..combos {
            let choice: Vec<usize> = (0..nodes).map(|_| { let o = k % options; k /= options; o }).collect();
            best = best.min(dag_total(&dag, &choice));
        }
        prop_assert!(plan.total >= best - 1e-9);
        if plan.exact {
            prop_assert!((plan.total - best).abs() < 1e-9, "exact plans are optimal");
        }
    }

    /// Provisioning never exceeds any machine's capacity in any dimension, places every
    /// function at most once, and reports the rest as unplaced.
    #[test]
    fn provisioning_never_exceeds_any_machine_capacity(
        machines in proptest::collection::vec((0u64..1000, 0u64..1000, 0u64..1000), 1..20),
        demands in proptest::collection::vec((0u64..600, 0u64..600, 0u64..600), 0..80),
    ) {
        let m: Vec<Resources> = machines.iter().map(|&(a, b, c)| Resources::new(a, b, c)).collect();
        let d: Vec<Resources> = demands.iter().map(|&(a, b, c)| Resources::new(a, b, c)).collect();
        let p = provision(&m, &d).expect("provision");
        let mut load = vec![[0u64; 3]; m.len()];
        for (f, a) in p.assignment.iter().enumerate() {
            if let Some(mi) = a {
                for (l, v) in load[*mi as usize].iter_mut().zip(d[f].as_array()) {
                    *l += v;
                }
            }
        }
        for (i, l) in load.iter().enumerate() {
            prop_assert!(Resources::new(l[0], l[1], l[2]).fits_in(&m[i]), "machine {i} overfull");
            prop_assert_eq!(Resources::new(l[0], l[1], l[2]), p.used[i]);
        }
        let placed = p.assignment.iter().filter(|a| a.is_some()).count();
        prop_assert_eq!(placed + p.unplaced.len(), d.len());
        if p.unplaced.is_empty() {
            prop_assert!(p.lower_bound <= p.machines_used);
        }
    }

    /// On instances small enough to solve exactly by enumeration, the lower bound never exceeds
    /// the optimum and the heuristic never beats it.
    #[test]
    fn provisioning_bound_and_heuristic_bracket_the_exact_optimum(
        machines in 1usize..4,
        demands in proptest::collection::vec((0u64..600, 0u64..600, 0u64..600), 1..7),
    ) {
        let m = vec![Resources::new(1000, 1000, 1000); machines];
        let d: Vec<Resources> = demands.iter().map(|&(a, b, c)| Resources::new(a, b, c)).collect();
        let p = provision(&m, &d).expect("provision");
        let combos = machines.pow(u32::try_from(d.len()).unwrap_or(0));
        let mut opt = usize::MAX;
        for mut k in 0..combos {
            let mut load = vec![Resources::default(); machines];
            let mut ok = true;
            for r in &d {
                let mi = k % machines;
                k /= machines;
                let l = &mut load[mi];
                *l = Resources::new(l.cpu_millicores + r.cpu_millicores, l.memory_bytes + r.memory_bytes, l.nic_milliqueues + r.nic_milliqueues);
                ok &= l.fits_in(&m[mi]);
            }
            if ok {
                opt = opt.min(load.iter().filter(|l| **l != Resources::default()).count().max(1));
            }
        }
        if opt != usize::MAX && p.unplaced.is_empty() {
            prop_assert!(p.lower_bound <= opt, "bound {} > optimum {}", p.lower_bound, opt);
            prop_assert!(p.machines_used >= opt, "heuristic {} beat the optimum {}", p.machines_used, opt);
            prop_assert!(p.machines_used >= p.lower_bound);
        }
    }

    /// A stationary arrival process never makes the regime advisor flap: it never returns to a
    /// regime it has left.
    #[test]
    fn stationary_arrivals_never_make_the_advisor_flap(
        log_mean in -1.0..3.7f64, seed in any::<u64>(),
        records in 0.0..32.0f64, compute in 0.0..50_000.0f64,
        start in 0usize..3, transition_scale in 0.0..4.0f64,
    ) {
        let mean = 10f64.powf(log_mean);
        let m = model();
        let s = SchemeId::new("wasm").expect("id");
        let t = TransportId::new("tcp").expect("id");
        let price = |r: Regime| m.price(&Placement::inside(s, t).with_regime(r)).ok();
        let options = RegimeOptions {
            dedicated: price(Regime::DedicatedCore),
            multiplexed: price(Regime::Multiplexed),
            remote: price(Regime::Remote),
            invocation: Invocation::new(
                records, Bytes::new(128.0), Bytes::new(256.0), Nanos::new(compute), PerSecond::ZERO,
            ).expect("invocation"),
            conditions: Conditions::default(),
        };
        let config = AdvisorConfig {
            window: Nanos::new(1e6),
            transition: [2e6 * transition_scale, 1e6 * transition_scale, 1e5 * transition_scale],
            ..AdvisorConfig::default()
        };
        let advisor = RegimeAdvisor::new(config, costmodel::MinTotalCpu).expect("advisor");
        let regimes = [Regime::DedicatedCore, Regime::Multiplexed, Regime::Remote];
        let mut track = FunctionTrack::new(
            regimes[start],
            profiler::RateDetector::new(profiler::CusumParams::default()),
        );
        let mut left: Vec<Regime> = Vec::new();
        let mut x = seed | 1;
        let mut unit = move || {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        for _ in 0..400 {
            // Poisson count: by inversion for small means, normal approximation above.
            let count = if mean < 30.0 {
                let (mut k, mut p, target) = (0.0, (-mean).exp(), unit());
                let mut acc = p;
                while acc < target && k < 10_000.0 {
                    k += 1.0;
                    p *= mean / k;
                    acc += p;
                }
                k
            } else {
                let z = (-2.0 * unit().ln()).sqrt() * (std::f64::consts::TAU * unit()).cos();
                (mean + z * mean.sqrt()).round().max(0.0)
            };
            let advice = advisor.observe(&mut track, &options, count).expect("observe");
            if let Some((from, to)) = advice.switched {
                prop_assert!(!left.contains(&to), "returned to {to:?} after leaving it (mean {mean})");
                left.push(from);
            }
        }
    }
}
