//! Accepted input yields finite costs (issue 12): magnitudes that would overflow the equations
//! are refused at load, naming the field, the value and the limit.

use costmodel::{
    Arrival, Conditions, HostProfile, Model, Nanos, PerSecond, Placement, Regime, SchemeId,
    TransportId, WorkloadSet,
};
use std::num::NonZeroU32;

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/../fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn sweep() -> String {
    fixture("workloads/fig2-records-sweep.ron")
}

/// Loads `text`; when it is accepted, every default placement's cost must be finite.
fn loaded_or_error(text: &str) -> Result<(), String> {
    let set = WorkloadSet::from_ron(text, "w.ron").map_err(|e| e.to_string())?;
    let model =
        Model::from_profile(HostProfile::from_ron(&fixture("hosts/reference.ron"), "h").unwrap())
            .unwrap();
    for w in &set.workloads {
        for p in model.default_candidates() {
            for rho in [0.0, 0.5, 0.99] {
                let cond = Conditions::new(1.0, rho, 1.0).unwrap();
                if let Ok(c) = model.evaluate(w, &p, &cond) {
                    for v in [c.storage_cpu.get(), c.compute_cpu.get(), c.latency.get()] {
                        assert!(v.is_finite() && v >= 0.0, "{p}: {c:?}");
                    }
                }
            }
        }
    }
    Ok(())
}

fn refused(text: &str, field: &str) {
    let err = loaded_or_error(text).expect_err("a value past the format's limit was accepted");
    assert!(err.starts_with("w.ron"), "{err}");
    assert!(err.contains(field), "{field} not in {err}");
}

#[test]
fn huge_records_per_invocation_is_refused() {
    refused(
        &sweep().replacen(
            "records_per_invocation: 1.0",
            "records_per_invocation: 1e308",
            1,
        ),
        "records_per_invocation",
    );
}

#[test]
fn huge_compute_is_refused() {
    refused(
        &sweep().replacen("compute: (base: 0.0,", "compute: (base: 1e308,", 1),
        "compute.base",
    );
    refused(
        &sweep().replacen(
            "per_input_byte: 0.0, input_bytes: 0.0",
            "per_input_byte: 1e300, input_bytes: 1e9",
            1,
        ),
        "compute.per_input_byte",
    );
}

#[test]
fn huge_message_bytes_are_refused() {
    refused(
        &sweep().replacen("request_bytes: 64.0", "request_bytes: 1e308", 1),
        "request_bytes",
    );
    refused(
        &sweep().replacen("response_bytes: 16.0", "response_bytes: 1e308", 1),
        "response_bytes",
    );
}

#[test]
fn huge_and_tiny_arrival_rates_are_refused() {
    refused(
        &sweep().replacen("rate: 100000.0", "rate: 1e308", 1),
        "arrival.rate",
    );
    // 1e9 / 1e-300 ns between arrivals overflows the batch wait and a dedicated core's
    // reservation.
    refused(
        &sweep().replacen("rate: 100000.0", "rate: 1e-300", 1),
        "arrival.rate",
    );
}

#[test]
fn huge_transport_per_byte_cost_is_refused() {
    let text = fixture("hosts/reference.ron").replacen("point: 0.0815", "point: 1e308", 1);
    let text = text.replacen("upper: 0.0815", "upper: 1e308", 1);
    let err = HostProfile::from_ron(&text, "h.ron")
        .unwrap_err()
        .to_string();
    assert!(err.contains("per_byte.point"), "{err}");
}

#[test]
fn warm_hit_probability_is_never_nan() {
    for rate in [1e308, 1e9, 1.0, 1e-300, 0.0] {
        for cv in [0.0, 1e-200, 0.5, 1.0, 3.0, 1e3, 1e200] {
            for keep in [0.0, 1.0, 1e9, 1e15, 1e300, f64::MAX] {
                let mut a = Arrival::poisson(PerSecond::new(rate));
                a.cv = cv;
                let h = a.warm_hit_probability(Nanos::new(keep));
                assert!(
                    (0.0..=1.0).contains(&h),
                    "rate {rate} cv {cv} keep {keep}: {h}"
                );
            }
        }
    }
}

#[test]
fn a_dedicated_core_at_the_slowest_accepted_rate_is_finite() {
    let text = sweep().replacen("rate: 100000.0", "rate: 0.000000000001", 1);
    let set = WorkloadSet::from_ron(&text, "w").unwrap();
    let model =
        Model::from_profile(HostProfile::from_ron(&fixture("hosts/reference.ron"), "h").unwrap())
            .unwrap();
    let p = Placement::inside(
        SchemeId::new("wasm").unwrap(),
        TransportId::new("tcp").unwrap(),
    )
    .with_regime(Regime::DedicatedCore)
    .with_batch(NonZeroU32::new(8).unwrap());
    let c = model
        .evaluate(&set.workloads[0], &p, &Conditions::default())
        .unwrap();
    assert!(
        c.latency.get().is_finite() && c.storage_cpu.get().is_finite(),
        "{c:?}"
    );
}
