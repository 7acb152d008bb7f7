//! Reading what else used the CPU from `/proc`, behind [`ProcSource`] so tests can fake it.
//!
//! Formats (proc(5)):
//! - `/proc/stat`, first line `cpu  user nice system idle iowait irq softirq steal guest
//!   guest_nice`, in clock ticks (`sysconf(_SC_CLK_TCK)`, 100 here) summed over CPUs; steal is
//!   the 8th number.
//! - `/proc/<pid>/stat`: `pid (comm) state ppid ...`; after the `)` that closes `comm` (which
//!   may itself hold spaces and parentheses), `utime` and `stime` are fields 14 and 15 of the
//!   whole line, `cutime` and `cstime` (CPU of children the process has waited for) 16 and 17.
//! - `/proc/<pid>/task/<tid>/status`: a `nonvoluntary_ctxt_switches:\tN` line per thread.

use std::io;
use std::path::PathBuf;

/// One process's CPU as `/proc/<pid>/stat` reports it, in clock ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: u32,
    /// Parent's process id.
    pub ppid: u32,
    /// Command name (`comm`).
    pub comm: String,
    /// `utime + stime`: the process's own CPU (all its threads).
    pub cpu_ticks: u64,
    /// `cutime + cstime`: CPU of children it has reaped.
    pub child_ticks: u64,
}

/// Where noise readings come from: the real `/proc`, or a fake in tests.
pub trait ProcSource {
    /// Steal so far, summed over CPUs, in clock ticks (`/proc/stat`).
    ///
    /// # Errors
    /// The file cannot be read or parsed.
    fn steal_ticks(&self) -> io::Result<u64>;
    /// Every process now (`/proc/*/stat`). Processes that vanish while being read are left out.
    ///
    /// # Errors
    /// `/proc` cannot be listed.
    fn processes(&self) -> io::Result<Vec<ProcStat>>;
    /// Involuntary context switches so far, summed over the threads of `pid`
    /// (`/proc/<pid>/task/*/status`).
    ///
    /// # Errors
    /// The process cannot be read.
    fn involuntary_switches(&self, pid: u32) -> io::Result<u64>;
    /// Clock ticks per second.
    fn ticks_per_second(&self) -> f64;
}

/// The real `/proc` (or another root with the same layout).
#[derive(Clone, Debug)]
pub struct LinuxProc {
    root: PathBuf,
    hz: f64,
}

impl LinuxProc {
    /// `/proc`, with the system's clock tick rate.
    pub fn new() -> Self {
        // SAFETY: sysconf only reads a configuration value; it has no memory-safety
        // preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        LinuxProc {
            root: PathBuf::from("/proc"),
            hz: if hz > 0 { hz as f64 } else { 100.0 },
        }
    }
}

impl Default for LinuxProc {
    fn default() -> Self {
        Self::new()
    }
}

fn bad(what: &str, e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

impl ProcSource for LinuxProc {
    fn steal_ticks(&self) -> io::Result<u64> {
        let path = self.root.join("stat");
        let text = std::fs::read_to_string(&path)?;
        parse_steal(&text).map_err(|e| bad(&path.display().to_string(), e))
    }

    fn processes(&self) -> io::Result<Vec<ProcStat>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            // A process may exit between the listing and the read: not an error.
            let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            match parse_pid_stat(&text) {
                Ok(p) => out.push(p),
                Err(e) => return Err(bad(&format!("/proc/{pid}/stat"), e)),
            }
        }
        Ok(out)
    }

    fn involuntary_switches(&self, pid: u32) -> io::Result<u64> {
        let dir = self.root.join(pid.to_string()).join("task");
        let mut total = 0u64;
        for entry in std::fs::read_dir(&dir)? {
            let Ok(entry) = entry else { continue };
            // A thread may exit between the listing and the read.
            let Ok(text) = std::fs::read_to_string(entry.path().join("status")) else {
                continue;
            };
            total += parse_nonvoluntary(&text)
                .map_err(|e| bad(&entry.path().join("status").display().to_string(), e))?;
        }
        Ok(total)
    }

    fn ticks_per_second(&self) -> f64 {
        self.hz
    }
}

/// The steal field (8th number) of `/proc/stat`'s aggregate `cpu` line.
///
/// # Errors
/// No `cpu ` line, or fewer than 8 numbers on it.
pub fn parse_steal(stat: &str) -> Result<u64, String> {
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| "no aggregate `cpu` line".to_owned())?;
    let field = line
        .split_whitespace()
        .nth(8)
        .ok_or_else(|| format!("`cpu` line has fewer than 8 numbers: {line:?}"))?;
    field
        .parse()
        .map_err(|_| format!("steal field is not a count: {field:?}"))
}

