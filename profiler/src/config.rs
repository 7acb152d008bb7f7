//! `ProfilerConfig`: how the profiler windows time and smooths and tests the rate, checked
//! once when a [`Profiler`](crate::Profiler) is built.

use crate::error::{ProfilerError, Result};
use crate::stationarity::CusumParams;
use crate::stats::count_f64;

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

    pub(crate) fn window_seconds(&self) -> f64 {
        count_f64(self.window_ns) / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profiler;

    #[test]
    fn invalid_config_names_the_field() {
        let cfg = ProfilerConfig {
            holt_alpha: 1.5,
            ..ProfilerConfig::default()
        };
        let err = Profiler::new(cfg).unwrap_err().to_string();
        assert_eq!(err, "config: holt_alpha must be in (0, 1], got 1.5");
    }
}
