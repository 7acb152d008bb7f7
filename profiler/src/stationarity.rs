//! `RateDetector`: is a function's invocation rate stationary? A two-sided CUSUM on the
//! windowed count.
//!
//! Each closed window's count `x` is transformed to `y = sqrt(x + 3/8)` (Anscombe's transform:
//! for Poisson counts its variance is close to 1/4 whatever the rate, and its skew is small, so
//! one threshold serves rare and hot functions). The first `warmup` windows of a segment only
//! learn the reference mean and deviation of `y`; after that each window is standardised,
//! `z = (y - mean) / max(sd, sigma_floor)`, and Page's two-sided CUSUM
//!
//! ```text
//! S+ = max(0, S+ + z - k)     S- = max(0, S- - z - k)
//! ```
//!
//! raises a change when either exceeds `h` (Page, 1954). The window's `y` then joins the
//! reference (the reference keeps learning while the segment lasts). On a change the segment
//! restarts at the alarming window: the reference is re-learned from it.
//!
//! # Bounds
//!
//! * Detection delay: a sustained shift of the mean of `y` by `delta` reference deviations
//!   (`delta > k`) adds `delta - k` to one sum per window on average, so it is detected after
//!   about `h / (delta - k)` windows (Wald's identity): with the defaults `k = 1`, `h = 8`, a
//!   shift of 3 deviations in at most 4 windows on average, 5 deviations in 2. Doubling a rate
//!   of 20 per window (`delta` about 3.7) is detected within 8 windows in the tests.
//! * False alarms: for normal `z` the in-control average run length of one side with `k = 1`,
//!   `h = 8` is about `(exp(2k(h + 1.166)) - 2k(h + 1.166) - 1) / (2k^2)`, some 4.5e7 windows
//!   (Siegmund's approximation), so a stationary segment of 10,000 windows raises none.
//!
//! `sigma_floor` keeps a perfectly regular function (a timer firing once per window, `sd = 0`)
//! from alarming on one window of jitter: its default, 0.25, is the Poisson deviation of `y`.
//!
//! * Measured (`tests/change_detector.rs`, seeded Poisson arrivals, 400 runs per step at window
//!   100, defaults): mean/p95 delay in windows: 20 per window doubled 3.9/5, halved 6.2/10, to
//!   idle 1.9/2; 200 x1.25 4.3/6; small shifts near 2 deviations are slower and can be absorbed
//!   by the still-learning reference: 20 x1.5 11.4/22 (2 of 400 not found within 200 windows),
//!   5 x2 13.6/29 (8 of 400). False alarms over 10^6 stationary windows each: 0 at 2 and 200 per
//!   window, 1 at 20 (about 1e-6 per window, below the normal-theory figure's precision here).
//!
//! This is the one change detector of the workspace: it implements
//! [`costmodel::ChangeDetector`], through which the solver's regime advisor uses it.
//!
//! Limits: arrivals so bursty that single windows differ by many deviations, and bursts not seen
//! during warm-up, can raise a change at the first large burst; the reference then includes it.

use crate::stats::Moments;

/// Parameters of the CUSUM detector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CusumParams {
    /// Allowance per window, in reference deviations.
    pub k: f64,
    /// Decision threshold, in reference deviations.
    pub h: f64,
    /// Windows that only learn the reference after a (re)start.
    pub warmup: u32,
    /// Smallest reference deviation of `y` used to standardise.
    pub sigma_floor: f64,
}

impl Default for CusumParams {
    fn default() -> Self {
        CusumParams {
            k: 1.0,
            h: 8.0,
            warmup: 30,
            sigma_floor: 0.25,
        }
    }
}

/// The CUSUM state for one function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateDetector {
    params: CusumParams,
    reference: Moments,
    pos: f64,
    neg: f64,
    changes: u64,
}

/// What one call to [`RateDetector::observe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// All windows were in control.
    Stable,
    /// A change was raised at this 1-based window of the run; the segment restarted there and
    /// the remaining windows of the run were not consumed.
    Change(u64),
}

/// The Anscombe transform of a window count.
#[inline]
fn transform(count: f64) -> f64 {
    (count + 0.375).sqrt()
}

