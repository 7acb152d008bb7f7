//! Conformance kit for isolation schemes (feature `conformance`).
//!
//! Any plugin's tests call [`check_scheme`] (or [`assert_conformant`]) on their scheme. It checks
//! that the scheme's defaults are finite, non-negative, well-formed estimates with a source;
//! that the scheme is deterministic; that an unsupported scheme says why; that the costs it
//! implies are monotone where the model says so (storage CPU of an inside placement grows with
//! records and compute and falls as the warm-hit probability rises); and, by its signature,
//! that the scheme is `Send + Sync`. [`check_probe`] runs a probe's operations once and checks
//! the compute kernel's checksum against native code. [`check_transport`] is the transport kit
//! (defaults, capabilities and a probe's link round trip).

mod transport;

pub use transport::{
    TransportConformanceFailure, assert_transport_conformant, check_transport,
    check_transport_probe,
};

use crate::cost::{Conditions, Invocation, PricedPlacement, SchemeCoeffs, TransportCoeffs};
use crate::id::TransportId;
use crate::isolation::IsolationScheme;
use crate::placement::Placement;
use crate::probe::{IsolationProbe, kernel};
use crate::profile::{Support, TransportCosts};
use crate::units::{Bytes, Nanos, NanosPerByte, PerSecond};
use crate::validate::Check;

/// What a conformance check found wrong.
#[derive(Debug, thiserror::Error)]
#[error("scheme {scheme} fails conformance: {problem}")]
pub struct ConformanceFailure {
    /// The scheme id.
    pub scheme: String,
    /// What is wrong.
    pub problem: String,
}

fn fail(scheme: &str, problem: impl Into<String>) -> ConformanceFailure {
    ConformanceFailure {
        scheme: scheme.to_owned(),
        problem: problem.into(),
    }
}

/// Checks a scheme; see the module docs for what is checked.
///
/// # Errors
/// The first [`ConformanceFailure`] found.
pub fn check_scheme<S: IsolationScheme + Send + Sync + ?Sized>(
    scheme: &S,
) -> Result<(), ConformanceFailure> {
    let id = scheme.id();
    let name = id.as_str();
    let d = scheme.defaults();
    let origin = format!("defaults of {name}");
    d.check(&mut Check::new(&origin))
        .map_err(|e| fail(name, e.to_string()))?;
    for (field, src) in [
        ("warm_invoke", &d.warm_invoke.source),
        ("cold_start", &d.cold_start.source),
        ("local_access", &d.local_access.source),
        ("slowdown", &d.slowdown.source),
        ("memory_per_context", &d.memory_per_context.source),
    ] {
        if src.detail().trim().is_empty() {
            return Err(fail(name, format!("{field} has no citation or method")));
        }
    }
    if d != scheme.defaults() {
        return Err(fail(name, "defaults() is not deterministic"));
    }
    let support = scheme.support();
    if support != scheme.support() {
        return Err(fail(name, "support() is not deterministic"));
    }
    if let Support::Unsupported { reason } = &support
        && reason.trim().is_empty()
    {
        return Err(fail(name, "unsupported without a reason"));
    }
    if scheme.id() != id {
        return Err(fail(name, "id() is not deterministic"));
    }

    // Monotonicity of the costs the scheme implies, on a reference transport.
    let tcp = TransportCosts::literature(
        Nanos::new(7_000.0),
        NanosPerByte::new(0.1),
        Nanos::new(14_000.0),
        Nanos::new(1_500.0),
        "conformance reference",
    );
    let transport = TransportId::new("conformance").map_err(|e| fail(name, e.to_string()))?;
    let priced = |placement: Placement| {
        PricedPlacement::from_parts(
            placement,
            SchemeCoeffs::from_checked(&d),
            TransportCoeffs::from_checked(&tcp),
            Nanos::new(200.0),
            (Nanos::ZERO, NanosPerByte::ZERO),
            Nanos::ZERO,
        )
    };
    let inside = priced(Placement::inside(id, transport));
    let remote = priced(Placement::remote(id, transport));
    let base = Invocation::new(
        0.0,
        Bytes::new(128.0),
        Bytes::new(64.0),
        Nanos::ZERO,
        PerSecond::new(1000.0),
    )
    .map_err(|e| fail(name, e.to_string()))?;
    let eval = |p: &PricedPlacement, inv: &Invocation, h: f64| {
        let cond = Conditions::new(h, 0.0, 1.0).map_err(|e| fail(name, e.to_string()))?;
        p.evaluate(inv, &cond)
            .map_err(|e| fail(name, e.to_string()))
    };
    let mut prev = [f64::NEG_INFINITY; 4];
    for step in 0..=32u32 {
        let x = f64::from(step);
        let by_k = base
            .with_records(x)
            .map_err(|e| fail(name, e.to_string()))?;
        let by_c = base
            .with_compute(Nanos::new(x * 1_000.0))
            .map_err(|e| fail(name, e.to_string()))?;
        let now = [
            eval(&inside, &by_k, 1.0)?.storage_cpu.get(),
            eval(&remote, &by_k, 1.0)?.storage_cpu.get(),
            eval(&inside, &by_c, 1.0)?.storage_cpu.get(),
            // Storage CPU as the warm-hit probability falls from 1 to 0.
            eval(&inside, &base, 1.0 - x / 32.0)?.storage_cpu.get(),
        ];
        for (i, what) in [
            "inside storage cpu vs records",
            "remote storage cpu vs records",
            "inside storage cpu vs compute",
            "inside storage cpu vs cold-start probability",
        ]
        .into_iter()
        .enumerate()
        {
            if !now[i].is_finite() || now[i] < 0.0 {
                return Err(fail(
                    name,
                    format!("{what}: cost {} is not finite and >= 0", now[i]),
                ));
            }
            if now[i] + 1e-9 < prev[i] {
                return Err(fail(
                    name,
                    format!(
                        "{what} decreased from {} to {} at step {step}",
                        prev[i], now[i]
                    ),
                ));
            }
        }
        prev = now;
    }
    Ok(())
}

/// Panics with the failure when [`check_scheme`] fails. For tests.
///
/// # Panics
/// When the scheme does not conform.
pub fn assert_conformant<S: IsolationScheme + Send + Sync + ?Sized>(scheme: &S) {
    if let Err(e) = check_scheme(scheme) {
        panic!("{e}");
    }
}

/// Runs each probe operation once and checks the compute kernel's checksum against native code.
///
/// # Errors
/// A [`ConformanceFailure`] naming the operation that failed.
pub fn check_probe(name: &str, probe: &mut dyn IsolationProbe) -> Result<(), ConformanceFailure> {
    probe
        .warm_invoke(3)
        .map_err(|e| fail(name, e.to_string()))?;
    probe.cold_start().map_err(|e| fail(name, e.to_string()))?;
    probe
        .after_cold_start()
        .map_err(|e| fail(name, e.to_string()))?;
    probe
        .local_access(3)
        .map_err(|e| fail(name, e.to_string()))?;
    for rounds in [1u32, 7] {
        let got = probe
            .compute(rounds)
            .map_err(|e| fail(name, e.to_string()))?;
        let want = kernel::fnv1a_rounds(&kernel::input(), rounds);
        if got != want {
            return Err(fail(
                name,
                format!("compute({rounds}) returned {got:#x}, native kernel gives {want:#x}"),
            ));
        }
    }
    for op in probe.extra_operations() {
        probe.extra(op, 2).map_err(|e| fail(name, e.to_string()))?;
    }
    Ok(())
}
