//! Temporal locality: the probability `h` that an invocation finds a warm context.
//!
//! A context is kept warm for `keep_alive` after each invocation, so an invocation is a warm hit
//! when the time since the previous one is at most `keep_alive`: `h = P(T <= keep_alive)` for the
//! inter-arrival time `T`. The distribution of `T` comes from, in order of preference:
//!
//! 1. the empirical histogram in the profile (linear interpolation of the CDF between bounds);
//! 2. otherwise a gamma distribution with the profile's mean rate and coefficient of variation
//!    (`cv = 1` is the exponential of a Poisson process: `h = 1 - exp(-rate * keep_alive)`;
//!    `cv > 1` is bursty, `cv < 1` regular, as timer-driven functions are).
//!
//! This ignores contention for context slots between tenants; the solver's cache model adds it.

use crate::units::Nanos;
use crate::workload::Arrival;

/// `P(inter-arrival <= keep_alive)` for `arrival`, in `[0, 1]`.
pub fn warm_hit_probability(arrival: &Arrival, keep_alive: Nanos) -> f64 {
    let t = keep_alive.get();
    if !(t > 0.0) {
        return 0.0;
    }
    if t.is_infinite() {
        // Kept warm forever: every invocation after the first finds it.
        return 1.0;
    }
    if !arrival.histogram.is_empty() {
        return empirical_cdf(&arrival.histogram, t);
    }
    let rate = arrival.rate.get();
    if !(rate > 0.0) {
        return 0.0;
    }
    let mean_ns = 1e9 / rate;
    let cv = arrival.cv;
    if !(cv > 0.0) {
        // Perfectly regular arrivals: every gap equals the mean.
        return if t >= mean_ns { 1.0 } else { 0.0 };
    }
    let shape = 1.0 / (cv * cv);
    if !(shape > 0.0) {
        // Infinitely bursty (cv overflowed): the mass sits at a zero gap.
        return 1.0;
    }
    let scale = mean_ns / shape;
    let x = t / scale;
    if x.is_nan() || x.is_infinite() {
        // Mean gap 0 or infinity against a finite keep-alive (a rate that over- or underflows).
        return if x.is_infinite() { 1.0 } else { 0.0 };
    }
    let h = gamma_cdf(shape, x);
    if h.is_nan() {
        // The series did not converge: fall back to all mass at the mean.
        return if x >= shape { 1.0 } else { 0.0 };
    }
    h.clamp(0.0, 1.0)
}

fn empirical_cdf(hist: &[(Nanos, f64)], t: f64) -> f64 {
    let mut prev = (0.0, 0.0);
    for &(bound, frac) in hist {
        let b = bound.get();
        if t <= b {
            let span = b - prev.0;
            if span <= 0.0 {
                return frac;
            }
            return prev.1 + (frac - prev.1) * (t - prev.0) / span;
        }
        prev = (b, frac);
    }
    prev.1
}

/// Regularised lower incomplete gamma function `P(a, x)` (Numerical Recipes, gser/gcf).
pub(crate) fn gamma_cdf(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if a > 1e6 {
        // Essentially deterministic: all mass at the mean (x = a in scaled units).
        return if x >= a { 1.0 } else { 0.0 };
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let mut ap = a;
        let mut sum = 1.0 / a;
        let mut del = sum;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-14 {
                break;
            }
        }
        sum * (-x + a * x.ln() - gln).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -f64::from(i) * (f64::from(i) - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-14 {
                break;
            }
        }
        1.0 - (-x + a * x.ln() - gln).exp() * h
    }
}

/// Lanczos approximation of `ln Gamma(x)` for `x > 0`.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.001_208_650_973_866_179,
        -0.000_005_395_239_384_953,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for g in G {
        y += 1.0;
        ser += g / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::PerSecond;

    #[test]
    fn poisson_matches_exponential_cdf() {
        let a = Arrival::poisson(PerSecond::new(10.0));
        // keep-alive 100 ms at 10/s: h = 1 - e^-1.
        let h = warm_hit_probability(&a, Nanos::new(1e8));
        assert!((h - (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{h}");
    }

    #[test]
    fn regular_arrivals_hit_when_keep_alive_exceeds_period() {
        let mut a = Arrival::poisson(PerSecond::new(1.0));
        a.cv = 0.01;
        assert!(warm_hit_probability(&a, Nanos::new(1.2e9)) > 0.99);
        assert!(warm_hit_probability(&a, Nanos::new(0.8e9)) < 0.01);
    }

    #[test]
    fn histogram_is_interpolated() {
        let mut a = Arrival::poisson(PerSecond::new(1.0));
        a.histogram = vec![(Nanos::new(100.0), 0.5), (Nanos::new(200.0), 1.0)];
        assert!((warm_hit_probability(&a, Nanos::new(150.0)) - 0.75).abs() < 1e-12);
        assert!((warm_hit_probability(&a, Nanos::new(1e6)) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gamma_cdf_at_shape_two_matches_closed_form() {
        // P(2, x) = 1 - e^-x (1 + x)
        for x in [0.1f64, 1.0, 3.0, 10.0] {
            let want: f64 = 1.0 - (-x).exp() * (1.0 + x);
            assert!((gamma_cdf(2.0, x) - want).abs() < 1e-9, "x={x}");
        }
    }
}