impl RateDetector {
    /// A detector with `params`.
    pub fn new(params: CusumParams) -> Self {
        RateDetector {
            params,
            reference: Moments::default(),
            pos: 0.0,
            neg: 0.0,
            changes: 0,
        }
    }

    /// Feeds `m` consecutive windows each holding `count` invocations (`m = 1` for one
    /// window). The reference is frozen over the run, which is exact for `m = 1` and keeps a
    /// long idle stretch O(1).
    pub fn observe(&mut self, count: f64, m: u64) -> Observed {
        let y = transform(count);
        let mut left = m;
        let learned = self.reference.count();
        let warm = u64::from(self.params.warmup);
        if learned < warm {
            let take = left.min(warm - learned);
            self.reference.push_repeated(y, take);
            left -= take;
            if left == 0 {
                return Observed::Stable;
            }
        }
        let consumed = m - left;
        let sd = self.reference.std_dev().max(self.params.sigma_floor);
        let z = (y - self.reference.mean()) / sd;
        let (k, h) = (self.params.k, self.params.h);
        let up = z - k;
        let down = -z - k;
        // First window of the run (1-based) at which a sum exceeds h, if any.
        let first = |s: f64, a: f64| -> Option<u64> {
            if a > 0.0 {
                let need = ((h - s) / a).floor().max(0.0);
                Some(crate::stats::floor_u64(need).saturating_add(1))
            } else {
                None
            }
        };
        let hit = match (first(self.pos, up), first(self.neg, down)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match hit {
            Some(j) if j <= left => {
                self.changes += 1;
                self.pos = 0.0;
                self.neg = 0.0;
                self.reference = Moments::default();
                self.reference.push(y);
                Observed::Change(consumed + j)
            }
            _ => {
                let steps = crate::stats::count_f64(left);
                self.pos = (self.pos + steps * up).max(0.0);
                self.neg = (self.neg + steps * down).max(0.0);
                self.reference.push_repeated(y, left);
                Observed::Stable
            }
        }
    }

    /// Changes raised so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// True once the current segment has finished its warm-up.
    pub fn is_warm(&self) -> bool {
        self.reference.count() >= u64::from(self.params.warmup)
    }

    /// The larger of the two CUSUM sums, in reference deviations (alarm at `h`).
    pub fn statistic(&self) -> f64 {
        self.pos.max(self.neg)
    }

    /// Windows in the current segment.
    pub fn segment_windows(&self) -> u64 {
        self.reference.count()
    }
}

/// One window at a time: a change point is [`Observed::Change`] at that window.
impl costmodel::ChangeDetector for RateDetector {
    #[inline]
    fn observe_window(&mut self, count: f64) -> bool {
        matches!(self.observe(count, 1), Observed::Change(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_counts_never_alarm() {
        let mut d = RateDetector::new(CusumParams::default());
        assert_eq!(d.observe(5.0, 1_000_000), Observed::Stable);
        for _ in 0..1000 {
            assert_eq!(d.observe(5.0, 1), Observed::Stable);
        }
        assert_eq!(d.changes(), 0);
    }

    #[test]
    fn drop_to_idle_is_found_inside_a_long_run() {
        let mut d = RateDetector::new(CusumParams::default());
        for i in 0..100 {
            d.observe(if i % 2 == 0 { 18.0 } else { 22.0 }, 1);
        }
        match d.observe(0.0, 1_000_000) {
            Observed::Change(j) => assert!(j <= 3, "{j}"),
            Observed::Stable => panic!("no change found"),
        }
        assert_eq!(d.changes(), 1);
    }

    #[test]
    fn a_run_equals_the_same_windows_one_by_one_when_in_control() {
        let mut a = RateDetector::new(CusumParams::default());
        let mut b = a;
        for i in 0..50 {
            let x = f64::from(10 + (i % 3));
            a.observe(x, 1);
            b.observe(x, 1);
        }
        a.observe(11.0, 1);
        b.observe(11.0, 1);
        assert_eq!(a.observe(10.0, 1), b.observe(10.0, 1));
    }
}
