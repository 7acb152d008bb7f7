//! Workload set RON: load, then round trip and prices on the reference host.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = costmodel::WorkloadSet::from_ron(text, "fuzz.ron") {
        near_data_fuzz::check_workloads(&set);
    }
});
