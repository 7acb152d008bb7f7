//! The `calibrate server` subcommand: options, progress, summary and the profile written.

use std::net::SocketAddr;
use std::path::PathBuf;

use costmodel::HostProfile;
use indicatif::{ProgressBar, ProgressStyle};

use super::output::{apply_to_profile, summary, write_atomically};
use super::session::{Attach, calibrate_server};
use super::sweep::{ClientModel, Options};
use super::{DriverFactory, Protocol};
use crate::{CalibrateError, Result};

/// Calibrate a running storage server (Redis/Valkey, memcached, the project's KV server) from
/// outside, and write its request costs into a host profile as a transport entry named after
/// the server (`resp@redis-7.0`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// The protocol: resp (Redis, Valkey), memcached, or kv (the project's storage server).
    #[arg(long, default_value = "resp")]
    pub driver: String,
    /// Where a running server listens (with --pid).
    #[arg(long, requires = "pid")]
    pub addr: Option<SocketAddr>,
    /// The running server's process id (its CPU is read from `/proc/<pid>`).
    #[arg(long, requires = "addr")]
    pub pid: Option<u32>,
    /// Start the server from this command line instead ({port} becomes a free loopback port),
    /// and stop it afterwards: "redis-server --port {port} --bind 127.0.0.1 --save ''".
    #[arg(long, conflicts_with_all = ["addr", "pid"])]
    pub spawn: Option<String>,
    /// Add the entry to this existing profile (everything else in it is kept); default: a new
    /// profile from the built-in reference.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Where to write the profile.
    #[arg(long, default_value = "host.ron")]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// A few seconds (8 points, 3 rounds, up to 4 clients) instead of about a minute.
    #[arg(long)]
    pub quick: bool,
    /// Rounds over all points (default 5, quick 3; at least 2 for intervals).
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Most client connections at a point, 1 to 16 (default 16, quick 4).
    #[arg(long)]
    pub max_clients: Option<u32>,
    /// Keys per value size: stored in the server, or, for a server with a fixed table (kv), read
    /// across its first N records. Size it like the server's working set, since whether a
    /// lookup hits the caches decides its cost (default 2048, quick 256).
    #[arg(long)]
    pub keys: Option<u64>,
    /// How a point's client connections are driven: per-client (one blocking thread per
    /// connection) or one-thread (one thread sends on every connection, then reads every reply,
    /// as an event-loop load generator does).
    #[arg(long, default_value = "per-client")]
    pub clients: String,
    /// The transport id to write (default: named after the server, e.g. resp@redis-7.0).
    #[arg(long)]
    pub id: Option<String>,
    /// Write the entry to --out even when the calibration's noise grade is unusable (the grade
    /// is in the entry's method text and its sanity flags).
    #[arg(long)]
    pub accept_noise: bool,
}

fn options(a: &ServerArgs) -> Result<Options> {
    let mut o = if a.quick {
        Options::quick()
    } else {
        Options::standard()
    };
    if let Some(r) = a.rounds {
        if !(1..=50).contains(&r) {
            return Err(CalibrateError::BadOption {
                option: "--rounds",
                message: format!("expected 1 to 50, got {r}"),
            });
        }
        o.rounds = r;
    }
    if let Some(c) = a.max_clients {
        if !(1..=16).contains(&c) {
            return Err(CalibrateError::BadOption {
                option: "--max-clients",
                message: format!("expected 1 to 16, got {c}"),
            });
        }
        o.max_clients = c;
    }
    if let Some(k) = a.keys {
        if !(1..=100_000_000).contains(&k) {
            return Err(CalibrateError::BadOption {
                option: "--keys",
                message: format!("expected 1 to 100000000, got {k}"),
            });
        }
        o.keys_per_size = k;
    }
    // An empty value is what `ServerArgs::default()` holds: the default model.
    if !a.clients.is_empty() {
        o.clients =
            ClientModel::parse(&a.clients).map_err(|message| CalibrateError::BadOption {
                option: "--clients",
                message,
            })?;
    }
    Ok(o)
}

