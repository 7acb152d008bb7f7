//! CSV trace: load, then round trip, profile and price.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = profiler::Trace::from_csv_str(text, "fuzz.csv") {
        let back = profiler::Trace::from_csv_str(&t.to_csv_string(), "round trip")
            .unwrap_or_else(|e| panic!("a saved CSV trace does not load: {e}"));
        assert_eq!(
            back.records, t.records,
            "CSV round trip changed the records"
        );
        near_data_fuzz::check_trace(&t);
    }
});
