//! Integration tests over the bundled fixtures: ranking, pushback, chains and batching on the
//! reference host and the bundled workloads.

use std::path::PathBuf;

use costmodel::{
    Axis, Conditions, HostProfile, Model, NodeId, Placement, Regime, SchemeId, Side, TransportId,
    WeightedPrice, WorkloadSet,
};
use solver::chain::exhaustive_linear;
use solver::{
    Candidates, ChainStage, ClusterState, EdgePrice, Infeasible, Job, ModelChain, Pushback,
    RankBuffers, SolverError, largest_batch, shed_utilisation, solve_linear,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn model() -> Model {
    Model::from_profile(HostProfile::load(fixtures().join("hosts/reference.ron")).unwrap()).unwrap()
}

fn workload(file: &str, id: &str) -> Job {
    let set = WorkloadSet::load(fixtures().join("workloads").join(file)).unwrap();
    Job::from_profile(set.get(id).unwrap()).unwrap()
}

fn id(s: &str) -> SchemeId {
    SchemeId::new(s).unwrap()
}

fn tr(s: &str) -> TransportId {
    TransportId::new(s).unwrap()
}

#[test]
fn every_bundled_workload_ranks_with_an_explained_winner() {
    let model = model();
    let cands = Candidates::prepare(&model, &model.default_candidates()).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let free = [16.0];
    let state = ClusterState::new(&free, NodeId(0)).unwrap();
    for (name, set) in WorkloadSet::load_dir(fixtures().join("workloads")).unwrap() {
        for w in &set.workloads {
            let job = Job::from_profile(w).unwrap();
            let r = cands
                .rank(&job, &state, &WeightedPrice::default(), &mut buf)
                .unwrap();
            assert_eq!(r.len(), cands.len());
            let best = r
                .best()
                .unwrap_or_else(|| panic!("{name}/{}: nothing feasible", w.id));
            let cost = best.cost().expect("the winner is priced");
            assert!(cost.total_cpu().get() > 0.0);
            assert!(
                best.top_terms(Axis::StorageCpu)[0].is_some()
                    || best.placement.regime == Regime::Remote
            );
            let text = r.explain(1).unwrap().to_string();
            assert!(text.starts_with("#2 "), "{text}");
            assert!(text.contains("storage cpu"), "{text}");
        }
    }
}

#[test]
fn infeasible_candidates_are_reported_with_their_reasons() {
    let mut host = HostProfile::load(fixtures().join("hosts/reference.ron")).unwrap();
    host.isolation.get_mut(&id("mpk")).unwrap().support = costmodel::Support::Unsupported {
        reason: "no pku".into(),
    };
    let model = Model::from_profile(host).unwrap();
    let mut job = workload("graph-lookup.ron", "graph-4hop");
    let placements = [
        Placement::inside(id("mpk"), tr("tcp")),
        Placement::inside(id("native"), tr("tcp")).on(NodeId(1)),
        Placement::remote(id("native"), tr("tcp")).on(NodeId(2)),
        Placement::remote(id("native"), tr("tcp")).on(NodeId(1)),
        Placement::inside(id("native"), tr("tcp")).with_regime(Regime::DedicatedCore),
    ];
    let cands = Candidates::prepare(&model, &placements).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let free = [16.0, 16.0, 0.0];
    job = job.with_invocation(
        job.invocation()
            .with_rate(costmodel::PerSecond::new(0.0))
            .unwrap(),
    );
    let r = cands
        .rank(
            &job,
            &ClusterState::new(&free, NodeId(0)).unwrap(),
            &WeightedPrice::default(),
            &mut buf,
        )
        .unwrap();
    let reasons: Vec<String> = r
        .infeasible()
        .map(|e| format!("{}", e.infeasible.unwrap()))
        .collect();
    assert_eq!(r.feasible_len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|s| s.contains("not supported")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|s| s.contains("data lives on node0")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|s| s.contains("no arrivals")),
        "{reasons:?}"
    );
    // With arrivals and no SLO, node 2 (no free CPU) is full.
    job = job.with_invocation(
        job.invocation()
            .with_rate(costmodel::PerSecond::new(20_000.0))
            .unwrap(),
    );
    job = job.with_slo(None).unwrap();
    let state = ClusterState::new(&free, NodeId(0)).unwrap();
    let r = cands
        .rank(&job, &state, &WeightedPrice::default(), &mut buf)
        .unwrap();
    let kinds: Vec<Infeasible> = r.infeasible().map(|e| e.infeasible.unwrap()).collect();
    assert!(
        kinds.iter().any(|k| matches!(
            k,
            Infeasible::NodeFull {
                node: NodeId(2),
                ..
            }
        )),
        "{kinds:?}"
    );
    // A tight SLO rules out the remote placements: 8 dependent round trips.
    job = job
        .with_slo(Some(costmodel::Nanos::from_micros(60.0)))
        .unwrap();
    let r = cands
        .rank(&job, &state, &WeightedPrice::default(), &mut buf)
        .unwrap();
    let slo: Vec<_> = r
        .infeasible()
        .filter(|e| matches!(e.infeasible, Some(Infeasible::SloViolated { .. })))
        .map(|e| e.placement.regime)
        .collect();
    assert_eq!(slo, vec![Regime::Remote, Regime::Remote]);
}

