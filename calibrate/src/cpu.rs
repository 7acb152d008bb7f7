//! CPU accounting and placement: per-thread CPU time, perf-event counters, pinning.
//!
//! CPU time per thread comes from `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, which counts user and
//! kernel time of the calling thread (so socket system calls and the loopback softirq work they
//! run inline are included). Alongside, perf-event counters are opened for the calling thread
//! with kernel counting included (calibration-anchors §4.1): hardware cycles and instructions
//! when the host exposes a PMU, otherwise (as in most VMs) the software task clock and context
//! switches. [`CounterSet::describe`] says which were used; the profile records it.

use std::io;

use perf_event::events::{Hardware, Software};
use perf_event::{Builder, Counter};

use crate::error::{CalibrateError, Result};

/// CPU time consumed by the calling thread so far, in nanoseconds (user + kernel).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

/// Voluntary and involuntary context switches of the calling thread so far
/// (`getrusage(RUSAGE_THREAD)`): a voluntary one is the thread going to sleep for want of input,
/// so the count is a server's wake-ups; an involuntary one is a preemption. Zeros when the call
/// fails.
pub fn thread_context_switches() -> (u64, u64) {
    // SAFETY: `rusage` is plain data for which all-zero bytes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage that outlives the call; RUSAGE_THREAD asks for
    // the calling thread only.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc != 0 {
        return (0, 0);
    }
    (
        u64::try_from(usage.ru_nvcsw).unwrap_or(0),
        u64::try_from(usage.ru_nivcsw).unwrap_or(0),
    )
}

/// Voluntary context switches (sleeps) of this whole process, every thread including those
/// that exited, plus those of its waited-for children (`getrusage(RUSAGE_SELF)` +
/// `getrusage(RUSAGE_CHILDREN)`): around a load generator run in threads or as a child process,
/// the difference counts how often its clients slept on a reply. Zero for a call that fails.
pub fn process_and_children_sleeps() -> u64 {
    let sleeps = |who: libc::c_int| {
        // SAFETY: `rusage` is plain data for which all-zero bytes is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage that outlives the call; `who` is
        // RUSAGE_SELF or RUSAGE_CHILDREN.
        let rc = unsafe { libc::getrusage(who, &mut usage) };
        if rc != 0 {
            return 0;
        }
        u64::try_from(usage.ru_nvcsw).unwrap_or(0)
    };
    sleeps(libc::RUSAGE_SELF) + sleeps(libc::RUSAGE_CHILDREN)
}