/// One `/proc/<pid>/stat` line.
///
/// # Errors
/// The line does not have the documented shape.
pub fn parse_pid_stat(line: &str) -> Result<ProcStat, String> {
    let open = line
        .find('(')
        .ok_or_else(|| format!("no `(comm)` in {line:?}"))?;
    let close = line
        .rfind(')')
        .ok_or_else(|| format!("no `(comm)` in {line:?}"))?;
    if close < open {
        return Err(format!("no `(comm)` in {line:?}"));
    }
    let pid = line[..open]
        .trim()
        .parse()
        .map_err(|_| format!("pid is not a number in {line:?}"))?;
    let comm = line[open + 1..close].to_owned();
    // Fields after `comm`: state (3), ppid (4), ..., utime (14), stime (15), cutime (16),
    // cstime (17): indexes 0, 1, ..., 11, 12, 13, 14 here.
    let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
    let num = |i: usize, name: &str| -> Result<u64, String> {
        let v = rest
            .get(i)
            .ok_or_else(|| format!("{name} missing in /proc/{pid}/stat"))?;
        // cutime and cstime are signed in the kernel's format; they are never negative.
        v.parse::<i64>()
            .ok()
            .and_then(|x| u64::try_from(x).ok())
            .ok_or_else(|| format!("{name} is not a count in /proc/{pid}/stat: {v:?}"))
    };
    let ppid = u32::try_from(num(1, "ppid")?).map_err(|_| "ppid out of range".to_owned())?;
    Ok(ProcStat {
        pid,
        ppid,
        comm,
        cpu_ticks: num(11, "utime")? + num(12, "stime")?,
        child_ticks: num(13, "cutime")? + num(14, "cstime")?,
    })
}

/// The `nonvoluntary_ctxt_switches` count of a `/proc/<pid>/task/<tid>/status` file.
///
/// # Errors
/// The line is missing or not a count.
pub fn parse_nonvoluntary(status: &str) -> Result<u64, String> {
    let line = status
        .lines()
        .find(|l| l.starts_with("nonvoluntary_ctxt_switches:"))
        .ok_or_else(|| "no nonvoluntary_ctxt_switches line".to_owned())?;
    let v = line["nonvoluntary_ctxt_switches:".len()..].trim();
    v.parse()
        .map_err(|_| format!("nonvoluntary_ctxt_switches is not a count: {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real lines from this machine kind (Linux 6.x, 2 vCPUs).
    const STAT: &str = "cpu  49851 15050 11976 10894 279 0 187 1718 0 0\n\
                        cpu0 24938 7349 5868 5882 93 0 12 833 0 0\n\
                        cpu1 24913 7700 6107 5012 186 0 174 885 0 0\n\
                        intr 123 0\nctxt 456\n";
    const PID_STAT: &str = "22300 (cat) R 22297 22297 11569 0 -1 4194304 102 0 0 0 3 5 7 11 20 0 \
                            1 0 45168 3133440 381 18446744073709551615 94425614438400 0 0 0 0 0 \
                            0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";

    #[test]
    fn steal_is_the_eighth_number_of_the_cpu_line() {
        assert_eq!(parse_steal(STAT).unwrap(), 1718);
        let e = parse_steal("cpu  1 2 3\n").unwrap_err();
        assert!(e.contains("fewer than 8"), "{e}");
        assert!(
            parse_steal("intr 1\n")
                .unwrap_err()
                .contains("no aggregate")
        );
    }

    #[test]
    fn pid_stat_reads_cpu_and_child_cpu() {
        let p = parse_pid_stat(PID_STAT).unwrap();
        assert_eq!(
            p,
            ProcStat {
                pid: 22300,
                ppid: 22297,
                comm: "cat".to_owned(),
                cpu_ticks: 8,
                child_ticks: 18,
            }
        );
    }

    #[test]
    fn pid_stat_survives_a_comm_with_spaces_and_parentheses() {
        let line = PID_STAT.replace("(cat)", "(my (odd) name)");
        let p = parse_pid_stat(&line).unwrap();
        assert_eq!(p.comm, "my (odd) name");
        assert_eq!(p.cpu_ticks, 8);
        assert!(
            parse_pid_stat("12 (x) R 1 2")
                .unwrap_err()
                .contains("utime")
        );
        assert!(parse_pid_stat("garbage").is_err());
    }

    #[test]
    fn nonvoluntary_switches_are_read_from_status() {
        let status = "Name:\tcalibrate\nState:\tR (running)\nvoluntary_ctxt_switches:\t150\n\
                      nonvoluntary_ctxt_switches:\t27\n";
        assert_eq!(parse_nonvoluntary(status).unwrap(), 27);
        assert!(parse_nonvoluntary("Name:\tx\n").is_err());
    }

    // The real /proc of the machine running the tests parses: this process appears, with a
    // plausible parent, and its threads' switch count can be read.
    #[test]
    fn the_real_proc_parses() {
        let p = LinuxProc::new();
        if !std::path::Path::new("/proc/stat").exists() {
            eprintln!("skipped: no /proc on this host");
            return;
        }
        p.steal_ticks().unwrap();
        let me = std::process::id();
        let all = p.processes().unwrap();
        assert!(all.iter().any(|x| x.pid == me), "own pid {me} not listed");
        p.involuntary_switches(me).unwrap();
        assert!(p.ticks_per_second() >= 1.0);
    }
}
