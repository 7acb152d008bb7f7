//! Integration tests over the bundled fixtures: they load, validate and price.

use std::path::PathBuf;

use costmodel::{
    Conditions, Crossover, HostProfile, Model, Nanos, Placement, SchemeId, TransportId, WorkloadSet,
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
fn a_remote_fetch_charges_the_servers_lookup_of_each_record() {
    let model = Model::from_profile(reference()).unwrap();
    let native = SchemeId::new("native").unwrap();
    let g0 = model.scheme(native).unwrap().costs.local_access.point.get();
    assert!(g0 > 0.0);
    assert_eq!(model.storage_lookup().get(), g0);
    let sweep = WorkloadSet::load(fixtures().join("workloads/fig2-records-sweep.ron")).unwrap();
    let remote = Placement::remote(native, TransportId::new("tcp").unwrap());
    let cond = Conditions::default();
    let w = &sweep.workloads[0];
    let with = model.evaluate(w, &remote, &cond).unwrap();
    let k = w.records_per_invocation;
    assert!(k > 0.0);
    let term = with.terms.get(costmodel::Term::LocalAccess).get();
    assert!((term - k * g0).abs() < 1e-9, "{term} vs {k} x {g0}");
    // Without the lookup the storage CPU drops by exactly that term.
    let without = model
        .clone()
        .with_storage_lookup(Nanos::new(0.0))
        .unwrap()
        .evaluate(w, &remote, &cond)
        .unwrap();
    let drop = with.storage_cpu.get() - without.storage_cpu.get();
    assert!((drop - k * g0).abs() < 1e-6, "{drop} vs {}", k * g0);
    // A bad override is refused with the field and value named.
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let e = model
            .clone()
            .with_storage_lookup(Nanos::new(bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lookup") && e.contains(&bad.to_string()), "{e}");
    }
}

#[test]
fn a_scattered_read_pays_its_premium_once_inside_and_per_request_remote() {
    let mut host = reference();
    let gs = 80.0;
    host.scattered_access = Some(costmodel::Estimate::cited(Nanos::new(gs), "test"));
    let with = Model::from_profile(host).unwrap();
    let without = Model::from_profile(reference()).unwrap();
    let sweep = WorkloadSet::load(fixtures().join("workloads/fig2-records-sweep.ron")).unwrap();
    let mut w = sweep.workloads[2].clone();
    let tcp = TransportId::new("tcp").unwrap();
    let wasm = SchemeId::new("wasm").unwrap();
    let native = SchemeId::new("native").unwrap();
    let cond = Conditions::default();
    let k = w.records_per_invocation;
    assert!(k > 1.0);
    for dependent in [false, true] {
        w.dependent_reads = dependent;
        // Inside, the first record of a run is scattered; with dependent reads, every record
        // is. A remote fetch of one key per request pays it on every request.
        let inside = if dependent { k * gs } else { gs };
        let remote = k.ceil() * gs;
        for (p, want) in [
            (Placement::inside(wasm, tcp), inside),
            (Placement::remote(native, tcp), remote),
        ] {
            let a = with.evaluate(&w, &p, &cond).unwrap().storage_cpu.get();
            let b = without.evaluate(&w, &p, &cond).unwrap().storage_cpu.get();
            assert!((a - b - want).abs() < 1e-6, "{p}: {a} - {b} vs {want}");
        }
    }
    let k_star = |m: &Model, w: &costmodel::WorkloadProfile| match m
        .crossover(
            w,
            &Placement::inside(wasm, tcp),
            &Placement::remote(native, tcp),
            &cond,
        )
        .unwrap()
    {
        Crossover::At(k) => k,
        Crossover::Never => f64::INFINITY,
    };
    // Independent reads: remote pays the premium per record and inside once, so inside wins
    // sooner. Dependent reads: both pay it per record and the crossover stays.
    w.dependent_reads = false;
    let (a, b) = (k_star(&with, &w), k_star(&without, &w));
    assert!(a < b, "{a} vs {b}");
    w.dependent_reads = true;
    assert_eq!(k_star(&with, &w), k_star(&without, &w));
    w.dependent_reads = false;
    // Placements priced on different hosts cannot be compared.
    let e = costmodel::crossover(
        &with.price(&Placement::inside(wasm, tcp)).unwrap(),
        &without.price(&Placement::remote(native, tcp)).unwrap(),
        &costmodel::Invocation::from_profile(&w).unwrap(),
        &cond,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("scattered-read premium"), "{e}");
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
