//! A calibration run: the plan (what to measure, with which budget) and the orchestration.
//!
//! Order: environment, clock overhead and null system call, memory-copy bandwidth, each
//! transport (headline ping-pong sweep, pipelined sweep, ping-pong in the other core placement),
//! then each compiled-in isolation scheme. Every stage is independent: a stage that fails is
//! reported and the profile keeps the cited default for what it would have measured.
//!
//! Transports and schemes are measured in [`Plan::rounds`] interleaved rounds, each with a share
//! of the budget, so drift and bursts spread over all coefficients; every sweep and scheme in a
//! round is one sample block watched for steal and other processes' CPU, redone while
//! contaminated and the run's time allows ([`crate::noise`]). The rounds combine into each
//! coefficient's point and an interval for where the next calibration lands
//! ([`crate::noise::rounds`]); the profile records the noise and the run's grade.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use costmodel::{
    CoreRegime, Estimate, HostProfile, IsolationCosts, IsolationScheme, Nanos, NanosPerByte,
    Requirement, SchemeId, Support, TransportCosts, TransportId,
};

use crate::env::{self, Environment};
use crate::error::Result;
use crate::harness::Measurement;
use crate::isolation::{self, SchemeResult};
use crate::micro;
use crate::noise::rounds::Mark;
use crate::profile;
use crate::sanity;
use crate::stats::Rng;
use crate::transport::{self, SweepResult, TransportKind};

mod interleave;
mod plan;
mod summary;

use plan::len32;
pub use plan::{Plan, SATURATED_WINDOW};
pub use summary::run_summary;

/// What a run reports while it works. Every method has a no-op default.
pub trait Progress {
    /// The run starts; it expects to take about `expected`.
    fn begin(&mut self, expected: Duration) {
        let _ = expected;
    }
    /// A measurement of `what`, with about `budget` of time, starts.
    fn start(&mut self, what: &str, budget: Duration) {
        let _ = (what, budget);
    }
    /// The measurement started last ended.
    fn done(&mut self) {}
    /// Something worth a line of its own (a failure, a skipped stage).
    fn note(&mut self, line: &str) {
        let _ = line;
    }
    /// The run is over.
    fn finish(&mut self) {}
}

