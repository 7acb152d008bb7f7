//! The `Transport` trait: a way to move requests and records between nodes.

use std::sync::Arc;

use crate::id::TransportId;
use crate::profile::TransportCosts;

/// A transport the cost model can price. Object safe.
///
/// Transports are measured by the calibration harness itself (it owns the sockets and rings);
/// a transport here supplies its identity and literature defaults for hosts not yet calibrated.
pub trait Transport: Send + Sync {
    /// Stable identifier (`tcp`, `udp`, `unix`, `shm`, ...).
    fn id(&self) -> TransportId;

    /// Literature defaults, each number's `source` citing where it comes from.
    fn defaults(&self) -> TransportCosts;

    /// Whether data crosses a machine boundary (false for same-host stand-ins such as `shm`).
    fn crosses_network(&self) -> bool {
        true
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    fn id(&self) -> TransportId {
        (**self).id()
    }
    fn defaults(&self) -> TransportCosts {
        (**self).defaults()
    }
    fn crosses_network(&self) -> bool {
        (**self).crosses_network()
    }
}

macro_rules! forward_transport {
    ($($ptr:ident),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ptr<T> {
            fn id(&self) -> TransportId { (**self).id() }
            fn defaults(&self) -> TransportCosts { (**self).defaults() }
            fn crosses_network(&self) -> bool { (**self).crosses_network() }
        }
    )*};
}
forward_transport!(Box, Arc);

/// A transport defined only by a profile entry.
#[derive(Clone, Debug)]
pub struct ProfiledTransport {
    id: TransportId,
    costs: TransportCosts,
}

impl ProfiledTransport {
    /// A transport with id `id` whose costs are `costs`.
    pub fn new(id: TransportId, costs: TransportCosts) -> Self {
        ProfiledTransport { id, costs }
    }
}

impl Transport for ProfiledTransport {
    fn id(&self) -> TransportId {
        self.id
    }
    fn defaults(&self) -> TransportCosts {
        self.costs.clone()
    }
}
