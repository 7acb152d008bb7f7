//! The version-2 equations and format: per-byte record access, compute classes, a real server's
//! request terms, and version-1 files read as version 2.

mod common;

use costmodel::{
    Bytes, ComputeClass, Conditions, Factor, HOST_FORMAT_VERSION, HostProfile, Invocation, Model,
    Nanos, NanosPerByte, PerSecond, Regime, SchemeId, Term, TransportId,
};
use proptest::prelude::*;

use common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v2_costs_are_finite_and_non_negative(
        s in scheme_nums(), n in scheme_nums(), server in prop::option::of(server_nums()),
        inv in invocation(), cond in conditions(), m in 1u32..32,
    ) {
        let model = v2_model(s, n, server);
        for regime in [Regime::Multiplexed, Regime::DedicatedCore, Regime::Remote] {
            let Ok(c) = priced(&model, regime, m).evaluate(&inv, &cond) else {
                // Only a dedicated core may be refused.
                prop_assert_eq!(regime, Regime::DedicatedCore);
                continue;
            };
            for x in [c.storage_cpu, c.compute_cpu, c.latency] {
                prop_assert!(x.get().is_finite() && x.get() >= 0.0, "{regime:?}: {c}");
            }
            for t in Term::ALL {
                let v = c.terms.get(t).get();
                prop_assert!(v.is_finite() && v >= 0.0, "{t:?} = {v}");
            }
        }
    }

    #[test]
    fn remote_storage_cpu_grows_with_records(
        s in scheme_nums(), n in scheme_nums(), server in prop::option::of(server_nums()),
        inv in invocation(), cond in conditions(), m in 1u32..32, extra in 0.0..32.0f64,
    ) {
        let pp = priced(&v2_model(s, n, server), Regime::Remote, m);
        let a = pp.evaluate(&inv, &cond).unwrap().storage_cpu.get();
        let b = pp.evaluate(&inv.with_records(inv.records() + extra).unwrap(), &cond).unwrap().storage_cpu.get();
        prop_assert!(b >= a - 1e-9 * a.max(1.0), "{a} -> {b}");
    }

    #[test]
    fn inside_storage_cpu_grows_with_record_size_when_access_has_a_per_byte_part(
        s in scheme_nums(), n in scheme_nums(), server in prop::option::of(server_nums()),
        inv in invocation(), cond in conditions(), grow in 1.0..4096.0f64,
    ) {
        prop_assume!(s.4 > 1e-3 && inv.records() >= 1.0);
        let pp = priced(&v2_model(s, n, server), Regime::Multiplexed, 1);
        let bigger = Invocation::new(inv.records(), inv.record_bytes() + Bytes::new(grow), inv.message_bytes(), inv.compute(), inv.rate()).unwrap().with_dependent_reads(inv.dependent_reads()).with_class(inv.class());
        let a = pp.evaluate(&inv, &cond).unwrap();
        let b = pp.evaluate(&bigger, &cond).unwrap();
        prop_assert!(b.storage_cpu.get() > a.storage_cpu.get(), "{a} -> {b}");
        // Exactly k s g_b more.
        let want = inv.records() * grow * s.4;
        let got = b.storage_cpu.get() - a.storage_cpu.get();
        prop_assert!((got - want).abs() <= 1e-9 * b.storage_cpu.get().max(1.0), "{got} vs {want}");
    }

    #[test]
    fn without_v2_fields_the_results_are_the_version_1_results(
        s in scheme_nums(), n in scheme_nums(), inv in invocation(), cond in conditions(),
        m in 1u32..32,
    ) {
        // A version-1 profile: no server terms, no per-byte access, no classes.
        let v1 = Model::from_profile(host(isolation(s, false), isolation(n, false), transport(None)))
            .unwrap();
        // Classes and pipelining must not move a version-1 profile's costs.
        let plain = Conditions::new(cond.warm_hit(), cond.storage_utilisation(), cond.drained_per_wakeup())
            .unwrap();
        let int_mul = inv.with_class(ComputeClass::IntMul);
        for regime in [Regime::Multiplexed, Regime::DedicatedCore, Regime::Remote] {
            let pp = priced(&v1, regime, m);
            let a = pp.evaluate(&inv, &cond);
            let b = pp.evaluate(&int_mul, &plain);
            prop_assert_eq!(a.is_ok(), b.is_ok());
            let (Ok(a), Ok(b)) = (a, b) else { continue };
            prop_assert_eq!(a, b);
            // And the storage CPU is DESIGN.md §5's version-1 equation, written out here.
            let (w, z, g, f) = (s.0, s.1, s.2, s.3);
            let h = cond.warm_hit();
            let d = cond.drained_per_wakeup();
            let a_s = |idle: f64, sat: f64| sat + (idle - sat) / d;
            let scattered = 80.0 * if inv.dependent_reads() { inv.records() } else { inv.records().min(1.0) };
            let want = match regime {
                Regime::Multiplexed => a_s(20_000.0, 1_200.0) + 0.3 * inv.message_bytes().get() + 400.0 + w
                    + (1.0 - h) * z + inv.records() * g + scattered + f * inv.compute().get(),
                // Remote: the first record of every request is scattered too.
                Regime::Remote => (inv.records() / f64::from(m)).ceil() * a_s(20_000.0, 1_200.0)
                    + inv.records() * inv.record_bytes().get() * 0.3 + inv.records() * n.2
                    + scattered.max(80.0 * (inv.records() / f64::from(m)).ceil()),
                Regime::DedicatedCore => {
                    let busy = 1_200.0 + 0.3 * inv.message_bytes().get() + inv.records() * g + scattered
                        + f * inv.compute().get();
                    busy + (1e9 / inv.rate().get() - busy).max(0.0)
                }
            };
            let got = a.storage_cpu.get();
            prop_assert!((got - want).abs() <= 1e-9 * want.max(1.0), "{regime:?}: {got} vs {want}");
        }
    }

    #[test]
    fn more_requests_per_syscall_or_wakeup_never_raise_the_cost(
        s in scheme_nums(), n in scheme_nums(), server in prop::option::of(server_nums()),
        inv in invocation(), cond in conditions(), m in 1u32..32,
        more_d in 0.0..32.0f64, more_y in 0.0..32.0f64,
    ) {
        let model = v2_model(s, n, server);
        let more = cond
            .with_drained(cond.drained_per_wakeup() + more_d).unwrap()
            .with_requests_per_syscall(cond.requests_per_syscall() + more_y).unwrap();
        for regime in [Regime::Multiplexed, Regime::Remote] {
            let pp = priced(&model, regime, m);
            let a = pp.evaluate(&inv, &cond).unwrap();
            let b = pp.evaluate(&inv, &more).unwrap();
            let slack = 1e-9 * a.storage_cpu.get().max(1.0);
            prop_assert!(b.storage_cpu.get() <= a.storage_cpu.get() + slack, "{a} -> {b}");
            prop_assert!(b.compute_cpu.get() <= a.compute_cpu.get() + slack, "{a} -> {b}");
        }
    }

    // Property: with version-2 terms (server terms, per-byte access, classes, pipelining) the
    // crossover still agrees with `evaluate` on both sides of k*.
    #[test]
    fn evaluate_agrees_with_the_v2_crossover_on_both_sides(
        s in scheme_nums(), n in scheme_nums(), server in prop::option::of(server_nums()),
        inv in invocation(), cond in conditions(),
    ) {
        let model = v2_model(s, n, server);
        let inside = priced(&model, Regime::Multiplexed, 1);
        let remote = priced(&model, Regime::Remote, 1);
        let x = costmodel::crossover(&inside, &remote, &inv, &cond).unwrap();
        for k in 1..=64u32 {
            let k = f64::from(k);
            let i = inside.evaluate(&inv.with_records(k).unwrap(), &cond).unwrap().storage_cpu.get();
            let r = remote.evaluate(&inv.with_records(k).unwrap(), &cond).unwrap().storage_cpu.get();
            let tol = 1e-6 * i.max(r).max(1.0);
            match x {
                costmodel::Crossover::At(ks) if k > ks * (1.0 + 1e-9) => {
                    prop_assert!(i <= r + tol, "k={k} k*={ks}: {i} > {r}");
                }
                costmodel::Crossover::At(ks) if k < ks * (1.0 - 1e-9) => {
                    prop_assert!(i + tol >= r, "k={k} k*={ks}: {i} < {r}");
                }
                costmodel::Crossover::At(_) => {}
                costmodel::Crossover::Never => prop_assert!(i + tol >= r, "k={k} never: {i} < {r}"),
            }
        }
    }

    #[test]
    fn a_missing_class_falls_back_to_the_version_1_slowdown(
        s in scheme_nums(), n in scheme_nums(), inv in invocation(), cond in conditions(),
    ) {
        let mut only_arith = isolation(s, true);
        only_arith.slowdown_by_class.remove(&ComputeClass::Memory);
        let model = Model::from_profile(host(only_arith, isolation(n, true), transport(None))).unwrap();
        let pp = priced(&model, Regime::Multiplexed, 1);
        let compute = |k| pp.evaluate(&inv.with_class(k), &cond).unwrap().terms.get(Term::Compute).get();
        prop_assert_eq!(compute(ComputeClass::Memory), compute(ComputeClass::IntMul));
        prop_assert!((compute(ComputeClass::Arith) - s.5 * inv.compute().get()).abs() <= 1e-9 * compute(ComputeClass::Arith).max(1.0));
    }
}

