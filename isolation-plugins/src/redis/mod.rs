//! `redis`: tenant code as Redis Functions (Lua 5.1) inside a live Redis server, the in-storage
//! runtime a Redis operator already has.
//!
//! The scheme talks RESP over TCP to a `redis-server` it starts itself on a free loopback port
//! (`--save '' --appendonly no`, stopped when the probe is dropped) or to one the operator names
//! ([`ServerConfig::Attach`]). It loads [`LIBRARY`] with `FUNCTION LOAD` and calls it with
//! `FCALL`:
//!
//! - warm invoke: `FCALL iso_nop 0`;
//! - cold start: `FUNCTION LOAD` of a one-function library ([`COLD_LIBRARY`]), torn down by
//!   `FUNCTION DELETE`;
//! - record access: `FCALL iso_read k key...`, each key read with `redis.call('GET')`, at two
//!   record sizes ([`RECORD_SIZES`]);
//! - compute: the kernels of [`crate::kernels`] in Lua, one function per class.
//!
//! The [`IsolationProbe`] operations do this work for real (the conformance kit and the
//! harness can drive them), but a harness's clock on this side would time the client and the
//! network too. The scheme's figures come from [`measure`], which reads the **server's** CPU
//! from `/proc/<pid>/task/*/schedstat` around blocks of calls and subtracts the CPU of an
//! equivalent plain request (PING, or `FCALL iso_nop 0`).
//!
//! Where no `redis-server` is found the scheme is unsupported with that reason, and keeps its
//! cited defaults: Redis's documentation gives no per-call figures, so they are orders of
//! magnitude for an interpreter \[M\].

mod measure;
mod resp;
mod server;

use std::sync::{Arc, Mutex};

use costmodel::{
    Bytes, ComputeClass, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, SchemeId,
    SchemeKind, Support,
};

pub use measure::{Figure, MeasurePlan, RedisMeasurement, measure};
pub use resp::{Conn, Reply};
pub use server::{START_TIMEOUT, Server, ServerConfig, cpu_ns, find_binary};

use crate::common::Cited;
use crate::error::{PluginError, Result};
use crate::kernels::{self, Checked};

/// Scheme id of [`Redis`].
pub const ID: &str = "redis";

/// The probe library (Lua, `#!lua name=isoprobe`).
pub const LIBRARY: &str = include_str!("library.lua");

/// The library a cold start loads: one empty function.
pub const COLD_LIBRARY: &str =
    "#!lua name=isocold\nredis.register_function('iso_cold', function(keys, args) return 0 end)\n";

/// Record sizes the probe stores and reads: 64 B and 8 KiB.
pub const RECORD_SIZES: [usize; 2] = [64, 8192];

/// Keys stored per record size.
pub const KEYS_PER_SIZE: u64 = 4096;

/// Keys one `local_access` FCALL reads.
pub const KEYS_PER_CALL: u64 = 16;

/// The extra operations reading records of each of [`RECORD_SIZES`].
const SIZED_OPS: [&str; 2] = ["local_access.bytes=64", "local_access.bytes=8192"];

/// The key of record `i` (mod [`KEYS_PER_SIZE`]) of `size` bytes.
pub fn key_name(size: usize, i: u64) -> Vec<u8> {
    format!("iso:{size}:{}", i % KEYS_PER_SIZE).into_bytes()
}

/// The library function that runs `class`'s kernel.
pub fn class_function(class: ComputeClass) -> &'static str {
    match class {
        ComputeClass::IntMul => "iso_fnv",
        ComputeClass::Arith => "iso_arith",
        ComputeClass::Memory => "iso_memory",
    }
}

/// The `redis` scheme.
#[derive(Clone, Debug)]
pub struct Redis {
    config: Option<ServerConfig>,
}

impl Default for Redis {
    fn default() -> Self {
        Redis::new()
    }
}

impl Redis {
    /// The scheme over a `redis-server` it starts itself, found on `$PATH`, `/usr/bin` or
    /// `/usr/local/bin` (unsupported when there is none).
    pub fn new() -> Self {
        Redis {
            config: ServerConfig::spawn_default(),
        }
    }

    /// The scheme over the server of `config`.
    pub fn with_config(config: ServerConfig) -> Self {
        Redis {
            config: Some(config),
        }
    }

    /// Starts (or attaches to) the server and loads the probe library and records.
    ///
    /// # Errors
    /// [`PluginError::Unsupported`] without a server; [`PluginError::Redis`] when it fails.
    pub fn open_probe(&self) -> Result<RedisProbe> {
        let Some(config) = &self.config else {
            return Err(PluginError::Unsupported {
                scheme: ID,
                reason: NO_SERVER.into(),
            });
        };
        RedisProbe::new(config, self.defaults())
    }
}

