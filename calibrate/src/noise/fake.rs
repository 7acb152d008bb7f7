//! A fake clock and a fake `/proc` for the noise rules' tests.

use std::cell::{Cell, RefCell};
use std::io;
use std::time::Duration;

use super::{Clock, ProcSource, ProcStat};

/// A clock that moves only when told to.
#[derive(Default)]
pub(crate) struct FakeClock(Cell<Duration>);

impl FakeClock {
    pub(crate) fn advance(&self, d: Duration) {
        self.0.set(self.0.get() + d);
    }
}

impl Clock for FakeClock {
    fn elapsed(&self) -> Duration {
        self.0.get()
    }
}

/// A `/proc` whose counters the test moves (100 ticks per second).
#[derive(Default)]
pub(crate) struct FakeProc {
    pub(crate) steal: Cell<u64>,
    pub(crate) procs: RefCell<Vec<ProcStat>>,
    pub(crate) switches: Cell<u64>,
}

impl FakeProc {
    /// Adds `ticks` of CPU to process `pid` (created with parent 1 when absent).
    pub(crate) fn burn(&self, pid: u32, comm: &str, ticks: u64) {
        let mut v = self.procs.borrow_mut();
        match v.iter_mut().find(|p| p.pid == pid) {
            Some(p) => p.cpu_ticks += ticks,
            None => v.push(ProcStat {
                pid,
                ppid: 1,
                comm: comm.to_owned(),
                cpu_ticks: ticks,
                child_ticks: 0,
            }),
        }
    }

    /// Process `pid` exits and its parent reaps it.
    pub(crate) fn reap(&self, pid: u32) {
        let mut v = self.procs.borrow_mut();
        let Some(i) = v.iter().position(|p| p.pid == pid) else {
            return;
        };
        let gone = v.remove(i);
        if let Some(parent) = v.iter_mut().find(|p| p.pid == gone.ppid) {
            parent.child_ticks += gone.cpu_ticks + gone.child_ticks;
        }
    }
}

impl ProcSource for &FakeProc {
    fn steal_ticks(&self) -> io::Result<u64> {
        Ok(self.steal.get())
    }
    fn processes(&self) -> io::Result<Vec<ProcStat>> {
        Ok(self.procs.borrow().clone())
    }
    fn involuntary_switches(&self, _pid: u32) -> io::Result<u64> {
        Ok(self.switches.get())
    }
    fn ticks_per_second(&self) -> f64 {
        100.0
    }
}
