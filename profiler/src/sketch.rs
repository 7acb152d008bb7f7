//! `LogHistogram`: a fixed-bin logarithmic histogram, the crate's quantile sketch and
//! inter-arrival distribution.
//!
//! Values below 1 share bin 0; each power of two `[2^e, 2^(e+1))` for `e` in `0..48` is split
//! into 8 equal-width sub-bins, so a bin spans at most 12.5% of its lower bound and any value in
//! range is located within that relative error. The bin index comes straight from the `f64`'s
//! exponent and top three mantissa bits (no logarithm). Values at or above `2^48` (2.8e14: 78
//! hours in nanoseconds) land in the last bin.
//!
//! Memory is fixed: 385 `u32` counts plus the exact minimum and maximum, whatever the number of
//! values. When a count would overflow, every bin is halved, which keeps the shape. Quantiles
//! and the CDF interpolate linearly inside a bin and are clamped to the exact `[min, max]`, so a
//! constant stream gives its value exactly.
//!
//! A fixed-bin histogram was chosen over P² markers because it is deterministic, mergeable, cheap
//! per value (one index computation and an increment) and gives the whole distribution, which
//! the warm-hit probability needs at arbitrary keep-alive values.

use costmodel::Nanos;

use crate::stats::count_f64;

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const OCTAVES: usize = 48;
/// Number of bins: one for `[0, 1)` plus 8 per octave.
pub const BINS: usize = 1 + OCTAVES * SUB;