/// Runs `calibrate server`: measures, prints the summary, writes the profile. Whatever was
/// measured is printed, and written when it makes an entry, before an error is returned.
///
/// # Errors
/// A bad option, an existing --out without --force, a server that cannot be attached, or a
/// sweep that stopped early (after printing and writing what it measured).
pub fn main(a: &ServerArgs) -> Result<()> {
    let protocol = Protocol::parse(&a.driver)?;
    run_with(a, &protocol)
}

/// As [`main`], with any driver factory (a third party's).
///
/// # Errors
/// As [`main`].
pub fn run_with(a: &ServerArgs, factory: &dyn DriverFactory) -> Result<()> {
    let attach = match (&a.spawn, a.addr, a.pid) {
        (Some(cmd), _, _) => Attach::Spawn(cmd.clone()),
        (None, Some(addr), Some(pid)) => Attach::Running { addr, pid },
        _ => {
            return Err(CalibrateError::BadOption {
                option: "--addr/--pid/--spawn",
                message: "give --addr and --pid of a running server, or --spawn COMMAND".to_owned(),
            });
        }
    };
    let opts = options(a)?;
    if a.out.exists() && !a.force {
        return Err(CalibrateError::Write {
            path: a.out.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it exists (pass --force to overwrite it)",
            ),
        });
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(CalibrateError::Write {
            path: a.out.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            ),
        });
    }
    // Load the base profile first, so a bad file fails before measuring.
    let mut profile = match &a.profile {
        Some(p) => HostProfile::load(p)?,
        None => {
            let mut p = crate::profile::reference()?;
            p.host = crate::env::capture(&format!(
                "calibrate {} server{}",
                env!("CARGO_PKG_VERSION"),
                if a.quick { " --quick" } else { "" }
            ))
            .identity;
            crate::profile::mark_dispatch(&mut p);
            for t in p.transports.values_mut() {
                crate::profile::mark_transport(t, "calibrate server measures only the server");
            }
            p
        }
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut progress = |m: &str| {
        bar.set_message(m.to_owned());
        bar.tick();
    };
    let outcome = calibrate_server(factory, &attach, &opts, &mut progress);
    bar.finish_and_clear();
    let mut outcome = outcome?;
    if let Some(id) = &a.id {
        costmodel::TransportId::new(id).map_err(|e| CalibrateError::BadOption {
            option: "--id",
            message: e.to_string(),
        })?;
        outcome.id.clone_from(id);
        let (t, f) = super::output::transport(&outcome);
        outcome.transport = t;
        outcome.flags = f;
    }
    if !a.accept_noise
        && let Err(message) = crate::noise::rounds::usable(&outcome.sweep.noise)
    {
        println!("{}", crate::noise::report::grade_line(&outcome.sweep.noise));
        // No number from a calibration that measured the noise: the profile goes beside
        // --out, for reading, not where the tools look for it.
        let aside = a.out.with_extension("unusable.ron");
        let written = apply_to_profile(&mut profile, &outcome)
            .and_then(|()| write_atomically(&profile, &aside, true))
            .map(|()| format!("this calibration's profile written to {}", aside.display()));
        return Err(CalibrateError::TooNoisy {
            message: format!(
                "{message}; {} left as it was, {} (--accept-noise writes it to --out)",
                a.out.display(),
                written.unwrap_or_else(|e| format!("nothing written ({e})"))
            ),
        });
    }
    println!("{}", summary(&outcome));
    let written = match apply_to_profile(&mut profile, &outcome) {
        Ok(()) => {
            write_atomically(&profile, &a.out, a.force)?;
            println!(
                "profile written to {} (transport {}{})",
                a.out.display(),
                outcome.id,
                if outcome.stopped().is_some() {
                    ", PARTIAL"
                } else {
                    ""
                }
            );
            true
        }
        Err(e) if outcome.stopped().is_some() => {
            println!("nothing written: {e}");
            false
        }
        Err(e) => return Err(e),
    };
    if let Some(why) = outcome.stopped() {
        return Err(CalibrateError::Transport {
            transport: outcome.id.clone(),
            message: format!(
                "{why} (what was measured is printed above{})",
                if written {
                    format!(" and written, marked partial, to {}", a.out.display())
                } else {
                    String::new()
                }
            ),
        });
    }
    Ok(())
}
