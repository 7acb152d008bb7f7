//! RON trace: load, then round trip, profile and price.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = profiler::Trace::from_ron_str(text, "fuzz.ron") {
        let back = profiler::Trace::from_ron_str(&t.to_ron_string(), "round trip")
            .unwrap_or_else(|e| panic!("a saved RON trace does not load: {e}"));
        assert_eq!(back, t, "RON round trip changed the trace");
        near_data_fuzz::check_trace(&t);
    }
});
