//! Acceptance on synthetic traces with known parameters: rate accuracy, change detection,
//! no false alarms, warm-hit probability, regression and quantiles.

// Test arithmetic converts known-small, non-negative floats to integers.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use costmodel::{Bytes, FunctionId, Nanos, PerSecond};
use profiler::{ArrivalKind, FunctionSpec, Generator, InvocationRecord, Profiler, ProfilerConfig};

const SECOND: u64 = 1_000_000_000;

fn id(s: &str) -> FunctionId {
    FunctionId::new(s).unwrap()
}

fn profile(seed: u64, specs: Vec<FunctionSpec>, end_ns: u64) -> Profiler {
    let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
    for r in Generator::new(seed, specs, end_ns, 0) {
        p.ingest(&r).unwrap();
    }
    p.advance_to(end_ns);
    p
}

#[test]
fn rates_are_within_five_percent_of_truth_on_stationary_segments() {
    // 2,000 one-second windows; every function has enough invocations in its stationary
    // segment that 5% is at least 3.5 standard errors (cv / sqrt(n)).
    let specs = vec![
        FunctionSpec::poisson(id("poisson-3"), PerSecond::new(3.0)),
        FunctionSpec::poisson(id("poisson-40"), PerSecond::new(40.0)),
        FunctionSpec::poisson(id("bursty-25"), PerSecond::new(25.0))
            .with_kind(ArrivalKind::Bursty { cv: 2.0 }),
        FunctionSpec::poisson(id("timer-5"), PerSecond::new(5.0))
            .with_kind(ArrivalKind::Timer { jitter: 0.1 }),
        FunctionSpec::poisson(id("step-10-30"), PerSecond::new(10.0)).with_step(500 * SECOND, 3.0),
    ];
    let end = 2_000 * SECOND;
    let p = profile(11, specs.clone(), end);
    for spec in &specs {
        let f = p.function(spec.id).unwrap();
        let truth = spec.rate_at(end - 1).get();
        let est = f.rate(p.config()).get();
        let err = (est - truth).abs() / truth;
        eprintln!(
            "{}: rate {est:.4}/s, truth {truth}/s, error {:.2}%",
            spec.id,
            err * 100.0
        );
        assert!(
            err < 0.05,
            "{}: rate {est:.3} vs truth {truth}, error {err:.4}",
            spec.id
        );
        let st = f.stationarity(p.config());
        let expected_changes = u64::from(spec.step.is_some());
        assert_eq!(st.changes, expected_changes, "{}", spec.id);
        // The profile carries the same rate into the cost model, and validates.
        let prof = f.workload_profile(p.config());
        assert!((prof.arrival.rate.get() - est).abs() < 1e-12);
        prof.validate("synthetic").unwrap();
    }
}

/// Windows from the true change to the window where the detector raised it (1 = the change's
/// own window).
fn detection_delay(seed: u64, before: f64, factor: f64) -> (u64, u64) {
    let at = 300 * SECOND;
    let spec = FunctionSpec::poisson(id("f"), PerSecond::new(before)).with_step(at, factor);
    let p = profile(seed, vec![spec], 360 * SECOND);
    let st = p.function(id("f")).unwrap().stationarity(p.config());
    let delay = st.segment_start_ns.saturating_sub(at) / SECOND + 1;
    (st.changes, delay)
}

#[test]
fn doubling_of_rate_is_detected_within_eight_windows() {
    // 20 -> 40 per window moves sqrt(x + 3/8) by about 3.7 deviations: expected delay
    // h / (delta - k) = 8 / 2.7, about 3 windows; the bound allows for noise.
    for seed in 0..10 {
        let (changes, delay) = detection_delay(seed, 20.0, 2.0);
        eprintln!("doubling, seed {seed}: detected after {delay} windows");
        assert_eq!(changes, 1, "seed {seed}");
        assert!(delay <= 8, "seed {seed}: detected after {delay} windows");
    }
}

#[test]
fn halving_of_rate_is_detected_within_twelve_windows() {
    // 20 -> 10 per window is about 2.5 deviations: expected delay 8 / 1.5, about 5.4 windows.
    for seed in 0..10 {
        let (changes, delay) = detection_delay(seed, 20.0, 0.5);
        eprintln!("halving, seed {seed}: detected after {delay} windows");
        assert_eq!(changes, 1, "seed {seed}");
        assert!(delay <= 12, "seed {seed}: detected after {delay} windows");
    }
}

#[test]
fn stop_of_invocations_is_detected_in_the_first_idle_window() {
    let (changes, delay) = detection_delay(5, 20.0, 1e-9);
    assert_eq!(changes, 1);
    assert!(delay <= 2, "detected after {delay} windows");
}

#[test]
fn no_change_is_reported_on_stationary_traces_of_ten_thousand_windows() {
    let specs = vec![
        FunctionSpec::poisson(id("poisson-5"), PerSecond::new(5.0)),
        FunctionSpec::poisson(id("bursty-8"), PerSecond::new(8.0))
            .with_kind(ArrivalKind::Bursty { cv: 2.0 }),
        FunctionSpec::poisson(id("timer-1"), PerSecond::new(1.0))
            .with_kind(ArrivalKind::Timer { jitter: 0.05 }),
        FunctionSpec::poisson(id("rare"), PerSecond::new(0.1)),
    ];
    let p = profile(99, specs.clone(), 10_000 * SECOND);
    for spec in &specs {
        let st = p.function(spec.id).unwrap().stationarity(p.config());
        assert_eq!(st.changes, 0, "{}: {st:?}", spec.id);
        // Windows from the function's first record to the end: all of them, in one segment.
        assert!(st.segment_windows >= 9_990, "{}: {st:?}", spec.id);
        assert!(st.stable, "{}", spec.id);
    }
}

