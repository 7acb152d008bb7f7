//! Synthetic traces with known ground truth, shaped like production serverless load.
//!
//! Shahrad et al., "Serverless in the Wild" (USENIX ATC 2020), characterise Azure Functions:
//! invocation rates span some eight orders of magnitude; 45% of applications are invoked at most
//! once per hour and 81% at most once per minute, while a few percent take almost all
//! invocations; timers (often periodic, every minute or hour) and HTTP triggers dominate;
//! inter-arrival times are often far from Poisson (bursty, with coefficients of variation well
//! above 1, or near-periodic with CV near 0); most executions are short (half average under a
//! second). [`azure_like`] draws a population with those shares; [`Generator`] turns any set of
//! [`FunctionSpec`]s into a time-ordered stream of records, each function from its own PRNG
//! stream so one function's records do not depend on which others are present.
//!
//! Arrival processes ([`ArrivalKind`]): Poisson; bursty renewal with a balanced two-phase
//! hyperexponential gap (exact mean and CV, CV > 1); timers on a fixed period with uniform
//! jitter (gap CV = jitter / sqrt 6). A [`Step`] multiplies the rate from a given time: exact for
//! Poisson (memoryless restart at the step) and timers, and for bursty arrivals the gap drawn
//! across the step uses the rate at its start.
//!
//! Per invocation: input size is log-normal; compute is `base + per_input_byte * input` times a
//! mean-one log-normal noise; records read are `records_base + records_per_kib * input / 1024`
//! rounded stochastically (so the mean is exact); the function runs at storage with
//! `storage_fraction`; a single context is kept warm for `keep_alive` after each invocation
//! ends. CPU on the executing tier equals the compute; the other tier pays a small transport
//! cost.
//!
//! The PRNG is xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64: small,
//! fast, deterministic on every platform, and good enough for simulation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use costmodel::{Bytes, FunctionId, Nanos, NanosPerByte, PerSecond, Side};
use serde::{Deserialize, Serialize};

use crate::record::InvocationRecord;
use crate::stats::{count_f64, floor_u64};

/// xoshiro256** seeded through splitmix64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Rng {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        count_f64(self.next_u64() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            // Multiply-shift: the high word of a 64x64 product is below n.
            let wide = u128::from(self.next_u64()) * u128::from(n);
            u64::try_from(wide >> 64).unwrap_or(0)
        }
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        -mean * (1.0 - self.uniform()).ln()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// How a function's invocations arrive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ArrivalKind {
    /// Exponential gaps (CV 1).
    Poisson,
    /// Two-phase hyperexponential gaps with this CV (> 1): short gaps inside bursts, long
    /// gaps between.
    Bursty {
        /// Coefficient of variation of the gaps.
        cv: f64,
    },
    /// A fixed period (1 / rate) with each firing displaced uniformly by up to
    /// `jitter * period / 2` either way; `jitter` in `[0, 1)`.
    Timer {
        /// Jitter as a fraction of the period.
        jitter: f64,
    },
}

/// A step change in rate: from `at_ns`, the rate is multiplied by `factor`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When the change happens.
    pub at_ns: u64,
    /// The rate multiplier after it (> 0).
    pub factor: f64,
}

/// Ground truth for one synthetic function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// The function.
    pub id: FunctionId,
    /// Arrival process.
    pub kind: ArrivalKind,
    /// Mean rate (before any step).
    pub rate: PerSecond,
    /// Optional step change.
    #[serde(default)]
    pub step: Option<Step>,
    /// Compute independent of input.
    pub compute_base: Nanos,
    /// Compute per input byte.
    pub compute_per_input_byte: NanosPerByte,
    /// Sigma of the mean-one log-normal compute noise.
    pub compute_noise_sigma: f64,
    /// Records read independent of input.
    pub records_base: f64,
    /// Records read per KiB of input.
    pub records_per_kib: f64,
    /// Bytes per record.
    pub record_bytes: Bytes,
    /// Median input size.
    pub input_median: Bytes,
    /// Sigma of the log-normal input size.
    pub input_sigma: f64,
    /// Response size.
    pub output_bytes: Bytes,
    /// Probability an invocation runs at the storage tier.
    pub storage_fraction: f64,
}

impl FunctionSpec {
    /// A Poisson function at `rate` with small, input-dependent compute and reads.
    pub fn poisson(id: FunctionId, rate: PerSecond) -> Self {
        FunctionSpec {
            id,
            kind: ArrivalKind::Poisson,
            rate,
            step: None,
            compute_base: Nanos::new(200_000.0),
            compute_per_input_byte: NanosPerByte::new(10.0),
            compute_noise_sigma: 0.1,
            records_base: 2.0,
            records_per_kib: 1.0,
            record_bytes: Bytes::new(1024.0),
            input_median: Bytes::new(2048.0),
            input_sigma: 0.8,
            output_bytes: Bytes::new(256.0),
            storage_fraction: 0.5,
        }
    }

