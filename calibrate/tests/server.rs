//! `calibrate server` against real servers on loopback: redis-server and memcached started by
//! the tests (skipped, with the reason printed, where a binary is absent), through the library
//! and through the binary; and its error paths: a dead pid, nothing listening, a server killed
//! mid-run, a server that speaks garbage. Every test is bounded in time.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use calibrate::server::load::ClientModel;
use calibrate::server::{Attach, Options, Protocol, ServerOutcome, calibrate_server};
use costmodel::{HostProfile, SanityFlag, TransportId};

const REDIS: &str = "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no";
const MEMCACHED: &str = "memcached -p {port} -l 127.0.0.1 -U 0 -t 2 -u $(id -un)";

/// True when `bin` is on the PATH; prints why the test is skipped otherwise.
fn have(bin: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: {bin} is not installed (CI installs it via .ci/run)");
    }
    ok
}

/// Held by every test that measures a real server, so that two such tests do not share the
/// host's CPUs: calibrations side by side (up to three at once on a 2-vCPU VM) measure each
/// other's load as the server's. Taken before [`bounded`] starts its clock.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERVERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERVERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` on a thread and fails the test if it takes longer than `secs`.
fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("the test did not finish within {secs} s"))
}

/// Runs the binary with `args`, killing it after `secs`; returns (success, stdout, stderr).
fn calibrate(args: &[&str], secs: u64) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_calibrate"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start calibrate");
    let t0 = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("calibrate {args:?} ran over {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calibrate-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// A server the test started (not through calibrate), stopped when dropped.
struct Running {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Running {
    fn start(template: &str) -> Running {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec {}",
                template.replace("{port}", &port.to_string())
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let t0 = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Running { child, addr }
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many times a test calibrates before it takes a run its own flags call unsteady, as an
/// operator reruns one on a noisy host.
const TRIES: usize = 3;

/// The factor [`check_entry`] allows between the fitted and the measured CPU of a get.
const PLAUSIBLE: f64 = 3.0;

/// Why the run's own output says its entry `id`'s terms cannot be held to its measured figures:
/// its sweep was graded unusable, or its terms miss its own measured get (both flags in the
/// profile), or no one machine state held most of its samples (the fit's note in the run's
/// output: the terms then describe a minority of the samples, the measured figures all of
/// them). `None` when the run says nothing of the kind.
fn unsteady(flags: &[SanityFlag], id: &str, run: &str) -> Option<String> {
    let terms = format!("transports.{id}.server_terms.");
    let flagged = flags
        .iter()
        .find(|f| match f.field.strip_prefix(&terms) {
            Some("noise") => f.note.contains("unusable"),
            Some("reference") => true,
            _ => false,
        })
        .map(|f| format!("{} = {:.3}: {}", f.field, f.value, f.note));
    let minority = || {
        run.lines()
            .find(|l| l.contains("no one machine state held most samples"))
            .map(|l| l.trim().to_owned())
    };
    flagged.or_else(minority)
}

/// Calibrates with `once` (which returns the profile it wrote, the entry's id and the run's
/// output) until a run's flags do not call it unsteady, at most [`TRIES`] times; returns the
/// last run.
fn until_steady(mut once: impl FnMut() -> (PathBuf, String, String)) -> (PathBuf, String, String) {
    for attempt in 1.. {
        let run = once();
        let p = HostProfile::load(&run.0).expect("the written profile loads and validates");
        match unsteady(&p.flags, &run.1, &run.2) {
            Some(why) if attempt < TRIES => {
                eprintln!("try {attempt} of {TRIES} says it is unsteady, again: {why}");
            }
            _ => return run,
        }
    }
    unreachable!()
}

/// The entry is complete, validated, and its terms finite and non-negative. Unless the run's own
/// flags call it unsteady ([`unsteady`]: then the test prints why and checks no more), the terms
/// are also plausible: the fitted CPU of an unpipelined get (its client woken by the reply) lies
/// within [`PLAUSIBLE`] of the measured one, and between 100 ns and 10 ms, from at least
/// five points. The quick plan's busy-client points separate the client wake-ups, so
/// `per_peer_wakeup` is written unless the fit was held to a machine state in which no busy
/// point was measured (then `per_wakeup` carries it).
fn check_entry(profile_path: &Path, id: &str, run: &str) -> costmodel::ServerRequestTerms {
    let p = HostProfile::load(profile_path).expect("the written profile loads and validates");
    assert_eq!(p.format_version, costmodel::HOST_FORMAT_VERSION);
    let t = p
        .transports
        .get(&TransportId::new(id).unwrap())
        .unwrap_or_else(|| panic!("no transport {id} in {:?}", p.transports.keys()));
    let terms = t.server_terms.clone().expect("server_terms written");
    let peer = terms.per_peer_wakeup.as_ref().map_or(0.0, |v| v.value());
    for (name, v) in [
        ("per_peer_wakeup", peer),
        ("processing", terms.processing.value()),
        ("per_syscall", terms.per_syscall.value()),
        ("per_wakeup", terms.per_wakeup.value()),
        ("per_key", terms.per_key.value()),
        ("per_byte", terms.per_byte.value()),
    ] {
        assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
    }
    assert!(terms.fit_r2.is_some_and(f64::is_finite));
    if let Some(why) = unsteady(&p.flags, id, run) {
        eprintln!(
            "plausibility not checked: {TRIES} tries, each unsteady by its own flags; last: {why}"
        );
        return terms;
    }
    let unpipelined = terms.processing.value()
        + terms.per_syscall.value()
        + terms.per_wakeup.value()
        + peer
        + terms.per_key.value()
        + 64.0 * terms.per_byte.value();
    let measured = t.unloaded.server.per_request.value();
    assert!(
        (100.0..10e6).contains(&unpipelined),
        "fitted unpipelined get {unpipelined} ns"
    );
    assert!(
        unpipelined < PLAUSIBLE * measured && measured < PLAUSIBLE * unpipelined,
        "fitted {unpipelined} ns vs measured {measured} ns\n{run}"
    );
    assert!(terms.points >= 5, "{} points fitted\n{run}", terms.points);
    assert!(t.saturated.server.per_request.value() < measured);
    terms
}

fn quick(protocol: Protocol, attach: Attach) -> calibrate::Result<ServerOutcome> {
    calibrate_server(&protocol, &attach, &Options::quick(), &mut |_| {})
}

#[test]
fn redis_through_the_library() {
    if !have("redis-server") {
        return;
    }
    let _one = one_at_a_time();
    bounded(240, || {
        let mut pids = Vec::new();
        let (out, id, s) = until_steady(|| {
            let o = quick(Protocol::Resp, Attach::Spawn(REDIS.to_owned())).unwrap();
            assert!(o.id.starts_with("resp@redis-"), "{}", o.id);
            assert!(o.stopped().is_none(), "{:?}", o.stopped());
            let s = calibrate::server::summary(&o);
            assert!(s.contains("per_wakeup") && s.contains("R2"), "{s}");
            // Every sample was a block under the noise monitor, graded in the summary.
            let samples: usize = o.sweep.points.iter().map(|p| p.samples.len()).sum();
            assert_eq!(o.sweep.noise.blocks as usize, samples);
            assert!(s.contains("noise grade: "), "{s}");
            let mut p = calibrate::profile::reference().unwrap();
            calibrate::server::apply_to_profile(&mut p, &o).unwrap();
            let out = tmp("redis-lib.ron");
            calibrate::server::write_atomically(&p, &out, false).unwrap();
            // Refused without force, done with it.
            assert!(calibrate::server::write_atomically(&p, &out, false).is_err());
            calibrate::server::write_atomically(&p, &out, true).unwrap();
            pids.push(o.pid);
            (out, o.id, s)
        });
        check_entry(&out, &id, &s);
        // The spawned servers were stopped.
        for pid in pids {
            assert!(!Path::new(&format!("/proc/{pid}")).exists() || zombie_or_gone(pid));
        }
    });
}

#[test]
fn one_thread_drives_every_connection_of_a_point() {
    if !have("redis-server") {
        return;
    }
    let _one = one_at_a_time();
    bounded(120, || {
        let opts = Options {
            clients: ClientModel::OneThread,
            ..Options::quick()
        };
        let o = calibrate_server(
            &Protocol::Resp,
            &Attach::Spawn(REDIS.to_owned()),
            &opts,
            &mut |_| {},
        )
        .unwrap();
        assert!(o.stopped().is_none(), "{:?}", o.stopped());
        assert!(
            o.placement.contains("one-thread client threads"),
            "{}",
            o.placement
        );
        assert!(o.sweep.points.iter().any(|p| p.spec.clients > 1));
        // One thread sends `depth` requests on every connection, then reads them all: whole
        // rounds over the connections only.
        for p in &o.sweep.points {
            let round = u64::from(p.spec.clients * p.spec.depth);
            for s in &p.samples {
                assert!(s.requests > 0 && s.requests % round == 0, "{p:?}");
            }
        }
        assert!(o.fit.is_ok(), "{:?}", o.fit);
    });
}

fn zombie_or_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z"))
        .unwrap_or(true)
}

#[test]
fn memcached_through_the_binary() {
    if !have("memcached") {
        return;
    }
    let _one = one_at_a_time();
    bounded(240, || {
        let (out, id, stdout) = until_steady(|| {
            let out = tmp("memcached.ron");
            let (ok, stdout, stderr) = calibrate(
                &[
                    "server",
                    "--quick",
                    // The test checks the entry, not the host's quiet.
                    "--accept-noise",
                    "--driver",
                    "memcached",
                    "--spawn",
                    MEMCACHED,
                    "--out",
                    out.to_str().unwrap(),
                ],
                70,
            );
            assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
            assert!(stdout.contains("memcached@1."), "{stdout}");
            let id = stdout
                .split_whitespace()
                .find(|w| w.starts_with("memcached@"))
                .unwrap()
                .trim_end_matches([',', ')'])
                .to_owned();
            (out, id, stdout)
        });
        check_entry(&out, &id, &stdout);
    });
}

#[test]
fn a_running_redis_is_added_to_an_existing_profile() {
    if !have("redis-server") {
        return;
    }
    let _one = one_at_a_time();
    bounded(240, || {
        let server = Running::start(REDIS);
        let base = tmp("base.ron");
        std::fs::write(&base, calibrate::profile::REFERENCE_RON).unwrap();
        let out = tmp("added.ron");
        let addr = server.addr.to_string();
        let pid = server.pid().to_string();
        let args = [
            "server",
            "--quick",
            "--accept-noise",
            "--addr",
            &addr,
            "--pid",
            &pid,
            "--profile",
            base.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        let (_, id, stdout) = until_steady(|| {
            let _ = std::fs::remove_file(&out);
            let (ok, stdout, stderr) = calibrate(&args, 70);
            assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
            let p = HostProfile::load(&out).unwrap();
            for kept in ["tcp", "udp", "unix", "shm"] {
                assert!(p.transports.contains_key(&TransportId::new(kept).unwrap()));
            }
            let id = p
                .transports
                .keys()
                .find(|k| k.as_str().starts_with("resp@"))
                .expect("a resp entry")
                .to_string();
            (out.clone(), id, stdout)
        });
        check_entry(&out, &id, &stdout);
        // The keys calibrate stored in a server it did not start are removed.
        let mut d = calibrate::server::DriverFactory::connect(
            &Protocol::Resp,
            server.addr,
            Duration::from_secs(2),
        )
        .unwrap();
        for k in [1_000_000, 2_000_255, 3_000_100] {
            assert_eq!(d.get(k).unwrap(), 0, "key {k} left behind");
        }
        // The output exists now: refused without --force, before measuring.
        let (ok, _, stderr) = calibrate(&args, 30);
        assert!(!ok);
        assert_one_line(&stderr, &["--force"]);
    });
}

fn assert_one_line(stderr: &str, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
}

#[test]
fn a_dead_pid_is_one_line_naming_it() {
    bounded(30, || {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let out = tmp("dead.ron");
        let (ok, _, stderr) = calibrate(
            &[
                "server",
                "--addr",
                &addr,
                "--pid",
                &pid.to_string(),
                "--out",
                out.to_str().unwrap(),
            ],
            20,
        );
        assert!(!ok);
        assert_one_line(&stderr, &[&pid.to_string(), "no such process"]);
        assert!(!out.exists());
    });
}

#[test]
fn nothing_listening_is_one_line_naming_the_address() {
    bounded(30, || {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let r = quick(
            Protocol::Resp,
            Attach::Running {
                addr,
                pid: std::process::id(),
            },
        );
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains(&addr.to_string()) && e.contains("connect"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        // A spawned command that exits at once says so, with its status.
        let e = quick(Protocol::Resp, Attach::Spawn("false {port}".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("exited"), "{e}");
    });
}

#[test]
fn a_garbage_speaking_server_is_a_protocol_error() {
    bounded(30, || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = BufReader::new(c.try_clone().unwrap());
                    let mut w = c;
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap_or(0) > 0 {
                        let _ = w.write_all(b"HELLO THERE\r\n");
                        line.clear();
                    }
                });
            }
        });
        for protocol in [Protocol::Resp, Protocol::Memcached] {
            let e = quick(
                protocol,
                Attach::Running {
                    addr,
                    pid: std::process::id(),
                },
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("protocol error") && e.contains("HELLO THERE"),
                "{e}"
            );
            assert!(e.contains(&addr.to_string()) && !e.contains('\n'), "{e}");
        }
    });
}

