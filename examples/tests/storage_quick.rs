//! The storage-server experiment's quick sweep runs end to end and produces a well-formed report
//! (structure and finiteness only: timing accuracy is not asserted, CI machines are noisy).

use costmodel::{HostProfile, SchemeId};
use examples::storage::experiment::{self, Config, SchemeSpec, Side};
use examples::storage::server::{InsideFunction, NativeFunction};

fn native() -> Result<Box<dyn InsideFunction>, String> {
    Ok(Box::new(NativeFunction))
}

#[test]
fn quick_sweep_reports_finite_numbers_in_the_documented_shape() {
    let host = HostProfile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/hosts/reference.ron"
    ))
    .unwrap();
    let schemes = vec![SchemeSpec {
        id: SchemeId::new("native").unwrap(),
        make: native,
    }];
    let config = Config::quick(schemes);
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
        assert!(p.server_cpu_ns.min <= p.server_cpu_ns.median);
        assert!(p.server_cpu_ns.median <= p.server_cpu_ns.max);
        // Inside is one request per invocation; outside one GET per record.
        let want = match p.side {
            Side::Inside(_) => 1.0,
            Side::Outside => f64::from(p.records),
        };
        assert!((p.requests_per_invocation - want).abs() < 0.05, "{p:?}");
    }
    assert_eq!(report.decisions, per_side * config.schemes.len());
    assert_eq!(
        report.crossovers.len(),
        config.compute_us.len() * config.schemes.len()
    );

    let line = report.fidelity_line();
    let rest = line
        .strip_prefix("fidelity: median_abs_error_pct=")
        .unwrap();
    let (err, rest) = rest.split_once(" decision_accuracy_pct=").unwrap();
    let (acc, n) = rest.split_once(" points=").unwrap();
    assert!(err.parse::<f64>().unwrap().is_finite());
    assert!((0.0..=100.0).contains(&acc.parse::<f64>().unwrap()));
    assert_eq!(n.parse::<usize>().unwrap(), report.points.len());

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
