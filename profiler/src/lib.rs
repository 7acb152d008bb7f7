#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod csv;
mod error;
mod record;
pub mod ron_trace;
mod trace;

pub use csv::{CSV_COLUMNS, CsvReader, read_csv_str, write_csv};
pub use error::{ProfilerError, Result};
pub use record::InvocationRecord;
pub use ron_trace::{TRACE_FORMAT_VERSION, read_ron_str, write_ron};
pub use trace::{Trace, TraceFormat};
