//! Memory per function does not grow with the number of records ingested: after each function's
//! first record, ingest performs no heap allocation at all, and the profiler's own size
//! accounting stays constant.
//!
//! This file holds a single test because it installs a counting global allocator: another test
//! running in parallel in the same binary would pollute the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use costmodel::{FunctionId, PerSecond};
use profiler::{ArrivalKind, FunctionProfile, FunctionSpec, Generator, Profiler, ProfilerConfig};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's layout and pointer unchanged, so
// `System`'s guarantees carry over; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which `System` shares.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn memory_per_function_does_not_grow_with_records_ingested() {
    let id = |s: &str| FunctionId::new(s).unwrap();
    let specs = vec![
        FunctionSpec::poisson(id("hot"), PerSecond::new(200.0)),
        FunctionSpec::poisson(id("bursty"), PerSecond::new(20.0))
            .with_kind(ArrivalKind::Bursty { cv: 3.0 }),
        FunctionSpec::poisson(id("timer"), PerSecond::new(1.0))
            .with_kind(ArrivalKind::Timer { jitter: 0.05 }),
        FunctionSpec::poisson(id("stepping"), PerSecond::new(10.0)).with_step(300_000_000_000, 4.0),
    ];
    // Generate first, so the generator's own allocations are not counted.
    let records: Vec<_> = Generator::new(1, specs, 1_000_000_000_000, 0).collect();
    assert!(records.len() > 200_000);

    let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
    // Warm up: every function seen once (its state is allocated here, once).
    let split = records.len() / 100;
    p.ingest_all(&records[..split]).unwrap();
    assert_eq!(p.functions().len(), 4);
    let size_before = p.memory_bytes();
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes_before = BYTES.load(Ordering::Relaxed);

    // 99% of the records, with a rate change and long idle stretches among them.
    p.ingest_all(&records[split..]).unwrap();
    p.advance_to(2_000_000_000_000);

    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let bytes = BYTES.load(Ordering::Relaxed) - bytes_before;
    eprintln!(
        "ingested {} records: {allocations} allocations, {bytes} bytes; {} bytes per function",
        records.len() - split,
        FunctionProfile::memory_bytes()
    );
    assert_eq!(allocations, 0, "ingest allocated {bytes} bytes");
    assert_eq!(p.memory_bytes(), size_before);
    assert!(FunctionProfile::memory_bytes() < 16 * 1024);
}
