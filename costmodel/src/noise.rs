//! `NoiseRecord`: how quiet the host was while a profile was measured.
//!
//! A calibration on a shared machine (a cloud VM, a build box) competes with other work: the
//! hypervisor runs other guests on this guest's CPUs (**steal**, `/proc/stat`), and other
//! processes of this guest take CPU from the measured threads. Either inflates what a probe
//! measures, in bursts. The harness records both per sample block, redoes blocks that crossed a
//! threshold, and stores what it saw here, beside the estimates, with a grade a reader can act
//! on: a profile graded `unusable` describes the noise, not the host.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::units::PerSecond;
use crate::validate::Check;

/// How quiet the host was over a calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseGrade {
    /// Every block kept was below the thresholds, and few had to be redone.
    Quiet,
    /// Some blocks were contaminated or redone often; the numbers stand, with wider intervals.
    Noisy,
    /// Too many blocks were contaminated even after redoing them: the numbers describe the
    /// noise, not the host.
    Unusable,
}

impl NoiseGrade {
    /// The grade as files spell it (`quiet`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoiseGrade::Quiet => "quiet",
            NoiseGrade::Noisy => "noisy",
            NoiseGrade::Unusable => "unusable",
        }
    }
}

impl std::fmt::Display for NoiseGrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The median and the largest value of a per-block figure, in cores (CPU seconds per second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseStat {
    /// Median over the blocks kept.
    pub median: f64,
    /// Largest over every block, redone ones included.
    pub max: f64,
}

/// A block that was measured again, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redo {
    /// The block (`round 2: tcp same-core ping-pong`).
    pub block: String,
    /// What crossed which threshold (`steal 0.31 cores > 0.10`).
    pub reason: String,
}

/// What else used the CPU while a profile was measured. See the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseRecord {
    /// The run's grade.
    pub grade: NoiseGrade,
    /// Interleaved rounds the run measured every transport and scheme in.
    pub rounds: u32,
    /// Sample blocks kept (one per measured item and round).
    pub blocks: u32,
    /// Blocks measured again because they crossed a threshold.
    pub redone: u32,
    /// Blocks kept although over a threshold (no time left to redo, or every try was).
    pub contaminated: u32,
    /// Steal per block, in cores.
    pub steal_cores: NoiseStat,
    /// Other processes' CPU per block, in cores.
    pub other_cpu_cores: NoiseStat,
    /// Involuntary context switches of the measured threads per second, median over blocks.
    pub involuntary_switches_per_s: PerSecond,
    /// Steal above this (cores) contaminates a block.
    pub steal_threshold: f64,
    /// Other processes' CPU above this (cores) contaminates a block.
    pub other_cpu_threshold: f64,
    /// Every redo, in order.
    #[serde(default)]
    pub redos: Vec<Redo>,
    /// The machine state the blocks were held to, when it was watched (absent in profiles
    /// written before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_state: Option<CoreState>,
    /// How fast the host ran the reference kernel over the run, per CPU timed (absent in
    /// profiles written before it was timed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speed: Vec<CpuSpeed>,
    /// How far apart the run's interleaved rounds put its coefficients (absent in profiles
    /// written before it was recorded, and in runs of one round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_spread: Option<RoundSpread>,
    /// How often the run's cores read shared with another guest around its blocks (absent in
    /// profiles written before it was recorded, and where it was not watched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_cores: Option<SharedCores>,
}

/// How often a run's cores were shared with another guest: a wide kernel (eight independent
/// multiply chains) timed on each CPU before and after every block, against the run's fastest
/// timing on that CPU. A hyperthread beside a vCPU busy with another guest shows in neither
/// steal nor the reference kernel (a dependent chain), and slows wider code: on the 2-vCPU
/// Xeon VM the wide kernel read 2.67 ns a round in some spells and 2.75-3.35 ns in others,
/// seconds to tens of seconds long, while a hash lookup and small allocation took 22-25 ns in
/// the first and 31-46 ns in the second (`calibrate::noise::sibling`). A calibration records
/// it and does not redo blocks for it unless asked (holding blocks to the free state left a
/// quick calibration there with 20 of 60 blocks over it after three tries each). A run whose
/// cores read shared in most of its blocks ([`SharedCores::mostly_shared`]) is graded noisy at
/// best, and a storage sweep gives no figure from such a run or against one, nor against a
/// calibration whose cores ran at another speed ([`CoresCheck`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedCores {
    /// Blocks timed.
    pub blocks: u32,
    /// Blocks with a timing over `factor` times the run's fastest on its CPU.
    pub shared: u32,
    /// Median over the blocks of their slowest timing against the fastest (at least 1).
    pub median: f64,
    /// The slowest (at least the median).
    pub max: f64,
    /// The factor a timing was judged by (over 1).
    pub factor: f64,
    /// Whether the run held its blocks to free cores, a block over the factor redone once they
    /// read free (`calibrate run --hold-free-cores`); a storage sweep scoring the profile then
    /// holds its own (absent, false, in records of runs that only recorded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// The median over the blocks of their slowest wide-kernel timing, ns per round: the same
    /// reading as `median`, on one scale for every run, so a sweep's cores can be set beside the
    /// calibration's that priced it ([`NoiseRecord::cores_against`]). Absent in records written
    /// before 2026-12-04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_ns: Option<f64>,
    /// The fastest of those timings, ns per round (absent with `median_ns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fastest_ns: Option<f64>,
}

