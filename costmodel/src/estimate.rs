//! `Estimate`: a calibrated number with its interval, sample count and provenance.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::units::Quantity;
use crate::validate::Check;

/// Where a number came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Source {
    /// Measured on the host the profile describes; `method` says how (what was timed, the
    /// statistic, the stop rule's verdict).
    Measured {
        /// How it was measured.
        method: String,
    },
    /// A value from the literature, used because it was not (or cannot be) measured here.
    Literature {
        /// Citation: paper, document or measurement the value comes from.
        citation: String,
    },
    /// Computed from other estimates (for example a slowdown ratio of two timings).
    Derived {
        /// The formula and its inputs.
        formula: String,
    },
}

impl Source {
    /// True for [`Source::Measured`] and [`Source::Derived`] (derived from measurements).
    pub fn is_measured(&self) -> bool {
        !matches!(self, Source::Literature { .. })
    }

    /// A short tag for tables: `measured`, `literature` or `derived`.
    pub fn tag(&self) -> &'static str {
        match self {
            Source::Measured { .. } => "measured",
            Source::Literature { .. } => "literature",
            Source::Derived { .. } => "derived",
        }
    }

    /// The method, citation or formula text.
    pub fn detail(&self) -> &str {
        match self {
            Source::Measured { method } => method,
            Source::Literature { citation } => citation,
            Source::Derived { formula } => formula,
        }
    }
}

/// A calibrated number: point value, confidence interval, how many samples, and its source.
///
/// A literature default has `samples == 0` and an interval that reflects the spread of the
/// values cited (or just the point, when only one was found).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    bound(serialize = "U: Serialize", deserialize = "U: Deserialize<'de>"),
    deny_unknown_fields
)]
pub struct Estimate<U> {
    /// The best single value (a median for measurements).
    pub point: U,
    /// Lower end of the confidence interval.
    pub lower: U,
    /// Upper end of the confidence interval.
    pub upper: U,
    /// Confidence level of the interval, in (0, 1]; e.g. 0.95.
    pub confidence: f64,
    /// Number of samples behind the point (0 for literature values).
    pub samples: u32,
    /// How the number was obtained.
    pub source: Source,
}

impl<U: Quantity> Estimate<U> {
    /// A literature default with an interval `[lower, upper]` spanning the values cited.
    pub fn literature(point: U, lower: U, upper: U, citation: impl Into<String>) -> Self {
        Estimate {
            point,
            lower,
            upper,
            confidence: 1.0,
            samples: 0,
            source: Source::Literature {
                citation: citation.into(),
            },
        }
    }

    /// A literature default known only as a point value.
    pub fn cited(point: U, citation: impl Into<String>) -> Self {
        Self::literature(point, point, point, citation)
    }

    /// A measured value with its interval.
    pub fn measured(
        point: U,
        lower: U,
        upper: U,
        confidence: f64,
        samples: u32,
        method: impl Into<String>,
    ) -> Self {
        Estimate {
            point,
            lower,
            upper,
            confidence,
            samples,
            source: Source::Measured {
                method: method.into(),
            },
        }
    }

    /// An exact value derived from other numbers (no interval of its own).
    pub fn derived(point: U, formula: impl Into<String>) -> Self {
        Estimate {
            point,
            lower: point,
            upper: point,
            confidence: 1.0,
            samples: 0,
            source: Source::Derived {
                formula: formula.into(),
            },
        }
    }

    /// The point value as a bare `f64` in the unit.
    pub fn value(&self) -> f64 {
        self.point.value()
    }

    /// Half the interval width relative to the point (0 for an exact value).
    pub fn relative_half_width(&self) -> f64 {
        let p = self.point.value();
        if p == 0.0 {
            return 0.0;
        }
        (self.upper.value() - self.lower.value()) / (2.0 * p.abs())
    }

    /// True when `other`'s interval does not overlap this one.
    pub fn differs_from(&self, other: &Estimate<U>) -> bool {
        self.upper.value() < other.lower.value() || other.upper.value() < self.lower.value()
    }

    /// Checks the estimate: all values finite and non-negative, `lower <= point <= upper`
    /// (with a little slack for rounding), confidence in (0, 1].
    pub(crate) fn check(&self, c: &mut Check<'_>, field: &str) -> Result<()> {
        c.with(field, |c| {
            c.quantity("point", self.point)?;
            c.quantity("lower", self.lower)?;
            c.quantity("upper", self.upper)?;
            let slack = 1e-9 * self.point.value().abs().max(1.0);
            if self.lower.value() > self.point.value() + slack {
                return Err(c.fail(
                    "lower",
                    format!(
                        "must be <= point ({}), got {}",
                        self.point.value(),
                        self.lower.value()
                    ),
                ));
            }
            if self.upper.value() + slack < self.point.value() {
                return Err(c.fail(
                    "upper",
                    format!(
                        "must be >= point ({}), got {}",
                        self.point.value(),
                        self.upper.value()
                    ),
                ));
            }
            if !(self.confidence > 0.0 && self.confidence <= 1.0) {
                return Err(c.fail(
                    "confidence",
                    format!("must be in (0, 1], got {}", self.confidence),
                ));
            }
            Ok(())
        })
    }
}

impl<U: Quantity> fmt::Display for Estimate<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lower == self.upper {
            write!(f, "{} ({})", self.point, self.source.tag())
        } else {
            write!(
                f,
                "{} [{} .. {}] ({}, n={})",
                self.point,
                self.lower,
                self.upper,
                self.source.tag(),
                self.samples
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Nanos;

    #[test]
    fn intervals_that_do_not_overlap_differ() {
        let a = Estimate::literature(Nanos::new(10.0), Nanos::new(9.0), Nanos::new(11.0), "test");
        let b = Estimate::literature(Nanos::new(20.0), Nanos::new(19.0), Nanos::new(21.0), "test");
        let c = Estimate::literature(Nanos::new(10.5), Nanos::new(10.0), Nanos::new(12.0), "test");
        assert!(a.differs_from(&b));
        assert!(!a.differs_from(&c));
    }

    #[test]
    fn inverted_interval_is_rejected_with_field_name() {
        let e = Estimate::literature(Nanos::new(10.0), Nanos::new(12.0), Nanos::new(13.0), "x");
        let mut c = Check::new("test.ron");
        let err = e.check(&mut c, "warm_invoke").unwrap_err().to_string();
        assert!(err.contains("warm_invoke.lower"), "{err}");
    }
}
