//! `storage_server serve`: the key-value server standalone, for any client (a load generator,
//! `calibrate server`, a script) to point at.
//!
//! It builds its table, binds, prints `listening on ADDR` as its first stdout line, serves until
//! SIGTERM, SIGINT (Ctrl-C) or end of file on stdin, and prints what it served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use isolation_plugins::store::MAX_RECORD_BYTES;

use super::experiment::builtin_schemes;
use super::kv::Store;
use super::server::{self, FunctionFactory, Limits, ServerHandle, ServerOptions};

/// The `serve` mode's flags.
pub const USAGE: &str = "usage: storage_server serve [--addr HOST:PORT] [--records N] \
[--record-bytes B] [--core N] [--stall-timeout-ms MS] [--max-connections N] [--ignore-stdin]
  --addr HOST:PORT       where to listen (default 127.0.0.1:7878; port 0 picks a free port)
  --records N            records in the table, keys 0..N (default 100000)
  --record-bytes B       bytes per record, 1 to 4096 (default 100)
  --core N               pin the server thread to core N (default: not pinned)
  --stall-timeout-ms MS  close a connection holding a partial frame or unsent answers that
                         moves no byte for MS (default 10000)
  --max-connections N    connections served at once (default 4096)
  --ignore-stdin         do not stop at end of file on stdin (for `serve < /dev/null &`)
The first stdout line is `listening on ADDR`. INVOKE schemes: 0 = native, 1 = wasm, 2 = ebpf.
Stops on SIGTERM, SIGINT or end of file on stdin.";

/// Estimated bytes a table entry costs beyond its record: key, vector header, map control byte,
/// allocator header and rounding.
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// The most memory a table may take (estimated, records and map together).
pub const MAX_TABLE_BYTES: u64 = 4 << 30;

/// What `serve` was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Records in the table.
    pub records: u64,
    /// Bytes per record.
    pub record_bytes: usize,
    /// Core to pin the server thread to.
    pub core: Option<usize>,
    /// Per-connection bounds.
    pub limits: Limits,
    /// Stop at end of file on stdin.
    pub watch_stdin: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
            records: 100_000,
            record_bytes: 100,
            core: None,
            limits: Limits::default(),
            watch_stdin: true,
        }
    }
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| {
        format!(
            "{flag}: cannot parse {v:?} ({})",
            std::any::type_name::<T>()
        )
    })
}

impl ServeConfig {
    /// Parses the flags after `serve` and checks the table's size.
    ///
    /// # Errors
    /// One line naming the flag and the value.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut c = ServeConfig::default();
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--addr" => c.addr = value("--addr", args.next())?,
                "--records" => c.records = value("--records", args.next())?,
                "--record-bytes" => c.record_bytes = value("--record-bytes", args.next())?,
                "--core" => c.core = Some(value("--core", args.next())?),
                "--stall-timeout-ms" => {
                    let ms: u64 = value("--stall-timeout-ms", args.next())?;
                    if ms == 0 {
                        return Err("--stall-timeout-ms must be at least 1, got 0".into());
                    }
                    c.limits.stall_timeout = Duration::from_millis(ms);
                }
                "--max-connections" => {
                    let n: usize = value("--max-connections", args.next())?;
                    if n == 0 {
                        return Err("--max-connections must be at least 1, got 0".into());
                    }
                    c.limits.max_connections = n;
                }
                "--ignore-stdin" => c.watch_stdin = false,
                other => {
                    return Err(format!(
                        "unknown argument {other:?} (see `storage_server serve --help`)"
                    ));
                }
            }
        }
        check_table(c.records, c.record_bytes)?;
        Ok(c)
    }
}

