//! Property (issue 12): every input the formats accept, up to their documented limits, gives
//! finite, non-negative costs and a finite crossover, or a refusal that is not an overflow.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use costmodel::limits::{
    MAX_BYTES, MAX_COMPUTE_NANOS, MAX_CV, MAX_NANOS, MAX_NANOS_PER_BYTE, MAX_RATE, MAX_RECORDS,
    MAX_SLOWDOWN, MIN_RATE, MIN_SLOWDOWN,
};
use costmodel::{
    Arrival, Bytes, Compute, Conditions, CostError, Estimate, Factor, HOST_FORMAT_VERSION,
    HostIdentity, HostProfile, IsolationCosts, Model, Nanos, NanosPerByte, PerSecond, Placement,
    Regime, SchemeId, Support, TransportCosts, TransportId, WorkloadProfile,
};
use proptest::prelude::*;

/// 0, the limit itself, or log-uniform from 1e-12 up to `max`.
fn upto(max: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(0.0),
        1 => Just(max),
        6 => (-12.0..max.log10()).prop_map(move |e: f64| 10f64.powf(e).min(max)),
    ]
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(MIN_RATE),
        Just(MAX_RATE),
        (MIN_RATE.log10()..MAX_RATE.log10()).prop_map(|e: f64| 10f64.powf(e)),
    ]
}

fn scheme() -> impl Strategy<Value = IsolationCosts> {
    (
        upto(MAX_NANOS),
        upto(MAX_NANOS),
        upto(MAX_NANOS),
        MIN_SLOWDOWN..=MAX_SLOWDOWN,
        upto(MAX_NANOS_PER_BYTE),
    )
        .prop_map(|(w, z, g, f, gb)| IsolationCosts {
            description: String::new(),
            warm_invoke: Estimate::cited(Nanos::new(w), "p"),
            cold_start: Estimate::cited(Nanos::new(z), "p"),
            local_access: Estimate::cited(Nanos::new(g), "p"),
            slowdown: Estimate::cited(Factor::new(f), "p"),
            memory_per_context: Estimate::cited(Bytes::new(MAX_BYTES), "p"),
            requirements: Vec::new(),
            support: Support::Supported,
            details: BTreeMap::new(),
            local_access_per_byte: Some(Estimate::cited(NanosPerByte::new(gb), "p")),
            slowdown_by_class: BTreeMap::new(),
        })
}

fn transport() -> impl Strategy<Value = TransportCosts> {
    (
        upto(MAX_NANOS),
        upto(MAX_NANOS_PER_BYTE),
        upto(MAX_NANOS),
        upto(MAX_NANOS),
    )
        .prop_map(|(a, b, rtt, sat)| {
            TransportCosts::literature(
                Nanos::new(a),
                NanosPerByte::new(b),
                Nanos::new(rtt),
                Nanos::new(sat),
                "p",
            )
        })
}

fn host() -> impl Strategy<Value = HostProfile> {
    (
        scheme(),
        scheme(),
        transport(),
        upto(MAX_NANOS),
        upto(MAX_NANOS),
    )
        .prop_map(|(native, other, t, dispatch, scattered)| HostProfile {
            format_version: HOST_FORMAT_VERSION,
            host: HostIdentity::default(),
            dispatch: Estimate::cited(Nanos::new(dispatch), "p"),
            memory_copy: None,
            scattered_access: Some(Estimate::cited(Nanos::new(scattered), "p")),
            table_access: None,
            transports: [(TransportId::new("t").unwrap(), t)].into(),
            isolation: [
                (SchemeId::new("native").unwrap(), native),
                (SchemeId::new("s").unwrap(), other),
            ]
            .into(),
            flags: Vec::new(),
            noise: None,
        })
}

fn workload() -> impl Strategy<Value = WorkloadProfile> {
    (
        (
            upto(MAX_RECORDS),
            upto(MAX_BYTES),
            upto(MAX_BYTES),
            upto(MAX_BYTES),
        ),
        (upto(MAX_NANOS), 0.0..=1.0f64, upto(MAX_BYTES)),
        (rate(), upto(MAX_CV), any::<bool>()),
    )
        .prop_map(
            |((k, s, q, r), (c, share, ci), (rate, cv, dep))| WorkloadProfile {
                id: "f".parse().unwrap(),
                description: String::new(),
                records_per_invocation: k,
                record_bytes: Bytes::new(s),
                request_bytes: Bytes::new(q),
                response_bytes: Bytes::new(r),
                compute: Compute {
                    base: Nanos::new(c),
                    // The steepest slope the format allows at this input.
                    per_input_byte: NanosPerByte::new(if ci > 0.0 {
                        share * (MAX_COMPUTE_NANOS - c) / ci
                    } else {
                        share
                    }),
                    input_bytes: Bytes::new(ci),
                    class: Default::default(),
                },
                dependent_reads: dep,
                arrival: Arrival {
                    rate: PerSecond::new(rate),
                    cv,
                    histogram: Vec::new(),
                },
                slo: None,
                chain: Vec::new(),
            },
        )
}

fn conditions() -> impl Strategy<Value = Conditions> {
    (
        0.0..=1.0f64,
        prop_oneof![Just(0.0), Just(0.999_999), 0.0..0.999_999f64],
        prop_oneof![Just(1.0), Just(1e12), 1.0..1e6f64],
    )
        .prop_map(|(h, rho, d)| Conditions::new(h, rho, d).unwrap())
}

fn is_overflow(e: &CostError) -> bool {
    e.to_string().contains("came out as")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn accepted_inputs_give_finite_costs(
        h in host(), w in workload(), cond in conditions(), m in 1u32..64, b in 1u32..64,
    ) {
        h.validate("prop").unwrap();
        w.validate("prop").unwrap();
        let model = Model::from_profile(h).unwrap();
        for p in model.default_candidates() {
            let p = p.with_batch(NonZeroU32::new(b).unwrap());
            let p = if p.regime == Regime::Remote { p.with_multiget(NonZeroU32::new(m).unwrap()) } else { p };
            match model.evaluate(&w, &p, &cond) {
                Ok(c) => {
                    for v in [c.storage_cpu.get(), c.compute_cpu.get(), c.latency.get(),
                              c.network_bytes.get()] {
                        prop_assert!(v.is_finite() && v >= 0.0, "{p}: {c:?}");
                    }
                }
                Err(e) => prop_assert!(!is_overflow(&e), "{p}: {e}"),
            }
        }
        let t = TransportId::new("t").unwrap();
        for s in ["native", "s"] {
            let s = SchemeId::new(s).unwrap();
            let inside = Placement::inside(s, t).with_regime(Regime::Multiplexed);
            let remote = Placement::remote(s, t);
            match model.crossover(&w, &inside, &remote, &cond) {
                Ok(costmodel::Crossover::At(k)) => prop_assert!(k.is_finite() && k >= 0.0),
                Ok(costmodel::Crossover::Never) => {}
                Err(e) => prop_assert!(!is_overflow(&e), "{e}"),
            }
        }
    }
}
