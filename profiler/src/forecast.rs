//! `Holt`: double exponential smoothing of the windowed invocation count, the rate forecast.
//!
//! Level and trend are updated per closed window `x`:
//! `level' = alpha x + (1 - alpha)(level + trend)`,
//! `trend' = beta (level' - level) + (1 - beta) trend`,
//! and the forecast `h` windows ahead is `max(0, level + h trend)` (Holt, 1957). The first window
//! initialises the level with no trend. A run of idle windows is applied one by one up to
//! [`MAX_STEPS`]; beyond that the state has decayed to zero for any `alpha` and `beta` the
//! configuration accepts and is set to zero directly, so a function idle for a year costs O(1).

/// Idle windows applied one by one before the state is treated as fully decayed.
pub const MAX_STEPS: u64 = 512;

/// Holt's linear trend smoother over a stream of window counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holt {
    alpha: f64,
    beta: f64,
    level: f64,
    trend: f64,
    started: bool,
}

impl Holt {
    /// A smoother with level weight `alpha` and trend weight `beta`, both in `(0, 1]`.
    pub fn new(alpha: f64, beta: f64) -> Self {
        Holt {
            alpha,
            beta,
            level: 0.0,
            trend: 0.0,
            started: false,
        }
    }

    /// Adds one window's value.
    #[inline]
    pub fn update(&mut self, x: f64) {
        if !self.started {
            self.level = x;
            self.trend = 0.0;
            self.started = true;
            return;
        }
        let prev = self.level;
        self.level = self.alpha * x + (1.0 - self.alpha) * (self.level + self.trend);
        self.trend = self.beta * (self.level - prev) + (1.0 - self.beta) * self.trend;
    }

    /// Adds `m` windows of value `x`.
    pub fn update_repeated(&mut self, x: f64, m: u64) {
        if m > MAX_STEPS && x == 0.0 && self.started {
            self.level = 0.0;
            self.trend = 0.0;
            return;
        }
        for _ in 0..m.min(MAX_STEPS) {
            self.update(x);
        }
        if m > MAX_STEPS {
            // A long constant run: the smoother has converged to the constant.
            self.level = x;
            self.trend = 0.0;
        }
    }

    /// The forecast `h` windows ahead (0 before the first window).
    pub fn forecast(&self, h: f64) -> f64 {
        (self.level + h * self.trend).max(0.0)
    }

    /// The smoothed level.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// The smoothed trend, per window.
    pub fn trend(&self) -> f64 {
        self.trend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_input_is_forecast_flat() {
        let mut h = Holt::new(0.3, 0.1);
        for _ in 0..100 {
            h.update(7.0);
        }
        assert!((h.forecast(10.0) - 7.0).abs() < 1e-9);
    }

    #[test]
    fn linear_ramp_is_extrapolated() {
        let mut h = Holt::new(0.5, 0.3);
        for i in 0..200 {
            h.update(f64::from(i));
        }
        // Next value after 199 is 200; ten ahead is 209.
        assert!((h.forecast(1.0) - 200.0).abs() < 0.5, "{}", h.forecast(1.0));
        assert!((h.forecast(10.0) - 209.0).abs() < 1.0);
    }

    #[test]
    fn long_idle_run_decays_to_zero() {
        let mut h = Holt::new(0.3, 0.1);
        h.update(50.0);
        h.update_repeated(0.0, 1_000_000);
        assert!(h.forecast(1.0).abs() < 1e-12);
    }
}
