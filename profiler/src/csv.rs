//! The CSV trace format: a header line naming the columns, then one record per line.
//!
//! ```text
//! # comment lines and blank lines are skipped
//! function,start_ns,duration_ns,storage_cpu_ns,compute_cpu_ns,records_read,records_written,bytes_read,bytes_written,input_bytes,output_bytes,side,warm
//! thumbnail,1000000,2500000,2100000,0,3,1,12288,4096,512,64,storage,true
//! ```
//!
//! Every column is required, in any order; an unknown or repeated column is an error (a typo
//! must not turn into a silently zero field). Times are nanoseconds (`start_ns` an integer,
//! the others decimal numbers), sizes bytes, `side` is `storage` or `compute`, `warm` is
//! `true`/`false` (or `1`/`0`). Fields are not quoted: function ids cannot hold a comma.
//!
//! Parsing is strict and streaming: [`CsvReader`] yields one record per line and stops at the
//! first bad line with an error naming the line and the field, so the rest of a file is never
//! silently dropped. A 0-byte file (or one with only comments) is an empty trace.
//!
//! The parser is written by hand: the format is a flat list of numbers and ids, and a hand
//! parser gives line-and-field errors without a dependency.

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use costmodel::{Bytes, FunctionId, Nanos, Side};

use crate::error::{ProfilerError, Result};
use crate::record::InvocationRecord;

/// The CSV columns, in the order [`write_csv`] writes them.
pub const CSV_COLUMNS: [&str; 13] = [
    "function",
    "start_ns",
    "duration_ns",
    "storage_cpu_ns",
    "compute_cpu_ns",
    "records_read",
    "records_written",
    "bytes_read",
    "bytes_written",
    "input_bytes",
    "output_bytes",
    "side",
    "warm",
];

const KNOWN: &str = "function, start_ns, duration_ns, storage_cpu_ns, compute_cpu_ns, records_read, \
records_written, bytes_read, bytes_written, input_bytes, output_bytes, side, warm";

/// A streaming reader of CSV trace records from any buffered reader.
#[derive(Debug)]
pub struct CsvReader<R> {
    input: R,
    origin: String,
    line: usize,
    /// For each header position, which of [`CSV_COLUMNS`] it holds; `None` until the header
    /// has been read.
    order: Option<[usize; CSV_COLUMNS.len()]>,
    buf: String,
    done: bool,
}

impl<R: BufRead> CsvReader<R> {
    /// A reader of `input`; `origin` names it in errors (a file path, or `<string>`).
    pub fn new(input: R, origin: impl Into<String>) -> Self {
        CsvReader {
            input,
            origin: origin.into(),
            line: 0,
            order: None,
            buf: String::new(),
            done: false,
        }
    }

