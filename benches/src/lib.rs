//! Criterion benches live under `benches/benches/`; this library is empty.
