//! Field-path tracking for validation errors that name the file, the field and the value.

use crate::error::{CostError, Result};

/// Walks a structure, keeping the dotted path to the current field so an error can name it:
/// `fixtures/hosts/x.ron: transports.tcp.unloaded.server.per_byte.point must be >= 0, got -0.2`.
#[derive(Debug)]
pub struct Check<'a> {
    origin: &'a str,
    path: Vec<String>,
}

impl<'a> Check<'a> {
    /// Starts a check of the object loaded from `origin` (a file path or a description).
    pub fn new(origin: &'a str) -> Self {
        Check {
            origin,
            path: Vec::new(),
        }
    }

    /// Runs `f` with `segment` pushed onto the path.
    pub fn with<T>(&mut self, segment: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.path.push(segment.to_owned());
        let r = f(self);
        self.path.pop();
        r
    }

    /// The dotted path of `field` under the current position.
    fn field_path(&self, field: &str) -> String {
        let mut p = self.path.join(".");
        if !field.is_empty() {
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(field);
        }
        p
    }

    /// An error for `field` with `message`.
    pub fn fail(&self, field: &str, message: impl Into<String>) -> CostError {
        CostError::invalid(self.origin, self.field_path(field), message)
    }

    /// `value` must be finite.
    pub fn finite(&self, field: &str, value: f64) -> Result<()> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be a finite number, got {value}")))
        }
    }

    /// `value` must be finite and `>= 0`.
    pub fn non_negative(&self, field: &str, value: f64) -> Result<()> {
        self.finite(field, value)?;
        if value >= 0.0 {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be >= 0, got {value}")))
        }
    }

    /// `value` must be finite and `> 0`.
    pub fn positive(&self, field: &str, value: f64) -> Result<()> {
        self.finite(field, value)?;
        if value > 0.0 {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be > 0, got {value}")))
        }
    }

    /// `value` must lie in the closed interval `[lo, hi]`.
    pub fn within(&self, field: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
        self.finite(field, value)?;
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be in [{lo}, {hi}], got {value}")))
        }
    }

    /// A string field must not be empty.
    pub fn non_empty(&self, field: &str, value: &str) -> Result<()> {
        if value.trim().is_empty() {
            Err(self.fail(field, "must not be empty"))
        } else {
            Ok(())
        }
    }

    /// The origin this check reports.
    pub fn origin(&self) -> &str {
        self.origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_nested_field_and_value() {
        let mut c = Check::new("fixtures/hosts/x.ron");
        let err = c
            .with("transports", |c| {
                c.with("tcp", |c| c.non_negative("per_byte", -0.2))
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "fixtures/hosts/x.ron: transports.tcp.per_byte must be >= 0, got -0.2"
        );
    }

    #[test]
    fn nan_is_not_finite() {
        let c = Check::new("t");
        assert!(c.non_negative("x", f64::NAN).is_err());
        assert!(c.within("rho", 1.5, 0.0, 1.0).is_err());
    }
}
