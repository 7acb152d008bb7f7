//! Real isolation schemes (native, process, vm, mpk, ebpf, wasm) with calibration probes.
//!
//! Placeholder: built by its own issue.

use costmodel::IsolationScheme;

/// Every scheme compiled into this build, for explicit registration.
pub fn schemes() -> Vec<Box<dyn IsolationScheme>> {
    Vec::new()
}
