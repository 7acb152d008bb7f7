//! Strict files (issue 12): unknown fields, duplicate keys and out-of-domain values are errors
//! that name the file, the field and the value, and never an internal type.

use costmodel::{HostProfile, WorkloadSet};

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/../fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn host() -> String {
    fixture("hosts/reference.ron")
}

fn sweep() -> String {
    fixture("workloads/fig2-records-sweep.ron")
}

fn host_err(text: &str) -> String {
    HostProfile::from_ron(text, "h.ron")
        .unwrap_err()
        .to_string()
}

fn work_err(text: &str) -> String {
    WorkloadSet::from_ron(text, "w.ron")
        .unwrap_err()
        .to_string()
}

#[test]
fn a_misspelled_workload_field_is_an_error_naming_it() {
    let text = sweep().replacen("slo: None,", "slo_ns: Some(5000.0),", 1);
    let err = work_err(&text);
    assert!(err.starts_with("w.ron:"), "{err}");
    assert!(err.contains("slo_ns"), "{err}");
}

#[test]
fn an_unknown_top_level_field_is_an_error() {
    let text = sweep().replacen(
        "format_version: 1,",
        "format_version: 1, colour: \"red\",",
        1,
    );
    let err = work_err(&text);
    assert!(err.contains("colour"), "{err}");
    let text = host().replacen("flags: [],", "flags: [], extra: 1,", 1);
    let err = host_err(&text);
    assert!(err.contains("extra"), "{err}");
}

#[test]
fn an_unknown_nested_host_field_is_an_error() {
    let text = host().replacen(
        "slowdown: (point: 2.0,",
        "slowdwn: 3.0, slowdown: (point: 2.0,",
        1,
    );
    let err = host_err(&text);
    assert!(err.contains("slowdwn"), "{err}");
    let text = host().replacen("name:", "nmae: \"x\", name:", 1);
    let err = host_err(&text);
    assert!(err.contains("nmae"), "{err}");
}

#[test]
fn a_duplicate_map_key_is_an_error_naming_the_key() {
    // Repeat the first transport entry under the same key.
    let text = host();
    let start = text.find("transports: {").unwrap() + "transports: {".len();
    let end = start + text[start..].find("\n        ),\n").unwrap() + "\n        ),\n".len();
    let entry = &text[start..end];
    let bad = format!("{}{entry}{entry}{}", &text[..start], &text[end..]);
    let err = host_err(&bad);
    assert!(err.starts_with("h.ron"), "{err}");
    assert!(err.contains("duplicate"), "{err}");
    let key = entry.split('"').nth(1).unwrap();
    assert!(err.contains(key), "{key} not in {err}");
}

#[test]
fn a_duplicate_struct_field_is_an_error() {
    let text = sweep().replacen(
        "record_bytes: 100.0,",
        "record_bytes: 100.0, record_bytes: 5.0,",
        1,
    );
    let err = work_err(&text);
    assert!(
        err.contains("duplicate") && err.contains("record_bytes"),
        "{err}"
    );
}

#[test]
fn a_histogram_whose_last_fraction_is_not_one_is_an_error() {
    let text = sweep().replacen(
        "arrival: (rate: 100000.0, cv: 1.0)",
        "arrival: (rate: 100000.0, cv: 1.0, histogram: [(100.0, 0.2), (200.0, 0.7)])",
        1,
    );
    let err = work_err(&text);
    assert!(err.contains("histogram"), "{err}");
    assert!(err.contains("0.7"), "{err}");
}

#[test]
fn nan_and_infinity_in_flags_are_errors() {
    for v in ["NaN", "inf"] {
        let flag = format!(
            "flags: [(field: \"dispatch\", value: {v}, low: 1.0, high: 2.0, note: \"x\")],"
        );
        let err = host_err(&host().replacen("flags: [],", &flag, 1));
        assert!(err.contains("flags[0].value"), "{err}");
    }
    let flag = "flags: [(field: \"dispatch\", value: 1.0, low: 3.0, high: 2.0, note: \"x\")],";
    let err = host_err(&host().replacen("flags: [],", flag, 1));
    assert!(err.contains("flags[0]"), "{err}");
}

