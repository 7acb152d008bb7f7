//! `storage_server serve` runs the key-value server standalone: it prints where it listens on its
//! first stdout line, serves GET, MULTIGET and INVOKE to any client, and stops cleanly on stdin
//! EOF or SIGTERM. Bad flags are one-line errors.
//!
//! These tests run the example binary that `cargo test -p examples` builds next to the test
//! binaries (`target/<profile>/examples/storage_server`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use examples::storage::kv::Store;
use examples::storage::{digest_record, kernel_checksum};

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/storage_server
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("examples").join("storage_server");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo test -p examples` (it builds the examples) or \
         `cargo build -p examples --example storage_server` first",
        bin.display()
    );
    bin
}

/// Starts `serve` with `args` and reads the address from its first stdout line.
fn serve(args: &[&str]) -> (Child, SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(binary())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first stdout line {line:?}"))
        .parse()
        .unwrap();
    (child, addr, out)
}

fn request(c: &mut TcpStream, frame: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(frame.len()).unwrap().to_le_bytes().to_vec();
    f.extend_from_slice(frame);
    c.write_all(&f).unwrap();
    let mut len = [0u8; 4];
    c.read_exact(&mut len).unwrap();
    let n = u32::from_le_bytes(len);
    assert!(n & 0x8000_0000 == 0, "error reply to {frame:?}");
    let mut body = vec![0u8; usize::try_from(n).unwrap()];
    c.read_exact(&mut body).unwrap();
    body
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the server did not stop within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_answers_a_real_client_and_stops_on_stdin_eof() {
    let (mut child, addr, mut out) = serve(&["--records", "500", "--record-bytes", "64"]);
    let store = Store::new(500, 64);
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut get = vec![1u8];
    get.extend_from_slice(&42u64.to_le_bytes());
    assert_eq!(request(&mut c, &get), store.get(42).unwrap());
    let mut multi = vec![2u8, 3, 0];
    for k in [1u64, 499, 500] {
        multi.extend_from_slice(&k.to_le_bytes());
    }
    // Key 500 is absent: it contributes nothing.
    let want: Vec<u8> = [1, 499]
        .iter()
        .flat_map(|&k| store.get(k).unwrap().to_vec())
        .collect();
    assert_eq!(request(&mut c, &multi), want);
    let digest = (10..18)
        .map(|k| store.get(k).unwrap())
        .fold(0, digest_record);
    for scheme in 0..3u8 {
        let mut inv = vec![3u8, scheme];
        inv.extend_from_slice(&10u64.to_le_bytes());
        inv.extend_from_slice(&8u32.to_le_bytes());
        inv.extend_from_slice(&3u32.to_le_bytes());
        let body = request(&mut c, &inv);
        assert_eq!(u64::from_le_bytes(body[..8].try_into().unwrap()), digest);
        assert_eq!(
            u64::from_le_bytes(body[8..16].try_into().unwrap()),
            kernel_checksum(3)
        );
    }
    drop(c);
    drop(child.stdin.take());
    let status = wait(&mut child);
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("served 5 requests"), "{rest:?}");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let (mut child, addr, _out) = serve(&["--records", "100"]);
    let _idle = TcpStream::connect(addr).unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid, with a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait(&mut child);
    assert!(status.success(), "{status}");
}

#[test]
fn serve_refuses_bad_flags_with_one_line() {
    for args in [
        &["--records", "0"][..],
        &["--record-bytes", "100000"],
        &["--records", "4294967296", "--record-bytes", "4096"],
        &["--records", "ten"],
        &["--bogus"],
    ] {
        let out = Command::new(binary())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "{args:?}: {err:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
