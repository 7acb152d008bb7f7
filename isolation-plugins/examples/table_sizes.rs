//! How a native record read's cost depends on the table's size and the run length: per table
//! size, ns per record read in runs of 1,024, 32 and 4 consecutive keys from scattered first
//! keys, and one per scattered key (median of 11 batches of 200,000 records, each table built
//! fresh in this process). The numbers behind `costmodel::TableAccess`'s documentation.
//!
//! `cargo run --release -p isolation-plugins --example table_sizes`

use std::hint::black_box;
use std::time::Instant;

use isolation_plugins::store::{MapStore, RecordSource};

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

fn main() {
    println!("ns per record: runs of 1024 / 32 / 4 keys, one per scattered key");
    for (records, bytes) in [
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
            .collect();
        println!(
            "{records:>8} records of {bytes:>3} B ({:>6.1} MB): {}",
            (records * bytes as u64) as f64 / 1e6,
            runs.join(" ")
        );
    }
}
