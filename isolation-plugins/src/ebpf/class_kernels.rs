//! The class kernels of [`crate::kernels`] (`arith`, `memory`) as eBPF programs.

use std::sync::Arc;

use costmodel::ComputeClass;

use super::{Loaded, Mode, as_bytes_mut, programs, put};
use crate::error::Result;
use crate::kernels;
use crate::store::RecordSource;

/// The `arith` kernel of [`crate::kernels`] (rounds at offset 0 of the region; adds, compares
/// and shifts only).
pub(super) const ARITH_ASM: &str = "
    ldxdw r2, [r1+0]        #  0: r2 = rounds
    mov r0, 1               #  1: x = 1
    mov r6, 0               #  2: acc = 0
    mov r7, 1000003         #  3: M
    jeq r2, 0, +14          #  4: rounds loop: done -> 19
    mov r3, 0               #  5: i = 0
    mov r4, r0              #  6: step: t = x
    rsh r4, 3               #  7: t >>= 3
    add r0, r4              #  8: x += t
    add r0, r3              #  9: x += i
    jlt r0, r7, +1          # 10: x < M -> 12
    sub r0, r7              # 11: x -= M
    add r6, r0              # 12: acc += x
    jlt r6, r7, +1          # 13: acc < M -> 15
    sub r6, r7              # 14: acc -= M
    add r3, 1               # 15: i += 1
    jlt r3, 256, -11        # 16: -> step (6)
    sub r2, 1               # 17:
    ja -15                  # 18: -> rounds loop (4)
    lsh r6, 20              # 19: checksum = acc << 20
    add r6, r0              # 20:   + x
    mov r0, r6              # 21:
    exit                    # 22:
";

/// The `memory` kernel of [`crate::kernels`]: rounds at offset 0, the chase buffer (u32 slots)
/// at offset [`OFF_CHASE`].
pub(super) const MEMORY_ASM: &str = "
    ldxdw r2, [r1+0]        #  0: r2 = rounds
    mov r8, r1              #  1:
    add r8, 64              #  2: r8 = chase buffer
    mov r0, 0               #  3: p = 0
    mov r6, 0               #  4: acc = 0
    mov r7, 1000003         #  5: M
    jeq r2, 0, +12          #  6: rounds loop: done -> 19
    mov r3, 256             #  7: steps left
    mov r4, r0              #  8: step: r4 = p
    lsh r4, 2               #  9:   * 4
    add r4, r8              # 10:   + buffer
    ldxw r0, [r4+0]         # 11: p = next[p]
    add r6, r0              # 12: acc += p
    jlt r6, r7, +1          # 13: acc < M -> 15
    sub r6, r7              # 14: acc -= M
    sub r3, 1               # 15:
    jne r3, 0, -9           # 16: -> step (8)
    sub r2, 1               # 17:
    ja -13                  # 18: -> rounds loop (6)
    lsh r6, 16              # 19: checksum = acc << 16
    add r6, r0              # 20:   + p
    mov r0, r6              # 21:
    exit                    # 22:
";

/// Offset of the chase buffer in the `memory` kernel's region.
const OFF_CHASE: usize = 64;

/// The class kernels of [`crate::kernels`] as eBPF programs, with their memory regions.
pub struct ClassKernels {
    arith: Loaded,
    memory: Loaded,
    rounds_mem: Vec<u64>,
    chase_mem: Vec<u64>,
    source: Arc<dyn RecordSource>,
}

impl ClassKernels {
    /// Loads (and for [`Mode::Jit`] compiles) the `arith` and `memory` programs; the `memory`
    /// region holds [`kernels::chase_buffer`].
    ///
    /// # Errors
    /// [`crate::PluginError::Ebpf`] when loading fails.
    pub fn new(mode: Mode) -> Result<Self> {
        let p = programs()?;
        let mut chase_mem = vec![0u64; (OFF_CHASE + kernels::CHASE_LEN * 4).div_ceil(8)];
        let bytes = as_bytes_mut(&mut chase_mem);
        for (slot, next) in bytes[OFF_CHASE..]
            .chunks_exact_mut(4)
            .zip(kernels::chase_buffer())
        {
            slot.copy_from_slice(&next.to_le_bytes());
        }
        Ok(ClassKernels {
            arith: Loaded::load(&p.arith, mode)?,
            memory: Loaded::load(&p.memory, mode)?,
            rounds_mem: vec![0u64; 1],
            chase_mem,
            source: Arc::new(crate::store::MapStore::new()),
        })
    }

    /// Runs `class`'s kernel for `rounds` rounds and returns its checksum (`int_mul` is the
    /// storage program's FNV-1a kernel, not here: `None`).
    ///
    /// # Errors
    /// [`crate::PluginError::Ebpf`] when the run fails.
    pub fn run(&mut self, class: ComputeClass, rounds: u32) -> Result<Option<u64>> {
        // The memory program only loads `next[p]` for p < CHASE_LEN, every slot of the buffer
        // holds such a p (chase_buffer is a permutation of 0..CHASE_LEN), so its loads stay in
        // its region in JIT mode too; the interpreter checks them.
        let (prog, mem) = match class {
            ComputeClass::IntMul => return Ok(None),
            ComputeClass::Arith => (&self.arith, &mut self.rounds_mem),
            ComputeClass::Memory => (&self.memory, &mut self.chase_mem),
        };
        let bytes = as_bytes_mut(mem);
        put(bytes, 0, u64::from(rounds));
        prog.run(bytes, &self.source).map(Some)
    }
}
