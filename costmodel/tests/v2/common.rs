//! Builders shared by the version-2 tests: schemes, server terms, transports and a host made of
//! them, and the proptest strategies over their numbers.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;

use costmodel::{
    Bytes, ComputeClass, Conditions, Estimate, Factor, HostProfile, Invocation, IsolationCosts,
    Model, Nanos, NanosPerByte, PerSecond, Placement, PricedPlacement, Regime, SchemeId,
    ServerRequestTerms, Support, TransportCosts, TransportId,
};
use proptest::prelude::*;

pub(crate) fn cited<U: costmodel::Quantity>(v: U) -> Estimate<U> {
    Estimate::cited(v, "test")
}

/// Scheme numbers: w, z, g0, f (int_mul), g_b, f for arith, f for memory.
pub(crate) type SchemeNums = (f64, f64, f64, f64, f64, f64, f64);

pub(crate) fn scheme_nums() -> impl Strategy<Value = SchemeNums> {
    (
        0.0..20_000.0,
        0.0..5e6,
        0.0..1_000.0,
        1.0..100.0,
        0.0..2.0,
        1.0..10.0,
        1.0..5.0,
    )
}

/// Isolation costs; `v2` adds a per-byte access and per-class slowdowns.
pub(crate) fn isolation((w, z, g, f, gb, fa, fm): SchemeNums, v2: bool) -> IsolationCosts {
    IsolationCosts {
        description: String::new(),
        warm_invoke: cited(Nanos::new(w)),
        cold_start: cited(Nanos::new(z)),
        local_access: cited(Nanos::new(g)),
        slowdown: cited(Factor::new(f)),
        memory_per_context: cited(Bytes::new(4096.0)),
        requirements: Vec::new(),
        support: Support::Supported,
        details: BTreeMap::new(),
        local_access_per_byte: v2.then(|| cited(NanosPerByte::new(gb))),
        slowdown_by_class: if v2 {
            [
                (ComputeClass::Arith, cited(Factor::new(fa))),
                (ComputeClass::Memory, cited(Factor::new(fm))),
            ]
            .into()
        } else {
            BTreeMap::new()
        },
    }
}

/// Server terms: p, y, w, u, b.
pub(crate) type ServerNums = (f64, f64, f64, f64, f64);

pub(crate) fn server_nums() -> impl Strategy<Value = ServerNums> {
    (
        0.0..5_000.0,
        0.0..5_000.0,
        0.0..30_000.0,
        0.0..2_000.0,
        0.0..1.0,
    )
}

pub(crate) fn terms((p, y, w, u, b): ServerNums) -> ServerRequestTerms {
    ServerRequestTerms {
        server: "test server".into(),
        processing: cited(Nanos::new(p)),
        per_syscall: cited(Nanos::new(y)),
        per_wakeup: cited(Nanos::new(w)),
        per_peer_wakeup: None,
        per_key: cited(Nanos::new(u)),
        per_byte: cited(NanosPerByte::new(b)),
        fit_r2: Some(0.99),
        points: 12,
    }
}

pub(crate) fn transport(server: Option<ServerNums>) -> TransportCosts {
    let mut t = TransportCosts::literature(
        Nanos::new(20_000.0),
        NanosPerByte::new(0.3),
        Nanos::new(30_000.0),
        Nanos::new(1_200.0),
        "test",
    );
    t.server_terms = server.map(terms);
    t
}

/// A profile of one scheme `s`, a `native` scheme and one server transport; the rest (host
/// identity) from the bundled reference profile, so this file does not spell every field.
pub(crate) fn host(
    scheme: IsolationCosts,
    native: IsolationCosts,
    t: TransportCosts,
) -> HostProfile {
    static REFERENCE: std::sync::OnceLock<HostProfile> = std::sync::OnceLock::new();
    let mut h = REFERENCE
        .get_or_init(|| HostProfile::load(fixtures().join("reference.ron")).unwrap())
        .clone();
    h.dispatch = cited(Nanos::new(400.0));
    h.memory_copy = None;
    h.scattered_access = Some(cited(Nanos::new(80.0)));
    h.transports = [(TransportId::new("resp@redis-7.0").unwrap(), t)].into();
    h.isolation = [
        (SchemeId::new("s").unwrap(), scheme),
        (SchemeId::new("native").unwrap(), native),
    ]
    .into();
    h.flags = Vec::new();
    h
}

pub(crate) fn priced(model: &Model, regime: Regime, multiget: u32) -> PricedPlacement {
    let p = Placement::inside(
        SchemeId::new("s").unwrap(),
        TransportId::new("resp@redis-7.0").unwrap(),
    )
    .with_regime(regime)
    .with_multiget(NonZeroU32::new(multiget).unwrap());
    model.price(&p).unwrap()
}

pub(crate) fn class() -> impl Strategy<Value = ComputeClass> {
    prop::sample::select(ComputeClass::ALL.to_vec())
}

pub(crate) fn invocation() -> impl Strategy<Value = Invocation> {
    (
        0.0..64.0f64,
        0.0..16_384.0f64,
        0.0..4096.0f64,
        0.0..1e6f64,
        1.0..1e4f64,
        any::<bool>(),
        class(),
    )
        .prop_map(|(k, s, m, c, rate, dep, class)| {
            Invocation::new(
                k,
                Bytes::new(s),
                Bytes::new(m),
                Nanos::new(c),
                PerSecond::new(rate),
            )
            .unwrap()
            .with_dependent_reads(dep)
            .with_class(class)
        })
}

/// Conditions with requests per wake-up and per system call.
pub(crate) fn conditions() -> impl Strategy<Value = Conditions> {
    (0.0..=1.0f64, 0.0..0.99f64, 1.0..64.0f64, 1.0..64.0f64).prop_map(|(h, rho, d, y)| {
        Conditions::new(h, rho, d)
            .unwrap()
            .with_requests_per_syscall(y)
            .unwrap()
    })
}

pub(crate) fn v2_model(s: SchemeNums, n: SchemeNums, server: Option<ServerNums>) -> Model {
    Model::from_profile(host(
        isolation(s, true),
        isolation(n, true),
        transport(server),
    ))
    .unwrap()
}

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hosts")
}