#[test]
fn bad_inputs_are_errors_naming_the_problem() {
    let model = model();
    assert!(matches!(
        Candidates::prepare(&model, &[]),
        Err(SolverError::Empty { .. })
    ));
    let bad = Placement::inside(id("nosuch"), tr("tcp"));
    let err = Candidates::prepare(&model, &[bad]).unwrap_err().to_string();
    assert!(err.contains("unknown scheme id \"nosuch\""), "{err}");
    let p = Placement::inside(id("native"), tr("tcp"));
    assert!(matches!(
        Candidates::prepare(&model, &[p, p]),
        Err(SolverError::DuplicateCandidate { .. })
    ));
    let cands = Candidates::prepare(&model, &[p.on(NodeId(3))]).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let job = workload("graph-lookup.ron", "graph-4hop");
    let free = [1.0, 1.0];
    let err = cands
        .rank(
            &job,
            &ClusterState::new(&free, NodeId(0)).unwrap(),
            &WeightedPrice::default(),
            &mut buf,
        )
        .unwrap_err();
    assert!(
        matches!(err, SolverError::UnknownNode { node: 3, known: 2 }),
        "{err}"
    );
    let free = [1.0; 4];
    let err = ClusterState::new(&free, NodeId(0))
        .unwrap()
        .with_utilisation(1.0)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "state.storage_utilisation must be in [0, 1), got 1"
    );
    let state = ClusterState::new(&free, NodeId(0)).unwrap();
    let err = state.with_requests_per_syscall(0.5).unwrap_err();
    assert!(
        err.to_string().starts_with("state.requests_per_syscall"),
        "{err}"
    );
    let err = state.with_peer_wakeups_per_request(f64::NAN).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("state.peer_wakeups_per_request"),
        "{err}"
    );
    let kept = state
        .with_requests_per_syscall(8.0)
        .and_then(|s| s.with_peer_wakeups_per_request(0.0))
        .and_then(|s| s.with_drained(4.0))
        .unwrap()
        .conditions();
    assert_eq!(
        (kept.requests_per_syscall(), kept.peer_wakeups_per_request()),
        (8.0, Some(0.0))
    );
    let mut small = RankBuffers::with_capacity(0);
    assert!(matches!(
        cands.rank(
            &job,
            &ClusterState::new(&free, NodeId(0)).unwrap(),
            &WeightedPrice::default(),
            &mut small
        ),
        Err(SolverError::BufferTooSmall { .. })
    ));
}

/// The pushback order: of two invocations, the one that saves less per unit of storage CPU it
/// holds inside is shed first as utilisation rises.
#[test]
fn pushback_sheds_the_invocation_that_saves_least_per_storage_cpu_first() {
    let model = model();
    let inside = model
        .price(&Placement::inside(id("wasm"), tr("tcp")))
        .unwrap();
    let remote = model
        .price(&Placement::remote(id("wasm"), tr("tcp")).on(NodeId(1)))
        .unwrap();
    let price = Pushback::default();
    let cond = Conditions::default();
    let shed = |file: &str, fid: &str| {
        let job = workload(file, fid);
        let i = inside.evaluate(job.invocation(), &cond).unwrap();
        let r = remote.evaluate(job.invocation(), &cond).unwrap();
        shed_utilisation(&price, &i, &r)
    };
    let k2 = shed("fig2-records-sweep.ron", "sweep-k2").expect("k2 is shed below saturation");
    let k16 = shed("fig2-records-sweep.ron", "sweep-k16").expect("k16 is shed below saturation");
    assert!(k2 < k16, "k2 at {k2}, k16 at {k16}");
    // Between the two thresholds the ranking agrees: k2 remote, k16 still inside.
    let cands = Candidates::prepare(&model, &[*inside.placement(), *remote.placement()]).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let free = [16.0, 16.0];
    let state = ClusterState::new(&free, NodeId(0))
        .unwrap()
        .with_utilisation((k2 + k16) / 2.0)
        .unwrap();
    for (fid, side) in [("sweep-k2", Side::Compute), ("sweep-k16", Side::Storage)] {
        let job = workload("fig2-records-sweep.ron", fid);
        let r = cands.rank(&job, &state, &price, &mut buf).unwrap();
        assert_eq!(r.best().unwrap().placement.regime.side(), side, "{fid}");
    }
}

