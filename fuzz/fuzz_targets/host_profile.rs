//! Host profile RON: load, then round trip, model, evaluate and crossover.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = costmodel::HostProfile::from_ron(text, "fuzz.ron") {
        near_data_fuzz::check_host(&p);
    }
});
