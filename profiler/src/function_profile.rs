//! `FunctionProfile`: what the profiler keeps about one function, in constant memory, and the
//! [`WorkloadProfile`] it yields.
//!
//! Per function it keeps, all fixed-size and allocation-free:
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
//! later record of the same function arrives or when
//! [`Profiler::advance_to`](crate::Profiler::advance_to) is called; a run of idle windows is
//! closed in O(1). The rate is the mean count per closed window of the
//! current segment, so it is unbiased on a stationary segment and restarts when the detector
//! raises a change.

use costmodel::{
    Arrival, Bytes, Compute, FunctionId, Nanos, NanosPerByte, PerSecond, Side, WorkloadProfile,
};

use crate::config::ProfilerConfig;
use crate::error::{ProfilerError, Result};
use crate::forecast::Holt;
use crate::record::InvocationRecord;
use crate::sketch::LogHistogram;
use crate::stationarity::{Observed, RateDetector};
use crate::stats::{LinearFit, Moments, count_f64};

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
    pub(crate) fn new(id: FunctionId, cfg: &ProfilerConfig) -> Self {
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

    pub(crate) fn ingest(&mut self, r: &InvocationRecord, window_ns: u64) -> Result<()> {
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
    pub(crate) fn close_through(&mut self, target: u64) {
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
