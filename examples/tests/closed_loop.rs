//! The closed loop's quick run goes end to end and reports every policy, and bad configuration
//! gets one clear line. No timing is asserted: CI machines are noisy.

use examples::closedloop::{self, POLICIES, aggregate, config::Config};

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn quick_run_reports_all_five_policies_and_the_oracle() {
    let config = Config::from_args(&args(&["--quick"])).unwrap();
    let report = closedloop::run(&config, |_| {}).unwrap();
    let names: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, POLICIES);
    for p in &report.policies {
        assert_eq!(p.throughput.len(), config.phases.len(), "{}", p.name);
        assert!(
            p.throughput.iter().all(|t| t.is_finite() && *t > 0.0),
            "{}: {:?}",
            p.name,
            p.throughput
        );
        assert!(
            p.server_ns.iter().all(|n| n.is_finite() && *n > 0.0),
            "{}",
            p.name
        );
        assert!(
            p.client_ns.iter().all(|n| n.is_finite() && *n > 0.0),
            "{}",
            p.name
        );
        assert_eq!(p.convergence_s.len(), config.phases.len() - 1);
        assert!(!p.series.is_empty());
    }
    assert_eq!(report.oracle.len(), config.phases.len());
    assert_eq!(report.oracle_split.len(), config.phases.len());
    // Each oracle's choice is measured again on its own, so the split oracle's figure may come
    // out below the other's on a noisy machine: only the shapes are checked.
    for ((t, x), (ts, xs)) in report.oracle.iter().zip(&report.oracle_split) {
        assert!(*t > 0.0 && *ts > 0.0, "{t} {ts}");
        assert!(x.iter().all(|f| *f == 0.0 || *f == 1.0), "{x:?}");
        assert!(xs.iter().all(|f| (0.0..=1.0).contains(f)), "{xs:?}");
    }
    // Ours decides within each phase, so its split is run beside the split oracle's in each.
    assert_eq!(report.ours_static.len(), config.phases.len());
    for row in &report.ours_static {
        let (t, x) = row.as_ref().expect("ours decided in every phase");
        assert!(*t > 0.0, "{t}");
        assert!(x.iter().all(|f| (0.0..=1.0).contains(f)), "{x:?}");
    }
    assert_eq!(report.server_errors, 0);
    let csv = report.csv();
    for name in POLICIES {
        assert!(
            csv.lines().any(|l| l.starts_with(&format!("{name},"))),
            "{name} missing from\n{csv}"
        );
    }
    // The aggregate over repetitions has a row per policy and phase and the acceptance ratios.
    let agg = aggregate::csv(std::slice::from_ref(&report));
    for name in POLICIES
        .iter()
        .chain(&["oracle", "ours/better-baseline", "ours/oracle"])
    {
        for ph in &config.phases {
            let row = format!("{name},{},", ph.label);
            assert!(
                agg.lines().any(|l| l.starts_with(&row)),
                "{row} missing from\n{agg}"
            );
        }
    }
    let text = aggregate::text(std::slice::from_ref(&report), "test");
    assert!(text.contains("ours"));
    assert!(text.contains("machine state"), "{text}");
    let svg = std::env::temp_dir().join(format!("closed-loop-{}.svg", std::process::id()));
    report.write_svg(&svg).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let _ = std::fs::remove_file(svg);
}

#[test]
fn bad_configuration_gets_one_clear_line() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["--functions", "lookup,nosuch"],
            "unknown function \"nosuch\"",
        ),
        (&["--functions", ""], "the mix is empty"),
        (&["--phase-ms", "0"], "phase duration must be above zero"),
        (&["--bogus"], "unknown flag \"--bogus\""),
        (&["--functions", ",,"], "the mix is empty"),
        (&["--reps", "0"], "--reps must be above zero"),
        (&["--window", "0"], "--window must be above zero"),
        (&["--kayak-slo-us", "0"], "Kayak's SLO must be above zero"),
        (
            &["--phase-ms", "soon"],
            "--phase-ms \"soon\" is not a whole number",
        ),
    ];
    for (a, want) in cases {
        let e = Config::from_args(&args(a)).unwrap_err().to_string();
        assert!(e.contains(want), "{a:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn a_table_smaller_than_an_invocation_reads_is_refused() {
    // The scan reads 32 records, 128 in the more-records phase: each function's table must hold
    // that many, or its reads would run into the next function's table (another record size).
    let mut config = Config::quick(&["lookup", "scan"]).unwrap();
    config.store_records = 100;
    let e = config.check().unwrap_err().to_string();
    assert!(e.contains("holds 100 records, fewer than the 128"), "{e}");
    config.store_records = 128;
    assert!(config.check().is_ok());
}

#[test]
fn an_oracle_with_no_paired_runs_is_refused() {
    // The split oracle reports the median of its paired runs: zero runs would have no figure.
    let mut config = Config::quick(&["lookup", "hash"]).unwrap();
    config.oracle_pairs = 0;
    let e = config.check().unwrap_err().to_string();
    assert!(e.contains("oracle pairs must be above zero"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    config.oracle_pairs = 1;
    assert!(config.check().is_ok());
}
