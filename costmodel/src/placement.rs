//! `Placement`: where an invocation runs, under which scheme, regime and transport.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::id::{NodeId, SchemeId, TransportId};

/// Which tier does the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    /// The storage server that holds the records.
    Storage,
    /// A compute node that fetches the records over the network.
    Compute,
}

/// How an invocation is dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Regime {
    /// Inside the storage server on a core reserved for this function, with its own NIC queue:
    /// no domain switch or cold start per invocation, but the core's idle time is charged.
    DedicatedCore,
    /// Inside the storage server, sharing cores with other tenants' lightweight contexts.
    Multiplexed,
    /// At a compute node, fetching records from the storage server.
    Remote,
}

impl Regime {
    /// The tier this regime runs the function on.
    pub fn side(self) -> Side {
        match self {
            Regime::DedicatedCore | Regime::Multiplexed => Side::Storage,
            Regime::Remote => Side::Compute,
        }
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Regime::DedicatedCore => "dedicated",
            Regime::Multiplexed => "multiplexed",
            Regime::Remote => "remote",
        }
    }
}

/// One candidate way to run an invocation.
///
/// The derived order (regime, scheme, transport, multiget, batch, node) is the stable id used to
/// break ties when ranking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// Dispatch regime (and so the side).
    pub regime: Regime,
    /// Isolation scheme the function runs under.
    pub scheme: SchemeId,
    /// Transport between client/compute node and storage.
    pub transport: TransportId,
    /// Keys per multi-get request when fetching remotely (`m`).
    pub multiget: NonZeroU32,
    /// Invocations handled per domain entry and request (`B`).
    pub batch: NonZeroU32,
    /// Which machine (storage or compute node) runs it.
    pub node: NodeId,
}

impl Placement {
    /// An inside-storage, multiplexed placement with no batching.
    pub fn inside(scheme: SchemeId, transport: TransportId) -> Self {
        Placement {
            regime: Regime::Multiplexed,
            scheme,
            transport,
            multiget: NonZeroU32::MIN,
            batch: NonZeroU32::MIN,
            node: NodeId(0),
        }
    }

    /// A remote placement fetching one key per request, with no batching.
    pub fn remote(scheme: SchemeId, transport: TransportId) -> Self {
        Placement {
            regime: Regime::Remote,
            ..Placement::inside(scheme, transport)
        }
    }

    /// The same placement in another regime.
    pub fn with_regime(self, regime: Regime) -> Self {
        Placement { regime, ..self }
    }

    /// The same placement with `m` keys per multi-get.
    pub fn with_multiget(self, m: NonZeroU32) -> Self {
        Placement {
            multiget: m,
            ..self
        }
    }

    /// The same placement with batches of `b` invocations.
    pub fn with_batch(self, b: NonZeroU32) -> Self {
        Placement { batch: b, ..self }
    }

    /// The same placement on `node`.
    pub fn on(self, node: NodeId) -> Self {
        Placement { node, ..self }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.regime.name(),
            self.scheme,
            self.transport
        )?;
        if self.multiget.get() > 1 {
            write!(f, "/mget{}", self.multiget)?;
        }
        if self.batch.get() > 1 {
            write!(f, "/batch{}", self.batch)?;
        }
        if self.node.0 != 0 {
            write!(f, "@{}", self.node)?;
        }
        Ok(())
    }
}