impl SharedCores {
    /// How far apart two runs' median wide-kernel timings ([`SharedCores::median_ns`]) may be
    /// and still have run on one core: the factor a single timing is judged shared by
    /// (`calibrate::noise::sibling::FACTOR`: the uncontended timing varies under 0.5%,
    /// contention added 3-25%), and the five points the fidelity figure is asked to stay within.
    /// Set on 2026-12-04 before any sweep was scored against it, not from fidelity results.
    pub const FACTOR: f64 = 1.05;

    /// Whether the cores read shared in more than half the run's blocks: the machine measured
    /// was, most of the time, one whose speed another guest set, from block to block (on the
    /// 2-vCPU EPYC VM, 1.00-1.47x within one calibration, its rounds then 1.3-1.6x apart on the
    /// median coefficient against 1.1x on free cores). The rule is the factor a block is judged
    /// shared by, applied to the majority of blocks; no threshold of its own was fitted.
    pub fn mostly_shared(&self) -> bool {
        u64::from(self.shared) * 2 > u64::from(self.blocks)
    }

    /// `cores shared around 31 of 98 blocks (wide kernel over 1.05x the run's fastest;
    /// median 1.02x, max 1.17x; 2.731 ns/round at the median, 2.671 at the fastest)`.
    pub fn describe(&self) -> String {
        let ns = match (self.median_ns, self.fastest_ns) {
            (Some(m), Some(f)) => format!("; {m:.3} ns/round at the median, {f:.3} at the fastest"),
            (Some(m), None) => format!("; {m:.3} ns/round at the median"),
            _ => String::new(),
        };
        format!(
            "cores shared around {} of {} blocks (wide kernel over {:.2}x the run's fastest; \
             median {:.2}x, max {:.2}x{ns}){}",
            self.shared,
            self.blocks,
            self.factor,
            self.median,
            self.max,
            if self.held {
                "; held to free cores"
            } else {
                ""
            }
        )
    }
}

/// How far apart a run's interleaved rounds, seconds apart, put its coefficients: for every
/// transport and scheme coefficient measured (positive) in two or more of the rounds the run
/// combines (clean ones, on free cores where there are any), the largest round's value over the
/// smallest; over those coefficients, the median and the 75th percentile.
///
/// Reported beside the grade, not judged. The grade sees steal and other processes; a host
/// whose neighbours load its memory or whose wake-ups swing shows here instead. Read back from
/// the 21 profiles committed before 2026-12-03 (19 graded quiet, 2 noisy), the median was
/// 1.01-1.07x in 20 and 1.29x in one EPYC batch graded quiet, and 1.23-1.48x in ten profiles
/// from an Intel Xeon VM whose storage sweeps then missed by 8-52% while graded quiet in most
/// runs (`calibrate/results/repeatability/vm-2cpu-xeon-2026-12-03.txt`). Within those ten it
/// did not tell the good runs from the bad, and no threshold has been set from hosts it was not
/// seen on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSpread {
    /// Coefficients compared.
    pub coefficients: u32,
    /// Median over them of largest round over smallest (at least 1).
    pub median: f64,
    /// 75th percentile of the same (at least the median).
    pub p75: f64,
}

impl RoundSpread {
    /// `rounds 1.42x apart (median over 139 coefficients; 75th percentile 1.80x)`.
    pub fn describe(&self) -> String {
        format!(
            "rounds {:.2}x apart (median over {} coefficients; 75th percentile {:.2}x)",
            self.median, self.coefficients, self.p75
        )
    }
}

