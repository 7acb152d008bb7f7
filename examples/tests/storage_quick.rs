//! The storage-server experiment's quick sweep runs end to end and produces a well-formed report
//! (structure and finiteness only: timing accuracy is not asserted, CI machines are noisy).

use std::sync::{Mutex, MutexGuard};

use costmodel::HostProfile;
use examples::storage::experiment::{self, Config, Side};

/// The tests here pin servers and load generators to the same two cores; run in parallel
/// they would crowd each other's blocks over the noise thresholds.
fn cores() -> MutexGuard<'static, ()> {
    static CORES: Mutex<()> = Mutex::new(());
    CORES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The literature reference profile the sweeps predict from.
fn reference_host() -> HostProfile {
    HostProfile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/hosts/reference.ron"
    ))
    .unwrap()
}

#[test]
fn quick_sweep_reports_finite_numbers_in_the_documented_shape() {
    let _cores = cores();
    let host = reference_host();
    let config = Config::quick(experiment::builtin_schemes().unwrap());
    let report = experiment::run(&config, &host, |_, _, _| {}).unwrap();

    let per_side = config.records.len() * config.compute_us.len();
    assert_eq!(report.points.len(), per_side * (config.schemes.len() + 1));
    assert_eq!(
        report
            .points
            .iter()
            .filter(|p| p.side == Side::Outside)
            .count(),
        per_side
    );
    for p in &report.points {
        for v in [
            p.server_cpu_ns.median,
            p.server_cpu_ns.min,
            p.server_cpu_ns.max,
            p.throughput.median,
            p.predicted_cpu_ns,
            p.capacity(),
            p.predicted_capacity(),
            p.abs_error_pct(),
        ] {
            assert!(v.is_finite() && v >= 0.0, "{p:?}");
        }
        assert!(
            p.requests_per_read >= 1.0 && p.requests_per_wakeup >= 1.0,
            "{p:?}"
        );
        assert!(p.preemptions_per_k_requests >= 0.0, "{p:?}");
        assert!(p.server_cpu_ns.min <= p.server_cpu_ns.median);
        assert!(p.server_cpu_ns.median <= p.server_cpu_ns.max);
        // Inside is one request per invocation; outside one GET per record.
        let want = match p.side {
            Side::Inside(_) => 1.0,
            Side::Outside => f64::from(p.records),
        };
        assert!((p.requests_per_invocation - want).abs() < 0.05, "{p:?}");
    }
    // A decision for every (scheme, c, k) whose inside and outside points were both measured in
    // a clean block: all of them on a quiet host.
    let scored = |side: &Side, k: u32, c: f64| {
        report
            .points
            .iter()
            .any(|p| &p.side == side && p.records == k && p.compute_us == c && p.scored())
    };
    let mut expected = 0;
    for s in &config.schemes {
        for &c in &config.compute_us {
            for &k in &config.records {
                if scored(&Side::Inside(s.id.to_string()), k, c) && scored(&Side::Outside, k, c) {
                    expected += 1;
                }
            }
        }
    }
    assert_eq!(report.decisions, expected);
    assert!(report.decisions <= per_side * config.schemes.len());
    assert_eq!(
        report.crossovers.len(),
        config.compute_us.len() * config.schemes.len()
    );

    let line = report.fidelity_line();
    if let Some(why) = report.unscored() {
        // The measured side could not be held to its machine state or was crowded out, or the
        // host changed speed: the line says so instead of giving a number.
        eprintln!("not scored on this host ({why}): {line}");
        assert!(line.starts_with("fidelity: not scored: "), "{line}");
        assert!(!line.contains("median_abs_error_pct"), "{line}");
        // No figure, so no level either.
        assert_eq!(report.level_line(), None);
    } else {
        let rest = line
            .strip_prefix("fidelity: median_abs_error_pct=")
            .unwrap();
        let (err, rest) = rest.split_once(" decision_accuracy_pct=").unwrap();
        let (acc, n) = rest.split_once(" points=").unwrap();
        assert!(err.parse::<f64>().unwrap().is_finite());
        assert!((0.0..=100.0).contains(&acc.parse::<f64>().unwrap()));
        // The points scored: those measured in a clean block, all of them on a quiet host.
        let (n, left_out) = n.split_once(' ').unwrap_or((n, ""));
        let scored = report.points.iter().filter(|p| p.scored()).count();
        assert_eq!(n.parse::<usize>().unwrap(), scored);
        assert_eq!(left_out.is_empty(), scored == report.points.len(), "{line}");
        assert!(scored * 4 >= report.points.len() * 3, "{line}");
        // The level over the same points: a positive factor, within the points' own range,
        // and the error left with it taken out.
        let level = report.level().unwrap();
        assert!(level.ratio > 0.0 && level.ratio.is_finite(), "{level:?}");
        assert!(
            level.lowest <= level.ratio && level.ratio <= level.highest,
            "{level:?}"
        );
        assert_eq!(level.by_compute.len(), config.compute_us.len(), "{level:?}");
        assert!(level.shape_error_pct.is_finite(), "{level:?}");
        let line = report.level_line().unwrap();
        assert!(
            line.starts_with(&format!(
                "level: the scored points measured {:.2}x their predictions",
                level.ratio
            )) && line.contains("(reported, not judged)"),
            "{line}"
        );
        // The repetitions' spread: at least 1x (slowest over fastest), and in the line.
        let reps = report.repetition_spread().unwrap();
        assert!(reps >= 1.0 && reps.is_finite(), "{reps}");
        assert!(
            line.contains(&format!("a point's repetitions {reps:.2}x apart")),
            "{line}"
        );
    }

    // Compute is priced at the kernel timed on the server's CPU over the sweep, one timing per
    // repetition; a sweep compared with a calibration at another speed gives no number.
    let kernel = *report
        .kernel()
        .expect("the kernel timed on the server's cpu");
    assert_eq!(kernel.cpu, u32::try_from(config.server_core).unwrap());
    assert_eq!(report.ns_per_round, kernel.ns_per_round);
    assert!(kernel.timings >= u32::try_from(report.points.len()).unwrap());
    let mut other = report.clone();
    other.noise.grade = costmodel::NoiseGrade::Quiet;
    // Cores free around most blocks, whatever this host's were: a sweep on cores shared around
    // most of its blocks gives no figure (`SharedCores::mostly_shared`; unit-tested in
    // `storage::report`), and the checks below are of the speed and the cores' medians.
    if let Some(c) = other.noise.shared_cores.as_mut() {
        c.shared = c.shared.min(c.blocks / 2);
    }
    for p in &mut other.points {
        p.clean_reps = p.clean_reps.max(1);
    }
    let mut reference = other.noise.clone();
    // The calibration's shared-core reading goes beside the sweep's, named.
    reference.shared_cores = Some(costmodel::SharedCores {
        blocks: 98,
        shared: 43,
        median: 1.02,
        max: 1.57,
        factor: 1.05,
        held: false,
        // As fast as the sweep's, so the speed checks below see one core.
        median_ns: other.noise.shared_cores.and_then(|c| c.median_ns),
        fastest_ns: None,
    });
    other.check_speed(&reference, "itself");
    if let Some(own) = other.noise.shared_cores {
        let line = other.cores_line().unwrap();
        let median = own
            .median_ns
            .expect("the sweep times the wide kernel in ns");
        assert!(
            line.starts_with("cores: over the sweep shared around ")
                && line.contains(&format!(
                    "; itself: around 43 of 98 (median 1.02x, {median:.3} ns/round)"
                ))
                && line.ends_with("(itself): one core (within 1.05x)"),
            "{line}"
        );
        // Cores 1.11x slower over the sweep than over its calibration: no number.
        let mut slower = other.clone();
        slower.cores = None;
        let mut faster = reference.clone();
        faster.shared_cores.as_mut().unwrap().median_ns = Some(median / 1.11);
        slower.check_speed(&faster, "a calibration on freer cores");
        assert!(
            slower
                .cores_line()
                .unwrap()
                .ends_with("another core (beyond 1.05x)")
        );
        let line = slower.fidelity_line();
        assert!(
            line.starts_with("fidelity: not scored: over the sweep the cores ran 1.11x slower")
                && line.contains("(a calibration on freer cores), beyond 1.05x")
                && !line.contains("median_abs_error_pct"),
            "{line}"
        );
    } else {
        assert_eq!(other.cores_line(), None);
    }
    reference.shared_cores = None;
    assert!(other.speed.as_ref().unwrap().0.holds());
    assert!(
        other
            .speed_line()
            .unwrap()
            .contains("at the reference's speed")
    );
    assert!(
        other
            .fidelity_line()
            .starts_with("fidelity: median_abs_error_pct=")
    );
    for s in &mut reference.speed {
        s.ns_per_round /= 1.35;
        s.min /= 1.35;
        s.max /= 1.35;
    }
    other.check_speed(&reference, "a faster calibration");
    let line = other.fidelity_line();
    assert!(
        line.starts_with("fidelity: not scored: over the sweep the host ran 1.35x slower")
            && line.contains("(a faster calibration)")
            && !line.contains("median_abs_error_pct"),
        "{line}"
    );

    // A point with no clean block is left out of the error and the decisions, and the line
    // says how many were; over a quarter of the grid left out gives no number.
    let mut some = other.clone();
    some.speed = None;
    let all = some.median_abs_error_pct();
    some.points[0].clean_reps = 0;
    some.points[0].predicted_cpu_ns = some.points[0].server_cpu_ns.median * 100.0;
    let without: Vec<f64> = some.points[1..].iter().map(|p| p.abs_error_pct()).collect();
    let expected = calibrate::stats::median(&without);
    assert!(
        (some.median_abs_error_pct() - expected).abs() <= 1e-9 * expected,
        "{} against {expected}",
        some.median_abs_error_pct()
    );
    assert!(all.is_finite());
    let n = some.points.len();
    let line = some.fidelity_line();
    assert!(
        line.ends_with(&format!(
            " points={} (1 of {n} left out: no block under the noise thresholds)",
            n - 1
        )),
        "{line}"
    );
    for p in some.points.iter_mut().take(n / 4 + 1) {
        p.clean_reps = 0;
    }
    let line = some.fidelity_line();
    assert!(
        line.starts_with(&format!(
            "fidelity: not scored: the measured side was too noisy to measure: {} of {n} points \
             without a block under the noise thresholds",
            n / 4 + 1
        )),
        "{line}"
    );

    let csv = report.csv();
    assert_eq!(csv.lines().count(), report.points.len() + 1);
    let cols = csv.lines().next().unwrap().split(',').count();
    assert!(csv.lines().all(|l| l.split(',').count() == cols));

    let dir = std::env::temp_dir().join(format!("storage-quick-{}", std::process::id()));
    report.write(&dir).unwrap();
    let svg = std::fs::read_to_string(dir.join("storage-fidelity.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("predicted"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_scheme_inside_the_server_computes_what_the_client_computes_outside() {
    let _cores = cores();
    use std::io::{BufReader, Write};
    use std::sync::Arc;

    use examples::storage::kv::Store;
    use examples::storage::server::{self, FunctionFactory};
    use examples::storage::{digest_record, kernel_checksum, protocol};

    let store = Arc::new(Store::new(1000, 100));
    let schemes = experiment::builtin_schemes().unwrap();
    let factories: Vec<FunctionFactory> = schemes
        .iter()
        .map(|s| Box::new(s.make) as FunctionFactory)
        .collect();
    let server = server::spawn(Arc::clone(&store), factories, 0).unwrap();
    let conn = std::net::TcpStream::connect(server.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    let (first, k, rounds) = (123u64, 8u32, 5u32);
    let digest = (first..first + u64::from(k))
        .map(|key| store.get(key).unwrap())
        .fold(0, digest_record);
    let mut frame = Vec::new();
    for (i, s) in schemes.iter().enumerate() {
        let mut out = Vec::new();
        protocol::encode_invoke(&mut out, u8::try_from(i).unwrap(), first, k, rounds);
        writer.write_all(&out).unwrap();
        protocol::read_frame(&mut reader, &mut frame).unwrap();
        let got_digest = u64::from_le_bytes(frame[..8].try_into().unwrap());
        let got_checksum = u64::from_le_bytes(frame[8..16].try_into().unwrap());
        assert_eq!(got_digest, digest, "{}", s.id);
        assert_eq!(got_checksum, kernel_checksum(rounds), "{}", s.id);
    }
    // Outside: the same records fetched with GET.
    for key in first..first + u64::from(k) {
        let mut out = Vec::new();
        protocol::encode_get(&mut out, key);
        writer.write_all(&out).unwrap();
        protocol::read_frame(&mut reader, &mut frame).unwrap();
        assert_eq!(frame.as_slice(), store.get(key).unwrap());
    }
    drop((reader, writer));
    server.stop().unwrap();
}

#[test]
fn a_span_spreads_the_rounds_over_it() {
    let _cores = cores();
    let host = reference_host();
    let mut config = Config::quick(experiment::builtin_schemes().unwrap());
    config.records = vec![1];
    config.compute_us = vec![0.0];
    config.reps = 3;
    config.warmup = std::time::Duration::from_millis(5);
    config.duration = std::time::Duration::from_millis(10);
    // Longer than three rounds of four 15 ms points take here, waits included.
    config.span = std::time::Duration::from_secs(3);
    let mut waited = Vec::new();
    let report = experiment::run(&config, &host, |_, _, what| {
        if what.contains(" in ") && what.ends_with(" s") {
            waited.push(what.to_owned());
        }
    })
    .unwrap();
    assert!(
        report.elapsed >= config.span,
        "the sweep took {:?}, under its span",
        report.elapsed
    );
    // Rounds 2 and 3 each waited for their share of the span.
    assert_eq!(waited.len(), 2, "{waited:?}");
    assert!(waited[0].starts_with("round 2 in ") && waited[1].starts_with("round 3 in "));
    assert_eq!(report.points.len(), 4);
}

// Each round starts once the wide kernel reads like the calibration's cores, waiting up to its
// bound, and a round whose blocks read other cores is measured again only after a wait that
// found such cores: against cores no host has, each round waits its bound, is measured once,
// waits its bound again, and the cores line says none was measured on them.
#[test]
fn each_round_waits_for_cores_like_the_calibrations() {
    let _cores = cores();
    let host = reference_host();
    let mut config = Config::quick(experiment::builtin_schemes().unwrap());
    config.records = vec![1];
    config.compute_us = vec![0.0];
    config.warmup = std::time::Duration::from_millis(5);
    config.duration = std::time::Duration::from_millis(10);
    config.cores_target_ns = Some(1e6);
    config.cores_wait = std::time::Duration::from_millis(300);
    let mut said = Vec::new();
    let report = experiment::run(&config, &host, |_, _, what| {
        if what.contains("waiting for the profile's cores") {
            said.push(what.to_owned());
        }
    })
    .unwrap();
    assert_eq!(said.len(), 4, "{said:?}");
    assert_eq!(said[0], "round 1: waiting for the profile's cores");
    assert!(
        said[1].starts_with("round 1 again (its cores read 0.00x"),
        "{said:?}"
    );
    assert_eq!(said[2], "round 2: waiting for the profile's cores");
    assert!(said[3].starts_with("round 2 again ("), "{said:?}");
    assert_eq!(report.cores_waits.len(), 4);
    for w in &report.cores_waits {
        assert!(!w.matched && w.waited >= config.cores_wait, "{w:?}");
        assert!(w.median_ns > 0.0 && w.median_ns < 1e6, "{w:?}");
    }
    if report.noise.shared_cores.is_some() {
        assert_eq!(report.round_cores.len(), 2);
        for r in &report.round_cores {
            assert!(r.tries == 1 && !r.matched() && r.ratio < 0.01, "{r:?}");
        }
        let line = report.cores_line().unwrap();
        assert!(
            line.contains("; 0 of 2 rounds measured on cores like the calibration's (0.00x, 0.00x; 2 tries, 4 waits, "),
            "{line}"
        );
    }
}
