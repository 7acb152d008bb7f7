//! The ranking against a naive reference: every candidate evaluated afresh with
//! `Model::evaluate`, judged and scored by the objective, sorted by score then id. Verdicts and
//! scores must agree candidate by candidate, not only the order. 5,000 cases unless
//! `PROPTEST_CASES` says otherwise.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::OnceLock;

use costmodel::{
    Bytes, Compute, ComputeClass, Conditions, CostError, Estimate, Factor, FunctionId, HostProfile,
    MaxStorageThroughput, MinLatency, MinTotalCpu, Model, Nanos, NanosPerByte, NodeId, Objective,
    ObjectiveContext, PerSecond, Placement, Refusal, Regime, SchemeId, ServerRequestTerms, Side,
    WeightedPrice, WorkloadProfile,
};
use proptest::prelude::*;
use solver::{Candidates, ClusterState, Infeasible, Job, Pushback, RankBuffers, WarmContext};

/// The reference host with `vm` marked unsupported, so that verdict is drawn too; with `v2`,
/// also the version-2 terms: a real server's request terms on the first transport, record
/// access with a per-byte part and a slowdown per compute class on every scheme.
fn model(v2: bool) -> &'static Model {
    static V1: OnceLock<Model> = OnceLock::new();
    static V2: OnceLock<Model> = OnceLock::new();
    let build = || {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hosts/reference.ron");
        let mut host = HostProfile::load(path).expect("reference host");
        let vm = SchemeId::new("vm").expect("id");
        host.isolation
            .get_mut(&vm)
            .expect("vm in the reference host")
            .support = costmodel::Support::Unsupported {
            reason: "no /dev/kvm".into(),
        };
        if v2 {
            let ns = |v: f64| Estimate::cited(Nanos::new(v), "test");
            let (_, first) = host.transports.iter_mut().next().expect("a transport");
            first.server_terms = Some(ServerRequestTerms {
                server: "test server".into(),
                processing: ns(1500.0),
                per_syscall: ns(2000.0),
                per_wakeup: ns(3000.0),
                per_peer_wakeup: None,
                per_key: ns(150.0),
                per_byte: Estimate::cited(NanosPerByte::new(0.05), "test"),
                fit_r2: None,
                points: 0,
            });
            for (i, s) in host.isolation.values_mut().enumerate() {
                let i = i as f64;
                s.local_access_per_byte = Some(Estimate::cited(NanosPerByte::new(0.01 * i), "t"));
                let f = |v: f64| Estimate::cited(Factor::new(v), "test");
                s.slowdown_by_class
                    .insert(ComputeClass::Arith, f(1.0 + 0.5 * i));
                s.slowdown_by_class
                    .insert(ComputeClass::Memory, f(1.0 + 0.25 * i));
            }
        }
        Model::from_profile(host).expect("model")
    };
    if v2 {
        V2.get_or_init(build)
    } else {
        V1.get_or_init(build)
    }
}

/// What the reference decides for one candidate: its verdict and its score.
type Judged = (Placement, Option<Infeasible>, f64);

/// The naive ranker.
fn reference(
    m: &Model,
    w: &WorkloadProfile,
    st: &ClusterState<'_>,
    obj: &dyn Objective,
    ps: &[Placement],
) -> Vec<Judged> {
    let rate = w.arrival.rate.get();
    let mut out: Vec<Judged> = ps
        .iter()
        .map(|p| {
            let warm = st
                .warm()
                .iter()
                .find(|c| c.node() == p.node && c.scheme() == p.scheme);
            let h = warm.map_or(st.default_warm_hit(), |c| c.hit());
            let cond = Conditions::new(h, st.storage_utilisation(), st.drained_per_wakeup())
                .expect("conditions");
            let ctx = ObjectiveContext {
                storage_utilisation: st.storage_utilisation(),
                slo: w.slo,
            };
            let storage = p.regime.side() == Side::Storage;
            // A same-host transport cannot fetch from another node (Model::check_reach).
            let reaches = m.check_reach(p, st.data_node()).is_ok();
            let verdict = if storage && p.node != st.data_node() {
                Err(Infeasible::DataElsewhere {
                    node: p.node,
                    data: st.data_node(),
                })
            } else if !reaches {
                Err(Infeasible::SameHostTransport {
                    transport: p.transport,
                    node: p.node,
                    data: st.data_node(),
                })
            } else {
                match m.evaluate(w, p, &cond) {
                    Err(CostError::Refused { refusal, .. }) => {
                        Err(Infeasible::DedicatedRefused(refusal))
                    }
                    Err(e) => panic!("the model refused {p}: {e}"),
                    Ok(_)
                        if !m
                            .scheme(p.scheme)
                            .expect("scheme")
                            .costs
                            .support
                            .is_supported() =>
                    {
                        Err(Infeasible::UnsupportedScheme { scheme: p.scheme })
                    }
                    Ok(c) => match obj.feasible(&c, &ctx) {
                        Err(costmodel::Infeasible::SloViolated { latency, slo }) => {
                            Err(Infeasible::SloViolated { latency, slo })
                        }
                        Ok(()) => {
                            let need = if storage {
                                c.storage_cpu
                            } else {
                                c.compute_cpu
                            }
                            .get()
                                * rate
                                / 1e9;
                            let free = st.free_cores()[p.node.0 as usize];
                            if need <= free * (1.0 + 1e-9) + 1e-12 {
                                Ok(obj.score(&c, &ctx))
                            } else {
                                Err(Infeasible::NodeFull {
                                    node: p.node,
                                    need_cores: need,
                                    free_cores: free,
                                })
                            }
                        }
                    },
                }
            };
            match verdict {
                Ok(s) => (*p, None, s),
                Err(v) => (*p, Some(v), f64::INFINITY),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.1.is_some(), a.2, a.0)
            .partial_cmp(&(b.1.is_some(), b.2, b.0))
            .expect("no NaN")
    });
    out
}