/// A [`Progress`] that reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// One transport's sweeps.
#[derive(Clone, Debug)]
pub struct TransportRun {
    /// The transport.
    pub kind: TransportKind,
    /// The core placement of the headline numbers.
    pub headline: CoreRegime,
    /// Ping-pong in the headline placement.
    pub unloaded: Option<SweepResult>,
    /// Pipelined (cross-core when there are two CPUs).
    pub saturated: Option<SweepResult>,
    /// Ping-pong in the other placement.
    pub other: Option<SweepResult>,
    /// Failures, one line each.
    pub errors: Vec<String>,
    /// Sweeps this host cannot run (not failures), one line each.
    pub skipped: Vec<String>,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The profile to save.
    pub profile: HostProfile,
    /// The environment.
    pub env: Environment,
    /// Clock-read overhead subtracted from timed intervals.
    pub timer_overhead: Duration,
    /// Null system call.
    pub syscall: Option<Measurement>,
    /// 64 KiB copy, ns per byte.
    pub memcpy: Option<Measurement>,
    /// Per transport.
    pub transports: Vec<TransportRun>,
    /// Per compiled-in scheme.
    pub schemes: Vec<SchemeResult>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl RunReport {
    /// Every failure of the run, one line each.
    pub fn errors(&self) -> Vec<String> {
        let t = self.transports.iter().flat_map(|t| {
            t.errors
                .iter()
                .map(move |e| format!("{}: {e}", t.kind.id()))
        });
        let s = self.schemes.iter().flat_map(|s| {
            s.errors
                .iter()
                .map(move |e| format!("scheme {}: {e}", s.id))
        });
        t.chain(s).collect()
    }
}

/// Whether `req` holds on the host described by `env`; `Err(reason)` if not.
fn requirement_met(req: &Requirement, env: &Environment) -> std::result::Result<(), String> {
    match req {
        Requirement::Kvm if !env.identity.kvm => Err("/dev/kvm cannot create a VM".to_owned()),
        Requirement::Pku if !env.identity.pku => {
            Err("CPUID.(7,0):ECX reports no usable PKU/OSPKE".to_owned())
        }
        _ => Ok(()),
    }
}

/// Runs `plan` on this host, measuring the transports and `schemes`.
///
/// # Errors
/// Only when the built-in reference profile cannot be parsed or the assembled profile fails
/// validation; measurement failures are reported in the [`RunReport`] instead.
pub fn run(
    plan: &Plan,
    schemes: &[Box<dyn IsolationScheme>],
    progress: &mut dyn Progress,
) -> Result<RunReport> {
    let started = Instant::now();
    let mut rng = Rng::new(plan.seed);
    let tool = format!(
        "calibrate {}{}",
        env!("CARGO_PKG_VERSION"),
        if plan.quick { " --quick" } else { "" }
    );
    let env = env::capture(&tool);
    let cpus = env.cpus.clone();
    let mut profile = profile::reference()?;
    profile.host = env.identity.clone();
    if let Some(name) = &plan.name {
        profile.host.name.clone_from(name);
    }

    let kinds: Vec<TransportKind> = TransportKind::ALL
        .into_iter()
        .filter(|k| plan.wants(k.id()))
        .collect();
    let wanted: Vec<&Box<dyn IsolationScheme>> = schemes
        .iter()
        .filter(|s| plan.wants(s.id().as_str()))
        .collect();
    progress.begin(plan.expected(kinds.len(), wanted.len()));
    let clock = crate::harness::WallClock::start();
    let expected = plan.expected(kinds.len(), wanted.len());
    let mut watch = interleave::Watch::new(&clock, plan, expected);

    let timer_overhead = crate::harness::timer_overhead(10_000);
    let syscall = if plan.wants("syscall") {
        progress.start("null system call (getppid)", plan.micro.budget);
        let Ok(m) = watch.block("null system call", plan.micro.budget, || {
            Ok::<_, Infallible>(micro::null_syscall(
                &plan.micro,
                plan.micro_warmup,
                &mut rng,
            ))
        });
        progress.done();
        m.value
    } else {
        None
    };
    let memcpy = if plan.wants("memcpy") || !kinds.is_empty() {
        progress.start("memcpy bandwidth (64 KiB blocks)", plan.micro.budget);
        let Ok(m) = watch.block("memcpy bandwidth", plan.micro.budget, || {
            Ok::<_, Infallible>(micro::memory_copy(&plan.micro, plan.micro_warmup, &mut rng))
        });
        progress.done();
        m.value
    } else {
        None
    };
    if let Some(m) = &memcpy {
        let s = &m.summary;
        profile.memory_copy = Some(Estimate::measured(
            NanosPerByte::new(s.median),
            NanosPerByte::new(s.lower),
            NanosPerByte::new(s.upper),
            s.confidence,
            u32::try_from(s.n).unwrap_or(u32::MAX),
            format!(
                "copy_from_slice of 64 KiB blocks (in cache), wall time / bytes; {} ({:.1} GB/s)",
                m.describe(),
                1.0 / s.median
            ),
        ));
    }

    let dispatch = if plan.wants("dispatch") || !wanted.is_empty() {
        progress.start("dispatch (reference run-queue hand-off)", plan.micro.budget);
        let Ok(m) = watch.block("dispatch", plan.micro.budget, || {
            Ok::<_, Infallible>(micro::dispatch(&plan.micro, plan.micro_warmup, &mut rng))
        });
        progress.done();
        m.value
    } else {
        None
    };
    match &dispatch {
        Some(m) => profile.dispatch = micro::dispatch_estimate(m),
        None => profile::mark_dispatch(&mut profile),
    }

    // Transports and schemes, in interleaved rounds under watch.
    let round_plan = interleave::per_round(plan);
    let rounds = plan.rounds.max(1);
    let mut transports: Vec<TransportRun> = kinds
        .iter()
        .map(|&kind| TransportRun {
            kind,
            headline: kind.headline(cpus.len()),
            unloaded: None,
            saturated: None,
            other: None,
            errors: Vec::new(),
            skipped: Vec::new(),
        })
        .collect();
    type Sweeps = [Option<SweepResult>; 3];
    let mut transport_rounds: Vec<Vec<interleave::Round<Sweeps>>> = vec![Vec::new(); kinds.len()];
    let mut scheme_rounds: Vec<Vec<interleave::Round<SchemeResult>>> =
        vec![Vec::new(); wanted.len()];
    let iso_cpu = cpus.first().copied().unwrap_or(0);
    let before_rounds = watch.log().entries().len();
    let mut rounds_done = 0;
    // The blocks the whole run keeps, once the first round has shown how many a round keeps:
    // from then on a run that can only be unusable stops between two blocks.
    let mut run_blocks: Option<usize> = None;
    let settled = |watch: &interleave::Watch, run_blocks: Option<usize>, round: u32| {
        let total = run_blocks.filter(|_| plan.stop_when_unusable)?;
        interleave::hopeless_within(watch.log(), total, round, rounds)
    };
    'rounds: for round in 1..=rounds {
        rounds_done = round;
        for (tr, per_round) in transports.iter_mut().zip(&mut transport_rounds) {
            if let Some(line) = settled(&watch, run_blocks, round) {
                progress.note(&line);
                break 'rounds;
            }
            let kind = tr.kind;
            let headline = tr.headline;
            let other_regime = match headline {
                CoreRegime::SameCore => CoreRegime::CrossCore,
                CoreRegime::CrossCore => CoreRegime::SameCore,
            };
            // A saturated storage server has a core of its own and its clients elsewhere: the
            // pipelined sweep runs cross-core whenever there are two CPUs, whatever the headline.
            let saturated_regime = if cpus.len() >= 2 {
                CoreRegime::CrossCore
            } else {
                headline
            };
            let mut got: Sweeps = [None, None, None];
            let (mut clean, mut shared) = (true, false);
            for (slot, regime, sweep_plan) in [
                (0, headline, &round_plan.headline),
                (1, saturated_regime, &round_plan.saturated),
                (2, other_regime, &round_plan.other),
            ] {
                if regime == CoreRegime::CrossCore && cpus.len() < 2 {
                    if round == 1 {
                        let line = "cross-core skipped: only one CPU is available".to_owned();
                        progress.note(&format!("{}: {line}", kind.id()));
                        tr.skipped.push(line);
                    }
                    continue;
                }
                let what = transport::label(kind, regime, sweep_plan.window);
                let step = sweep_plan.rule.budget + sweep_plan.warmup;
                let expected = step * len32(sweep_plan.sizes.len());
                let name = format!("round {round}/{rounds}: {what}");
                let r = watch.block(&name, expected, || {
                    let mut first = true;
                    let r = transport::sweep(kind, regime, &cpus, sweep_plan, &mut rng, |size| {
                        if !first {
                            progress.done();
                        }
                        first = false;
                        progress.start(&format!("{what}, {size} B (round {round}/{rounds})"), step);
                    });
                    if !first {
                        progress.done();
                    }
                    r
                });
                for line in watch.take_notes() {
                    progress.note(&line);
                }
                match r {
                    Ok(k) => {
                        clean &= k.clean;
                        shared |= k.shared;
                        got[slot] = Some(k.value);
                    }
                    Err(e) => {
                        let line = format!("{what}: {e}");
                        progress.note(&format!("round {round}/{rounds}: {line}"));
                        if !tr.errors.contains(&line) {
                            tr.errors.push(line);
                        }
                    }
                }
            }
            // The run's summary shows the sweeps of the last round of the best mark so far
            // (clean on free cores, else clean, else any); the profile combines the rounds.
            let mark = Mark::of(clean, shared);
            if per_round.iter().all(|(_, m)| *m <= mark) {
                [tr.unloaded, tr.saturated, tr.other] = got.clone();
            }
            per_round.push((got, mark));
        }

        // Isolation.
        let mut stopped = None;
        let pinned = crate::cpu::with_pinned(iso_cpu, || {
            let native = if wanted.is_empty() {
                None
            } else {
                progress.start(
                    "native compute kernel (slowdown baseline)",
                    plan.micro.budget,
                );
                let name = format!("round {round}/{rounds}: native compute kernel");
                let Ok(k) = watch.block(&name, plan.micro.budget, || {
                    Ok::<_, Infallible>(isolation::native_kernel(&round_plan.isolation, &mut rng))
                });
                progress.done();
                k.value
            };
            for (scheme, per_round) in wanted.iter().zip(&mut scheme_rounds) {
                stopped = settled(&watch, run_blocks, round);
                if stopped.is_some() {
                    break;
                }
                let id = scheme.id();
                let defaults = profile
                    .isolation
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| scheme.defaults());
                let expected =
                    round_plan.isolation.rule.budget * 4 + round_plan.isolation.cold_rule.budget;
                let name = format!("round {round}/{rounds}: scheme {id}");
                let Ok(k) = watch.block(&name, expected, || {
                    let mut started = false;
                    let mut on_op = |op: &str| {
                        if started {
                            progress.done();
                        }
                        started = true;
                        progress.start(
                            &format!("{id}: {op} (round {round}/{rounds})"),
                            round_plan.isolation.rule.budget,
                        );
                    };
                    let r = isolation::measure_scheme(
                        scheme.as_ref(),
                        defaults.clone(),
                        native.as_ref(),
                        &round_plan.isolation,
                        iso_cpu,
                        &mut rng,
                        &mut on_op,
                    );
                    if started {
                        progress.done();
                    }
                    Ok::<_, Infallible>(r)
                });
                for line in watch.take_notes() {
                    progress.note(&line);
                }
                for e in &k.value.errors {
                    progress.note(&format!("round {round}/{rounds}: scheme {id}: {e}"));
                }
                per_round.push((k.value, Mark::of(k.clean, k.shared)));
            }
        });
        if let Err(e) = pinned
            && round == 1
        {
            progress.note(&format!("isolation skipped: {e}"));
        }
        if let Some(line) = stopped {
            progress.note(&line);
            break;
        }
        if round == 1 {
            let per_round = watch.log().entries().len().saturating_sub(before_rounds);
            run_blocks = Some(before_rounds + per_round * usize::try_from(rounds).unwrap_or(1));
        }
        if plan.stop_when_unusable
            && let Some(line) = interleave::hopeless(watch.log(), before_rounds, round, rounds)
        {
            progress.note(&line);
            break;
        }
    }

    // Each round's costs that are combined (those of the item's best mark) on their own, to say
    // how far apart the rounds put them and to lend their between-round half-width to
    // coefficients left with one round.
    let mut empty = profile.clone();
    empty.transports.clear();
    empty.isolation.clear();
    let mut by_round: Vec<HostProfile> = Vec::new();
    let mut transport_costs = Vec::new();
    for (tr, per_round) in transports.iter().zip(&transport_rounds) {
        let id = TransportId::new(tr.kind.id())?;
        let Some(base) = profile.transports.get(&id).cloned() else {
            continue;
        };
        let costs: Vec<interleave::Round<TransportCosts>> = per_round
            .iter()
            .map(|([u, s, o], mark)| {
                let t = profile::transport(
                    &base,
                    &tr.kind.description(),
                    tr.headline,
                    u.as_ref(),
                    s.as_ref(),
                    o.as_ref(),
                );
                (t, *mark)
            })
            .collect();
        let best = Mark::compared(costs.iter().map(|(_, m)| *m));
        for (r, (t, mark)) in costs.iter().enumerate() {
            if Some(*mark) == best {
                round_of(&mut by_round, &empty, r)
                    .transports
                    .insert(id, t.clone());
            }
        }
        transport_costs.push((id, costs));
    }
    for per_round in &scheme_rounds {
        if let Some(Ok(id)) = per_round.first().map(|(r, _)| SchemeId::new(&r.id)) {
            let best = Mark::compared(per_round.iter().map(|(_, m)| *m));
            for (r, (res, mark)) in per_round.iter().enumerate() {
                if Some(*mark) == best {
                    round_of(&mut by_round, &empty, r)
                        .isolation
                        .insert(id, res.costs.clone());
                }
            }
        }
    }
    let marks: Vec<Vec<Mark>> = transport_costs
        .iter()
        .map(|(_, c)| c.iter().map(|(_, m)| *m).collect())
        .chain(
            scheme_rounds
                .iter()
                .map(|r| r.iter().map(|(_, m)| *m).collect()),
        )
        .collect();
    if let Some(line) = interleave::shared_rounds(&marks) {
        progress.note(&line);
    }
    let lent = crate::noise::rounds::Lent::from_rounds(&by_round);
    // The rounds combined: a point and an interval for where the next calibration lands.
    for (id, costs) in &transport_costs {
        if let Some(t) = interleave::transport(costs, lent.as_ref()) {
            profile.transports.insert(*id, t);
        }
    }
    // The micro benchmarks are measured in one block each: their intervals borrow the rounds'.
    if let Some(l) = &lent {
        profile.dispatch = l.widen(&profile.dispatch, "one block");
        if let Some(m) = &mut profile.memory_copy {
            *m = l.widen(m, "one block");
        }
    }
    for (id, t) in profile.transports.iter_mut() {
        if !kinds.iter().any(|k| k.id() == id.as_str()) {
            profile::mark_transport(t, "left out of this run");
        }
    }
    let mut scheme_results = Vec::new();
    for mut per_round in scheme_rounds {
        let costs: Vec<interleave::Round<IsolationCosts>> = per_round
            .iter()
            .map(|(r, c)| (r.costs.clone(), *c))
            .collect();
        let combined = interleave::isolation(&costs, lent.as_ref());
        let mut errors: Vec<String> = Vec::new();
        for e in per_round.iter().flat_map(|(r, _)| &r.errors) {
            if !errors.contains(e) {
                errors.push(e.clone());
            }
        }
        // The scheme's other results (errors aside) come from its last round of the best mark.
        let best = Mark::best(per_round.iter().map(|(_, m)| *m));
        let keep = per_round
            .iter()
            .rposition(|(_, m)| Some(*m) == best)
            .unwrap_or(per_round.len().saturating_sub(1));
        if keep >= per_round.len() {
            continue;
        }
        let mut r = per_round.swap_remove(keep).0;
        r.errors = errors;
        if let Some(c) = combined {
            r.costs = c;
        }
        scheme_results.push(r);
    }
    let compiled: Vec<SchemeId> = schemes.iter().map(|s| s.id()).collect();
    for r in &scheme_results {
        profile
            .isolation
            .insert(SchemeId::new(&r.id)?, r.costs.clone());
    }
    for (id, costs) in profile.isolation.iter_mut() {
        if scheme_results.iter().any(|r| r.id == id.as_str()) {
            continue;
        }
        let why = if compiled.contains(id) {
            "left out of this run"
        } else {
            "scheme not compiled into this calibrate build"
        };
        let unmet = costs
            .requirements
            .iter()
            .find_map(|r| requirement_met(r, &env).err());
        if let Some(reason) = unmet {
            costs.support = Support::Unsupported {
                reason: reason.clone(),
            };
        }
        isolation::mark_unmeasured(costs, why);
    }

    profile.scattered_access = scattered_premium(&profile);
    profile.table_access = table_curve(&profile, plan.isolation.probe_table);

    // Sanity bounds.
    let ctx = sanity::Context {
        null_syscall_ns: syscall.as_ref().map(|m| m.summary.median),
        cpu_over_wall: transports
            .iter()
            .flat_map(|t| [&t.unloaded, &t.other])
            .flatten()
            .map(|s| (s.kind.id().to_owned(), s.regime, s.window, s.cpu_over_wall))
            .collect(),
        scheme_kinds: scheme_results
            .iter()
            .map(|r| (r.id.clone(), r.kind))
            .collect(),
    };
    profile.flags = sanity::check(&profile, &ctx);
    profile.flags.extend(transport::drain_flags(&profile));
    for line in watch.take_notes() {
        progress.note(&line);
    }
    if let Some(why) = watch.log().unobservable() {
        progress.note(why);
    }
    let mut noise = watch.log().record(rounds_done);
    noise.round_spread = crate::noise::rounds::spread(&by_round);
    profile.noise = Some(noise);
    profile.validate("calibrated profile")?;
    progress.finish();
    Ok(RunReport {
        profile,
        env,
        timer_overhead,
        syscall,
        memcpy,
        transports,
        schemes: scheme_results,
        elapsed: started.elapsed(),
    })
}

