//! The `calibrate` command-line tool: measure this host, show and compare host profiles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use calibrate::{CalibrateError, Plan, Progress, Result, advice, report};
use clap::{Parser, Subcommand};
use costmodel::{HostProfile, WorkloadSet};
use indicatif::{ProgressBar, ProgressStyle};
use isolation_plugins::store::{
    PROBE_RUN_RECORDS, PROBE_TABLE_READERS, ProbeEnv, SIZED_TABLE_RECORDS, TableShape,
};

/// Measures this host's transport and isolation costs into a host profile (RON), and shows or
/// compares profiles. With no subcommand: a standard run written to `host.ron`, its summary,
/// and where each bundled workload should run on this host.
#[derive(Parser, Debug)]
#[command(name = "calibrate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure this host and write a profile.
    Run(RunArgs),
    /// Print a profile as tables.
    Show {
        /// The profile file.
        file: PathBuf,
    },
    /// Compare two profiles: ratio per coefficient and which differ beyond their intervals.
    Diff {
        /// The first profile (A).
        a: PathBuf,
        /// The second profile (B).
        b: PathBuf,
    },
    /// Calibrate a running storage server (Redis, memcached, the KV server) from outside.
    Server(calibrate::server::cli::ServerArgs),
}

#[derive(clap::Args, Debug, Default)]
struct RunArgs {
    /// Quick budget (under 30 s) instead of the standard one (under 2 minutes).
    #[arg(long)]
    quick: bool,
    /// Measure only these transports and schemes (comma separated: tcp,udp,unix,shm, scheme
    /// ids, memcpy, syscall); the rest keep cited defaults.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Where to write the profile.
    #[arg(long, default_value = "host.ron")]
    out: PathBuf,
    /// Machine-kind name to record (default: detected, e.g. vm-2cpu-amd-epyc).
    #[arg(long)]
    name: Option<String>,
    /// Directory of workload files to place after the run (default: fixtures/workloads, when
    /// found).
    #[arg(long)]
    workloads: Option<PathBuf>,
    /// Also place the bundled workloads after a `run` (always done with no subcommand).
    #[arg(long)]
    advise: bool,
    /// Records in the table the local-access probes read: size it like your storage server's
    /// table, since whether a record read hits the caches decides its cost (default 262144, a
    /// table well out of cache).
    #[arg(long)]
    table_records: Option<u64>,
    /// Bytes per record of that table (default 128).
    #[arg(long)]
    record_bytes: Option<usize>,
    /// Interleaved rounds over every transport and scheme, 1 to 9 (default 5, 3 with --quick), each with its
    /// share of the budget: more rounds put each coefficient's median and interval on more
    /// independent minutes of a drifting host, at a warm-up per point and round.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=9))]
    rounds: Option<u32>,
    /// Wait (up to 60 s) for a quiet host before measuring: no more steal or other processes'
    /// CPU than the noise thresholds allow; exit with the reason if none comes.
    #[arg(long)]
    require_quiet: bool,
    /// Write the profile to --out even when the run's noise grade is unusable (the grade and
    /// the noise seen are recorded in it).
    #[arg(long)]
    accept_noise: bool,
    /// Hold every block to free cores: a block around which the wide kernel read over 1.05x the
    /// run's fastest (another guest on the hyperthread beside a vCPU, which steal does not
    /// show) is redone once the cores read free, waiting up to 3 s each time. A storage sweep
    /// scoring the profile holds its own too. On a host shared that way most of the time the
    /// run ends unusable.
    #[arg(long)]
    hold_free_cores: bool,
    /// Replace `--out` when it already exists (it is replaced atomically, by a rename, only
    /// after the run succeeded).
    #[arg(long)]
    force: bool,
    /// Set for the main job (no subcommand): an existing `--out` is kept under a free name
    /// (`host.prev-N.ron`) before the new profile replaces it, so rerunning the main job works
    /// and loses nothing.
    #[arg(skip)]
    keep_previous: bool,
}