#[test]
fn three_function_chain_dp_matches_brute_force_and_fuses_neighbours() {
    let model = model();
    let set = WorkloadSet::load(fixtures().join("workloads/three-function-chain.ron")).unwrap();
    let mut cands = Vec::new();
    for s in ["native", "wasm", "process"] {
        for r in [Regime::Multiplexed, Regime::Remote] {
            cands.push(
                Placement::inside(id(s), tr("tcp"))
                    .with_regime(r)
                    .on(NodeId(u32::from(r == Regime::Remote))),
            );
        }
    }
    let stages: Vec<ChainStage<'_>> = set
        .workloads
        .iter()
        .map(|w| ChainStage {
            job: Job::from_profile(w).unwrap(),
            candidates: &cands,
            bytes_to_next: w.chain.first().map_or(costmodel::Bytes::ZERO, |e| e.bytes),
        })
        .collect();
    let chain = ModelChain::build(
        &model,
        &stages,
        &WeightedPrice::default(),
        &Conditions::default(),
        EdgePrice::from_model(&model),
    )
    .unwrap();
    let dp = solve_linear(&chain).unwrap();
    let brute = exhaustive_linear(&chain).unwrap();
    assert!((dp.total - brute.total).abs() < 1e-6 * brute.total.abs());
    // Neighbours in the same domain on the same node are fused, and fusion is what made them
    // co-locate.
    let placed: Vec<Placement> = dp
        .choice
        .iter()
        .enumerate()
        .map(|(s, o)| chain.placement(s, *o))
        .collect();
    for (e, fused) in dp.fused.iter().enumerate() {
        let (p, q) = (placed[e], placed[e + 1]);
        assert_eq!(
            *fused,
            p.scheme == q.scheme && p.regime == q.regime && p.node == q.node
        );
    }
    assert!(
        dp.fused.iter().any(|f| *f),
        "the cheapest plan fuses at least one pair: {placed:?}"
    );
}

#[test]
fn batching_on_the_reference_host_meets_the_chain_slo() {
    let model = model();
    let job = workload("three-function-chain.ron", "aggregate");
    let pp = model
        .price(&Placement::inside(id("wasm"), tr("tcp")))
        .unwrap();
    let choice = largest_batch(
        &pp,
        &job,
        &Conditions::default(),
        std::num::NonZeroU32::new(1024).unwrap(),
    )
    .unwrap();
    assert!(choice.batch.get() > 1);
    assert!(choice.cost.latency.get() <= job.slo().unwrap().get());
    assert!(choice.storage_cpu_saved.get() > 0.0);
}

/// An objective that scores everything alike: every candidate ties.
struct Flat;

impl costmodel::Objective for Flat {
    fn name(&self) -> &str {
        "flat"
    }
    fn score(&self, _: &costmodel::PlacementCost, _: &costmodel::ObjectiveContext) -> f64 {
        0.0
    }
}

#[test]
fn exact_ties_across_cost_classes_are_broken_by_id() {
    let model = model();
    let mut placements = model.default_candidates();
    placements.push(Placement::remote(id("wasm"), tr("tcp")).on(NodeId(1)));
    placements.reverse();
    let cands = Candidates::prepare(&model, &placements).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let job = workload("graph-lookup.ron", "graph-4hop");
    let free = [64.0, 64.0];
    let r = cands
        .rank(
            &job,
            &ClusterState::new(&free, NodeId(0)).unwrap(),
            &Flat,
            &mut buf,
        )
        .unwrap();
    let feasible: Vec<Placement> = r.feasible().map(|e| *e.placement).collect();
    let mut sorted = feasible.clone();
    sorted.sort();
    assert!(feasible.len() > 10);
    assert_eq!(
        feasible, sorted,
        "all scores tie, so the order is the id order"
    );
    for (rank, p) in feasible.iter().enumerate() {
        assert_eq!(r.get(rank).unwrap().placement, p);
    }
}