/// Schemes x transports x regimes x batch {1, 4} x nodes 0..4.
fn universe() -> &'static [Placement] {
    static ALL: OnceLock<Vec<Placement>> = OnceLock::new();
    ALL.get_or_init(|| {
        let m = model(false);
        let mut out = Vec::new();
        for s in m.scheme_ids() {
            for t in m.transport_ids() {
                for r in [Regime::DedicatedCore, Regime::Multiplexed, Regime::Remote] {
                    for b in [NonZeroU32::MIN, NonZeroU32::new(4).expect("4")] {
                        for n in 0..4u32 {
                            let p = Placement::inside(s, t).with_regime(r).with_batch(b);
                            out.push(p.on(NodeId(n)));
                        }
                    }
                }
            }
        }
        out
    })
}

fn workload() -> impl Strategy<Value = WorkloadProfile> {
    (
        (0.0..64.0f64, 1.0..4096.0f64, 8.0..2048.0f64, 8.0..2048.0f64),
        (0.0..1e6f64, 1.0..1e6f64, any::<bool>()),
        proptest::option::of(1e4..1e7f64),
        proptest::sample::select(ComputeClass::ALL.to_vec()),
    )
        .prop_map(
            |((k, s, q, r), (c, rate, dep), slo, class)| WorkloadProfile {
                id: FunctionId::new("f").expect("id"),
                description: String::new(),
                records_per_invocation: k,
                record_bytes: Bytes::new(s),
                request_bytes: Bytes::new(q),
                response_bytes: Bytes::new(r),
                compute: Compute::fixed(Nanos::new(c)).with_class(class),
                dependent_reads: dep,
                arrival: costmodel::Arrival::poisson(PerSecond::new(rate)),
                slo: slo.map(Nanos::new),
                chain: Vec::new(),
            },
        )
}

/// The cluster: free cores, data node, utilisation, drain, default warm hit, warm contexts.
#[derive(Clone, Debug)]
struct State {
    free: Vec<f64>,
    data: u32,
    rho: f64,
    drained: f64,
    h: f64,
    warm: Vec<WarmContext>,
}

fn state() -> impl Strategy<Value = State> {
    let schemes: Vec<SchemeId> = model(false).scheme_ids().collect();
    let warm =
        (0..4u32, proptest::sample::select(schemes), 0.0..=1.0f64).prop_map(|(n, scheme, hit)| {
            WarmContext::new(NodeId(n), scheme, hit).expect("warm context")
        });
    (
        proptest::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0..16.0f64], 4),
        (0..4u32, 0.0..0.95f64, 1.0..64.0f64, 0.0..=1.0f64),
        proptest::collection::vec(warm, 0..3),
    )
        .prop_map(|(free, (data, rho, drained, h), warm)| State {
            free,
            data,
            rho,
            drained,
            h,
            warm,
        })
}

impl State {
    fn view(&self) -> ClusterState<'_> {
        ClusterState::new(&self.free, NodeId(self.data))
            .and_then(|s| s.with_utilisation(self.rho))
            .and_then(|s| s.with_drained(self.drained))
            .and_then(|s| s.with_warm_hit(self.h))
            .expect("valid state")
            .with_warm(&self.warm)
    }
}

