//! `process`: a container, i.e. a worker process (in its own namespaces) invoked over a pipe.
//!
//! - Warm invocation: a round trip to a forked worker over two pipes (lmbench `lat_ctx` /
//!   `perf bench sched pipe`), with caller and worker on the same CPU, so the number is the
//!   software cost of two context switches and four syscalls, not a cross-CPU wake-up. Extras:
//!   `warm_invoke.thread` (the same echo with a thread: threads vs processes) and
//!   `warm_invoke.cross_cpu` (the worker on another CPU; in a VM an IPI per wake-up).
//! - Cold start: the container cold start, `fork` + `unshare(user, pid, net, mount, uts, ipc)` +
//!   `exec /bin/true`, until the child has run and been reaped. The pid namespace applies to the
//!   worker's children (`unshare` semantics); no cgroup is created. Extra `cold_start.plain`:
//!   the same `fork` + `exec` without namespaces. Where namespaces cannot be created (no
//!   privilege) the cold start falls back to the plain one and [`IsolationProbe::notes`] says so.
//! - Local access: records handed over shared memory: the host copies a batch of records into a
//!   `MAP_SHARED` region, one pipe round trip tells the worker to read them (amortised over
//!   [`SHM_SLOTS`] records per round trip).
//! - Compute: the native kernel run inside the worker, its checksum sent back over the pipe.
//! - Memory: the worker's proportional set size (`Pss` in `/proc/<pid>/smaps_rollup`).
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): `perf bench sched pipe` 5.86 us per
//! round trip \[V\], 5.5 us on the dev VM \[L\]; clone with user+net+pid namespaces + exec ~1.07 ms
//! on the dev VM \[L\], SOCK ATC'18 \[A\]; process RSS 100s of KB to MBs \[M\].

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use costmodel::{
    Bytes, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, Requirement, SchemeId,
    SchemeKind, Support, kernel,
};

use crate::common::Cited;
use crate::error::{PluginError, Result};
use crate::store::{MapStore, host_read};

/// Scheme id of [`Process`].
pub const ID: &str = "process";

/// Records per shared-memory hand-over (one pipe round trip each).
pub const SHM_SLOTS: usize = 1024;
/// Bytes per record slot in the shared region (and per probe record).
pub const SLOT_BYTES: usize = 128;

/// The worker binary a cold start executes.
pub const COLD_BINARY: &str = "/bin/true";

/// The namespaces a container cold start creates.
pub const CONTAINER_NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC;

/// The `process` (container) scheme.
#[derive(Clone, Copy, Debug, Default)]
pub struct Process;

impl Process {
    /// The scheme.
    pub fn new() -> Self {
        Process
    }
}

impl IsolationScheme for Process {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited: `perf bench sched pipe` 5.86 us/round trip \[V\], 5.3-5.5 us on the dev VM \[L\];
    /// namespaces + exec ~1.07 ms on the dev VM \[L\], fork+exit 107 us \[L\], SOCK ATC'18 \[A\];
    /// process RSS 100s of KB to MBs \[M\].
    fn defaults(&self) -> IsolationCosts {
        Cited {
            description: "container: a worker process in its own namespaces, invoked over a pipe",
            warm_invoke: (5860.0, 5300.0, 6500.0, "perf bench sched pipe doc example 5.86 us per round trip [V]; 5.5 us processes / 5.3 us threads on the dev VM [L]"),
            cold_start: (1_070_000.0, 107_000.0, 5_000_000.0, "clone with user+net+pid namespaces + exec ~1.07 ms on the dev VM [L]; fork+exit 107 us [L]; SOCK ATC18: Docker is 18x slower than lean containers [A]"),
            local_access: (100.0, 50.0, 500.0, "record handed over shared memory: a copy plus cache misses [M]"),
            slowdown: (1.0, 1.0, 1.05, "native code in another process; namespaces add no per-instruction cost [M]"),
            memory_per_context: (1_048_576.0, 262_144.0, 8_388_608.0, "process RSS 100s of KB to MBs [M]"),
            requirements: vec![Requirement::Namespaces],
        }
        .costs(Support::Supported)
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Process
    }

