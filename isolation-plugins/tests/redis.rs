//! The `redis` scheme against a real `redis-server` started on a free loopback port (skipped,
//! with the reason printed, where the binary is absent).

#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use costmodel::conformance::{assert_conformant, check_probe};
use costmodel::{ComputeClass, IsolationScheme, Support};
use isolation_plugins::kernels;
use isolation_plugins::redis::{MeasurePlan, Redis, ServerConfig, measure};

fn scheme() -> Option<Redis> {
    let r = Redis::new();
    match r.support() {
        Support::Supported => Some(r),
        Support::Unsupported { reason } => {
            println!("skipped: {reason}");
            None
        }
    }
}

#[test]
fn the_scheme_is_conformant_with_or_without_a_server() {
    assert_conformant(&Redis::new());
    let absent = Redis::with_config(ServerConfig::Spawn {
        binary: "/nonexistent/redis-server".into(),
    });
    assert_conformant(&absent);
    let e = absent.open_probe().err().unwrap().to_string();
    assert!(e.contains("start redis-server"), "{e}");
}

#[test]
fn lua_kernels_compute_the_native_checksums_and_the_probe_conforms() {
    let Some(r) = scheme() else { return };
    let t = Instant::now();
    let mut p = r.open_probe().unwrap();
    for class in ComputeClass::ALL {
        for rounds in [0, 1, 7] {
            assert_eq!(
                p.compute_class(class, rounds).unwrap(),
                kernels::reference(class, rounds),
                "lua {class} kernel, {rounds} rounds"
            );
        }
    }
    check_probe("redis", &mut p).unwrap();
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

#[test]
fn server_cpu_figures_are_measured_and_plausible() {
    let Some(r) = scheme() else { return };
    let t = Instant::now();
    let mut p = r.open_probe().unwrap();
    let m = measure(&mut p, &MeasurePlan::quick()).unwrap();
    println!("{m:#?}");
    // FCALL of an empty Lua function costs the server more than a PING, and less than 100 us.
    let w = m.warm_invoke.median;
    assert!(w > 0.0 && w < 100_000.0, "warm invoke {w} ns");
    let c = m.cold_start.median;
    assert!(c > w && c < 50e6, "cold start {c} ns");
    let (small, large) = (m.access[0].1.median, m.access[1].1.median);
    assert!(small > 0.0 && small < 50_000.0, "64 B access {small} ns");
    // An 8 KiB GET copies 8 KiB into a Lua string: more than a 64 B one.
    assert!(
        large > small,
        "8 KiB access {large} ns <= 64 B access {small} ns"
    );
    let g_b = m.costs.local_access_per_byte.as_ref().unwrap().point.get();
    // Lua copies each value into a fresh string (and collects it): about 1.7 ns/B measured here.
    assert!(g_b > 0.0 && g_b < 20.0, "g_b {g_b} ns/B");
    for (class, f) in &m.lua_round {
        assert!(f.median > 0.0, "{class}: {f:?}");
    }
    assert_eq!(m.costs.slowdown_by_class.len(), 3);
    assert_eq!(
        m.costs.slowdown,
        m.costs.slowdown_by_class[&ComputeClass::IntMul]
    );
    assert!(t.elapsed() < Duration::from_secs(120), "{:?}", t.elapsed());
}
