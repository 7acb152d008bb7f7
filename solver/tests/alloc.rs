//! `rank` makes no heap allocation per call once its buffers are sized: counted by a global
//! allocator that tallies allocations per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use costmodel::{
    HostProfile, Model, NodeId, Placement, Regime, SchemeId, TransportId, WeightedPrice,
};
use solver::{Candidates, ClusterState, Job, Pushback, RankBuffers, WarmContext};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every call unchanged to the system allocator; the counter is a const
// thread-local `Cell`, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn rank_allocates_nothing_per_call() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hosts/reference.ron");
    let mut host = HostProfile::load(path).expect("reference host");
    // One unsupported scheme, so infeasible candidates are on the path too.
    let vm = SchemeId::new("vm").expect("id");
    if let Some(c) = host.isolation.get_mut(&vm) {
        c.support = costmodel::Support::Unsupported {
            reason: "no /dev/kvm".into(),
        };
    }
    let model = Model::from_profile(host).expect("model");
    let mut placements = model.default_candidates();
    for node in 1..6u32 {
        for s in model.scheme_ids() {
            let t = TransportId::new("tcp").expect("id");
            placements.push(Placement::remote(s, t).on(NodeId(node)));
            // Storage-side candidates away from the data: DataElsewhere.
            placements.push(Placement::inside(s, t).on(NodeId(node)));
        }
    }
    let candidates = Candidates::prepare(&model, &placements).expect("prepare");
    let mut buf = RankBuffers::for_candidates(&candidates);
    let free = [4.0, 0.0, 8.0, 8.0, 0.5, 8.0];
    let warm =
        [WarmContext::new(NodeId(2), SchemeId::new("wasm").expect("id"), 0.3).expect("warm")];
    let invocation = costmodel::Invocation::new(
        8.0,
        costmodel::Bytes::new(256.0),
        costmodel::Bytes::new(192.0),
        costmodel::Nanos::new(2000.0),
        costmodel::PerSecond::new(20_000.0),
    )
    .expect("invocation")
    .with_dependent_reads(true);
    let job = Job::new(invocation, Some(costmodel::Nanos::from_micros(150.0))).expect("job");
    // Warm up: the first call may size nothing (buffers are sized), but be generous.
    let state = ClusterState::new(&free, NodeId(0))
        .expect("state")
        .with_warm(&warm)
        .with_warm_hit(0.8)
        .expect("state");
    candidates
        .rank(&job, &state, &WeightedPrice::default(), &mut buf)
        .expect("rank");
    let before = allocations();
    let mut feasible = 0;
    let mut infeasible = 0;
    for i in 0..1000u32 {
        let rho = f64::from(i % 90) / 100.0;
        let state = state.with_utilisation(rho).expect("state");
        let ranking = if i % 2 == 0 {
            candidates.rank(&job, &state, &WeightedPrice::default(), &mut buf)
        } else {
            candidates.rank(&job, &state, &Pushback::default(), &mut buf)
        }
        .expect("rank");
        feasible += ranking.feasible_len();
        infeasible += ranking.infeasible().count();
        if let Some(best) = ranking.best() {
            std::hint::black_box(best.placement.regime == Regime::Remote);
        }
    }
    let after = allocations();
    assert!(feasible > 0 && infeasible > 0, "both paths exercised");
    assert_eq!(
        after - before,
        0,
        "rank allocated {} times in 1000 calls",
        after - before
    );
}
