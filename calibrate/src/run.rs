//! A calibration run: the plan (what to measure, with which budget) and the orchestration.
//!
//! Order: environment, clock overhead and null system call, memory-copy bandwidth, each
//! transport (headline ping-pong sweep, pipelined sweep, ping-pong in the other core placement),
//! then each compiled-in isolation scheme. Every stage is independent: a stage that fails is
//! reported and the profile keeps the cited default for what it would have measured.

use std::time::{Duration, Instant};

use costmodel::{
    CoreRegime, Estimate, HostProfile, IsolationScheme, Nanos, NanosPerByte, Requirement, SchemeId,
    Support, TransportId,
};

use crate::env::{self, Environment};
use crate::error::{CalibrateError, Result};
use crate::harness::{Measurement, StopRule};
use crate::isolation::{self, IsolationPlan, SchemeResult};
use crate::micro;
use crate::profile;
use crate::sanity;
use crate::stats::Rng;
use crate::transport::{self, SweepPlan, SweepResult, TransportKind};

/// What to measure and how long to spend on it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// True for the quick budget.
    pub quick: bool,
    /// Only these transport and scheme ids (and `memcpy`, `syscall`), when set.
    pub only: Option<Vec<String>>,
    /// Ping-pong sweep in the headline core placement.
    pub headline: SweepPlan,
    /// Pipelined sweep (saturated server).
    pub saturated: SweepPlan,
    /// Ping-pong sweep in the other core placement.
    pub other: SweepPlan,
    /// Isolation probes.
    pub isolation: IsolationPlan,
    /// Copy and system-call benchmarks.
    pub micro: StopRule,
    /// Warm-up of the micro benchmarks.
    pub micro_warmup: Duration,
    /// Machine-kind name to record instead of the detected one.
    pub name: Option<String>,
    /// Seed of the bootstrap generator.
    pub seed: u64,
}

/// Pipelining window of the saturated regime.
pub const SATURATED_WINDOW: u32 = 32;

impl Plan {
    /// The standard budget (a full run: under two minutes on a 2-core VM).
    pub fn standard() -> Self {
        let rule = StopRule {
            min_samples: 15,
            max_samples: 100,
            target_rel_half_width: 0.01,
            budget: Duration::from_millis(450),
            confidence: 0.95,
            resamples: 1_000,
        };
        Self::with(
            false,
            rule,
            Duration::from_millis(40),
            Duration::from_millis(4),
            [
                vec![16, 64, 256, 1024, 4096, 16_384, 32_768, 65_536],
                vec![16, 256, 1024, 4096],
                vec![16, 1024, 16_384, 65_536],
            ],
            400,
        )
    }

    /// The quick budget (under 30 s on a 2-core VM).
    pub fn quick() -> Self {
        let rule = StopRule {
            min_samples: 7,
            max_samples: 40,
            target_rel_half_width: 0.03,
            budget: Duration::from_millis(150),
            confidence: 0.95,
            resamples: 500,
        };
        Self::with(
            true,
            rule,
            Duration::from_millis(15),
            Duration::from_millis(2),
            [
                vec![16, 256, 4096, 16_384, 65_536],
                vec![16, 1024, 4096],
                vec![16, 4096, 65_536],
            ],
            200,
        )
    }

    fn with(
        quick: bool,
        rule: StopRule,
        warmup: Duration,
        sample_time: Duration,
        [headline, saturated, other]: [Vec<usize>; 3],
        fit_resamples: usize,
    ) -> Self {
        let sweep = |sizes: Vec<usize>, window: u32| SweepPlan {
            sizes,
            window,
            rule,
            warmup,
            sample_time,
            fit_resamples,
        };
        let cold_rule = StopRule {
            min_samples: 5,
            max_samples: 300,
            budget: rule.budget * 2,
            ..rule
        };
        Plan {
            quick,
            only: None,
            headline: sweep(headline, 1),
            saturated: sweep(saturated, SATURATED_WINDOW),
            other: sweep(other, 1),
            isolation: IsolationPlan {
                rule,
                cold_rule,
                warmup,
                sample_time: sample_time / 2,
            },
            micro: rule,
            micro_warmup: warmup,
            name: None,
            seed: 0x00ca_11b2_a7e5,
        }
    }

