//! A real storage server, functions inside vs outside, measured against the cost model's
//! prediction (DESIGN.md §9).
//!
//! - [`kv`]: the in-process key-value store.
//! - [`protocol`]: GET, MULTIGET, INVOKE and STATS frames over TCP.
//! - [`server`]: one server thread (pinned to one core for the sweep) running a non-blocking
//!   event loop over all its connections; INVOKE runs the function inside the server under a
//!   real isolation plugin. `storage_server serve` runs it standalone ([`serve`]).
//! - [`client`]: the load generator, pinned to the other core, saturating the server.
//! - [`experiment`]: the sweep; [`predict`]: the model's prediction of every point, from the
//!   echo-calibrated `tcp` entry or from a server's own `calibrate server` terms.
//! - [`kv_fidelity`]: the server calibrated with `calibrate server --driver kv`, then swept and
//!   predicted from that calibration.
//!
//! The function is the same everywhere: `isolation_plugins::store`'s standard storage function
//! (sum the first 8 bytes of each of `k` consecutive records, run the shared FNV-1a kernel for
//! `rounds` rounds, return both). Inside, the scheme's instance runs it through the scheme's own
//! host-access path; outside, the load generator fetches the records and runs it natively.

pub mod client;
mod event_loop;
pub mod experiment;
pub mod kv;
pub mod kv_fidelity;
pub mod plot;
mod poll;
pub mod predict;
pub mod protocol;
mod report;
pub mod serve;
pub mod server;

pub use report::Level;

use costmodel::kernel;

/// The standard storage function's per-record step: add the record's first 8 bytes
/// (little endian, zero-padded) to the digest, as `isolation_plugins::store` defines it.
#[inline]
pub fn digest_record(digest: u64, record: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = record.len().min(8);
    head[..n].copy_from_slice(&record[..n]);
    digest.wrapping_add(u64::from_le_bytes(head))
}

/// The function's compute step, run by the load generator when the function runs outside.
pub fn kernel_checksum(rounds: u32) -> u64 {
    kernel::fnv1a_rounds(&kernel::input(), rounds)
}