    /// The same function with another arrival process.
    pub fn with_kind(mut self, kind: ArrivalKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same function with a step change.
    pub fn with_step(mut self, at_ns: u64, factor: f64) -> Self {
        self.step = Some(Step { at_ns, factor });
        self
    }

    /// The true rate at time `t_ns`.
    pub fn rate_at(&self, t_ns: u64) -> PerSecond {
        match self.step {
            Some(s) if t_ns >= s.at_ns => PerSecond::new(self.rate.get() * s.factor),
            _ => self.rate,
        }
    }

    /// The true coefficient of variation of inter-arrival gaps.
    pub fn arrival_cv(&self) -> f64 {
        match self.kind {
            ArrivalKind::Poisson => 1.0,
            ArrivalKind::Bursty { cv } => cv,
            ArrivalKind::Timer { jitter } => jitter / 6f64.sqrt(),
        }
    }

    /// Mean input size.
    pub fn mean_input(&self) -> Bytes {
        Bytes::new(self.input_median.get() * (self.input_sigma * self.input_sigma / 2.0).exp())
    }

    /// True compute at input size `input` (the noise has mean one).
    pub fn compute_at(&self, input: Bytes) -> Nanos {
        self.compute_base + self.compute_per_input_byte * input
    }

    /// True mean records read at input size `input`.
    pub fn records_at(&self, input: Bytes) -> f64 {
        self.records_base + self.records_per_kib * input.get() / 1024.0
    }

    fn mean_gap_ns(&self, t_ns: u64) -> f64 {
        1e9 / self.rate_at(t_ns).get()
    }
}

/// A reproducible set of synthetic functions over a time span: everything a trace is generated
/// from, and so its ground truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// The seed of every function's PRNG stream.
    pub seed: u64,
    /// Records start in `[0, end_ns)`.
    pub end_ns: u64,
    /// How long a context stays warm after an invocation ends.
    pub keep_alive_ns: u64,
    /// The functions.
    pub functions: Vec<FunctionSpec>,
}

impl Scenario {
    /// The generator of this scenario's records.
    pub fn generator(&self) -> Generator {
        Generator::new(
            self.seed,
            self.functions.clone(),
            self.end_ns,
            self.keep_alive_ns,
        )
    }

    /// The RON text of the scenario.
    pub fn to_ron(&self) -> String {
        let cfg = ron::ser::PrettyConfig::new()
            .depth_limit(3)
            .struct_names(false);
        // Plain data always serialises.
        ron::ser::to_string_pretty(self, cfg).unwrap_or_default()
    }
}

