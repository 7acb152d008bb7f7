//! `Profiler`: ingests invocation records and keeps each function's [`WorkloadProfile`] current,
//! in constant memory per function.
//!
//! Per function ([`FunctionProfile`]) it keeps, all fixed-size and allocation-free:
//!
//! * streaming moments (Welford) of duration, CPU on each tier, records and bytes read and
//!   written, input and output size;
//! * quantile sketches ([`LogHistogram`]) of compute (CPU on the tier that ran the function),
//!   records read and bytes read, for p50/p99;
//! * the inter-arrival histogram and moments of the current stationary segment, exported as
//!   [`Arrival::histogram`] and [`Arrival::cv`] so [`Arrival::warm_hit_probability`] uses the
//!   observed distribution;
//! * the windowed invocation count: its mean over the current segment is the rate, Holt's
//!   smoother over it the forecast ([`Holt`]), a CUSUM over it the stationarity state
//!   ([`RateDetector`]), and the coefficient of variation of gaps inside each window the
//!   per-window burstiness;
//! * least-squares lines ([`LinearFit`]) of compute and of records read on input size, so the
//!   profile predicts an invocation from its input.
//!
//! Windows are aligned to multiples of the window length since time 0. A window closes when a
//! later record of the same function arrives or when [`Profiler::advance_to`] is called; a run
//! of idle windows is closed in O(1). The rate is the mean count per closed window of the
//! current segment, so it is unbiased on a stationary segment and restarts when the detector
//! raises a change.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use costmodel::{
    Arrival, Bytes, Compute, FunctionId, Nanos, NanosPerByte, PerSecond, Side,
    WORKLOAD_FORMAT_VERSION, WorkloadProfile, WorkloadSet,
};

use crate::error::{ProfilerError, Result};
use crate::forecast::Holt;
use crate::record::InvocationRecord;
use crate::sketch::LogHistogram;
use crate::stationarity::{CusumParams, Observed, RateDetector};
use crate::stats::{LinearFit, Moments, count_f64};

/// How the profiler windows time and smooths and tests the rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfilerConfig {
    /// Length of a rate window in nanoseconds (default 1 s).
    pub window_ns: u64,
    /// Holt level weight in `(0, 1]` (default 0.3).
    pub holt_alpha: f64,
    /// Holt trend weight in `(0, 1]` (default 0.1).
    pub holt_beta: f64,
    /// The change detector's parameters.
    pub cusum: CusumParams,
}

impl Default for ProfilerConfig {
    fn default() -> Self {
        ProfilerConfig {
            window_ns: 1_000_000_000,
            holt_alpha: 0.3,
            holt_beta: 0.1,
            cusum: CusumParams::default(),
        }
    }
}