/// One of the bundled objectives, with random prices where it has them.
#[derive(Clone, Debug)]
enum Obj {
    Weighted(WeightedPrice),
    Pushback(Pushback),
    MinTotalCpu,
    MinLatency,
    MaxStorageThroughput,
}

impl Obj {
    fn get(&self) -> &dyn Objective {
        match self {
            Obj::Weighted(o) => o,
            Obj::Pushback(o) => o,
            Obj::MinTotalCpu => &MinTotalCpu,
            Obj::MinLatency => &MinLatency,
            Obj::MaxStorageThroughput => &MaxStorageThroughput,
        }
    }
}

fn objective() -> impl Strategy<Value = Obj> {
    let price = || (0.25..4.0f64, 0.25..4.0f64, 0.0..0.01f64, 0.0..1.0f64);
    prop_oneof![
        price().prop_map(|(s, c, b, l)| Obj::Weighted(WeightedPrice {
            storage: costmodel::CongestionPrice { base: s },
            compute: c,
            network_byte: NanosPerByte::new(b),
            latency: l,
        })),
        price().prop_map(|(s, c, b, l)| Obj::Pushback(Pushback {
            storage: s,
            compute: c,
            network_byte: NanosPerByte::new(b),
            latency: l,
        })),
        Just(Obj::MinTotalCpu),
        Just(Obj::MinLatency),
        Just(Obj::MaxStorageThroughput),
    ]
}

/// `a` and `b` agree to a relative `tol` (infinities agree with themselves).
fn close(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * a.abs().max(b.abs())
}

/// Two verdicts agree: the same kind, the same nodes and ids, numbers to a relative 1e-12.
fn same_verdict(a: &Option<Infeasible>, b: &Option<Infeasible>) -> bool {
    use Infeasible as I;
    match (a, b) {
        (None, None) => true,
        (
            Some(I::DedicatedRefused(Refusal::CannotKeepUp { utilisation: u })),
            Some(I::DedicatedRefused(Refusal::CannotKeepUp { utilisation: u2 })),
        ) => close(*u, *u2, 1e-12),
        (
            Some(I::NodeFull {
                node,
                need_cores,
                free_cores,
            }),
            Some(I::NodeFull {
                node: n2,
                need_cores: c2,
                free_cores: f2,
            }),
        ) => node == n2 && close(*need_cores, *c2, 1e-12) && free_cores == f2,
        (
            Some(I::SloViolated { latency, slo }),
            Some(I::SloViolated {
                latency: l2,
                slo: s2,
            }),
        ) => close(latency.get(), l2.get(), 1e-12) && slo == s2,
        (a, b) => a == b,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Every candidate's verdict and score equal the reference's; the order is the reference's
    /// but where scores tie to the ranking's documented tolerance.
    #[test]
    fn ranking_equals_the_naive_reference(
        placements in proptest::sample::subsequence(universe().to_vec(), 1..48),
        w in workload(), st in state(), obj in objective(), v2 in any::<bool>(),
    ) {
        let view = st.view();
        let m = model(v2);
        let want = reference(m, &w, &view, obj.get(), &placements);
        let job = Job::from_profile(&w).expect("job");
        let c = Candidates::prepare(m, &placements).expect("prepare");
        let mut buf = RankBuffers::for_candidates(&c);
        let r = c.rank(&job, &view, obj.get(), &mut buf).expect("rank");
        let got: Vec<Judged> = r.iter().map(|e| (*e.placement, e.infeasible, e.score)).collect();
        prop_assert_eq!(got.len(), want.len());
        prop_assert_eq!(r.feasible_len(), want.iter().filter(|e| e.1.is_none()).count());
        for g in &got {
            let wnt = want.iter().find(|x| x.0 == g.0).expect("same candidates");
            prop_assert!(same_verdict(&g.1, &wnt.1), "{}: {:?} vs reference {:?}", g.0, g.1, wnt.1);
            prop_assert!(close(g.2, wnt.2, 1e-12), "{}: score {} vs reference {}", g.0, g.2, wnt.2);
        }
        // Ties: scores equal but for their low log2(n) bits (n < 64 here).
        for (g, wnt) in got.iter().zip(&want) {
            prop_assert!(g.0 == wnt.0 || close(g.2, wnt.2, 2.0 * 2f64.powi(-46)),
                "order: {} ({}) where the reference has {} ({})", g.0, g.2, wnt.0, wnt.2);
        }
    }
}
