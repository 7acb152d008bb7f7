//! The command-line tool on committed profiles and on bad input (no measuring: fast, untimed).

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/hosts")
        .join(name)
}

fn calibrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calibrate"))
        .args(args)
        .output()
        .expect("run calibrate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every committed host profile.
fn committed_profiles() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

#[test]
fn show_prints_every_committed_profile_as_tables() {
    for p in committed_profiles() {
        let out = calibrate(&["show", p.to_str().unwrap()]);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            text(&out.stderr)
        );
        assert!(stdout.contains("transport / regime"), "{stdout}");
        assert!(stdout.contains("scheme"), "{stdout}");
    }
}

#[test]
fn diff_compares_committed_profiles() {
    let all = committed_profiles();
    let a = all[0].to_str().unwrap();
    let b = all[all.len() - 1].to_str().unwrap();
    let out = calibrate(&["diff", a, b]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("B/A"), "{stdout}");
    assert!(stdout.contains("differ beyond them"), "{stdout}");
    let same = calibrate(&["diff", a, a]);
    let same = text(&same.stdout);
    assert!(same.lines().any(|l| l.starts_with("0 of ")), "{same}");
}

#[test]
fn a_bad_profile_is_one_line_naming_file_and_field() {
    let reference = std::fs::read_to_string(fixture("reference.ron")).unwrap();
    let bad = reference.replacen("per_byte: (point: 0.0815", "per_byte: (point: -0.5", 1);
    assert_ne!(bad, reference);
    let dir = std::env::temp_dir().join(format!("calibrate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.ron");
    std::fs::write(&path, bad).unwrap();
    let out = calibrate(&["show", path.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("bad.ron"), "{err}");
    assert!(
        err.contains("transports.tcp.unloaded.client.per_byte.point"),
        "{err}"
    );

    let garbage = dir.join("garbage.ron");
    std::fs::write(&garbage, "(format_version: 1, host: 3)").unwrap();
    let out = calibrate(&[
        "diff",
        fixture("reference.ron").to_str().unwrap(),
        garbage.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("garbage.ron:1:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_file_names_the_file() {
    let out = calibrate(&["show", "/nonexistent/host.ron"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/nonexistent/host.ron"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn bad_flags_are_one_line_and_a_non_zero_exit() {
    let out = calibrate(&["run", "--fast"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--fast"), "{err}");

    // Unknown --only ids are refused before anything is measured.
    refused(
        &[
            "run",
            "--quick",
            "--only",
            "tcp,carrier-pigeon",
            "--out",
            "/dev/null",
        ],
        &["carrier-pigeon", "known"],
    );
    // So are rounds out of 1..=9, naming the flag and the value.
    for bad in ["0", "10", "three"] {
        refused(
            &["run", "--quick", "--rounds", bad, "--out", "/dev/null"],
            &["--rounds", bad],
        );
    }
}

/// Runs `calibrate args`, which must fail with one line of standard error containing every
/// one of `needles`.
fn refused(args: &[&str], needles: &[&str]) {
    let out = calibrate(args);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(needles.iter().all(|n| err.contains(n)), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn the_probe_table_is_sized_by_flags_and_recorded_in_the_profile() {
    // A bad shape is refused before anything is measured, naming the flag, range and value.
    refused(
        &[
            "run",
            "--quick",
            "--only",
            "native",
            "--table-records",
            "10",
            "--out",
            "/dev/null",
        ],
        &["--table-records", ">= 1024", "got 10"],
    );

    // A good one is used, and the measured local access says which table it read.
    let dir = std::env::temp_dir().join(format!("calibrate-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("host.ron");
    let out = calibrate(&[
        "run",
        "--quick",
        "--only",
        "native",
        "--table-records",
        "4096",
        "--record-bytes",
        "64",
        // This test is about the table shape; a busy build host must not fail it.
        "--accept-noise",
        // Held to free cores (bounded by the quick cap), and the profile says it was.
        "--hold-free-cores",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let profile = costmodel::HostProfile::load(&path).unwrap();
    let cores = profile.noise.as_ref().and_then(|n| n.shared_cores);
    assert!(cores.is_some_and(|c| c.held), "{cores:?}");
    let native = &profile.isolation[&costmodel::SchemeId::new("native").unwrap()];
    match &native.local_access.source {
        costmodel::Source::Measured { method } => assert!(
            method.contains("probe table: 4096 records of 64 B"),
            "{method}"
        ),
        other => panic!("native local access not measured: {other:?}"),
    }
    // The scattered-read premium is derived from the native probe's two reads.
    let premium = profile.scattered_access.as_ref().expect("scattered_access");
    assert!(premium.point.get() >= 0.0 && premium.lower.get() <= premium.point.get());
    match &premium.source {
        costmodel::Source::Derived { formula } => {
            assert!(formula.contains("local_access.scattered"), "{formula}")
        }
        other => panic!("scattered_access not derived: {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
