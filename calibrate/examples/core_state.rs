//! Prints the machine state ([`calibrate::noise::core_state`]) every half second: the cache-line
//! round trip between this process's first two CPUs, in ns. On the 2-vCPU AMD EPYC VMs it
//! moves between about 85 ns and about 375 ns; a cross-core request costs about twice as much
//! in the far state.
//!
//! ```sh
//! cargo run --release -p calibrate --example core_state -- [READINGS=20]
//! ```

use std::time::Duration;

use calibrate::noise::core_state::{probe_cpus, round_trip_ns};

fn main() {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 20,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("error: READINGS must be a whole number: {e}");
            std::process::exit(2);
        }
    };
    let Some([a, b]) = probe_cpus() else {
        eprintln!("one CPU: no pair to probe");
        std::process::exit(1);
    };
    println!("cache-line round trip between cpus {a} and {b}, ns, every 0.5 s:");
    for _ in 0..n {
        match round_trip_ns(a, b) {
            Some(ns) => print!("{ns:.0} "),
            None => print!("- "),
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(500));
    }
    println!();
}