/// How fast one CPU ran the reference kernel ([`crate::kernel::fnv1a_rounds`] over
/// [`crate::kernel::input`]) while a run measured: a timing of a few milliseconds at the start
/// of each block, on each CPU in turn.
///
/// A VM's host can slow the guest without any steal: on the 2-vCPU EPYC VM one quick storage
/// sweep's points without compute read 1.2-1.5x the server CPU of the sweep a minute before it,
/// with steal and other processes at zero, and the next sweep timed the kernel on the server's
/// CPU at 432 ns per round against 351-362 in the sweeps before. The record says at what speed
/// a profile was measured, and a later run compared with it ([`NoiseRecord::speed_against`])
/// says whether it ran at the same one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSpeed {
    /// The CPU timed.
    pub cpu: u32,
    /// Mean over the run's timings, ns per kernel round.
    pub ns_per_round: f64,
    /// Fastest timing, ns per round.
    pub min: f64,
    /// Slowest timing, ns per round.
    pub max: f64,
    /// Timings taken.
    pub timings: u32,
    /// Dependent loads over a table of 16 MiB, timed with the kernel (absent in records
    /// written before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryLatency>,
}

/// The time of one dependent load over a table of 16 MiB (a pointer chase in a random cycle of
/// cache lines), timed with the kernel on the same CPU: over the same timings, the mean, the
/// fastest and the slowest, ns per load.
///
/// Reported beside the kernel, not judged: over 45 quick storage sweeps of one profile in a row
/// (2026-12-03) the sweep's server CPU per invocation, relative to each point's median, moved
/// 0.90-1.11x from sweep to sweep; its correlation with this latency timed before each block
/// was 0.76 (130-166 ns a load), with the kernel's mean -0.01, and with a same-thread pipe
/// write and read 0.16. The storage server's work is memory-bound and the kernel's is not. How
/// far apart two runs' latencies may be and still hold one profile is not measured yet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLatency {
    /// Mean, ns per load.
    pub ns_per_load: f64,
    /// Fastest timing, ns per load.
    pub min: f64,
    /// Slowest timing, ns per load.
    pub max: f64,
}

impl CpuSpeed {
    /// How far apart two runs' means may be and still be one speed. Set from the kernel's own
    /// timings, not from any fidelity result: one timing on the EPYC VM reads about 347 or
    /// about 414 ns per round (the host alternates the two every few tens of milliseconds), and
    /// the means of 40 quick storage sweeps in a row (2026-12-03, one profile, 48 timings each,
    /// the 33 scored of them within 6.4-12.4%; the four fastest means in sweeps that left the
    /// profile's machine state) read 353.7-426.2, 1.20x apart; 1.25 is beyond that. So it flags a host
    /// slowed (or sped up) by a quarter or more; a smaller change it does not, nor a slowdown of
    /// the network path that leaves the kernel alone (a sweep whose server CPU per request read
    /// 1.4x while the kernel read 1.04x).
    pub const FACTOR: f64 = 1.25;

    /// `cpu 1: 351.4 ns/round (25 timings, 345.7 .. 408.4); memory 141.2 ns/load (130.3 ..
    /// 166.0)`.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "cpu {}: {:.1} ns/round ({} timings, {:.1} .. {:.1})",
            self.cpu, self.ns_per_round, self.timings, self.min, self.max
        );
        if let Some(m) = &self.memory {
            out.push_str(&format!(
                "; memory {:.1} ns/load ({:.1} .. {:.1})",
                m.ns_per_load, m.min, m.max
            ));
        }
        out
    }
}

/// Whether `ratio` (one reading over another) is within `factor` either way: at most `factor`
/// and at least its inverse.
pub fn within_either_way(ratio: f64, factor: f64) -> bool {
    (1.0 / factor..=factor).contains(&ratio)
}

/// One run's speed against another's on a CPU both timed ([`NoiseRecord::speed_against`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeedCheck {
    /// The CPU compared.
    pub cpu: u32,
    /// This run's mean, ns per round.
    pub this: f64,
    /// The reference run's mean, ns per round.
    pub reference: f64,
    /// The two runs' memory latencies on that CPU (this, reference), ns per load, when both
    /// timed it ([`MemoryLatency`]: reported, not judged).
    pub memory: Option<(f64, f64)>,
}

impl SpeedCheck {
    /// This run's time per round over the reference's (above 1: this run ran slower).
    pub fn ratio(&self) -> f64 {
        self.this / self.reference
    }

    /// Whether the two ran at one speed: within [`CpuSpeed::FACTOR`] either way.
    pub fn holds(&self) -> bool {
        within_either_way(self.ratio(), CpuSpeed::FACTOR)
    }

    /// `the host ran 1.23x slower than the reference (kernel 432.3 against 351.4 ns/round on
    /// cpu 1)`.
    pub fn describe(&self) -> String {
        let r = self.ratio();
        let how = if (r - 1.0).abs() < 0.005 {
            "at the reference's speed".to_owned()
        } else if r > 1.0 {
            format!("{r:.2}x slower than the reference")
        } else {
            format!("{:.2}x faster than the reference", 1.0 / r)
        };
        let memory = self.memory.map_or(String::new(), |(a, b)| {
            format!(
                "; memory latency {a:.1} against {b:.1} ns/load, {:.2}x",
                a / b
            )
        });
        format!(
            "the host ran {how} (kernel {:.1} against {:.1} ns/round on cpu {}{memory})",
            self.this, self.reference, self.cpu
        )
    }
}

