//! Our storage server predicted from its own calibration, not from the echo.
//!
//! [`run`] starts `storage_server serve` as a child process with every thread pinned to one core
//! (the last allowed), calibrates it from outside with `calibrate server --driver kv`
//! ([`calibrate::server::calibrate_server`] over [`Protocol::Kv`], clients on the other cores,
//! server CPU from its own `/proc/<pid>/task/*/schedstat`), adds the resulting transport entry
//! (`kv@storage-server`, version-2 request terms) to the host profile, then runs the storage
//! sweep against the same process and prices every point with that entry
//! ([`Prediction::ServerTerms`]). The same points are also priced from the profile's
//! echo-calibrated `tcp` entry, for comparison. The schemes' costs (inside points) come from the
//! host profile in both cases; nothing is fitted on the sweep.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Condvar, Mutex, mpsc};
use std::time::Duration;

use calibrate::server::load::ClientModel;
use calibrate::server::procfs::ServerProcess;
use calibrate::server::state::{ProbeSpread, SPREAD_FACTOR, same_state};
use calibrate::server::{
    Attach, Options, Protocol, ServerOutcome, Spawned, apply_to_profile, calibrate_server,
    calibrate_server_with,
};
use costmodel::{HostProfile, TransportId};

use super::experiment::{self, Config, Report, ServerAt};
use super::predict::{self, Prediction};

/// What one calibration and sweep found.
#[derive(Debug)]
pub struct KvFidelity {
    /// The sweep priced from the server's own terms.
    pub report: Report,
    /// The same measured points priced from the echo-calibrated `tcp` entry.
    pub echo: Report,
    /// `calibrate server`'s summary (the sweep's points and the fitted terms).
    pub calibration: String,
    /// The noise grade of the calibration.
    pub grade: String,
    /// Why the calibration gives no number (graded unusable), when it does not.
    pub calibration_unusable: Option<String>,
    /// The transport id of the entry.
    pub transport: String,
    /// The host profile with the entry added (what the prediction used).
    pub profile: HostProfile,
    /// Server core and load cores.
    pub cpus: (usize, usize),
    /// `/proc/loadavg`'s three averages before and after.
    pub load: (String, String),
    /// Seconds the calibration took (interleaved: with the sweep's rounds between its own).
    pub calibration_s: f64,
    /// Whether the calibration's rounds and the sweep's alternated.
    pub order: Order,
    /// Whether the machine was in the calibration's state for the sweep: the reference point
    /// measured again by a quick calibration after it ([`crate::fidelity::state_check`]).
    pub state: String,
    /// The calibration's probe round trip (median over its samples), ns, when it had one.
    pub calibration_probe_ns: Option<f64>,
}

impl KvFidelity {
    /// `kv fidelity: median_abs_error_pct=... decision_accuracy_pct=... points=...`, then the
    /// echo's line for the same points.
    pub fn lines(&self) -> String {
        // Terms fitted by a calibration that was too noisy to measure are not a prediction to
        // score, however clean the sweep was.
        let kv = match &self.calibration_unusable {
            Some(why) => format!("fidelity: not scored: calibrate server was unusable ({why})"),
            None => self.report.fidelity_line(),
        };
        format!("kv {kv}\necho (same points) {}", self.echo.fidelity_line())
    }

    /// The whole summary: conditions, the calibration, the table, the fidelity lines.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kv fidelity: storage server pinned to cpu {}, calibrate's clients and the load \
             generator on cpu {}; loadavg before {}, after {}; calibration took {:.1} s, sweep \
             {:.1} s ({}); compute priced at {}",
            self.cpus.0,
            self.cpus.1,
            self.load.0,
            self.load.1,
            self.calibration_s,
            self.report.elapsed.as_secs_f64(),
            match self.order {
                Order::Interleaved =>
                    "interleaved: their rounds alternated, each time includes the other's",
                Order::Sequential => "one after the other",
            },
            super::experiment::describe_kernel(self.report.kernel(), self.report.ns_per_round)
        );
        let _ = writeln!(s, "{}", self.grade);
        let _ = writeln!(s, "{}", self.calibration.trim_end());
        let _ = writeln!(
            s,
            "\npredicted from {} (host profile {})",
            self.report.predicted_from, self.report.host
        );
        let _ = writeln!(s, "{}", self.report.table());
        let _ = writeln!(s, "{}", self.state);
        for line in [self.report.speed_line(), self.echo.speed_line()]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(s, "{line}");
        }
        if let Some(line) = self
            .calibration_probe_ns
            .map(|p| in_state_line(&self.report, p))
        {
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s, "{}", self.lines());
        s
    }

    /// Writes `summary.txt`, `kv-fidelity.csv`, `echo-fidelity.csv` and `host-kv.ron` into
    /// `dir`.
    ///
    /// # Errors
    /// One line naming the file.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, text) in [
            ("summary.txt", self.summary()),
            ("kv-fidelity.csv", self.report.csv()),
            ("echo-fidelity.csv", self.echo.csv()),
            ("host-kv.ron", self.profile.to_ron()),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` quoted for `sh -c`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Starts `serve_binary serve` with `config`'s table, calibrates it with `calibrate server
