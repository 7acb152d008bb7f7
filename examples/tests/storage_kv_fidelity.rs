//! `storage_server kv-fidelity`'s path end to end on a tiny sweep: the server runs as a child
//! process, `calibrate server --driver kv` calibrates it, the entry lands in the profile, and the
//! sweep is priced from that entry (structure only: timing accuracy is not asserted, CI machines
//! are noisy). Uses the example binary `cargo test -p examples` builds
//! (`target/<profile>/examples/storage_server`).

use std::path::PathBuf;
use std::time::Duration;

use calibrate::server::load::ClientModel;
use costmodel::{HostProfile, TransportId};
use examples::storage::experiment::{self, Config, Side};
use examples::storage::kv_fidelity;

fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let bin = dir.join("examples").join("storage_server");
    bin.exists().then_some(bin)
}

#[test]
fn the_sweep_is_priced_from_the_servers_own_calibration() {
    let Some(bin) = binary() else {
        eprintln!(
            "skipped: the storage_server example is not built (cargo build -p examples \
             --example storage_server)"
        );
        return;
    };
    if calibrate::cpu::allowed_cpus().len() < 2 {
        eprintln!("skipped: needs two cpus (server on one, load on another)");
        return;
    }
    let host = HostProfile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/hosts/reference.ron"
    ))
    .unwrap();
    let config = Config {
        records: vec![1, 8],
        compute_us: vec![0.0],
        reps: 1,
        duration: Duration::from_millis(60),
        warmup: Duration::from_millis(20),
        store_records: 10_000,
        ..Config::quick(experiment::builtin_schemes().unwrap())
    };
    let r = kv_fidelity::run(
        &bin,
        &config,
        &host,
        (true, ClientModel::OneThread),
        kv_fidelity::Order::Interleaved,
        &mut |_| {},
    )
    .unwrap();

    assert_eq!(r.transport, "kv@storage-server");
    let id = TransportId::new(&r.transport).unwrap();
    let entry = &r.profile.transports[&id];
    let terms = entry.server_terms.as_ref().expect("server terms");
    assert!(
        terms.processing.value() >= 0.0 && terms.points > 0,
        "{terms:?}"
    );
    // The echo's entry is untouched; the kv entry was added beside it.
    assert_eq!(
        r.profile.transports[&TransportId::new("tcp").unwrap()],
        host.transports[&TransportId::new("tcp").unwrap()]
    );

    let n = config.records.len() * config.compute_us.len() * (config.schemes.len() + 1);
    for report in [&r.report, &r.echo] {
        assert_eq!(report.points.len(), n);
        // A decision pairs an inside point with the outside one at the same records and
        // compute, both measured in a clean block: every pair when the host was quiet, fewer
        // when other processes (a parallel test run) contaminated the blocks of one.
        let scored = |side: &Side, records: u32| {
            report
                .points
                .iter()
                .any(|p| &p.side == side && p.records == records && p.scored())
        };
        let pairs = report
            .points
            .iter()
            .filter(|p| p.side != Side::Outside && p.scored() && scored(&Side::Outside, p.records))
            .count();
        assert_eq!(report.decisions, pairs);
        assert!(pairs <= n - config.records.len());
        for p in &report.points {
            assert!(
                p.predicted_cpu_ns.is_finite() && p.predicted_cpu_ns > 0.0,
                "{p:?}"
            );
            assert!(p.server_cpu_ns.median > 0.0, "{p:?}");
        }
    }
    assert!(r.report.predicted_from.contains("kv@storage-server"));
    assert!(r.echo.predicted_from.contains("tcp"));
    // Both reports price the same measured points.
    for (a, b) in r.report.points.iter().zip(&r.echo.points) {
        assert_eq!((&a.side, a.records), (&b.side, b.records));
        assert_eq!(a.server_cpu_ns, b.server_cpu_ns);
    }
    // Outside is one GET per record, inside one INVOKE.
    for p in &r.report.points {
        let want = match p.side {
            Side::Inside(_) => 1.0,
            Side::Outside => f64::from(p.records),
        };
        assert!((p.requests_per_invocation - want).abs() < 0.05, "{p:?}");
    }
    let lines = r.lines();
    let scored = r.report.unscored().is_none() && r.calibration_unusable.is_none();
    let head = if scored {
        "kv fidelity: median_abs_error_pct="
    } else {
        "kv fidelity: not scored: "
    };
    assert!(lines.starts_with(head), "{lines}");
    assert!(lines.contains("\necho (same points) fidelity: "), "{lines}");

    let dir = std::env::temp_dir().join(format!("kv-fidelity-{}", std::process::id()));
    r.write(&dir).unwrap();
    let again = HostProfile::load(dir.join("host-kv.ron")).unwrap();
    assert!(again.transports[&id].server_terms.is_some());
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    assert!(
        summary.contains("calibrate server: storage-server over kv"),
        "{summary}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