#[test]
fn an_empty_isolation_map_is_an_error() {
    let text = host();
    let start = text.find("isolation: {").unwrap();
    let end = text.find("flags: [],").unwrap();
    let bad = format!("{}isolation: {{}},\n    {}", &text[..start], &text[end..]);
    let err = host_err(&bad);
    assert!(err.contains("isolation must not be empty"), "{err}");
}

#[test]
fn a_slowdown_below_a_tenth_is_an_error_naming_it() {
    let text = host().replacen(
        "slowdown: (point: 2.0, lower: 1.2,",
        "slowdown: (point: 0.01, lower: 0.01,",
        1,
    );
    let err = host_err(&text);
    assert!(err.contains("slowdown.point"), "{err}");
    assert!(err.contains("0.01"), "{err}");
}

#[test]
fn an_out_of_range_integer_names_the_field_and_value() {
    let text = host().replacen("samples: 0", "samples: 4294967296", 1);
    let err = host_err(&text);
    assert!(err.contains("samples"), "{err}");
    assert!(err.contains("4294967296"), "{err}");
    let text = sweep().replacen("format_version: 1", "format_version: -3", 1);
    let err = work_err(&text);
    assert!(
        err.contains("format_version") && err.contains("-3"),
        "{err}"
    );
}

#[test]
fn an_empty_file_names_no_internal_type() {
    for text in ["", "   \n", "()", "[]", "7"] {
        let err = host_err(text);
        assert!(err.starts_with("h.ron"), "{err}");
        assert!(!err.contains("VersionOnly"), "{err}");
        let err = work_err(text);
        assert!(!err.contains("VersionOnly"), "{err}");
        assert!(!err.contains("WorkloadSet"), "{err}");
    }
}

#[test]
fn errors_never_name_internal_types() {
    let cases = [
        sweep().replacen("slo: None,", "slo_ns: None,", 1),
        sweep().replacen("record_bytes: 100.0,", "", 1),
        sweep().replacen("compute: (base: 0.0,", "compute: (bse: 0.0,", 1),
    ];
    for text in cases {
        let err = work_err(&text);
        for internal in ["WorkloadProfile", "WorkloadSet", "Compute`", "Arrival`"] {
            assert!(!err.contains(internal), "{err}");
        }
    }
}

#[test]
fn a_duplicate_workload_id_names_the_file() {
    let text = sweep().replacen("id: \"sweep-k2\"", "id: \"sweep-k1\"", 1);
    let err = work_err(&text);
    assert!(err.starts_with("w.ron"), "{err}");
    assert!(err.contains("sweep-k1"), "{err}");
    assert!(err.contains("workloads[1]"), "{err}");
}

#[test]
fn parse_errors_name_the_field_path() {
    let text = host().replacen("samples: 0", "samples: 4294967296", 1);
    let err = host_err(&text);
    assert!(
        err.contains("dispatch.samples: integer 4294967296"),
        "{err}"
    );
    let text = sweep().replacen("compute: (base: 0.0,", "compute: (bse: 0.0,", 1);
    let err = work_err(&text);
    assert!(
        err.contains("unknown field `workloads.compute.bse`"),
        "{err}"
    );
}

#[test]
fn every_committed_host_and_workload_file_still_loads() {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    for dir in ["fixtures/hosts", "fixtures/workloads"] {
        for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let p = e.unwrap().path();
            if dir.ends_with("hosts") {
                HostProfile::load(&p).unwrap();
            } else {
                WorkloadSet::load(&p).unwrap();
            }
        }
    }
    HostProfile::load(format!(
        "{root}/examples/results/vm-16cpu-intel-xeon/host.ron"
    ))
    .unwrap();
}

#[test]
fn the_fuzz_seed_profiles_load() {
    for name in ["minimal.ron", "reference.ron"] {
        let p = format!(
            "{}/../fuzz/seeds/host_profile/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        HostProfile::load(&p).unwrap();
    }
}
