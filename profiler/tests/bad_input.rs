//! Bad traces (issue 12): every accepted trace profiles to a valid, finite workload set, and a
//! repeated or misplaced key in a RON trace is an error, not lost data.

use profiler::{Profiler, ProfilerConfig, Trace};

const HEADER: &str = "function,start_ns,duration_ns,storage_cpu_ns,compute_cpu_ns,records_read,records_written,bytes_read,bytes_written,input_bytes,output_bytes,side,warm";

fn csv(lines: &[&str]) -> String {
    format!("{HEADER}\n{}\n", lines.join("\n"))
}

/// A trace that loads must profile to a workload set the cost model accepts.
fn profiles_cleanly(trace: &Trace) {
    let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
    p.ingest_all(&trace.records).unwrap();
    if trace.records.is_empty() {
        return;
    }
    let set = p.workload_set("t");
    set.validate("profiled").unwrap();
}

#[test]
fn compute_that_would_sum_past_f64_is_refused() {
    let line = "f,1000,1e308,0,1e308,1,0,10,0,1,1,storage,false";
    let text = csv(&[line, line, line]);
    match Trace::from_csv_str(&text, "t.csv") {
        Ok(trace) => profiles_cleanly(&trace),
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("t.csv") && e.contains("duration_ns"), "{e}");
        }
    }
    let err = Trace::from_csv_str(&text, "t.csv").unwrap_err().to_string();
    assert!(err.contains("1e308") || err.contains("100000000"), "{err}");
}

#[test]
fn huge_counts_and_sizes_are_refused() {
    for (line, field) in [
        (
            "f,1000,10,0,10,18446744073709551615,0,10,0,1,1,storage,false",
            "records_read",
        ),
        ("f,1000,10,0,10,1,0,1e300,0,1,1,storage,false", "bytes_read"),
        (
            "f,1000,10,0,10,1,0,10,0,1e300,1,storage,false",
            "input_bytes",
        ),
    ] {
        let err = Trace::from_csv_str(&csv(&[line]), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn sparse_and_extreme_but_valid_traces_profile_to_valid_workloads() {
    let text = csv(&[
        "f,0,1,0,1,0,0,0,0,0,0,storage,false",
        "f,18446744073709551615,1,0,1,0,0,0,0,0,0,storage,true",
        "g,5,1000000000000000,0,1000000000000000,1000000000,0,1099511627776,0,1099511627776,1099511627776,compute,true",
    ]);
    profiles_cleanly(&Trace::from_csv_str(&text, "t.csv").unwrap());
}

const RON_HEAD: &str = "(format_version: 1, description: \"d\", functions: [\"f\"], ";
const REC: &str = "(function: \"f\", start_ns: 1, duration_ns: 2.0, storage_cpu_ns: 1.0, compute_cpu_ns: 1.0, records_read: 1, records_written: 0, bytes_read: 1.0, bytes_written: 0.0, input_bytes: 1.0, output_bytes: 1.0, side: Storage, warm: false)";

#[test]
fn a_second_records_key_is_an_error() {
    let text = format!("{RON_HEAD}records: [{REC}], records: [{REC}, {REC}])");
    let err = Trace::from_ron_str(&text, "t.ron").unwrap_err().to_string();
    assert!(err.contains("t.ron") && err.contains("records"), "{err}");
}

#[test]
fn functions_declared_twice_or_after_the_records_is_an_error() {
    let text = format!("{RON_HEAD}functions: [\"g\"], records: [{REC}])");
    let err = Trace::from_ron_str(&text, "t.ron").unwrap_err().to_string();
    assert!(err.contains("functions"), "{err}");
    let text = format!("{RON_HEAD}records: [{REC}], functions: [\"f\", \"g\"])");
    let err = Trace::from_ron_str(&text, "t.ron").unwrap_err().to_string();
    assert!(err.contains("functions"), "{err}");
    let text = "(format_version: 1, format_version: 1, functions: [], records: [])";
    let err = Trace::from_ron_str(text, "t.ron").unwrap_err().to_string();
    assert!(err.contains("format_version"), "{err}");
}

#[test]
fn a_ron_record_past_the_limits_is_refused() {
    let rec = REC.replace("compute_cpu_ns: 1.0", "compute_cpu_ns: 1e308");
    let text = format!("{RON_HEAD}records: [{rec}])");
    let err = Trace::from_ron_str(&text, "t.ron").unwrap_err().to_string();
    assert!(err.contains("compute_cpu_ns"), "{err}");
}

#[test]
fn bytes_read_without_records_is_refused() {
    let line = "f,1000,10,0,10,0,0,4096,0,1,1,storage,false";
    let err = Trace::from_csv_str(&csv(&[line]), "t.csv")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bytes_read") && err.contains("records_read"),
        "{err}"
    );
}

#[test]
fn a_steep_compute_fit_still_profiles_to_a_valid_workload() {
    // Found by the trace_csv fuzz target: compute that grows fast with tiny inputs fits a
    // slope far over 1e6 ns/B.
    let text = csv(&[
        "f,0,1,0,1000000000000000,1,0,1,0,0,0,compute,false",
        "f,10,1,0,0,1,0,1,0,0.000001,0,compute,false",
        "f,20,1,0,31000000,1,0,1,0,1,0,compute,true",
    ]);
    profiles_cleanly(&Trace::from_csv_str(&text, "t.csv").unwrap());
}
