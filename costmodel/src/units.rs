//! Unit newtypes: CPU time and latency in nanoseconds, sizes in bytes, rates per second.
//!
//! Arithmetic exists only where it means something (time + time, time x count, slope x bytes).
//! There is no implicit conversion from bare numbers; construct with the named constructor so
//! the unit is visible at the call site.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, Sub};

use serde::{Deserialize, Serialize};

/// CPU time or latency in nanoseconds. Fractional, because averages and per-byte products are.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[repr(transparent)]
#[serde(transparent)]
pub struct Nanos(f64);

impl Nanos {
    /// Zero nanoseconds.
    pub const ZERO: Nanos = Nanos(0.0);

    /// A duration of `ns` nanoseconds.
    #[inline]
    pub const fn new(ns: f64) -> Self {
        Nanos(ns)
    }

    /// A duration of `us` microseconds.
    #[inline]
    pub fn from_micros(us: f64) -> Self {
        Nanos(us * 1e3)
    }

    /// The value in nanoseconds.
    #[inline]
    pub const fn get(self) -> f64 {
        self.0
    }

    /// The value in microseconds.
    #[inline]
    pub fn as_micros(self) -> f64 {
        self.0 / 1e3
    }

    /// Converts a [`std::time::Duration`] (configuration edges only).
    #[inline]
    pub fn from_duration(d: std::time::Duration) -> Self {
        Nanos(d.as_secs_f64() * 1e9)
    }

    /// The larger of two durations.
    #[inline]
    pub fn max(self, other: Nanos) -> Nanos {
        Nanos(self.0.max(other.0))
    }

    /// True when the value is finite and not negative.
    #[inline]
    pub fn is_valid(self) -> bool {
        self.0.is_finite() && self.0 >= 0.0
    }
}

impl Add for Nanos {
    type Output = Nanos;
    #[inline]
    fn add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0 + rhs.0)
    }
}

impl AddAssign for Nanos {
    #[inline]
    fn add_assign(&mut self, rhs: Nanos) {
        self.0 += rhs.0;
    }
}

impl Sub for Nanos {
    type Output = Nanos;
    #[inline]
    fn sub(self, rhs: Nanos) -> Nanos {
        Nanos(self.0 - rhs.0)
    }
}

/// Time scaled by a dimensionless count or factor.
impl Mul<f64> for Nanos {
    type Output = Nanos;
    #[inline]
    fn mul(self, rhs: f64) -> Nanos {
        Nanos(self.0 * rhs)
    }
}

/// Time divided by a dimensionless count (amortisation over a batch).
impl Div<f64> for Nanos {
    type Output = Nanos;
    #[inline]
    fn div(self, rhs: f64) -> Nanos {
        Nanos(self.0 / rhs)
    }
}

/// Time scaled by a dimensionless factor (a slowdown).
impl Mul<Factor> for Nanos {
    type Output = Nanos;
    #[inline]
    fn mul(self, rhs: Factor) -> Nanos {
        Nanos(self.0 * rhs.0)
    }
}

impl Sum for Nanos {
    #[inline]
    fn sum<I: Iterator<Item = Nanos>>(iter: I) -> Nanos {
        Nanos(iter.map(|n| n.0).sum())
    }
}

impl fmt::Display for Nanos {
    /// Human scale: ns below 1 us, us below 1 ms, ms above.
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.abs() < 1e3 {
            write!(f, "{v:.1} ns")
        } else if v.abs() < 1e6 {
            write!(f, "{:.2} us", v / 1e3)
        } else {
            write!(f, "{:.2} ms", v / 1e6)
        }
    }
}

/// A per-byte cost: nanoseconds of CPU per byte moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[repr(transparent)]
#[serde(transparent)]
pub struct NanosPerByte(f64);

impl NanosPerByte {
    /// A zero slope.
    pub const ZERO: NanosPerByte = NanosPerByte(0.0);

    /// A slope of `ns` nanoseconds per byte.
    #[inline]
    pub const fn new(ns: f64) -> Self {
        NanosPerByte(ns)
    }

    /// The value in nanoseconds per byte.
    #[inline]
    pub const fn get(self) -> f64 {
        self.0
    }

    /// The bandwidth this slope corresponds to, in bytes per second (infinite for a zero slope).
    #[inline]
    pub fn as_bytes_per_second(self) -> f64 {
        1e9 / self.0
    }
}

