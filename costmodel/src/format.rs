//! RON load and save for host profiles and workload sets, with version checks and validation.
//!
//! Every error names the file; validation errors also name the field and the value.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{CostError, Result};
use crate::profile::HostProfile;
use crate::workload::WorkloadSet;

#[derive(Deserialize)]
struct VersionOnly {
    /// 0 when absent (no format ever had version 0).
    #[serde(default)]
    format_version: u32,
}

/// The crate's type names, which a parse message must not show (a reader knows fields, not
/// Rust types).
const INTERNAL_TYPES: [&str; 25] = [
    "VersionOnly",
    "HostProfile",
    "HostIdentity",
    "TransportCosts",
    "LinkCosts",
    "SideCosts",
    "IsolationCosts",
    "SanityFlag",
    "Estimate",
    "Source",
    "Support",
    "Requirement",
    "WorkloadSet",
    "WorkloadProfile",
    "Compute",
    "Arrival",
    "ChainEdge",
    "ServerRequestTerms",
    "NoiseRecord",
    "NoiseStat",
    "Redo",
    "NoiseGrade",
    "ComputeClass",
    "CoreRegime",
    "Factor",
];

/// A RON error as a [`CostError::Parse`] whose message names the field (dotted path) and,
/// for a bad number, the value, and never a Rust type.
fn parse_error(text: &str, origin: &str, e: &ron::error::SpannedError) -> CostError {
    use ron::error::Error as R;
    let line = e.span.start.line;
    let column = e.span.start.col;
    let offset = byte_offset(text, line, column);
    let (path, token) = context_at(text, offset);
    let under = |field: &str| {
        let p = path.parent.join(".");
        if p.is_empty() {
            field.to_owned()
        } else {
            format!("{p}.{field}")
        }
    };
    let message = match &e.code {
        _ if text.trim().is_empty() => {
            "the file is empty; expected `(format_version: ..., ...)`".to_owned()
        }
        R::NoSuchStructField {
            expected, found, ..
        } => format!(
            "unknown field `{}`; expected one of {}",
            under(found),
            expected.join(", ")
        ),
        R::DuplicateStructField { field, .. } => format!("duplicate field `{}`", under(field)),
        R::MissingStructField { field, .. } => format!("missing field `{}`", under(field)),
        R::IntegerOutOfBounds => format!(
            "{}: integer {token} is out of range for this field",
            path.field()
        ),
        R::ExpectedNamedStructLike(_) | R::ExpectedStructLike if path.is_top() => {
            "expected `(format_version: ..., ...)` at the top of the file".to_owned()
        }
        other => {
            let m = scrub_types(&other.to_string());
            if path.is_top() {
                m
            } else {
                format!("{}: {m}", path.field())
            }
        }
    };
    CostError::Parse {
        origin: origin.to_owned(),
        line,
        column,
        message,
    }
}

/// `message` without the crate's type names (`in `WorkloadProfile``, `struct `VersionOnly``).
fn scrub_types(message: &str) -> String {
    let mut m = message.to_owned();
    for t in INTERNAL_TYPES {
        m = m
            .replace(&format!(" in `{t}`"), "")
            .replace(&format!("struct `{t}`"), "a struct")
            .replace(&format!("`{t}`"), "a struct");
    }
    m
}

/// The byte offset of 1-based `line` and `column` (in characters) in `text`, clamped to it.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = text.get(start..).unwrap_or("");
    start
        + rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

/// Where in the file an error is: the enclosing fields and the field being read.
struct FieldPath {
    /// Enclosing fields, outermost first (empty segments for unnamed values left out).
    parent: Vec<String>,
    /// The field whose value is being read, if any.
    current: Option<String>,
}

impl FieldPath {
    fn is_top(&self) -> bool {
        self.parent.is_empty() && self.current.is_none()
    }

    /// The dotted path (`transports.tcp.unloaded.client.per_request.samples`).
    fn field(&self) -> String {
        let mut p: Vec<&str> = self.parent.iter().map(String::as_str).collect();
        if let Some(c) = &self.current {
            p.push(c);
        }
        if p.is_empty() {
            "top level".to_owned()
        } else {
            p.join(".")
        }
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
}

/// The field path at byte `offset` of RON `text` and the token (number, identifier) there,
/// found by a small scan that tracks `name:` before each `(`, `{` and `[`.
fn context_at(text: &str, offset: usize) -> (FieldPath, String) {
    let offset = offset.min(text.len());
    let mut stack: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    let mut pending: Option<String> = None;
    let mut chars = text[..offset].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' if chars.peek().map(|p| p.1) == Some('/') => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().map(|p| p.1) == Some('*') => {
                chars.next();
                let mut prev = ' ';
                for (_, c) in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '"' => {
                let mut s = String::new();
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                        s.push(c);
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    } else {
                        s.push(c);
                    }
                }
                last = Some(s);
            }
            '(' | '{' | '[' => {
                stack.push(pending.take().unwrap_or_default());
                last = None;
            }
            ')' | '}' | ']' => {
                stack.pop();
                pending = None;
                last = None;
            }
            ',' => {
                pending = None;
                last = None;
            }
            ':' => pending = last.take(),
            c if is_token_char(c) => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !is_token_char(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                let tok = &text[i..end];
                last = tok
                    .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    .then(|| tok.to_owned());
            }
            _ => {}
        }
    }
    // The token around the offset: back to its start, then forward to its end.
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_token_char(c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|&(_, c)| !is_token_char(c))
        .map_or(text.len(), |(i, _)| offset + i);
    let path = FieldPath {
        parent: stack.into_iter().filter(|s| !s.is_empty()).collect(),
        current: pending,
    };
    (path, text[start..end].to_owned())
}

