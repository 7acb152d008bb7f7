//! The service's error: an HTTP status, the request field it is about, and a one-line message.

use std::fmt;

use serde::Serialize;

/// A request the service refuses (4xx) or could not answer (5xx).
///
/// Its JSON body is `{"error": "<field>: <message>", "field": "<field>", "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// HTTP status code.
    #[serde(skip)]
    pub status: u16,
    /// The request field at fault, as a dotted path (`nodes.items[2].metadata.name`); `body`
    /// for the request as a whole.
    pub field: String,
    /// What was expected and what was found.
    pub message: String,
}

impl ApiError {
    /// A 400 about `field`.
    pub fn bad(field: impl Into<String>, message: impl fmt::Display) -> Self {
        ApiError {
            status: 400,
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// A 413: the body is over `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        ApiError {
            status: 413,
            field: "body".into(),
            message: format!("request body is over the limit of {limit} bytes"),
        }
    }

    /// A 500 the service could not avoid (a bug: it is counted in the metrics).
    pub fn internal(message: impl fmt::Display) -> Self {
        ApiError {
            status: 500,
            field: "service".into(),
            message: message.to_string(),
        }
    }

    /// A solver error, with the field it names where it names one.
    pub fn from_solver(e: solver::SolverError) -> Self {
        let field = match &e {
            solver::SolverError::InvalidInput { field, .. } => (*field).to_owned(),
            solver::SolverError::UnknownNode { .. } => "nodes".to_owned(),
            _ => "request".to_owned(),
        };
        ApiError::bad(field, e)
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            error: String,
            field: &'a str,
            message: &'a str,
        }
        serde_json::to_string(&Body {
            error: self.to_string(),
            field: &self.field,
            message: &self.message,
        })
        .unwrap_or_else(|_| String::from("{\"error\":\"unprintable error\"}"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Turns a `serde_path_to_error` failure into a 400 naming the field's path.
pub fn from_json(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let field = if inner.is_syntax() || inner.is_eof() || path == "." || path.is_empty() {
        "body".to_owned()
    } else {
        path
    };
    // serde_json says "at line 1 column 57"; keep it, it locates the field in the body.
    ApiError::bad(field, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_field_and_the_message() {
        let e = ApiError::bad("nodes[1].free_cores", "must be >= 0, got -1");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["field"], "nodes[1].free_cores");
        assert_eq!(v["error"], "nodes[1].free_cores: must be >= 0, got -1");
    }
}
