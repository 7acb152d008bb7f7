//! Measures the `redis` scheme by the server's CPU and prints its figures.
//!
//! ```text
//! cargo run --release -p isolation-plugins --features redis --example redis_costs [-- --quick]
//! ```
//!
//! Run it optimised: the slowdowns divide the server's Lua time by this process's native kernel
//! time.

use costmodel::IsolationScheme;
use isolation_plugins::redis::{MeasurePlan, Redis, measure};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scheme = Redis::new();
    if let costmodel::Support::Unsupported { reason } = scheme.support() {
        eprintln!("redis: unsupported here: {reason}");
        std::process::exit(2);
    }
    let plan = if quick {
        MeasurePlan::quick()
    } else {
        MeasurePlan::standard()
    };
    let result = scheme.open_probe().and_then(|mut p| measure(&mut p, &plan));
    let m = match result {
        Ok(m) => m,
        Err(e) => {
            eprintln!("redis: {e}");
            std::process::exit(1);
        }
    };
    let f = |x: &isolation_plugins::redis::Figure| {
        format!("{:.0} ns [{:.0}, {:.0}]", x.median, x.lower, x.upper)
    };
    println!("redis {} (server CPU from schedstat)", m.version);
    println!("  PING (pipelined)          {}", f(&m.ping));
    println!("  warm invoke (FCALL - PING) {}", f(&m.warm_invoke));
    println!("  cold start (FUNCTION LOAD) {}", f(&m.cold_start));
    println!("  FUNCTION DELETE            {}", f(&m.delete));
    for (size, a) in &m.access {
        println!("  access per record, {size:>5} B {}", f(a));
    }
    if let Some(g) = &m.costs.local_access_per_byte {
        println!(
            "  g0 {:.0} ns [{:.0}, {:.0}], g_b {:.3} ns/B [{:.3}, {:.3}]",
            m.costs.local_access.point.get(),
            m.costs.local_access.lower.get(),
            m.costs.local_access.upper.get(),
            g.point.get(),
            g.lower.get(),
            g.upper.get()
        );
    }
    for ((class, lua), (_, nat)) in m.lua_round.iter().zip(&m.native_round) {
        let s = &m.costs.slowdown_by_class[class];
        println!(
            "  {class:>8}: lua {:.0} ns/round, native {:.1} ns/round, slowdown {:.1} [{:.1}, {:.1}]",
            lua.median,
            nat.median,
            s.point.get(),
            s.lower.get(),
            s.upper.get()
        );
    }
    if let Some(b) = m.memory {
        println!("  memory per library          {b:.0} B");
    }
}