/// One run's cores against another's ([`NoiseRecord::cores_against`]): the median over each
/// run's blocks of the wide kernel's slowest timing around the block.
///
/// A storage sweep measured on cores shared more than the calibration that priced it measures
/// a slower machine than the one priced, in neither steal nor the reference kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoresCheck {
    /// This run's median, ns per round.
    pub this: f64,
    /// The reference run's median, ns per round.
    pub reference: f64,
}

impl CoresCheck {
    /// This run's median over the reference's (above 1: this run's cores were slower).
    pub fn ratio(&self) -> f64 {
        self.this / self.reference
    }

    /// Whether the two ran on one core: within [`SharedCores::FACTOR`] either way.
    pub fn holds(&self) -> bool {
        within_either_way(self.ratio(), SharedCores::FACTOR)
    }

    /// `the cores ran 1.11x slower than the reference's (wide kernel median 2.963 against
    /// 2.671 ns/round)`.
    pub fn describe(&self) -> String {
        let r = self.ratio();
        let how = if (r - 1.0).abs() < 0.005 {
            "as fast as the reference's".to_owned()
        } else if r > 1.0 {
            format!("{r:.2}x slower than the reference's")
        } else {
            format!("{:.2}x faster than the reference's", 1.0 / r)
        };
        format!(
            "the cores ran {how} (wide kernel median {:.3} against {:.3} ns/round)",
            self.this, self.reference
        )
    }
}

/// The machine state a run's blocks were held to: the round trip of one cache line between two
/// CPUs, each spinning on it.
///
/// On the 2-vCPU VMs this project runs on, the host moves the two vCPUs between nearby and
/// distant physical cores (on AMD EPYC, one L3 complex or two): the round trip reads about
/// 85 ns or about 375 ns, dwelling seconds to tens of seconds in each. Everything that crosses
/// cores moves with it (a cross-core request costs about twice as much in the distant state;
/// same-core work does not move), while steal and other processes' CPU show nothing. A
/// profile's cross-core coefficients hold in the state it records.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreState {
    /// The two CPUs the probe ran on (the cross-core measurements' client and server CPUs).
    pub cpus: [u32; 2],
    /// The state's round trip, ns.
    pub round_trip_ns: f64,
}

impl CoreState {
    /// How far apart two round trips may be and still be one state. Set from the probe's own
    /// readings, not from any fidelity result: on the 2-vCPU EPYC VM the near state read
    /// 38-90 ns and the far one 270-410 ns over a few hundred readings, so within 2.5x keeps
    /// each cluster together (90/38 = 2.4) and the two apart (270/90 = 3.0) whichever reading
    /// a run starts from.
    pub const FACTOR: f64 = 2.5;

    /// Whether `round_trip_ns` is in this state: within [`CoreState::FACTOR`] of it either way.
    pub fn holds(&self, round_trip_ns: f64) -> bool {
        (self.round_trip_ns / Self::FACTOR..=self.round_trip_ns * Self::FACTOR)
            .contains(&round_trip_ns)
    }

    /// Whether `other` is the same state on the same CPUs.
    pub fn same_as(&self, other: &CoreState) -> bool {
        self.cpus == other.cpus && self.holds(other.round_trip_ns)
    }

    /// `cpus 0-1: cache-line round trip 84 ns`.
    pub fn describe(&self) -> String {
        format!(
            "cpus {}-{}: cache-line round trip {:.0} ns",
            self.cpus[0], self.cpus[1], self.round_trip_ns
        )
    }
}

