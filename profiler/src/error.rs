//! The crate's error type: one variant per failure site, each carrying what was seen.

use std::path::PathBuf;

/// Everything that can go wrong in `profiler`. Messages are lowercase, name the file (`origin`),
/// the 1-based line and the field where there is one, and say what was expected and what was
/// found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfilerError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// A line of a trace could not be read (I/O error or text that is not UTF-8).
    #[error("{origin}:{line}: cannot read line: {source}")]
    ReadLine {
        /// The file (or a description of the reader).
        origin: String,
        /// 1-based line number.
        line: usize,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The CSV header lacks a column every record needs.
    #[error("{origin}:{line}: missing column {column:?} in header")]
    MissingColumn {
        /// The file.
        origin: String,
        /// 1-based line of the header.
        line: usize,
        /// The missing column.
        column: &'static str,
    },

    /// The CSV header names a column this format does not know (often a typo).
    #[error("{origin}:{line}: unknown column {column:?} in header; known: {known}")]
    UnknownColumn {
        /// The file.
        origin: String,
        /// 1-based line of the header.
        line: usize,
        /// The column seen.
        column: String,
        /// The known columns, comma separated.
        known: &'static str,
    },

    /// The CSV header names a column twice.
    #[error("{origin}:{line}: column {column:?} appears twice in header")]
    DuplicateColumn {
        /// The file.
        origin: String,
        /// 1-based line of the header.
        line: usize,
        /// The repeated column.
        column: String,
    },

    /// A CSV line has more or fewer fields than the header.
    #[error("{origin}:{line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields on this line.
        found: usize,
    },

    /// A field holds text that is not a value of its type (non-numeric number, bad id, ...).
    #[error("{origin}:{line}: field {field}: expected {expected}, got {value:?}")]
    BadField {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// The field (column) name.
        field: &'static str,
        /// The text seen.
        value: String,
        /// What the field must hold.
        expected: &'static str,
    },

    /// A field parsed but its value is outside its domain (a negative duration, say).
    #[error("{origin}:{line}: field {field} {message}, got {value}")]
    InvalidValue {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// The field name.
        field: &'static str,
        /// The value seen.
        value: f64,
        /// What was expected (`must be >= 0`).
        message: &'static str,
    },

    /// A RON trace is not valid RON for the trace type.
    #[error("{origin}:{line}:{column}: {message}")]
    Ron {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },

    /// A RON trace record names a function the trace does not declare.
    #[error(
        "{origin}:{line}:{column}: field function: unknown function {function:?}; declared: {declared}"
    )]
    UnknownFunction {
        /// The file.
        origin: String,
        /// 1-based line of the record.
        line: usize,
        /// 1-based column where the record ends.
        column: usize,
        /// The function named.
        function: String,
        /// The functions the trace declares, comma separated.
        declared: String,
    },

    /// A RON trace declares a format version this crate does not read.
    #[error("{origin}: format_version must be {expected}, got {found}")]
    FormatVersion {
        /// The file.
        origin: String,
        /// The version this crate reads.
        expected: u32,
        /// The version in the file.
        found: u32,
    },

    /// A record arrived with a start time before the previous record of the same function.
    #[error("function {function}: start_ns must not decrease, got {found_ns} after {previous_ns}")]
    OutOfOrder {
        /// The function.
        function: String,
        /// Start of the previous record.
        previous_ns: u64,
        /// Start of this record.
        found_ns: u64,
    },

    /// A record handed to the profiler directly has a field outside its domain.
    #[error("function {function}: field {field} {message}, got {value}")]
    InvalidRecord {
        /// The function.
        function: String,
        /// The field name.
        field: &'static str,
        /// The value seen.
        value: f64,
        /// What was expected.
        message: &'static str,
    },

    /// A configuration value is outside its domain.
    #[error("config: {field} {message}, got {value}")]
    InvalidConfig {
        /// The field name.
        field: &'static str,
        /// The value seen.
        value: f64,
        /// What was expected (`must be in (0, 1]`).
        message: &'static str,
    },

    /// A fleet update or query names a machine the fleet view does not hold.
    #[error("fleet: unknown machine {machine}; the fleet has {machines} machines")]
    UnknownMachine {
        /// The machine asked for.
        machine: u32,
        /// How many machines the fleet holds.
        machines: usize,
    },

    /// A machine's snapshot has a different number of cores than the machine.
    #[error("fleet: machine {machine} has {expected} cores, snapshot has {found}")]
    SnapshotLength {
        /// The machine.
        machine: u32,
        /// Cores registered for it.
        expected: usize,
        /// Cores in the snapshot.
        found: usize,
    },

    /// A per-core statistic in a snapshot is outside its domain.
    #[error("fleet: machine {machine} core {core}: {field} must be in [0, 1], got {value}")]
    InvalidCoreStat {
        /// The machine.
        machine: u32,
        /// The core index on that machine.
        core: usize,
        /// The field name.
        field: &'static str,
        /// The value seen.
        value: f64,
    },

    /// A fleet query names a tenant with no registered data placement.
    #[error("fleet: tenant {tenant} has no registered storage machines")]
    UnknownTenant {
        /// The tenant.
        tenant: u32,
    },
}

/// `Result` with [`ProfilerError`].
pub type Result<T, E = ProfilerError> = std::result::Result<T, E>;