    /// Reads the next line that is not blank or a comment into `self.buf`; false at the end.
    fn next_line(&mut self) -> Result<bool> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n =
                self.input
                    .read_line(&mut self.buf)
                    .map_err(|source| ProfilerError::ReadLine {
                        origin: self.origin.clone(),
                        line: self.line,
                        source,
                    })?;
            if n == 0 {
                return Ok(false);
            }
            let t = self.buf.trim();
            if !t.is_empty() && !t.starts_with('#') {
                return Ok(true);
            }
        }
    }

    fn read_header(&mut self) -> Result<[usize; CSV_COLUMNS.len()]> {
        let mut order = [usize::MAX; CSV_COLUMNS.len()];
        let mut seen = [false; CSV_COLUMNS.len()];
        for (count, name) in self.buf.trim().split(',').enumerate() {
            let name = name.trim();
            let Some(col) = CSV_COLUMNS.iter().position(|c| *c == name) else {
                return Err(ProfilerError::UnknownColumn {
                    origin: self.origin.clone(),
                    line: self.line,
                    column: name.to_owned(),
                    known: KNOWN,
                });
            };
            if seen[col] {
                return Err(ProfilerError::DuplicateColumn {
                    origin: self.origin.clone(),
                    line: self.line,
                    column: name.to_owned(),
                });
            }
            seen[col] = true;
            // Unknown and repeated names are rejected above, so there are at most 13.
            order[count] = col;
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Err(ProfilerError::MissingColumn {
                origin: self.origin.clone(),
                line: self.line,
                column: CSV_COLUMNS[missing],
            });
        }
        Ok(order)
    }

    fn parse_record(&self, order: &[usize; CSV_COLUMNS.len()]) -> Result<InvocationRecord> {
        let mut fields: [&str; CSV_COLUMNS.len()] = [""; CSV_COLUMNS.len()];
        let mut found = 0;
        for (i, f) in self.buf.trim().split(',').enumerate() {
            if i < fields.len() {
                fields[order[i]] = f.trim();
            }
            found += 1;
        }
        if found != CSV_COLUMNS.len() {
            return Err(ProfilerError::FieldCount {
                origin: self.origin.clone(),
                line: self.line,
                expected: CSV_COLUMNS.len(),
                found,
            });
        }
        let p = FieldParser {
            origin: &self.origin,
            line: self.line,
        };
        let function = FunctionId::new(fields[0]).map_err(|_| {
            p.bad(
                "function",
                fields[0],
                "a function id of 1 to 23 characters of [a-z0-9_.-]",
            )
        })?;
        let side = match fields[11] {
            "storage" => Side::Storage,
            "compute" => Side::Compute,
            other => return Err(p.bad("side", other, "`storage` or `compute`")),
        };
        let warm = match fields[12] {
            "true" | "1" => true,
            "false" | "0" => false,
            other => return Err(p.bad("warm", other, "`true`, `false`, `1` or `0`")),
        };
        let record = InvocationRecord {
            function,
            start_ns: p.int("start_ns", fields[1])?,
            duration: Nanos::new(p.float("duration_ns", fields[2])?),
            storage_cpu: Nanos::new(p.float("storage_cpu_ns", fields[3])?),
            compute_cpu: Nanos::new(p.float("compute_cpu_ns", fields[4])?),
            records_read: p.int("records_read", fields[5])?,
            records_written: p.int("records_written", fields[6])?,
            bytes_read: Bytes::new(p.float("bytes_read", fields[7])?),
            bytes_written: Bytes::new(p.float("bytes_written", fields[8])?),
            input_bytes: Bytes::new(p.float("input_bytes", fields[9])?),
            output_bytes: Bytes::new(p.float("output_bytes", fields[10])?),
            side,
            warm,
        };
        if let Some((field, value, message)) = record.problem() {
            return Err(ProfilerError::InvalidValue {
                origin: self.origin.clone(),
                line: self.line,
                field,
                value,
                message,
            });
        }
        Ok(record)
    }

    fn read_next(&mut self) -> Result<Option<InvocationRecord>> {
        if !self.next_line()? {
            return Ok(None);
        }
        let order = match self.order {
            Some(o) => o,
            None => {
                let o = self.read_header()?;
                self.order = Some(o);
                if !self.next_line()? {
                    return Ok(None);
                }
                o
            }
        };
        self.parse_record(&order).map(Some)
    }
}

impl<R: BufRead> Iterator for CsvReader<R> {
    type Item = Result<InvocationRecord>;

    /// The next record; after an error or the end of input, `None` forever.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_next() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> std::iter::FusedIterator for CsvReader<R> {}

struct FieldParser<'a> {
    origin: &'a str,
    line: usize,
}