/// A fixed-bin log histogram of non-negative values.
#[derive(Clone, Debug, PartialEq)]
pub struct LogHistogram {
    counts: [u32; BINS],
    n: u64,
    min: f64,
    max: f64,
}

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram {
            counts: [0; BINS],
            n: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// The bin of `v`: 0 below 1 (and for NaN), the exponent and top mantissa bits above.
#[inline]
pub(crate) fn bin_of(v: f64) -> usize {
    if !(v >= 1.0) {
        return 0;
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff).saturating_sub(1023);
    let sub = (bits >> (52 - SUB_BITS)) & (SUB as u64 - 1);
    let idx = 1 + exp.saturating_mul(SUB as u64) + sub;
    usize::try_from(idx).map_or(BINS - 1, |i| i.min(BINS - 1))
}

/// Lower and upper bound of bin `i`.
pub(crate) fn bin_bounds(i: usize) -> (f64, f64) {
    if i == 0 {
        return (0.0, 1.0);
    }
    let e = (i - 1) / SUB;
    let s = (i - 1) % SUB;
    // e < 48 and s < 8, so both fit an i32 / f64 exactly.
    let base = 2f64.powi(i32::try_from(e).unwrap_or(i32::MAX));
    let w = base / count_f64(SUB as u64);
    let lo = base + w * count_f64(s as u64);
    (lo, lo + w)
}

impl LogHistogram {
    /// Adds one value; negative values and NaN count as 0.
    #[inline]
    pub fn push(&mut self, v: f64) {
        let v = if v >= 0.0 { v } else { 0.0 };
        let i = bin_of(v);
        if self.counts[i] == u32::MAX {
            self.halve();
        }
        self.counts[i] += 1;
        self.n += 1;
        if v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
    }

    fn halve(&mut self) {
        let mut n = 0u64;
        for c in &mut self.counts {
            *c /= 2;
            n += u64::from(*c);
        }
        self.n = n;
    }

    /// Values counted (after any halving).
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        *self = LogHistogram::default();
    }

    /// The exact smallest value (`None` when empty).
    pub fn min(&self) -> Option<f64> {
        (self.n > 0).then_some(self.min)
    }

    /// The exact largest value (`None` when empty).
    pub fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }

    /// The `q`-quantile (`q` in `[0, 1]`), interpolated inside its bin; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = q * count_f64(self.n);
        let mut cum = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let c = f64::from(c);
            if cum + c >= rank {
                let (lo, hi) = bin_bounds(i);
                let v = lo + (hi - lo) * ((rank - cum) / c);
                return Some(v.clamp(self.min, self.max));
            }
            cum += c;
        }
        Some(self.max)
    }

    /// `P(X <= t)`, interpolated inside the bin holding `t`.
    pub fn cdf(&self, t: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        if t >= self.max {
            return 1.0;
        }
        if t < self.min {
            return 0.0;
        }
        let i = bin_of(t);
        let below: u64 = self.counts[..i].iter().map(|&c| u64::from(c)).sum();
        let (lo, hi) = bin_bounds(i);
        let lo = lo.max(self.min);
        let hi = hi.min(self.max);
        let frac = if hi > lo {
            ((t - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            1.0
        };
        (count_f64(below) + frac * f64::from(self.counts[i])) / count_f64(self.n)
    }

    /// The distribution as `(upper bound, cumulative fraction)` pairs for
    /// [`costmodel::Arrival::histogram`], whose linear interpolation between points reproduces
    /// [`LogHistogram::cdf`]: each occupied bin contributes its lower edge (when that is above
    /// the previous point, so mass is not smeared over empty bins) and its upper edge, both
    /// clamped to the exact `[min, max]`. Empty when no value was seen.
    pub fn cdf_points(&self) -> Vec<(Nanos, f64)> {
        let mut out = Vec::new();
        if self.n == 0 {
            return out;
        }
        let total = count_f64(self.n);
        let mut cum = 0u64;
        let mut last = f64::NEG_INFINITY;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let (lo, hi) = bin_bounds(i);
            let lo = lo.max(self.min);
            let hi = hi.min(self.max).max(lo);
            if lo > last {
                out.push((Nanos::new(lo), count_f64(cum) / total));
            }
            cum += u64::from(c);
            out.push((Nanos::new(hi), count_f64(cum) / total));
            last = hi;
        }
        if let Some(p) = out.last_mut() {
            // Guard the validator's "last fraction is 1" against rounding.
            p.1 = 1.0;
        }
        out
    }

    /// Bytes this histogram occupies; it never allocates, so this is constant.
    pub const fn memory_bytes() -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bins_cover_values_within_an_eighth() {
        for v in [1.0, 1.5, 3.0, 1000.0, 123_456.7, 1e12] {
            let (lo, hi) = bin_bounds(bin_of(v));
            assert!(lo <= v && v < hi, "{v} not in [{lo}, {hi})");
            assert!((hi - lo) / lo <= 0.125 + 1e-12);
        }
        assert_eq!(bin_of(0.3), 0);
        assert_eq!(bin_of(f64::NAN), 0);
        assert_eq!(bin_of(1e300), BINS - 1);
    }

    #[test]
    fn constant_stream_gives_its_value_exactly() {
        let mut h = LogHistogram::default();
        for _ in 0..100 {
            h.push(4.0);
        }
        assert!((h.quantile(0.5).unwrap() - 4.0).abs() < 1e-12);
        assert!((h.quantile(0.99).unwrap() - 4.0).abs() < 1e-12);
    }

    #[test]
    fn uniform_quantiles_are_within_bin_error() {
        let mut h = LogHistogram::default();
        for i in 1..=10_000 {
            h.push(f64::from(i));
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.02, "{p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.02, "{p99}");
    }

    #[test]
    fn cdf_points_reproduce_the_cdf_under_costmodel_interpolation() {
        let mut h = LogHistogram::default();
        for i in 0..1000 {
            h.push(1e6 * (1.0 + f64::from(i % 37)));
            h.push(5e9 + f64::from(i));
        }
        let arrival = costmodel::Arrival {
            rate: costmodel::PerSecond::new(1.0),
            cv: 1.0,
            histogram: h.cdf_points(),
        };
        for t in [5e5, 1e6, 2.5e6, 1e7, 3e7, 1e9, 5.0000005e9, 1e10] {
            let a = arrival.warm_hit_probability(Nanos::new(t));
            assert!((a - h.cdf(t)).abs() < 1e-9, "t={t}: {a} vs {}", h.cdf(t));
        }
    }

    proptest! {
        // Quantiles are monotone in q and lie within [min, max].
        #[test]
        fn quantiles_are_monotone_and_bounded(vals in proptest::collection::vec(0f64..1e9, 1..200)) {
            let mut h = LogHistogram::default();
            vals.iter().for_each(|&v| h.push(v));
            let mut prev = f64::NEG_INFINITY;
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                let x = h.quantile(q).unwrap();
                prop_assert!(x >= prev);
                prop_assert!(x >= h.min().unwrap() && x <= h.max().unwrap());
                prev = x;
            }
        }

        // The exported CDF points are a valid costmodel histogram: bounds and fractions never
        // decrease, fractions lie in [0, 1] and the last is 1.
        #[test]
        fn cdf_points_are_a_valid_arrival_histogram(vals in proptest::collection::vec(0f64..1e12, 1..200)) {
            let mut h = LogHistogram::default();
            vals.iter().for_each(|&v| h.push(v));
            let pts = h.cdf_points();
            let mut prev = (0.0, 0.0);
            for &(b, f) in &pts {
                prop_assert!(b.get() >= prev.0 && f >= prev.1 && (0.0..=1.0).contains(&f));
                prev = (b.get(), f);
            }
            prop_assert!((prev.1 - 1.0).abs() < 1e-12);
        }
    }
}
