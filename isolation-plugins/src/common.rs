//! Small helpers shared by the schemes: literature estimates, memory readings and CPU
//! affinity.

// Which helpers are used depends on the enabled scheme features.
#![allow(dead_code)]

use std::collections::BTreeMap;

use costmodel::{Bytes, Estimate, Factor, IsolationCosts, Nanos, Requirement, Support};

use crate::error::{PluginError, Result};

/// Literature values for one scheme, in the units of `IsolationCosts`: `(point, lower, upper,
/// citation)` per field. Copied from `fixtures/hosts/reference.ron`.
pub(crate) struct Cited {
    pub(crate) description: &'static str,
    pub(crate) warm_invoke: (f64, f64, f64, &'static str),
    pub(crate) cold_start: (f64, f64, f64, &'static str),
    pub(crate) local_access: (f64, f64, f64, &'static str),
    pub(crate) slowdown: (f64, f64, f64, &'static str),
    pub(crate) memory_per_context: (f64, f64, f64, &'static str),
    pub(crate) requirements: Vec<Requirement>,
}

impl Cited {
    /// The `IsolationCosts` these citations describe, supported unless `support` says otherwise.
    pub(crate) fn costs(self, support: Support) -> IsolationCosts {
        let n = |(p, l, u, c): (f64, f64, f64, &str)| {
            Estimate::literature(Nanos::new(p), Nanos::new(l), Nanos::new(u), c)
        };
        let (p, l, u, c) = self.slowdown;
        let (mp, ml, mu, mc) = self.memory_per_context;
        IsolationCosts {
            description: self.description.to_owned(),
            warm_invoke: n(self.warm_invoke),
            cold_start: n(self.cold_start),
            local_access: n(self.local_access),
            slowdown: Estimate::literature(Factor::new(p), Factor::new(l), Factor::new(u), c),
            memory_per_context: Estimate::literature(
                Bytes::new(mp),
                Bytes::new(ml),
                Bytes::new(mu),
                mc,
            ),
            requirements: self.requirements,
            support,
            details: BTreeMap::new(),
            local_access_per_byte: None,
            slowdown_by_class: BTreeMap::new(),
        }
    }
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub(crate) fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * page_size())
}

/// The page size (4 KiB when sysconf fails).
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// Converts a count to `u32`, saturating (iteration counts handed to guests).
pub(crate) fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The CPU the calling thread runs on (0 when unknown).
pub(crate) fn current_cpu() -> usize {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).unwrap_or(0)
}

/// Logical CPUs online, whatever the calling thread's affinity: on a thread the harness already
/// pinned, `std::thread::available_parallelism` says 1. (The `process` probe counted CPUs that
/// way, so `calibrate run` never measured its `warm_invoke.cross_cpu`.)
pub(crate) fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

fn cpu_set(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes a bit of the set we own (it bounds-checks the index).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

pub(crate) fn set_affinity(pid: libc::pid_t, cpu: usize) -> Result<()> {
    let set = cpu_set(cpu);
    // SAFETY: the set is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(pid, std::mem::size_of_val(&set), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(PluginError::last_os("sched_setaffinity"))
    }
}
