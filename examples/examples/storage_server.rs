//! Does the model predict reality? A real storage server runs a function inside itself (native,
//! Wasm, eBPF) or serves its records to a load generator that runs it outside; the sweep measures
//! the server's CPU per invocation and prints it beside the cost model's prediction.
//!
//! ```text
//! cargo run --release -p examples --example storage_server -- [--quick] [--host FILE] [--out DIR]
//!     [--reps N] [--span S] [--duration MS]
//! ```
//!
//! `storage_server kv-fidelity [--quick] [--host FILE] [--out DIR] [--clients MODEL]
//! [--calibration quick|standard] [--sequential]` runs the server as a child process, calibrates
//! it with `calibrate server --driver kv` in rounds alternating with the sweep's (`--sequential`:
//! the whole calibration first), and predicts the same sweep from that calibration's request
//! terms instead of the echo (`summary.txt`, CSVs and the profile
//! with the `kv@storage-server` entry in DIR, default `examples/results/kv-fidelity`).
//!
//! `storage_server serve --addr 127.0.0.1:7878` runs the same server standalone for any client:
//! it prints `listening on ADDR` first, serves until SIGTERM, Ctrl-C or end of file on stdin,
//! then prints what it served (`serve --help` lists the flags).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use calibrate::server::load::ClientModel;
use costmodel::HostProfile;
use examples::storage::experiment::{self, Config};
use examples::storage::kv_fidelity;
use examples::storage::serve::{self, ServeConfig};