/// Parses `text` when its version lies in `oldest..=current`.
fn parse<T: DeserializeOwned>(text: &str, origin: &str, oldest: u32, current: u32) -> Result<T> {
    let parse_err = |e: ron::error::SpannedError| parse_error(text, origin, &e);
    // Check the version first, so a file of another version gets a version error rather than
    // a confusing message about some field that changed.
    let v: VersionOnly = ron::from_str(text).map_err(parse_err)?;
    match v.format_version {
        0 => return Err(CostError::invalid(origin, "format_version", "is missing")),
        found if !(oldest..=current).contains(&found) => {
            return Err(CostError::FormatVersion {
                origin: origin.to_owned(),
                oldest,
                expected: current,
                found,
            });
        }
        _ => {}
    }
    ron::from_str(text).map_err(parse_err)
}

fn pretty<T: Serialize>(value: &T) -> String {
    let cfg = ron::ser::PrettyConfig::new()
        .depth_limit(8)
        .struct_names(false)
        .separate_tuple_members(false);
    // Serialising these plain data types cannot fail; an empty string would show up in tests.
    ron::ser::to_string_pretty(value, cfg).unwrap_or_default()
}

/// Reads a whole file of at most [`crate::limits::MAX_FILE_BYTES`]; reading stops past it, so
/// an endless file (`/dev/zero`) is an error rather than a process that runs out of memory.
fn read(path: &Path) -> Result<String> {
    use std::io::Read;
    const CAP: u64 = crate::validate::limits::MAX_FILE_BYTES;
    let io = |source| CostError::Io {
        path: path.to_owned(),
        source,
    };
    let too_big = |got: String| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than 16 MiB, the limit for a profile or workload file ({got})"),
        ))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if let Ok(meta) = file.metadata()
        && meta.is_file()
        && meta.len() > CAP
    {
        return Err(too_big(format!("{} bytes", meta.len())));
    }
    let mut bytes = Vec::new();
    file.take(CAP + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > CAP {
        return Err(too_big("read stopped there".to_owned()));
    }
    String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| CostError::Io {
        path: path.to_owned(),
        source,
    })
}

impl HostProfile {
    /// Parses and validates a host profile from RON text; `origin` names it in errors. A file
    /// of an older version it still reads comes back as the current version (new fields empty).
    ///
    /// # Errors
    /// [`CostError::Parse`], [`CostError::FormatVersion`] or a validation error.
    pub fn from_ron(text: &str, origin: &str) -> Result<Self> {
        use crate::profile::{HOST_FORMAT_VERSION, OLDEST_HOST_FORMAT_VERSION};
        let mut p: HostProfile = parse(
            text,
            origin,
            OLDEST_HOST_FORMAT_VERSION,
            HOST_FORMAT_VERSION,
        )?;
        p.validate(origin)?;
        p.format_version = HOST_FORMAT_VERSION;
        Ok(p)
    }

    /// Loads and validates a host profile file.
    ///
    /// # Errors
    /// [`CostError::Io`] or any error of [`HostProfile::from_ron`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        HostProfile::from_ron(&read(path)?, &path.display().to_string())
    }

    /// The profile as pretty RON, always as the current format version (every older version's
    /// fields mean the same in it).
    pub fn to_ron(&self) -> String {
        if self.format_version == crate::profile::HOST_FORMAT_VERSION {
            return pretty(self);
        }
        let mut current = self.clone();
        current.format_version = crate::profile::HOST_FORMAT_VERSION;
        pretty(&current)
    }

    /// Writes the profile as RON.
    ///
    /// # Errors
    /// [`CostError::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write(path.as_ref(), &self.to_ron())
    }
}

impl WorkloadSet {
    /// Parses and validates a workload set from RON text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`CostError::Parse`], [`CostError::FormatVersion`] or a validation error.
    pub fn from_ron(text: &str, origin: &str) -> Result<Self> {
        let w: WorkloadSet = parse(
            text,
            origin,
            crate::workload::WORKLOAD_FORMAT_VERSION,
            crate::workload::WORKLOAD_FORMAT_VERSION,
        )?;
        w.validate(origin)?;
        Ok(w)
    }

    /// Loads and validates a workload file.
    ///
    /// # Errors
    /// [`CostError::Io`] or any error of [`WorkloadSet::from_ron`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        WorkloadSet::from_ron(&read(path)?, &path.display().to_string())
    }

    /// Loads every `*.ron` workload file in `dir`, sorted by file name.
    ///
    /// # Errors
    /// [`CostError::Io`] or the first file's load error.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Vec<(String, WorkloadSet)>> {
        let dir = dir.as_ref();
        let io = |source| CostError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let name = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                WorkloadSet::load(&p).map(|w| (name, w))
            })
            .collect()
    }

    /// The set as pretty RON.
    pub fn to_ron(&self) -> String {
        pretty(self)
    }

    /// Writes the set as RON.
    ///
    /// # Errors
    /// [`CostError::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write(path.as_ref(), &self.to_ron())
    }
}
