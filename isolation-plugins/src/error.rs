//! `PluginError`: what can go wrong while setting up or running an isolation scheme.

use costmodel::ProbeError;

/// Errors of the isolation plugins. One variant per failure site, with context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A system call or file operation failed.
    #[error("{operation} failed: {source}")]
    Io {
        /// What was being done (`pipe`, `fork`, `mmap guest memory`, ...).
        operation: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A KVM ioctl failed.
    #[error("kvm {step} failed: {message}")]
    Kvm {
        /// The step (`create_vm`, `set_user_memory_region`, `run`, ...).
        step: &'static str,
        /// The error reported by kvm-ioctls.
        message: String,
    },
    /// The guest stopped for a reason the host did not expect.
    #[error("unexpected vm exit while {step}: expected {expected}, got {found}")]
    UnexpectedExit {
        /// What the host was doing.
        step: &'static str,
        /// The exit it waited for.
        expected: &'static str,
        /// The exit it got.
        found: String,
    },
    /// The eBPF verifier, JIT or interpreter reported an error.
    #[error("ebpf {step} failed: {message}")]
    Ebpf {
        /// The step (`verify`, `jit_compile`, `execute`, ...).
        step: &'static str,
        /// rbpf's message.
        message: String,
    },
    /// wasmtime reported an error.
    #[error("wasm {step} failed: {message}")]
    Wasm {
        /// The step (`compile`, `instantiate`, `call run`, ...).
        step: &'static str,
        /// wasmtime's message, with its context chain.
        message: String,
    },
    /// The worker process broke the pipe protocol.
    #[error("worker protocol: expected {expected}, got {found}")]
    Worker {
        /// What the parent waited for.
        expected: &'static str,
        /// What it got.
        found: String,
    },
    /// A Redis server refused a command, broke the protocol or could not be reached.
    #[error("redis {step} failed: {message}")]
    Redis {
        /// The step (`connect`, `FUNCTION LOAD`, `read reply`, ...).
        step: &'static str,
        /// The server's error or what went wrong.
        message: String,
    },
    /// The scheme cannot run on this host.
    #[error("scheme {scheme} is unsupported here: {reason}")]
    Unsupported {
        /// The scheme id.
        scheme: &'static str,
        /// What is missing.
        reason: String,
    },
    /// A storage-function call asked for something out of range.
    #[error("invalid storage call: {field} must be {expected}, got {found}")]
    InvalidCall {
        /// The field (`records`, `rounds`).
        field: &'static str,
        /// The allowed range.
        expected: String,
        /// The value seen.
        found: String,
    },
    /// A probe table shape out of range, or a second shape once one is in force.
    #[error("invalid probe table: {field} must be {expected}, got {found}")]
    InvalidTable {
        /// The field (`table records`, `record bytes`).
        field: &'static str,
        /// The allowed range.
        expected: String,
        /// The value seen.
        found: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, PluginError>;

impl PluginError {
    /// An [`PluginError::Io`] for `operation` from the last OS error.
    #[allow(dead_code)] // used by the schemes that make system calls, when enabled
    pub(crate) fn last_os(operation: &'static str) -> Self {
        PluginError::Io {
            operation,
            source: std::io::Error::last_os_error(),
        }
    }

    /// The failure site's short name, for probe errors.
    fn site(&self) -> &'static str {
        match self {
            PluginError::Io { operation, .. } => operation,
            PluginError::Kvm { step, .. }
            | PluginError::UnexpectedExit { step, .. }
            | PluginError::Ebpf { step, .. }
            | PluginError::Wasm { step, .. }
            | PluginError::Redis { step, .. } => step,
            PluginError::Worker { .. } => "worker",
            PluginError::Unsupported { .. } => "support",
            PluginError::InvalidCall { field, .. } | PluginError::InvalidTable { field, .. } => {
                field
            }
        }
    }
}

impl From<PluginError> for ProbeError {
    fn from(e: PluginError) -> Self {
        ProbeError::new(e.site(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_become_probe_errors_naming_the_site() {
        let e = PluginError::Kvm {
            step: "create_vm",
            message: "no such device".into(),
        };
        let p = ProbeError::from(e);
        assert_eq!(p.operation, "create_vm");
        assert!(p.message.contains("no such device"), "{}", p.message);
    }
}
