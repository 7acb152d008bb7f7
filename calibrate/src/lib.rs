//! Measurement harness and the calibrate tool that profiles a host.
//!
//! Placeholder: built by its own issue.
