//! How a native record read's cost depends on the table's size and the run length: per table
//! size, ns per record read in runs of 1,024, 32 and 4 consecutive keys from scattered first
//! keys, one per scattered key, the same in a dependent chain (each key from the record before),
//! and the chain with a loopback TCP round before each read, the read alone timed, as
//! calibrate's scattered probe reads; then runs of 32 and 4 keys after a loopback round and
//! after a 100 us sleep, the run alone timed (median of 11 batches: 200,000 records for the
//! tight loops, 4,000-100,000 for the rest; each table built fresh in this process). The numbers behind
//! `costmodel::TableAccess`'s documentation.
//!
//! `cargo run --release -p isolation-plugins --example table_sizes`

use std::hint::black_box;
use std::time::Instant;

use isolation_plugins::native::{Loopback, read_scattered};
use isolation_plugins::store::{MapStore, ProbeTable, RecordSource, TableShape};

/// Median ns per record over 11 batches of `total` records read in runs of `run` keys.
fn per_record(store: &MapStore, records: u64, run: u64, total: u64) -> f64 {
    let src: &dyn RecordSource = black_box(store);
    let mut scratch = vec![0u8; 4096];
    let (mut walk, mut acc) = (0u64, 0u64);
    let span = records.saturating_sub(run).max(1);
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            let mut left = total;
            while left > 0 {
                walk = walk.wrapping_add(1);
                let first = (walk.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17) % span;
                for key in first..first + run {
                    if let Some(n) = src.read_into(key, &mut scratch) {
                        acc = acc.wrapping_add(n as u64 ^ u64::from(scratch[0]));
                    }
                }
                left = left.saturating_sub(run);
            }
            t.elapsed().as_nanos() as f64 / total as f64
        })
        .collect();
    black_box(acc);
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median ns per record over 11 batches of `total` records read one per scattered key, each key
/// computed from the record read before it (a dependent chain: no two reads overlap, as the
/// first read of a request does not overlap another request's in a server).
fn per_record_dependent(store: &MapStore, records: u64, total: u64) -> f64 {
    let src: &dyn RecordSource = black_box(store);
    let mut scratch = vec![0u8; 4096];
    let mut walk = 0u64;
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..total {
                let key = (walk.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17) % records;
                let n = src.read_into(key, &mut scratch).unwrap_or(0);
                walk = walk.wrapping_add(1 + (n as u64 ^ u64::from(scratch[0])));
            }
            t.elapsed().as_nanos() as f64 / total as f64
        })
        .collect();
    black_box(walk);
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median ns per record over 11 batches of `total` records read as calibrate's scattered
/// probe reads them ([`read_scattered`]): one per scattered key, each key from the record
/// before, each after a loopback TCP round that is not timed.
fn per_record_between_rounds(records: u64, bytes: usize, total: u64) -> f64 {
    let table = ProbeTable::build(TableShape {
        records,
        record_bytes: bytes,
    })
    .expect("a valid table shape");
    let mut link = Loopback::open().expect("a loopback connection");
    let mut scratch = vec![0u8; 4096];
    let mut walk = 0u64;
    let overhead = {
        let mut v: Vec<f64> = (0..1000)
            .map(|_| {
                let t = Instant::now();
                black_box(Instant::now()).duration_since(t).as_nanos() as f64
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let own = read_scattered(&table, &mut walk, &mut scratch, total, &mut link)
                .expect("loopback rounds");
            own.as_nanos() as f64 / total as f64 - overhead
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median ns per record over 11 batches of about `total` records read in runs of `run`
/// consecutive keys from scattered first keys, each run after a loopback TCP round that is not
/// timed (the run alone is): a storage function's reads inside a server, where the network stack
/// runs between two invocations.
fn per_record_runs_between_rounds(store: &MapStore, records: u64, run: u64, total: u64) -> f64 {
    per_record_runs_after(store, records, run, total, Before::LoopbackRound)
}

/// What runs before each timed run of [`per_record_runs_after`].
#[derive(Clone, Copy)]
enum Before {
    /// A loopback TCP round in this thread (the network stack's work).
    LoopbackRound,
    /// A 100 us sleep: the core idles, as a server's does between batches of requests.
    Idle,
}

/// As [`per_record_runs_between_rounds`], with `before` before each run.
fn per_record_runs_after(
    store: &MapStore,
    records: u64,
    run: u64,
    total: u64,
    before: Before,
) -> f64 {
    let src: &dyn RecordSource = black_box(store);
    let mut link = Loopback::open().expect("a loopback connection");
    let mut scratch = vec![0u8; 4096];
    let (mut walk, mut acc) = (0u64, 0u64);
    let span = records.saturating_sub(run).max(1);
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let mut own = std::time::Duration::ZERO;
            let mut read = 0u64;
            while read < total {
                walk = walk.wrapping_add(1);
                match before {
                    Before::LoopbackRound => {
                        link.round(walk.to_le_bytes()[0]).expect("loopback round");
                    }
                    Before::Idle => std::thread::sleep(std::time::Duration::from_micros(100)),
                }
                let t = Instant::now();
                let first = (walk.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17) % span;
                for key in first..first + run {
                    if let Some(n) = src.read_into(key, &mut scratch) {
                        acc = acc.wrapping_add(n as u64 ^ u64::from(scratch[0]));
                    }
                }
                own += t.elapsed();
                read += run;
            }
            own.as_nanos() as f64 / read as f64
        })
        .collect();
    black_box(acc);
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    println!(
        "ns per record: runs of 1024 / 32 / 4 keys, one per scattered key, one per scattered key \
         in a dependent chain, the chain with a loopback TCP round before each read (untimed); runs of \
         32 and 4 keys with a loopback round before each run (untimed); runs of 32 and 4 keys \
         after a 100 us sleep (the core idle)"
    );
    for (records, bytes) in [
        (1024u64, 128usize),
        (16_384u64, 128usize),
        (65_536, 128),
        (100_000, 100),
        (262_144, 128),
        (1 << 20, 128),
    ] {
        let store = MapStore::synthetic(records, bytes);
        let runs: Vec<String> = [1024, 32, 4, 1]
            .iter()
            .map(|&run| format!("{:6.1}", per_record(&store, records, run, 200_000)))
            .chain([
                format!("{:6.1}", per_record_dependent(&store, records, 200_000)),
                format!("{:6.1}", per_record_between_rounds(records, bytes, 20_000)),
                format!(
                    "{:6.1}",
                    per_record_runs_between_rounds(&store, records, 32, 100_000)
                ),
                format!(
                    "{:6.1}",
                    per_record_runs_between_rounds(&store, records, 4, 40_000)
                ),
                format!(
                    "{:6.1}",
                    per_record_runs_after(&store, records, 32, 20_000, Before::Idle)
                ),
                format!(
                    "{:6.1}",
                    per_record_runs_after(&store, records, 4, 4_000, Before::Idle)
                ),
            ])
            .collect();
        println!(
            "{records:>8} records of {bytes:>3} B ({:>6.1} MB): {}",
            (records * bytes as u64) as f64 / 1e6,
            runs.join(" ")
        );
    }
}