#[test]
fn a_warm_context_is_priced_with_its_own_hit_probability() {
    let model = model();
    let wasm_remote = Placement::remote(id("wasm"), tr("tcp"));
    let placements = [wasm_remote.on(NodeId(1)), wasm_remote.on(NodeId(2))];
    let cands = Candidates::prepare(&model, &placements).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let job = workload("three-function-chain.ron", "ingest");
    let free = [8.0, 8.0, 8.0];
    let warm = [solver::WarmContext::new(NodeId(2), id("wasm"), 1.0).unwrap()];
    // Cold everywhere except the warm context on node 2, which therefore wins.
    let state = ClusterState::new(&free, NodeId(0))
        .unwrap()
        .with_warm_hit(0.0)
        .unwrap()
        .with_warm(&warm);
    let r = cands
        .rank(&job, &state, &WeightedPrice::default(), &mut buf)
        .unwrap();
    let best = r.best().unwrap();
    assert_eq!(best.placement.node, NodeId(2));
    let pp = model.price(&wasm_remote.on(NodeId(2))).unwrap();
    let warm_cost = pp
        .evaluate(
            job.invocation(),
            &Conditions::default().with_warm_hit(1.0).unwrap(),
        )
        .unwrap();
    let got = best.cost().unwrap();
    assert!((got.total_cpu().get() - warm_cost.total_cpu().get()).abs() < 1e-6);
    assert!(
        r.get(1).unwrap().score > best.score,
        "the cold one pays its cold start"
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Candidates>();
    check::<RankBuffers>();
    check::<solver::Ranker>();
    check::<solver::WarmContext>();
    check::<solver::Ranking<'static>>();
    check::<solver::Ranked<'static>>();
    check::<Job>();
    check::<ClusterState<'static>>();
    check::<Infeasible>();
    check::<Pushback>();
    check::<solver::FunctionTrack<profiler::RateDetector>>();
    check::<solver::RegimeAdvisor<costmodel::MinTotalCpu>>();
    check::<solver::RegimeOptions>();
    check::<solver::Advice>();
    check::<solver::ChainPlan>();
    check::<ModelChain>();
    check::<solver::Provisioning>();
    check::<solver::Resources>();
    check::<solver::SharedSlots>();
    check::<solver::BatchChoice>();
    check::<SolverError>();
}

#[test]
fn a_same_host_transport_is_never_ranked_across_nodes() {
    let model = model();
    let job = workload("graph-lookup.ron", "graph-4hop");
    let placements = [
        Placement::remote(id("native"), tr("shm")).on(NodeId(0)),
        Placement::remote(id("native"), tr("shm")).on(NodeId(1)),
        Placement::remote(id("native"), tr("unix")).on(NodeId(2)),
        Placement::remote(id("native"), tr("tcp")).on(NodeId(1)),
        Placement::inside(id("native"), tr("shm")),
    ];
    let cands = Candidates::prepare(&model, &placements).unwrap();
    let mut buf = RankBuffers::for_candidates(&cands);
    let free = [16.0, 16.0, 16.0];
    let r = cands
        .rank(
            &job,
            &ClusterState::new(&free, NodeId(0)).unwrap(),
            &WeightedPrice::default(),
            &mut buf,
        )
        .unwrap();
    let feasible: Vec<String> = r.feasible().map(|e| e.placement.to_string()).collect();
    assert_eq!(r.feasible_len(), 3, "{feasible:?}");
    let refused: Vec<(Placement, Infeasible)> = r
        .infeasible()
        .map(|e| (*e.placement, e.infeasible.unwrap()))
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    for (p, why) in &refused {
        assert!(p.node != NodeId(0) && p.transport != tr("tcp"), "{p}");
        assert!(
            matches!(
                why,
                Infeasible::SameHostTransport {
                    data: NodeId(0),
                    ..
                }
            ),
            "{why:?}"
        );
        assert!(why.to_string().contains("same-host transport"), "{why}");
        // The model says the same when asked directly.
        assert!(model.check_reach(p, NodeId(0)).is_err());
    }
    // With the data on node 1, shm from node 1 reaches it and shm from node 0 does not.
    let r = cands
        .rank(
            &job,
            &ClusterState::new(&free, NodeId(1)).unwrap(),
            &WeightedPrice::default(),
            &mut buf,
        )
        .unwrap();
    assert!(r.infeasible().any(|e| e.placement.node == NodeId(0)
        && matches!(e.infeasible, Some(Infeasible::SameHostTransport { .. }))));
}