#[test]
fn a_remote_fetch_pays_the_servers_terms_per_request_and_per_key() {
    let scheme = (1_000.0, 1e6, 100.0, 2.0, 0.0, 1.0, 1.0);
    let server = (1_000.0, 2_000.0, 8_000.0, 150.0, 0.01);
    let model = v2_model(scheme, scheme, Some(server));
    let inv = Invocation::new(
        10.0,
        Bytes::new(1_000.0),
        Bytes::new(0.0),
        Nanos::new(0.0),
        PerSecond::new(100.0),
    )
    .unwrap();
    // 16 clients share a wake-up, 4 requests share a system call.
    let cond = Conditions::new(1.0, 0.0, 16.0)
        .unwrap()
        .with_requests_per_syscall(4.0)
        .unwrap();
    let c = priced(&model, Regime::Remote, 4)
        .evaluate(&inv, &cond)
        .unwrap();
    // ceil(10 / 4) = 3 requests of 1000 + 2000/4 + 8000/16 = 2000 ns, less the scattered read
    // (80 ns) each calibration request carried: the model charges it per scattered read below.
    assert!((c.terms.get(Term::ServerRequest).get() - 3.0 * 1_920.0).abs() < 1e-9);
    // 10 records of 1000 bytes at 0.01 ns/B.
    assert!((c.terms.get(Term::ServerBytes).get() - 100.0).abs() < 1e-9);
    // 150 ns per key replaces the native lookup; plus one scattered read (80 ns) per request:
    // each request's first key, so every request pays the terms' 2000 ns in all.
    assert!((c.terms.get(Term::LocalAccess).get() - (1_500.0 + 3.0 * 80.0)).abs() < 1e-9);
    assert!((c.storage_cpu.get() - 7_600.0).abs() < 1e-9, "{c}");
}

