//! Criterion benches for the `profiler` crate: ingest cost per record and fleet-view per-core
//! updates per second.
//!
//! The DESIGN target for the fleet view is 64 million per-core updates per second on one core
//! (1,000 machines x 64 cores, every millisecond); criterion reports it as elements per second
//! of `fleet/update_1000x64`.

// Bench set-up converts small random numbers to narrow integer fields.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::hint::black_box;

use costmodel::{FunctionId, NodeId, PerSecond, Regime, Side};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use profiler::{
    ArrivalKind, CoreStat, FleetView, FunctionSpec, Generator, Profiler, ProfilerConfig, Rng,
    TenantId, azure_like,
};

fn ingest(c: &mut Criterion) {
    let id = |s: &str| FunctionId::new(s).unwrap();
    // A mix of hot, bursty and periodic functions: 100k records over 100 s.
    let specs = vec![
        FunctionSpec::poisson(id("hot"), PerSecond::new(600.0)),
        FunctionSpec::poisson(id("bursty"), PerSecond::new(300.0))
            .with_kind(ArrivalKind::Bursty { cv: 3.0 }),
        FunctionSpec::poisson(id("timer"), PerSecond::new(100.0))
            .with_kind(ArrivalKind::Timer { jitter: 0.05 }),
    ];
    let records: Vec<_> = Generator::new(1, specs, 100_000_000_000, 600_000_000_000).collect();
    // An Azure-shaped population: 1,000 functions, most rare, interleaved.
    let azure: Vec<_> = Generator::new(
        2,
        azure_like(2, 1000, PerSecond::new(50.0)),
        3_600_000_000_000,
        600_000_000_000,
    )
    .take(100_000)
    .collect();

    let mut g = c.benchmark_group("profiler");
    for (name, recs) in [
        ("ingest_3_functions", &records),
        ("ingest_azure_1000", &azure),
    ] {
        g.throughput(Throughput::Elements(recs.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || Profiler::new(ProfilerConfig::default()).unwrap(),
                |mut p| {
                    for r in recs {
                        p.ingest(r).unwrap();
                    }
                    p
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

fn fleet(c: &mut Criterion) {
    const MACHINES: usize = 1000;
    const CORES: u16 = 64;
    let mut view = FleetView::uniform(MACHINES, CORES, Side::Storage).unwrap();
    let mut rng = Rng::new(9);
    let regimes = [Some(Regime::Multiplexed), Some(Regime::DedicatedCore), None];
    // Distinct snapshots per machine, so the stores are not all the same bytes.
    let snapshots: Vec<Vec<CoreStat>> = (0..MACHINES)
        .map(|_| {
            (0..CORES)
                .map(|_| CoreStat {
                    busy: rng.uniform() as f32,
                    queue_len: rng.below(8) as u16,
                    warm_contexts: rng.below(32) as u16,
                    regime: regimes[rng.below(3) as usize],
                })
                .collect()
        })
        .collect();
    for t in 0..10_000u32 {
        let nodes: Vec<NodeId> = (0..3).map(|k| NodeId((t * 7 + k * 331) % 1000)).collect();
        view.set_tenant_machines(TenantId(t), &nodes).unwrap();
    }

    let mut g = c.benchmark_group("fleet");
    g.throughput(Throughput::Elements(MACHINES as u64 * u64::from(CORES)));
    let mut now = 0u64;
    g.bench_function("update_1000x64", |b| {
        b.iter(|| {
            now += 1_000_000;
            for (m, snap) in snapshots.iter().enumerate() {
                view.update_machine(NodeId(m as u32), now, black_box(snap))
                    .unwrap();
            }
        });
    });
    g.throughput(Throughput::Elements(1));
    let mut t = 0u32;
    g.bench_function("least_loaded_storage_core_3x64", |b| {
        b.iter(|| {
            t = (t + 1) % 10_000;
            black_box(view.least_loaded_storage_core(TenantId(t)).unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, ingest, fleet);
criterion_main!(benches);