impl ProfilerConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidConfig`] naming the first bad field.
    pub fn check(&self) -> Result<()> {
        let bad = |field, value: f64, message| {
            Err(ProfilerError::InvalidConfig {
                field,
                value,
                message,
            })
        };
        if !(1_000..=86_400_000_000_000).contains(&self.window_ns) {
            return bad(
                "window_ns",
                count_f64(self.window_ns),
                "must be in [1 us, 1 day]",
            );
        }
        for (field, v) in [
            ("holt_alpha", self.holt_alpha),
            ("holt_beta", self.holt_beta),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return bad(field, v, "must be in (0, 1]");
            }
        }
        let c = &self.cusum;
        if !(c.k >= 0.0 && c.k.is_finite()) {
            return bad("cusum.k", c.k, "must be finite and >= 0");
        }
        if !(c.h > 0.0 && c.h.is_finite()) {
            return bad("cusum.h", c.h, "must be finite and > 0");
        }
        if !(c.sigma_floor > 0.0 && c.sigma_floor.is_finite()) {
            return bad("cusum.sigma_floor", c.sigma_floor, "must be finite and > 0");
        }
        if c.warmup < 2 {
            return bad("cusum.warmup", f64::from(c.warmup), "must be >= 2");
        }
        Ok(())
    }

    fn window_seconds(&self) -> f64 {
        count_f64(self.window_ns) / 1e9
    }
}

/// The stationarity state of a function's rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stationarity {
    /// Changes raised since the function was first seen.
    pub changes: u64,
    /// Closed windows in the current segment.
    pub segment_windows: u64,
    /// Start of the window where the current segment began (after the last change).
    pub segment_start_ns: u64,
    /// True when the segment has finished warm-up and no change is building: the rate can be
    /// trusted as stable.
    pub stable: bool,
    /// The CUSUM statistic, in reference deviations (a change is raised at the threshold).
    pub statistic: f64,
    /// Coefficient of variation of the window counts over the segment.
    pub count_cv: f64,
    /// Mean over the segment's windows of the coefficient of variation of the gaps inside each
    /// window (windows with at least two gaps): burstiness at the window's scale.
    pub window_gap_cv: f64,
}

/// p50 and p99 of one quantity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles<T> {
    /// Median.
    pub p50: T,
    /// 99th percentile.
    pub p99: T,
}

/// Quantiles of compute, records and bytes read per invocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantiles {
    /// CPU on the tier that ran the function.
    pub compute: Percentiles<Nanos>,
    /// Records read.
    pub records: Percentiles<f64>,
    /// Bytes read.
    pub bytes: Percentiles<Bytes>,
}

/// What the profile predicts for one invocation with a given input size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// Compute (CPU on the executing tier).
    pub compute: Nanos,
    /// Records read.
    pub records: f64,
}

/// Everything the profiler keeps about one function. Fixed size, no heap: memory does not grow
/// with the number of records ingested.
#[derive(Clone, Debug)]
pub struct FunctionProfile {
    id: FunctionId,
    n: u64,
    first_ns: u64,
    last_ns: u64,
    warm: u64,
    at_storage: u64,
    duration: Moments,
    storage_cpu: Moments,
    compute_cpu: Moments,
    compute: Moments,
    records_read: Moments,
    records_written: Moments,
    bytes_read: Moments,
    bytes_written: Moments,
    input: Moments,
    output: Moments,
    compute_sketch: LogHistogram,
    records_sketch: LogHistogram,
    bytes_sketch: LogHistogram,
    gaps: LogHistogram,
    gap_moments: Moments,
    compute_fit: LinearFit,
    records_fit: LinearFit,
    /// Index of the open window.
    window: u64,
    /// Invocations in the open window.
    window_count: u64,
    /// Gaps inside the open window.
    window_gaps: Moments,
    /// Counts of the closed windows of the current segment.
    segment_counts: Moments,
    /// Per-window gap CV over the current segment.
    segment_gap_cv: Moments,
    segment_start_window: u64,
    holt: Holt,
    detector: RateDetector,
}

impl FunctionProfile {
    fn new(id: FunctionId, cfg: &ProfilerConfig) -> Self {
        FunctionProfile {
            id,
            n: 0,
            first_ns: 0,
            last_ns: 0,
            warm: 0,
            at_storage: 0,
            duration: Moments::default(),
            storage_cpu: Moments::default(),
            compute_cpu: Moments::default(),
            compute: Moments::default(),
            records_read: Moments::default(),
            records_written: Moments::default(),
            bytes_read: Moments::default(),
            bytes_written: Moments::default(),
            input: Moments::default(),
            output: Moments::default(),
            compute_sketch: LogHistogram::default(),
            records_sketch: LogHistogram::default(),
            bytes_sketch: LogHistogram::default(),
            gaps: LogHistogram::default(),
            gap_moments: Moments::default(),
            compute_fit: LinearFit::default(),
            records_fit: LinearFit::default(),
            window: 0,
            window_count: 0,
            window_gaps: Moments::default(),
            segment_counts: Moments::default(),
            segment_gap_cv: Moments::default(),
            segment_start_window: 0,
            holt: Holt::new(cfg.holt_alpha, cfg.holt_beta),
            detector: RateDetector::new(cfg.cusum),
        }
    }

    fn ingest(&mut self, r: &InvocationRecord, window_ns: u64) -> Result<()> {
        if self.n > 0 && r.start_ns < self.last_ns {
            return Err(ProfilerError::OutOfOrder {
                function: self.id.to_string(),
                previous_ns: self.last_ns,
                found_ns: r.start_ns,
            });
        }
        let w = r.start_ns / window_ns;
        if self.n == 0 {
            self.first_ns = r.start_ns;
            self.window = w;
            self.segment_start_window = w;
        } else {
            self.close_through(w);
            let gap = count_f64(r.start_ns - self.last_ns);
            self.gaps.push(gap);
            self.gap_moments.push(gap);
            if self.window_count > 0 {
                self.window_gaps.push(gap);
            }
        }
        self.window_count += 1;
        self.n += 1;
        self.last_ns = r.start_ns;
        self.warm += u64::from(r.warm);
        self.at_storage += u64::from(r.side == Side::Storage);

        let compute = r.executing_cpu().get();
        let records = count_f64(r.records_read);
        let input = r.input_bytes.get();
        self.duration.push(r.duration.get());
        self.storage_cpu.push(r.storage_cpu.get());
        self.compute_cpu.push(r.compute_cpu.get());
        self.compute.push(compute);
        self.records_read.push(records);
        self.records_written.push(count_f64(r.records_written));
        self.bytes_read.push(r.bytes_read.get());
        self.bytes_written.push(r.bytes_written.get());
        self.input.push(input);
        self.output.push(r.output_bytes.get());
        self.compute_sketch.push(compute);
        self.records_sketch.push(records);
        self.bytes_sketch.push(r.bytes_read.get());
        self.compute_fit.push(input, compute);
        self.records_fit.push(input, records);
        Ok(())
    }

    /// Closes the open window and every idle window before window `target`.
    fn close_through(&mut self, target: u64) {
        if target <= self.window {
            return;
        }
        let open = self.window;
        self.close_run(open, count_f64(self.window_count), 1);
        if self.window_gaps.count() >= 2 {
            self.segment_gap_cv.push(self.window_gaps.cv());
        }
        let idle = target - open - 1;
        if idle > 0 {
            self.close_run(open + 1, 0.0, idle);
        }
        self.window = target;
        self.window_count = 0;
        self.window_gaps = Moments::default();
    }

    /// Feeds `m` windows of `count` starting at window `first` to the smoother, the detector
    /// and the segment.
    fn close_run(&mut self, first: u64, count: f64, m: u64) {
        self.holt.update_repeated(count, m);
        let mut at = first;
        let mut left = m;
        while left > 0 {
            match self.detector.observe(count, left) {
                Observed::Stable => {
                    self.segment_counts.push_repeated(count, left);
                    left = 0;
                }
                Observed::Change(j) => {
                    // Windows before the alarm belong to the old segment, which is dropped;
                    // the alarming window starts the new one.
                    let change_window = at + j - 1;
                    self.segment_counts = Moments::default();
                    self.segment_counts.push(count);
                    self.segment_gap_cv = Moments::default();
                    self.segment_start_window = change_window;
                    self.gaps.clear();
                    self.gap_moments = Moments::default();
                    at += j;
                    left -= j;
                }
            }
        }
    }

    /// The function.
    pub fn id(&self) -> FunctionId {
        self.id
    }

    /// Records ingested.
    pub fn invocations(&self) -> u64 {
        self.n
    }

    /// Fraction of invocations that found a warm context.
    pub fn warm_fraction(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            count_f64(self.warm) / count_f64(self.n)
        }
    }

    /// Fraction of invocations that ran at the storage tier.
    pub fn storage_fraction(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            count_f64(self.at_storage) / count_f64(self.n)
        }
    }

    /// The invocation rate over the current stationary segment: mean count per closed window.
    /// Before the first window closes, `(n - 1)` over the time from the first to the last
    /// record (0 with fewer than two records).
    pub fn rate(&self, cfg: &ProfilerConfig) -> PerSecond {
        if self.segment_counts.count() > 0 {
            return PerSecond::new(self.segment_counts.mean() / cfg.window_seconds());
        }
        let span = self.last_ns.saturating_sub(self.first_ns);
        if self.n >= 2 && span > 0 {
            PerSecond::new(count_f64(self.n - 1) / (count_f64(span) / 1e9))
        } else {
            PerSecond::new(0.0)
        }
    }

    /// Holt's forecast of the rate `windows` windows after the last closed one.
    pub fn forecast(&self, windows: f64, cfg: &ProfilerConfig) -> PerSecond {
        PerSecond::new(self.holt.forecast(windows) / cfg.window_seconds())
    }

    /// The stationarity state.
    pub fn stationarity(&self, cfg: &ProfilerConfig) -> Stationarity {
        Stationarity {
            changes: self.detector.changes(),
            segment_windows: self.segment_counts.count(),
            segment_start_ns: self.segment_start_window.saturating_mul(cfg.window_ns),
            stable: self.detector.is_warm() && self.detector.statistic() < cfg.cusum.h / 2.0,
            statistic: self.detector.statistic(),
            count_cv: self.segment_counts.cv(),
            window_gap_cv: self.segment_gap_cv.mean(),
        }
    }

    /// The arrival process of the current segment: rate, gap CV (1 with fewer than two gaps)
    /// and the empirical inter-arrival histogram.
    pub fn arrival(&self, cfg: &ProfilerConfig) -> Arrival {
        Arrival {
            rate: self.rate(cfg),
            cv: if self.gap_moments.count() >= 2 {
                self.gap_moments.cv()
            } else {
                1.0
            },
            histogram: self.gaps.cdf_points(),
        }
    }

    /// Probability that an invocation finds a context kept warm for `keep_alive` after the
    /// previous one, from the current segment's inter-arrival histogram.
    pub fn warm_hit_probability(&self, keep_alive: Nanos) -> f64 {
        self.gaps.cdf(keep_alive.get())
    }

    /// p50 and p99 of compute, records and bytes read (zeros before the first record).
    pub fn quantiles(&self) -> Quantiles {
        let q = |h: &LogHistogram, p: f64| h.quantile(p).unwrap_or(0.0);
        Quantiles {
            compute: Percentiles {
                p50: Nanos::new(q(&self.compute_sketch, 0.5)),
                p99: Nanos::new(q(&self.compute_sketch, 0.99)),
            },
            records: Percentiles {
                p50: q(&self.records_sketch, 0.5),
                p99: q(&self.records_sketch, 0.99),
            },
            bytes: Percentiles {
                p50: Bytes::new(q(&self.bytes_sketch, 0.5)),
                p99: Bytes::new(q(&self.bytes_sketch, 0.99)),
            },
        }
    }

    /// Mean and deviation of compute per invocation.
    pub fn compute_moments(&self) -> &Moments {
        &self.compute
    }

    /// Mean and deviation of duration per invocation.
    pub fn duration_moments(&self) -> &Moments {
        &self.duration
    }

    /// Mean and deviation of records read per invocation.
    pub fn records_moments(&self) -> &Moments {
        &self.records_read
    }

    /// The fit of compute on input size.
    pub fn compute_fit(&self) -> &LinearFit {
        &self.compute_fit
    }

    /// The fit of records read on input size.
    pub fn records_fit(&self) -> &LinearFit {
        &self.records_fit
    }

    /// Compute and records read predicted for an invocation with `input` bytes of input
    /// (the non-negative least-squares lines).
    pub fn predict(&self, input: Bytes) -> Prediction {
        let (ca, cb) = self.compute_fit.non_negative();
        let (ra, rb) = self.records_fit.non_negative();
        Prediction {
            compute: Nanos::new(ca + cb * input.get()),
            records: ra + rb * input.get(),
        }
    }

    /// The function's profile as the cost model reads it.
    ///
    /// Compute is the non-negative least-squares line of CPU on the executing tier against
    /// input size, at the mean input; bytes per record is bytes read over records read; request
    /// and response sizes are the mean input and output sizes. Reads are assumed independent
    /// (a trace does not show dependence), and there is no SLO or chain.
    pub fn workload_profile(&self, cfg: &ProfilerConfig) -> WorkloadProfile {
        let (base, slope) = self.compute_fit.non_negative();
        let records = self.records_read.mean();
        let record_bytes = if records > 0.0 {
            self.bytes_read.mean() / records
        } else {
            0.0
        };
        WorkloadProfile {
            id: self.id,
            description: format!("profiled from {} invocations", self.n),
            records_per_invocation: records,
            record_bytes: Bytes::new(record_bytes),
            request_bytes: Bytes::new(self.input.mean()),
            response_bytes: Bytes::new(self.output.mean()),
            compute: Compute {
                base: Nanos::new(base),
                per_input_byte: NanosPerByte::new(slope),
                input_bytes: Bytes::new(self.input.mean()),
                class: Default::default(),
            },
            dependent_reads: false,
            arrival: self.arrival(cfg),
            slo: None,
            chain: Vec::new(),
        }
    }

    /// Bytes one function's state occupies. It holds no heap data, so this is its size and does
    /// not change as records are ingested.
    pub const fn memory_bytes() -> usize {
        std::mem::size_of::<Self>()
    }
}

/// FxHash-style hasher for function ids: the keys are short, trusted-size byte strings, and the
/// default SipHash costs more than the rest of an ingest.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(buf));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(u64::try_from(i).unwrap_or(u64::MAX));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl IdHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The online profiler: one [`FunctionProfile`] per function seen.
#[derive(Clone, Debug)]
pub struct Profiler {
    config: ProfilerConfig,
    index: HashMap<FunctionId, usize, BuildHasherDefault<IdHasher>>,
    functions: Vec<FunctionProfile>,
    /// The function of the last record: traces often repeat a function, so this skips a hash.
    last: Option<(FunctionId, usize)>,
    /// Latest start time seen or time advanced to.
    now_ns: u64,
}

impl std::fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdHasher")
    }
}

impl Profiler {
    /// A profiler with `config`.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidConfig`] when the configuration is out of range.
    pub fn new(config: ProfilerConfig) -> Result<Self> {
        config.check()?;
        Ok(Profiler {
            config,
            index: HashMap::default(),
            functions: Vec::new(),
            last: None,
            now_ns: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProfilerConfig {
        &self.config
    }

    /// Ingests one record. Records of one function must come in start order; records of
    /// different functions may interleave freely.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidRecord`] for a negative or non-finite time or size, and
    /// [`ProfilerError::OutOfOrder`] for a record that starts before the previous record of
    /// its function. The profile is unchanged on error.
    pub fn ingest(&mut self, r: &InvocationRecord) -> Result<()> {
        if let Some((field, value, message)) = r.problem() {
            return Err(ProfilerError::InvalidRecord {
                function: r.function.to_string(),
                field,
                value,
                message,
            });
        }
        let i = match self.last {
            Some((id, i)) if id == r.function => i,
            _ => {
                let i = match self.index.get(&r.function) {
                    Some(&i) => i,
                    None => {
                        self.functions
                            .push(FunctionProfile::new(r.function, &self.config));
                        self.index.insert(r.function, self.functions.len() - 1);
                        self.functions.len() - 1
                    }
                };
                self.last = Some((r.function, i));
                i
            }
        };
        self.functions[i].ingest(r, self.config.window_ns)?;
        self.now_ns = self.now_ns.max(r.start_ns);
        Ok(())
    }

    /// Ingests every record of an iterator, stopping at the first error.
    ///
    /// # Errors
    /// The first record's error, as [`Profiler::ingest`].
    pub fn ingest_all<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a InvocationRecord>,
    ) -> Result<u64> {
        let mut n = 0;
        for r in records {
            self.ingest(r)?;
            n += 1;
        }
        Ok(n)
    }

    /// Tells the profiler that time `now_ns` has been reached: every function's windows that
    /// end at or before it are closed (idle functions see their rate fall).
    pub fn advance_to(&mut self, now_ns: u64) {
        let w = now_ns / self.config.window_ns;
        for f in &mut self.functions {
            f.close_through(w);
        }
        self.now_ns = self.now_ns.max(now_ns);
    }

    /// The state of function `id`, if it has been seen.
    pub fn function(&self, id: FunctionId) -> Option<&FunctionProfile> {
        self.index.get(&id).map(|&i| &self.functions[i])
    }

    /// Every function's state, in order of first appearance.
    pub fn functions(&self) -> &[FunctionProfile] {
        &self.functions
    }

    /// The cost-model profile of function `id`, if it has been seen.
    pub fn profile(&self, id: FunctionId) -> Option<WorkloadProfile> {
        self.function(id).map(|f| f.workload_profile(&self.config))
    }

    /// Every function's profile as a workload set (RON-saveable with `costmodel`).
    pub fn workload_set(&self, description: impl Into<String>) -> WorkloadSet {
        WorkloadSet {
            format_version: WORKLOAD_FORMAT_VERSION,
            description: description.into(),
            workloads: self
                .functions
                .iter()
                .map(|f| f.workload_profile(&self.config))
                .collect(),
        }
    }

    /// Bytes held: fixed per function, independent of records ingested (the index's and the
    /// state vector's capacity grow with the number of functions only).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.functions.capacity() * FunctionProfile::memory_bytes()
            + self.index.capacity()
                * (std::mem::size_of::<FunctionId>() + std::mem::size_of::<usize>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(f: &str, t: u64) -> InvocationRecord {
        InvocationRecord::new(FunctionId::new(f).unwrap(), t, Nanos::new(100.0))
    }

    #[test]
    fn out_of_order_record_is_rejected_and_names_the_function() {
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        p.ingest(&rec("a", 100)).unwrap();
        p.ingest(&rec("b", 50)).unwrap();
        let err = p.ingest(&rec("a", 99)).unwrap_err().to_string();
        assert!(err.contains("function a") && err.contains("99"), "{err}");
    }

    #[test]
    fn invalid_config_names_the_field() {
        let cfg = ProfilerConfig {
            holt_alpha: 1.5,
            ..ProfilerConfig::default()
        };
        let err = Profiler::new(cfg).unwrap_err().to_string();
        assert_eq!(err, "config: holt_alpha must be in (0, 1], got 1.5");
    }

    #[test]
    fn regular_arrivals_give_their_rate_and_a_low_cv() {
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        // 4 per second for 100 s.
        for i in 0..400u64 {
            p.ingest(&rec("t", i * 250_000_000)).unwrap();
        }
        p.advance_to(100_000_000_000);
        let f = p.function(FunctionId::new("t").unwrap()).unwrap();
        let prof = f.workload_profile(p.config());
        assert!((prof.arrival.rate.get() - 4.0).abs() < 1e-9);
        assert!(prof.arrival.cv < 1e-9);
        prof.validate("test").unwrap();
    }

    #[test]
    fn idle_function_rate_falls_to_zero_after_advance() {
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        for i in 0..2000u64 {
            p.ingest(&rec("t", i * 100_000_000)).unwrap();
        }
        // Silent for an hour.
        p.advance_to(200_000_000_000 + 3_600_000_000_000);
        let f = p.function(FunctionId::new("t").unwrap()).unwrap();
        assert!(f.rate(p.config()).get() < 0.01);
        assert_eq!(f.stationarity(p.config()).changes, 1);
    }

    #[test]
    fn profiler_state_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Profiler>();
        check::<FunctionProfile>();
    }
}
