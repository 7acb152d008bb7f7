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

/// Parses `text` when its version lies in `oldest..=current`.
fn parse<T: DeserializeOwned>(text: &str, origin: &str, oldest: u32, current: u32) -> Result<T> {
    let parse_err = |e: ron::error::SpannedError| CostError::Parse {
        origin: origin.to_owned(),
        line: e.span.start.line,
        column: e.span.start.col,
        message: e.code.to_string(),
    };
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

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| CostError::Io {
        path: path.to_owned(),
        source,
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