impl fmt::Display for NanosPerByte {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.4} ns/B", self.0)
    }
}

/// Slope times size is time.
impl Mul<Bytes> for NanosPerByte {
    type Output = Nanos;
    #[inline]
    fn mul(self, rhs: Bytes) -> Nanos {
        Nanos(self.0 * rhs.0)
    }
}

/// Size times slope is time.
impl Mul<NanosPerByte> for Bytes {
    type Output = Nanos;
    #[inline]
    fn mul(self, rhs: NanosPerByte) -> Nanos {
        Nanos(self.0 * rhs.0)
    }
}

/// A size in bytes. Fractional, because expected sizes (k records x s bytes) are.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[repr(transparent)]
#[serde(transparent)]
pub struct Bytes(f64);

impl Bytes {
    /// Zero bytes.
    pub const ZERO: Bytes = Bytes(0.0);

    /// A size of `n` bytes.
    #[inline]
    pub const fn new(n: f64) -> Self {
        Bytes(n)
    }

    /// The value in bytes.
    #[inline]
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl Add for Bytes {
    type Output = Bytes;
    #[inline]
    fn add(self, rhs: Bytes) -> Bytes {
        Bytes(self.0 + rhs.0)
    }
}

impl Mul<f64> for Bytes {
    type Output = Bytes;
    #[inline]
    fn mul(self, rhs: f64) -> Bytes {
        Bytes(self.0 * rhs)
    }
}

impl fmt::Display for Bytes {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v < 1024.0 {
            write!(f, "{v:.0} B")
        } else if v < 1024.0 * 1024.0 {
            write!(f, "{:.1} KiB", v / 1024.0)
        } else {
            write!(f, "{:.1} MiB", v / (1024.0 * 1024.0))
        }
    }
}

/// A rate: events per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[repr(transparent)]
#[serde(transparent)]
pub struct PerSecond(f64);

impl PerSecond {
    /// A rate of `r` events per second.
    #[inline]
    pub const fn new(r: f64) -> Self {
        PerSecond(r)
    }

    /// The value in events per second.
    #[inline]
    pub const fn get(self) -> f64 {
        self.0
    }

    /// Zero events per second.
    pub const ZERO: PerSecond = PerSecond(0.0);

    /// The fraction of time busy when each event takes `per_event`: `rate x per_event`
    /// (dimensionless; above 1 the events cannot be kept up with).
    #[inline]
    pub fn busy_fraction(self, per_event: Nanos) -> f64 {
        self.0 * per_event.0 / 1e9
    }

    /// Mean time between events (infinite for a zero rate).
    #[inline]
    pub fn mean_interval(self) -> Nanos {
        Nanos(1e9 / self.0)
    }
}

impl fmt::Display for PerSecond {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}/s", self.0)
    }
}

/// A dimensionless multiplier, such as a compute slowdown versus native code.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[repr(transparent)]
#[serde(transparent)]
pub struct Factor(f64);

impl Factor {
    /// The identity factor.
    pub const ONE: Factor = Factor(1.0);

    /// A factor of `x`.
    #[inline]
    pub const fn new(x: f64) -> Self {
        Factor(x)
    }

    /// The value.
    #[inline]
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Factor {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}x", self.0)
    }
}

/// A quantity an [`crate::Estimate`] can carry: a unit newtype over an `f64`.
pub trait Quantity: Copy + fmt::Debug + fmt::Display + PartialEq + Send + Sync + 'static {
    /// The bare value in this unit.
    fn value(self) -> f64;
    /// Wraps a bare value in this unit.
    fn from_value(v: f64) -> Self;
}

macro_rules! quantity {
    ($($t:ty),*) => {$(
        impl Quantity for $t {
            #[inline]
            fn value(self) -> f64 { self.0 }
            #[inline]
            fn from_value(v: f64) -> Self { Self(v) }
        }
    )*};
}
quantity!(Nanos, NanosPerByte, Bytes, PerSecond, Factor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_times_size_is_time() {
        let t = NanosPerByte::new(0.25) * Bytes::new(400.0);
        assert!((t.get() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn display_picks_a_human_scale() {
        assert_eq!(Nanos::new(12.0).to_string(), "12.0 ns");
        assert_eq!(Nanos::new(12_500.0).to_string(), "12.50 us");
        assert_eq!(Nanos::new(2_500_000.0).to_string(), "2.50 ms");
    }
}
