//! The tool refuses unsafe output paths and oversized input before doing any work (issue 12).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn calibrate(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_calibrate"))
        .args(args)
        .output()
        .expect("run calibrate");
    (out, t.elapsed())
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calibrate-safety-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `calibrate args` fails quickly (nothing measured) with one line naming every needle.
fn refused_quickly(args: &[&str], needles: &[&str]) {
    let (out, took) = calibrate(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    assert!(
        !err.contains("calibrating this host"),
        "measured first: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn run_refuses_to_overwrite_an_existing_profile_without_force() {
    let dir = scratch("exists");
    let out = dir.join("host.ron");
    std::fs::write(&out, "keep me").unwrap();
    let p = out.to_str().unwrap();
    refused_quickly(
        &["run", "--quick", "--only", "memcpy", "--out", p],
        &[p, "--force"],
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_checks_the_output_path_before_measuring() {
    let dir = scratch("dir");
    let d = dir.to_str().unwrap();
    refused_quickly(
        &["run", "--quick", "--only", "memcpy", "--force", "--out", d],
        &[d, "directory"],
    );
    // A directory no file can be created in (root may write anywhere else; not in /proc).
    refused_quickly(
        &[
            "run",
            "--quick",
            "--only",
            "memcpy",
            "--out",
            "/proc/calibrate-h7.ron",
        ],
        &["/proc/calibrate-h7.ron"],
    );
    // A device is not a profile, even with --force.
    refused_quickly(
        &[
            "run",
            "--quick",
            "--only",
            "memcpy",
            "--force",
            "--out",
            "/dev/null",
        ],
        &["/dev/null", "regular file"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_with_force_replaces_the_file_atomically() {
    let dir = scratch("force");
    let out = dir.join("host.ron");
    std::fs::write(&out, "old").unwrap();
    let (o, _) = calibrate(&[
        "run",
        "--quick",
        "--only",
        "memcpy",
        "--force",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.success() {
        costmodel::HostProfile::load(&out).unwrap();
    } else {
        // A shared machine may be too noisy to measure: then the old file must be untouched.
        assert!(err.contains("too noisy"), "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    }
    // No temporary file is left behind: each was renamed onto its destination.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('.') && !name.contains(".tmp"),
            "left {name}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn show_stops_at_the_size_cap() {
    refused_quickly(&["show", "/dev/zero"], &["/dev/zero", "16 MiB"]);
    let dir = scratch("big");
    let big = dir.join("big.ron");
    let mut text = String::from("(format_version: 2, host: (name: \"");
    text.push_str(&"x".repeat(17 << 20));
    text.push_str("\"))");
    std::fs::write(&big, text).unwrap();
    let b = big.to_str().unwrap();
    refused_quickly(&["show", b], &[b, "16 MiB"]);
    refused_quickly(&["diff", b, "/dev/zero"], &[b, "16 MiB"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_probe_table_is_bounded_by_memory() {
    refused_quickly(
        &[
            "run",
            "--quick",
            "--only",
            "native",
            "--table-records",
            "4294967296",
            "--record-bytes",
            "1",
            "--out",
            "/tmp/never-written-h7.ron",
        ],
        &["--table-records", "4294967296", "MemAvailable"],
    );
}
