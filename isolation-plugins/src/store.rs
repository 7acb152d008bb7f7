//! The standard storage function and the record store it reads, shared by every scheme.
//!
//! A later experiment runs a real key-value server that executes tenant functions inside
//! itself. Each scheme's *instance* (see [`StorageFunction`]) runs the same function, so the
//! server can swap schemes without changing what is computed:
//!
//! ```text
//! digest = 0; found = 0; bytes = 0
//! for key in first_key .. first_key + records:          // k records, through the scheme's
//!     n = host_read(key, scratch)                       // host-access path (import, helper, ...)
//!     if n is some: found += 1; bytes += n
//!                   digest += u64::from_le_bytes(scratch[0..8])   (wrapping; zero-padded)
//! checksum = kernel::fnv1a_rounds(kernel::input(), rounds)        // the shared compute kernel
//! return StorageOutput { found, bytes, digest, checksum }
//! ```
//!
//! [`reference_output`] computes the expected answer natively, so tests (and the server) can
//! check any scheme's result.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use costmodel::kernel;

use crate::error::{PluginError, Result};

/// The largest record a function can read; longer records are truncated to this many bytes.
pub const MAX_RECORD_BYTES: usize = 4096;

/// The most records one call may read.
pub const MAX_RECORDS: u32 = 1 << 20;

/// The most kernel rounds one call may run.
pub const MAX_ROUNDS: u32 = 1 << 20;

/// Records in the table the probes read by default ([`TableShape::DEFAULT`]): 256 Ki records of [`PROBE_TABLE_RECORD_BYTES`], about
/// 50 MB with the map's overhead, so that a read misses the CPU caches as a read from a storage
/// server's table does. (A first version read a 1,024-record table that fits in L2: it measured
/// a third of the per-record cost that the storage-server experiment in `examples/` saw.)
pub const PROBE_TABLE_RECORDS: u64 = 1 << 18;

/// Bytes per record of the probes' table.
pub const PROBE_TABLE_RECORD_BYTES: usize = 128;

/// Consecutive keys one batch of a local-access probe reads, from a scattered first key: the
/// standard storage function's pattern (`first_key .. first_key + records`), so every scheme's
/// probe measures the same access pattern (the map's bucket of each key is still a scattered
/// miss; the records themselves were allocated in key order). 32 is the longest run the
/// bundled workloads and the storage sweep read (1 to 32 records an invocation). Runs of 1,024
/// (the first version) let the hardware prefetcher ramp up over a run no function here reads:
/// on the 2-vCPU Xeon VM a record of a 10 MB table cost 58 ns read in runs of 1,024, 79 ns in
/// runs of 32 and 128 ns in runs of 4 (the `table_sizes` example), while the storage server
/// paid 116-200 ns a record for records 5-32 of an invocation.
pub const PROBE_RUN_RECORDS: u64 = 32;

/// The fewest records a probe table holds ([`TableShape::checked`]).
pub const MIN_TABLE_RECORDS: u64 = 1024;

/// How many records the probes' table holds and how long each is. A record's local-access cost
/// depends on whether the storage server's table fits in the caches, so an operator calibrates
/// with the shape of their server's table ([`ProbeEnv::new`], `calibrate run
/// --table-records N --record-bytes B`); the default is a table well out of cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableShape {
    /// Records in the table.
    pub records: u64,
    /// Bytes per record.
    pub record_bytes: usize,
}

impl TableShape {
    /// [`PROBE_TABLE_RECORDS`] records of [`PROBE_TABLE_RECORD_BYTES`].
    pub const DEFAULT: TableShape = TableShape {
        records: PROBE_TABLE_RECORDS,
        record_bytes: PROBE_TABLE_RECORD_BYTES,
    };

    /// The most bytes of records a probe table may hold (4 GiB).
    pub const MAX_BYTES: u64 = 4 << 30;