/// Checks a table's shape: at least one record, records of 1 to `MAX_RECORD_BYTES` bytes, at
/// most [`MAX_TABLE_BYTES`] of memory by estimate (records plus 64 bytes of map overhead each).
///
/// # Errors
/// One line naming the flag and the value.
pub fn check_table(records: u64, record_bytes: usize) -> Result<(), String> {
    if records == 0 {
        return Err("--records must be at least 1, got 0".into());
    }
    if record_bytes == 0 || record_bytes > MAX_RECORD_BYTES {
        return Err(format!(
            "--record-bytes must be 1 to {MAX_RECORD_BYTES}, got {record_bytes}"
        ));
    }
    let per = (record_bytes as u64).next_multiple_of(16) + ENTRY_OVERHEAD_BYTES;
    let total = records.saturating_mul(per);
    if total > MAX_TABLE_BYTES {
        return Err(format!(
            "--records {records} x --record-bytes {record_bytes}: the table would take about \
             {total} bytes with the map's overhead, over the cap of {MAX_TABLE_BYTES}"
        ));
    }
    Ok(())
}

/// Builds the table and starts the server with the built-in schemes (native, wasm, ebpf, in
/// that order: INVOKE's scheme byte 0, 1, 2).
///
/// # Errors
/// One line: a bad table, a bind failure, a scheme that cannot be built.
pub fn start(config: &ServeConfig) -> Result<ServerHandle, String> {
    check_table(config.records, config.record_bytes)?;
    let store = Arc::new(Store::new(config.records, config.record_bytes));
    let factories: Vec<FunctionFactory> = builtin_schemes()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|s| Box::new(s.make) as FunctionFactory)
        .collect();
    server::spawn_with(
        store,
        factories,
        ServerOptions {
            addr: config.addr,
            core: config.core,
            limits: config.limits,
        },
    )
    .map_err(|e| format!("cannot serve on {}: {e}", config.addr))
}

/// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards, so
/// that [`wait_for_shutdown`] receives them. Call it first thing in `main`.
///
/// # Errors
/// The system call's error.
pub fn block_termination_signals() -> std::io::Result<()> {
    let set = termination_signals();
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(r))
    }
}

fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset adds valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        set
    }
}

/// Waits for SIGTERM, SIGINT or (when `watch_stdin`) end of file on stdin, and says which.
/// [`block_termination_signals`] must have run before any thread was started.
pub fn wait_for_shutdown(watch_stdin: bool) -> String {
    let (tx, rx) = mpsc::channel::<String>();
    let signals = tx.clone();
    std::thread::spawn(move || {
        let set = termination_signals();
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` and `sig` are valid for the call; the signals are blocked in every
        // thread, so sigwait is the only receiver.
        let r = unsafe { libc::sigwait(&raw const set, &raw mut sig) };
        let what = match (r, sig) {
            (0, libc::SIGTERM) => "SIGTERM".to_owned(),
            (0, libc::SIGINT) => "SIGINT".to_owned(),
            (0, s) => format!("signal {s}"),
            (e, _) => format!("sigwait failed ({})", std::io::Error::from_raw_os_error(e)),
        };
        let _ = signals.send(what);
    });
    if watch_stdin {
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            loop {
                match std::io::Read::read(&mut stdin, &mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send("end of file on stdin".to_owned());
        });
    }
    rx.recv().unwrap_or_else(|_| "shutdown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeConfig, String> {
        ServeConfig::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_parse_and_bad_values_name_the_flag() {
        let c = parse(&["--addr", "127.0.0.1:0", "--records", "10", "--core", "1"]).unwrap();
        assert_eq!((c.addr.port(), c.records, c.core), (0, 10, Some(1)));
        assert!(
            parse(&["--records"])
                .unwrap_err()
                .contains("--records needs a value")
        );
        assert!(
            parse(&["--records", "-1"])
                .unwrap_err()
                .starts_with("--records: cannot parse")
        );
        assert!(
            parse(&["--record-bytes", "0"])
                .unwrap_err()
                .contains("got 0")
        );
        // 2^32 one-byte records pass a bytes-only cap but not the memory estimate.
        let e = parse(&["--records", "4294967296", "--record-bytes", "1"]).unwrap_err();
        assert!(e.contains("over the cap"), "{e}");
        assert!(parse(&["--stall-timeout-ms", "0"]).is_err());
        assert!(
            parse(&["--frobnicate"])
                .unwrap_err()
                .contains("\"--frobnicate\"")
        );
    }
}
