//! CSV and RON trace formats: round trips and strict, line-numbered errors.

use costmodel::{Bytes, FunctionId, Nanos, Side};
use profiler::{CSV_COLUMNS, CsvReader, InvocationRecord, ProfilerError, Trace};
use proptest::prelude::*;

fn header() -> String {
    CSV_COLUMNS.join(",")
}

const LINE: &str = "f,1000,250,200,0,3,0,3072,0,512,64,storage,true";

fn csv_err(body: &str) -> (ProfilerError, String) {
    let text = format!("{}\n{body}\n", header());
    let err = Trace::from_csv_str(&text, "t.csv").unwrap_err();
    let msg = err.to_string();
    (err, msg)
}

#[test]
fn zero_byte_text_is_an_empty_trace_in_both_formats() {
    assert!(Trace::from_csv_str("", "t.csv").unwrap().records.is_empty());
    assert!(Trace::from_ron_str("", "t.ron").unwrap().records.is_empty());
    assert!(
        Trace::from_ron_str(" \n", "t.ron")
            .unwrap()
            .records
            .is_empty()
    );
}

#[test]
fn error_mid_file_stops_reading_and_keeps_the_records_before_it() {
    let text = format!(
        "{}\n{LINE}\n{LINE}\nf,x,250,200,0,3,0,3072,0,512,64,storage,true\n{LINE}\n",
        header()
    );
    let items: Vec<_> = CsvReader::new(text.as_bytes(), "t.csv").collect();
    assert_eq!(items.len(), 3, "two records, one error, then nothing");
    assert!(items[0].is_ok() && items[1].is_ok());
    let msg = items[2].as_ref().unwrap_err().to_string();
    assert_eq!(
        msg,
        "t.csv:4: field start_ns: expected a non-negative integer, got \"x\""
    );
    // Collecting gives the error, never a shortened trace.
    assert!(Trace::from_csv_str(&text, "t.csv").is_err());
}

#[test]
fn unknown_and_repeated_columns_are_rejected() {
    let text = format!("{},extra\n", header());
    let err = Trace::from_csv_str(&text, "t.csv").unwrap_err();
    assert!(
        matches!(&err, ProfilerError::UnknownColumn { line: 1, column, .. } if column == "extra")
    );
    let text = format!("{},warm\n", header());
    let err = Trace::from_csv_str(&text, "t.csv").unwrap_err();
    assert!(
        matches!(&err, ProfilerError::DuplicateColumn { line: 1, column, .. } if column == "warm")
    );
}

#[test]
fn each_bad_field_is_named() {
    let cases = [
        (
            "F,1000,250,200,0,3,0,3072,0,512,64,storage,true",
            "function",
        ),
        ("f,-1,250,200,0,3,0,3072,0,512,64,storage,true", "start_ns"),
        (
            "f,1000,250,abc,0,3,0,3072,0,512,64,storage,true",
            "storage_cpu_ns",
        ),
        (
            "f,1000,250,200,0,3.5,0,3072,0,512,64,storage,true",
            "records_read",
        ),
        ("f,1000,250,200,0,3,0,3072,0,512,64,edge,true", "side"),
        ("f,1000,250,200,0,3,0,3072,0,512,64,storage,yes", "warm"),
        (
            "f,1000,250,200,0,3,0,3072,0,\"512\",64,storage,true",
            "input_bytes",
        ),
    ];
    for (line, field) in cases {
        let (err, msg) = csv_err(line);
        assert!(
            matches!(&err, ProfilerError::BadField { line: 2, field: f, .. } if *f == field),
            "{line}: {msg}"
        );
    }
    for (line, field) in [
        (
            "f,1000,250,200,0,3,0,3072,0,512,-64,storage,true",
            "output_bytes",
        ),
        (
            "f,1000,NaN,200,0,3,0,3072,0,512,64,storage,true",
            "duration_ns",
        ),
        (
            "f,1000,250,inf,0,3,0,3072,0,512,64,storage,true",
            "storage_cpu_ns",
        ),
    ] {
        let (err, msg) = csv_err(line);
        assert!(
            matches!(&err, ProfilerError::InvalidValue { line: 2, field: f, .. } if *f == field),
            "{line}: {msg}"
        );
    }
    let (err, _) = csv_err("f,1000,250,200,0,3,0,3072,0,512,64,storage,true,extra");
    assert!(matches!(
        err,
        ProfilerError::FieldCount {
            line: 2,
            expected: 13,
            found: 14,
            ..
        }
    ));
}

