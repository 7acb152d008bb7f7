//! `HostProfile::at_table`: a profile moved from its probe table to a server's table of another
//! size by the table-size curve.

use std::path::PathBuf;

use costmodel::{
    Bytes, Estimate, HostProfile, Model, Nanos, SchemeId, Source, TableAccess, TablePoint,
};

fn reference() -> HostProfile {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hosts/reference.ron");
    HostProfile::load(path).expect("reference profile loads")
}

fn est(v: f64) -> Estimate<Nanos> {
    Estimate::cited(Nanos::new(v), "test")
}

/// The reference profile with a curve over 1, 32 (the probe table) and 128 MB, measured for
/// `native` and `wasm` (their local access at the probe table 175 and 190 ns, about the curve's
/// 170 there), and a scattered-read premium of 200 ns.
fn with_curve() -> HostProfile {
    let mut host = reference();
    set_access(&mut host, "native", 175.0, 5.0);
    set_access(&mut host, "wasm", 190.0, 5.0);
    let p = |mb: f64, run: f64, sc: f64| TablePoint {
        table_bytes: Bytes::new(mb * 1e6),
        in_run: est(run),
        scattered: est(sc),
    };
    host.table_access = Some(TableAccess {
        probe_table_bytes: Bytes::new(32e6),
        schemes: vec![
            SchemeId::new("native").unwrap(),
            SchemeId::new("wasm").unwrap(),
        ],
        points: vec![
            p(1.0, 40.0, 60.0),
            p(32.0, 170.0, 400.0),
            p(128.0, 290.0, 510.0),
        ],
    });
    host.scattered_access = Some(est(200.0));
    host.validate("test").expect("the curve validates");
    host
}

/// Sets `scheme`'s local access to `point` with an interval `half` either side.
fn set_access(h: &mut HostProfile, scheme: &str, point: f64, half: f64) {
    let e = &mut h
        .isolation
        .get_mut(&SchemeId::new(scheme).unwrap())
        .unwrap()
        .local_access;
    (e.point, e.lower, e.upper) = (
        Nanos::new(point),
        Nanos::new(point - half),
        Nanos::new(point + half),
    );
}

fn access(h: &HostProfile, scheme: &str) -> f64 {
    h.isolation[&SchemeId::new(scheme).unwrap()]
        .local_access
        .point
        .get()
}

#[test]
fn a_smaller_table_moves_the_listed_schemes_and_the_premium_down() {
    let host = with_curve();
    let moved = host.at_table(Bytes::new(1e6)).unwrap();
    moved.validate("moved").unwrap();
    // -130 ns per record in runs, not below the curve's 40 ns at 1 MB.
    for s in ["native", "wasm"] {
        let want = (access(&host, s) - 130.0).max(40.0);
        assert!((access(&moved, s) - want).abs() < 1e-9, "{s}");
        let e = &moved.isolation[&SchemeId::new(s).unwrap()].local_access;
        assert!(matches!(&e.source, Source::Derived { formula } if formula.contains("1.0 MB")));
    }
    // Schemes off the list (vm reads its own guest memory) stay.
    assert_eq!(access(&moved, "vm"), access(&host, "vm"));
    // The premium is the curve's at the new table: 60 - 40.
    let premium = moved.scattered_access.as_ref().unwrap().point.get();
    assert!((premium - 20.0).abs() < 1e-9, "{premium}");
    // The curve now starts from the new table: moving back gives the curve's premium at the
    // probe table (400 - 170).
    let back = moved.at_table(Bytes::new(32e6)).unwrap();
    assert!((back.scattered_access.unwrap().point.get() - 230.0).abs() < 1e-9);
}

#[test]
fn a_larger_table_costs_more_and_the_model_builds() {
    let host = with_curve();
    let moved = host.at_table(Bytes::new(64e6)).unwrap();
    // Halfway from 32 to 128 MB in log2: +60 ns.
    assert!((access(&moved, "native") - access(&host, "native") - 60.0).abs() < 1e-9);
    let t = moved.table_access.as_ref().unwrap();
    assert_eq!(t.probe_table_bytes.get(), 64e6);
    assert_eq!(t.points.len(), 4, "the new table is a point of the curve");
    let model = Model::from_profile(moved).unwrap();
    assert!(model.storage_lookup().get() > 0.0);
}