/// Round `r`'s profile in `by_round`, adding copies of `empty` up to it.
fn round_of<'a>(
    by_round: &'a mut Vec<HostProfile>,
    empty: &HostProfile,
    r: usize,
) -> &'a mut HostProfile {
    if by_round.len() <= r {
        by_round.resize(r + 1, empty.clone());
    }
    &mut by_round[r]
}

/// The host's scattered-read premium: the native probe's one-record-per-scattered-key read
/// (`local_access.scattered`) less its in-run read (`local_access`), when both were measured in
/// this run. Its interval combines the two intervals' extremes.
fn scattered_premium(profile: &HostProfile) -> Option<Estimate<Nanos>> {
    let native = profile.isolation.get(&SchemeId::new("native").ok()?)?;
    let run = &native.local_access;
    let one = native.details.get("local_access.scattered")?;
    if !(run.source.is_measured() && one.source.is_measured()) {
        return None;
    }
    let point = (one.point.get() - run.point.get()).max(0.0);
    let lower = (one.lower.get() - run.upper.get()).max(0.0).min(point);
    let upper = (one.upper.get() - run.lower.get()).max(point);
    Some(Estimate {
        point: Nanos::new(point),
        lower: Nanos::new(lower),
        upper: Nanos::new(upper),
        confidence: run.confidence.min(one.confidence),
        samples: run.samples.min(one.samples),
        source: costmodel::Source::Derived {
            formula: format!(
                "native local_access.scattered ({:.1} ns, one record per scattered key) - \
                 local_access ({:.1} ns, runs of consecutive keys), intervals combined at \
                 their extremes",
                one.point.get(),
                run.point.get()
            ),
        },
    })
}

