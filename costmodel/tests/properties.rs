//! Properties of the version-1 cost equations and of the file formats (proptest).

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use costmodel::{
    Bytes, Conditions, Crossover, Estimate, Factor, HOST_FORMAT_VERSION, HostIdentity, HostProfile,
    Invocation, IsolationCosts, Model, Nanos, NanosPerByte, PerSecond, Placement, Regime, SchemeId,
    Support, TransportCosts, TransportId, WorkloadSet,
};
use proptest::prelude::*;

/// Isolation coefficients (w, z, g, f) in generous literature ranges.
fn scheme_costs() -> impl Strategy<Value = (f64, f64, f64, f64)> {
    (0.0..20_000.0, 0.0..5e6, 0.0..1_000.0, 1.0..5.0)
}

/// Transport coefficients: unloaded per-request, per-byte, saturated per-request, rtt.
fn transport_costs() -> impl Strategy<Value = (f64, f64, f64, f64)> {
    (100.0..60_000.0, 0.0..1.0, 50.0..5_000.0, 200.0..100_000.0)
}

fn isolation((w, z, g, f): (f64, f64, f64, f64)) -> IsolationCosts {
    IsolationCosts {
        description: String::new(),
        warm_invoke: Estimate::cited(Nanos::new(w), "test"),
        cold_start: Estimate::cited(Nanos::new(z), "test"),
        local_access: Estimate::cited(Nanos::new(g), "test"),
        slowdown: Estimate::cited(Factor::new(f), "test"),
        memory_per_context: Estimate::cited(Bytes::new(4096.0), "test"),
        requirements: Vec::new(),
        support: Support::Supported,
        details: BTreeMap::new(),
        local_access_per_byte: None,
        slowdown_by_class: BTreeMap::new(),
    }
}

fn transport((a, b, sat, rtt): (f64, f64, f64, f64)) -> TransportCosts {
    TransportCosts::literature(
        Nanos::new(a),
        NanosPerByte::new(b),
        Nanos::new(rtt),
        Nanos::new(sat),
        "test",
    )
}

fn host(s: (f64, f64, f64, f64), t: (f64, f64, f64, f64), dispatch: f64) -> HostProfile {
    HostProfile {
        format_version: HOST_FORMAT_VERSION,
        host: HostIdentity {
            name: "prop".into(),
            ..HostIdentity::default()
        },
        dispatch: Estimate::cited(Nanos::new(dispatch), "test"),
        memory_copy: None,
        scattered_access: None,
        table_access: None,
        transports: [(TransportId::new("t").unwrap(), transport(t))].into(),
        isolation: [(SchemeId::new("s").unwrap(), isolation(s))].into(),
        flags: Vec::new(),
        noise: None,
    }
}

fn invocation() -> impl Strategy<Value = Invocation> {
    (
        0.0..64.0f64,
        0.0..8192.0f64,
        0.0..4096.0f64,
        0.0..1e6f64,
        1.0..1e5f64,
        any::<bool>(),
    )
        .prop_map(|(k, s, m, c, rate, dep)| {
            Invocation::new(
                k,
                Bytes::new(s),
                Bytes::new(m),
                Nanos::new(c),
                PerSecond::new(rate),
            )
            .unwrap()
            .with_dependent_reads(dep)
        })
}

fn conditions() -> impl Strategy<Value = Conditions> {
    (0.0..=1.0f64, 0.0..0.99f64, 1.0..64.0f64)
        .prop_map(|(h, rho, d)| Conditions::new(h, rho, d).unwrap())
}

fn placement() -> impl Strategy<Value = Placement> {
    (
        prop_oneof![
            Just(Regime::DedicatedCore),
            Just(Regime::Multiplexed),
            Just(Regime::Remote)
        ],
        1u32..16,
        1u32..8,
    )
        .prop_map(|(r, m, b)| {
            Placement::inside(SchemeId::new("s").unwrap(), TransportId::new("t").unwrap())
                .with_regime(r)
                .with_multiget(NonZeroU32::new(m).unwrap())
                .with_batch(NonZeroU32::new(b).unwrap())
        })
}

fn ids() -> (SchemeId, TransportId) {
    (SchemeId::new("s").unwrap(), TransportId::new("t").unwrap())
}

