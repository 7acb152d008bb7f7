//! How steady this host's cores are over a window as long as a quick storage sweep: times the
//! wide kernel ([`calibrate::noise::sibling`]) on each of the first two CPUs every `GAP` ms for
//! `SECONDS`, takes the slower of the two as one reading (as a run's monitor does around each
//! block), and prints each `WINDOW`-second window's median against the median over the whole
//! trace, then how far apart the windows' medians lie.
//!
//! A storage sweep's cores are compared with its calibration's by their median timings
//! ([`costmodel::SharedCores::FACTOR`]); this shows how far two windows of one quiet host fall
//! apart with no sweep or calibration running, so the comparison's noise can be read apart
//! from any fidelity figure.
//!
//! ```sh
//! cargo run --release -p calibrate --example wide_trace -- [SECONDS=120] [WINDOW=8] [GAP=150]
//! ```

use std::time::{Duration, Instant};

use calibrate::noise::sibling::{slowest, wide_ns_per_round};
use calibrate::stats::median;

fn arg(i: usize, name: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> u64 {
    match std::env::args().nth(i).map(|a| a.parse::<u64>()) {
        None => default,
        Some(Ok(n)) if range.contains(&n) => n,
        Some(_) => {
            eprintln!(
                "error: {name} must be a whole number in {}..={}, got {:?}",
                range.start(),
                range.end(),
                std::env::args().nth(i).unwrap_or_default()
            );
            std::process::exit(2);
        }
    }
}

fn main() {
    let seconds = arg(1, "SECONDS", 120, 1..=3600);
    let window = arg(2, "WINDOW", 8, 1..=600);
    let gap = arg(3, "GAP", 150, 0..=10_000);
    let cpus: Vec<u32> = calibrate::cpu::allowed_cpus()
        .into_iter()
        .take(2)
        .filter_map(|c| u32::try_from(c).ok())
        .collect();
    println!(
        "wide kernel on cpus {cpus:?}, the slower of the two every {gap} ms for {seconds} s, \
         in {window} s windows"
    );
    let start = Instant::now();
    let mut readings: Vec<(f64, f64)> = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        if let Some(ns) = slowest(&cpus, &|c| wide_ns_per_round(usize::try_from(c).ok()?)) {
            readings.push((start.elapsed().as_secs_f64(), ns));
        }
        std::thread::sleep(Duration::from_millis(gap));
    }
    if readings.is_empty() {
        eprintln!("no reading: the CPUs could not be pinned");
        std::process::exit(1);
    }
    let all: Vec<f64> = readings.iter().map(|r| r.1).collect();
    let whole = median(&all);
    let fastest = all.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{} readings: median {whole:.3} ns/round, fastest {fastest:.3}",
        all.len()
    );
    let mut ratios = Vec::new();
    let mut w = 0.0;
    while w < seconds as f64 {
        let v: Vec<f64> = readings
            .iter()
            .filter(|r| (w..w + window as f64).contains(&r.0))
            .map(|r| r.1)
            .collect();
        if !v.is_empty() {
            let m = median(&v);
            ratios.push(m / whole);
            println!(
                "  {w:5.0}-{:<5.0} s: {:3} readings, median {m:.3} ns/round, {:.3}x the whole",
                w + window as f64,
                v.len(),
                m / whole
            );
        }
        w += window as f64;
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    let off = ratios
        .iter()
        .filter(|&&r| !costmodel::within_either_way(r, costmodel::SharedCores::FACTOR))
        .count();
    println!(
        "windows' medians {lo:.3}-{hi:.3}x the whole ({:.3}x apart); {off} of {} beyond {:.2}x \
         either way",
        hi / lo,
        ratios.len(),
        costmodel::SharedCores::FACTOR
    );
}