    fn probe(&self) -> Option<std::result::Result<Box<dyn IsolationProbe>, ProbeError>> {
        Some(
            ProcessProbe::new()
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

// Worker protocol: the parent writes [op, arg] (two u64), the worker answers one u64.
const OP_PING: u64 = 0;
const OP_COMPUTE: u64 = 1;
const OP_READ_SHM: u64 = 2;

/// Probe for [`Process`].
pub struct ProcessProbe {
    cpu: usize,
    worker: Worker,
    thread: ThreadWorker,
    shm: Shm,
    store: Arc<MapStore>,
    /// Position of the scattered walk of first keys over the probe table.
    walk: u64,
    namespaces: std::result::Result<(), String>,
    cpus: usize,
}

impl ProcessProbe {
    /// Forks the warm worker and starts the thread worker, both pinned to the current CPU, and
    /// tries one namespaced cold start to learn whether namespaces work here.
    ///
    /// # Errors
    /// The failing system call.
    pub fn new() -> Result<Self> {
        let cpu = current_cpu();
        let shm = Shm::new(SHM_SLOTS * SLOT_BYTES)?;
        let worker = Worker::fork(cpu, &shm)?;
        let thread = ThreadWorker::spawn(cpu)?;
        let namespaces = spawn_true(CONTAINER_NAMESPACES).map_err(|e| e.to_string());
        Ok(ProcessProbe {
            cpu,
            worker,
            thread,
            shm,
            store: crate::store::probe_table(),
            walk: 0,
            namespaces,
            cpus: available_cpus(),
        })
    }

    /// Whether the container cold start could create namespaces (`Err` says why not).
    pub fn namespaces(&self) -> std::result::Result<(), &str> {
        self.namespaces.as_ref().map(|_| ()).map_err(String::as_str)
    }

    fn ping_loop(&mut self, iterations: u64) -> Result<()> {
        let _pin = Pin::to(self.cpu)?;
        for i in 0..iterations {
            let r = self.worker.call(OP_PING, i)?;
            if r != i {
                return Err(PluginError::Worker {
                    expected: "the ping argument echoed",
                    found: r.to_string(),
                });
            }
        }
        Ok(())
    }
}

impl IsolationProbe for ProcessProbe {
    /// Pipe round trips to the forked worker, both pinned to one CPU.
    fn warm_invoke(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        Ok(self.ping_loop(iterations)?)
    }

    /// `fork` + `unshare(namespaces)` + `exec /bin/true` + reap (plain where namespaces fail).
    fn cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        let flags = if self.namespaces.is_ok() {
            CONTAINER_NAMESPACES
        } else {
            0
        };
        Ok(spawn_true(flags)?)
    }

    /// Copy a batch of records into shared memory, one round trip for the worker to read them.
    /// The records are runs of consecutive keys of the shared probe table from scattered first
    /// keys, as the other schemes' probes read. (A first version copied the same 1,024 records
    /// of a private table every batch, which stay in cache.)
    fn local_access(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        let _pin = Pin::to(self.cpu)?;
        let mut left = iterations;
        while left > 0 {
            let batch = usize::try_from(left).unwrap_or(SHM_SLOTS).min(SHM_SLOTS);
            self.walk = self.walk.wrapping_add(1);
            let first = crate::store::probe_key(self.walk, batch as u64);
            let slots = self.shm.slice_mut();
            for (key, slot) in (first..).zip(slots.chunks_exact_mut(SLOT_BYTES).take(batch)) {
                host_read(&*self.store, key, slot);
            }
            self.worker.call(OP_READ_SHM, batch as u64)?;
            left -= batch as u64;
        }
        Ok(())
    }

    /// The kernel runs in the worker; its checksum comes back over the pipe.
    fn compute(&mut self, rounds: u32) -> std::result::Result<u64, ProbeError> {
        let _pin = Pin::to(self.cpu)?;
        Ok(self.worker.call(OP_COMPUTE, u64::from(rounds))?)
    }

    /// The worker's `Pss` (pages shared with the parent after `fork` count proportionally).
    fn memory_per_context(&mut self) -> Option<Bytes> {
        pss_bytes(self.worker.pid).map(|b| Bytes::new(b as f64))
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = vec!["warm_invoke.thread", "cold_start.plain"];
        if self.cpus >= 2 {
            ops.push("warm_invoke.cross_cpu");
        }
        ops
    }

    fn extra(&mut self, name: &str, iterations: u64) -> std::result::Result<(), ProbeError> {
        match name {
            "warm_invoke.thread" => {
                let _pin = Pin::to(self.cpu)?;
                for i in 0..iterations {
                    self.thread.call(i)?;
                }
                Ok(())
            }
            "cold_start.plain" => {
                for _ in 0..iterations {
                    spawn_true(0)?;
                }
                Ok(())
            }
            "warm_invoke.cross_cpu" if self.cpus >= 2 => {
                let other = (self.cpu + 1) % self.cpus;
                set_affinity(self.worker.pid, other)?;
                let r = self.ping_loop(iterations);
                set_affinity(self.worker.pid, self.cpu)?;
                Ok(r?)
            }
            _ => Err(ProbeError::new(name, "no such extra operation")),
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut n = vec![
            format!(
                "warm_invoke: pipe round trip to a forked worker, both pinned to cpu {}",
                self.cpu
            ),
            "memory_per_context: Pss of the forked worker (shares pages with the parent)".into(),
            "cold_start: no cgroup is created; the pid namespace applies to the worker's children"
                .into(),
        ];
        match &self.namespaces {
            Ok(()) => n.push(
                "cold_start: fork + unshare(user,pid,net,mnt,uts,ipc) + exec /bin/true + reap"
                    .into(),
            ),
            Err(e) => n.push(format!(
                "cold_start: namespaces unavailable ({e}); measured plain fork + exec instead"
            )),
        }
        n
    }
}

/// Runs `/bin/true` in a forked child after `unshare(flags)` (none when 0) and reaps it.
///
/// # Errors
/// [`PluginError::Io`] when the fork, the `unshare` or the exec fails, or
/// [`PluginError::Worker`] when the child exits unsuccessfully.
pub fn spawn_true(flags: libc::c_int) -> Result<()> {
    let mut cmd = Command::new(COLD_BINARY);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and only calls unshare(2),
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if flags != 0 && libc::unshare(flags) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().map_err(|source| PluginError::Io {
        operation: if flags == 0 {
            "fork + exec /bin/true"
        } else {
            "fork + unshare(namespaces) + exec /bin/true"
        },
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(PluginError::Worker {
            expected: "/bin/true to exit 0",
            found: status.to_string(),
        })
    }
}

/// A forked worker answering over two pipes.
struct Worker {
    pid: libc::pid_t,
    to_child: libc::c_int,
    from_child: libc::c_int,
}

impl Worker {
    fn fork(cpu: usize, shm: &Shm) -> Result<Self> {
        let (down_r, down_w) = pipe()?;
        let (up_r, up_w) = pipe()?;
        let shm_ptr = shm.ptr as usize;
        // SAFETY: fork has no memory-safety preconditions; the child below only performs
        // async-signal-safe calls (read, write, _exit) and pure computation, allocating nothing.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(PluginError::last_os("fork worker"));
        }
        if pid == 0 {
            // SAFETY: closing the parent's pipe ends in the child.
            unsafe {
                libc::close(down_w);
                libc::close(up_r);
            }
            worker_loop(down_r, up_w, shm_ptr);
        }
        // SAFETY: closing the child's pipe ends in the parent.
        unsafe {
            libc::close(down_r);
            libc::close(up_w);
        }
        let w = Worker {
            pid,
            to_child: down_w,
            from_child: up_r,
        };
        set_affinity(pid, cpu)?;
        Ok(w)
    }

    fn call(&mut self, op: u64, arg: u64) -> Result<u64> {
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&op.to_le_bytes());
        msg[8..].copy_from_slice(&arg.to_le_bytes());
        if !write_all(self.to_child, &msg) {
            return Err(PluginError::last_os("write to worker"));
        }
        let mut reply = [0u8; 8];
        if !read_exact(self.from_child, &mut reply) {
            return Err(PluginError::Worker {
                expected: "an 8-byte reply",
                found: "end of file or error".into(),
            });
        }
        Ok(u64::from_le_bytes(reply))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // SAFETY: closing our pipe ends makes the worker's read return 0 and exit; waitpid reaps
        // the child we forked.
        unsafe {
            libc::close(self.to_child);
            libc::close(self.from_child);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}

/// The forked worker's loop: only raw syscalls and arithmetic (async-signal-safe), then `_exit`.
fn worker_loop(rx: libc::c_int, tx: libc::c_int, shm: usize) -> ! {
    let input = kernel::input();
    let mut msg = [0u8; 16];
    while read_exact(rx, &mut msg) {
        let mut op = [0u8; 8];
        let mut arg = [0u8; 8];
        op.copy_from_slice(&msg[..8]);
        arg.copy_from_slice(&msg[8..]);
        let (op, arg) = (u64::from_le_bytes(op), u64::from_le_bytes(arg));
        let reply = match op {
            OP_COMPUTE => kernel::fnv1a_rounds(&input, u32::try_from(arg).unwrap_or(u32::MAX)),
            OP_READ_SHM => {
                let n = usize::try_from(arg).unwrap_or(0).min(SHM_SLOTS);
                let mut acc = 0u64;
                for i in 0..n {
                    // SAFETY: slot i < SHM_SLOTS lies inside the shared mapping, which the
                    // child inherited from the parent; an unaligned read is used.
                    let w =
                        unsafe { std::ptr::read_unaligned((shm + i * SLOT_BYTES) as *const u64) };
                    acc = acc.wrapping_add(w);
                }
                acc
            }
            _ => arg,
        };
        if !write_all(tx, &reply.to_le_bytes()) {
            break;
        }
    }
    // SAFETY: _exit ends the forked child without running the parent's destructors.
    unsafe { libc::_exit(0) }
}

/// A thread worker answering over two pipes (the threads-vs-processes comparison).
struct ThreadWorker {
    to_thread: libc::c_int,
    from_thread: libc::c_int,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ThreadWorker {
    fn spawn(cpu: usize) -> Result<Self> {
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

    fn call(&mut self, v: u64) -> Result<u64> {
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
struct Shm {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by the probe and only written through &mut self.
unsafe impl Send for Shm {}

impl Shm {
    fn new(len: usize) -> Result<Self> {
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

    fn slice_mut(&mut self) -> &mut [u8] {
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

fn pipe() -> Result<(libc::c_int, libc::c_int)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(PluginError::last_os("pipe"));
    }
    Ok((fds[0], fds[1]))
}

fn write_all(fd: libc::c_int, mut buf: &[u8]) -> bool {
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

fn read_exact(fd: libc::c_int, mut buf: &mut [u8]) -> bool {
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

/// The CPU the calling thread runs on (0 when unknown).
fn current_cpu() -> usize {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).unwrap_or(0)
}

/// Logical CPUs this process may use.
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes a bit of the set we own (it bounds-checks the index).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

fn set_affinity(pid: libc::pid_t, cpu: usize) -> Result<()> {
    let set = cpu_set(cpu);
    // SAFETY: the set is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(pid, std::mem::size_of_val(&set), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(PluginError::last_os("sched_setaffinity"))
    }
}

/// Pins the calling thread to one CPU and restores its previous affinity on drop.
struct Pin {
    old: libc::cpu_set_t,
}

impl Pin {
    fn to(cpu: usize) -> Result<Self> {
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

/// `Pss` of process `pid` in bytes, from `/proc/<pid>/smaps_rollup`.
fn pss_bytes(pid: libc::pid_t) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = s.lines().find(|l| l.starts_with("Pss:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
