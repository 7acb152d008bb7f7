//! The crate's error type: one variant per failure site, each carrying what was seen.

use std::path::PathBuf;

/// Everything that can go wrong while calibrating, reading or comparing host profiles.
///
/// Messages are lowercase, fit on one line, and name the file, field, transport or scheme
/// involved, so the command-line tool can print them as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrateError {
    /// A profile or workload file could not be read, parsed or validated (the cost model's error
    /// names the file and the field).
    #[error("{0}")]
    Profile(#[from] costmodel::CostError),

    /// The solver refused to rank the bundled workloads' candidates.
    #[error("placing workloads: {0}")]
    Solver(#[from] solver::SolverError),

    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// A system call the harness needs failed (socket setup, pinning, clock).
    #[error("{what}: {source}")]
    Os {
        /// What was being done (`tcp: connect to 127.0.0.1:40000`).
        what: String,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// A transport measurement failed part-way (a peer thread died, a datagram was lost for good).
    #[error("transport {transport}: {message}")]
    Transport {
        /// The transport id.
        transport: String,
        /// What went wrong.
        message: String,
    },

    /// An isolation probe operation failed.
    #[error("scheme {scheme}: {operation}: {message}")]
    Probe {
        /// The scheme id.
        scheme: String,
        /// The operation (`cold_start`, `compute`, ...).
        operation: String,
        /// What went wrong.
        message: String,
    },

    /// A regression could not be fitted.
    #[error("fit {what}: {message}")]
    Fit {
        /// What was being fitted (`tcp same-core server`).
        what: String,
        /// Why it failed.
        message: String,
    },

    /// A measurement produced no usable sample.
    #[error("{what}: no samples")]
    NoSamples {
        /// What was being measured.
        what: String,
    },

    /// An option value the tool does not understand.
    #[error("{option}: {message}")]
    BadOption {
        /// The option (`--only`).
        option: &'static str,
        /// What was expected and what was found.
        message: String,
    },

    /// A run finished, but some measurements failed (their cited defaults were kept).
    #[error(
        "{failed} measurement(s) failed, their cited defaults kept (profile written to {}): {first}",
        out.display()
    )]
    Incomplete {
        /// How many measurements failed.
        failed: usize,
        /// The first failure.
        first: String,
        /// Where the profile was written.
        out: PathBuf,
    },

    /// The host was too noisy to measure (the run's noise grade is unusable, or
    /// `--require-quiet` found no quiet moment).
    #[error("{message}")]
    TooNoisy {
        /// What was seen, and what was (not) written.
        message: String,
    },

    /// Two profiles cannot be compared.
    #[error("cannot compare {a} with {b}: {message}")]
    Incomparable {
        /// The first file.
        a: String,
        /// The second file.
        b: String,
        /// Why.
        message: String,
    },
}

/// `Result` with [`CalibrateError`].
pub type Result<T, E = CalibrateError> = std::result::Result<T, E>;

impl CalibrateError {
    /// An [`CalibrateError::Os`] for `what`, from the last operating-system error.
    pub(crate) fn last_os(what: impl Into<String>) -> Self {
        CalibrateError::Os {
            what: what.into(),
            source: std::io::Error::last_os_error(),
        }
    }

    /// An [`CalibrateError::Os`] for `what`.
    pub(crate) fn os(what: impl Into<String>, source: std::io::Error) -> Self {
        CalibrateError::Os {
            what: what.into(),
            source,
        }
    }
}
