//! Online workload profiler, trace formats and the fleet view.
//!
//! Placeholder: built by its own issue.