#[test]
fn ron_trace_errors_name_the_line() {
    let bad_version = "(format_version: 2, functions: [], records: [])";
    assert!(matches!(
        Trace::from_ron_str(bad_version, "t.ron").unwrap_err(),
        ProfilerError::FormatVersion {
            expected: 1,
            found: 2,
            ..
        }
    ));
    let missing = "(functions: [], records: [])";
    let msg = Trace::from_ron_str(missing, "t.ron")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("format_version"), "{msg}");
    let syntax = "(\n  format_version: 1,\n  functions: [\"f\"],\n  records: [\n    (function: \"f\", start_ns: oops),\n  ],\n)";
    let err = Trace::from_ron_str(syntax, "t.ron").unwrap_err();
    assert!(matches!(err, ProfilerError::Ron { line: 5, .. }), "{err}");
    let missing_field =
        "(format_version: 1, functions: [\"f\"], records: [(function: \"f\", start_ns: 1)])";
    let msg = Trace::from_ron_str(missing_field, "t.ron")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("duration_ns"), "{msg}");
}

#[test]
fn trace_files_need_a_known_extension() {
    let err = Trace::load(std::path::Path::new("trace.json")).unwrap_err();
    assert!(err.to_string().contains(".csv or .ron"), "{err}");
}

fn record() -> impl Strategy<Value = InvocationRecord> {
    (
        prop::sample::select(vec!["a", "b-1", "fn.x", "z_9"]),
        any::<u64>(),
        (0f64..1e12, 0f64..1e12, 0f64..1e12),
        // Within the formats' limits (costmodel::limits): 1e9 records, 2^40 B.
        (0u64..=1_000_000_000, 0u64..=1_000_000_000),
        (0f64..1e12, 0f64..1e12, 0f64..1e9, 0f64..1e9),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(f, start, (d, s, c), (rr, rw), (br, bw, i, o), storage, warm)| InvocationRecord {
                function: FunctionId::new(f).unwrap(),
                start_ns: start,
                duration: Nanos::new(d),
                storage_cpu: Nanos::new(s),
                compute_cpu: Nanos::new(c),
                records_read: rr,
                records_written: rw,
                bytes_read: Bytes::new(br),
                bytes_written: Bytes::new(bw),
                input_bytes: Bytes::new(i),
                output_bytes: Bytes::new(o),
                side: if storage {
                    Side::Storage
                } else {
                    Side::Compute
                },
                warm,
            },
        )
}

proptest! {
    // Writing any valid records as CSV and reading them back gives the same records exactly.
    #[test]
    fn csv_round_trips_exactly(records in prop::collection::vec(record(), 0..30)) {
        let t = Trace::from_records("", records);
        let back = Trace::from_csv_str(&t.to_csv_string(), "t.csv").unwrap();
        prop_assert_eq!(back, t);
    }

    // Writing any valid trace as RON and reading it back gives the same trace exactly.
    #[test]
    fn ron_round_trips_exactly(records in prop::collection::vec(record(), 0..30)) {
        let t = Trace::from_records("round trip", records);
        let back = Trace::from_ron_str(&t.to_ron_string(), "t.ron").unwrap();
        prop_assert_eq!(back, t);
    }

    // Arbitrary text never panics the parsers: it parses or gives an error.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Trace::from_csv_str(&text, "t.csv");
        let _ = Trace::from_ron_str(&text, "t.ron");
        let with_header = format!("{}\n{text}", header());
        let _ = Trace::from_csv_str(&with_header, "t.csv");
    }
}