/// Draws `n` functions shaped like the Azure Functions population of Shahrad et al.: 45% at
/// most once per hour, 36% between once per hour and once per minute, the rest up to 300/s
/// (all capped at `max_rate`); 30% timers (period 1 min to 1 h, 2% jitter), 30% bursty
/// (CV 1.5 to 4), 40% Poisson; compute log-normal around 2 ms; 1 to 16 records of 64 B to
/// 16 KiB, half the functions with compute and reads that grow with input.
pub fn azure_like(seed: u64, n: usize, max_rate: PerSecond) -> Vec<FunctionSpec> {
    let mut rng = Rng::new(seed ^ 0x00a2_a7e0_5e7f_0001);
    let cap = max_rate.get();
    (0..n)
        .filter_map(|i| {
            // "fn-" and at most 20 digits is always a valid id.
            let id = FunctionId::new(&format!("fn-{i:04}")).ok()?;
            let u = rng.uniform();
            let (kind, rate) = if u < 0.3 {
                let periods: [f64; 5] = [60.0, 300.0, 600.0, 900.0, 3600.0];
                let p = periods[usize::try_from(rng.below(5)).unwrap_or(0)];
                (ArrivalKind::Timer { jitter: 0.02 }, (1.0 / p).min(cap))
            } else {
                let kind = if u < 0.6 {
                    ArrivalKind::Bursty {
                        cv: rng.range(1.5, 4.0),
                    }
                } else {
                    ArrivalKind::Poisson
                };
                let tier = rng.uniform();
                let log_rate = if tier < 0.45 {
                    rng.range(-5.0, -3.556)
                } else if tier < 0.81 {
                    rng.range(-3.556, -1.778)
                } else {
                    rng.range(-1.778, 2.477)
                };
                (kind, 10f64.powf(log_rate).min(cap))
            };
            let grows = rng.uniform() < 0.5;
            Some(FunctionSpec {
                id,
                kind,
                rate: PerSecond::new(rate),
                step: None,
                compute_base: Nanos::new(2e6 * (1.2 * rng.normal()).exp()),
                compute_per_input_byte: NanosPerByte::new(if grows {
                    20.0 * (0.5 * rng.normal()).exp()
                } else {
                    0.0
                }),
                compute_noise_sigma: 0.1,
                records_base: count_f64(1 + rng.below(16)),
                records_per_kib: if grows { rng.range(0.0, 4.0) } else { 0.0 },
                record_bytes: Bytes::new(count_f64(64 << rng.below(9))),
                input_median: Bytes::new(1024.0 * rng.normal().exp()),
                input_sigma: 0.7,
                output_bytes: Bytes::new(256.0 * rng.normal().exp()),
                storage_fraction: 0.5,
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
struct FnState {
    rng: Rng,
    /// Timer grid position (ns).
    grid: f64,
    last_start: u64,
    last_end: Option<u64>,
}

/// A time-ordered stream of synthetic records: `Iterator<Item = InvocationRecord>`.
///
/// Memory is one state per function plus a heap of next arrivals, whatever the length.
#[derive(Clone, Debug)]
pub struct Generator {
    specs: Vec<FunctionSpec>,
    states: Vec<FnState>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    end_ns: u64,
    keep_alive_ns: u64,
}

impl Generator {
    /// Records of `specs` starting in `[0, end_ns)`, with contexts kept warm for
    /// `keep_alive_ns` after each invocation. Functions with a non-positive or non-finite rate
    /// produce nothing.
    pub fn new(seed: u64, specs: Vec<FunctionSpec>, end_ns: u64, keep_alive_ns: u64) -> Self {
        let mut g = Generator {
            states: Vec::with_capacity(specs.len()),
            heap: BinaryHeap::with_capacity(specs.len()),
            specs,
            end_ns,
            keep_alive_ns,
        };
        for i in 0..g.specs.len() {
            let stream = seed ^ (count_u64(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            g.states.push(FnState {
                rng: Rng::new(stream),
                grid: 0.0,
                last_start: 0,
                last_end: None,
            });
            let r = g.specs[i].rate.get();
            if !(r > 0.0 && r.is_finite()) {
                continue;
            }
            if let ArrivalKind::Timer { .. } = g.specs[i].kind {
                let phase = g.states[i].rng.uniform() * g.specs[i].mean_gap_ns(0);
                g.states[i].grid = phase;
            }
            if let Some(t) = g.next_arrival(i, 0) {
                g.heap.push(Reverse((t, i)));
            }
        }
        g
    }

    /// The next start after `from` for function `i`, if before the end.
    fn next_arrival(&mut self, i: usize, from: u64) -> Option<u64> {
        let spec = &self.specs[i];
        let st = &mut self.states[i];
        let t = match spec.kind {
            ArrivalKind::Poisson => {
                let mut t = count_f64(from);
                loop {
                    let now = floor_u64(t);
                    let next = t + st.rng.exponential(spec.mean_gap_ns(now));
                    match spec.step {
                        // Memoryless: restart at the step with the new rate.
                        Some(s) if now < s.at_ns && next >= count_f64(s.at_ns) => {
                            t = count_f64(s.at_ns);
                        }
                        _ => break next,
                    }
                }
            }
            ArrivalKind::Bursty { cv } => {
                let mean = spec.mean_gap_ns(from);
                let c2 = cv * cv;
                let p = 0.5 * (1.0 + ((c2 - 1.0) / (c2 + 1.0)).max(0.0).sqrt());
                let gap = if st.rng.uniform() < p {
                    st.rng.exponential(mean / (2.0 * p))
                } else {
                    st.rng.exponential(mean / (2.0 * (1.0 - p)))
                };
                count_f64(from) + gap
            }
            ArrivalKind::Timer { jitter } => {
                let at = st.grid;
                let displaced =
                    at + (st.rng.uniform() - 0.5) * jitter * spec.mean_gap_ns(floor_u64(at));
                st.grid = at + spec.mean_gap_ns(floor_u64(at));
                displaced.max(count_f64(st.last_start))
            }
        };
        let t = floor_u64(t.max(0.0));
        (t < self.end_ns).then_some(t)
    }

    fn record(&mut self, i: usize, start: u64) -> InvocationRecord {
        let spec = &self.specs[i];
        let st = &mut self.states[i];
        let input = spec.input_median.get() * (spec.input_sigma * st.rng.normal()).exp();
        let s = spec.compute_noise_sigma;
        let noise = (s * st.rng.normal() - s * s / 2.0).exp();
        let compute = spec.compute_at(Bytes::new(input)).get() * noise;
        let records = floor_u64(spec.records_at(Bytes::new(input)) + st.rng.uniform());
        let bytes_read = count_f64(records) * spec.record_bytes.get();
        let written = u64::from(st.rng.uniform() < 0.25);
        let at_storage = st.rng.uniform() < spec.storage_fraction;
        let warm = st
            .last_end
            .is_some_and(|e| start <= e.saturating_add(self.keep_alive_ns));
        let (storage_cpu, compute_cpu, transfer) = if at_storage {
            (compute, 2_000.0, 0.0)
        } else {
            (
                1_000.0 * count_f64(records) + 0.1 * bytes_read,
                compute,
                30_000.0 * count_f64(records),
            )
        };
        let cold = if warm { 0.0 } else { 50e6 };
        let duration = compute + transfer + cold + 20_000.0;
        let end = start.saturating_add(floor_u64(duration));
        st.last_end = Some(st.last_end.map_or(end, |e| e.max(end)));
        st.last_start = start;
        InvocationRecord {
            function: spec.id,
            start_ns: start,
            duration: Nanos::new(duration),
            storage_cpu: Nanos::new(storage_cpu),
            compute_cpu: Nanos::new(compute_cpu),
            records_read: records,
            records_written: written,
            bytes_read: Bytes::new(bytes_read),
            bytes_written: Bytes::new(count_f64(written) * spec.record_bytes.get()),
            input_bytes: Bytes::new(input.round()),
            output_bytes: Bytes::new(spec.output_bytes.get().round()),
            side: if at_storage {
                Side::Storage
            } else {
                Side::Compute
            },
            warm,
        }
    }

    /// The functions generated.
    pub fn specs(&self) -> &[FunctionSpec] {
        &self.specs
    }
}

fn count_u64(i: usize) -> u64 {
    u64::try_from(i).unwrap_or(u64::MAX)
}

impl Iterator for Generator {
    type Item = InvocationRecord;

    fn next(&mut self) -> Option<InvocationRecord> {
        let Reverse((t, i)) = self.heap.pop()?;
        let r = self.record(i, t);
        if let Some(next) = self.next_arrival(i, t) {
            self.heap.push(Reverse((next, i)));
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> FunctionId {
        FunctionId::new(s).unwrap()
    }

    #[test]
    fn same_seed_gives_the_same_trace() {
        let specs = vec![FunctionSpec::poisson(id("a"), PerSecond::new(50.0))];
        let a: Vec<_> = Generator::new(7, specs.clone(), 10_000_000_000, 0).collect();
        let b: Vec<_> = Generator::new(7, specs, 10_000_000_000, 0).collect();
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn records_come_in_start_order() {
        let specs = vec![
            FunctionSpec::poisson(id("a"), PerSecond::new(20.0)),
            FunctionSpec::poisson(id("b"), PerSecond::new(3.0))
                .with_kind(ArrivalKind::Bursty { cv: 3.0 }),
            FunctionSpec::poisson(id("c"), PerSecond::new(1.0))
                .with_kind(ArrivalKind::Timer { jitter: 0.1 }),
        ];
        let recs: Vec<_> = Generator::new(1, specs, 60_000_000_000, 0).collect();
        assert!(recs.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
    }

    #[test]
    fn bursty_gaps_have_the_requested_cv() {
        let spec = FunctionSpec::poisson(id("b"), PerSecond::new(100.0))
            .with_kind(ArrivalKind::Bursty { cv: 3.0 });
        let mut m = crate::stats::Moments::default();
        let mut prev = None;
        for r in Generator::new(3, vec![spec], 2_000_000_000_000, 0).take(200_000) {
            if let Some(p) = prev {
                m.push(count_f64(r.start_ns - p));
            }
            prev = Some(r.start_ns);
        }
        assert!((m.cv() - 3.0).abs() < 0.15, "cv {}", m.cv());
        assert!((m.mean() - 1e7).abs() / 1e7 < 0.03, "mean {}", m.mean());
    }

    #[test]
    fn azure_like_population_is_mostly_rare() {
        let specs = azure_like(42, 2000, PerSecond::new(1e9));
        let per_minute = 1.0 / 60.0;
        let rare = specs.iter().filter(|s| s.rate.get() <= per_minute).count();
        let share = count_f64(u64::try_from(rare).unwrap()) / 2000.0;
        // 81% of non-timer functions, and most timers, fire at most once a minute.
        assert!(share > 0.75, "{share}");
        let max = specs.iter().map(|s| s.rate.get()).fold(0.0, f64::max);
        let min = specs
            .iter()
            .map(|s| s.rate.get())
            .fold(f64::INFINITY, f64::min);
        assert!(max / min > 1e6, "rates span {min}..{max}");
    }
}
