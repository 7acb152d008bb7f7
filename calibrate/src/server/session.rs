//! One calibration of one server: attach (or spawn), load keys, watch it idle, sweep, fit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use costmodel::{SanityFlag, TransportCosts};

use super::procfs::ServerProcess;
use super::spawn::Spawned;
use super::sweep::{self, KeySet, Options, Sweep, Target};
use super::terms::{self, TermsFit};
use super::{DriverError, DriverFactory, ServerDriver};
use crate::cpu;

/// Which server to calibrate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A server already running: where it listens and its process id.
    Running {
        /// Its address.
        addr: SocketAddr,
        /// Its process id (its CPU is read from `/proc/<pid>`).
        pid: u32,
    },
    /// A command line to start (`{port}` is replaced by a free loopback port); the server is
    /// stopped afterwards, also on error.
    Spawn(String),
}

/// Value sizes stored and swept, bytes.
pub const VALUE_SIZES: [usize; 3] = [64, 1024, 8192];

/// What a calibration found.
#[derive(Debug)]
pub struct ServerOutcome {
    /// The transport id the entry is written under (`resp@redis-7.0`).
    pub id: String,
    /// What the server is (`redis 7.0.15 over resp`).
    pub server: String,
    /// Where it listened.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
    /// The command line calibrate started it with, if it did.
    pub spawned: Option<String>,
    /// Where the client threads ran and the server ran.
    pub placement: String,
    /// True when clients and server were on different cores.
    pub cross_core: bool,
    /// The sweep (all points, with what was measured even if it stopped early).
    pub sweep: Sweep,
    /// The fit of the request terms (or why there is none).
    pub fit: Result<TermsFit, String>,
    /// The transport entry built from the sweep (none when too little was measured).
    pub transport: Option<TransportCosts>,
    /// Warnings about the entry, stored with it in the profile.
    pub flags: Vec<SanityFlag>,
    /// Points planned.
    pub planned: usize,
    /// Why the keys calibrate stored in a server it did not start could not all be removed.
    pub cleanup: Option<String>,
    /// Whole run, including loading keys.
    pub elapsed: Duration,
}

impl ServerOutcome {
    /// The error that stopped the sweep early, if any: the entry is then partial.
    pub fn stopped(&self) -> Option<&str> {
        self.sweep.stopped.as_deref()
    }
}

fn fail(target: &str, message: impl Into<String>) -> crate::CalibrateError {
    crate::CalibrateError::Transport {
        transport: target.to_owned(),
        message: message.into(),
    }
}

/// `name`, lowercased, with characters outside `[a-z0-9_.-]` dropped.
fn id_part(s: &str) -> String {
    s.to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .collect()
}

/// The transport id for a server: `resp@redis-7.0`, `memcached@1.6`, `kv@storage-server`
/// (version cut to major.minor; shortened to fit the 23-byte id limit).
pub fn transport_id(protocol: &str, name: &str, version: Option<&str>) -> String {
    let p = id_part(protocol);
    let n = id_part(name);
    let v = version.map(|v| id_part(&v.split('.').take(2).collect::<Vec<_>>().join(".")));
    let mut candidates = Vec::new();
    match (&v, n == p || n.is_empty()) {
        (Some(v), true) => candidates.push(format!("{p}@{v}")),
        (Some(v), false) => {
            candidates.push(format!("{p}@{n}-{v}"));
            candidates.push(format!("{p}@{v}"));
        }
        (None, false) => candidates.push(format!("{p}@{n}")),
        (None, true) => {}
    }
    candidates.push(p.clone());
    candidates
        .into_iter()
        .find(|c| costmodel::TransportId::new(c).is_ok())
        .unwrap_or(p)
}

fn value(key: u64, n: usize) -> Vec<u8> {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    (0..n as u64)
        .map(|i| letters[usize::from(u8::try_from(key.wrapping_add(i) % 26).unwrap_or(0))])
        .collect()
}

