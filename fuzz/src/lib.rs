//! What every fuzz target checks after a loader accepts its input: the model builds, every
//! default placement prices to finite, non-negative costs (or a refusal that is not an
//! overflow), every crossover is finite, and saving then loading gives the same value back.
//! A failed check panics, so libFuzzer records the input as a crash.

use std::sync::OnceLock;

/// `calibrate show` and `calibrate diff`'s renderer, compiled in by path: the calibrate crate
/// depends on wasmtime, cranelift and the measuring harness, whose instrumented build would take
/// many minutes, while these two files read nothing but `costmodel`. `crate::report` and
/// `crate::noise::report` are the paths the files use for each other.
#[cfg(not(test))]
#[path = "../../calibrate/src/report.rs"]
#[allow(dead_code, missing_docs)]
pub mod report;

/// The noise part of [`report`], as `crate::noise::report`.
#[cfg(not(test))]
#[path = "../../calibrate/src/noise/report.rs"]
#[allow(dead_code, missing_docs)]
mod noise_report;

/// See [`report`].
#[cfg(not(test))]
mod noise {
    pub(crate) use super::noise_report as report;
}

use costmodel::{
    Conditions, CostError, Crossover, HostProfile, Model, Placement, Regime, WorkloadProfile,
    WorkloadSet,
};

/// The batch and multi-get width of the second placement each workload is priced under.
const BATCH: std::num::NonZeroU32 = std::num::NonZeroU32::new(8).unwrap();
const MULTIGET: std::num::NonZeroU32 = std::num::NonZeroU32::new(16).unwrap();

/// The committed reference host profile.
pub fn reference_host() -> &'static HostProfile {
    static HOST: OnceLock<HostProfile> = OnceLock::new();
    HOST.get_or_init(|| {
        HostProfile::from_ron(
            include_str!("../../fixtures/hosts/reference.ron"),
            "reference.ron",
        )
        .expect("the committed reference profile loads")
    })
}

/// The model of the reference host.
pub fn reference_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::from_profile(reference_host().clone()).expect("reference model"))
}

/// A few committed workloads (the Figure 2 sweep's ends, compute-heavy, a graph lookup).
pub fn reference_workloads() -> &'static [WorkloadProfile] {
    static SET: OnceLock<Vec<WorkloadProfile>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut out = Vec::new();
        for (text, name) in [
            (
                include_str!("../../fixtures/workloads/fig2-records-sweep.ron"),
                "fig2",
            ),
            (
                include_str!("../../fixtures/workloads/compute-heavy.ron"),
                "compute-heavy",
            ),
            (
                include_str!("../../fixtures/workloads/graph-lookup.ron"),
                "graph-lookup",
            ),
        ] {
            let set = WorkloadSet::from_ron(text, name).expect("committed workloads load");
            out.extend(set.workloads.into_iter().take(2));
        }
        out
    })
}

/// Load conditions at the edges: idle, busy with wake-ups shared, nearly saturated.
fn conditions() -> [Conditions; 3] {
    [
        Conditions::default(),
        Conditions::new(0.5, 0.9, 8.0).expect("valid"),
        Conditions::new(0.0, 0.999, 1.0).expect("valid"),
    ]
}

/// The equations' output check fired: an accepted input produced a non-finite cost.
fn is_overflow(e: &CostError) -> bool {
    e.to_string().contains("came out as")
}

/// Prices `w` under every default placement of `model` (plus batched and multi-get variants)
/// and every multiplexed-versus-remote crossover; panics on a non-finite or negative cost.
pub fn check_prices(model: &Model, w: &WorkloadProfile) {
    for cond in conditions() {
        for p in model.default_candidates() {
            for p in [p, p.with_batch(BATCH).with_multiget(MULTIGET)] {
                match model.evaluate(w, &p, &cond) {
                    Ok(c) => {
                        for v in [
                            c.storage_cpu.get(),
                            c.compute_cpu.get(),
                            c.latency.get(),
                            c.network_bytes.get(),
                        ] {
                            assert!(v.is_finite() && v >= 0.0, "{p}: non-finite cost {c:?}");
                        }
                    }
                    Err(e) => assert!(!is_overflow(&e), "{p}: {e}"),
                }
            }
        }
        let schemes: Vec<_> = model.scheme_ids().collect();
        let transports: Vec<_> = model.transport_ids().collect();
        for &s in &schemes {
            for &t in &transports {
                let inside = Placement::inside(s, t).with_regime(Regime::Multiplexed);
                let remote = Placement::remote(s, t);
                match model.crossover(w, &inside, &remote, &cond) {
                    Ok(Crossover::At(k)) => assert!(k.is_finite() && k >= 0.0, "k* = {k}"),
                    Ok(Crossover::Never) => {}
                    Err(e) => assert!(!is_overflow(&e), "{e}"),
                }
            }
        }
        let h = w.arrival.warm_hit_probability(costmodel::Nanos::new(6e10));
        assert!((0.0..=1.0).contains(&h), "warm-hit probability {h}");
    }
}

/// An accepted host profile: it saves and loads back equal, builds a model, and prices the
/// reference workloads finitely.
pub fn check_host(p: &HostProfile) {
    let text = p.to_ron();
    let back = HostProfile::from_ron(&text, "round trip")
        .unwrap_or_else(|e| panic!("a saved profile does not load: {e}\n{text}"));
    assert_eq!(&back, p, "round trip changed the profile");
    let model = Model::from_profile(p.clone()).expect("a valid profile builds a model");
    // Two workloads (one record, no compute; many records, compute) keep the rate up.
    for w in [&reference_workloads()[0], &reference_workloads()[3]] {
        check_prices(&model, w);
    }
    // A profile with a table-size curve moves to any table size, or says why not; what it
    // moves to is a valid profile that prices finitely.
    if let Some(t) = &p.table_access {
        for bytes in [1.0, t.probe_table_bytes.get(), 1e7, 1e15] {
            let Ok(moved) = p.at_table(costmodel::Bytes::new(bytes)) else {
                continue;
            };
            moved
                .validate("moved")
                .unwrap_or_else(|e| panic!("a moved profile is invalid: {e}"));
            let model = Model::from_profile(moved).expect("a moved profile builds a model");
            check_prices(&model, &reference_workloads()[0]);
        }
    }
}

/// An accepted workload set: it saves and loads back equal, and prices finitely on the
/// reference host.
pub fn check_workloads(set: &WorkloadSet) {
    let text = set.to_ron();
    let back = WorkloadSet::from_ron(&text, "round trip")
        .unwrap_or_else(|e| panic!("a saved workload set does not load: {e}\n{text}"));
    assert_eq!(&back, set, "round trip changed the set");
    for w in set.workloads.iter().take(4) {
        check_prices(reference_model(), w);
    }
}

/// An accepted trace: profiling it gives a workload set the cost model accepts, which prices
/// finitely.
pub fn check_trace(trace: &profiler::Trace) {
    let mut p = profiler::Profiler::new(profiler::ProfilerConfig::default()).expect("config");
    if p.ingest_all(&trace.records).is_err() || trace.records.is_empty() {
        return;
    }
    let set = p.workload_set("fuzzed trace");
    set.validate("profiled trace")
        .unwrap_or_else(|e| panic!("an accepted trace profiles to an invalid workload: {e}"));
    for w in set.workloads.iter().take(4) {
        check_prices(reference_model(), w);
    }
}
