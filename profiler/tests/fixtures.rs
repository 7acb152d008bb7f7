//! The committed traces in `fixtures/traces/`: they parse, they agree with their ground truth,
//! and the invalid ones fail with errors that name the file, the line and the field.
//!
//! `cargo test -p profiler --test fixtures -- --ignored` regenerates the traces from their
//! scenarios.

use std::path::{Path, PathBuf};

use costmodel::{FunctionId, PerSecond};
use profiler::{
    ArrivalKind, FunctionSpec, Profiler, ProfilerConfig, ProfilerError, Scenario, Trace, azure_like,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/traces")
}

const MINUTE: u64 = 60_000_000_000;

/// 40 functions shaped like Azure Functions over 15 minutes, rates capped at 0.2/s so the file
/// stays small.
fn azure_scenario() -> Scenario {
    Scenario {
        seed: 2020,
        end_ns: 15 * MINUTE,
        keep_alive_ns: 10 * MINUTE,
        functions: azure_like(2020, 40, PerSecond::new(0.2)),
    }
}

/// One function of each arrival kind over 5 minutes, for the RON format.
fn three_kinds() -> Scenario {
    let id = |s| FunctionId::new(s).unwrap();
    Scenario {
        seed: 3,
        end_ns: 5 * MINUTE,
        keep_alive_ns: MINUTE,
        functions: vec![
            FunctionSpec::poisson(id("http-thumbnail"), PerSecond::new(0.2)),
            FunctionSpec::poisson(id("queue-ingest"), PerSecond::new(0.15))
                .with_kind(ArrivalKind::Bursty { cv: 3.0 }),
            FunctionSpec::poisson(id("timer-compact"), PerSecond::new(1.0 / 30.0))
                .with_kind(ArrivalKind::Timer { jitter: 0.02 }),
        ],
    }
}

fn scenarios() -> [(&'static str, Scenario, &'static str); 2] {
    [
        ("azure-like", azure_scenario(), "csv"),
        ("three-kinds", three_kinds(), "ron"),
    ]
}

#[test]
#[ignore = "writes fixtures/traces; run with --ignored to regenerate them"]
fn regenerate_trace_fixtures() {
    for (name, scenario, ext) in scenarios() {
        let records: Vec<_> = scenario.generator().collect();
        let mut trace = Trace::from_records(
            format!("synthetic: profiler::Scenario in {name}.truth.ron"),
            records,
        );
        // Declare every function of the scenario, even those that drew no invocation.
        trace.functions = scenario.functions.iter().map(|f| f.id).collect();
        trace.save(&dir().join(format!("{name}.{ext}"))).unwrap();
        std::fs::write(dir().join(format!("{name}.truth.ron")), scenario.to_ron()).unwrap();
    }
}

#[test]
fn committed_traces_agree_with_their_ground_truth() {
    for (name, _, ext) in scenarios() {
        let truth_text = std::fs::read_to_string(dir().join(format!("{name}.truth.ron"))).unwrap();
        let truth: Scenario = ron::from_str(&truth_text).unwrap();
        let trace = Trace::load(&dir().join(format!("{name}.{ext}"))).unwrap();
        assert!(!trace.records.is_empty(), "{name}");
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        p.ingest_all(&trace.records).unwrap();
        p.advance_to(truth.end_ns);
        let secs = truth.end_ns as f64 / 1e9;
        for spec in &truth.functions {
            let n = p.function(spec.id).map_or(0, |f| f.invocations()) as f64;
            let expected = spec.rate.get() * secs;
            // Counts of a renewal process: sd about cv * sqrt(expected); allow 5 sd plus one
            // for timers whose phase decides an extra firing.
            let tol = 5.0 * spec.arrival_cv().max(0.3) * expected.sqrt() + 1.0;
            assert!(
                (n - expected).abs() <= tol,
                "{name}/{}: {n} invocations, expected {expected:.1} +- {tol:.1}",
                spec.id
            );
        }
        // Every traced function is in the ground truth.
        for f in &trace.functions {
            assert!(truth.functions.iter().any(|s| s.id == *f), "{name}: {f}");
        }
    }
}

#[test]
fn committed_traces_are_small() {
    let total: u64 = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total < 512 * 1024, "fixtures/traces holds {total} bytes");
}

#[test]
fn zero_byte_files_are_empty_traces() {
    for name in ["empty.csv", "empty.ron"] {
        let path = dir().join(name);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "{name}");
        let t = Trace::load(&path).unwrap();
        assert!(t.records.is_empty() && t.functions.is_empty(), "{name}");
    }
}

fn load_err(name: &str) -> (ProfilerError, String) {
    let err = Trace::load(&dir().join("invalid").join(name)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(name), "error does not name the file: {msg}");
    (err, msg)
}

#[test]
fn missing_column_is_named_with_the_header_line() {
    let (err, msg) = load_err("missing-column.csv");
    assert!(
        matches!(
            err,
            ProfilerError::MissingColumn {
                line: 2,
                column: "input_bytes",
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn non_numeric_field_is_named_with_its_line() {
    let (err, msg) = load_err("non-numeric.csv");
    assert!(
        matches!(&err, ProfilerError::BadField { line: 4, field: "storage_cpu_ns", value, .. } if value == "12us"),
        "{msg}"
    );
}

#[test]
fn negative_duration_is_named_with_its_line() {
    let (err, msg) = load_err("negative-duration.csv");
    assert!(
        matches!(
            err,
            ProfilerError::InvalidValue {
                line: 3,
                field: "duration_ns",
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.ends_with("field duration_ns must be >= 0, got -250000"),
        "{msg}"
    );
}

#[test]
fn unknown_function_in_ron_trace_is_named_with_its_line() {
    let (err, msg) = load_err("unknown-function.ron");
    assert!(
        matches!(&err, ProfilerError::UnknownFunction { line: 7, function, .. } if function == "resise"),
        "{msg}"
    );
    assert!(msg.contains("declared: thumbnail, resize"), "{msg}");
}

#[test]
fn negative_duration_in_ron_trace_is_named_with_its_line() {
    let (err, msg) = load_err("negative-duration.ron");
    assert!(
        matches!(
            err,
            ProfilerError::InvalidValue {
                line: 6,
                field: "duration_ns",
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn truncated_last_line_is_an_error_not_a_shorter_trace() {
    let (err, msg) = load_err("truncated.csv");
    assert!(
        matches!(
            err,
            ProfilerError::FieldCount {
                line: 5,
                expected: 13,
                found: 7,
                ..
            }
        ),
        "{msg}"
    );
}
