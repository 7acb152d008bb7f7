//! Streaming moments and a streaming least-squares line, in constant memory.
//!
//! [`Moments`] is Welford's update (mean and sum of squared deviations), which stays accurate
//! where the textbook `sum x^2 - n mean^2` cancels; a run of `m` equal values is merged in one
//! step with Chan et al.'s pairwise formula, so idle windows cost O(1).
//!
//! [`LinearFit`] is ordinary least squares of `y` on one predictor `x` kept as sufficient
//! statistics in co-moment form (means, `sum (x - mean_x)^2`, `sum (x - mean_x)(y - mean_y)`),
//! updated the Welford way: slope = `C_xy / M2_x`, intercept = `mean_y - slope mean_x`. With one
//! predictor the normal equations are 2x2 and solved in closed form, so no matrix library is
//! needed and the state is five numbers whatever the number of samples.

/// Count, mean, variance, minimum and maximum of a stream of numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Adds one value.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        // u64 -> f64 is exact below 2^53 samples.
        self.mean += d / count_f64(self.n);
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Adds `m` copies of `x` in one step.
    pub fn push_repeated(&mut self, x: f64, m: u64) {
        if m == 0 {
            return;
        }
        let (na, nb) = (count_f64(self.n), count_f64(m));
        let n = na + nb;
        let d = x - self.mean;
        self.mean += d * nb / n;
        self.m2 += d * d * na * nb / n;
        self.n += m;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance (0 with fewer than two values).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / count_f64(self.n - 1)).max(0.0)
        }
    }

    /// Sample standard deviation.
    pub fn std_dev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// Coefficient of variation, `std / mean` (0 when the mean is not positive).
    pub fn cv(&self) -> f64 {
        if self.mean > 0.0 {
            self.std_dev() / self.mean
        } else {
            0.0
        }
    }

    /// Smallest value (`+inf` when empty).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest value (`-inf` when empty).
    pub fn max(&self) -> f64 {
        self.max
    }
}

/// Ordinary least squares `y = intercept + slope x` over a stream of `(x, y)` pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinearFit {
    n: u64,
    mean_x: f64,
    mean_y: f64,
    m2_x: f64,
    m2_y: f64,
    c_xy: f64,
}

impl LinearFit {
    /// Adds one pair.
    #[inline]
    pub fn push(&mut self, x: f64, y: f64) {
        self.n += 1;
        let n = count_f64(self.n);
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.c_xy += dx * (y - self.mean_y);
    }

    /// Number of pairs.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Mean of `x`.
    pub fn mean_x(&self) -> f64 {
        self.mean_x
    }

    /// Mean of `y`.
    pub fn mean_y(&self) -> f64 {
        self.mean_y
    }

    /// The least-squares slope; 0 when `x` has (numerically) no spread, so the fit is the mean.
    pub fn slope(&self) -> f64 {
        // A spread below 1e-12 of the mean square is rounding, not signal.
        let scale = self.mean_x * self.mean_x * count_f64(self.n) * 1e-12;
        if self.n < 2 || self.m2_x <= scale.max(f64::MIN_POSITIVE) {
            0.0
        } else {
            self.c_xy / self.m2_x
        }
    }

    /// The least-squares intercept.
    pub fn intercept(&self) -> f64 {
        self.mean_y - self.slope() * self.mean_x
    }

    /// Predicted `y` at `x`.
    pub fn predict(&self, x: f64) -> f64 {
        self.intercept() + self.slope() * x
    }