impl NoiseRecord {
    /// Validates every number, naming the field on error.
    pub(crate) fn check(&self, c: &mut Check<'_>) -> Result<()> {
        for (name, v) in [
            ("steal_cores.median", self.steal_cores.median),
            ("steal_cores.max", self.steal_cores.max),
            ("other_cpu_cores.median", self.other_cpu_cores.median),
            ("other_cpu_cores.max", self.other_cpu_cores.max),
            (
                "involuntary_switches_per_s",
                self.involuntary_switches_per_s.get(),
            ),
            ("steal_threshold", self.steal_threshold),
            ("other_cpu_threshold", self.other_cpu_threshold),
        ] {
            c.non_negative(name, v)?;
        }
        if let Some(state) = &self.core_state {
            let v = state.round_trip_ns;
            if !(v.is_finite() && v > 0.0) {
                return Err(c.fail(
                    "core_state.round_trip_ns",
                    format!("must be a positive number of ns, got {v}"),
                ));
            }
            if state.cpus[0] == state.cpus[1] {
                return Err(c.fail(
                    "core_state.cpus",
                    format!("must be two different CPUs, got {:?}", state.cpus),
                ));
            }
        }
        for (i, sp) in self.speed.iter().enumerate() {
            check_timing(
                c,
                &format!("speed[{i}]"),
                ("ns_per_round", "ns per round"),
                [sp.ns_per_round, sp.min, sp.max],
            )?;
            if let Some(m) = &sp.memory {
                check_timing(
                    c,
                    &format!("speed[{i}].memory"),
                    ("ns_per_load", "ns per load"),
                    [m.ns_per_load, m.min, m.max],
                )?;
            }
            if sp.timings == 0 {
                return Err(c.fail(&format!("speed[{i}].timings"), "must be at least 1, got 0"));
            }
            if self.speed[..i].iter().any(|o| o.cpu == sp.cpu) {
                return Err(c.fail(
                    &format!("speed[{i}].cpu"),
                    format!("cpu {} is listed twice", sp.cpu),
                ));
            }
        }
        if let Some(r) = &self.round_spread {
            for (name, v) in [
                ("round_spread.median", r.median),
                ("round_spread.p75", r.p75),
            ] {
                if !(v.is_finite() && v >= 1.0) {
                    return Err(c.fail(
                        name,
                        format!(
                            "must be a ratio of at least 1 (largest round over smallest), got {v}"
                        ),
                    ));
                }
            }
            if r.p75 < r.median {
                return Err(c.fail(
                    "round_spread.p75",
                    format!("must be at least the median ({}), got {}", r.median, r.p75),
                ));
            }
            if r.coefficients == 0 {
                return Err(c.fail("round_spread.coefficients", "must be at least 1, got 0"));
            }
        }
        if let Some(sc) = &self.shared_cores {
            for (name, v) in [
                ("shared_cores.median", sc.median),
                ("shared_cores.max", sc.max),
            ] {
                if !(v.is_finite() && v >= 1.0) {
                    return Err(c.fail(
                        name,
                        format!("must be a ratio of at least 1 (timing over the fastest), got {v}"),
                    ));
                }
            }
            if sc.max < sc.median {
                return Err(c.fail(
                    "shared_cores.max",
                    format!(
                        "must be at least the median ({}), got {}",
                        sc.median, sc.max
                    ),
                ));
            }
            if !(sc.factor.is_finite() && sc.factor > 1.0) {
                return Err(c.fail(
                    "shared_cores.factor",
                    format!("must be a ratio over 1, got {}", sc.factor),
                ));
            }
            for (name, v) in [
                ("shared_cores.median_ns", sc.median_ns),
                ("shared_cores.fastest_ns", sc.fastest_ns),
            ] {
                if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(c.fail(
                        name,
                        format!("must be a positive timing in ns per round, got {v}"),
                    ));
                }
            }
            if let (Some(m), Some(f)) = (sc.median_ns, sc.fastest_ns)
                && f > m
            {
                return Err(c.fail(
                    "shared_cores.fastest_ns",
                    format!("must be at most median_ns ({m}), got {f}"),
                ));
            }
            if sc.blocks == 0 || sc.shared > sc.blocks {
                return Err(c.fail(
                    "shared_cores.shared",
                    format!(
                        "must be at most the blocks timed ({}, at least 1), got {}",
                        sc.blocks, sc.shared
                    ),
                ));
            }
        }
        if self.contaminated > self.blocks {
            return Err(c.fail(
                "contaminated",
                format!(
                    "must be at most blocks ({}), got {}",
                    self.blocks, self.contaminated
                ),
            ));
        }
        Ok(())
    }

    /// The speed timed on `cpu`, when it was.
    pub fn speed_on(&self, cpu: u32) -> Option<&CpuSpeed> {
        self.speed.iter().find(|s| s.cpu == cpu)
    }

    /// This run's speed against `reference`'s, on the CPU both timed where the two differ most;
    /// `None` when no CPU was timed by both.
    pub fn speed_against(&self, reference: &NoiseRecord) -> Option<SpeedCheck> {
        self.speed
            .iter()
            .filter_map(|s| {
                let r = reference.speed_on(s.cpu)?;
                Some(SpeedCheck {
                    cpu: s.cpu,
                    this: s.ns_per_round,
                    reference: r.ns_per_round,
                    memory: s
                        .memory
                        .zip(r.memory)
                        .map(|(a, b)| (a.ns_per_load, b.ns_per_load)),
                })
            })
            .max_by(|a, b| a.ratio().ln().abs().total_cmp(&b.ratio().ln().abs()))
    }

    /// This run's cores against `reference`'s: the two median wide-kernel timings
    /// ([`SharedCores::median_ns`]); `None` when either did not record one.
    pub fn cores_against(&self, reference: &NoiseRecord) -> Option<CoresCheck> {
        let median = |r: &NoiseRecord| r.shared_cores?.median_ns;
        Some(CoresCheck {
            this: median(self)?,
            reference: median(reference)?,
        })
    }

    /// One line: `quiet: 48 blocks in 3 rounds, 2 redone; steal 0.01 cores (max 0.20), ...`,
    /// ending with why a run is noisy when its cores read shared in most blocks
    /// ([`SharedCores::mostly_shared`]).
    pub fn summary(&self) -> String {
        let shared =
            self.shared_cores
                .filter(SharedCores::mostly_shared)
                .map_or(String::new(), |c| {
                    format!(
                        "; cores shared with another guest in most blocks ({} of {} over {:.2}x)",
                        c.shared, c.blocks, c.factor
                    )
                });
        format!(
            "{}: {} blocks in {} round{}, {} redone, {} kept over a threshold; steal {:.3} cores \
             (max {:.3}), other processes {:.3} cores (max {:.3}); thresholds {:.2} / {:.2} \
             cores{shared}",
            self.grade,
            self.blocks,
            self.rounds,
            if self.rounds == 1 { "" } else { "s" },
            self.redone,
            self.contaminated,
            self.steal_cores.median,
            self.steal_cores.max,
            self.other_cpu_cores.median,
            self.other_cpu_cores.max,
            self.steal_threshold,
            self.other_cpu_threshold
        )
    }
}

