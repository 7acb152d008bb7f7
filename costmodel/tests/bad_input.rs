//! Bad input gets a clear error naming the file, field and value; never a panic.

use costmodel::{
    Conditions, CostError, HostProfile, Model, Placement, SchemeId, TransportId, WorkloadSet,
};

fn reference_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/hosts/reference.ron"
    ))
    .unwrap()
}

fn sweep_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/workloads/fig2-records-sweep.ron"
    ))
    .unwrap()
}

#[test]
fn malformed_ron_names_the_file_and_position() {
    let err = HostProfile::from_ron("(format_version: 1, host: (", "broken.ron").unwrap_err();
    assert!(matches!(err, CostError::Parse { .. }), "{err:?}");
    assert!(err.to_string().starts_with("broken.ron:"), "{err}");
}

#[test]
fn wrong_format_version_is_refused_before_fields_are_read() {
    let text = reference_text().replacen("format_version: 1", "format_version: 7", 1);
    let err = HostProfile::from_ron(&text, "x.ron")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "x.ron: format_version must be 1 to 2, got 7");
}

#[test]
fn missing_format_version_is_an_error() {
    let text = reference_text().replacen("format_version: 1,", "", 1);
    let err = HostProfile::from_ron(&text, "x.ron")
        .unwrap_err()
        .to_string();
    assert!(err.contains("format_version is missing"), "{err}");
}

#[test]
fn negative_per_byte_cost_names_the_field_and_value() {
    // The tcp server per-byte slope of the unloaded regime is the first `per_byte` after "tcp".
    let text = reference_text();
    let at = text.find("\"tcp\"").unwrap();
    let rel = text[at..].find("server: (per_request").unwrap();
    let pb = at + rel + text[at + rel..].find("per_byte: (point: 0.0815").unwrap();
    let bad = format!(
        "{}{}",
        &text[..pb],
        text[pb..].replacen("point: 0.0815", "point: -0.2", 1)
    );
    let err = HostProfile::from_ron(&bad, "fixtures/hosts/x.ron")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "fixtures/hosts/x.ron: transports.tcp.unloaded.server.per_byte.point must be >= 0, got -0.2"
    );
}

#[test]
fn nan_cost_is_rejected_with_its_field() {
    let text = reference_text().replacen("point: 27.5", "point: NaN", 1);
    let err = HostProfile::from_ron(&text, "h.ron")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("isolation.wasm.warm_invoke.point must be a finite number, got NaN"),
        "{err}"
    );
}

#[test]
fn negative_workload_field_is_rejected_with_its_path() {
    let text = sweep_text().replacen("record_bytes: 100.0", "record_bytes: -1.0", 1);
    let err = WorkloadSet::from_ron(&text, "w.ron")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "w.ron: workloads[0].record_bytes must be >= 0, got -1");
}

#[test]
fn empty_workload_set_is_an_error() {
    let err = WorkloadSet::from_ron("(format_version: 1, workloads: [])", "empty.ron")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "empty.ron: workloads must not be empty");
}

#[test]
fn unknown_chain_target_is_an_error() {
    let text = sweep_text().replacen(
        "slo: None,",
        "slo: None, chain: [(to: \"nowhere\", bytes: 10.0)],",
        1,
    );
    let err = WorkloadSet::from_ron(&text, "c.ron")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown function id \"nowhere\""), "{err}");
}

#[test]
fn unknown_scheme_and_transport_ids_are_errors_listing_the_known_ones() {
    let host = HostProfile::from_ron(&reference_text(), "ref").unwrap();
    let model = Model::from_profile(host).unwrap();
    let tcp = TransportId::new("tcp").unwrap();
    let err = model
        .price(&Placement::inside(SchemeId::new("gvisor").unwrap(), tcp))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown scheme id \"gvisor\""), "{err}");
    assert!(err.contains("wasm"), "{err}");
    let err = model
        .price(&Placement::inside(
            SchemeId::new("wasm").unwrap(),
            TransportId::new("rdma").unwrap(),
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown transport id \"rdma\""), "{err}");
}

#[test]
fn bad_ids_in_files_are_errors() {
    let text = sweep_text().replacen("id: \"sweep-k1\"", "id: \"Sweep K1\"", 1);
    let err = WorkloadSet::from_ron(&text, "w.ron")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid function id \"Sweep K1\""), "{err}");
}

#[test]
fn out_of_range_conditions_are_errors() {
    assert!(Conditions::new(f64::NAN, 0.0, 1.0).is_err());
    let err = Conditions::new(1.0, 1.0, 1.0).unwrap_err().to_string();
    assert!(
        err.contains("storage_utilisation must be in [0, 1), got 1"),
        "{err}"
    );
    assert!(Conditions::new(1.0, 0.0, 0.5).is_err());
    assert!(Conditions::new(-0.1, 0.0, 1.0).is_err());
}