    /// True when `id` is to be measured.
    pub fn wants(&self, id: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == id))
    }

    /// Checks `--only` ids against what this build can measure.
    ///
    /// # Errors
    /// [`CalibrateError::BadOption`] naming the unknown ids and the known ones.
    pub fn check_only(&self, scheme_ids: &[String]) -> Result<()> {
        let Some(only) = &self.only else {
            return Ok(());
        };
        let mut known: Vec<String> = TransportKind::ALL
            .iter()
            .map(|k| k.id().to_owned())
            .chain(scheme_ids.iter().cloned())
            .chain(["memcpy".to_owned(), "syscall".to_owned()])
            .collect();
        known.dedup();
        let unknown: Vec<&String> = only.iter().filter(|x| !known.contains(x)).collect();
        if unknown.is_empty() && !only.is_empty() {
            return Ok(());
        }
        Err(CalibrateError::BadOption {
            option: "--only",
            message: format!(
                "unknown id(s) {}; known in this build: {}",
                if only.is_empty() {
                    "(none given)".to_owned()
                } else {
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                known.join(", ")
            ),
        })
    }

    /// Time the plan expects to spend, roughly (for the progress bar's ETA).
    pub fn expected(&self, transports: usize, schemes: usize) -> Duration {
        let sweep = |p: &SweepPlan| (p.rule.budget + p.warmup) * len32(p.sizes.len());
        let per_transport = sweep(&self.headline) + sweep(&self.saturated) + sweep(&self.other);
        let per_scheme = self.isolation.rule.budget * 4 + self.isolation.cold_rule.budget;
        per_transport * len32(transports) + per_scheme * len32(schemes) + self.micro.budget * 2
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

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
    profile::mark_dispatch(&mut profile);

    let kinds: Vec<TransportKind> = TransportKind::ALL
        .into_iter()
        .filter(|k| plan.wants(k.id()))
        .collect();
    let wanted: Vec<&Box<dyn IsolationScheme>> = schemes
        .iter()
        .filter(|s| plan.wants(s.id().as_str()))
        .collect();
    progress.begin(plan.expected(kinds.len(), wanted.len()));

    let timer_overhead = crate::harness::timer_overhead(10_000);
    let syscall = if plan.wants("syscall") {
        progress.start("null system call (getppid)", plan.micro.budget);
        let m = micro::null_syscall(&plan.micro, plan.micro_warmup, &mut rng);
        progress.done();
        m
    } else {
        None
    };
    let memcpy = if plan.wants("memcpy") || !kinds.is_empty() {
        progress.start("memcpy bandwidth (64 KiB blocks)", plan.micro.budget);
        let m = micro::memory_copy(&plan.micro, plan.micro_warmup, &mut rng);
        progress.done();
        m
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

    // Transports.
    let mut transports = Vec::new();
    for &kind in &kinds {
        let headline = kind.headline(cpus.len());
        let other_regime = match headline {
            CoreRegime::SameCore => CoreRegime::CrossCore,
            CoreRegime::CrossCore => CoreRegime::SameCore,
        };
        let mut tr = TransportRun {
            kind,
            headline,
            unloaded: None,
            saturated: None,
            other: None,
            errors: Vec::new(),
            skipped: Vec::new(),
        };
        // A saturated storage server has a core of its own and its clients elsewhere: the
        // pipelined sweep runs cross-core whenever there are two CPUs, whatever the headline.
        let saturated_regime = if cpus.len() >= 2 {
            CoreRegime::CrossCore
        } else {
            headline
        };
        for (slot, regime, sweep_plan) in [
            (0, headline, &plan.headline),
            (1, saturated_regime, &plan.saturated),
            (2, other_regime, &plan.other),
        ] {
            if regime == CoreRegime::CrossCore && cpus.len() < 2 {
                let line = "cross-core skipped: only one CPU is available".to_owned();
                progress.note(&format!("{}: {line}", kind.id()));
                tr.skipped.push(line);
                continue;
            }
            let what = transport::label(kind, regime, sweep_plan.window);
            let mut first = true;
            let r = transport::sweep(kind, regime, &cpus, sweep_plan, &mut rng, |size| {
                if !first {
                    progress.done();
                }
                first = false;
                progress.start(
                    &format!("{what}, {size} B"),
                    sweep_plan.rule.budget + sweep_plan.warmup,
                );
            });
            if !first {
                progress.done();
            }
            match r {
                Ok(s) => match slot {
                    0 => tr.unloaded = Some(s),
                    1 => tr.saturated = Some(s),
                    _ => tr.other = Some(s),
                },
                Err(e) => {
                    progress.note(&format!("{what}: {e}"));
                    tr.errors.push(format!("{what}: {e}"));
                }
            }
        }
        transports.push(tr);
    }
    for tr in &transports {
        let id = TransportId::new(tr.kind.id())?;
        let base = match profile.transports.get(&id) {
            Some(b) => b.clone(),
            None => continue,
        };
        let t = profile::transport(
            &base,
            tr.kind.description(),
            tr.headline,
            tr.unloaded.as_ref(),
            tr.saturated.as_ref(),
            tr.other.as_ref(),
        );
        profile.transports.insert(id, t);
    }
    for (id, t) in profile.transports.iter_mut() {
        if !kinds.iter().any(|k| k.id() == id.as_str()) {
            profile::mark_transport(t, "left out of this run");
        }
    }

    // Isolation.
    let mut scheme_results = Vec::new();
    let iso_cpu = cpus.first().copied().unwrap_or(0);
    let pinned = crate::cpu::with_pinned(iso_cpu, || {
        let native = if wanted.is_empty() {
            None
        } else {
            progress.start(
                "native compute kernel (slowdown baseline)",
                plan.micro.budget,
            );
            let n = isolation::native_kernel(&plan.isolation, &mut rng);
            progress.done();
            n
        };
        for scheme in &wanted {
            let id = scheme.id();
            let defaults = profile
                .isolation
                .get(&id)
                .cloned()
                .unwrap_or_else(|| scheme.defaults());
            let mut started = false;
            let mut on_op = |op: &str| {
                if started {
                    progress.done();
                }
                started = true;
                progress.start(&format!("{id}: {op}"), plan.isolation.rule.budget);
            };
            let r = isolation::measure_scheme(
                scheme.as_ref(),
                defaults,
                native.as_ref(),
                &plan.isolation,
                iso_cpu,
                &mut rng,
                &mut on_op,
            );
            if started {
                progress.done();
            }
            for e in &r.errors {
                progress.note(&format!("scheme {id}: {e}"));
            }
            scheme_results.push(r);
        }
    });
    if let Err(e) = pinned {
        progress.note(&format!("isolation skipped: {e}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accepts_known_ids_and_names_unknown_ones() {
        let mut p = Plan::quick();
        p.only = Some(vec!["tcp".to_owned(), "wasm".to_owned()]);
        assert!(p.check_only(&["wasm".to_owned()]).is_ok());
        let e = p.check_only(&[]).unwrap_err().to_string();
        assert!(
            e.contains("--only") && e.contains("wasm") && e.contains("tcp, udp"),
            "{e}"
        );
        assert!(p.wants("tcp") && !p.wants("udp"));
    }

    #[test]
    fn quick_plan_expects_less_than_half_a_minute() {
        let p = Plan::quick();
        assert!(
            p.expected(4, 6) < Duration::from_secs(30),
            "{:?}",
            p.expected(4, 6)
        );
        assert!(Plan::standard().expected(4, 6) < Duration::from_secs(120));
    }

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
        let r = run(&p, &[], &mut Silent).unwrap();
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
}
