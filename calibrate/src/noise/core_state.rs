//! The machine state that steal does not show: how far apart the host has put two CPUs.
//!
//! A thread on each CPU passes one cache line back and forth, each spinning on it; the round
//! trip is the time for the line to cross twice. On the 2-vCPU AMD EPYC VMs this project runs
//! on it reads about 85 ns or about 375 ns, switching every few seconds to tens of seconds
//! (the host moves the vCPUs between cores that share an L3 and cores that do not), and every
//! cross-core cost moves with it: a Redis PING from the other CPU costs 4.2 us of server CPU in
//! the near state and 8.3 us in the far one, same-core work not at all
//! ([`costmodel::CoreState`]). The probe takes about a millisecond, so a harness reads it
//! before and after every block ([`super::Monitor::watch_core_state`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cpu;

/// Round trips per batch.
const ROUND_TRIPS: u64 = 1000;

/// Batches per reading after one warm-up batch (both threads spinning, the line in flight);
/// the reading is their median (an interrupt or a preemption inside one batch moves only it).
const BATCHES: usize = 5;

/// How long one side waits for the other before the reading is given up (a vCPU descheduled
/// by the host).
const PEER_TIMEOUT: Duration = Duration::from_millis(200);

/// The value that tells the peer to stop.
const STOP: u64 = u64::MAX;

/// The cache-line round trip between `a` and `b`, ns: the median of [`BATCHES`] batches of
/// [`ROUND_TRIPS`], after one batch of warm-up. `None` when the two CPUs are one, either cannot be pinned to, or a side
/// waited over [`PEER_TIMEOUT`].
pub fn round_trip_ns(a: usize, b: usize) -> Option<f64> {
    if a == b {
        return None;
    }
    let line = Arc::new(AtomicU64::new(0));
    let peer_line = Arc::clone(&line);
    let peer = std::thread::Builder::new()
        .name("calibrate-core-probe".to_owned())
        .spawn(move || -> bool {
            if cpu::pin_to_cpu(b).is_err() {
                peer_line.store(STOP, Ordering::Release);
                return false;
            }
            let mut expect = 1u64;
            loop {
                let since = Instant::now();
                let seen = loop {
                    let v = peer_line.load(Ordering::Acquire);
                    if v == expect || v == STOP {
                        break v;
                    }
                    if since.elapsed() > PEER_TIMEOUT {
                        return false;
                    }
                    std::hint::spin_loop();
                };
                if seen == STOP {
                    return true;
                }
                peer_line.store(expect + 1, Ordering::Release);
                expect += 2;
            }
        })
        .ok()?;
    let reading = cpu::with_pinned(a, || {
        let mut next = 1u64;
        let mut batches = Vec::with_capacity(BATCHES + 1);
        for _ in 0..=BATCHES {
            let t0 = Instant::now();
            for _ in 0..ROUND_TRIPS {
                line.store(next, Ordering::Release);
                let since = Instant::now();
                loop {
                    let v = line.load(Ordering::Acquire);
                    if v == next + 1 {
                        break;
                    }
                    if v == STOP || since.elapsed() > PEER_TIMEOUT {
                        return None;
                    }
                    std::hint::spin_loop();
                }
                next += 2;
            }
            batches.push(t0.elapsed().as_secs_f64() * 1e9 / ROUND_TRIPS as f64);
        }
        let mut kept = batches.split_off(1);
        kept.sort_by(f64::total_cmp);
        Some(kept[BATCHES / 2])
    })
    .ok()
    .flatten();
    line.store(STOP, Ordering::Release);
    let peer_ok = peer.join().unwrap_or(false);
    reading.filter(|ns| peer_ok && ns.is_finite() && *ns > 0.0)
}

/// The first two CPUs this process may run on: the pair the cross-core measurements use.
pub fn probe_cpus() -> Option<[usize; 2]> {
    match cpu::allowed_cpus()[..] {
        [a, b, ..] => Some([a, b]),
        _ => None,
    }
}

/// How often the state is read while waiting for it.
pub const POLL: Duration = Duration::from_millis(20);

/// Waits up to `bound` for the machine to be in `state` (read every [`POLL`] on its CPUs). True
/// when it is; also true when the state cannot be read (nothing to wait for).
pub fn wait_for(state: &costmodel::CoreState, bound: Duration) -> bool {
    let [a, b] = state.cpus.map(|c| c as usize);
    // An unreadable state reads as the state itself: nothing to wait for.
    wait_with(state, bound, || {
        Some(round_trip_ns(a, b).unwrap_or(state.round_trip_ns))
    })
}

/// Waits up to `bound` until `probe` reads a round trip in `state`, reading it every [`POLL`].
/// True when it does; a reading of `None` is not in the state.
pub fn wait_with(
    state: &costmodel::CoreState,
    bound: Duration,
    probe: impl Fn() -> Option<f64>,
) -> bool {
    let start = Instant::now();
    loop {
        if probe().is_some_and(|v| state.holds(v)) {
            return true;
        }
        if start.elapsed() + POLL > bound {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether the machine is in `state` now (true when it cannot be read).
pub fn in_state(state: &costmodel::CoreState) -> bool {
    let [a, b] = state.cpus.map(|c| c as usize);
    round_trip_ns(a, b).is_none_or(|v| state.holds(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reads_a_round_trip_between_two_cpus_and_none_on_one() {
        assert_eq!(round_trip_ns(0, 0), None);
        let Some([a, b]) = probe_cpus() else {
            eprintln!("skipped: one CPU, no pair to probe");
            return;
        };
        let ns = round_trip_ns(a, b).expect("a reading on two CPUs");
        // A cache line cannot cross twice in under a nanosecond, and a reading of a
        // millisecond per round trip would be a descheduled vCPU, which the timeout refuses.
        assert!((1.0..1e6).contains(&ns), "{ns}");
    }
}