#[test]
fn zero_multiget_cannot_be_written_or_read() {
    // The type rules it out (`NonZeroU32`); a file that spells it is refused when read.
    let p = Placement::remote(
        SchemeId::new("native").unwrap(),
        TransportId::new("tcp").unwrap(),
    );
    let text = ron::to_string(&p).unwrap();
    assert!(text.contains("multiget:1"), "{text}");
    assert_eq!(ron::from_str::<Placement>(&text).unwrap(), p);
    let zero = text.replace("multiget:1", "multiget:0");
    let err = ron::from_str::<Placement>(&zero).unwrap_err().to_string();
    assert!(err.contains("nonzero"), "{err}");
}

#[test]
fn dedicated_core_without_arrivals_is_refused_with_a_reason() {
    let model =
        Model::from_profile(HostProfile::from_ron(&reference_text(), "ref").unwrap()).unwrap();
    let mut w = WorkloadSet::from_ron(&sweep_text(), "s").unwrap().workloads[0].clone();
    w.arrival.rate = costmodel::PerSecond::new(0.0);
    let p = Placement::inside(
        SchemeId::new("wasm").unwrap(),
        TransportId::new("tcp").unwrap(),
    )
    .with_regime(costmodel::Regime::DedicatedCore);
    let err = model
        .evaluate(&w, &p, &Conditions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("arrival rate > 0"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = HostProfile::load("/nonexistent/host.ron")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/nonexistent/host.ron:"), "{err}");
}

#[test]
fn an_invocation_is_checked_when_it_is_built_naming_the_number() {
    use costmodel::{Bytes, Invocation, Nanos, PerSecond};
    let ok = Invocation::new(
        4.0,
        Bytes::new(128.0),
        Bytes::new(64.0),
        Nanos::new(1_000.0),
        PerSecond::new(100.0),
    )
    .unwrap();
    let cases = [
        (
            Invocation::new(
                f64::NAN,
                Bytes::new(1.0),
                Bytes::ZERO,
                Nanos::ZERO,
                PerSecond::ZERO,
            ),
            "records",
        ),
        (
            Invocation::new(
                1.0,
                Bytes::new(-1.0),
                Bytes::ZERO,
                Nanos::ZERO,
                PerSecond::ZERO,
            ),
            "record_bytes",
        ),
        (
            Invocation::new(
                1.0,
                Bytes::ZERO,
                Bytes::ZERO,
                Nanos::ZERO,
                PerSecond::new(1e-20),
            ),
            "rate",
        ),
        (ok.with_records(-2.0), "records"),
        (ok.with_compute(Nanos::new(f64::INFINITY)), "compute"),
        (ok.with_rate(PerSecond::new(-1.0)), "rate"),
    ];
    for (result, field) in cases {
        let e = result.unwrap_err().to_string();
        assert!(e.starts_with(&format!("invocation: {field} ")), "{e}");
    }
    assert_eq!(ok.with_records(8.0).unwrap().records(), 8.0);
}

#[test]
fn coefficients_are_built_only_from_checked_costs() {
    use costmodel::{SchemeCoeffs, ServerCoeffs, TransportCoeffs};
    let host = HostProfile::from_ron(&reference_text(), "ref").unwrap();
    let wasm = &host.isolation[&SchemeId::new("wasm").unwrap()];
    let tcp = &host.transports[&TransportId::new("tcp").unwrap()];
    assert_eq!(
        SchemeCoeffs::try_from(wasm).unwrap().warm_invoke(),
        wasm.warm_invoke.point
    );
    assert_eq!(
        TransportCoeffs::try_from(tcp).unwrap().round_trip(),
        tcp.unloaded.round_trip.point
    );
    let mut bad = wasm.clone();
    bad.cold_start.point = costmodel::Nanos::new(-5.0);
    let e = SchemeCoeffs::try_from(&bad).unwrap_err().to_string();
    assert!(e.contains("cold_start") && e.contains("-5"), "{e}");
    let mut bad = tcp.clone();
    bad.unloaded.round_trip.point = costmodel::Nanos::new(f64::NAN);
    let e = TransportCoeffs::try_from(&bad).unwrap_err().to_string();
    assert!(e.contains("round_trip") && e.contains("NaN"), "{e}");
    let terms = costmodel::ServerRequestTerms {
        server: String::new(),
        processing: costmodel::Estimate::cited(costmodel::Nanos::new(-1.0), "test"),
        per_syscall: costmodel::Estimate::cited(costmodel::Nanos::new(1.0), "test"),
        per_wakeup: costmodel::Estimate::cited(costmodel::Nanos::new(1.0), "test"),
        per_peer_wakeup: None,
        per_key: costmodel::Estimate::cited(costmodel::Nanos::new(1.0), "test"),
        per_byte: costmodel::Estimate::cited(costmodel::NanosPerByte::new(0.1), "test"),
        fit_r2: None,
        points: 5,
    };
    let e = ServerCoeffs::try_from(&terms).unwrap_err().to_string();
    assert!(e.contains("processing"), "{e}");
}