const USAGE: &str = "usage: storage_server [--quick] [--host FILE] [--out DIR]
  --quick      reduced sweep (k in {1, 4, 32}, c in {0, 5} us; about 10 s)
  --host FILE  host profile to predict from (default: ./host.ron if present, else the
               literature reference profile)
  --out DIR    where the CSV and SVG go (default: examples/results)
  --reps N     repetitions per point, each in its own interleaved round, 1 to 9 (default 3,
               2 with --quick); a point's figure is their median
  --span S     spread the rounds over at least S seconds (0 to 600, default 0), waiting
               between rounds that come sooner, so the measured side spans about the minute a
               calibration's rounds span (`--reps 5 --span 60` beside a standard calibration)
  --duration MS
               timed run of each repetition, ms (20 to 5000; default 250, 120 with --quick),
               after its warm-up
  --store-records N, --record-bytes B
               the server's table (default 100000 records of 100 B; at least 1024 records
               of 1 to 4096 B, at most 4 GiB); a calibration measures
               local access on the table shape it is given (`calibrate run --table-records N
               --record-bytes B`)
       storage_server kv-fidelity [--quick] [--host FILE] [--out DIR] [--clients MODEL]
                                  [--calibration quick|standard] [--sequential]
               calibrate the server with `calibrate server --driver kv` and predict the sweep
               from that (default DIR: examples/results/kv-fidelity; quick: about 10 s);
               --clients one-thread (default: the sweep's load generator is one thread) or
               per-client, how calibrate's clients drive their connections;
               --calibration: calibrate server's plan (default: quick with --quick);
               the calibration's rounds and the sweep's alternate, so both span the same
               minutes; --sequential runs the whole calibration first
       storage_server serve [--addr HOST:PORT] ...   (the server standalone; serve --help)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("serve") {
        args.next();
        return match run_server(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let kv = args.peek().map(String::as_str) == Some("kv-fidelity");
    if kv {
        args.next();
    }
    match run(args, kv) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `flag`'s value `v` parsed and inside `range`; otherwise an error naming the flag, the value
/// and what was `expected`.
fn within<T: std::str::FromStr + PartialOrd>(
    flag: &str,
    v: &str,
    range: std::ops::RangeInclusive<T>,
    expected: &str,
) -> Result<T, String> {
    v.parse::<T>()
        .ok()
        .filter(|x| range.contains(x))
        .ok_or_else(|| format!("{flag} {v:?}: expected {expected}"))
}

/// `serve`: the server standalone until SIGTERM, SIGINT or end of file on stdin.
fn run_server(args: impl Iterator<Item = String>) -> Result<(), String> {
    let args: Vec<String> = args.collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", serve::USAGE);
        return Ok(());
    }
    // Before any thread starts, so that every thread inherits the mask.
    serve::block_termination_signals().map_err(|e| format!("blocking signals: {e}"))?;
    let config = ServeConfig::parse(args)?;
    let _ = writeln!(
        std::io::stderr(),
        "building {} records of {} B; INVOKE schemes: 0 = native, 1 = wasm, 2 = ebpf",
        config.records,
        config.record_bytes
    );
    let server = serve::start(&config)?;
    // The address line must reach a reading parent now, not at exit; a closed stdout is an
    // error, not a panic.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", server.addr)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the address to stdout: {e}"))?;
    let why = serve::wait_for_shutdown(config.watch_stdin);
    let s = server
        .stop()
        .map_err(|e| format!("server thread failed: {e}"))?;
    // Best effort: whoever started the server may have stopped reading.
    let _ = writeln!(
        stdout,
        "stopped on {why}: served {} requests ({} invocations) on {} connections; {} error \
         replies, {} connections closed as stalled",
        s.requests, s.invocations, s.accepted, s.errors, s.stalled
    );
    Ok(())
}

fn run(
    mut args: impl Iterator<Item = String>,
    kv: bool,
) -> Result<String, Box<dyn std::error::Error>> {
    let mut quick = false;
    let mut host = None;
    let mut clients = ClientModel::OneThread;
    let mut calibration: Option<bool> = None;
    let mut order = kv_fidelity::Order::Interleaved;
    let mut shape: (Option<u64>, Option<usize>) = (None, None);
    let mut reps: Option<usize> = None;
    let mut span: Option<std::time::Duration> = None;
    let mut duration: Option<std::time::Duration> = None;
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results"));
    if kv {
        out.push("kv-fidelity");
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--calibration" if kv => {
                calibration = Some(match args.next().as_deref() {
                    Some("quick") => true,
                    Some("standard") => false,
                    other => {
                        return Err(
                            format!("--calibration {other:?}: expected quick or standard").into(),
                        );
                    }
                });
            }
            "--sequential" if kv => order = kv_fidelity::Order::Sequential,
            "--clients" if kv => {
                clients = ClientModel::parse(&args.next().ok_or("--clients needs a model")?)?;
            }
            "--host" => host = Some(args.next().ok_or("--host needs a file")?),
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a directory")?),
            "--reps" => {
                let v = args.next().ok_or("--reps needs a count")?;
                reps = Some(within("--reps", &v, 1..=9, "a whole number 1 to 9")?);
            }
            "--span" => {
                let v = args.next().ok_or("--span needs seconds")?;
                let s = within("--span", &v, 0.0..=600.0, "seconds, 0 to 600")?;
                span = Some(std::time::Duration::from_secs_f64(s));
            }
            "--duration" => {
                let v = args.next().ok_or("--duration needs milliseconds")?;
                let ms: u64 = within("--duration", &v, 20..=5000, "milliseconds, 20 to 5000")?;
                duration = Some(std::time::Duration::from_millis(ms));
            }
            "--store-records" => {
                let v = args.next().ok_or("--store-records needs a count")?;
                shape.0 = Some(
                    v.parse()
                        .map_err(|e| format!("--store-records {v:?}: not a count ({e})"))?,
                );
            }
            "--record-bytes" => {
                let v = args.next().ok_or("--record-bytes needs a size")?;
                shape.1 = Some(
                    v.parse()
                        .map_err(|e| format!("--record-bytes {v:?}: not a size ({e})"))?,
                );
            }
            "-h" | "--help" => return Ok(USAGE.to_owned()),
            other => {
                return Err(format!("unknown argument {other:?} (see --help)").into());
            }
        }
    }
    let host_path = match host {
        Some(h) => h,
        // What `cargo run --release -p calibrate -- run --out host.ron` writes.
        None if std::path::Path::new("host.ron").exists() => "host.ron".to_owned(),
        None => {
            eprintln!(
                "note: no --host and no ./host.ron: predicting from the cited literature values of \
                 fixtures/hosts/reference.ron, not from this machine; calibrate first for a \
                 meaningful comparison"
            );
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../fixtures/hosts/reference.ron"
            )
            .to_owned()
        }
    };
    let host = HostProfile::load(&host_path)?;
    let schemes = experiment::builtin_schemes()?;
    let mut config = if quick {
        Config::quick(schemes)
    } else {
        Config::full(schemes)
    };
    if let Some(n) = reps {
        config.reps = n;
    }
    if let Some(s) = span {
        config.span = s;
    }
    if let Some(d) = duration {
        config.duration = d;
    }
    if let Some(n) = shape.0 {
        config.store_records = n;
    }
    if let Some(b) = shape.1 {
        config.record_bytes = b;
    }
    config.check_store()?;
    eprintln!("host profile: {host_path}");
    eprintln!(
        "store: {} (a profile with a table-size curve has its local access moved to this \
         table; `calibrate run --table-records {} --record-bytes {}` measures it on this shape)",
        config.table_shape(),
        config.store_records,
        config.record_bytes
    );
    if kv {
        let exe = std::env::current_exe()?;
        let t0 = std::time::Instant::now();
        let mut progress = |m: &str| eprintln!("{:6.1}s {m}", t0.elapsed().as_secs_f64());
        let r = kv_fidelity::run(
            &exe,
            &config,
            &host,
            (calibration.unwrap_or(quick), clients),
            order,
            &mut progress,
        )?;
        r.write(&out)?;
        print!("{}", r.summary());
        println!("wrote {}", out.display());
        return Ok(r.lines());
    }
    let report = experiment::run(&config, &host, |done, total, what| {
        eprint!("\r[{done:>3}/{total}] {what:<40}");
    })?;
    eprintln!();
    println!("{}", report.table());
    println!("predicted from: {}", report.predicted_from);
    if let Some(line) = report.speed_line() {
        println!("{line}");
    }
    if let Some(line) = report.cores_line() {
        println!("{line}");
    }
    if let Some(line) = report.level_line() {
        println!("{line}");
    }
    report.write(&out)?;
    println!(
        "wrote {} and {} (sweep took {:.1} s; {}; server pinned: {})",
        out.join("storage-fidelity.csv").display(),
        out.join("storage-fidelity.svg").display(),
        report.elapsed.as_secs_f64(),
        experiment::describe_kernel(report.kernel(), report.ns_per_round),
        report.pinned
    );
    Ok(report.fidelity_line())
}