/// The native probe's table-size curve from its `local_access.table=<label>` and
/// `local_access.scattered.table=<label>` details (the probe table's scattered point is
/// `local_access.scattered`), when the probe table and at least one other table were measured
/// with both reads. Tables whose shapes coincide (records clamped to the curve's bounds) keep
/// the first.
fn table_curve(
    profile: &HostProfile,
    probe: isolation_plugins::store::TableShape,
) -> Option<costmodel::TableAccess> {
    use isolation_plugins::native::{SCATTERED_ACCESS, TABLE_ACCESS, TABLE_SCATTERED};
    use isolation_plugins::store::{CURVE_TABLES, PROBE_TABLE_READERS, curve_shape};
    let native = profile.isolation.get(&SchemeId::new("native").ok()?)?;
    let measured = |name: &str| {
        native
            .details
            .get(name)
            .filter(|e| e.source.is_measured())
            .cloned()
    };
    let point = |bytes: u64, in_run: &str, scattered: &str| {
        Some(costmodel::TablePoint {
            table_bytes: costmodel::Bytes::new(bytes as f64),
            in_run: measured(in_run)?,
            scattered: measured(scattered)?,
        })
    };
    let probe_bytes = probe.data_bytes();
    let mut points = vec![point(probe_bytes, TABLE_ACCESS[0], SCATTERED_ACCESS)?];
    // TABLE_ACCESS[1..] and TABLE_SCATTERED name CURVE_TABLES' operations, in its order.
    for (((label, aim), in_run), scattered) in CURVE_TABLES
        .iter()
        .zip(&TABLE_ACCESS[1..])
        .zip(&TABLE_SCATTERED)
    {
        debug_assert!(in_run.ends_with(label) && scattered.ends_with(label));
        let bytes = curve_shape(*aim, probe.record_bytes).data_bytes();
        if points.iter().any(|p| p.table_bytes.get() == bytes as f64) {
            continue;
        }
        if let Some(p) = point(bytes, in_run, scattered) {
            points.push(p);
        }
    }
    if points.len() < 2 {
        return None;
    }
    points.sort_by(|a, b| a.table_bytes.get().total_cmp(&b.table_bytes.get()));
    Some(costmodel::TableAccess {
        probe_table_bytes: costmodel::Bytes::new(probe_bytes as f64),
        schemes: PROBE_TABLE_READERS
            .iter()
            .filter_map(|s| SchemeId::new(s).ok())
            .filter(|s| profile.isolation.contains_key(s))
            .collect(),
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A tiny real run of one transport and no schemes: the profile validates, the transport is
    // measured, everything else keeps marked literature values.
    #[test]
    fn a_tiny_run_produces_a_valid_marked_profile() {
        let mut p = Plan::quick();
        p.only = Some(vec!["unix".to_owned()]);
        for s in [&mut p.headline, &mut p.saturated, &mut p.other] {
            s.sizes = vec![16, 1024];
            s.rule.max_samples = 3;
            s.rule.min_samples = 3;
            s.warmup = Duration::from_millis(1);
            s.sample_time = Duration::from_micros(300);
            s.fit_resamples = 20;
        }
        p.cap = Duration::from_secs(3);
        // Every round, however busy the test host is.
        p.stop_when_unusable = false;
        let r = run(&p, &[], &mut Silent).unwrap();
        let noise = r.profile.noise.as_ref().unwrap();
        assert_eq!(noise.rounds, p.rounds);
        // memcpy once, and at least one sweep in each round.
        assert!(noise.blocks > p.rounds, "{}", noise.blocks);
        eprintln!("tiny run noise: {}", noise.summary());
        let unix = &r.profile.transports[&TransportId::new("unix").unwrap()];
        assert!(unix.unloaded.server.per_request.source.is_measured());
        let tcp = &r.profile.transports[&TransportId::new("tcp").unwrap()];
        assert!(
            tcp.unloaded
                .server
                .per_request
                .source
                .detail()
                .starts_with("not measured")
        );
        let mpk = &r.profile.isolation[&SchemeId::new("mpk").unwrap()];
        assert!(mpk.warm_invoke.source.detail().starts_with("not measured"));
        if !r.env.identity.pku {
            assert!(!mpk.support.is_supported());
        }
        let text = r.profile.to_ron();
        HostProfile::from_ron(&text, "round trip").unwrap();
    }

    fn measured(v: f64) -> costmodel::Estimate<costmodel::Nanos> {
        let mut e = costmodel::Estimate::cited(costmodel::Nanos::new(v), "-");
        e.source = costmodel::Source::Measured {
            method: "test".to_owned(),
        };
        e
    }

    #[test]
    fn the_table_curve_is_built_from_the_native_details_sorted_by_size() {
        use isolation_plugins::store::TableShape;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/hosts/reference.ron"
        );
        let mut host = HostProfile::load(path).unwrap();
        let native = SchemeId::new("native").unwrap();
        let details = &mut host.isolation.get_mut(&native).unwrap().details;
        details.insert("local_access.table=probe".to_owned(), measured(170.0));
        details.insert("local_access.scattered".to_owned(), measured(400.0));
        // Only the read in runs of the 4 MiB table: that table has no point.
        details.insert("local_access.table=4MiB".to_owned(), measured(50.0));
        for (label, run, sc) in [("1MiB", 40.0, 60.0), ("128MiB", 290.0, 510.0)] {
            details.insert(format!("local_access.table={label}"), measured(run));
            details.insert(
                format!("local_access.scattered.table={label}"),
                measured(sc),
            );
        }
        let t = table_curve(&host, TableShape::DEFAULT).unwrap();
        let sizes: Vec<f64> = t.points.iter().map(|p| p.table_bytes.get()).collect();
        assert_eq!(sizes, [1_048_576.0, 33_554_432.0, 134_217_728.0]);
        assert_eq!(t.probe_table_bytes.get(), 33_554_432.0);
        assert_eq!(t.points[1].scattered.point.get(), 400.0);
        assert!(t.schemes.contains(&native));
        assert!(!t.schemes.contains(&SchemeId::new("vm").unwrap()));
        host.table_access = Some(t);
        host.validate("test").unwrap();

        // A literature value is not a measurement: no probe point, no curve.
        let details = &mut host.isolation.get_mut(&native).unwrap().details;
        details.insert(
            "local_access.table=probe".to_owned(),
            costmodel::Estimate::cited(costmodel::Nanos::new(170.0), "cited"),
        );
        assert!(table_curve(&host, TableShape::DEFAULT).is_none());
    }
}