const NO_SERVER: &str =
    "no redis-server on $PATH, /usr/bin or /usr/local/bin, and no server address configured";

impl IsolationScheme for Redis {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited orders of magnitude \[M\]: Redis documents no per-call figures.
    fn defaults(&self) -> IsolationCosts {
        let mut c = Cited {
            description: "Redis Functions (Lua 5.1 interpreter) inside a Redis server",
            warm_invoke: (
                2_000.0,
                500.0,
                10_000.0,
                "FCALL enters the embedded Lua 5.1 interpreter (redis.io, Redis Functions): \
                 a few us per call, order of magnitude [M]",
            ),
            cold_start: (
                100_000.0,
                10_000.0,
                1_000_000.0,
                "FUNCTION LOAD compiles the library's Lua source: 10s-100s of us [M]",
            ),
            local_access: (
                1_000.0,
                200.0,
                5_000.0,
                "redis.call('GET') from Lua: a command dispatch plus a copy into a Lua string, \
                 about 1 us [M]",
            ),
            slowdown: (
                30.0,
                5.0,
                100.0,
                "Lua 5.1 is an interpreter: the Computer Language Benchmarks Game puts \
                 interpreted Lua 10-100x slower than C on CPU-bound programs, and Lua 5.1 \
                 emulates 64-bit integer multiplies with doubles [M]",
            ),
            memory_per_context: (
                20_000.0,
                5_000.0,
                200_000.0,
                "a loaded function library in the server's Lua heap, 10s of KB [M]",
            ),
            requirements: Vec::new(),
        }
        .costs(self.support());
        c.details.clear();
        c
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Other
    }

    fn support(&self) -> Support {
        match &self.config {
            Some(_) => Support::Supported,
            None => Support::Unsupported {
                reason: NO_SERVER.into(),
            },
        }
    }