/// The CPUs this process may run on, in increasing order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the size and pointer describe `set` exactly.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return vec![0];
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the capacity of `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
/// [`CalibrateError::Os`] when the kernel refuses (CPU not allowed or offline).
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(CalibrateError::os(
            format!("pin thread to cpu {cpu}"),
            io::Error::from(io::ErrorKind::InvalidInput),
        ));
    }
    // SAFETY: cpu_set_t is plain data; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE was checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; the size and pointer describe `set` exactly.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(CalibrateError::last_os(format!("pin thread to cpu {cpu}")))
    }
}

/// Runs `f` with the calling thread pinned to `cpu`, then restores the thread's previous
/// affinity.
///
/// # Errors
/// [`CalibrateError::Os`] when the thread cannot be pinned.
pub fn with_pinned<T>(cpu: usize, f: impl FnOnce() -> T) -> Result<T> {
    // SAFETY: cpu_set_t is plain data; all-zero is a valid (empty) set.
    let mut saved: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the size and pointer describe `saved` exactly.
    let have_saved =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut saved) }
            == 0;
    pin_to_cpu(cpu)?;
    let out = f();
    if have_saved {
        // SAFETY: as above; `saved` is the mask the kernel gave us. A failure leaves the thread
        // pinned, which is harmless for the rest of a calibration run.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &saved) };
    }
    Ok(out)
}

/// Which kind of perf-event counters were opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterKind {
    /// Hardware cycles and instructions (plus the software events).
    Hardware,
    /// Software task clock and context switches only (no PMU exposed).
    Software,
    /// `perf_event_open` is not available at all; thread CPU time only.
    Unavailable,
}

/// Counter values at one instant (or a difference of two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterReading {
    /// Thread CPU time from `CLOCK_THREAD_CPUTIME_ID`, ns.
    pub thread_cpu_ns: u64,
    /// perf task clock (kernel included), ns.
    pub task_clock_ns: Option<u64>,
    /// Context switches (kernel included).
    pub context_switches: Option<u64>,
    /// CPU cycles, when hardware counters exist.
    pub cycles: Option<u64>,
    /// Instructions retired, when hardware counters exist.
    pub instructions: Option<u64>,
}

impl CounterReading {
    /// `self - earlier`, field by field (saturating).
    pub fn since(&self, earlier: &CounterReading) -> CounterReading {
        let d = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_sub(b)),
            _ => None,
        };
        CounterReading {
            thread_cpu_ns: self.thread_cpu_ns.saturating_sub(earlier.thread_cpu_ns),
            task_clock_ns: d(self.task_clock_ns, earlier.task_clock_ns),
            context_switches: d(self.context_switches, earlier.context_switches),
            cycles: d(self.cycles, earlier.cycles),
            instructions: d(self.instructions, earlier.instructions),
        }
    }
}

/// perf-event counters for the calling thread (open them on the thread to be measured).
#[derive(Default)]
pub struct CounterSet {
    task_clock: Option<Counter>,
    context_switches: Option<Counter>,
    cycles: Option<Counter>,
    instructions: Option<Counter>,
}

impl std::fmt::Debug for CounterSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn open(kind: impl Into<perf_event::events::Event>) -> io::Result<Counter> {
    let mut b = Builder::new().kind(kind);
    b.include_kernel();
    let mut c = b.build()?;
    c.enable()?;
    Ok(c)
}

impl CounterSet {
    /// Opens what this host offers for the calling thread: hardware cycles and instructions if
    /// possible, and the software task clock and context switches.
    pub fn open_for_this_thread() -> Self {
        CounterSet {
            task_clock: open(Software::TASK_CLOCK).ok(),
            context_switches: open(Software::CONTEXT_SWITCHES).ok(),
            cycles: open(Hardware::CPU_CYCLES).ok(),
            instructions: open(Hardware::INSTRUCTIONS).ok(),
        }
    }

    /// Which kind of counters are open.
    pub fn kind(&self) -> CounterKind {
        if self.cycles.is_some() {
            CounterKind::Hardware
        } else if self.task_clock.is_some() || self.context_switches.is_some() {
            CounterKind::Software
        } else {
            CounterKind::Unavailable
        }
    }

    /// A short description of what is counted, for method texts.
    pub fn describe(&self) -> String {
        match self.kind() {
            CounterKind::Hardware => {
                "perf hardware cycles+instructions and software task-clock+context-switches \
                 (kernel included)"
                    .to_owned()
            }
            CounterKind::Software => "perf software task-clock+context-switches (kernel \
                 included; hardware counters unavailable)"
                .to_owned(),
            CounterKind::Unavailable => {
                "perf_event_open unavailable: thread CPU clock only".to_owned()
            }
        }
    }

    /// Reads every open counter and the thread CPU clock.
    pub fn read(&mut self) -> CounterReading {
        let rd = |c: &mut Option<Counter>| c.as_mut().and_then(|c| c.read().ok());
        CounterReading {
            thread_cpu_ns: thread_cpu_ns(),
            task_clock_ns: rd(&mut self.task_clock),
            context_switches: rd(&mut self.context_switches),
            cycles: rd(&mut self.cycles),
            instructions: rd(&mut self.instructions),
        }
    }
}

/// True when hardware cycle counters can be opened for this thread.
pub fn hardware_counters_available() -> bool {
    open(Hardware::CPU_CYCLES).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let t0 = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() >= t0);
    }

    #[test]
    fn counters_fall_back_and_say_which() {
        let mut c = CounterSet::open_for_this_thread();
        let a = c.read();
        let b = c.read();
        let d = b.since(&a);
        match c.kind() {
            CounterKind::Unavailable => {
                eprintln!("skipped: perf_event_open unavailable here");
                assert!(d.task_clock_ns.is_none());
            }
            _ => assert!(d.task_clock_ns.is_some() || d.cycles.is_some()),
        }
        assert!(!c.describe().is_empty());
    }

    #[test]
    fn can_pin_to_an_allowed_cpu() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        let cpu = cpus[0];
        std::thread::spawn(move || pin_to_cpu(cpu).unwrap())
            .join()
            .unwrap();
        assert!(pin_to_cpu(usize::MAX).is_err());
    }
}
