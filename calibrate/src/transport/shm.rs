//! A shared-memory ring between two threads: the stand-in for kernel-bypass networking.
//!
//! Two single-producer single-consumer rings (requests and responses) of fixed-size slots, each
//! slot guarded by a sequence number (Vyukov's bounded queue, specialised to one producer and one
//! consumer). A receiver polls: it spins on the slot's sequence number, and after a while yields
//! the CPU so the ring also works with both ends on one core (where it then measures a
//! `sched_yield` hand-off instead of a cache-line transfer).

use std::cell::UnsafeCell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use costmodel::TransportLink as Link;

/// Slots per ring (at least the largest pipelining window).
const DEPTH: usize = 32;
/// Spins before the waiter starts yielding the CPU (when the peer has a core of its own).
pub(super) const SPINS_BEFORE_YIELD: u32 = 4_096;

struct Slot {
    /// `p` when free for the producer at position `p`; `c + 1` when full for the consumer at `c`.
    seq: AtomicU64,
    len: AtomicUsize,
    data: UnsafeCell<Box<[u8]>>,
}

struct Ring {
    slots: Box<[Slot]>,
}

// SAFETY: `data` is only touched by the single producer between observing `seq == p` and
// publishing `seq = p + 1` (Release), and by the single consumer between observing
// `seq == c + 1` (Acquire) and releasing `seq = c + DEPTH` (Release). The sequence numbers make
// those windows disjoint and order the accesses, so sharing the ring across threads is sound.
unsafe impl Sync for Ring {}

impl Ring {
    fn new(slot_bytes: usize) -> Self {
        let slots = (0..DEPTH)
            .map(|i| Slot {
                seq: AtomicU64::new(i as u64),
                len: AtomicUsize::new(0),
                data: UnsafeCell::new(vec![0u8; slot_bytes].into_boxed_slice()),
            })
            .collect();
        Ring { slots }
    }

    fn slot(&self, pos: u64) -> &Slot {
        // DEPTH is a small constant, so the remainder fits any usize.
        &self.slots[usize::try_from(pos % DEPTH as u64).unwrap_or(0)]
    }
}

/// Polls `ready` until it is true, spinning first and then yielding; errors after `timeout`.
fn wait_until(ready: impl Fn() -> bool, spins_first: u32, timeout: Duration) -> io::Result<()> {
    let mut spins = 0u32;
    let mut deadline: Option<Instant> = None;
    while !ready() {
        if spins < spins_first {
            spins += 1;
            std::hint::spin_loop();
        } else {
            let d = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            if Instant::now() > d {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "shared-memory peer did not answer",
                ));
            }
            std::thread::yield_now();
        }
    }
    Ok(())
}

/// One end of a ring pair.
pub(super) struct ShmEnd {
    tx: Arc<Ring>,
    rx: Arc<Ring>,
    tx_pos: u64,
    rx_pos: u64,
    slot_bytes: usize,
    spins: u32,
    timeout: Duration,
}

/// A connected pair of ends (client, server) for messages of up to `slot_bytes`; a waiter
/// spins `spins` times before it yields (0 when both ends share a core: spinning would only
/// delay the peer).
pub(super) fn pair(slot_bytes: usize, spins: u32, timeout: Duration) -> (ShmEnd, ShmEnd) {
    let req = Arc::new(Ring::new(slot_bytes));
    let resp = Arc::new(Ring::new(slot_bytes));
    let end = |tx: &Arc<Ring>, rx: &Arc<Ring>| ShmEnd {
        tx: Arc::clone(tx),
        rx: Arc::clone(rx),
        tx_pos: 0,
        rx_pos: 0,
        slot_bytes,
        spins,
        timeout,
    };
    (end(&req, &resp), end(&resp, &req))
}

impl Link for ShmEnd {
    fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.len() > self.slot_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "message of {} B exceeds the {} B slot",
                    buf.len(),
                    self.slot_bytes
                ),
            ));
        }
        let pos = self.tx_pos;
        let slot = self.tx.slot(pos);
        wait_until(
            || slot.seq.load(Ordering::Acquire) == pos,
            self.spins,
            self.timeout,
        )?;
        // SAFETY: `seq == pos` means the consumer released this slot and will not touch it until
        // we publish `pos + 1` below; we are the only producer (see `impl Sync for Ring`).
        let data = unsafe { &mut *slot.data.get() };
        data[..buf.len()].copy_from_slice(buf);
        slot.len.store(buf.len(), Ordering::Relaxed);
        slot.seq.store(pos + 1, Ordering::Release);
        self.tx_pos = pos + 1;
        Ok(())
    }

    fn wait(&mut self) -> io::Result<()> {
        let pos = self.rx_pos;
        let slot = self.rx.slot(pos);
        wait_until(
            || slot.seq.load(Ordering::Acquire) == pos + 1,
            self.spins,
            self.timeout,
        )
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.wait()?;
        let pos = self.rx_pos;
        let slot = self.rx.slot(pos);
        let len = slot.len.load(Ordering::Relaxed);
        if len != buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected a {} B message, got {len} B", buf.len()),
            ));
        }
        {
            // SAFETY: `seq == pos + 1` (checked by `wait` with Acquire) means the producer
            // published this slot and will not touch it until we release it below; we are the
            // only consumer.
            let data = unsafe { &*slot.data.get() };
            buf.copy_from_slice(&data[..len]);
        }
        slot.seq.store(pos + DEPTH as u64, Ordering::Release);
        self.rx_pos = pos + 1;
        Ok(())
    }

    fn polls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_carries_messages_in_order_across_threads() {
        let (mut c, mut s) = pair(1024, SPINS_BEFORE_YIELD, Duration::from_secs(10));
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            for _ in 0..1000 {
                s.recv(&mut buf).unwrap();
                s.send(&buf).unwrap();
            }
        });
        let mut reply = [0u8; 8];
        // Pipelined: keep up to 16 requests in flight.
        let mut sent = 0u64;
        for _ in 0..16 {
            c.send(&sent.to_le_bytes()).unwrap();
            sent += 1;
        }
        for i in 0..1000u64 {
            c.recv(&mut reply).unwrap();
            assert_eq!(u64::from_le_bytes(reply), i);
            if sent < 1000 {
                c.send(&sent.to_le_bytes()).unwrap();
                sent += 1;
            }
        }
        server.join().unwrap();
    }

    #[test]
    fn ring_rejects_oversized_and_mismatched_messages() {
        let (mut c, mut s) = pair(16, 0, Duration::from_millis(50));
        assert!(c.send(&[0u8; 17]).is_err());
        c.send(&[1u8; 4]).unwrap();
        let mut buf = [0u8; 8];
        assert!(s.recv(&mut buf).is_err());
        let mut empty = [0u8; 4];
        let (_, mut lonely) = pair(16, 10, Duration::from_millis(10));
        assert!(lonely.recv(&mut empty).is_err());
    }
}
