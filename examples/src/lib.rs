//! Support code for the runnable examples under `examples/examples/`.
//!
//! [`storage`] holds the storage-server experiment (`cargo run --release -p examples --example
//! storage_server`), kept in the library so a test can run its quick sweep.

pub mod closedloop;
pub mod fidelity;
pub mod storage;
