//! The compute kernels per [`ComputeClass`], and the names of the probe operations that run them
//! and that read records of a given size.
//!
//! Runtimes slow different kinds of compute down differently (Lua emulates 64-bit multiplies with
//! doubles; a JIT may bounds-check every load), so every scheme that runs code runs one kernel
//! per class, each over 256 steps per round like the FNV-1a kernel of [`costmodel::kernel`]:
//!
//! ```text
//! int_mul  FNV-1a 64 over 256 bytes (costmodel::kernel; the version-1 kernel)
//! arith    x = 1, acc = 0
//!          repeat rounds: for i in 0..256:
//!              x = x + (x >> 3) + i;   if x >= M: x = x - M      (M = ARITH_MOD)
//!              acc = acc + x;          if acc >= M: acc = acc - M
//!          checksum = acc * 2^20 + x
//! memory   p = 0, acc = 0, next = chase_buffer() (a single cycle over CHASE_LEN u32 slots)
//!          repeat rounds: for i in 0..256:
//!              p = next[p];            acc = acc + p;  if acc >= M: acc = acc - M
//!          checksum = acc * 2^16 + p
//! ```
//!
//! `arith` uses only adds, compares and shifts; every value stays below 2^21, so a runtime with
//! only doubles (Lua 5.1) computes it exactly. `memory` is a chain of dependent loads over 256 KiB
//! (bigger than any L1), in the order of a random cycle built with the MINSTD generator
//! (Sattolo's algorithm), which a Lua library can build too.
//!
//! A probe offers these kernels as extra operations named [`class_op`] (`compute.arith`,
//! `compute.memory`; `int_mul` is [`costmodel::IsolationProbe::compute`] itself), where the
//! iteration count is the number of rounds. The operation checks its own checksum against
//! [`reference()`] and fails on a mismatch, so a sandbox cannot skip the work.

use costmodel::{ComputeClass, ProbeError, kernel};

/// The modulus of the `arith` and `memory` kernels (a prime below 2^20).
pub const ARITH_MOD: u64 = 1_000_003;

/// Slots (u32) of the pointer-chasing buffer: 256 KiB.
pub const CHASE_LEN: usize = 1 << 16;

/// Steps per round of every kernel (the FNV-1a kernel's input length).
pub const STEPS: u32 = 256;

/// The record sizes the sized local-access operations read: `g(s) = g0 + s g_b` is fitted
/// through them.
pub const ACCESS_SIZES: [usize; 2] = [64, 4096];

/// The name of the extra operation that runs the kernel of `class`, `None` for `int_mul` (that
/// one is [`costmodel::IsolationProbe::compute`]).
pub fn class_op(class: ComputeClass) -> Option<&'static str> {
    match class {
        ComputeClass::IntMul => None,
        ComputeClass::Arith => Some("compute.arith"),
        ComputeClass::Memory => Some("compute.memory"),
    }
}

/// The extra operations of the classes with a kernel of their own (`compute.<class>`; `int_mul`
/// is the scheme's standard compute operation).
pub fn class_ops() -> impl Iterator<Item = &'static str> {
    ComputeClass::ALL.iter().filter_map(|&c| class_op(c))
}

/// The extra operations reading records of each of `sizes` bytes (`local_access.bytes=N`).
pub fn access_ops(sizes: &[usize]) -> impl Iterator<Item = &'static str> + '_ {
    sizes.iter().filter_map(|&b| access_op(b))
}

/// The class whose kernel the extra operation `name` runs.
pub fn parse_class_op(name: &str) -> Option<ComputeClass> {
    ComputeClass::ALL
        .into_iter()
        .find(|&c| class_op(c) == Some(name))
}

/// The name of the extra operation that reads records of `bytes` bytes (one of
/// [`ACCESS_SIZES`]): `local_access.bytes=64`.
pub fn access_op(bytes: usize) -> Option<&'static str> {
    match bytes {
        64 => Some("local_access.bytes=64"),
        4096 => Some("local_access.bytes=4096"),
        _ => None,
    }
}

/// The record size an extra operation named `local_access.bytes=N` reads (any `N`, so a
/// third-party probe can offer other sizes).
pub fn parse_access_op(name: &str) -> Option<usize> {
    name.strip_prefix("local_access.bytes=")?.parse().ok()
}

/// The `arith` kernel, natively.
pub fn arith_rounds(rounds: u32) -> u64 {
    let (mut x, mut acc) = (1u64, 0u64);
    for _ in 0..rounds {
        for i in 0..u64::from(STEPS) {
            x = x + (x >> 3) + i;
            if x >= ARITH_MOD {
                x -= ARITH_MOD;
            }
            acc += x;
            if acc >= ARITH_MOD {
                acc -= ARITH_MOD;
            }
        }
    }
    (acc << 20) + x
}

