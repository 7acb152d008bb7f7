//! Prints what each compiled-in scheme's probe measures on this host (median of batches).
//!
//! `cargo run --release -p isolation-plugins --all-features --example measure`
//!
//! A quick look, not a calibration: the `calibrate` crate does warm-up, bootstrap intervals and
//! stop rules. Here each number is the median of 11 timed batches.

use std::time::Instant;

use costmodel::IsolationProbe;

const SAMPLES: usize = 11;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per operation of `op(batch)`.
fn per_op(batch: u64, mut op: impl FnMut(u64) -> Result<(), costmodel::ProbeError>) -> f64 {
    if op(batch.min(8)).is_err() {
        return f64::NAN;
    }
    median(
        (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                let ok = op(batch).is_ok();
                let dt = t.elapsed().as_nanos() as f64 / batch as f64;
                if ok { dt } else { f64::NAN }
            })
            .collect(),
    )
}

fn cold(p: &mut dyn IsolationProbe) -> f64 {
    let _ = p.cold_start().and_then(|()| p.after_cold_start());
    median(
        (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                let ok = p.cold_start().is_ok();
                let dt = t.elapsed().as_nanos() as f64;
                let _ = p.after_cold_start();
                if ok { dt } else { f64::NAN }
            })
            .collect(),
    )
}

fn fmt(ns: f64) -> String {
    if ns.is_nan() {
        "n/a".into()
    } else if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// (warm batch, access batch, compute rounds, extra batch) sized so each batch takes ~1-20 ms.
fn sizes(id: &str) -> (u64, u64, u32, u64) {
    match id {
        "process" => (2000, 20_000, 2000, 200),
        "vm" => (1000, 100_000, 2000, 1000),
        "ebpf" => (100_000, 20_000, 2000, 1000),
        "wasm" => (100_000, 20_000, 2000, 100),
        _ => (1_000_000, 100_000, 2000, 1000),
    }
}

fn main() {
    println!(
        "host: {} cpus; load average {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    // Native per-round kernel time, the slowdown baseline.
    let native_round = {
        let rounds = 2000u32;
        per_op(1, |_| {
            std::hint::black_box(costmodel::kernel::fnv1a_rounds(
                std::hint::black_box(&costmodel::kernel::input()),
                rounds,
            ));
            Ok(())
        }) / f64::from(rounds)
    };
    println!("native kernel: {} per round (256 bytes)", fmt(native_round));
    for s in isolation_plugins::schemes() {
        let id = s.id().to_string();
        let mut p = match s.probe() {
            None => {
                println!("\n{id}: not measurable here: {:?}", s.support());
                continue;
            }
            Some(Err(e)) => {
                println!("\n{id}: probe failed: {e}");
                continue;
            }
            Some(Ok(p)) => p,
        };
        let (wb, ab, rounds, xb) = sizes(&id);
        let warm = per_op(wb, |n| p.warm_invoke(n));
        let cold = cold(&mut *p);
        let access = per_op(ab, |n| p.local_access(n));
        let round = per_op(1, |_| p.compute(rounds).map(drop)) / f64::from(rounds);
        let mem = p.memory_per_context();
        println!("\n{id}:");
        println!("  warm_invoke      {}", fmt(warm));
        println!("  cold_start       {}", fmt(cold));
        println!("  local_access     {}", fmt(access));
        println!(
            "  compute          {} per round, slowdown {:.2}x vs native",
            fmt(round),
            round / native_round
        );
        println!(
            "  memory/context   {}",
            mem.map_or("n/a".into(), |b| format!("{:.0} bytes", b.get()))
        );
        for op in p.extra_operations() {
            let (batch, label) = if op.starts_with("compute.") {
                (u64::from(rounds), format!("{op} (per round)"))
            } else if op.starts_with("cold_start") {
                (xb.min(50), op.to_string())
            } else {
                (xb, op.to_string())
            };
            let v = if op.starts_with("compute.") {
                per_op(1, |_| p.extra(op, batch)) / batch as f64
            } else {
                per_op(batch, |n| p.extra(op, n))
            };
            let extra = if op.starts_with("compute.") {
                format!(", slowdown {:.2}x", v / native_round)
            } else {
                String::new()
            };
            println!("  {label:<28} {}{extra}", fmt(v));
        }
    }
}
