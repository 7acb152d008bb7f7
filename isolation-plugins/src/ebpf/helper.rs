//! The `read_record` helper the storage program calls, and the trampoline that lets rbpf's JIT
//! call it with an aligned stack.

use std::cell::Cell;

use crate::store::{RecordSource, host_read};

/// Where the helper finds the record source and the program's memory during one run.
#[derive(Clone, Copy)]
pub(super) struct HelperCtx {
    pub(super) source: *const dyn RecordSource,
    pub(super) mem_lo: u64,
    pub(super) mem_hi: u64,
}

thread_local! {
    pub(super) static CURRENT: Cell<Option<HelperCtx>> = const { Cell::new(None) };
}

/// Clears the helper context when a run ends, even on error.
pub(super) struct CtxGuard;

impl Drop for CtxGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(None));
    }
}

/// `read_record(key, dst, cap)`: copies record `key` into `[dst, dst + cap)`, which must lie in
/// the running program's memory region; returns the record's length or `u64::MAX`.
pub(super) fn helper_read_record(key: u64, dst: u64, cap: u64, _: u64, _: u64) -> u64 {
    let Ok(Some(ctx)) = CURRENT.try_with(Cell::get) else {
        return u64::MAX;
    };
    let Some(end) = dst.checked_add(cap) else {
        return u64::MAX;
    };
    if dst < ctx.mem_lo || end > ctx.mem_hi {
        return u64::MAX;
    }
    let (Ok(len), Ok(addr)) = (usize::try_from(cap), usize::try_from(dst)) else {
        return u64::MAX;
    };
    // A panic must not unwind through JIT-compiled code: catch it and report "absent".
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: [dst, dst + cap) lies inside the memory region of the program now running
        // (checked above); the host holds that region mutably borrowed for the run and nothing
        // else reads it while the helper writes. `source` points to the instance's record source,
        // kept alive by the instance for the whole run (CtxGuard clears it afterwards).
        let (buf, source) = unsafe {
            (
                std::slice::from_raw_parts_mut(addr as *mut u8, len),
                &*ctx.source,
            )
        };
        host_read(source, key, buf)
    }));
    match r {
        Ok(Some(n)) => n as u64,
        _ => u64::MAX,
    }
}

/// `extern "C"` entry of the helper, called by [`helper_trampoline`].
extern "C" fn helper_read_record_c(key: u64, dst: u64, cap: u64, a4: u64, a5: u64) -> u64 {
    helper_read_record(key, dst, cap, a4, a5)
}

/// rbpf 0.4.1's JIT calls helpers with the stack 8 bytes off the 16-byte alignment the SysV ABI
/// requires (5 pushes, a 512-byte frame and one `call` before the helper's `call`), which makes
/// compiled Rust code fault on aligned SSE spills. This trampoline realigns the stack, then calls
/// the real helper with the argument registers untouched.
#[unsafe(naked)]
extern "C" fn helper_trampoline(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "and rsp, -16",
        "call {helper}",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
        helper = sym helper_read_record_c,
    )
}

/// The helper as the JIT registers it: only its address is used, and JIT code calls it with the
/// C calling convention, matching [`helper_trampoline`]'s ABI.
pub(super) fn jit_helper() -> rbpf::Helper {
    let f: extern "C" fn(u64, u64, u64, u64, u64) -> u64 = helper_trampoline;
    // SAFETY: both are pointers to functions of five u64 arguments returning u64, of the same
    // size. The value is only registered with a JIT VM, which embeds the address in machine code
    // and calls it with the SysV C convention, the trampoline's own ABI; it is never registered
    // with an interpreter VM, which would call it with the Rust ABI.
    unsafe { std::mem::transmute::<extern "C" fn(u64, u64, u64, u64, u64) -> u64, rbpf::Helper>(f) }
}
