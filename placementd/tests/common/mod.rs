//! Starts the real `placementd` binary on a free loopback port and stops it when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use placementd::client::Client;

/// The repository's `fixtures/` and this crate's `fixtures/`.
pub(crate) fn fixtures() -> (PathBuf, PathBuf) {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    (here.join("../fixtures"), here.join("fixtures"))
}

/// A running service.
pub(crate) struct Server {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts it with the reference host, the bundled workloads and `extra` arguments.
    pub(crate) fn start(extra: &[&str]) -> Server {
        let (root, _) = fixtures();
        let mut child = Command::new(env!("CARGO_BIN_EXE_placementd"))
            .arg("--host")
            .arg(root.join("hosts/reference.ron"))
            .arg("--workloads")
            .arg(root.join("workloads"))
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("placementd starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("placementd prints its address");
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, addr }
    }

    /// A new keep-alive connection.
    pub(crate) fn client(&self) -> Client {
        Client::connect(self.addr).expect("connects")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
