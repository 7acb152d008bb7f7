//! The crate's error type: one variant per failure site, each carrying what was seen.

use costmodel::CostError;

/// Everything that can go wrong in `solver`. Messages are lowercase and name the field and the
/// value seen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolverError {
    /// A list that must not be empty is empty.
    #[error("{what} must not be empty")]
    Empty {
        /// Which list.
        what: &'static str,
    },

    /// A number is NaN, infinite, negative or otherwise out of its domain.
    #[error("{field} {expected}, got {value}")]
    InvalidInput {
        /// The parameter or field (`conditions.storage_utilisation`).
        field: &'static str,
        /// What was expected (`must be finite and >= 0`).
        expected: &'static str,
        /// The value seen.
        value: f64,
    },

    /// A placement or the cluster state names a node the state does not describe.
    #[error("unknown node id {node}: the cluster state describes {known} nodes")]
    UnknownNode {
        /// The node id asked for.
        node: u32,
        /// How many nodes the state describes (ids `0..known`).
        known: usize,
    },

    /// The same candidate placement was given twice.
    #[error("candidate {placement} given twice")]
    DuplicateCandidate {
        /// The placement, as displayed.
        placement: String,
    },

    /// A caller-provided buffer was prepared for a smaller candidate set.
    #[error("rank buffers hold {capacity} candidates, the prepared set has {needed}")]
    BufferTooSmall {
        /// Candidates the buffers were sized for.
        capacity: usize,
        /// Candidates in the prepared set.
        needed: usize,
    },

    /// The objective returned a score that cannot be ordered.
    #[error("objective {objective} scored candidate {index} as {value}: scores must not be nan")]
    BadScore {
        /// The objective's name.
        objective: String,
        /// Index of the candidate in the prepared set (id order).
        index: usize,
        /// The score.
        value: f64,
    },

    /// A function or chain edge names a function that does not exist.
    #[error("unknown function id {id:?} in {origin}")]
    UnknownFunction {
        /// Where the reference was found.
        origin: String,
        /// The id asked for.
        id: String,
    },

    /// A chain or DAG is malformed (a cycle, a stage with no options, mismatched lengths).
    #[error("chain: {message}")]
    BadChain {
        /// What is wrong.
        message: String,
    },

    /// A provisioning input is malformed.
    #[error("provisioning: {message}")]
    BadFleet {
        /// What is wrong.
        message: String,
    },

    /// The cost model refused an input (unknown scheme or transport id, invalid workload).
    #[error(transparent)]
    Cost(#[from] CostError),
}

/// `Result` with [`SolverError`].
pub type Result<T, E = SolverError> = std::result::Result<T, E>;

/// Checks that `value` is finite and not negative.
pub(crate) fn non_negative(field: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(SolverError::InvalidInput {
            field,
            expected: "must be finite and >= 0",
            value,
        })
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(field: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(SolverError::InvalidInput {
            field,
            expected: "must be finite and > 0",
            value,
        })
    }
}

/// Checks that `value` lies in `[lo, hi]` (and is not NaN); `expected` states the range.
pub(crate) fn within(
    field: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    expected: &'static str,
) -> Result<f64> {
    if value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(SolverError::InvalidInput {
            field,
            expected,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_field_and_value() {
        let e = non_negative("invocation.records", -1.0)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invocation.records must be finite and >= 0, got -1");
        let e = positive("rate", f64::NAN).unwrap_err().to_string();
        assert!(e.contains("rate") && e.contains("NaN"), "{e}");
        assert!(within("rho", 0.5, 0.0, 1.0, "must be in [0, 1]").is_ok());
    }
}
