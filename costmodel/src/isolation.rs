//! The `IsolationScheme` trait: what the cost model needs to know about a sandbox.
//!
//! A scheme supplies its identity and its cited literature defaults; everything else has a
//! default method, so hooks added later never break existing plugins. A scheme that can be
//! calibrated also hands out an [`IsolationProbe`] for the harness to time. Third-party schemes
//! depend on `costmodel` alone and are registered explicitly with a [`crate::Registry`].

use std::sync::Arc;

use crate::id::SchemeId;
use crate::probe::{IsolationProbe, ProbeError};
use crate::profile::{IsolationCosts, Support};
use crate::units::{Factor, Nanos};

/// The family a scheme belongs to (for tables and for choosing sanity bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SchemeKind {
    /// Trusted code in the server's address space (type safety only).
    Native,
    /// A separate process, possibly in its own namespaces and cgroup (a container).
    Process,
    /// A hardware virtual machine.
    Vm,
    /// Memory protection keys inside one address space.
    Mpk,
    /// An eBPF virtual machine (interpreted or JIT-compiled).
    Ebpf,
    /// WebAssembly.
    Wasm,
    /// Anything else (a user-space kernel, a language VM, ...).
    Other,
}

/// An isolation scheme the cost model can price. Object safe.
pub trait IsolationScheme: Send + Sync {
    /// Stable identifier (`wasm`, `vm`, ...), used in profiles and placements.
    fn id(&self) -> SchemeId;

    /// Literature defaults, each number's `source` citing where it comes from.
    fn defaults(&self) -> IsolationCosts;

    /// The scheme's family.
    fn kind(&self) -> SchemeKind {
        SchemeKind::Other
    }

    /// Whether the scheme can run on this host (detected, never assumed).
    fn support(&self) -> Support {
        Support::Supported
    }

    /// A probe the calibration harness can time, if the scheme can be measured here.
    ///
    /// # Errors
    /// A [`ProbeError`] when the scheme should be measurable but setting up the probe failed.
    fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
        None
    }
}

impl<T: IsolationScheme + ?Sized> IsolationScheme for &T {
    fn id(&self) -> SchemeId {
        (**self).id()
    }
    fn defaults(&self) -> IsolationCosts {
        (**self).defaults()
    }
    fn kind(&self) -> SchemeKind {
        (**self).kind()
    }
    fn support(&self) -> Support {
        (**self).support()
    }
    fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
        (**self).probe()
    }
}

macro_rules! forward_scheme {
    ($($ptr:ident),*) => {$(
        impl<T: IsolationScheme + ?Sized> IsolationScheme for $ptr<T> {
            fn id(&self) -> SchemeId { (**self).id() }
            fn defaults(&self) -> IsolationCosts { (**self).defaults() }
            fn kind(&self) -> SchemeKind { (**self).kind() }
            fn support(&self) -> Support { (**self).support() }
            fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
                (**self).probe()
            }
        }
    )*};
}
forward_scheme!(Box, Arc);

/// A scheme defined only by a profile entry (no probe). Lets an embedder price every scheme in a
/// host profile without compiling the plugins that measured it.
#[derive(Clone, Debug)]
pub struct ProfiledScheme {
    id: SchemeId,
    costs: IsolationCosts,
}

impl ProfiledScheme {
    /// A scheme with id `id` whose costs are `costs`.
    pub fn new(id: SchemeId, costs: IsolationCosts) -> Self {
        ProfiledScheme { id, costs }
    }
}

impl IsolationScheme for ProfiledScheme {
    fn id(&self) -> SchemeId {
        self.id
    }
    fn defaults(&self) -> IsolationCosts {
        self.costs.clone()
    }
    fn support(&self) -> Support {
        self.costs.support.clone()
    }
}

/// Adapters for schemes: wrap one to explore "what if" variants.
pub trait IsolationSchemeExt: IsolationScheme + Sized {
    /// The same scheme with `extra` added to every warm invocation, under id `id`.
    fn with_overhead(self, id: SchemeId, extra: Nanos) -> WithOverhead<Self> {
        WithOverhead {
            inner: self,
            id,
            extra,
            slowdown: Factor::ONE,
        }
    }

    /// The same scheme with compute `factor` times slower, under id `id`.
    fn slowed(self, id: SchemeId, factor: Factor) -> WithOverhead<Self> {
        WithOverhead {
            inner: self,
            id,
            extra: Nanos::ZERO,
            slowdown: factor,
        }
    }
}

impl<T: IsolationScheme + Sized> IsolationSchemeExt for T {}

/// A scheme with an added per-invocation overhead and compute slowdown. See [`IsolationSchemeExt`].
#[derive(Clone, Debug)]
pub struct WithOverhead<S> {
    inner: S,
    id: SchemeId,
    extra: Nanos,
    slowdown: Factor,
}

impl<S: IsolationScheme> IsolationScheme for WithOverhead<S> {
    fn id(&self) -> SchemeId {
        self.id
    }
    fn defaults(&self) -> IsolationCosts {
        let mut c = self.inner.defaults();
        let add = |e: &mut crate::Estimate<Nanos>, x: Nanos| {
            e.point += x;
            e.lower += x;
            e.upper += x;
        };
        add(&mut c.warm_invoke, self.extra);
        let f = self.slowdown.get();
        for v in [
            &mut c.slowdown.point,
            &mut c.slowdown.lower,
            &mut c.slowdown.upper,
        ] {
            *v = Factor::new(v.get() * f);
        }
        c
    }
    fn kind(&self) -> SchemeKind {
        self.inner.kind()
    }
    fn support(&self) -> Support {
        self.inner.support()
    }
}
