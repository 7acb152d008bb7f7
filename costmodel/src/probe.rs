//! Probe traits the calibration harness drives, and the shared compute kernel.
//!
//! A plugin supplies the operations; the harness (in the `calibrate` crate) warms them up,
//! times them, repeats and summarises. Operations that are much shorter than the clock's
//! resolution take an iteration count and do the operation that many times, so the harness can
//! time a batch and divide.

use crate::units::Bytes;

/// An error from a probe operation.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct ProbeError {
    /// Which operation failed (`cold_start`, `warm_invoke`, ...).
    pub operation: String,
    /// What went wrong.
    pub message: String,
}

impl ProbeError {
    /// A probe error for `operation`.
    pub fn new(operation: impl Into<String>, message: impl Into<String>) -> Self {
        ProbeError {
            operation: operation.into(),
            message: message.into(),
        }
    }
}

/// The operations of one isolation scheme that the harness times.
pub trait IsolationProbe: Send {
    /// Performs `iterations` warm invocations of an empty function in an existing context
    /// (enter the domain, return).
    ///
    /// # Errors
    /// A [`ProbeError`] when the sandbox fails.
    fn warm_invoke(&mut self, iterations: u64) -> Result<(), ProbeError>;

    /// Creates one fresh context and runs it to its first instruction/return. Teardown of the
    /// context belongs in [`IsolationProbe::after_cold_start`], which is not timed.
    ///
    /// # Errors
    /// A [`ProbeError`] when creation fails.
    fn cold_start(&mut self) -> Result<(), ProbeError>;

    /// Releases what the last [`IsolationProbe::cold_start`] created (not timed).
    ///
    /// # Errors
    /// A [`ProbeError`] when teardown fails.
    fn after_cold_start(&mut self) -> Result<(), ProbeError> {
        Ok(())
    }

    /// Reads one record from the store, from inside the context, `iterations` times.
    ///
    /// # Errors
    /// A [`ProbeError`] when the access fails.
    fn local_access(&mut self, iterations: u64) -> Result<(), ProbeError>;

    /// Runs the shared compute kernel ([`kernel::fnv1a_rounds`] over [`kernel::input`]) for
    /// `rounds` rounds inside the context and returns its checksum, which must equal the
    /// native kernel's.
    ///
    /// # Errors
    /// A [`ProbeError`] when the run fails.
    fn compute(&mut self, rounds: u32) -> Result<u64, ProbeError>;

    /// Memory one context holds (RSS/PSS delta, guest memory, pool slot), if measurable.
    fn memory_per_context(&mut self) -> Option<Bytes> {
        None
    }

    /// Names of extra operations this probe can time (e.g. `warm_invoke.interpreter`).
    fn extra_operations(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Performs the extra operation `name` `iterations` times.
    ///
    /// # Errors
    /// A [`ProbeError`] for an unknown name or a failed run.
    fn extra(&mut self, name: &str, iterations: u64) -> Result<(), ProbeError> {
        let _ = iterations;
        Err(ProbeError::new(name, "no such extra operation"))
    }

    /// Performs the extra operation `name` `iterations` times, as [`IsolationProbe::extra`],
    /// and returns the time of the part of each iteration the operation timed itself, summed,
    /// when it times only a part: a read that must run after other work (a network round, as
    /// a server runs between requests) whose cost is not the read's. The harness subtracts
    /// [`IsolationProbe::timed_pairs`] pairs of clock readings (one per iteration unless the
    /// probe says otherwise). `None` (the default): the harness times the whole call.
    ///
    /// # Errors
    /// As [`IsolationProbe::extra`].
    fn extra_timed(
        &mut self,
        name: &str,
        iterations: u64,
    ) -> Result<Option<std::time::Duration>, ProbeError> {
        self.extra(name, iterations).map(|()| None)
    }

    /// How many pairs of clock readings [`IsolationProbe::extra_timed`] took for `iterations`
    /// iterations of `name`, which the harness subtracts: one per iteration by default. An
    /// operation that times a batch of iterations with one pair (timing each would order the
    /// reads it measures) says how many batches.
    fn timed_pairs(&self, name: &str, iterations: u64) -> u64 {
        let _ = name;
        iterations
    }

    /// Facts the probe wants recorded with its numbers (e.g. "JIT unavailable: interpreter").
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<P: IsolationProbe + ?Sized> IsolationProbe for Box<P> {
    fn warm_invoke(&mut self, iterations: u64) -> Result<(), ProbeError> {
        (**self).warm_invoke(iterations)
    }
    fn cold_start(&mut self) -> Result<(), ProbeError> {
        (**self).cold_start()
    }
    fn after_cold_start(&mut self) -> Result<(), ProbeError> {
        (**self).after_cold_start()
    }
    fn local_access(&mut self, iterations: u64) -> Result<(), ProbeError> {
        (**self).local_access(iterations)
    }
    fn compute(&mut self, rounds: u32) -> Result<u64, ProbeError> {
        (**self).compute(rounds)
    }
    fn memory_per_context(&mut self) -> Option<Bytes> {
        (**self).memory_per_context()
    }
    fn extra_operations(&self) -> Vec<&'static str> {
        (**self).extra_operations()
    }
    fn extra(&mut self, name: &str, iterations: u64) -> Result<(), ProbeError> {
        (**self).extra(name, iterations)
    }
    fn extra_timed(
        &mut self,
        name: &str,
        iterations: u64,
    ) -> Result<Option<std::time::Duration>, ProbeError> {
        (**self).extra_timed(name, iterations)
    }
    fn timed_pairs(&self, name: &str, iterations: u64) -> u64 {
        (**self).timed_pairs(name, iterations)
    }
    fn notes(&self) -> Vec<String> {
        (**self).notes()
    }
}

/// The compute kernel every scheme runs, so slowdown factors compare the same work.
///
/// FNV-1a (64-bit) over a fixed buffer, repeated `rounds` times without resetting the hash:
///
/// ```text
/// h = 0xcbf29ce484222325
/// repeat rounds: for each byte b of input(): h = (h ^ b) * 0x100000001b3   (wrapping)
/// ```
pub mod kernel {
    /// Length of the kernel's input buffer.
    pub const INPUT_LEN: usize = 256;
    /// FNV-1a 64-bit offset basis.
    pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    /// FNV-1a 64-bit prime.
    pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The kernel's input: byte `i` is `(i * 31 + 7) mod 256`.
    pub fn input() -> [u8; INPUT_LEN] {
        let mut b = [0u8; INPUT_LEN];
        let mut x: u8 = 7;
        for v in b.iter_mut() {
            *v = x;
            x = x.wrapping_add(31);
        }
        b
    }

    /// Native reference implementation.
    pub fn fnv1a_rounds(buf: &[u8], rounds: u32) -> u64 {
        let mut h = FNV_OFFSET;
        for _ in 0..rounds {
            for &b in buf {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
        }
        h
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn kernel_is_fnv1a() {
            // FNV-1a of "a" is 0xaf63dc4c8601ec8c.
            assert_eq!(super::fnv1a_rounds(b"a", 1), 0xaf63_dc4c_8601_ec8c);
            assert_eq!(super::fnv1a_rounds(b"a", 0), super::FNV_OFFSET);
        }
    }
}