    /// Checks the shape: at least [`MIN_TABLE_RECORDS`] records, records of 1 to
    /// [`MAX_RECORD_BYTES`] bytes, at most [`TableShape::MAX_BYTES`] in all.
    ///
    /// # Errors
    /// [`PluginError::InvalidTable`] naming the field, the range and the value.
    pub fn checked(self) -> Result<Self> {
        let bad =
            |field: &'static str, expected: String, found: String| PluginError::InvalidTable {
                field,
                expected,
                found,
            };
        if self.records < MIN_TABLE_RECORDS {
            return Err(bad(
                "table records",
                format!(">= {MIN_TABLE_RECORDS}"),
                self.records.to_string(),
            ));
        }
        if self.record_bytes == 0 || self.record_bytes > MAX_RECORD_BYTES {
            return Err(bad(
                "record bytes",
                format!("1..={MAX_RECORD_BYTES}"),
                self.record_bytes.to_string(),
            ));
        }
        let total = self.records.saturating_mul(self.record_bytes as u64);
        if total > Self::MAX_BYTES {
            return Err(bad(
                "table records x record bytes",
                format!("<= {} bytes", Self::MAX_BYTES),
                total.to_string(),
            ));
        }
        Ok(self)
    }

    /// Bytes of record data (the map's overhead comes on top).
    pub fn data_bytes(self) -> u64 {
        self.records.saturating_mul(self.record_bytes as u64)
    }
}

impl std::fmt::Display for TableShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records of {} B ({:.1} MB of records)",
            self.records,
            self.record_bytes,
            self.data_bytes() as f64 / 1e6
        )
    }
}

/// The built-in schemes whose local-access probe reads [`ProbeEnv::table`] (`vm` and `mpk` read
/// their own guest memory or protected region).
pub const PROBE_TABLE_READERS: [&str; 4] = ["native", "process", "ebpf", "wasm"];

/// Records of each sized table ([`ProbeEnv::sized`]) by default: 32 Ki records, so the 4 KiB
/// table holds 128 MiB of records and the 64 B one 2 MiB (the same number of keys, so the map's
/// lookups cost the same and the difference is the bytes).
pub const SIZED_TABLE_RECORDS: u64 = 1 << 15;

/// The tables of the native probe's table-size curve: a label (the operation names
/// `local_access.table=<label>` and `local_access.scattered.table=<label>`) and the bytes of
/// record data aimed at. Each holds records of the main table's size ([`ProbeEnv::curve`]). A
/// record's cost depends on whether the server's table fits in the caches (on the 2-vCPU EPYC
/// development VM, 8 MiB of L3, a native read in runs of 32 keys cost 27-30 ns per record in a
/// 2 MB table, 50-59 ns in 10 MB, 107-143 ns in 34 MB and 197-209 ns in 134 MB: the
/// `table_sizes` example), so the profile keeps the curve and a
/// prediction moves each local access from the probe table to the server's
/// (`costmodel::HostProfile::at_table`).
pub const CURVE_TABLES: [(&str, u64); 4] = [
    ("1MiB", 1 << 20),
    ("4MiB", 4 << 20),
    ("16MiB", 16 << 20),
    ("128MiB", 128 << 20),
];

/// The most records a curve table holds (a curve table of 1-byte records would otherwise need
/// 128 Mi map entries, several GiB).
pub const CURVE_MAX_RECORDS: u64 = 1 << 20;

/// The shape of the curve table aimed at `bytes` of records of `record_bytes`: `bytes /
/// record_bytes` records, at least twice [`MIN_TABLE_RECORDS`] and at most
/// [`CURVE_MAX_RECORDS`].
pub fn curve_shape(bytes: u64, record_bytes: usize) -> TableShape {
    let per = u64::try_from(record_bytes.max(1)).unwrap_or(u64::MAX);
    TableShape {
        records: (bytes / per).clamp(2 * MIN_TABLE_RECORDS, CURVE_MAX_RECORDS),
        record_bytes,
    }
}

/// A table the probes read, with its shape, built when it is created (no process-wide state).
#[derive(Debug)]
pub struct ProbeTable {
    shape: TableShape,
    store: Arc<MapStore>,
}

impl ProbeTable {
    /// Builds a synthetic table of `shape` ([`MapStore::synthetic`]).
    ///
    /// # Errors
    /// [`PluginError::InvalidTable`] for a shape [`TableShape::checked`] refuses.
    pub fn build(shape: TableShape) -> Result<Self> {
        let shape = shape.checked()?;
        Ok(ProbeTable {
            shape,
            store: Arc::new(MapStore::synthetic(shape.records, shape.record_bytes)),
        })
    }

    /// The table's shape.
    pub fn shape(&self) -> TableShape {
        self.shape
    }

