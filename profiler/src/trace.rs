//! `Trace`: a list of invocation records, with load and save in either format.

use std::io::BufReader;
use std::path::Path;

use costmodel::FunctionId;
use serde::Serialize;

use crate::csv::{CsvReader, write_csv};
use crate::error::{ProfilerError, Result};
use crate::record::InvocationRecord;
use crate::ron_trace::{read_ron_str, write_ron};

/// The records of a trace, with the functions it covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trace {
    /// What the trace is, for people.
    pub description: String,
    /// The functions the trace covers, in the order declared (RON) or first seen (CSV).
    pub functions: Vec<FunctionId>,
    /// The records, in file order.
    pub records: Vec<InvocationRecord>,
}

/// Which file format a trace is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// Comma-separated values with a header ([`crate::csv`]).
    Csv,
    /// RON with declared functions ([`crate::ron_trace`]).
    Ron,
}

impl TraceFormat {
    /// The format a path's extension names (`.csv` or `.ron`); `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "csv" => Some(TraceFormat::Csv),
            "ron" => Some(TraceFormat::Ron),
            _ => None,
        }
    }
}

impl Trace {
    /// A trace of `records`, its functions listed in order of first appearance.
    pub fn from_records(description: impl Into<String>, records: Vec<InvocationRecord>) -> Self {
        let mut functions: Vec<FunctionId> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in &records {
            if seen.insert(r.function) {
                functions.push(r.function);
            }
        }
        Trace {
            description: description.into(),
            functions,
            records,
        }
    }

    /// Parses CSV text; `origin` names it in errors.
    ///
    /// # Errors
    /// See [`CsvReader`].
    pub fn from_csv_str(text: &str, origin: &str) -> Result<Self> {
        let records = crate::csv::read_csv_str(text, origin)?;
        Ok(Trace::from_records("", records))
    }

    /// Parses RON text; `origin` names it in errors.
    ///
    /// # Errors
    /// See [`read_ron_str`].
    pub fn from_ron_str(text: &str, origin: &str) -> Result<Self> {
        read_ron_str(text, origin)
    }

    /// Loads a trace file, the format chosen by its extension (`.csv` or `.ron`).
    ///
    /// # Errors
    /// [`ProfilerError::Io`] when the file cannot be opened or has another extension, and any
    /// parse error, naming the file and the line.
    pub fn load(path: &Path) -> Result<Self> {
        let origin = path.display().to_string();
        let io = |source| ProfilerError::Io {
            path: path.to_owned(),
            source,
        };
        match TraceFormat::from_path(path) {
            Some(TraceFormat::Csv) => {
                let file = std::fs::File::open(path).map_err(io)?;
                let records =
                    CsvReader::new(BufReader::new(file), origin).collect::<Result<Vec<_>>>()?;
                Ok(Trace::from_records("", records))
            }
            Some(TraceFormat::Ron) => {
                let text = std::fs::read_to_string(path).map_err(io)?;
                read_ron_str(&text, &origin)
            }
            None => Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "trace files must end in .csv or .ron",
            ))),
        }
    }

    /// Saves the trace, the format chosen by the path's extension.
    ///
    /// # Errors
    /// [`ProfilerError::Io`] when the file cannot be written or has another extension.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| ProfilerError::Io {
            path: path.to_owned(),
            source,
        };
        match TraceFormat::from_path(path) {
            Some(TraceFormat::Csv) => {
                let mut out = Vec::new();
                write_csv(&mut out, &self.records).map_err(io)?;
                std::fs::write(path, out).map_err(io)
            }
            Some(TraceFormat::Ron) => std::fs::write(path, write_ron(self)).map_err(io),
            None => Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "trace files must end in .csv or .ron",
            ))),
        }
    }

    /// The CSV text of the trace (header and one line per record).
    pub fn to_csv_string(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail, and csv lines are ASCII.
        let _ = write_csv(&mut out, &self.records);
        String::from_utf8(out).unwrap_or_default()
    }

    /// The RON text of the trace.
    pub fn to_ron_string(&self) -> String {
        write_ron(self)
    }
}