#[test]
fn a_profile_without_a_curve_or_a_bad_size_is_refused_in_one_line() {
    let e = reference()
        .at_table(Bytes::new(1e6))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("table_access") && e.contains("calibrate again"),
        "{e}"
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = with_curve()
            .at_table(Bytes::new(bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("table_bytes"), "{bad}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn a_curve_with_an_unknown_field_or_unsorted_points_does_not_load() {
    let text = ron::ser::to_string(&with_curve()).unwrap();
    let extra = text.replacen("probe_table_bytes:", "probe_bytes:1,probe_table_bytes:", 1);
    let e = ron::from_str::<HostProfile>(&extra)
        .unwrap_err()
        .to_string();
    assert!(e.contains("probe_bytes"), "{e}");
    let mut h = with_curve();
    h.table_access.as_mut().unwrap().points.reverse();
    let e = h.validate("host.ron").unwrap_err().to_string();
    assert!(e.contains("table_access.points[1].table_bytes"), "{e}");
}

#[test]
fn a_move_past_the_formats_limit_is_refused_not_written() {
    let mut host = with_curve();
    let native = SchemeId::new("native").unwrap();
    let e = &mut host.isolation.get_mut(&native).unwrap().local_access;
    // 1e15 ns is the format's limit for a time; +120 ns at 128 MB passes it.
    (e.point, e.lower, e.upper) = (
        Nanos::new(1e15 - 10.0),
        Nanos::new(1e15 - 20.0),
        Nanos::new(1e15),
    );
    host.validate("test").unwrap();
    let err = host.at_table(Bytes::new(128e6)).unwrap_err().to_string();
    assert!(
        err.contains("HostProfile::at_table") && err.contains("local_access"),
        "{err}"
    );
}

// A scheme timed below the curve's own point at the probe table (the two are timed at different
// moments) is not moved below the curve at the new table: 100 - 130 would be -30 ns.
#[test]
fn a_move_holds_a_scheme_at_the_curves_read_of_the_new_table() {
    let mut host = with_curve();
    set_access(&mut host, "native", 100.0, 10.0);
    set_access(&mut host, "wasm", 300.0, 10.0);
    let moved = host.at_table(Bytes::new(1e6)).unwrap();
    moved.validate("moved").unwrap();
    let native = &moved.isolation[&SchemeId::new("native").unwrap()].local_access;
    assert!((native.point.get() - 40.0).abs() < 1e-9, "{native:?}");
    assert!((native.lower.get() - 30.0).abs() < 1e-9, "{native:?}");
    assert!(
        matches!(&native.source, Source::Derived { formula } if formula.contains("held at the curve's in-run read")),
        "{native:?}"
    );
    // Wasm moves as native does (-60 ns, not the curve's -130): it keeps the 200 ns
    // it adds over native, measured in the same rounds as native's 100.
    assert!((access(&moved, "wasm") - 240.0).abs() < 1e-9);
    let wasm = &moved.isolation[&SchemeId::new("wasm").unwrap()].local_access;
    assert!(
        matches!(&wasm.source, Source::Derived { formula } if formula.contains("moved as native is") && formula.contains("+200.0 ns over native")),
        "{wasm:?}"
    );
}

// Holding every scheme at the curve on its own gave wasm native's cost at the new table: the
// 15 ns wasm adds over native would vanish. A scheme timed under native still lands on the curve.
#[test]
fn a_held_move_keeps_each_schemes_excess_over_native_and_none_goes_below_the_curve() {
    let mut host = with_curve();
    set_access(&mut host, "native", 100.0, 10.0);
    set_access(&mut host, "wasm", 115.0, 10.0);
    let moved = host.at_table(Bytes::new(1e6)).unwrap();
    assert!((access(&moved, "native") - 40.0).abs() < 1e-9);
    assert!((access(&moved, "wasm") - 55.0).abs() < 1e-9);
    set_access(&mut host, "wasm", 90.0, 5.0);
    let moved = host.at_table(Bytes::new(1e6)).unwrap();
    assert!(
        (access(&moved, "wasm") - 40.0).abs() < 1e-9,
        "held at the curve, not 30 ns"
    );
    // Without native on the list, each scheme is held on its own (wasm 115 - 130 -> 40).
    set_access(&mut host, "wasm", 115.0, 10.0);
    host.table_access.as_mut().unwrap().schemes = vec![SchemeId::new("wasm").unwrap()];
    let moved = host.at_table(Bytes::new(1e6)).unwrap();
    assert!((access(&moved, "wasm") - 40.0).abs() < 1e-9);
    assert_eq!(
        access(&moved, "native"),
        100.0,
        "native is off the list and stays"
    );
}