    /// The records.
    pub fn store(&self) -> &Arc<MapStore> {
        &self.store
    }

    /// Key `i` of a scattered walk over this table leaving room for `run` consecutive keys (see
    /// [`ProbeEnv`]): successive `i` land far apart, so the walk does not stream through the
    /// cache.
    pub fn key(&self, i: u64, run: u64) -> u64 {
        let span = self.shape.records.saturating_sub(run).max(1);
        (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17) % span
    }
}

/// What a scheme's probe reads, handed to it as an argument: the main table (its `local_access`)
/// and one table per record size of [`crate::kernels::ACCESS_SIZES`] (its
/// `local_access.bytes=N` operations), each built on first use.
///
/// ```
/// use isolation_plugins::store::{ProbeEnv, TableShape};
/// let env = ProbeEnv::new(TableShape { records: 2048, record_bytes: 32 }, 1024).unwrap();
/// assert_eq!(env.sized(64).unwrap().shape().record_bytes, 64);
/// assert!(env.sized(100).is_none());
/// ```
#[derive(Debug)]
pub struct ProbeEnv {
    main: OnceLock<Arc<ProbeTable>>,
    main_shape: TableShape,
    sized_records: u64,
    sized: [OnceLock<Arc<ProbeTable>>; 2],
    curve: [OnceLock<Arc<ProbeTable>>; CURVE_TABLES.len()],
}

impl ProbeEnv {
    /// An environment whose main table has `main` and whose sized tables hold `sized_records`
    /// records each (built lazily).
    ///
    /// # Errors
    /// [`PluginError::InvalidTable`] when a table shape is refused.
    pub fn new(main: TableShape, sized_records: u64) -> Result<Arc<Self>> {
        let main = main.checked()?;
        for bytes in crate::kernels::ACCESS_SIZES {
            TableShape {
                records: sized_records,
                record_bytes: bytes,
            }
            .checked()?;
        }
        for (_, bytes) in CURVE_TABLES {
            curve_shape(bytes, main.record_bytes).checked()?;
        }
        Ok(Arc::new(ProbeEnv {
            main: OnceLock::new(),
            main_shape: main,
            sized_records,
            sized: [OnceLock::new(), OnceLock::new()],
            curve: Default::default(),
        }))
    }

    /// The environment of schemes built with `new()`: a main table of [`TableShape::DEFAULT`]
    /// and sized tables of [`SIZED_TABLE_RECORDS`] records, built on first use and shared by
    /// every such scheme (a cache of the defaults; nothing sets it).
    pub fn process_default() -> Arc<Self> {
        static ENV: OnceLock<Arc<ProbeEnv>> = OnceLock::new();
        Arc::clone(ENV.get_or_init(|| {
            Arc::new(ProbeEnv {
                main: OnceLock::new(),
                main_shape: TableShape::DEFAULT,
                sized_records: SIZED_TABLE_RECORDS,
                sized: [OnceLock::new(), OnceLock::new()],
                curve: Default::default(),
            })
        }))
    }

    /// The main table.
    pub fn table(&self) -> Arc<ProbeTable> {
        Arc::clone(self.main.get_or_init(|| {
            Arc::new(ProbeTable {
                shape: self.main_shape,
                store: Arc::new(MapStore::synthetic(
                    self.main_shape.records,
                    self.main_shape.record_bytes,
                )),
            })
        }))
    }

    /// The table of `bytes`-byte records, for `bytes` in [`crate::kernels::ACCESS_SIZES`].
    pub fn sized(&self, bytes: usize) -> Option<Arc<ProbeTable>> {
        let i = crate::kernels::ACCESS_SIZES
            .iter()
            .position(|&b| b == bytes)?;
        Some(Arc::clone(self.sized[i].get_or_init(|| {
            Arc::new(ProbeTable {
                shape: TableShape {
                    records: self.sized_records,
                    record_bytes: bytes,
                },
                store: Arc::new(MapStore::synthetic(self.sized_records, bytes)),
            })
        })))
    }
}

