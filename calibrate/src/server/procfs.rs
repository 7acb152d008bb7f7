//! The server's own counters, read from `/proc/<pid>`: CPU time of every thread
//! (`task/*/schedstat`, first field, ns), read/write system calls (`io`: `syscr` + `syscw`) and
//! wake-ups (`task/*/status`: `voluntary_ctxt_switches`, a thread going to sleep for want of
//! input; `nonvoluntary_ctxt_switches` are preemptions).
//!
//! `syscr`/`syscw` count the read and write families (`read`, `write`, `readv`, `writev`, ...);
//! `recvmsg`, `sendmsg` and `epoll_wait` are not counted there. The sweep therefore uses them
//! as a relative measure (system-call rounds per request, scaled to the unpipelined single
//! client), which is what pipelining changes.

use std::fs;
use std::io;

/// One reading of the server's counters (or the difference of two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// CPU time of all threads, ns (schedstat: time on CPU, user and kernel).
    pub cpu_ns: u64,
    /// Read-family system calls (`syscr`).
    pub syscr: u64,
    /// Write-family system calls (`syscw`).
    pub syscw: u64,
    /// Voluntary context switches of all threads (wake-ups).
    pub voluntary: u64,
    /// Involuntary context switches of all threads (preemptions).
    pub involuntary: u64,
    /// Threads seen.
    pub threads: u32,
}

impl ProcSample {
    /// `self - earlier`, field by field (saturating; `threads` is this reading's).
    pub fn since(&self, earlier: &ProcSample) -> ProcSample {
        ProcSample {
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            syscr: self.syscr.saturating_sub(earlier.syscr),
            syscw: self.syscw.saturating_sub(earlier.syscw),
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
            threads: self.threads,
        }
    }
}

/// A server process whose counters can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerProcess {
    /// Its process id.
    pub pid: u32,
}

fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().parse().ok())?
    })
}

impl ServerProcess {
    /// Opens `pid`, checking now that every counter can be read, so a wrong or foreign pid
    /// fails before any measuring.
    ///
    /// # Errors
    /// One line naming the pid and the file that could not be read (no such process,
    /// permission denied: run as the server's user or root).
    pub fn open(pid: u32) -> Result<Self, String> {
        let p = ServerProcess { pid };
        p.sample().map_err(|e| format!("server pid {pid}: {e}"))?;
        Ok(p)
    }

    /// True while `/proc/<pid>` exists and the process is not a zombie.
    pub fn alive(&self) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(s) => s
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            Err(_) => false,
        }
    }

    /// The thread ids of the process now.
    ///
    /// # Errors
    /// When `/proc/<pid>/task` cannot be listed.
    pub fn tasks(&self) -> io::Result<Vec<u32>> {
        let dir = format!("/proc/{}/task", self.pid);
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| annotate(e, &dir))? {
            if let Some(tid) = e?.file_name().to_str().and_then(|s| s.parse().ok()) {
                out.push(tid);
            }
        }
        Ok(out)
    }

    /// Reads every counter now. A thread that exits between the listing and the read is
    /// skipped.
    ///
    /// # Errors
    /// When the process is gone or a file cannot be read (the error names the file).
    pub fn sample(&self) -> io::Result<ProcSample> {
        let io_path = format!("/proc/{}/io", self.pid);
        let io_text = fs::read_to_string(&io_path).map_err(|e| annotate(e, &io_path))?;
        let mut s = ProcSample {
            syscr: field(&io_text, "syscr").unwrap_or(0),
            syscw: field(&io_text, "syscw").unwrap_or(0),
            ..ProcSample::default()
        };
        for tid in self.tasks()? {
            let base = format!("/proc/{}/task/{tid}", self.pid);
            let Ok(sched) = fs::read_to_string(format!("{base}/schedstat")) else {
                continue;
            };
            let Ok(status) = fs::read_to_string(format!("{base}/status")) else {
                continue;
            };
            let cpu = sched
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{base}/schedstat: no CPU time field"),
                    )
                })?;
            s.cpu_ns += cpu;
            s.voluntary += field(&status, "voluntary_ctxt_switches").unwrap_or(0);
            s.involuntary += field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0);
            s.threads += 1;
        }
        if s.threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("/proc/{}/task: no thread could be read", self.pid),
            ));
        }
        Ok(s)
    }

    /// The CPUs the process's main thread may run on (`Cpus_allowed_list`).
    pub fn allowed_cpus(&self) -> Option<Vec<usize>> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
        parse_cpu_list(list.trim())
    }

    /// Pins every thread of the process to `cpu` (a server calibrate started itself).
    ///
    /// # Errors
    /// The first thread the kernel refused.
    pub fn pin_all(&self, cpu: usize) -> io::Result<()> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        for tid in self.tasks()? {
            // SAFETY: cpu_set_t is plain data; all-zero is a valid (empty) set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: `cpu` < CPU_SETSIZE was checked above.
            unsafe { libc::CPU_SET(cpu, &mut set) };
            let tid = libc::pid_t::try_from(tid)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: `tid` is a thread id; the size and pointer describe `set` exactly.
            let rc = unsafe {
                libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

fn annotate(e: io::Error, path: &str) -> io::Error {
    let what = match e.kind() {
        io::ErrorKind::NotFound => "no such process (or it exited)".to_owned(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (run calibrate as the server's user or as root)".to_owned()
        }
        _ => e.to_string(),
    };
    io::Error::new(e.kind(), format!("cannot read {path}: {what}"))
}

/// Parses a kernel CPU list (`0-3,8,10-11`).
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read_and_its_cpu_advances() {
        let p = ServerProcess::open(std::process::id()).unwrap();
        let a = p.sample().unwrap();
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let b = p.sample().unwrap();
        assert!(b.since(&a).cpu_ns > 0);
        assert!(b.threads >= 1);
        assert!(p.alive());
        assert!(p.allowed_cpus().is_some_and(|c| !c.is_empty()));
    }

    #[test]
    fn a_missing_pid_is_one_line_naming_it() {
        // Pid numbers above the kernel's pid_max (at most 2^22) never exist.
        let e = ServerProcess::open(4_999_999).unwrap_err();
        assert!(
            e.contains("4999999") && e.contains("no such process"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
