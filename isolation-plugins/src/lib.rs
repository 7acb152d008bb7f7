#![doc = include_str!("../README.md")]

mod common;
mod error;
pub mod kernels;
pub mod store;

#[cfg(feature = "ebpf")]
pub mod ebpf;
#[cfg(feature = "mpk")]
pub mod mpk;
#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "process")]
pub mod process;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "vm")]
pub mod vm;
#[cfg(feature = "wasm")]
pub mod wasm;

use costmodel::{IsolationScheme, SchemeId};

pub use error::{PluginError, Result};
pub use store::{
    MapStore, RecordSource, StorageCall, StorageFunction, StorageOutput, reference_output,
};

/// Every scheme compiled into this build (one per enabled feature), for explicit registration.
///
/// ```
/// let schemes = isolation_plugins::schemes();
/// for s in &schemes {
///     println!("{} supported: {:?}", s.id(), s.support());
/// }
/// ```
#[allow(clippy::vec_init_then_push)] // which pushes exist depends on the enabled features
pub fn schemes() -> Vec<Box<dyn IsolationScheme>> {
    #[allow(unused_mut)]
    let mut v: Vec<Box<dyn IsolationScheme>> = Vec::new();
    #[cfg(feature = "native")]
    v.push(Box::new(native::Native::new()));
    #[cfg(feature = "process")]
    v.push(Box::new(process::Process::new()));
    #[cfg(feature = "vm")]
    v.push(Box::new(vm::Vm::new()));
    #[cfg(feature = "mpk")]
    v.push(Box::new(mpk::Mpk::new()));
    #[cfg(feature = "ebpf")]
    v.push(Box::new(ebpf::Ebpf::new()));
    #[cfg(feature = "wasm")]
    v.push(Box::new(wasm::Wasm::new()));
    #[cfg(feature = "redis")]
    v.push(Box::new(redis::Redis::new()));
    v
}

/// As [`schemes`], with the local-access probes of the schemes that read a table
/// ([`store::PROBE_TABLE_READERS`]) reading `env`'s tables: the caller's table shape is an
/// argument, not process-wide state.
#[allow(
    clippy::vec_init_then_push,
    clippy::needless_pass_by_value,
    unused_variables
)]
pub fn schemes_with_env(env: std::sync::Arc<store::ProbeEnv>) -> Vec<Box<dyn IsolationScheme>> {
    #[allow(unused_mut)]
    let mut v: Vec<Box<dyn IsolationScheme>> = Vec::new();
    #[cfg(feature = "native")]
    v.push(Box::new(native::Native::with_env(env.clone())));
    #[cfg(feature = "process")]
    v.push(Box::new(process::Process::with_env(env.clone())));
    #[cfg(feature = "vm")]
    v.push(Box::new(vm::Vm::new()));
    #[cfg(feature = "mpk")]
    v.push(Box::new(mpk::Mpk::new()));
    #[cfg(feature = "ebpf")]
    v.push(Box::new(ebpf::Ebpf::with_env(env.clone())));
    #[cfg(feature = "wasm")]
    v.push(Box::new(wasm::Wasm::with_env(env.clone())));
    #[cfg(feature = "redis")]
    v.push(Box::new(redis::Redis::new()));
    v
}

/// The id of a built-in scheme. The ids are short lowercase constants, so parsing cannot fail;
/// a failure would be a bug in this crate, caught by the tests of every scheme.
#[allow(dead_code)]
pub(crate) fn scheme_id(id: &'static str) -> SchemeId {
    match SchemeId::new(id) {
        Ok(id) => id,
        Err(_) => unreachable!("built-in scheme id {id:?} is a valid id"),
    }
}
