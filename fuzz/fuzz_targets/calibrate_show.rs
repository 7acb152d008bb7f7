//! `calibrate show` and `calibrate diff`'s reader: load a profile, render it and compare it with
//! the reference profile (needs `--features show`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = costmodel::HostProfile::from_ron(text, "fuzz.ron") {
        let shown = calibrate::report::show(&p, "fuzz.ron");
        assert!(!shown.is_empty());
        let _ = calibrate::report::diff(&p, near_data_fuzz::reference_host(), "fuzz", "ref");
        let _ = calibrate::report::diff(near_data_fuzz::reference_host(), &p, "ref", "fuzz");
    }
});