#[test]
fn a_server_killed_mid_run_keeps_what_was_measured() {
    if !have("redis-server") {
        return;
    }
    let _one = one_at_a_time();
    bounded(60, || {
        let mut server = Running::start(REDIS);
        let attach = Attach::Running {
            addr: server.addr,
            pid: server.pid(),
        };
        let opts = Options {
            rounds: 40,
            ..Options::quick()
        };
        let (tx, rx) = mpsc::channel();
        let killer = std::thread::spawn(move || {
            // Kill it once the sweep is under way (the first point was measured).
            let _ = rx.recv_timeout(Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(300));
            let _ = server.child.kill();
            let _ = server.child.wait();
        });
        let mut told = false;
        let o = calibrate_server(&Protocol::Resp, &attach, &opts, &mut |m: &str| {
            if !told && m.starts_with("round 1/") && m.contains("point 2/") {
                told = true;
                let _ = tx.send(());
            }
        })
        .unwrap();
        killer.join().unwrap();
        let why = o.stopped().expect("the sweep stopped early");
        assert!(
            why.contains(&o.pid.to_string()) && !why.contains('\n'),
            "{why}"
        );
        let kept: usize = o.sweep.points.iter().map(|p| p.samples.len()).sum();
        assert!(kept >= 1, "the samples before the kill are kept");
        assert!(o.flags.iter().any(|f| f.note.contains("partial")));
        let s = calibrate::server::summary(&o);
        assert!(s.contains("PARTIAL"), "{s}");
    });
}

