//! The Redis server the scheme runs in: started on a free loopback port and stopped afterwards,
//! or an address and pid given by the operator; its CPU read from its own threads.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::resp::{Conn, Reply};
use crate::error::{PluginError, Result};

/// How long a started server may take to answer its first PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the scheme finds its server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerConfig {
    /// Start `binary` on a free loopback port (no persistence) and stop it afterwards.
    Spawn {
        /// The `redis-server` executable.
        binary: PathBuf,
    },
    /// A running server at `addr` whose process is `pid` (its CPU is read from
    /// `/proc/<pid>/task/*/schedstat`).
    Attach {
        /// The server's address.
        addr: SocketAddr,
        /// The server's process id.
        pid: u32,
    },
}

impl ServerConfig {
    /// `redis-server` from the first of `$PATH`, `/usr/bin`, `/usr/local/bin` that has it.
    pub fn spawn_default() -> Option<ServerConfig> {
        find_binary("redis-server").map(|binary| ServerConfig::Spawn { binary })
    }
}

/// The first `name` found on `$PATH` or in `/usr/bin`, `/usr/local/bin`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A server the scheme uses: its address and pid, and the child to stop when it started it.
pub struct Server {
    addr: SocketAddr,
    pid: u32,
    child: Option<Child>,
    version: String,
}

impl Server {
    /// Starts or attaches to the server of `config` and waits until it answers PING.
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the server cannot be started, does not answer in
    /// [`START_TIMEOUT`], or its pid cannot be read.
    pub fn open(config: &ServerConfig) -> Result<Self> {
        let (addr, pid, child) = match config {
            ServerConfig::Attach { addr, pid } => (*addr, *pid, None),
            ServerConfig::Spawn { binary } => {
                let port = free_port()?;
                let child = Command::new(binary)
                    .args(["--port", &port.to_string()])
                    .args(["--bind", "127.0.0.1"])
                    .args(["--save", ""])
                    .args(["--appendonly", "no"])
                    .args(["--protected-mode", "no"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| PluginError::Redis {
                        step: "start redis-server",
                        message: format!("{}: {e}", binary.display()),
                    })?;
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                (addr, child.id(), Some(child))
            }
        };
        let mut s = Server {
            addr,
            pid,
            child,
            version: String::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut conn = loop {
            let last = match Conn::connect(addr, Duration::from_secs(5)) {
                Ok(mut c) => match c.call(&[b"PING"]) {
                    Ok(Reply::Simple(_)) => break c,
                    Ok(other) => PluginError::Redis {
                        step: "PING",
                        message: format!("{addr} answered {other:?}"),
                    },
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            if let Some(c) = s.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(PluginError::Redis {
                    step: "start redis-server",
                    message: format!("it exited with {status} before answering"),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        cpu_ns(pid)?;
        if let Ok(Reply::Bulk(Some(info))) = conn.call(&[b"INFO", b"server"]) {
            let info = String::from_utf8_lossy(&info);
            s.version = info
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .unwrap_or("")
                .trim()
                .to_owned();
        }
        Ok(s)
    }

    /// A new connection to the server.
    ///
    /// # Errors
    /// [`PluginError::Redis`] when connecting fails.
    pub fn connect(&self) -> Result<Conn> {
        Conn::connect(self.addr, Duration::from_secs(30))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis_version` from `INFO server` (empty when not reported).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The server's CPU so far, ns (see [`cpu_ns`]).
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the server's threads cannot be read (it died).
    pub fn cpu_ns(&self) -> Result<u64> {
        cpu_ns(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill with a pid we spawned and have not reaped; no memory is touched.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| PluginError::Redis {
        step: "find a free port",
        message: e.to_string(),
    })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| PluginError::Redis {
            step: "find a free port",
            message: e.to_string(),
        })
}

/// CPU time of every thread of process `pid`, ns: the sum of the first field of
/// `/proc/<pid>/task/*/schedstat` (time on CPU, ns resolution).
///
/// # Errors
/// [`PluginError::Redis`] naming the pid when its tasks cannot be read.
pub fn cpu_ns(pid: u32) -> Result<u64> {
    let bad = |message: String| PluginError::Redis {
        step: "read server cpu",
        message,
    };
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).map_err(|e| bad(format!("{dir}: {e}")))?;
    let mut total = 0u64;
    for t in tasks.flatten() {
        let p = t.path().join("schedstat");
        // A thread may end between the listing and the read; it no longer runs.
        let Ok(s) = std::fs::read_to_string(&p) else {
            continue;
        };
        let ns: u64 = s
            .split_whitespace()
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad(format!("{}: unparsable {s:?}", p.display())))?;
        total += ns;
    }
    Ok(total)
}