impl FieldParser<'_> {
    fn bad(&self, field: &'static str, value: &str, expected: &'static str) -> ProfilerError {
        ProfilerError::BadField {
            origin: self.origin.to_owned(),
            line: self.line,
            field,
            value: value.to_owned(),
            expected,
        }
    }

    fn int(&self, field: &'static str, s: &str) -> Result<u64> {
        if s.contains('"') {
            return Err(self.bad(field, s, "an unquoted non-negative integer"));
        }
        s.parse()
            .map_err(|_| self.bad(field, s, "a non-negative integer"))
    }

    fn float(&self, field: &'static str, s: &str) -> Result<f64> {
        // `f64::from_str` also takes "inf" and "nan"; those are caught as non-finite values
        // by the record check with the field named.
        s.parse().map_err(|_| self.bad(field, s, "a number"))
    }
}

/// Parses a whole CSV trace held in memory; `origin` names it in errors.
///
/// # Errors
/// The first bad line's error (see [`CsvReader`]).
pub fn read_csv_str(text: &str, origin: &str) -> Result<Vec<InvocationRecord>> {
    CsvReader::new(text.as_bytes(), origin).collect()
}

/// The CSV line for one record, without a newline.
pub fn csv_line(r: &InvocationRecord) -> String {
    let mut s = String::with_capacity(128);
    // Writing to a String cannot fail. `{}` on f64 prints the shortest text that parses back
    // to the same value, so CSV round-trips exactly.
    let _ = write!(
        s,
        "{},{},{},{},{},{},{},{},{},{},{},{},{}",
        r.function,
        r.start_ns,
        r.duration.get(),
        r.storage_cpu.get(),
        r.compute_cpu.get(),
        r.records_read,
        r.records_written,
        r.bytes_read.get(),
        r.bytes_written.get(),
        r.input_bytes.get(),
        r.output_bytes.get(),
        match r.side {
            Side::Storage => "storage",
            Side::Compute => "compute",
        },
        r.warm,
    );
    s
}

/// Writes a header and one line per record.
///
/// # Errors
/// The writer's I/O error.
pub fn write_csv<'a, W: Write>(
    mut out: W,
    records: impl IntoIterator<Item = &'a InvocationRecord>,
) -> std::io::Result<()> {
    writeln!(out, "{}", CSV_COLUMNS.join(","))?;
    for r in records {
        writeln!(out, "{}", csv_line(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "function,start_ns,duration_ns,storage_cpu_ns,compute_cpu_ns,records_read,records_written,bytes_read,bytes_written,input_bytes,output_bytes,side,warm";

    #[test]
    fn comments_and_blank_lines_are_skipped_but_counted() {
        let text = format!("# a trace\n\n{HEADER}\nf,1,2,3,4,5,6,7,8,9,10,compute,false\n\n");
        let recs = read_csv_str(&text, "t.csv").unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].records_written, 6);
        assert_eq!(recs[0].side, Side::Compute);
        let bad = format!("# a trace\n\n{HEADER}\nf,1,2,3,4,5,6,7,8,9,10,compute,maybe\n");
        let err = read_csv_str(&bad, "t.csv").unwrap_err().to_string();
        assert!(err.starts_with("t.csv:4: field warm"), "{err}");
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let text = "warm,side,output_bytes,input_bytes,bytes_written,bytes_read,records_written,records_read,compute_cpu_ns,storage_cpu_ns,duration_ns,start_ns,function\n\
                    1,storage,10,9,8,7,6,5,4,3,2,1,g\n";
        let r = read_csv_str(text, "t").unwrap()[0];
        assert_eq!(r.function.as_str(), "g");
        assert_eq!(r.start_ns, 1);
        assert!((r.output_bytes.get() - 10.0).abs() < 1e-12);
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let text = format!("{HEADER}\r\nf,1,2,3,4,5,6,7,8,9,10,storage,true\r\n");
        assert_eq!(read_csv_str(&text, "t").unwrap().len(), 1);
    }

    #[test]
    fn header_only_is_an_empty_trace() {
        assert!(
            read_csv_str(&format!("{HEADER}\n"), "t")
                .unwrap()
                .is_empty()
        );
    }
}
