//! Rust errors as Python exceptions: `neardata.ProfileError` (a `ValueError`) carrying the
//! file, the field and the value, and `OSError` for files that cannot be read.

use costmodel::CostError;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use solver::SolverError;

/// A `neardata.errors.ProfileError(message, file, field, value)`.
pub(crate) fn profile_error(
    py: Python<'_>,
    message: String,
    file: Option<String>,
    field: Option<String>,
    value: Option<String>,
) -> PyErr {
    let made = py
        .import("neardata.errors")
        .and_then(|m| m.getattr("ProfileError"))
        .and_then(|cls| cls.call1((message.clone(), file, field, value)));
    match made {
        Ok(obj) => PyErr::from_value(obj),
        // The Python package is missing (the bare extension imported alone): still an error.
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// The value a validation message ends with (`... got -0.2` -> `-0.2`).
fn value_in(message: &str) -> Option<String> {
    message
        .rsplit_once("got ")
        .map(|(_, v)| v.trim().trim_end_matches(')').to_owned())
}

/// A cost-model error as a Python exception.
pub(crate) fn cost(py: Python<'_>, e: CostError) -> PyErr {
    let message = e.to_string();
    match e {
        CostError::Io { path, source } => PyOSError::new_err((
            source.raw_os_error().unwrap_or(0),
            source.to_string(),
            path.display().to_string(),
        )),
        CostError::Invalid {
            origin,
            field,
            message: m,
        } => profile_error(py, message, Some(origin), Some(field), value_in(&m)),
        CostError::Parse { origin, .. } | CostError::Empty { origin, .. } => {
            profile_error(py, message, Some(origin), None, None)
        }
        CostError::FormatVersion { origin, found, .. } => profile_error(
            py,
            message,
            Some(origin),
            Some("format_version".into()),
            Some(found.to_string()),
        ),
        CostError::UnknownScheme { id, .. } => {
            profile_error(py, message, None, Some("scheme".into()), Some(id))
        }
        CostError::UnknownTransport { id, .. } => {
            profile_error(py, message, None, Some("transport".into()), Some(id))
        }
        CostError::UnknownFunction { origin, id } => {
            profile_error(py, message, Some(origin), Some("id".into()), Some(id))
        }
        CostError::InvalidId { kind, value } => {
            profile_error(py, message, None, Some(format!("{kind} id")), Some(value))
        }
        _ => profile_error(py, message, None, None, None),
    }
}

/// A solver error as a Python exception.
pub(crate) fn solver(py: Python<'_>, e: SolverError) -> PyErr {
    let message = e.to_string();
    match e {
        SolverError::Cost(c) => cost(py, c),
        SolverError::InvalidInput { field, value, .. } => profile_error(
            py,
            message,
            None,
            Some(field.to_owned()),
            Some(value.to_string()),
        ),
        SolverError::UnknownNode { node, .. } => profile_error(
            py,
            message,
            None,
            Some("free_cores".into()),
            Some(node.to_string()),
        ),
        _ => profile_error(py, message, None, None, None),
    }
}

/// A request the bindings refuse before reaching Rust's crates.
pub(crate) fn bad(py: Python<'_>, field: &str, value: impl ToString, message: &str) -> PyErr {
    let value = value.to_string();
    profile_error(
        py,
        format!("{field} {message}, got {value}"),
        None,
        Some(field.to_owned()),
        Some(value),
    )
}