#[test]
fn a_pid_that_is_not_the_server_is_caught() {
    if !have("redis-server") {
        return;
    }
    let _one = one_at_a_time();
    bounded(60, || {
        let server = Running::start(REDIS);
        // A process that sleeps through the sweep: it uses no CPU while redis answers.
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let o = quick(
            Protocol::Resp,
            Attach::Running {
                addr: server.addr,
                pid: sleeper.id(),
            },
        )
        .unwrap();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        let why = o.stopped().expect("stopped at the first point");
        assert!(
            why.contains("used no CPU") && why.contains(&sleeper.id().to_string()),
            "{why}"
        );
        assert!(o.transport.is_none());
    });
}

/// The project's KV server, when `cargo build -p examples --example storage_server` (or
/// `cargo test -p examples`) has built it next to this test; skipped otherwise. calibrate does
/// not depend on examples, so the binary is found by path.
#[test]
fn the_kv_storage_server_when_built() {
    let exe = std::env::current_exe().unwrap();
    let Some(bin) = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples").join("storage_server"))
        .filter(|b| b.exists())
    else {
        eprintln!(
            "skipped: the storage_server example is not built (cargo build -p examples --example \
             storage_server)"
        );
        return;
    };
    let _one = one_at_a_time();
    bounded(120, move || {
        let cmd = format!(
            "{} serve --addr 127.0.0.1:{{port}} --records 4096 --record-bytes 512",
            bin.display()
        );
        let o = match quick(Protocol::Kv, Attach::Spawn(cmd)) {
            Ok(o) => o,
            Err(e) if e.to_string().contains("usage") => {
                eprintln!("skipped: this storage_server has no serve mode: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(o.id, "kv@storage-server");
        assert!(o.stopped().is_none(), "{:?}", o.stopped());
        assert!(o.sweep.points.iter().all(|p| p.spec.value_bytes == 512));
        let f = o.fit.as_ref().unwrap();
        // One record size: bytes are proportional to keys, so per_byte is not identified.
        assert!(!f.term("per_byte").unwrap().identified);
        let mut p = calibrate::profile::reference().unwrap();
        calibrate::server::apply_to_profile(&mut p, &o).unwrap();
        let out = tmp("kv.ron");
        calibrate::server::write_atomically(&p, &out, false).unwrap();
        HostProfile::load(&out).unwrap();
    });
}

#[test]
fn a_silent_server_times_out_in_bounded_time() {
    bounded(30, || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Accepts and never answers.
        std::thread::spawn(move || {
            let held: Vec<_> = l.incoming().take(4).flatten().collect();
            std::thread::sleep(Duration::from_secs(20));
            drop(held);
        });
        let t0 = Instant::now();
        let e = quick(
            Protocol::Resp,
            Attach::Running {
                addr,
                pid: std::process::id(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ping") && e.contains("no reply"), "{e}");
        assert!(e.contains(&addr.to_string()), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    });
}
