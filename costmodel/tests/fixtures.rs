//! Integration tests over the bundled fixtures: they load, validate and price.

use std::path::PathBuf;

use costmodel::{
    Conditions, Crossover, HostProfile, Model, Placement, SchemeId, TransportId, WorkloadSet,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn reference() -> HostProfile {
    HostProfile::load(fixtures().join("hosts/reference.ron")).expect("reference profile loads")
}

#[test]
fn reference_profile_has_six_schemes_and_four_transports_all_cited() {
    let host = reference();
    let schemes: Vec<_> = host.isolation.keys().map(|k| k.as_str()).collect();
    assert_eq!(schemes, ["ebpf", "mpk", "native", "process", "vm", "wasm"]);
    let transports: Vec<_> = host.transports.keys().map(|k| k.as_str()).collect();
    assert_eq!(transports, ["shm", "tcp", "udp", "unix"]);
    for (id, c) in &host.isolation {
        for e in [&c.warm_invoke, &c.cold_start, &c.local_access] {
            assert!(
                !e.source.is_measured(),
                "{id}: reference values are literature"
            );
            assert!(
                !e.source.detail().is_empty(),
                "{id}: every value cites a source"
            );
        }
    }
}

#[test]
fn every_bundled_workload_file_loads_and_prices_under_every_default_candidate() {
    let model = Model::from_profile(reference()).unwrap();
    let sets = WorkloadSet::load_dir(fixtures().join("workloads")).unwrap();
    assert!(
        sets.len() >= 4,
        "sweep, compute-heavy, graph lookup and chain"
    );
    let cond = Conditions::default();
    for (name, set) in &sets {
        for w in &set.workloads {
            for p in model.default_candidates() {
                match model.evaluate(w, &p, &cond) {
                    Ok(c) => {
                        assert!(c.storage_cpu.is_valid() && c.compute_cpu.is_valid());
                        assert!(c.latency.is_valid(), "{name}/{}: {p}", w.id);
                    }
                    // A dedicated core may be refused for a function it cannot keep up with.
                    Err(e) => assert!(e.to_string().contains("dedicated"), "{e}"),
                }
            }
        }
    }
}

#[test]
fn the_sweep_crosses_over_inside_the_swept_range_for_cheap_schemes() {
    let model = Model::from_profile(reference()).unwrap();
    let sweep = WorkloadSet::load(fixtures().join("workloads/fig2-records-sweep.ron")).unwrap();
    let tcp = TransportId::new("tcp").unwrap();
    let wasm = SchemeId::new("wasm").unwrap();
    let k_star = match model
        .crossover(
            &sweep.workloads[0],
            &Placement::inside(wasm, tcp),
            &Placement::remote(SchemeId::new("native").unwrap(), tcp),
            &Conditions::default(),
        )
        .unwrap()
    {
        Crossover::At(k) => k,
        Crossover::Never => panic!("wasm inside should win for some k"),
    };
    // With the literature's per-request cost (7 us) dwarfing a Wasm call (28 ns), inside wins
    // from about one record on.
    assert!(k_star > 0.5 && k_star < 2.0, "k* = {k_star}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Model>();
    check::<costmodel::Registry>();
    check::<HostProfile>();
    check::<WorkloadSet>();
    check::<costmodel::PlacementCost>();
    check::<costmodel::PricedPlacement>();
    check::<costmodel::CostError>();
    check::<Box<dyn costmodel::IsolationScheme>>();
    check::<Box<dyn costmodel::Transport>>();
    check::<Box<dyn costmodel::Objective>>();
}
