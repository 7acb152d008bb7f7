//! Starting a server for the calibration and always stopping it afterwards.
//!
//! The command line is run by `sh -c 'exec ...'`, so the shell's quoting works and the process
//! calibrate measures is the server itself. `{port}` is replaced by a free loopback port. The
//! server must answer the driver's ping within a bounded time; [`Spawned`] stops it (SIGTERM,
//! then SIGKILL) when dropped, so an error anywhere in the run still stops it. Its stdin is a
//! pipe calibrate holds open, so a server that stops at end of file on stdin (the project's
//! `storage_server serve`) runs until calibrate is done, and stops even if calibrate is killed.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::DriverFactory;

/// A server calibrate started.
#[derive(Debug)]
pub struct Spawned {
    /// Its process id.
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The command line as run (with the port).
    pub command: String,
    child: Option<Child>,
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
///
/// # Errors
/// When no socket can be bound.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Spawned {
    /// Starts `template` (with `{port}` replaced by a free port) and waits up to `ready` for it
    /// to answer the driver's ping on `127.0.0.1:port`.
    ///
    /// # Errors
    /// One line: the command did not start, exited (with its status and last stderr line), or
    /// did not answer in time.
    pub fn start(
        template: &str,
        factory: &dyn DriverFactory,
        ready: Duration,
    ) -> Result<Spawned, String> {
        if !template.contains("{port}") {
            return Err(format!(
                "--spawn {template:?}: the command must contain {{port}}, where calibrate puts \
                 the port the server is to listen on"
            ));
        }
        let port = free_port().map_err(|e| format!("cannot pick a free port: {e}"))?;
        let command = template.replace("{port}", &port.to_string());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the hook runs in the forked child before exec and only calls prctl, which is
        // async-signal-safe; it allocates nothing and touches no lock.
        unsafe {
            cmd.pre_exec(|| {
                // SAFETY: PR_SET_PDEATHSIG with a valid signal number has no memory effects: the
                // server gets SIGTERM if calibrate dies without stopping it (killed, not Ctrl-C,
                // which reaches the server through the terminal's process group anyway).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("--spawn {command:?}: cannot start sh: {e}"))?;
        let mut s = Spawned {
            pid: child.id(),
            addr,
            command,
            child: Some(child),
        };
        s.wait_ready(factory, ready)?;
        Ok(s)
    }

    fn wait_ready(&mut self, factory: &dyn DriverFactory, ready: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let err = self.stderr_tail();
                return Err(format!(
                    "--spawn {:?} exited with {status} before answering{}",
                    self.command,
                    if err.is_empty() {
                        String::new()
                    } else {
                        format!(": {err}")
                    }
                ));
            }
            let last = match factory.connect(self.addr, Duration::from_millis(500)) {
                Ok(mut d) => match d.ping() {
                    Ok(()) => return Ok(()),
                    Err(e) => format!("ping: {e}"),
                },
                Err(e) => e.to_string(),
            };
            if t0.elapsed() > ready {
                return Err(format!(
                    "--spawn {:?} (pid {}) did not answer a {} ping on {} within {:.0} s \
                     (last: {last})",
                    self.command,
                    self.pid,
                    factory.protocol(),
                    self.addr,
                    ready.as_secs_f64()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last non-empty line the process wrote to stderr (after it exited).
    fn stderr_tail(&mut self) -> String {
        let mut text = String::new();
        if let Some(e) = self.child.as_mut().and_then(|c| c.stderr.as_mut()) {
            let _ = e.take(64 << 10).read_to_string(&mut text);
        }
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .chars()
            .take(160)
            .collect()
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the server: SIGTERM, up to two seconds to exit, then SIGKILL; reaps it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None))
            && let Ok(pid) = libc::pid_t::try_from(child.id())
        {
            // SAFETY: `pid` is our own child, not yet reaped (try_wait said it runs), so the id
            // cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(2) {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop();
    }
}