proptest! {
    // Property: for valid input every cost is finite and non-negative, on every axis and term
    // (a dedicated core may instead be refused with an error when it cannot keep up).
    #[test]
    fn costs_are_finite_and_non_negative(
        s in scheme_costs(), t in transport_costs(), d in 0.0..2_000.0f64,
        inv in invocation(), cond in conditions(), p in placement(),
    ) {
        let model = Model::from_profile(host(s, t, d)).unwrap();
        if let Ok(c) = model.price(&p).unwrap().evaluate(&inv, &cond) {
            for v in [c.storage_cpu, c.compute_cpu, c.latency] {
                prop_assert!(v.is_valid(), "{v:?}");
            }
            prop_assert!(c.network_bytes.get().is_finite() && c.network_bytes.get() >= 0.0);
            for (_, v) in c.terms.iter() {
                prop_assert!(v.is_valid(), "{v:?}");
            }
        }
    }

    // Property: a shared-core placement's latency is the sum of the terms on its latency path
    // (every term but the per-request CPU, which the round trip already contains, and the
    // dedicated-core reservation), so the explanation `Terms::top(Axis::Latency)` gives adds up.
    // (Remote latency once left out the server's record lookup that its breakdown listed.)
    #[test]
    fn latency_is_the_sum_of_its_latency_path_terms(
        s in scheme_costs(), t in transport_costs(), d in 0.0..2_000.0f64,
        inv in invocation(), cond in conditions(), p in placement(), lookup in 0.0..500.0f64,
    ) {
        prop_assume!(p.regime != Regime::DedicatedCore);
        let model = Model::from_profile(host(s, t, d))
            .unwrap()
            .with_storage_lookup(Nanos::new(lookup))
            .unwrap();
        let c = model.price(&p).unwrap().evaluate(&inv, &cond).unwrap();
        let sum: f64 = costmodel::Term::ALL
            .into_iter()
            .filter(|t| {
                !matches!(
                    t,
                    costmodel::Term::ServerRequest
                        | costmodel::Term::ClientRequest
                        | costmodel::Term::Reservation
                )
            })
            .map(|t| c.terms.get(t).get())
            .sum();
        let l = c.latency.get();
        prop_assert!((l - sum).abs() <= 1e-9 * l.max(1.0), "{p}: latency {l} vs terms {sum}");
    }

    // Property: pricing up to the queueing once and completing it under another storage
    // utilisation gives exactly (bit for bit) what `evaluate` gives under that utilisation,
    // and the same refusals.
    #[test]
    fn unqueued_then_queued_equals_evaluate(
        s in scheme_costs(), t in transport_costs(), d in 0.0..2_000.0f64,
        inv in invocation(), cond in conditions(), p in placement(), rho in 0.0..0.99f64,
    ) {
        let model = Model::from_profile(host(s, t, d)).unwrap();
        let priced = model.price(&p).unwrap();
        let other = cond.with_utilisation(rho).unwrap();
        match (priced.unqueued(&inv, &cond), priced.evaluate(&inv, &other)) {
            (Ok(u), Ok(c)) => {
                let q = u.queued(&other);
                prop_assert_eq!(format!("{q:?}"), format!("{c:?}"));
                prop_assert_eq!(q.latency.get().to_bits(), c.latency.get().to_bits());
                prop_assert_eq!(u.storage_cpu(), c.storage_cpu);
                prop_assert_eq!(u.compute_cpu(), c.compute_cpu);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
    }

    // Property: the storage CPU of a remote placement never decreases as records grow.
    #[test]
    fn remote_storage_cpu_is_non_decreasing_in_records(
        s in scheme_costs(), t in transport_costs(), inv in invocation(),
        cond in conditions(), m in 1u32..16, k1 in 0.0..64.0f64, dk in 0.0..64.0f64,
    ) {
        let model = Model::from_profile(host(s, t, 200.0)).unwrap();
        let (sid, tid) = ids();
        let p = model.price(&Placement::remote(sid, tid).with_multiget(NonZeroU32::new(m).unwrap())).unwrap();
        let a = p.evaluate(&inv.with_records(k1).unwrap(), &cond).unwrap().storage_cpu.get();
        let b = p.evaluate(&inv.with_records(k1 + dk).unwrap(), &cond).unwrap().storage_cpu.get();
        prop_assert!(b + 1e-9 >= a, "{a} -> {b}");
    }

    // Property: the storage CPU of an inside placement never decreases as compute grows.
    #[test]
    fn inside_storage_cpu_is_non_decreasing_in_compute(
        s in scheme_costs(), t in transport_costs(), inv in invocation(),
        cond in conditions(), c1 in 0.0..1e6f64, dc in 0.0..1e6f64,
    ) {
        let model = Model::from_profile(host(s, t, 200.0)).unwrap();
        let (sid, tid) = ids();
        let p = model.price(&Placement::inside(sid, tid)).unwrap();
        let a = p.evaluate(&inv.with_compute(Nanos::new(c1)).unwrap(), &cond).unwrap().storage_cpu.get();
        let b = p.evaluate(&inv.with_compute(Nanos::new(c1 + dc)).unwrap(), &cond).unwrap().storage_cpu.get();
        prop_assert!(b + 1e-9 >= a, "{a} -> {b}");
    }

    // Property: `evaluate` agrees with the crossover formula on both sides of k*: for whole
    // numbers of records below k* the remote placement uses less storage CPU, above it the
    // inside placement does.
    #[test]
    fn evaluate_agrees_with_crossover_on_both_sides(
        s in scheme_costs(), t in transport_costs(), inv in invocation(), cond in conditions(),
        lookup in 0.0..1_000.0f64, scattered in 0.0..500.0f64,
    ) {
        let mut h = host(s, t, 200.0);
        h.scattered_access = Some(Estimate::cited(Nanos::new(scattered), "test"));
        let model = Model::from_profile(h)
            .unwrap()
            .with_storage_lookup(Nanos::new(lookup))
            .unwrap();
        let (sid, tid) = ids();
        let inside = model.price(&Placement::inside(sid, tid)).unwrap();
        let remote = model.price(&Placement::remote(sid, tid)).unwrap();
        let x = costmodel::crossover(&inside, &remote, &inv, &cond).unwrap();
        for k in 1..=64u32 {
            let k = f64::from(k);
            let i = inside.evaluate(&inv.with_records(k).unwrap(), &cond).unwrap().storage_cpu.get();
            let r = remote.evaluate(&inv.with_records(k).unwrap(), &cond).unwrap().storage_cpu.get();
            let tol = 1e-6 * i.max(r).max(1.0);
            match x {
                Crossover::At(ks) if k > ks * (1.0 + 1e-9) => prop_assert!(i <= r + tol, "k={k} k*={ks}: {i} > {r}"),
                Crossover::At(ks) if k < ks * (1.0 - 1e-9) => prop_assert!(i + tol >= r, "k={k} k*={ks}: {i} < {r}"),
                Crossover::At(_) => {}
                Crossover::Never => prop_assert!(i + tol >= r, "k={k} never: {i} < {r}"),
            }
        }
    }

    // Property: k* moves right (or inside stops winning) when any isolation cost rises.
    #[test]
    fn crossover_moves_right_when_isolation_gets_costlier(
        s in scheme_costs(), t in transport_costs(), inv in invocation(), cond in conditions(),
        which in 0usize..4, bump in 0.0..5.0f64,
    ) {
        let (sid, tid) = ids();
        let k_star = |s| {
            let model = Model::from_profile(host(s, t, 200.0)).unwrap();
            let inside = model.price(&Placement::inside(sid, tid)).unwrap();
            let remote = model.price(&Placement::remote(sid, tid)).unwrap();
            match costmodel::crossover(&inside, &remote, &inv, &cond).unwrap() {
                Crossover::At(k) => k,
                Crossover::Never => f64::INFINITY,
            }
        };
        let mut costlier = s;
        match which {
            0 => costlier.0 += bump * 1_000.0,
            1 => costlier.1 += bump * 100_000.0,
            2 => costlier.2 += bump * 100.0,
            _ => costlier.3 += bump,
        }
        let (before, after) = (k_star(s), k_star(costlier));
        prop_assert!(after >= before * (1.0 - 1e-12), "{before} -> {after}");
    }

    // Property: saving a host profile as RON and loading it back gives the same profile.
    #[test]
    fn host_profile_save_load_round_trip_is_identity(
        s in scheme_costs(), t in transport_costs(), d in 0.0..2_000.0f64,
    ) {
        let h = host(s, t, d);
        let back = HostProfile::from_ron(&h.to_ron(), "roundtrip").unwrap();
        prop_assert_eq!(back, h);
    }
}

// Property: the bundled workload files survive a save/load round trip unchanged.
#[test]
fn workload_sets_round_trip_through_ron() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/workloads");
    for (name, set) in WorkloadSet::load_dir(dir).unwrap() {
        let back = WorkloadSet::from_ron(&set.to_ron(), &name).unwrap();
        assert_eq!(back, set, "{name}");
    }
}
