//! Runnable examples live under `examples/examples/`; this library is empty.