/// A progress bar over the plan's expected time: what is measured, elapsed, ETA.
struct Bar {
    bar: ProgressBar,
    step: Duration,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(1);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% eta {eta:>4} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar {
            bar,
            step: Duration::ZERO,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Progress for Bar {
    fn begin(&mut self, expected: Duration) {
        self.bar.set_length(ms(expected).max(1));
    }
    fn start(&mut self, what: &str, budget: Duration) {
        self.step = budget;
        self.bar.set_message(what.to_owned());
    }
    fn done(&mut self) {
        let left = self
            .bar
            .length()
            .unwrap_or(0)
            .saturating_sub(self.bar.position());
        // Never run past the end: the ETA stays meaningful when steps overrun their budget.
        self.bar.inc(ms(self.step).min(left.saturating_sub(1)));
    }
    fn note(&mut self, line: &str) {
        // The bar draws (and prints) only on a terminal; a run whose stderr goes to a file or
        // a pipe keeps its notes there instead of losing them.
        if self.bar.is_hidden() {
            eprintln!("  note: {line}");
        } else {
            self.bar.println(format!("  note: {line}"));
        }
    }
    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn workloads_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = explicit {
        return Some(d.to_owned());
    }
    [
        PathBuf::from("fixtures/workloads"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/workloads"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

fn measure(args: &RunArgs, place: bool) -> Result<()> {
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::standard()
    };
    plan.only.clone_from(&args.only);
    plan.stop_when_unusable = !args.accept_noise;
    plan.hold_free_cores = args.hold_free_cores;
    plan.name.clone_from(&args.name);
    if let Some(r) = args.rounds {
        plan.rounds = r;
    }
    let (shape, env) = table_shape(args)?;
    plan.isolation.probe_table = shape;
    // The probes read the table shaped by the flags, passed to them (no process-wide setting).
    let schemes = isolation_plugins::schemes_with_env(env);
    let ids: Vec<String> = schemes.iter().map(|s| s.id().to_string()).collect();
    plan.check_only(&ids)?;
    // Refuse an output path that cannot be written before minutes of measuring, not after.
    check_out(&args.out, args.force || args.keep_previous)?;
    // Load the workloads first, so a bad workload file fails before minutes of measuring.
    let sets = if place {
        match workloads_dir(args.workloads.as_deref()) {
            Some(dir) => Some(WorkloadSet::load_dir(&dir)?),
            None if args.workloads.is_some() => None,
            None => {
                eprintln!("note: no fixtures/workloads directory found; skipping placement");
                None
            }
        }
    } else {
        None
    };
    eprintln!(
        "calibrating this host ({} budget; {} compiled-in scheme(s): {})",
        if plan.quick { "quick" } else { "standard" },
        ids.len(),
        if ids.is_empty() {
            "none".to_owned()
        } else {
            ids.join(", ")
        }
    );
    if args.require_quiet {
        eprintln!("waiting for a quiet host (up to 60 s)");
        let n = calibrate::noise::require_quiet(plan.thresholds, Duration::from_secs(60))
            .map_err(|message| CalibrateError::TooNoisy { message })?;
        eprintln!(
            "host quiet: steal {:.3} cores, other processes {:.3} cores",
            n.steal_cores, n.other_cpu_cores
        );
    }
    let mut bar = Bar::new();
    let mut rep = calibrate::run(&plan, &schemes, &mut bar)?;
    // A run that lost the machine state it held to (the host moved the vCPUs for longer than
    // a block can wait) is measured once more, holding the state the host is in then: the
    // state dwells seconds to tens of seconds, so the second run usually keeps it.
    if let Some(why) = rep
        .profile
        .noise
        .as_ref()
        .and_then(calibrate::noise::rounds::lost_state)
        && !args.accept_noise
    {
        eprintln!("{why}; measuring once more, in the state the host is in now");
        let mut bar = Bar::new();
        rep = calibrate::run(&plan, &schemes, &mut bar)?;
    }
    note_table_shape(&mut rep.profile, shape);
    if let Some(noise) = &rep.profile.noise
        && !args.accept_noise
        && let Err(message) = calibrate::noise::rounds::usable(noise)
    {
        // No number from a run that measured the noise: the profile goes beside --out, for
        // reading, not where the tools look for it.
        let aside = args.out.with_extension("unusable.ron");
        save(&rep.profile, &aside)?;
        print!("{}", calibrate::noise::report::show(Some(noise)));
        return Err(CalibrateError::TooNoisy {
            message: format!(
                "{message}; {} left as it was, this run's profile written to {} for reading \
                 (--accept-noise writes it to --out)",
                args.out.display(),
                aside.display()
            ),
        });
    }
    if args.keep_previous && !args.force && args.out.is_file() {
        let kept = keep_previous(&args.out)?;
        eprintln!(
            "the previous {} is kept as {}",
            args.out.display(),
            kept.display()
        );
    }
    save(&rep.profile, &args.out)?;
    println!("{}", calibrate::run::run_summary(&rep));
    println!(
        "{}",
        report::show(&rep.profile, &args.out.display().to_string())
    );
    println!("profile written to {}", args.out.display());
    if let Some(sets) = sets {
        let a = advice::advise(&rep.profile, &sets)?;
        println!("\n{}", advice::render(&a));
    }
    if let Some(noise) = &rep.profile.noise {
        println!("{}", calibrate::noise::report::grade_line(noise));
    }
    // Everything measured is saved and shown; failures still make the exit status non-zero.
    let errors = rep.errors();
    if let Some(first) = errors.first() {
        return Err(CalibrateError::Incomplete {
            failed: errors.len(),
            first: first.clone(),
            out: args.out.clone(),
        });
    }
    Ok(())
}

/// A write error for `path` saying `message`.
fn unwritable(path: &Path, kind: std::io::ErrorKind, message: String) -> CalibrateError {
    CalibrateError::Write {
        path: path.to_owned(),
        source: std::io::Error::new(kind, message),
    }
}

/// Checks that the profile can be written to `out` before anything is measured: not a
/// directory or device, not an existing file unless `force`, and in a directory where a file
/// can be created (tried with a probe file, removed at once).
fn check_out(out: &Path, force: bool) -> Result<()> {
    use std::io::ErrorKind;
    if let Ok(meta) = std::fs::metadata(out) {
        if meta.is_dir() {
            return Err(unwritable(
                out,
                ErrorKind::IsADirectory,
                "is a directory".into(),
            ));
        }
        if !meta.is_file() {
            return Err(unwritable(
                out,
                ErrorKind::InvalidInput,
                "is not a regular file (a profile is replaced by renaming onto it)".into(),
            ));
        }
        if !force {
            return Err(unwritable(
                out,
                ErrorKind::AlreadyExists,
                "exists; pass --force (calibrate run --force) to replace it".into(),
            ));
        }
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(unwritable(
            out,
            ErrorKind::NotFound,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let probe = temp_beside(out, "probe");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(unwritable(
            out,
            e.kind(),
            format!("cannot create a file in {}: {e}", dir.display()),
        )),
    }
}

/// A hidden file name beside `path` for this process: `.host.ron.calibrate-<what>-<pid>`.
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "profile".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.calibrate-{what}-{}", std::process::id()))
}

/// Writes the profile atomically: to a temporary file in the same directory, synced, then
/// renamed onto `path`, so a reader never sees half a profile and a failed write leaves the
/// old one in place.
/// Copies `out` to the first free `STEM.prev-N.EXT` beside it (never replacing a file) and
/// returns that path.
fn keep_previous(out: &Path) -> Result<PathBuf> {
    let stem = out
        .file_stem()
        .map_or_else(|| "host".to_owned(), |s| s.to_string_lossy().into_owned());
    let ext = out
        .extension()
        .map_or_else(|| "ron".to_owned(), |e| e.to_string_lossy().into_owned());
    for n in 1..=10_000u32 {
        let kept = out.with_file_name(format!("{stem}.prev-{n}.{ext}"));
        let copied = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&kept)
            .and_then(|mut dst| {
                let mut src = std::fs::File::open(out)?;
                std::io::copy(&mut src, &mut dst)?;
                dst.sync_all()
            });
        match copied {
            Ok(()) => return Ok(kept),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                let _ = std::fs::remove_file(&kept);
                return Err(CalibrateError::Write { path: kept, source });
            }
        }
    }
    Err(unwritable(
        out,
        std::io::ErrorKind::AlreadyExists,
        "10,000 previous copies exist beside it; remove some or pass --force".into(),
    ))
}

fn save(profile: &HostProfile, path: &Path) -> Result<()> {
    use std::io::Write;
    let tmp = temp_beside(path, "tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(profile.to_ron().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CalibrateError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        None => measure(&RunArgs::default_run(), true),
        Some(Command::Run(args)) => {
            let place = args.advise;
            measure(&args, place)
        }
        Some(Command::Show { file }) => {
            let p = HostProfile::load(&file)?;
            print!("{}", report::show(&p, &file.display().to_string()));
            Ok(())
        }
        Some(Command::Diff { a, b }) => {
            let pa = HostProfile::load(&a)?;
            let pb = HostProfile::load(&b)?;
            print!(
                "{}",
                report::diff(&pa, &pb, &a.display().to_string(), &b.display().to_string())
            );
            Ok(())
        }
        Some(Command::Server(args)) => calibrate::server::cli::main(&args),
    }
}

/// The local-access probes' table shape from `--table-records` and `--record-bytes`, and the
/// environment (tables, built on first use) the probes read.
fn table_shape(args: &RunArgs) -> Result<(TableShape, std::sync::Arc<ProbeEnv>)> {
    let shape = TableShape {
        records: args.table_records.unwrap_or(TableShape::DEFAULT.records),
        record_bytes: args
            .record_bytes
            .unwrap_or(TableShape::DEFAULT.record_bytes),
    };
    table_fits_in_memory(shape)?;
    let env = ProbeEnv::new(shape, SIZED_TABLE_RECORDS).map_err(|e| CalibrateError::BadOption {
        option: "--table-records/--record-bytes",
        message: e.to_string(),
    })?;
    Ok((shape, env))
}

/// Refuses a probe table whose map would need more than half of `MemAvailable`: the byte cap
/// alone lets 2^32 one-byte records through, whose map entries (key, vector header, heap block,
/// hash-table slack) need some 300 GiB.
fn table_fits_in_memory(shape: TableShape) -> Result<()> {
    // Per entry: 8 B key + 24 B Vec header at a load factor of 7/8, one control byte, and the
    // record's heap block (at least 32 B, 16 B granules, 8 B malloc header).
    const ENTRY: u64 = (8 + 24) * 8 / 7 + 1;
    let bytes = u64::try_from(shape.record_bytes).unwrap_or(u64::MAX);
    let block = (bytes.saturating_add(8).div_ceil(16) * 16).max(32);
    let need = shape.records.saturating_mul(ENTRY.saturating_add(block));
    let Some(available) = mem_available() else {
        return Ok(());
    };
    if need > available / 2 {
        let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
        return Err(CalibrateError::BadOption {
            option: "--table-records/--record-bytes",
            message: format!(
                "{} records of {} B need about {:.1} GiB of memory, more than half of \
                 MemAvailable ({:.1} GiB); use a smaller table",
                shape.records,
                shape.record_bytes,
                gib(need),
                gib(available)
            ),
        });
    }
    Ok(())
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Says in each measured local-access estimate that read the probe table which table it read,
/// and in runs of how many keys.
fn note_table_shape(profile: &mut costmodel::HostProfile, shape: TableShape) {
    for (id, costs) in &mut profile.isolation {
        if !PROBE_TABLE_READERS.contains(&id.as_str()) {
            continue;
        }
        if let costmodel::Source::Measured { method } = &mut costs.local_access.source {
            method.push_str(&format!(
                "; probe table: {shape}, read in runs of {PROBE_RUN_RECORDS} consecutive keys"
            ));
        }
    }
}

impl RunArgs {
    fn default_run() -> Self {
        RunArgs {
            out: PathBuf::from("host.ron"),
            keep_previous: true,
            ..RunArgs::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's message up to its usage block, joined
            // (`error: the following required arguments were not provided: <FILE>`).
            let text = e.to_string();
            let head = text.split("\n\n").next().unwrap_or("error: bad arguments");
            let line = head.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("{line} (see calibrate --help)");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_job_keeps_each_previous_profile_under_a_free_name() {
        let dir = std::env::temp_dir().join(format!("calibrate-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("host.ron");
        std::fs::write(&out, "first").unwrap();
        let one = keep_previous(&out).unwrap();
        std::fs::write(&out, "second").unwrap();
        let two = keep_previous(&out).unwrap();
        assert_eq!(one, dir.join("host.prev-1.ron"));
        assert_eq!(two, dir.join("host.prev-2.ron"));
        assert_eq!(std::fs::read_to_string(&one).unwrap(), "first");
        assert_eq!(std::fs::read_to_string(&two).unwrap(), "second");
        // The main job may replace --out (it keeps the old one first); `run` may not.
        assert!(check_out(&out, true).is_ok());
        assert!(check_out(&out, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
