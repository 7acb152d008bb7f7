//! `calibrate show` and `calibrate diff`'s reader: load a profile, render it, compare it with
//! itself and with the reference profile both ways (calibrate's `report.rs`, compiled in by
//! path).
#![no_main]

use libfuzzer_sys::fuzz_target;
use near_data_fuzz::report;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = costmodel::HostProfile::from_ron(text, "fuzz.ron") {
        let shown = report::show(&p, "fuzz.ron");
        assert!(shown.starts_with("host profile fuzz.ron"), "{shown}");
        for r in report::diff_rows(&p, &p) {
            assert!(
                r.ratio == 1.0 && r.beyond_ci != Some(true),
                "a profile differs from itself: {r:?}"
            );
        }
        let reference = near_data_fuzz::reference_host();
        assert!(report::diff(&p, reference, "fuzz", "ref").starts_with("A = fuzz"));
        assert!(report::diff(reference, &p, "ref", "fuzz").starts_with("A = ref"));
    }
});