#[test]
fn a_reply_pays_the_peer_wake_up_only_when_its_client_sleeps() {
    let scheme = (1_000.0, 1e6, 100.0, 2.0, 0.0, 1.0, 1.0);
    let server = (1_000.0, 2_000.0, 8_000.0, 150.0, 0.0);
    let with_peer = |v: Option<f64>| {
        let mut t = transport(Some(server));
        if let Some(st) = t.server_terms.as_mut() {
            st.per_peer_wakeup = v.map(|v| cited(Nanos::new(v)));
        }
        Model::from_profile(host(isolation(scheme, true), isolation(scheme, true), t)).unwrap()
    };
    let inv = Invocation::new(
        1.0,
        Bytes::new(100.0),
        Bytes::new(0.0),
        Nanos::new(0.0),
        PerSecond::new(100.0),
    )
    .unwrap();
    let request = |m: &Model, cond: &Conditions| {
        priced(m, Regime::Remote, 1)
            .evaluate(&inv, cond)
            .unwrap()
            .terms
            .get(Term::ServerRequest)
            .get()
    };
    let cond = Conditions::new(1.0, 0.0, 4.0).unwrap();
    // Without v: 1000 + 2000 + 8000/4, whatever the clients do, less the calibration requests'
    // scattered read (80 ns).
    let old = with_peer(None);
    assert!((request(&old, &cond) - 4_920.0).abs() < 1e-9);
    let asleep = cond.with_peer_wakeups_per_request(0.5).unwrap();
    assert!((request(&old, &asleep) - 4_920.0).abs() < 1e-9);
    // With v = 12000: one client per server wake-up by default (12000/4), else as given.
    let new = with_peer(Some(12_000.0));
    assert!((request(&new, &cond) - 7_920.0).abs() < 1e-9);
    assert!((request(&new, &asleep) - 10_920.0).abs() < 1e-9);
    let busy = cond.with_peer_wakeups_per_request(0.0).unwrap();
    assert!((request(&new, &busy) - 4_920.0).abs() < 1e-9);
    // Kept by the other builders; checked when set.
    assert_eq!(
        busy.with_drained(8.0).unwrap().peer_wakeups_per_request(),
        Some(0.0)
    );
    assert_eq!(
        Conditions::default()
            .with_peer_wakeups_per_request(-0.5)
            .unwrap_err()
            .to_string(),
        "conditions: peer_wakeups_per_request must be >= 0, got -0.5"
    );
    assert!(
        Conditions::default()
            .with_peer_wakeups_per_request(f64::INFINITY)
            .unwrap_err()
            .to_string()
            .contains("peer_wakeups_per_request")
    );
}