/// --driver kv --clients CLIENTS` (the quick plan when `quick`), sweeps it with `config` and
/// prices the sweep from the calibration and from the echo. `progress` hears what is being done.
/// With [`Order::Interleaved`] the calibration's rounds and the sweep's alternate.
///
/// The sweep's load generator is one thread; [`ClientModel::OneThread`] calibrates the server
/// with clients that wait the same way (see [`calibrate::server::load`]).
///
/// # Errors
/// One line: fewer than two CPUs, the server does not start, the calibration fails or stops
/// early, the sweep or the model fails.
pub fn run(
    serve_binary: &Path,
    config: &Config,
    host: &HostProfile,
    (quick, clients): (bool, ClientModel),
    order: Order,
    progress: &mut dyn FnMut(&str),
) -> Result<KvFidelity, String> {
    let (server_cpu, load_cpu) = crate::fidelity::cpus()?;
    let load_before = loadavg();
    let command = format!(
        "{} serve --addr 127.0.0.1:{{port}} --records {} --record-bytes {} --core {server_cpu}",
        shell_quote(&serve_binary.to_string_lossy()),
        config.store_records,
        config.record_bytes
    );
    progress(&format!("starting {command}"));
    let mut server = Spawned::start(&command, &Protocol::Kv, Duration::from_secs(60))?;
    let result = with_server(
        &server,
        config,
        host,
        (quick, clients),
        (server_cpu, load_cpu),
        order,
        progress,
    );
    let alive = server.running();
    server.stop();
    let mut out = result?;
    if !alive {
        return Err(format!(
            "the storage server (pid {}) exited during the run",
            server.pid
        ));
    }
    out.load = (load_before, loadavg());
    Ok(out)
}

/// When the calibration runs against the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The calibration's rounds and the sweep's alternate (calibration round 1, sweep round 1,
    /// calibration round 2, ...), so that both sides span the same minutes: the host's drift,
    /// which moves this VM's costs by 10-40% within minutes, then reaches the prediction and
    /// the measurement alike, and the figure scores the model rather than the drift between
    /// two moments.
    Interleaved,
    /// The whole calibration, then the whole sweep (held to the calibration's machine state).
    Sequential,
}

impl Order {
    /// `interleaved` or `sequential`.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Interleaved => "interleaved",
            Order::Sequential => "sequential",
        }
    }
}

/// Whose turn it is to measure, between the calibration's thread and the sweep's: each hands
/// the turn over between its rounds and waits for it back, unless the other has finished.
struct Baton {
    state: Mutex<Turns>,
    turn: Condvar,
}

/// The side whose turn it is, and which sides have finished (indexed by [`Party::index`]).
struct Turns {
    turn: Party,
    finished: [bool; 2],
}

/// One of the two sides taking turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    Calibration,
    Sweep,
}

