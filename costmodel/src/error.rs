//! The crate's error type: one variant per failure site, each carrying what was seen.

use std::path::PathBuf;

/// Everything that can go wrong in `costmodel`. Messages are lowercase and say what was expected
/// and what was found, naming the file and field where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CostError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// A file is not valid RON for the expected type.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        /// The file (or `"<string>"`).
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser said.
        message: String,
    },

    /// A file declares a format version this crate does not read.
    #[error("{origin}: format_version must be {}, got {found}", versions(*.oldest, *.expected))]
    FormatVersion {
        /// The file (or `"<string>"`).
        origin: String,
        /// The oldest version this crate still reads.
        oldest: u32,
        /// The version this crate writes (the newest it reads).
        expected: u32,
        /// The version in the file.
        found: u32,
    },

    /// A field holds a value outside its domain.
    #[error("{origin}: {field} {message}")]
    Invalid {
        /// The file or in-memory object checked.
        origin: String,
        /// Dotted path of the field (`transports.tcp.unloaded.server.per_byte`).
        field: String,
        /// What was expected and what was found (`must be >= 0, got -0.2`).
        message: String,
    },

    /// An id string is empty, too long or has characters outside `[a-z0-9_.-]` (`@` is also
    /// allowed in scheme and transport ids).
    #[error(
        "invalid {kind} id {value:?}: expected 1 to 23 characters of [a-z0-9_.-] (and @ in scheme and transport ids)"
    )]
    InvalidId {
        /// Which kind of id.
        kind: &'static str,
        /// The text seen.
        value: String,
    },

    /// A placement or profile names a scheme the model does not know.
    #[error("unknown scheme id {id:?}; known: {known}")]
    UnknownScheme {
        /// The id asked for.
        id: String,
        /// The ids the model knows, comma separated.
        known: String,
    },

    /// A placement names a transport the model does not know.
    #[error("unknown transport id {id:?}; known: {known}")]
    UnknownTransport {
        /// The id asked for.
        id: String,
        /// The ids the model knows, comma separated.
        known: String,
    },

    /// A chain edge or lookup names a function that does not exist.
    #[error("{origin}: unknown function id {id:?}")]
    UnknownFunction {
        /// Where the reference was found.
        origin: String,
        /// The id asked for.
        id: String,
    },

    /// The same id was registered twice.
    #[error("{kind} id {id:?} registered twice")]
    DuplicateId {
        /// Which kind of id.
        kind: &'static str,
        /// The id.
        id: String,
    },

    /// A collection that must not be empty is empty.
    #[error("{origin}: {what} must not be empty")]
    Empty {
        /// Where.
        origin: String,
        /// Which collection.
        what: &'static str,
    },

    /// A placement combines settings the model cannot price.
    #[error("placement {placement}: {message}")]
    BadPlacement {
        /// The placement, as displayed.
        placement: String,
        /// What is wrong with it.
        message: String,
    },

    /// The model refuses a placement for an invocation (a dedicated core for a function with no
    /// arrivals, or one it cannot keep up with).
    #[error("placement {placement}: {refusal}")]
    Refused {
        /// The placement, as displayed.
        placement: String,
        /// Why.
        refusal: crate::cost::Refusal,
    },
}

/// `Result` with [`CostError`].
pub type Result<T, E = CostError> = std::result::Result<T, E>;

impl CostError {
    /// An [`CostError::Invalid`] for `field` of `origin`.
    pub fn invalid(
        origin: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CostError::Invalid {
            origin: origin.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `2`, or `1 to 2` when several versions are read.
fn versions(oldest: u32, newest: u32) -> String {
    if oldest >= newest {
        newest.to_string()
    } else {
        format!("{oldest} to {newest}")
    }
}