#[test]
fn a_refusal_is_a_value_with_the_old_message() {
    let scheme = (1_000.0, 1e6, 100.0, 2.0, 0.0, 1.0, 1.0);
    let model = v2_model(scheme, scheme, None);
    let pp = priced(&model, Regime::DedicatedCore, 1);
    let inv = Invocation::new(
        1.0,
        Bytes::new(100.0),
        Bytes::new(0.0),
        Nanos::new(1e6),
        PerSecond::new(10_000.0),
    )
    .unwrap();
    let cond = Conditions::default();
    let r = pp
        .refusal(&inv, &cond)
        .expect("2 ms of work at 10,000/s is refused");
    assert!(matches!(r, costmodel::Refusal::CannotKeepUp { utilisation } if utilisation > 19.0));
    let err = pp.evaluate(&inv, &cond).unwrap_err();
    assert!(matches!(err, costmodel::CostError::Refused { .. }));
    assert!(
        err.to_string()
            .contains("one dedicated core cannot keep up: utilisation 20.0"),
        "{err}"
    );
    assert_eq!(
        pp.refusal(&inv.with_rate(PerSecond::ZERO).unwrap(), &cond)
            .map(|r| r.to_string()),
        Some("a dedicated core needs arrival rate > 0, got 0".to_owned())
    );
    assert_eq!(
        pp.refusal(&inv.with_rate(PerSecond::new(1.0)).unwrap(), &cond),
        None
    );
}

#[test]
fn pipelining_depth_is_checked_and_kept_by_the_other_builders() {
    let err = Conditions::default()
        .with_requests_per_syscall(0.5)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "conditions: requests_per_syscall must be >= 1, got 0.5"
    );
    assert!(
        Conditions::default()
            .with_requests_per_syscall(f64::NAN)
            .is_err()
    );
    let c = Conditions::default()
        .with_requests_per_syscall(8.0)
        .unwrap()
        .with_drained(4.0)
        .unwrap()
        .with_warm_hit(0.5)
        .unwrap()
        .with_utilisation(0.2)
        .unwrap();
    assert_eq!(c.requests_per_syscall(), 8.0);
}

#[test]
fn version_1_fixtures_load_as_version_2_save_and_reload_equal() {
    let dir = std::env::temp_dir().join(format!("costmodel-v2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("format_version: 1"),
            "{} is a v1 file",
            path.display()
        );
        let loaded = HostProfile::load(&path).unwrap();
        assert_eq!(loaded.format_version, HOST_FORMAT_VERSION);
        assert!(loaded.transports.values().all(|t| t.server_terms.is_none()));
        let out = dir.join(path.file_name().unwrap());
        loaded.save(&out).unwrap();
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("format_version: 2")
        );
        let again = HostProfile::load(&out).unwrap();
        assert_eq!(again, loaded, "{}", path.display());
        seen += 1;
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(seen >= 3, "found {seen} host fixtures");
}

