//! Ranks placements of serverless functions by the cost model (embedding API for schedulers).
//!
//! Placeholder: built by its own issue.
