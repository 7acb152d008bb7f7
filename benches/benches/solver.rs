//! Criterion benches for the `solver` crate: rank over 8, 64 and 512 candidates, and over 64
//! under each bundled objective; provisioning 1,000 machines x 100,000 functions; the regime
//! advisor per function update.

use std::hint::black_box;
use std::path::PathBuf;

use costmodel::{HostProfile, Model, NodeId, Placement, Regime, WorkloadSet};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use solver::{Candidates, ClusterState, Job, RankBuffers};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn model() -> Model {
    let host = HostProfile::load(fixtures().join("hosts/reference.ron")).expect("reference host");
    Model::from_profile(host).expect("model")
}

/// A scheduler's candidate set of `n` placements for a function whose data lives on node 0:
/// inside the data node (multiplexed and dedicated under four schemes, or the first four of
/// those for `n = 8`), and remote under two schemes and two transports on each compute node.
fn fleet_candidates(model: &Model, n: usize) -> Vec<Placement> {
    let id = |s: &str| costmodel::SchemeId::new(s).expect("scheme id");
    let tr = |s: &str| costmodel::TransportId::new(s).expect("transport id");
    let mut out = Vec::with_capacity(n);
    let inside_regimes: &[Regime] = if n <= 8 {
        &[Regime::Multiplexed]
    } else {
        &[Regime::Multiplexed, Regime::DedicatedCore]
    };
    for r in inside_regimes {
        for s in ["native", "wasm", "ebpf", "process"] {
            out.push(Placement::inside(id(s), tr("tcp")).with_regime(*r));
        }
    }
    out.truncate(n);
    'nodes: for node in 1u32.. {
        for s in ["native", "wasm"] {
            for t in ["tcp", "shm"] {
                if out.len() >= n {
                    break 'nodes;
                }
                out.push(Placement::remote(id(s), tr(t)).on(NodeId(node)));
            }
        }
    }
    let _ = model;
    out
}

/// `n` candidates that all differ in more than their node: the worst case for cost classes.
fn distinct_candidates(model: &Model, n: usize) -> Vec<Placement> {
    let mut out = Vec::with_capacity(n);
    let schemes: Vec<_> = model.scheme_ids().collect();
    let transports: Vec<_> = model.transport_ids().collect();
    'outer: for batch in (1u32..).filter_map(std::num::NonZeroU32::new) {
        for r in [Regime::Multiplexed, Regime::Remote, Regime::DedicatedCore] {
            for s in &schemes {
                for t in &transports {
                    if out.len() == n {
                        break 'outer;
                    }
                    out.push(Placement::inside(*s, *t).with_regime(r).with_batch(batch));
                }
            }
        }
    }
    out
}

/// A candidate-set generator: model and size to placements.
type MakeCandidates = fn(&Model, usize) -> Vec<Placement>;

fn rank(c: &mut Criterion) {
    let model = model();
    let set = WorkloadSet::load(fixtures().join("workloads/graph-lookup.ron")).expect("workload");
    let job = Job::from_profile(&set.workloads[0]).expect("job");
    let free = vec![8.0; 1024];
    let objective = costmodel::WeightedPrice::default();
    let mut group = c.benchmark_group("solver/rank");
    let shapes: [(&str, MakeCandidates, &[usize]); 2] = [
        ("fleet", fleet_candidates, &[8, 64, 512]),
        ("distinct", distinct_candidates, &[64]),
    ];
    for (shape, make, sizes) in shapes {
        for &n in sizes {
            let cands = Candidates::prepare(&model, &make(&model, n)).expect("prepare");
            assert_eq!(cands.len(), n);
            let mut buf = RankBuffers::for_candidates(&cands);
            // A different utilisation every call, so no call can reuse the previous one's work.
            let mut tick = 0u32;
            // The free cores are checked once, when the state is built; per call only the
            // utilisation changes (and is checked where it is set).
            let base = ClusterState::new(&free, NodeId(0)).expect("state");
            group.bench_with_input(BenchmarkId::new(shape, n), &n, |b, _| {
                b.iter(|| {
                    tick = tick.wrapping_add(1);
                    let rho = f64::from(tick % 64) / 80.0;
                    let state = base.with_utilisation(rho).expect("rho");
                    let r = cands
                        .rank(black_box(&job), black_box(&state), &objective, &mut buf)
                        .expect("rank");
                    black_box(r.best().map(|e| e.score));
                });
            });
        }
    }
    group.finish();
}