impl ProbeEnv {
    /// The curve table labelled `label` (one of [`CURVE_TABLES`]): records of the main table's
    /// size, [`curve_shape`] records of them, built on first use.
    pub fn curve(&self, label: &str) -> Option<Arc<ProbeTable>> {
        let i = CURVE_TABLES.iter().position(|(l, _)| *l == label)?;
        let shape = self.curve_shape(label)?;
        Some(Arc::clone(self.curve[i].get_or_init(|| {
            Arc::new(ProbeTable {
                shape,
                store: Arc::new(MapStore::synthetic(shape.records, shape.record_bytes)),
            })
        })))
    }

    /// The shape of the curve table labelled `label`, without building it.
    pub fn curve_shape(&self, label: &str) -> Option<TableShape> {
        let (_, bytes) = CURVE_TABLES.iter().find(|(l, _)| *l == label)?;
        Some(curve_shape(*bytes, self.main_shape.record_bytes))
    }
}

/// Where a storage function's records come from: the storage server's table.
///
/// Copy-out rather than borrow, so a store behind a lock or in another process can implement it.
pub trait RecordSource: Send + Sync {
    /// Copies record `key` into the start of `dst` (at most `dst.len()` bytes) and returns the
    /// record's full length, or `None` when the key is absent.
    fn read_into(&self, key: u64, dst: &mut [u8]) -> Option<usize>;
}

impl<T: RecordSource + ?Sized> RecordSource for Arc<T> {
    fn read_into(&self, key: u64, dst: &mut [u8]) -> Option<usize> {
        (**self).read_into(key, dst)
    }
}

impl<T: RecordSource + ?Sized> RecordSource for &T {
    fn read_into(&self, key: u64, dst: &mut [u8]) -> Option<usize> {
        (**self).read_into(key, dst)
    }
}

/// A record store in a hash map: the "shared map" of the native scheme and the default table of
/// probes and tests.
#[derive(Clone, Debug, Default)]
pub struct MapStore {
    records: HashMap<u64, Vec<u8>>,
}

impl MapStore {
    /// An empty store.
    pub fn new() -> Self {
        MapStore::default()
    }

    /// A store with keys `0..count`, each record `record_bytes` long with deterministic content
    /// (byte `i` of record `k` is `(k * 131 + i * 7) mod 256`).
    pub fn synthetic(count: u64, record_bytes: usize) -> Self {
        let mut s = MapStore::new();
        s.records.reserve(usize::try_from(count).unwrap_or(0));
        // Byte i of record k is (k * 131 + i * 7) mod 256: one row of i * 7, shifted per record.
        let row: Vec<u8> = (0..record_bytes)
            .map(|i| (i as u64).wrapping_mul(7).to_le_bytes()[0])
            .collect();
        for k in 0..count {
            let add = k.wrapping_mul(131).to_le_bytes()[0];
            s.insert(k, row.iter().map(|b| b.wrapping_add(add)).collect());
        }
        s
    }

    /// Inserts or replaces record `key`.
    pub fn insert(&mut self, key: u64, value: Vec<u8>) {
        self.records.insert(key, value);
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl RecordSource for MapStore {
    fn read_into(&self, key: u64, dst: &mut [u8]) -> Option<usize> {
        let v = self.records.get(&key)?;
        let n = v.len().min(dst.len());
        dst[..n].copy_from_slice(&v[..n]);
        Some(v.len())
    }
}

/// One invocation of the standard storage function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StorageCall {
    /// The first key read.
    pub first_key: u64,
    /// How many consecutive keys to read (`k`), at most [`MAX_RECORDS`].
    pub records: u32,
    /// Rounds of the FNV-1a compute kernel, at most [`MAX_ROUNDS`].
    pub rounds: u32,
}

impl StorageCall {
    /// Checks the call's ranges.
    ///
    /// # Errors
    /// [`PluginError::InvalidCall`] naming the field out of range.
    pub fn validate(&self) -> Result<()> {
        if self.records > MAX_RECORDS {
            return Err(PluginError::InvalidCall {
                field: "records",
                expected: format!("<= {MAX_RECORDS}"),
                found: self.records.to_string(),
            });
        }
        if self.rounds > MAX_ROUNDS {
            return Err(PluginError::InvalidCall {
                field: "rounds",
                expected: format!("<= {MAX_ROUNDS}"),
                found: self.rounds.to_string(),
            });
        }
        Ok(())
    }
}

/// What the standard storage function returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StorageOutput {
    /// Records found.
    pub found: u32,
    /// Total length of the records found (before truncation to [`MAX_RECORD_BYTES`]).
    pub bytes: u64,
    /// Wrapping sum of each found record's first 8 bytes (little endian, zero-padded).
    pub digest: u64,
    /// The compute kernel's checksum for `rounds`.
    pub checksum: u64,
}