/// Stores `count` keys of each size, or finds the fixed table a server without a store
/// request holds.
fn load_keys(d: &mut dyn ServerDriver, count: u64, target: &str) -> crate::Result<Vec<KeySet>> {
    let mut sets = Vec::new();
    for (i, &size) in VALUE_SIZES.iter().enumerate() {
        let first = (i as u64 + 1) * 1_000_000;
        for k in first..first + count {
            match d.set(k, &value(k, size)) {
                Ok(()) => {}
                Err(DriverError::Unsupported(_)) if k == first && i == 0 => {
                    return fixed_table(d, count, target);
                }
                Err(e) => return Err(fail(target, format!("storing key {k} ({size} B): {e}"))),
            }
        }
        sets.push(KeySet {
            value_bytes: size,
            first,
            count,
        });
    }
    Ok(sets)
}

fn fixed_table(d: &mut dyn ServerDriver, count: u64, target: &str) -> crate::Result<Vec<KeySet>> {
    let size = d
        .get(0)
        .map_err(|e| fail(target, format!("reading key 0 of the server's table: {e}")))?;
    if size == 0 {
        return Err(fail(
            target,
            "the server cannot store keys and holds no record at key 0",
        ));
    }
    let mut n = count.max(1);
    while n > 1 {
        match d.get(n - 1) {
            Ok(s) if s == size => break,
            Ok(_) => n /= 2,
            Err(e) => return Err(fail(target, format!("probing key {}: {e}", n - 1))),
        }
    }
    Ok(vec![KeySet {
        value_bytes: size,
        first: 0,
        count: n,
    }])
}

/// Deletes the keys calibrate stored; a driver without delete leaves them (and says so).
fn remove_keys(
    factory: &dyn DriverFactory,
    addr: SocketAddr,
    opts: &Options,
    keys: &[KeySet],
) -> Result<(), String> {
    let mut d = factory
        .connect(addr, opts.timeout)
        .map_err(|e| format!("connect to remove the keys: {e}"))?;
    for set in keys {
        for k in set.first..set.first + set.count {
            d.delete(k).map_err(|e| {
                format!(
                    "the keys calibrate stored (calibrate:{}..) were not all removed: {e}",
                    set.first
                )
            })?;
        }
    }
    Ok(())
}

