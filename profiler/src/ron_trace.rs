//! The RON trace format: a version, the functions the trace covers, then the records.
//!
//! ```text
//! (
//!     format_version: 1,
//!     description: "two functions",
//!     functions: ["thumbnail", "resize"],
//!     records: [
//!         (function: "thumbnail", start_ns: 1000000, duration_ns: 2500000.0, ...),
//!     ],
//! )
//! ```
//!
//! Each record has the fields of [`InvocationRecord`] (the CSV column names). `functions` must
//! come before `records`, and every record must name a declared function: a record for an
//! undeclared one is an error naming the line, not a new function (typos in hand-edited traces
//! must not invent functions). Times and sizes must be finite and `>= 0`. Errors give the line
//! and column where the offending record ends, which for the one-record-per-line layout that
//! [`write_ron`] produces is the record's line.

use std::cell::RefCell;
use std::fmt;

use costmodel::FunctionId;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::error::{ProfilerError, Result};
use crate::record::InvocationRecord;
use crate::trace::Trace;

/// The RON trace format version this crate reads and writes.
pub const TRACE_FORMAT_VERSION: u32 = 1;

/// A problem found while deserialising, kept so the error can be structured; ron supplies the
/// position.
#[derive(Debug)]
enum Problem {
    UnknownFunction(String),
    Invalid(&'static str, f64, &'static str),
    Version(u32),
}

struct TraceSeed<'p> {
    problem: &'p RefCell<Option<Problem>>,
}

impl<'de> DeserializeSeed<'de> for TraceSeed<'_> {
    type Value = Trace;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Trace, D::Error> {
        d.deserialize_struct(
            "Trace",
            &["format_version", "description", "functions", "records"],
            self,
        )
    }
}

impl<'de> Visitor<'de> for TraceSeed<'_> {
    type Value = Trace;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a trace: (format_version, description, functions, records)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Trace, A::Error> {
        let mut version = None;
        let mut description = String::new();
        let mut functions: Option<Vec<FunctionId>> = None;
        let mut records = None;
        let mut seen: Vec<String> = Vec::with_capacity(4);
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key would silently replace what came before (a second `records` list
            // drops the first), so it is an error, as is `functions` after the records.
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("field `{key}` is given twice")));
            }
            if key == "functions" && records.is_some() {
                return Err(de::Error::custom(
                    "field `functions` must come before `records`",
                ));
            }
            seen.push(key.clone());
            match key.as_str() {
                "format_version" => {
                    let v: u32 = map.next_value()?;
                    if v != TRACE_FORMAT_VERSION {
                        *self.problem.borrow_mut() = Some(Problem::Version(v));
                        return Err(de::Error::custom("unsupported format_version"));
                    }
                    version = Some(v);
                }
                "description" => description = map.next_value()?,
                "functions" => functions = Some(map.next_value()?),
                "records" => {
                    let Some(declared) = functions.as_ref() else {
                        return Err(de::Error::custom(
                            "field `functions` must come before `records`",
                        ));
                    };
                    let mut sorted = declared.clone();
                    sorted.sort_unstable();
                    records = Some(map.next_value_seed(RecordsSeed {
                        declared: &sorted,
                        problem: self.problem,
                    })?);
                }
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["format_version", "description", "functions", "records"],
                    ));
                }
            }
        }
        if version.is_none() {
            return Err(de::Error::missing_field("format_version"));
        }
        let functions = functions.ok_or_else(|| de::Error::missing_field("functions"))?;
        Ok(Trace {
            description,
            functions,
            records: records.unwrap_or_default(),
        })
    }
}

