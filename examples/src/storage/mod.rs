//! A real storage server, functions inside vs outside, measured against the cost model's
//! prediction (DESIGN.md §9).
//!
//! - [`kv`]: the in-process key-value store.
//! - [`protocol`]: GET, MULTIGET, INVOKE and STATS frames over TCP.
//! - [`server`]: one server thread pinned to one core; INVOKE runs the function inside the
//!   server under a real isolation plugin.
//! - [`client`]: the load generator, pinned to the other core, saturating the server.
//! - [`experiment`]: the sweep, the model's prediction, and the report.
//!
//! The function is the same everywhere: fold the first 8 bytes of each of the `k` records into
//! an accumulator, then run the shared FNV-1a kernel (`costmodel::kernel`) for `rounds` rounds
//! and return `fold ^ kernel`.

pub mod client;
pub mod experiment;
pub mod kv;
pub mod plot;
pub mod protocol;
pub mod server;
pub mod sys;

use costmodel::kernel;

/// Folds every record of `body` (records of `record_bytes`, concatenated) into `acc`.
pub fn fold_records(mut acc: u64, body: &[u8], record_bytes: usize) -> u64 {
    for rec in body.chunks(record_bytes.max(1)) {
        acc = kv::fold_record(acc, rec);
    }
    acc
}

/// The function's compute step: the shared kernel, combined with the records' fold.
pub fn finish_function(fold: u64, rounds: u32) -> u64 {
    fold ^ kernel::fnv1a_rounds(&kernel::input(), rounds)
}

/// The whole function, natively: fold the records, run the kernel.
pub fn run_function<'a>(records: impl Iterator<Item = &'a [u8]>, rounds: u32) -> u64 {
    let fold = records.fold(0u64, kv::fold_record);
    finish_function(fold, rounds)
}