/// The pointer-chasing buffer: `next[p]` for a single cycle through all [`CHASE_LEN`] slots,
/// shuffled by Sattolo's algorithm with MINSTD (`s = s * 48271 mod (2^31 - 1)`, seed 1,
/// `j = s mod i` for `i` from `CHASE_LEN - 1` down to 1).
pub fn chase_buffer() -> Vec<u32> {
    let mut perm: Vec<u32> = (0..=u32::MAX).take(CHASE_LEN).collect();
    let mut s: u64 = 1;
    for i in (1..CHASE_LEN).rev() {
        s = s * 48_271 % 2_147_483_647;
        let j = usize::try_from(s % i as u64).unwrap_or(0);
        perm.swap(i, j);
    }
    // perm is now a cyclic permutation in "next" form: slot i holds the successor of i.
    perm
}

/// The `memory` kernel over `next` (see [`chase_buffer`]), natively.
pub fn memory_rounds(next: &[u32], rounds: u32) -> u64 {
    let (mut p, mut acc) = (0usize, 0u64);
    for _ in 0..rounds {
        for _ in 0..STEPS {
            p = next[p] as usize;
            acc += p as u64;
            if acc >= ARITH_MOD {
                acc -= ARITH_MOD;
            }
        }
    }
    (acc << 16) + p as u64
}

/// The expected checksum of `class`'s kernel after `rounds` rounds.
pub fn reference(class: ComputeClass, rounds: u32) -> u64 {
    match class {
        ComputeClass::IntMul => kernel::fnv1a_rounds(&kernel::input(), rounds),
        ComputeClass::Arith => arith_rounds(rounds),
        ComputeClass::Memory => memory_rounds(&chase_buffer(), rounds),
    }
}

/// Remembers the last expected checksums, so a probe verifies every run of a class kernel
/// without paying for the native reference inside the harness's timed runs (the harness repeats
/// a few round counts).
#[derive(Debug, Default)]
pub struct Checked {
    recent: Vec<(ComputeClass, u32, u64)>,
    chase: Option<Vec<u32>>,
}

impl Checked {
    /// An empty cache.
    pub fn new() -> Self {
        Checked::default()
    }

    /// The expected checksum of `class` at `rounds` (computed once, then remembered).
    pub fn expected(&mut self, class: ComputeClass, rounds: u32) -> u64 {
        if let Some(&(_, _, v)) = self
            .recent
            .iter()
            .find(|&&(c, r, _)| c == class && r == rounds)
        {
            return v;
        }
        let v = match class {
            ComputeClass::Memory => {
                memory_rounds(self.chase.get_or_insert_with(chase_buffer), rounds)
            }
            c => reference(c, rounds),
        };
        if self.recent.len() >= 8 {
            self.recent.remove(0);
        }
        self.recent.push((class, rounds, v));
        v
    }

    /// `Ok` when `got` is the checksum of `class` at `rounds`, else a [`ProbeError`] naming both.
    ///
    /// # Errors
    /// A [`ProbeError`] for the class's operation when the checksums differ.
    pub fn verify(&mut self, class: ComputeClass, rounds: u32, got: u64) -> Result<(), ProbeError> {
        let want = self.expected(class, rounds);
        if got == want {
            Ok(())
        } else {
            Err(ProbeError::new(
                class_op(class).unwrap_or("compute"),
                format!(
                    "{rounds} rounds returned checksum {got:#x}; the native kernel gives {want:#x}"
                ),
            ))
        }
    }
}

/// Converts an extra operation's iteration count into kernel rounds.
///
/// # Errors
/// A [`ProbeError`] for counts above `u32::MAX`.
pub fn rounds_of(name: &str, iterations: u64) -> Result<u32, ProbeError> {
    u32::try_from(iterations)
        .map_err(|_| ProbeError::new(name, format!("{iterations} rounds exceed u32::MAX")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chase_buffer_is_one_cycle_through_every_slot() {
        let next = chase_buffer();
        let mut seen = vec![false; CHASE_LEN];
        let mut p = 0usize;
        for _ in 0..CHASE_LEN {
            assert!(!seen[p], "slot {p} visited twice");
            seen[p] = true;
            p = next[p] as usize;
        }
        assert_eq!(p, 0);
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn kernels_stay_exact_in_doubles_and_do_work() {
        assert_eq!(arith_rounds(0), 1);
        assert_ne!(arith_rounds(1), arith_rounds(2));
        assert!(arith_rounds(1000) < 1 << 40);
        let next = chase_buffer();
        assert_eq!(memory_rounds(&next, 0), 0);
        assert_ne!(memory_rounds(&next, 3), memory_rounds(&next, 4));
        assert!(memory_rounds(&next, 1000) < 1 << 40);
    }

    #[test]
    fn op_names_round_trip() {
        for c in [ComputeClass::Arith, ComputeClass::Memory] {
            assert_eq!(parse_class_op(class_op(c).unwrap()), Some(c));
        }
        assert_eq!(parse_class_op("compute.interpreter"), None);
        for s in ACCESS_SIZES {
            assert_eq!(parse_access_op(access_op(s).unwrap()), Some(s));
        }
        assert_eq!(parse_access_op("local_access.interpreter"), None);
        let mut c = Checked::new();
        assert!(c.verify(ComputeClass::Arith, 3, arith_rounds(3)).is_ok());
        let e = c.verify(ComputeClass::Arith, 3, 1).unwrap_err().to_string();
        assert!(e.contains("compute.arith"), "{e}");
    }
}
