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
//! - Memory: the worker's private memory (`Private_Clean + Private_Dirty` in
//!   `/proc/<pid>/smaps_rollup`). Its `Pss` would charge it half of every page it shares with
//!   the parent after `fork`, i.e. half the probe tables the parent happens to hold (28 MB with
//!   the 50 MB main table; 95 MB once the sized tables exist), which one more worker does not
//!   cost.
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): `perf bench sched pipe` 5.86 us per
//! round trip \[V\], 5.5 us on the dev VM \[L\]; clone with user+net+pid namespaces + exec ~1.07 ms
//! on the dev VM \[L\], SOCK ATC'18 \[A\]; process RSS 100s of KB to MBs \[M\].

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use costmodel::{
    Bytes, ComputeClass, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, Requirement,
    SchemeId, SchemeKind, Support, kernel,
};

use crate::common::Cited;
use crate::error::{PluginError, Result};
use crate::kernels::{self, ACCESS_SIZES, Checked};
use crate::store::{MAX_RECORD_BYTES, PROBE_RUN_RECORDS, ProbeEnv, ProbeTable, host_read};

mod sys;
use sys::{
    Pin, Shm, ThreadWorker, current_cpu, online_cpus, pipe, private_bytes, read_exact,
    set_affinity, write_all,
};

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
#[derive(Clone, Debug, Default)]
pub struct Process {
    env: Option<Arc<ProbeEnv>>,
}

impl Process {
    /// The scheme; its probe reads [`ProbeEnv::process_default`].
    pub fn new() -> Self {
        Process::default()
    }