    fn probe(&self) -> Option<std::result::Result<Box<dyn IsolationProbe>, ProbeError>> {
        self.config.as_ref()?;
        Some(
            self.open_probe()
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

/// Probe for [`Redis`]: a live server with the probe library loaded and
/// [`KEYS_PER_SIZE`] records of each of [`RECORD_SIZES`] stored.
pub struct RedisProbe {
    server: Arc<Server>,
    conn: Conn,
    defaults: IsolationCosts,
    walk: u64,
    checked: Checked,
    loaded_cold: bool,
    lock: Mutex<()>,
}

impl RedisProbe {
    /// Opens the server of `config`, loads [`LIBRARY`] and stores the records.
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the server fails or refuses a command.
    pub fn new(config: &ServerConfig, defaults: IsolationCosts) -> Result<Self> {
        let server = Arc::new(Server::open(config)?);
        let mut conn = server.connect()?;
        conn.call(&[b"FUNCTION", b"LOAD", b"REPLACE", LIBRARY.as_bytes()])?
            .ok("FUNCTION LOAD")?;
        for size in RECORD_SIZES {
            let mut left = KEYS_PER_SIZE;
            let mut i = 0u64;
            while left > 0 {
                let n = left.min(256);
                for j in i..i + n {
                    let v = record(size, j);
                    conn.send(&[b"SET", &key_name(size, j), &v])?;
                }
                conn.flush()?;
                for _ in 0..n {
                    conn.read()?.ok("SET")?;
                }
                i += n;
                left -= n;
            }
        }
        Ok(RedisProbe {
            server,
            conn,
            defaults,
            walk: 0,
            checked: Checked::new(),
            loaded_cold: false,
            lock: Mutex::new(()),
        })
    }

    /// The server.
    pub fn server(&self) -> Arc<Server> {
        Arc::clone(&self.server)
    }

    /// The scheme's cited defaults (what [`measure`] overwrites).
    pub fn scheme_defaults(&self) -> IsolationCosts {
        self.defaults.clone()
    }

    /// Runs `class`'s Lua kernel for `rounds` rounds and returns its checksum (unverified).
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the call fails or the reply has the wrong shape.
    pub fn compute_class(&mut self, class: ComputeClass, rounds: u32) -> Result<u64> {
        let r = rounds.to_string();
        let reply = self
            .conn
            .call(&[
                b"FCALL",
                class_function(class).as_bytes(),
                b"0",
                r.as_bytes(),
            ])?
            .ok("FCALL kernel")?;
        match (class, reply) {
            (ComputeClass::IntMul, Reply::Array(Some(limbs))) if limbs.len() == 4 => {
                let mut h = 0u64;
                for (i, l) in limbs.iter().enumerate() {
                    let v = u64::try_from(l.int("FCALL iso_fnv")?).unwrap_or(u64::MAX);
                    h |= (v & 0xffff) << (16 * i);
                }
                Ok(h)
            }
            (_, r @ Reply::Int(_)) => Ok(u64::try_from(r.int("FCALL kernel")?).unwrap_or(0)),
            (_, other) => Err(PluginError::Redis {
                step: "FCALL kernel",
                message: format!("unexpected reply {other:?}"),
            }),
        }
    }

    /// Reads `records` records of `size` bytes with `FCALL iso_read`, [`KEYS_PER_CALL`] per call,
    /// and checks the lengths read.
    fn read(&mut self, size: usize, records: u64) -> Result<()> {
        let _guard = self.lock.lock();
        let mut left = records;
        while left > 0 {
            let k = left.min(KEYS_PER_CALL);
            self.walk = self.walk.wrapping_add(1);
            let first = (self.walk.wrapping_mul(0x9e37_79b9) >> 7) % KEYS_PER_SIZE;
            let keys: Vec<Vec<u8>> = (0..k).map(|i| key_name(size, first + i)).collect();
            let kn = k.to_string();
            let mut args: Vec<&[u8]> = vec![b"FCALL", b"iso_read", kn.as_bytes()];
            args.extend(keys.iter().map(Vec::as_slice));
            let n = self
                .conn
                .call(&args)?
                .ok("FCALL iso_read")?
                .int("FCALL iso_read")?;
            if n != (k as usize * size) as i64 {
                return Err(PluginError::Redis {
                    step: "FCALL iso_read",
                    message: format!(
                        "read {n} bytes, expected {} ({k} x {size})",
                        k as usize * size
                    ),
                });
            }
            left -= k;
        }
        Ok(())
    }
}

/// The content of record `i` of `size` bytes.
fn record(size: usize, i: u64) -> Vec<u8> {
    let shift = usize::try_from(i % 32).unwrap_or(0);
    (0..size)
        .map(|b| b"abcdefghijklmnopqrstuvwxyz012345"[(b + shift) % 32])
        .collect()
}

impl IsolationProbe for RedisProbe {
    /// `FCALL iso_nop 0`, pipelined 16 deep.
    fn warm_invoke(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        let mut left = iterations;
        while left > 0 {
            let d = left.min(16);
            self.conn.pipeline(
                &[b"FCALL", b"iso_nop", b"0"],
                usize::try_from(d).unwrap_or(16),
            )?;
            left -= d;
        }
        Ok(())
    }

    /// `FUNCTION LOAD` of [`COLD_LIBRARY`].
    fn cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.conn
            .call(&[b"FUNCTION", b"LOAD", COLD_LIBRARY.as_bytes()])?
            .ok("FUNCTION LOAD")?;
        self.loaded_cold = true;
        Ok(())
    }

    /// `FUNCTION DELETE isocold`.
    fn after_cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        if std::mem::take(&mut self.loaded_cold) {
            self.conn
                .call(&[b"FUNCTION", b"DELETE", b"isocold"])?
                .ok("FUNCTION DELETE")?;
        }
        Ok(())
    }

    /// 64-byte records read with `redis.call('GET')`, 16 per FCALL.
    fn local_access(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        Ok(self.read(RECORD_SIZES[0], iterations)?)
    }

    /// FNV-1a in Lua over four 16-bit limbs.
    fn compute(&mut self, rounds: u32) -> std::result::Result<u64, ProbeError> {
        Ok(self.compute_class(ComputeClass::IntMul, rounds)?)
    }

    /// Growth of the server's `used_memory_vm_functions` is what [`measure`] reports; here none.
    fn memory_per_context(&mut self) -> Option<Bytes> {
        None
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = SIZED_OPS.to_vec();
        ops.extend(kernels::class_ops());
        ops
    }

    /// `local_access.bytes=N` reads `N`-byte records; `compute.<class>` runs the class's Lua
    /// kernel for `iterations` rounds, checksum verified.
    fn extra(&mut self, name: &str, iterations: u64) -> std::result::Result<(), ProbeError> {
        if let Some(class) = kernels::parse_class_op(name) {
            let rounds = kernels::rounds_of(name, iterations)?;
            let got = self.compute_class(class, rounds)?;
            return self.checked.verify(class, rounds, got);
        }
        match kernels::parse_access_op(name) {
            Some(size) if RECORD_SIZES.contains(&size) => Ok(self.read(size, iterations)?),
            _ => Err(ProbeError::new(name, "no such extra operation")),
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![
            format!(
                "redis {} at {} (pid {})",
                self.server.version(),
                self.server.addr(),
                self.server.pid()
            ),
            "operations here are timed by whoever calls them (client clock, network included); \
             the scheme's server-CPU figures come from isolation_plugins::redis::measure"
                .into(),
        ]
    }
}