impl Party {
    fn other(self) -> Party {
        match self {
            Party::Calibration => Party::Sweep,
            Party::Sweep => Party::Calibration,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl Baton {
    fn new() -> Self {
        Baton {
            state: Mutex::new(Turns {
                turn: Party::Calibration,
                finished: [false; 2],
            }),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands the turn to the other side and waits for it back (or for the other to finish).
    fn pass(&self, me: Party) {
        let mut s = self.lock();
        s.turn = me.other();
        self.turn.notify_all();
        self.wait_locked(me, s);
    }

    /// Waits for `me`'s turn (or for the other side to finish).
    fn wait(&self, me: Party) {
        let s = self.lock();
        self.wait_locked(me, s);
    }

    fn wait_locked(&self, me: Party, mut s: std::sync::MutexGuard<'_, Turns>) {
        while s.turn != me && !s.finished[me.other().index()] {
            s = self
                .turn
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// `me` has finished (or failed): the other side no longer waits for it.
    fn finish(&self, me: Party) {
        self.lock().finished[me.index()] = true;
        self.turn.notify_all();
    }
}

/// Marks a side finished when dropped, however it leaves (an error, a panic).
struct Finish<'a>(&'a Baton, Party);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish(self.1);
    }
}

/// The calibration's outcome when it ran to the end.
fn completed(outcome: ServerOutcome) -> Result<ServerOutcome, String> {
    match outcome.stopped() {
        Some(why) => Err(format!("calibrate server stopped early: {why}")),
        None => Ok(outcome),
    }
}

fn with_server(
    server: &Spawned,
    config: &Config,
    host: &HostProfile,
    (quick, clients): (bool, ClientModel),
    (server_cpu, load_cpu): (usize, usize),
    order: Order,
    progress: &mut dyn FnMut(&str),
) -> Result<KvFidelity, String> {
    let process = ServerProcess::open(server.pid)?;
    // Every thread, as `taskset` would; the server thread also pins itself (`--core`).
    let pinned = process.pin_all(server_cpu).is_ok();
    // Lookups across the whole table, as the sweep's are (`--keys N`): a record read's cost
    // depends on whether the table fits the caches, and the default 2048 keys do.
    let opts = Options {
        keys_per_size: config.store_records,
        clients,
        ..if quick {
            Options::quick()
        } else {
            Options::standard()
        }
    };
    let config = Config {
        server_core: server_cpu,
        client_core: load_cpu,
        ..config.clone()
    };
    progress(&format!(
        "calibrate server --driver kv --addr {} --pid {} --keys {} --clients {}{} ({} with the \
         sweep)",
        server.addr,
        server.pid,
        opts.keys_per_size,
        clients.as_str(),
        if quick { " --quick" } else { "" },
        order.as_str()
    ));
    let at = ServerAt::Running {
        addr: server.addr,
        pinned,
        pid: Some(server.pid),
    };
    let attach = Attach::Running {
        addr: server.addr,
        pid: server.pid,
    };
    let (outcome, sweep) = match order {
        Order::Sequential => {
            let outcome = completed(
                calibrate_server(&Protocol::Kv, &attach, &opts, &mut |m| progress(m))
                    .map_err(|e| e.to_string())?,
            )?;
            let sweep = experiment::sweep(
                &config,
                at,
                outcome.sweep.noise.core_state.as_ref(),
                |done, total, what| progress(&format!("[{done:>3}/{total}] {what}")),
            )
            .map_err(|e| e.to_string())?;
            (outcome, sweep)
        }
        Order::Interleaved => {
            let baton = Baton::new();
            let (tx, rx) = mpsc::channel::<String>();
            let (outcome, sweep) = std::thread::scope(|scope| {
                let calibration = scope.spawn(|| {
                    let _done = Finish(&baton, Party::Calibration);
                    let tx = tx;
                    calibrate_server_with(
                        &Protocol::Kv,
                        &attach,
                        &opts,
                        &mut |m| {
                            let _ = tx.send(format!("calibration: {m}"));
                        },
                        &mut |_| baton.pass(Party::Calibration),
                    )
                });
                let sweep = {
                    let _done = Finish(&baton, Party::Sweep);
                    baton.wait(Party::Sweep);
                    // Held to the state its first repetition finds, which follows the
                    // calibration's first round.
                    experiment::sweep_with(
                        &config,
                        at,
                        None,
                        |done, total, what| {
                            for m in rx.try_iter() {
                                progress(&m);
                            }
                            progress(&format!("sweep [{done:>3}/{total}] {what}"));
                        },
                        |_| baton.pass(Party::Sweep),
                    )
                };
                let outcome = calibration
                    .join()
                    .map_err(|_| "the calibration thread panicked".to_owned());
                (outcome, sweep)
            });
            for m in rx.try_iter() {
                progress(&m);
            }
            let outcome = completed(outcome?.map_err(|e| e.to_string())?)?;
            (outcome, sweep.map_err(|e| e.to_string())?)
        }
    };
    let calibration_s = outcome.elapsed.as_secs_f64();
    let mut profile = host.clone();
    apply_to_profile(&mut profile, &outcome).map_err(|e| e.to_string())?;
    let transport = TransportId::new(&outcome.id).map_err(|e| e.to_string())?;
    let mut report = predict::report(
        &sweep,
        &config,
        &Prediction::ServerTerms {
            host: &profile,
            transport,
        },
    )
    .map_err(|e| e.to_string())?;
    report.check_speed(&outcome.sweep.noise, "calibrate server's");
    let echo =
        predict::report(&sweep, &config, &Prediction::Echo(host)).map_err(|e| e.to_string())?;
    progress("quick re-calibration (state check)");
    let state =
        crate::fidelity::state_check(&Protocol::Kv, (server.addr, server.pid), &opts, &outcome);
    progress(&state);
    Ok(KvFidelity {
        report,
        echo,
        calibration: calibrate::server::summary(&outcome),
        grade: calibrate::noise::report::grade_line(&outcome.sweep.noise),
        calibration_unusable: calibrate::noise::rounds::usable(&outcome.sweep.noise).err(),
        transport: outcome.id.clone(),
        profile,
        cpus: (server_cpu, load_cpu),
        load: (String::new(), String::new()),
        calibration_s,
        order,
        state,
        calibration_probe_ns: ProbeSpread::of(&outcome.sweep).map(|p| p.p50),
    })
}

/// The sweep scored only where the machine was in the calibration's state: points measured in
/// a clean block ([`experiment::Point::scored`]) whose probe round trip is within
/// [`SPREAD_FACTOR`] of the calibration's median probe, and decisions whose inside and outside
/// points both are. The state is read from the probe, never from the
/// server's CPU, so this selects points, not results.
fn in_state_line(report: &Report, calibration_probe_ns: f64) -> String {
    let ok = |p: &experiment::Point| p.scored() && same_state(calibration_probe_ns, p.probe_rtt_ns);
    let kept: Vec<&experiment::Point> = report.points.iter().filter(|p| ok(p)).collect();
    let errors = experiment::Summary::of(kept.iter().map(|p| p.abs_error_pct()).collect());
    let (mut decisions, mut correct) = (0, 0);
    for i in kept.iter().filter(|p| p.side != experiment::Side::Outside) {
        let Some(o) = kept.iter().find(|o| {
            o.side == experiment::Side::Outside
                && o.records == i.records
                && o.compute_us == i.compute_us
        }) else {
            continue;
        };
        decisions += 1;
        if experiment::Point::decided_right(i, o) {
            correct += 1;
        }
    }
    format!(
        "kv fidelity in the calibration's state (probe {:.1} us, points within {SPREAD_FACTOR}x of \
         it): median_abs_error_pct={:.1} decision_accuracy_pct={:.1} points={} of {} decisions={}",
        calibration_probe_ns / 1e3,
        if kept.is_empty() {
            f64::NAN
        } else {
            errors.median
        },
        100.0 * f64::from(correct) / f64::from(decisions.max(1)),
        kept.len(),
        report.points.len(),
        decisions
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a calibration of `cal` rounds and a sweep of `sweep` rounds on two threads with
    /// the baton, as `with_server` does, and returns the order the rounds ran in.
    fn alternate(cal: u32, sweep: u32) -> Vec<String> {
        let baton = Baton::new();
        let log = Mutex::new(Vec::new());
        let note = |s: String| log.lock().unwrap().push(s);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _done = Finish(&baton, Party::Calibration);
                for r in 0..cal {
                    if r > 0 {
                        baton.pass(Party::Calibration);
                    }
                    note(format!("C{}", r + 1));
                }
            });
            let _done = Finish(&baton, Party::Sweep);
            baton.wait(Party::Sweep);
            for r in 0..sweep {
                if r > 0 {
                    baton.pass(Party::Sweep);
                }
                note(format!("S{}", r + 1));
            }
        });
        log.into_inner().unwrap()
    }

    #[test]
    fn the_calibration_s_rounds_and_the_sweep_s_alternate() {
        assert_eq!(alternate(3, 2), ["C1", "S1", "C2", "S2", "C3"]);
        // A side with more rounds runs the rest once the other has finished.
        assert_eq!(alternate(3, 1), ["C1", "S1", "C2", "C3"]);
        assert_eq!(alternate(1, 3), ["C1", "S1", "S2", "S3"]);
        assert_eq!(alternate(5, 5).len(), 10);
    }

    #[test]
    fn a_side_that_fails_does_not_leave_the_other_waiting() {
        let baton = Baton::new();
        std::thread::scope(|scope| {
            // The calibration fails before its first round: dropping its guard hands over.
            scope.spawn(|| {
                let _done = Finish(&baton, Party::Calibration);
            });
            baton.wait(Party::Sweep);
            // Its later hand-overs return at once.
            baton.pass(Party::Sweep);
            baton.pass(Party::Sweep);
        });
    }
}