    /// Coefficient of determination in `[0, 1]` (0 when either variable has no spread).
    pub fn r_squared(&self) -> f64 {
        if self.m2_x > 0.0 && self.m2_y > 0.0 {
            (self.c_xy * self.c_xy / (self.m2_x * self.m2_y)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The fit constrained to a non-negative intercept and slope, as `(intercept, slope)`:
    /// compute and record counts cannot be negative at any input size. A negative slope becomes
    /// the mean with no slope; a negative intercept becomes the line through the origin and the
    /// means.
    pub fn non_negative(&self) -> (f64, f64) {
        let (a, b) = (self.intercept(), self.slope());
        if !(a.is_finite() && b.is_finite()) {
            // Inputs too close together to fit a slope (it overflowed): the flat line.
            (self.mean_y.max(0.0), 0.0)
        } else if b < 0.0 {
            (self.mean_y.max(0.0), 0.0)
        } else if a < 0.0 {
            let through_origin = self.mean_y / self.mean_x;
            if self.mean_x > 0.0 && through_origin.is_finite() {
                (0.0, through_origin.max(0.0))
            } else if self.mean_x > 0.0 {
                (self.mean_y.max(0.0), 0.0)
            } else {
                (0.0, 0.0)
            }
        } else {
            (a, b)
        }
    }
}

/// A sample count as a float (exact below 2^53).
#[inline]
#[allow(clippy::cast_precision_loss)]
pub(crate) fn count_f64(n: u64) -> f64 {
    n as f64
}

/// A non-negative finite float rounded down to an integer, saturating at the ends (`NaN` -> 0).
#[inline]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn floor_u64(x: f64) -> u64 {
    // `as` saturates on overflow and maps NaN to 0, which is the intended behaviour.
    x as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn moments_match_two_pass_formulas() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut m = Moments::default();
        xs.iter().for_each(|&x| m.push(x));
        assert!((m.mean() - 5.0).abs() < 1e-12);
        assert!((m.variance() - 32.0 / 7.0).abs() < 1e-12);
        assert!((m.min() - 2.0).abs() < 1e-12 && (m.max() - 9.0).abs() < 1e-12);
    }

    #[test]
    fn fit_recovers_an_exact_line() {
        let mut f = LinearFit::default();
        for i in 0..100 {
            let x = f64::from(i) * 10.0;
            f.push(x, 3.0 + 0.5 * x);
        }
        assert!((f.slope() - 0.5).abs() < 1e-12);
        assert!((f.intercept() - 3.0).abs() < 1e-9);
        assert!((f.r_squared() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fit_without_spread_in_x_is_the_mean() {
        let mut f = LinearFit::default();
        for y in [1.0, 2.0, 3.0] {
            f.push(7.0, y);
        }
        assert!(f.slope().abs() < 1e-12);
        assert!((f.predict(100.0) - 2.0).abs() < 1e-12);
    }

    proptest! {
        // Merging a run of m equal values gives the same moments as pushing them one by one.
        #[test]
        fn repeated_push_equals_individual_pushes(
            prefix in proptest::collection::vec(-1e6f64..1e6, 0..20),
            x in -1e6f64..1e6,
            m in 0u64..50,
        ) {
            let mut a = Moments::default();
            let mut b = Moments::default();
            for &p in &prefix { a.push(p); b.push(p); }
            a.push_repeated(x, m);
            for _ in 0..m { b.push(x); }
            prop_assert_eq!(a.count(), b.count());
            prop_assert!((a.mean() - b.mean()).abs() <= 1e-6 * (1.0 + b.mean().abs()));
            prop_assert!((a.variance() - b.variance()).abs() <= 1e-6 * (1.0 + b.variance()));
        }

        // The streaming fit equals the two-pass least-squares solution.
        #[test]
        fn streaming_fit_equals_batch_least_squares(
            pts in proptest::collection::vec((0f64..1e5, 0f64..1e7), 3..40),
        ) {
            let mut f = LinearFit::default();
            for &(x, y) in &pts { f.push(x, y); }
            let n = pts.len() as f64;
            let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            prop_assume!(sxx > 1e-3);
            let slope = sxy / sxx;
            prop_assert!((f.slope() - slope).abs() <= 1e-6 * (1.0 + slope.abs()));
            prop_assert!((f.intercept() - (my - slope * mx)).abs() <= 1e-6 * (1.0 + my.abs() + (slope * mx).abs()));
        }
    }
}