#[test]
fn a_version_2_profile_round_trips_with_every_new_field() {
    let scheme = (1_000.0, 1e6, 100.0, 2.0, 0.05, 5.0, 1.5);
    let mut h = host(
        isolation(scheme, true),
        isolation(scheme, true),
        transport(Some((1.0, 2.0, 3.0, 4.0, 0.5))),
    );
    h.transports
        .insert(TransportId::new("tcp").unwrap(), transport(None));
    if let Some(st) = h
        .transports
        .values_mut()
        .find_map(|t| t.server_terms.as_mut())
    {
        st.per_peer_wakeup = Some(cited(Nanos::new(9_000.0)));
    }
    let text = h.to_ron();
    assert!(
        text.contains("resp@redis-7.0")
            && text.contains("per_syscall")
            && text.contains("per_peer_wakeup")
            && text.contains("arith")
    );
    assert_eq!(HostProfile::from_ron(&text, "v2.ron").unwrap(), h);
}

#[test]
fn bad_v2_fields_are_errors_naming_the_field() {
    let scheme = (1_000.0, 1e6, 100.0, 2.0, 0.05, 5.0, 1.5);
    let good = host(
        isolation(scheme, true),
        isolation(scheme, true),
        transport(Some((1.0, 2.0, 3.0, 4.0, 0.5))),
    );
    let mut h = good.clone();
    if let Some(t) = h
        .transports
        .values_mut()
        .next()
        .and_then(|t| t.server_terms.as_mut())
    {
        t.per_key = cited(Nanos::new(-4.0));
    }
    let err = h.validate("h.ron").unwrap_err().to_string();
    assert_eq!(
        err,
        "h.ron: transports.resp@redis-7.0.server_terms.per_key.point must be >= 0, got -4"
    );
    let mut h = good.clone();
    if let Some(t) = h
        .transports
        .values_mut()
        .next()
        .and_then(|t| t.server_terms.as_mut())
    {
        t.per_peer_wakeup = Some(cited(Nanos::new(f64::NAN)));
    }
    let err = h.validate("h.ron").unwrap_err().to_string();
    assert!(
        err.starts_with("h.ron: transports.resp@redis-7.0.server_terms.per_peer_wakeup.point"),
        "{err}"
    );
    let mut h = good.clone();
    if let Some(s) = h.isolation.values_mut().next() {
        s.slowdown_by_class
            .insert(ComputeClass::Memory, cited(Factor::new(0.0)));
    }
    let err = h.validate("h.ron").unwrap_err().to_string();
    // (The bound's wording belongs to the factor's domain check.)
    assert!(
        err.starts_with("h.ron: isolation.native.slowdown_by_class.memory.point must be"),
        "{err}"
    );
    let mut h = good;
    if let Some(s) = h.isolation.values_mut().next() {
        s.local_access_per_byte = Some(cited(NanosPerByte::new(f64::NAN)));
    }
    let err = h.validate("h.ron").unwrap_err().to_string();
    assert!(
        err.contains("local_access_per_byte.point must be a finite number"),
        "{err}"
    );
    let text = HostProfile::from_ron(
        &host(
            isolation(scheme, true),
            isolation(scheme, true),
            transport(Some((1.0, 2.0, 3.0, 4.0, 0.5))),
        )
        .to_ron()
        .replace("points: 12", "points: 12, pointz: 3"),
        "x.ron",
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.starts_with("x.ron:") && text.contains("pointz"),
        "{text}"
    );
}

#[test]
fn the_storage_lookup_can_come_from_another_scheme() {
    let native = (1_000.0, 1e6, 100.0, 2.0, 0.0, 1.0, 1.0);
    let lua = (1_000.0, 1e6, 700.0, 80.0, 0.25, 5.0, 2.0);
    let model = Model::from_profile(host(
        isolation(lua, true),
        isolation(native, true),
        transport(None),
    ))
    .unwrap();
    assert_eq!(model.storage_lookup().get(), 100.0);
    let model = model
        .with_storage_scheme(SchemeId::new("s").unwrap())
        .unwrap();
    assert_eq!(model.storage_lookup().get(), 700.0);
    assert_eq!(model.storage_lookup_per_byte().get(), 0.25);
    let pp = priced(&model, Regime::Remote, 1);
    assert_eq!(pp.remote_lookup(Bytes::new(1_000.0)).get(), 700.0 + 250.0);
    assert!(
        model
            .with_storage_scheme(SchemeId::new("nope").unwrap())
            .is_err()
    );
}
