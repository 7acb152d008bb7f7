//! Timing helpers for the probe tests: time a batch several times, take the median.
//!
//! The bounds the tests assert are the plausible ranges of calibration-anchors §5, widened
//! generously: the tests run unoptimised, on a loaded 2-core CI VM, next to other builds.

#![allow(dead_code, unreachable_pub)]

use std::time::Instant;

use costmodel::IsolationProbe;

/// Median nanoseconds per operation of `op(batch)`, over `samples` timed batches.
pub fn median_ns(samples: usize, batch: u64, mut op: impl FnMut(u64)) -> f64 {
    op(batch.min(4)); // warm-up
    let mut v: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            op(batch);
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median cold start (ns) of a probe, teardown untimed.
pub fn median_cold_ns(samples: usize, probe: &mut dyn IsolationProbe) -> f64 {
    let mut v = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        probe.cold_start().unwrap();
        v.push(t.elapsed().as_nanos() as f64);
        probe.after_cold_start().unwrap();
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Asserts `value` lies in `[low, high]`, naming what was measured.
pub fn assert_within(what: &str, value: f64, low: f64, high: f64) {
    println!("{what}: {value:.1} ns (plausible {low} .. {high})");
    assert!(
        value.is_finite() && value >= low && value <= high,
        "{what} = {value:.1} ns lies outside the plausible range [{low}, {high}]"
    );
}