/// The 64-candidate fleet under each bundled objective, each its own instantiation of `rank`
/// (as an embedding scheduler compiles it): what choosing an objective costs per decision
/// (`Pushback` against `MinTotalCpu` in particular).
fn rank_objectives(c: &mut Criterion) {
    let mut group = c.benchmark_group("solver/rank/objective");
    rank_under(&mut group, "min-total-cpu", &costmodel::MinTotalCpu);
    rank_under(&mut group, "pushback", &solver::Pushback::default());
    rank_under(
        &mut group,
        "weighted-price",
        &costmodel::WeightedPrice::default(),
    );
    rank_under(
        &mut group,
        "max-storage-throughput",
        &costmodel::MaxStorageThroughput,
    );
    group.finish();
}

fn rank_under<O: costmodel::Objective>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    objective: &O,
) {
    let model = model();
    let set = WorkloadSet::load(fixtures().join("workloads/graph-lookup.ron")).expect("workload");
    let job = Job::from_profile(&set.workloads[0]).expect("job");
    let free = vec![8.0; 1024];
    let cands = Candidates::prepare(&model, &fleet_candidates(&model, 64)).expect("prepare");
    let mut buf = RankBuffers::for_candidates(&cands);
    let mut tick = 0u32;
    let base = ClusterState::new(&free, NodeId(0)).expect("state");
    group.bench_function(BenchmarkId::new(name, 64), |b| {
        b.iter(|| {
            tick = tick.wrapping_add(1);
            let rho = f64::from(tick % 64) / 80.0;
            let state = base.with_utilisation(rho).expect("rho");
            let r = cands
                .rank(black_box(&job), black_box(&state), objective, &mut buf)
                .expect("rank");
            black_box(r.best().map(|e| e.score));
        });
    });
}

/// Provisioning the synthetic fleet: 1,000 machines x 100,000 functions. The gap to the lower
/// bound is printed once (it is a property of the answer, not of the timing).
fn provisioning(c: &mut Criterion) {
    let (machines, demands) = solver::provision::synthetic_fleet(42, 1_000, 100_000);
    let p = solver::provision(&machines, &demands).expect("provision");
    eprintln!(
        "provisioning 1000 x 100000: {} machines used, lower bound {}, gap {:.2}%, unplaced {}",
        p.machines_used,
        p.lower_bound,
        p.gap * 100.0,
        p.unplaced.len()
    );
    let mut group = c.benchmark_group("solver/provision");
    group.sample_size(10);
    group.bench_function("1000x100000", |b| {
        b.iter(|| black_box(solver::provision(black_box(&machines), black_box(&demands))))
    });
    group.finish();
}

/// One regime-advisor update for one function (CUSUM step plus pricing three regimes).
fn advisor(c: &mut Criterion) {
    let model = model();
    let id = |s: &str| costmodel::SchemeId::new(s).expect("scheme id");
    let tcp = costmodel::TransportId::new("tcp").expect("transport id");
    let price = |r: Regime| {
        model
            .price(&Placement::inside(id("wasm"), tcp).with_regime(r))
            .ok()
    };
    let set = WorkloadSet::load(fixtures().join("workloads/graph-lookup.ron")).expect("workload");
    let job = Job::from_profile(&set.workloads[0]).expect("job");
    let options = solver::RegimeOptions {
        dedicated: price(Regime::DedicatedCore),
        multiplexed: price(Regime::Multiplexed),
        remote: price(Regime::Remote),
        invocation: *job.invocation(),
        conditions: costmodel::Conditions::default(),
    };
    let advisor =
        solver::RegimeAdvisor::new(solver::AdvisorConfig::default(), costmodel::MinTotalCpu)
            .expect("advisor");
    // Counts around 200 per 10 ms window (20,000/s), cycling through a fixed noisy sequence.
    let counts: Vec<f64> = (0..1024u32)
        .map(|i| 200.0 + f64::from((i.wrapping_mul(2_654_435_761) >> 24) % 29) - 14.0)
        .collect();
    let mut track = solver::FunctionTrack::new(
        Regime::Multiplexed,
        profiler::RateDetector::new(profiler::CusumParams::default()),
    );
    let mut i = 0usize;
    c.bench_function("solver/advisor/update", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(
                advisor
                    .observe(&mut track, &options, black_box(counts[i]))
                    .expect("observe"),
            )
        })
    });
}

criterion_group!(benches, rank, rank_objectives, provisioning, advisor);
criterion_main!(benches);