/// Fraction of invocations (after the first) that find the context warm when it is kept for
/// `keep_alive_ns` after each invocation ends: a one-context keep-alive cache.
fn simulated_hit_rate(records: &[InvocationRecord], keep_alive_ns: u64) -> f64 {
    let mut end: Option<u64> = None;
    let (mut hits, mut n) = (0u64, 0u64);
    for r in records {
        if let Some(e) = end {
            n += 1;
            hits += u64::from(r.start_ns <= e + keep_alive_ns);
        }
        let this_end = r.start_ns + r.duration.get() as u64;
        end = Some(end.map_or(this_end, |e| e.max(this_end)));
    }
    hits as f64 / n as f64
}

#[test]
fn warm_hit_probability_matches_a_simulated_keep_alive_cache_within_five_hundredths() {
    let specs = vec![
        FunctionSpec::poisson(id("poisson"), PerSecond::new(0.5)),
        FunctionSpec::poisson(id("bursty"), PerSecond::new(0.2))
            .with_kind(ArrivalKind::Bursty { cv: 3.0 }),
        FunctionSpec::poisson(id("timer"), PerSecond::new(1.0 / 20.0))
            .with_kind(ArrivalKind::Timer { jitter: 0.3 }),
    ];
    let end = 40_000 * SECOND;
    let records: Vec<_> = Generator::new(21, specs.clone(), end, 0).collect();
    let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
    p.ingest_all(&records).unwrap();
    p.advance_to(end);
    for spec in &specs {
        let own: Vec<_> = records
            .iter()
            .filter(|r| r.function == spec.id)
            .copied()
            .collect();
        let arrival = p.profile(spec.id).unwrap().arrival;
        for keep_alive_s in [0.5, 1.0, 2.0, 5.0, 10.0, 19.0, 60.0, 600.0] {
            let ka = (keep_alive_s * 1e9) as u64;
            let empirical = simulated_hit_rate(&own, ka);
            let model = arrival.warm_hit_probability(Nanos::new(ka as f64));
            eprintln!(
                "{} keep-alive {keep_alive_s} s: model {model:.4}, simulated {empirical:.4}",
                spec.id
            );
            assert!(
                (model - empirical).abs() <= 0.05,
                "{} keep-alive {keep_alive_s} s: model {model:.4}, simulated {empirical:.4}",
                spec.id
            );
        }
    }
}

#[test]
fn profile_predicts_compute_and_records_from_input_size() {
    let spec = FunctionSpec::poisson(id("scale"), PerSecond::new(50.0));
    let p = profile(4, vec![spec.clone()], 400 * SECOND);
    let f = p.function(spec.id).unwrap();
    let (base, slope) = f.compute_fit().non_negative();
    assert!((slope - 10.0).abs() / 10.0 < 0.05, "slope {slope}");
    assert!((base - 200_000.0).abs() / 200_000.0 < 0.05, "base {base}");
    for input in [500.0, 2_000.0, 8_000.0] {
        let pred = f.predict(Bytes::new(input));
        let c = spec.compute_at(Bytes::new(input)).get();
        assert!((pred.compute.get() - c).abs() / c < 0.05, "input {input}");
        let k = spec.records_at(Bytes::new(input));
        assert!(
            (pred.records - k).abs() / k < 0.05,
            "input {input}: {} vs {k}",
            pred.records
        );
    }
    let prof = f.workload_profile(p.config());
    assert!((prof.compute.per_input_byte.get() - 10.0).abs() < 0.5);
    assert!((prof.record_bytes.get() - 1024.0).abs() < 1e-9);
}

#[test]
fn sketch_quantiles_are_within_bin_error_of_exact_quantiles() {
    let spec = FunctionSpec::poisson(id("q"), PerSecond::new(100.0));
    let records: Vec<_> = Generator::new(8, vec![spec.clone()], 100 * SECOND, 0).collect();
    let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
    p.ingest_all(&records).unwrap();
    let q = p.function(spec.id).unwrap().quantiles();
    let exact = |mut v: Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    let compute: Vec<f64> = records.iter().map(|r| r.executing_cpu().get()).collect();
    let recs: Vec<f64> = records.iter().map(|r| r.records_read as f64).collect();
    let bytes: Vec<f64> = records.iter().map(|r| r.bytes_read.get()).collect();
    for (name, got, want) in [
        (
            "compute p50",
            q.compute.p50.get(),
            exact(compute.clone(), 0.5),
        ),
        ("compute p99", q.compute.p99.get(), exact(compute, 0.99)),
        ("records p50", q.records.p50, exact(recs.clone(), 0.5)),
        ("records p99", q.records.p99, exact(recs, 0.99)),
        ("bytes p50", q.bytes.p50.get(), exact(bytes.clone(), 0.5)),
        ("bytes p99", q.bytes.p99.get(), exact(bytes, 0.99)),
    ] {
        assert!(
            (got - want).abs() / want <= 0.125,
            "{name}: {got} vs exact {want}"
        );
    }
}