/// A scheme's instance of the standard storage function, bound to a record source. This is the
/// API a storage server embeds: create one instance per tenant (the cold start), call
/// [`StorageFunction::run`] per invocation (the warm path).
pub trait StorageFunction: Send {
    /// The scheme this instance runs under (`native`, `wasm`, `ebpf`, ...).
    fn scheme(&self) -> &'static str;

    /// Runs the standard storage function once.
    ///
    /// # Errors
    /// [`PluginError::InvalidCall`] for out-of-range calls, or the scheme's runtime error.
    fn run(&mut self, call: StorageCall) -> Result<StorageOutput>;
}

/// The host side of a record read, shared by every scheme: zero the first 8 bytes of `dst` (so
/// short records give a zero-padded digest word), copy the record in, return its length.
pub(crate) fn host_read(source: &dyn RecordSource, key: u64, dst: &mut [u8]) -> Option<usize> {
    let head = dst.len().min(8);
    dst[..head].fill(0);
    source.read_into(key, dst)
}

/// The first 8 bytes of `buf` as a little-endian word, zero-padded.
pub(crate) fn head_word(buf: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = buf.len().min(8);
    w[..n].copy_from_slice(&buf[..n]);
    u64::from_le_bytes(w)
}

/// The standard storage function computed natively: the expected output of every scheme.
///
/// # Errors
/// [`PluginError::InvalidCall`] for out-of-range calls.
pub fn reference_output(source: &dyn RecordSource, call: StorageCall) -> Result<StorageOutput> {
    call.validate()?;
    let mut scratch = vec![0u8; MAX_RECORD_BYTES];
    let mut out = StorageOutput::default();
    for i in 0..u64::from(call.records) {
        if let Some(n) = host_read(source, call.first_key.wrapping_add(i), &mut scratch) {
            out.found += 1;
            out.bytes += n as u64;
            out.digest = out.digest.wrapping_add(head_word(&scratch));
        }
    }
    out.checksum = kernel::fnv1a_rounds(&kernel::input(), call.rounds);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shapes_are_checked_by_the_shape_and_the_env() {
        for (shape, field) in [
            (
                TableShape {
                    records: 10,
                    record_bytes: 128,
                },
                "table records",
            ),
            (
                TableShape {
                    records: 4096,
                    record_bytes: 0,
                },
                "record bytes",
            ),
            (
                TableShape {
                    records: 4096,
                    record_bytes: MAX_RECORD_BYTES + 1,
                },
                "record bytes",
            ),
            (
                TableShape {
                    records: 1 << 30,
                    record_bytes: 4096,
                },
                "table records x record bytes",
            ),
        ] {
            let e = shape.checked().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        // An environment refuses the same shapes.
        let bad = TableShape {
            records: 1 << 30,
            record_bytes: 4096,
        };
        assert!(ProbeEnv::new(bad, SIZED_TABLE_RECORDS).is_err());
        assert!(ProbeEnv::new(TableShape::DEFAULT, SIZED_TABLE_RECORDS).is_ok());
    }

    #[test]
    fn short_records_give_zero_padded_digest_words() {
        let mut s = MapStore::new();
        s.insert(1, vec![0xff; 3]);
        s.insert(2, vec![1, 0, 0, 0, 0, 0, 0, 0, 9]);
        let call = StorageCall {
            first_key: 0,
            records: 3,
            rounds: 0,
        };
        let out = reference_output(&s, call).unwrap();
        assert_eq!(out.found, 2);
        assert_eq!(out.bytes, 12);
        assert_eq!(out.digest, 0x00ff_ffff + 1);
        assert_eq!(out.checksum, kernel::FNV_OFFSET);
    }

    #[test]
    fn out_of_range_calls_are_rejected_with_the_field() {
        let call = StorageCall {
            first_key: 0,
            records: MAX_RECORDS + 1,
            rounds: 0,
        };
        let err = call.validate().unwrap_err().to_string();
        assert!(err.contains("records"), "{err}");
    }
}