/// Calibrates one server: attaches to it (or starts it), stores its keys, watches it idle,
/// sweeps the plan in interleaved rounds and fits the request terms. `progress` hears what is
/// being measured.
///
/// An error before measuring (pid unreadable, no answer, protocol error) is returned as one
/// line naming the address, pid and what failed. An error during the sweep (the server died, a
/// reply timed out) stops the sweep but is not returned as an error: the outcome keeps every
/// sample taken, says why it stopped ([`ServerOutcome::stopped`]), and its entry is marked
/// partial.
///
/// # Errors
/// [`crate::CalibrateError::Transport`] naming the server, or a bad option.
pub fn calibrate_server(
    factory: &dyn DriverFactory,
    attach: &Attach,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> crate::Result<ServerOutcome> {
    calibrate_server_with(factory, attach, opts, progress, &mut |_| {})
}

/// [`calibrate_server`], calling `between_rounds(r)` before the sweep's round `r` (from 1:
/// every round but the first), where a caller measures something else in the same period: the
/// storage example's `kv-fidelity` runs its sweep's rounds between the calibration's, so that
/// the host's drift reaches the prediction and the measurement alike.
///
/// # Errors
/// As [`calibrate_server`].
pub fn calibrate_server_with(
    factory: &dyn DriverFactory,
    attach: &Attach,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
    between_rounds: &mut dyn FnMut(u32),
) -> crate::Result<ServerOutcome> {
    let t0 = Instant::now();
    let spawned = match attach {
        Attach::Spawn(cmd) => Some(
            Spawned::start(cmd, factory, Duration::from_secs(10))
                .map_err(|e| fail(&format!("{} server", factory.protocol()), e))?,
        ),
        Attach::Running { .. } => None,
    };
    let (addr, pid) = match (attach, &spawned) {
        (_, Some(s)) => (s.addr, s.pid),
        (Attach::Running { addr, pid }, None) => (*addr, *pid),
        (Attach::Spawn(_), None) => unreachable!("spawned above"),
    };
    let target = format!("{} server at {addr} (pid {pid})", factory.protocol());
    let process = ServerProcess::open(pid).map_err(|e| fail(&target, e))?;
    let mut control = factory
        .connect(addr, opts.timeout)
        .map_err(|e| fail(&target, format!("connect: {e}")))?;
    control
        .ping()
        .map_err(|e| fail(&target, format!("ping: {e}")))?;
    let name = match control.name() {
        Ok(n) => n,
        Err(DriverError::Unsupported(_)) => factory.protocol().to_owned(),
        Err(e) => return Err(fail(&target, format!("asking its name: {e}"))),
    };
    let version = match control.version() {
        Ok(v) => Some(v),
        Err(DriverError::Unsupported(_)) => None,
        Err(e) => return Err(fail(&target, format!("asking its version: {e}"))),
    };
    let id = transport_id(factory.protocol(), &name, version.as_deref());
    let server = format!(
        "{name}{} over {}",
        version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        factory.protocol()
    );
    // Placement: a server we started gets the last CPU, the clients the others.
    let ours = cpu::allowed_cpus();
    let mut server_cpus = process.allowed_cpus().unwrap_or_else(|| ours.clone());
    if spawned.is_some() && ours.len() >= 2 {
        let last = ours[ours.len() - 1];
        if process.pin_all(last).is_ok() {
            server_cpus = vec![last];
        }
    }
    let client_cpus: Vec<usize> = ours
        .iter()
        .copied()
        .filter(|c| !server_cpus.contains(c))
        .collect();
    let cross_core = !client_cpus.is_empty();
    let placement = if cross_core {
        format!(
            "server on cpus {server_cpus:?}, clients pinned to cpus {client_cpus:?} ({} \
             client threads)",
            opts.clients.as_str()
        )
    } else {
        format!(
            "server may run on cpus {server_cpus:?}, clients not pinned (no cpu left apart \
             from the server's; {} client threads)",
            opts.clients.as_str()
        )
    };
    progress(&format!("storing keys in {server}"));
    let keys = load_keys(control.as_mut(), opts.keys_per_size, &target)?;
    drop(control);
    progress("watching the idle server");
    let idle = sweep::idle(&process, opts.idle).map_err(|e| fail(&target, e.to_string()))?;
    let sizes: Vec<usize> = keys.iter().map(|k| k.value_bytes).collect();
    let specs = sweep::plan(opts, &sizes);
    let t = Target {
        factory,
        addr,
        process,
        keys,
        client_cpus,
    };
    let planned = specs.len();
    let sweep = sweep::run(
        &t,
        &specs,
        opts,
        idle,
        |round, i, spec| {
            progress(&format!(
                "round {}/{} point {}/{}: {spec}",
                round + 1,
                opts.rounds,
                i + 1,
                planned
            ));
        },
        between_rounds,
    );
    // Remove the keys from a server calibrate did not start (one it started just stops).
    let mut cleanup = None;
    if spawned.is_none() && t.keys.iter().all(|k| k.first > 0) {
        progress("removing the keys calibrate stored");
        cleanup = Some(remove_keys(factory, addr, opts, &t.keys));
    }
    let fit = terms::fit(&sweep.points, &sweep.idle);
    let mut out = ServerOutcome {
        id,
        server,
        addr,
        pid,
        spawned: spawned.as_ref().map(|s| s.command.clone()),
        placement,
        cross_core,
        sweep,
        fit,
        transport: None,
        flags: Vec::new(),
        planned,
        cleanup: None,
        elapsed: Duration::ZERO,
    };
    if let Some(Err(e)) = cleanup {
        out.cleanup = Some(e);
    }
    let (transport, flags) = super::output::transport(&out);
    out.transport = transport;
    out.flags = flags;
    drop(spawned);
    out.elapsed = t0.elapsed();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_named_after_the_server_and_fit_the_limit() {
        assert_eq!(
            transport_id("resp", "redis", Some("7.0.15")),
            "resp@redis-7.0"
        );
        assert_eq!(
            transport_id("memcached", "memcached", Some("1.6.18")),
            "memcached@1.6"
        );
        assert_eq!(
            transport_id("kv", "storage-server", None),
            "kv@storage-server"
        );
        assert_eq!(
            transport_id("resp", "a-very-long-server-name", Some("7.2.4")),
            "resp@7.2"
        );
        assert_eq!(transport_id("kv", "kv", None), "kv");
    }
}
