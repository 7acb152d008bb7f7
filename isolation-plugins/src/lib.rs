//! Real isolation schemes (native, process, vm, mpk, ebpf, wasm) with calibration probes.
//!
//! Placeholder: built by its own issue.