struct RecordsSeed<'a> {
    declared: &'a [FunctionId],
    problem: &'a RefCell<Option<Problem>>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Vec<InvocationRecord>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Vec<InvocationRecord>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of invocation records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(r) = seq.next_element::<InvocationRecord>()? {
            if self.declared.binary_search(&r.function).is_err() {
                *self.problem.borrow_mut() = Some(Problem::UnknownFunction(r.function.to_string()));
                return Err(de::Error::custom("unknown function"));
            }
            if let Some((field, value, message)) = r.problem() {
                *self.problem.borrow_mut() = Some(Problem::Invalid(field, value, message));
                return Err(de::Error::custom("invalid field"));
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// Parses a RON trace; `origin` names it in errors. An empty (or all-whitespace) text is an
/// empty trace.
///
/// # Errors
/// [`ProfilerError::Ron`] for text that is not a trace, [`ProfilerError::FormatVersion`],
/// [`ProfilerError::UnknownFunction`] for a record naming an undeclared function, and
/// [`ProfilerError::InvalidValue`] for a negative or non-finite time or size; each names the
/// line.
pub fn read_ron_str(text: &str, origin: &str) -> Result<Trace> {
    if text.trim().is_empty() {
        return Ok(Trace::default());
    }
    let problem = RefCell::new(None);
    let parsed = ron::Options::default().from_str_seed(text, TraceSeed { problem: &problem });
    parsed.map_err(|e| {
        let line = e.span.start.line;
        let column = e.span.start.col;
        match problem.into_inner() {
            Some(Problem::UnknownFunction(function)) => {
                let declared = declared_list(text);
                ProfilerError::UnknownFunction {
                    origin: origin.to_owned(),
                    line,
                    column,
                    function,
                    declared,
                }
            }
            Some(Problem::Invalid(field, value, message)) => ProfilerError::InvalidValue {
                origin: origin.to_owned(),
                line,
                field,
                value,
                message,
            },
            Some(Problem::Version(found)) => ProfilerError::FormatVersion {
                origin: origin.to_owned(),
                expected: TRACE_FORMAT_VERSION,
                found,
            },
            None => ProfilerError::Ron {
                origin: origin.to_owned(),
                line,
                column,
                message: e.code.to_string(),
            },
        }
    })
}

/// The declared functions, for an error message; re-parsed only on that error path.
fn declared_list(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Header {
        functions: Vec<FunctionId>,
    }
    // The records are skipped: serde ignores fields the header struct does not name.
    ron::from_str::<Header>(text)
        .map(|h| {
            h.functions
                .iter()
                .map(FunctionId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The RON text of a trace, one record per line.
pub fn write_ron(trace: &Trace) -> String {
    let mut s = String::new();
    s.push_str("(\n");
    s.push_str(&format!("    format_version: {TRACE_FORMAT_VERSION},\n"));
    if !trace.description.is_empty() {
        s.push_str(&format!("    description: {:?},\n", trace.description));
    }
    let names: Vec<String> = trace
        .functions
        .iter()
        .map(|f| format!("{:?}", f.as_str()))
        .collect();
    s.push_str(&format!("    functions: [{}],\n", names.join(", ")));
    s.push_str("    records: [\n");
    let cfg = ron::ser::PrettyConfig::new()
        .compact_structs(true)
        .struct_names(false);
    for r in &trace.records {
        // Plain data with string ids and finite numbers always serialises.
        let line = ron::ser::to_string_pretty(r, cfg.clone()).unwrap_or_default();
        s.push_str("        ");
        s.push_str(&line);
        s.push_str(",\n");
    }
    s.push_str("    ],\n)\n");
    s
}

#[cfg(test)]
mod tests {
    use costmodel::Nanos;

    use super::*;

    #[test]
    fn written_trace_reads_back() {
        let f = FunctionId::new("f").unwrap();
        let t = Trace::from_records(
            "d",
            vec![
                InvocationRecord::new(f, 5, Nanos::new(1.5)),
                InvocationRecord::new(f, 9, Nanos::new(2.0)),
            ],
        );
        let text = write_ron(&t);
        let back = read_ron_str(&text, "t.ron").unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn records_before_functions_is_an_error() {
        let text = "(format_version: 1, records: [], functions: [])";
        let err = read_ron_str(text, "t.ron").unwrap_err().to_string();
        assert!(err.contains("must come before"), "{err}");
    }
}
