//! The eBPF assembly of the empty program and of the standard storage function.

/// The empty program of a warm invocation.
pub(super) const NOP_ASM: &str = "
    mov r0, 0
    exit
";

/// The standard storage function in eBPF (see [`crate::store`]). Jump offsets count
/// instructions from the next one; `lddw` takes two slots. `#` starts a comment.
///
/// "Absent" is tested with a signed `jslt r0, 0`, not `jeq r0, -1`: rbpf 0.4.1's interpreter
/// zero-extends a jump's 32-bit immediate while its JIT (and the kernel) sign-extend it, so
/// `jeq r0, -1` behaves differently in the two modes.
pub(super) const STORAGE_ASM: &str = "
    mov r6, r1              #  0: r6 = mem
    ldxdw r7, [r6+8]        #  1: r7 = records left
    ldxdw r8, [r6+16]       #  2: r8 = key
    mov r9, 0               #  3: r9 = digest
    stxdw [r6+24], r9       #  4: found = 0
    stxdw [r6+32], r9       #  5: bytes = 0
    jeq r7, 0, +17          #  6: records loop: done -> 24
    mov r1, r8              #  7: arg1 = key
    mov r2, r6              #  8:
    add r2, 320             #  9: arg2 = scratch
    mov r3, 4096            # 10: arg3 = capacity
    call 1                  # 11: r0 = read_record(key, scratch, cap)
    add r8, 1               # 12: next key
    sub r7, 1               # 13:
    jslt r0, 0, -9          # 14: absent (u64::MAX) -> loop head (6)
    ldxdw r1, [r6+24]       # 15:
    add r1, 1               # 16:
    stxdw [r6+24], r1       # 17: found += 1
    ldxdw r1, [r6+32]       # 18:
    add r1, r0              # 19:
    stxdw [r6+32], r1       # 20: bytes += len
    ldxdw r1, [r6+320]      # 21: first word of the record
    add r9, r1              # 22: digest += word
    ja -18                  # 23: -> loop head (6)
    stxdw [r6+40], r9       # 24: store digest
    ldxdw r2, [r6+0]        # 25: r2 = rounds
    lddw r0, 0xcbf29ce484222325  # 26-27: h = FNV offset basis
    lddw r3, 0x100000001b3  # 28-29: r3 = FNV prime
    jeq r2, 0, +11          # 30: rounds loop: done -> 42
    mov r4, r6              # 31:
    add r4, 64              # 32: r4 = input
    mov r5, 256             # 33: r5 = bytes left
    ldxb r1, [r4+0]         # 34: byte loop: r1 = *r4
    xor r0, r1              # 35: h ^= b
    mul r0, r3              # 36: h *= prime
    add r4, 1               # 37:
    sub r5, 1               # 38:
    jne r5, 0, -6           # 39: -> byte loop (34)
    sub r2, 1               # 40:
    ja -12                  # 41: -> rounds loop (30)
    exit                    # 42: return h
";