/// A mean with its fastest and slowest timing, `[mean, min, max]` under `prefix`: each a
/// positive number of `unit`, the mean between the two.
fn check_timing(
    c: &mut Check<'_>,
    prefix: &str,
    (mean_name, unit): (&str, &str),
    [mean, min, max]: [f64; 3],
) -> Result<()> {
    for (name, v) in [(mean_name, mean), ("min", min), ("max", max)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(c.fail(
                &format!("{prefix}.{name}"),
                format!("must be a positive number of {unit}, got {v}"),
            ));
        }
    }
    if !(min <= mean && mean <= max) {
        return Err(c.fail(
            &format!("{prefix}.{mean_name}"),
            format!("must lie between min ({min}) and max ({max}), got {mean}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> NoiseRecord {
        NoiseRecord {
            grade: NoiseGrade::Noisy,
            rounds: 3,
            blocks: 12,
            redone: 2,
            contaminated: 1,
            steal_cores: NoiseStat {
                median: 0.01,
                max: 0.4,
            },
            other_cpu_cores: NoiseStat {
                median: 0.05,
                max: 1.2,
            },
            involuntary_switches_per_s: PerSecond::new(3.0),
            steal_threshold: 0.1,
            other_cpu_threshold: 0.25,
            redos: vec![Redo {
                block: "round 1: tcp".to_owned(),
                reason: "steal 0.40 cores > 0.10".to_owned(),
            }],
            core_state: Some(CoreState {
                cpus: [0, 1],
                round_trip_ns: 84.0,
            }),
            speed: vec![CpuSpeed {
                cpu: 1,
                ns_per_round: 351.4,
                min: 345.7,
                max: 408.4,
                timings: 25,
                memory: Some(MemoryLatency {
                    ns_per_load: 141.2,
                    min: 130.3,
                    max: 166.0,
                }),
            }],
            round_spread: Some(RoundSpread {
                coefficients: 120,
                median: 1.04,
                p75: 1.14,
            }),
            shared_cores: Some(SharedCores {
                blocks: 60,
                shared: 12,
                median: 1.01,
                max: 1.17,
                factor: 1.05,
                held: false,
                median_ns: Some(2.731),
                fastest_ns: Some(2.671),
            }),
        }
    }

    #[test]
    fn shared_cores_are_ratios_of_at_least_one_and_counts_within_the_blocks() {
        let ok = |r: &NoiseRecord| {
            r.check(&mut Check::new("host.ron"))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let base = record();
        ok(&base).unwrap();
        let mut r = base.clone();
        r.shared_cores.as_mut().unwrap().median = 0.98;
        let e = ok(&r).unwrap_err();
        assert!(
            e.contains("shared_cores.median") && e.contains("0.98"),
            "{e}"
        );
        let mut r = base.clone();
        r.shared_cores.as_mut().unwrap().max = 1.0;
        let e = ok(&r).unwrap_err();
        assert!(e.contains("shared_cores.max"), "{e}");
        let mut r = base.clone();
        r.shared_cores.as_mut().unwrap().factor = 1.0;
        let e = ok(&r).unwrap_err();
        assert!(e.contains("shared_cores.factor"), "{e}");
        let mut r = base.clone();
        r.shared_cores.as_mut().unwrap().shared = 61;
        let e = ok(&r).unwrap_err();
        assert!(e.contains("shared_cores.shared") && e.contains("61"), "{e}");
        let mut r = base.clone();
        r.shared_cores.as_mut().unwrap().median_ns = Some(f64::NAN);
        let e = ok(&r).unwrap_err();
        assert!(
            e.contains("shared_cores.median_ns") && e.contains("NaN"),
            "{e}"
        );
        let mut r = base.clone();
        r.shared_cores.as_mut().unwrap().fastest_ns = Some(2.9);
        let e = ok(&r).unwrap_err();
        assert!(
            e.contains("shared_cores.fastest_ns") && e.contains("2.9") && e.contains("2.731"),
            "{e}"
        );
        assert_eq!(
            base.shared_cores.unwrap().describe(),
            "cores shared around 12 of 60 blocks (wide kernel over 1.05x the run's fastest; \
             median 1.01x, max 1.17x; 2.731 ns/round at the median, 2.671 at the fastest)"
        );
        let mut held = base.shared_cores.unwrap();
        held.held = true;
        held.median_ns = None;
        held.fastest_ns = None;
        assert!(held.describe().ends_with("max 1.17x); held to free cores"));
        // A record written before the timings were kept reads back without them.
        let old = "(blocks: 98, shared: 63, median: 1.12, max: 1.57, factor: 1.05)";
        let sc: SharedCores = ron::from_str(old).unwrap();
        assert_eq!((sc.median_ns, sc.fastest_ns), (None, None));
        assert!(ron::from_str::<SharedCores>(&old.replace(')', ", slowest_ns: 3.0)")).is_err());
    }

    #[test]
    fn two_runs_cores_agree_within_the_factor_either_way() {
        let base = record();
        let mut sweep = base.clone();
        assert!(sweep.cores_against(&base).unwrap().holds());
        assert_eq!(
            sweep.cores_against(&base).unwrap().describe(),
            "the cores ran as fast as the reference's (wide kernel median 2.731 against 2.731 \
             ns/round)"
        );
        sweep.shared_cores.as_mut().unwrap().median_ns = Some(2.731 * 1.11);
        let c = sweep.cores_against(&base).unwrap();
        assert!(!c.holds() && (c.ratio() - 1.11).abs() < 1e-9);
        assert!(
            c.describe()
                .starts_with("the cores ran 1.11x slower than the reference's"),
            "{}",
            c.describe()
        );
        sweep.shared_cores.as_mut().unwrap().median_ns = Some(2.731 / 1.04);
        assert!(sweep.cores_against(&base).unwrap().holds());
        sweep.shared_cores.as_mut().unwrap().median_ns = Some(2.731 / 1.06);
        let c = sweep.cores_against(&base).unwrap();
        assert!(!c.holds());
        assert!(c.describe().contains("1.06x faster"), "{}", c.describe());
        // Either run without the timing: no comparison.
        let mut old = base.clone();
        old.shared_cores.as_mut().unwrap().median_ns = None;
        assert_eq!(sweep.cores_against(&old), None);
        old.shared_cores = None;
        assert_eq!(old.cores_against(&base), None);
    }

    #[test]
    fn a_round_spread_is_a_ratio_of_at_least_one_with_its_p75_above_its_median() {
        let ok = |r: &NoiseRecord| r.check(&mut Check::new("host.ron")).map(|_| ());
        let mut r = record();
        assert!(ok(&r).is_ok());
        r.round_spread = Some(RoundSpread {
            coefficients: 120,
            median: 0.9,
            p75: 1.1,
        });
        let e = ok(&r).unwrap_err().to_string();
        assert!(
            e.contains("round_spread.median") && e.contains("0.9"),
            "{e}"
        );
        r.round_spread = Some(RoundSpread {
            coefficients: 120,
            median: 1.3,
            p75: 1.1,
        });
        let e = ok(&r).unwrap_err().to_string();
        assert!(e.contains("round_spread.p75"), "{e}");
        r.round_spread = Some(RoundSpread {
            coefficients: 0,
            median: 1.0,
            p75: 1.0,
        });
        assert!(
            ok(&r)
                .unwrap_err()
                .to_string()
                .contains("round_spread.coefficients")
        );
        assert!(
            record()
                .round_spread
                .unwrap()
                .describe()
                .contains("rounds 1.04x apart (median over 120 coefficients")
        );
    }

    #[test]
    fn speeds_compare_on_a_cpu_both_timed_within_their_factor() {
        let a = record();
        let mut b = record();
        assert_eq!(b.speed_against(&a).map(|c| c.holds()), Some(true));
        b.speed[0].ns_per_round = 432.3;
        b.speed[0].max = 451.6;
        assert!(
            b.speed_against(&a).unwrap().holds(),
            "1.23x is within 1.25x"
        );
        b.speed[0].ns_per_round = 474.4;
        b.speed[0].max = 490.0;
        let c = b.speed_against(&a).unwrap();
        assert!(!c.holds(), "{c:?}");
        assert!((c.ratio() - 474.4 / 351.4).abs() < 1e-12);
        assert!(c.describe().contains("1.35x slower"), "{}", c.describe());
        assert!(
            c.describe()
                .contains("memory latency 141.2 against 141.2 ns/load, 1.00x"),
            "{}",
            c.describe()
        );
        // Faster by as much is outside too.
        assert!(!a.speed_against(&b).unwrap().holds());
        assert!(a.speed_against(&b).unwrap().describe().contains("faster"));
        // The CPU that differs most is the one reported; one only one run timed is not compared.
        b.speed.push(CpuSpeed {
            cpu: 0,
            ..a.speed[0]
        });
        assert_eq!(b.speed_against(&a).unwrap().cpu, 1);
        b.speed.retain(|s| s.cpu == 0);
        assert_eq!(b.speed_against(&a), None);
    }

    #[test]
    fn a_core_state_holds_within_its_factor_on_the_same_cpus() {
        let near = CoreState {
            cpus: [0, 1],
            round_trip_ns: 84.0,
        };
        assert!(near.holds(84.0 * 2.4) && near.holds(84.0 / 2.4));
        assert!(!near.holds(270.0) && !near.holds(84.0 / 2.6));
        let far = CoreState {
            round_trip_ns: 375.0,
            ..near
        };
        assert!(!near.same_as(&far));
        assert!(!near.same_as(&CoreState {
            cpus: [0, 2],
            ..near
        }));
        assert!(near.same_as(&near));
    }

    #[test]
    fn noise_record_checks_name_the_field() {
        let mut c = Check::new("x.ron");
        record().check(&mut c).unwrap();
        let mut bad = record();
        bad.other_cpu_cores.max = -1.0;
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("other_cpu_cores.max"), "{e}");
        let mut bad = record();
        bad.contaminated = 13;
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("contaminated"), "{e}");
        let mut bad = record();
        bad.core_state = Some(CoreState {
            cpus: [0, 1],
            round_trip_ns: f64::NAN,
        });
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("core_state.round_trip_ns"), "{e}");
        let mut bad = record();
        bad.core_state = Some(CoreState {
            cpus: [1, 1],
            round_trip_ns: 84.0,
        });
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("core_state.cpus"), "{e}");
        let mut bad = record();
        bad.speed[0].ns_per_round = 500.0;
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(
            e.contains("speed[0].ns_per_round") && e.contains("500"),
            "{e}"
        );
        let mut bad = record();
        bad.speed[0].min = f64::NAN;
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("speed[0].min"), "{e}");
        let mut bad = record();
        bad.speed[0].memory = Some(MemoryLatency {
            ns_per_load: 100.0,
            min: 130.3,
            max: 166.0,
        });
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("speed[0].memory.ns_per_load"), "{e}");
        let mut bad = record();
        bad.speed.push(bad.speed[0]);
        let e = bad.check(&mut c).unwrap_err().to_string();
        assert!(e.contains("speed[1].cpu"), "{e}");
        assert!(
            record()
                .summary()
                .starts_with("noisy: 12 blocks in 3 rounds, 2 redone")
        );
    }

    // "Most blocks" is a count, not the median ratio: with an even count of blocks and half of
    // them shared, the median interpolates over the factor while only half were.
    #[test]
    fn cores_are_mostly_shared_when_more_than_half_the_blocks_read_shared() {
        let mut r = record();
        let sc = r.shared_cores.as_mut().unwrap();
        assert!(!sc.mostly_shared(), "12 of 60");
        (sc.shared, sc.median) = (30, 1.06);
        assert!(!sc.mostly_shared(), "half is not most");
        assert!(!r.summary().contains("most blocks"), "{}", r.summary());
        let sc = r.shared_cores.as_mut().unwrap();
        sc.shared = 31;
        assert!(sc.mostly_shared());
        assert!(
            r.summary().ends_with(
                "; cores shared with another guest in most blocks (31 of 60 over 1.05x)"
            ),
            "{}",
            r.summary()
        );
    }
}
