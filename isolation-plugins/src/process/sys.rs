//! System helpers of the `process` scheme: the thread worker, the shared region, pipes, CPU
//! pinning and the worker's memory reading.

use crate::error::{PluginError, Result};

/// A thread worker answering over two pipes (the threads-vs-processes comparison).
pub(super) struct ThreadWorker {
    to_thread: libc::c_int,
    from_thread: libc::c_int,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ThreadWorker {
    pub(super) fn spawn(cpu: usize) -> Result<Self> {
        let (down_r, down_w) = pipe()?;
        let (up_r, up_w) = pipe()?;
        let handle = std::thread::Builder::new()
            .name("process-probe-thread".into())
            .spawn(move || {
                let _ = set_affinity(0, cpu);
                let mut buf = [0u8; 8];
                while read_exact(down_r, &mut buf) {
                    if !write_all(up_w, &buf) {
                        break;
                    }
                }
                // SAFETY: the thread owns these two pipe ends.
                unsafe {
                    libc::close(down_r);
                    libc::close(up_w);
                }
            })
            .map_err(|source| PluginError::Io {
                operation: "spawn thread worker",
                source,
            })?;
        Ok(ThreadWorker {
            to_thread: down_w,
            from_thread: up_r,
            handle: Some(handle),
        })
    }

    pub(super) fn call(&mut self, v: u64) -> Result<u64> {
        if !write_all(self.to_thread, &v.to_le_bytes()) {
            return Err(PluginError::last_os("write to thread worker"));
        }
        let mut buf = [0u8; 8];
        if !read_exact(self.from_thread, &mut buf) {
            return Err(PluginError::Worker {
                expected: "an 8-byte reply from the thread",
                found: "end of file or error".into(),
            });
        }
        Ok(u64::from_le_bytes(buf))
    }
}

impl Drop for ThreadWorker {
    fn drop(&mut self) {
        // SAFETY: closing our ends ends the thread's loop.
        unsafe {
            libc::close(self.to_thread);
            libc::close(self.from_thread);
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A shared anonymous mapping, inherited by the forked worker.
pub(super) struct Shm {
    pub(super) ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by the probe and only written through &mut self.
unsafe impl Send for Shm {}

impl Shm {
    pub(super) fn new(len: usize) -> Result<Self> {
        // SAFETY: a fresh shared anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(PluginError::last_os("mmap shared region"));
        }
        Ok(Shm {
            ptr: ptr.cast(),
            len,
        })
    }

    pub(super) fn slice_mut(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, and only this probe writes
        // it (the worker reads it only while the parent waits for its reply).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

pub(super) fn pipe() -> Result<(libc::c_int, libc::c_int)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(PluginError::last_os("pipe"));
    }
    Ok((fds[0], fds[1]))
}

pub(super) fn write_all(fd: libc::c_int, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n > 0 => buf = &buf[n..],
            _ if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    true
}

pub(super) fn read_exact(fd: libc::c_int, mut buf: &mut [u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: buf is a valid writable slice of buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n > 0 => buf = &mut buf[n..],
            _ if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    true
}

pub(super) use crate::common::{current_cpu, online_cpus, set_affinity};

/// Pins the calling thread to one CPU and restores its previous affinity on drop.
pub(super) struct Pin {
    old: libc::cpu_set_t,
}

impl Pin {
    pub(super) fn to(cpu: usize) -> Result<Self> {
        // SAFETY: all-zero is a valid empty cpu_set_t; sched_getaffinity fills it.
        let mut old: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `old` is a valid cpu_set_t of the size passed.
        if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&old), &mut old) } != 0 {
            return Err(PluginError::last_os("sched_getaffinity"));
        }
        set_affinity(0, cpu)?;
        Ok(Pin { old })
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: restoring the mask read in `Pin::to`.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.old), &self.old) };
    }
}

/// Memory private to process `pid` (`Private_Clean + Private_Dirty` in
/// `/proc/<pid>/smaps_rollup`), bytes: what the process holds that no other process shares.
pub(super) fn private_bytes(pid: libc::pid_t) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut total = 0u64;
    let mut seen = false;
    for l in s.lines() {
        if l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:") {
            let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
            total += kb * 1024;
            seen = true;
        }
    }
    seen.then_some(total)
}