    /// The scheme whose probe reads the tables of `env`.
    pub fn with_env(env: Arc<ProbeEnv>) -> Self {
        Process { env: Some(env) }
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
        let env = self.env.clone().unwrap_or_else(ProbeEnv::process_default);
        Some(
            ProcessProbe::with_env(env)
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

// Worker protocol: the parent writes [op, arg] (two u64), the worker answers one u64.
const OP_PING: u64 = 0;
const OP_COMPUTE: u64 = 1;
const OP_READ_SHM: u64 = 2;
/// Reads the first word of `arg & 0xffff_ffff` slots of `arg >> 32` bytes each.
const OP_READ_SHM_STRIDE: u64 = 3;
const OP_ARITH: u64 = 4;
const OP_MEMORY: u64 = 5;

/// Probe for [`Process`].
pub struct ProcessProbe {
    cpu: usize,
    worker: Worker,
    thread: ThreadWorker,
    shm: Shm,
    env: Arc<ProbeEnv>,
    table: Arc<ProbeTable>,
    /// Position of the scattered walk of first keys over the probe table.
    walk: u64,
    namespaces: std::result::Result<(), String>,
    cpus: usize,
    /// The memory kernel's buffer, allocated before the fork: the worker reads its copy.
    _chase: Vec<u32>,
    checked: Checked,
}

impl ProcessProbe {
    /// Forks the warm worker and starts the thread worker, both pinned to the current CPU, and
    /// tries one namespaced cold start to learn whether namespaces work here.
    ///
    /// # Errors
    /// The failing system call.
    pub fn new() -> Result<Self> {
        ProcessProbe::with_env(ProbeEnv::process_default())
    }

    /// As [`ProcessProbe::new`], reading the tables of `env`.
    ///
    /// # Errors
    /// The failing system call.
    pub fn with_env(env: Arc<ProbeEnv>) -> Result<Self> {
        let cpu = current_cpu();
        // Room for a batch of the largest records; only the slots used are ever touched.
        let shm = Shm::new(SHM_SLOTS * MAX_RECORD_BYTES)?;
        let chase = kernels::chase_buffer();
        let worker = Worker::fork(cpu, &shm, &chase)?;
        let thread = ThreadWorker::spawn(cpu)?;
        let namespaces = spawn_true(CONTAINER_NAMESPACES).map_err(|e| e.to_string());
        Ok(ProcessProbe {
            cpu,
            worker,
            thread,
            shm,
            table: env.table(),
            env,
            walk: 0,
            namespaces,
            cpus: online_cpus(),
            _chase: chase,
            checked: Checked::new(),
        })
    }

    /// Runs `class`'s kernel in the worker and returns its checksum (unverified).
    ///
    /// # Errors
    /// The failing pipe operation.
    pub fn compute_class(&mut self, class: ComputeClass, rounds: u32) -> Result<u64> {
        let _pin = Pin::to(self.cpu)?;
        let op = match class {
            ComputeClass::IntMul => OP_COMPUTE,
            ComputeClass::Arith => OP_ARITH,
            ComputeClass::Memory => OP_MEMORY,
        };
        self.worker.call(op, u64::from(rounds))
    }

    /// Copies batches of records of `table` into shared memory at a stride of their size, one
    /// round trip each for the worker to read them.
    fn access(&mut self, table: &ProbeTable, iterations: u64) -> Result<()> {
        let _pin = Pin::to(self.cpu)?;
        let stride = table.shape().record_bytes.clamp(8, MAX_RECORD_BYTES);
        let mut left = iterations;
        while left > 0 {
            let batch = usize::try_from(left).unwrap_or(SHM_SLOTS).min(SHM_SLOTS);
            let slots = self.shm.slice_mut();
            fill_runs(
                table,
                &mut self.walk,
                slots.chunks_exact_mut(stride).take(batch),
            );
            let arg = ((stride as u64) << 32) | batch as u64;
            self.worker.call(OP_READ_SHM_STRIDE, arg)?;
            left -= batch as u64;
        }
        Ok(())
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

/// Copies records of `table` into `slots`, in runs of [`PROBE_RUN_RECORDS`] consecutive keys
/// from scattered first keys (`walk` advancing once a run), as the other schemes' probes read.
fn fill_runs<'a>(table: &ProbeTable, walk: &mut u64, slots: impl Iterator<Item = &'a mut [u8]>) {
    let (mut key, mut left_in_run) = (0, 0);
    for slot in slots {
        if left_in_run == 0 {
            *walk = walk.wrapping_add(1);
            key = table.key(*walk, PROBE_RUN_RECORDS);
            left_in_run = PROBE_RUN_RECORDS;
        }
        host_read(&**table.store(), key, slot);
        key += 1;
        left_in_run -= 1;
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
    /// The records are runs of [`PROBE_RUN_RECORDS`] consecutive keys of the shared probe table
    /// from scattered first keys, as the other schemes' probes read. (A first version copied the
    /// same 1,024 records of a private table every batch, which stay in cache.)
    fn local_access(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        let _pin = Pin::to(self.cpu)?;
        let mut left = iterations;
        while left > 0 {
            let batch = usize::try_from(left).unwrap_or(SHM_SLOTS).min(SHM_SLOTS);
            let slots = self.shm.slice_mut();
            fill_runs(
                &self.table,
                &mut self.walk,
                slots.chunks_exact_mut(SLOT_BYTES).take(batch),
            );
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

    /// The worker's private memory (pages shared with the parent after `fork` are not counted).
    fn memory_per_context(&mut self) -> Option<Bytes> {
        private_bytes(self.worker.pid).map(|b| Bytes::new(b as f64))
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = vec!["warm_invoke.thread", "cold_start.plain"];
        if self.cpus >= 2 {
            ops.push("warm_invoke.cross_cpu");
        }
        ops.extend(kernels::access_ops(&ACCESS_SIZES));
        ops.extend(kernels::class_ops());
        ops
    }

    /// `local_access.bytes=N` copies `N`-byte records through the shared region;
    /// `compute.<class>` runs the class kernel in the worker, checksum verified.
    fn extra(&mut self, name: &str, iterations: u64) -> std::result::Result<(), ProbeError> {
        if let Some(class) = kernels::parse_class_op(name) {
            let rounds = kernels::rounds_of(name, iterations)?;
            let got = self.compute_class(class, rounds)?;
            return self.checked.verify(class, rounds, got);
        }
        if let Some(table) = kernels::parse_access_op(name).and_then(|b| self.env.sized(b)) {
            return Ok(self.access(&table, iterations)?);
        }
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
            "memory_per_context: private memory (Private_Clean + Private_Dirty) of the forked worker; pages shared with the parent are not counted".into(),
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
    fn fork(cpu: usize, shm: &Shm, chase: &[u32]) -> Result<Self> {
        let chase = (chase.as_ptr() as usize, chase.len());
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
            worker_loop(down_r, up_w, shm_ptr, chase);
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
fn worker_loop(rx: libc::c_int, tx: libc::c_int, shm: usize, chase: (usize, usize)) -> ! {
    let input = kernel::input();
    // SAFETY: the buffer was allocated by the parent before the fork and is kept alive by the
    // probe; the child has its own copy-on-write copy of it for its whole life.
    let chase = unsafe { std::slice::from_raw_parts(chase.0 as *const u32, chase.1) };
    let mut msg = [0u8; 16];
    while read_exact(rx, &mut msg) {
        let mut op = [0u8; 8];
        let mut arg = [0u8; 8];
        op.copy_from_slice(&msg[..8]);
        arg.copy_from_slice(&msg[8..]);
        let (op, arg) = (u64::from_le_bytes(op), u64::from_le_bytes(arg));
        let reply = match op {
            OP_COMPUTE => kernel::fnv1a_rounds(&input, u32::try_from(arg).unwrap_or(u32::MAX)),
            OP_ARITH => kernels::arith_rounds(u32::try_from(arg).unwrap_or(u32::MAX)),
            OP_MEMORY => kernels::memory_rounds(chase, u32::try_from(arg).unwrap_or(u32::MAX)),
            OP_READ_SHM_STRIDE => {
                let stride = usize::try_from(arg >> 32)
                    .unwrap_or(8)
                    .clamp(8, MAX_RECORD_BYTES);
                let n = usize::try_from(arg & 0xffff_ffff)
                    .unwrap_or(0)
                    .min(SHM_SLOTS);
                let mut acc = 0u64;
                for i in 0..n {
                    // SAFETY: slot i < SHM_SLOTS at a stride <= MAX_RECORD_BYTES lies inside the
                    // shared mapping of SHM_SLOTS * MAX_RECORD_BYTES bytes the child inherited.
                    let w = unsafe { std::ptr::read_unaligned((shm + i * stride) as *const u64) };
                    acc = acc.wrapping_add(w);
                }
                acc
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TableShape;

    #[test]
    fn a_batch_is_filled_with_runs_of_consecutive_keys() {
        let table = ProbeTable::build(TableShape {
            records: 4096,
            record_bytes: 64,
        })
        .unwrap();
        let mut slots = vec![0u8; 100 * 64];
        let mut walk = 0;
        fill_runs(&table, &mut walk, slots.chunks_exact_mut(64));
        // 100 slots: runs of 32, 32, 32 and 4, one walk step each.
        assert_eq!(walk, 4);
        // Byte 0 of record k is k * 131 mod 256: within a run each slot holds the next key.
        let first: Vec<u8> = slots.chunks_exact(64).map(|s| s[0]).collect();
        let run = usize::try_from(PROBE_RUN_RECORDS).unwrap();
        for (i, pair) in first.windows(2).enumerate() {
            if (i + 1) % run != 0 {
                assert_eq!(pair[1], pair[0].wrapping_add(131), "slot {i}");
            }
        }
        // Runs start at scattered keys, not where the previous run ended.
        assert!((1..4).any(|r| first[r * run] != first[r * run - 1].wrapping_add(131)));
    }
}
