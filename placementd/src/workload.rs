//! Workload profiles sent in requests: as JSON inside a request body, or as JSON or RON text in
//! a pod annotation. Unknown fields are errors (a misspelt `record_bytes` must not silently
//! become the default), and every number is validated by the cost model, naming the field.

use costmodel::WorkloadProfile;
use serde_json::Value;
use solver::Job;

use crate::error::ApiError;

/// Reduces a validated profile to its job, naming `field` in errors.
fn job(w: &WorkloadProfile, field: &str) -> Result<Job, ApiError> {
    w.validate(field).map_err(|e| ApiError::bad(field, e))?;
    Job::from_profile(w).map_err(|e| ApiError::bad(field, e))
}

/// The first key of `input` (recursively) that `known` lacks, as a dotted path under `path`.
fn unknown_key(input: &Value, known: &Value, path: &str) -> Option<String> {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| match b.get(k) {
            None => Some(format!("{path}.{k}")),
            Some(kv) => unknown_key(v, kv, &format!("{path}.{k}")),
        }),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| unknown_key(x, y, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Rejects fields of `input` that a [`WorkloadProfile`] does not have.
fn check_fields(input: &Value, w: &WorkloadProfile, field: &str) -> Result<(), ApiError> {
    let known = serde_json::to_value(w).map_err(ApiError::internal)?;
    match unknown_key(input, &known, field) {
        Some(path) => Err(ApiError::bad(path, "unknown field")),
        None => Ok(()),
    }
}

/// A workload given as a JSON value at `field` of a request.
///
/// # Errors
/// [`ApiError`] naming the field: a type error, a missing or unknown field, a bad number.
pub fn from_json_value(v: &Value, field: &str) -> Result<(WorkloadProfile, Job), ApiError> {
    let w: WorkloadProfile = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            field.to_owned()
        } else {
            format!("{field}.{path}")
        };
        ApiError::bad(at, e.into_inner())
    })?;
    check_fields(v, &w, field)?;
    let j = job(&w, field)?;
    Ok((w, j))
}

/// A workload given as text (JSON when it starts with `{`, else RON) at `field`.
///
/// # Errors
/// [`ApiError`] naming the field: a syntax error with its line and column, a missing or unknown
/// field, a bad number (RON can say `NaN`; JSON cannot).
pub fn from_text(text: &str, field: &str) -> Result<(WorkloadProfile, Job), ApiError> {
    let t = text.trim_start();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).map_err(|e| ApiError::bad(field, e))?;
        return from_json_value(&v, field);
    }
    let ron_err = |e: ron::error::SpannedError| {
        ApiError::bad(
            field,
            format!(
                "RON line {} column {}: {}",
                e.span.start.line, e.span.start.col, e.code
            ),
        )
    };
    let w: WorkloadProfile = ron::from_str(t).map_err(ron_err)?;
    // Unknown keys, checked on the generic value (struct fields become string keys).
    let generic: ron::Value = ron::from_str(t).map_err(ron_err)?;
    if let Ok(input) = serde_json::to_value(&generic) {
        check_fields(&input, &w, field)?;
    }
    let j = job(&w, field)?;
    Ok((w, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"id": "f", "records_per_invocation": 4.0, "record_bytes": 128.0,
        "request_bytes": 64.0, "response_bytes": 64.0, "compute": {"base": 1000.0},
        "arrival": {"rate": 100.0}}"#;

    #[test]
    fn json_and_ron_give_the_same_job() {
        let (_, a) = from_text(JSON, "w").unwrap();
        let ron = "(id: \"f\", records_per_invocation: 4.0, record_bytes: 128.0, \
                   request_bytes: 64.0, response_bytes: 64.0, compute: (base: 1000.0), \
                   arrival: (rate: 100.0))";
        let (_, b) = from_text(ron, "w").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn an_unknown_field_is_named() {
        let text = JSON.replace("\"record_bytes\"", "\"record_byte\"");
        let err = from_text(&text, "w").unwrap_err();
        // The missing field is reported first (serde), which names it.
        assert!(err.message.contains("record_bytes"), "{err}");
        let text = JSON.replace("\"arrival\": {", "\"arrival\": {\"burst\": 2, ");
        let err = from_text(&text, "w").unwrap_err();
        assert_eq!(err.field, "w.arrival.burst", "{err}");
    }

    #[test]
    fn nan_in_ron_is_refused_naming_the_field() {
        let ron = "(id: \"f\", records_per_invocation: NaN, record_bytes: 128.0, \
                   request_bytes: 64.0, response_bytes: 64.0, compute: (base: 1000.0), \
                   arrival: (rate: 100.0))";
        let err = from_text(ron, "w").unwrap_err();
        assert!(err.message.contains("records_per_invocation"), "{err}");
        assert!(err.message.contains("NaN"), "{err}");
    }

    #[test]
    fn a_type_error_names_the_nested_field() {
        let text = JSON.replace("\"base\": 1000.0", "\"base\": \"fast\"");
        let err = from_text(&text, "w").unwrap_err();
        assert_eq!(err.field, "w.compute.base", "{err}");
    }
}
