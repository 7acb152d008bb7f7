//! Explicit registration of schemes and transports, and the `Model` that prices placements.

use std::sync::Arc;

use crate::cost::{
    Conditions, Crossover, Invocation, PlacementCost, PricedPlacement, SchemeCoeffs,
    TransportCoeffs,
};
use crate::error::{CostError, Result};
use crate::id::{NodeId, SchemeId, TransportId};
use crate::isolation::{IsolationScheme, ProfiledScheme};
use crate::placement::Placement;
use crate::profile::{HostProfile, IsolationCosts, TransportCosts};
use crate::transport::{ProfiledTransport, Transport};
use crate::units::{Nanos, NanosPerByte};
use crate::validate::Check;
use crate::workload::WorkloadProfile;

/// The schemes and transports a model knows. Registration is explicit: no global inventory.
#[derive(Clone, Default)]
pub struct Registry {
    schemes: Vec<Arc<dyn IsolationScheme>>,
    transports: Vec<Arc<dyn Transport>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("schemes", &self.scheme_ids().collect::<Vec<_>>())
            .field("transports", &self.transport_ids().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry holding every scheme and transport of `host`, priced from the profile alone
    /// (no plugin needed).
    pub fn from_profile(host: &HostProfile) -> Self {
        let mut r = Registry::new();
        for (id, costs) in &host.isolation {
            r.schemes
                .push(Arc::new(ProfiledScheme::new(*id, costs.clone())));
        }
        for (id, costs) in &host.transports {
            r.transports
                .push(Arc::new(ProfiledTransport::new(*id, costs.clone())));
        }
        r
    }

    /// Adds a scheme.
    ///
    /// # Errors
    /// [`CostError::DuplicateId`] when a scheme with the same id is registered.
    pub fn register_scheme(&mut self, scheme: impl IsolationScheme + 'static) -> Result<&mut Self> {
        let id = scheme.id();
        if self.schemes.iter().any(|s| s.id() == id) {
            return Err(CostError::DuplicateId {
                kind: "scheme",
                id: id.to_string(),
            });
        }
        self.schemes.push(Arc::new(scheme));
        Ok(self)
    }

    /// Adds a scheme, replacing one with the same id (e.g. a real plugin over a profile entry).
    pub fn replace_scheme(&mut self, scheme: impl IsolationScheme + 'static) -> &mut Self {
        let id = scheme.id();
        self.schemes.retain(|s| s.id() != id);
        self.schemes.push(Arc::new(scheme));
        self
    }

    /// Adds a transport.
    ///
    /// # Errors
    /// [`CostError::DuplicateId`] when a transport with the same id is registered, or a
    /// validation error naming the transport and field when its defaults are not finite and
    /// non-negative.
    pub fn register_transport(&mut self, transport: impl Transport + 'static) -> Result<&mut Self> {
        crate::transport::checked_defaults(&transport)?;
        let id = transport.id();
        if self.transports.iter().any(|t| t.id() == id) {
            return Err(CostError::DuplicateId {
                kind: "transport",
                id: id.to_string(),
            });
        }
        self.transports.push(Arc::new(transport));
        Ok(self)
    }

    /// The registered scheme with `id`.
    ///
    /// # Errors
    /// [`CostError::UnknownScheme`] listing the known ids.
    pub fn scheme(&self, id: &str) -> Result<&Arc<dyn IsolationScheme>> {
        self.schemes
            .iter()
            .find(|s| s.id().as_str() == id)
            .ok_or_else(|| CostError::UnknownScheme {
                id: id.to_owned(),
                known: self
                    .scheme_ids()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Registered scheme ids, in registration order (as [`Model::scheme_ids`]).
    pub fn scheme_ids(&self) -> impl Iterator<Item = SchemeId> + '_ {
        self.schemes.iter().map(|s| s.id())
    }

    /// Registered transport ids, in registration order (as [`Model::transport_ids`]).
    pub fn transport_ids(&self) -> impl Iterator<Item = TransportId> + '_ {
        self.transports.iter().map(|t| t.id())
    }

    /// Registered schemes.
    pub fn schemes(&self) -> &[Arc<dyn IsolationScheme>] {
        &self.schemes
    }

    /// Registered transports.
    pub fn transports(&self) -> &[Arc<dyn Transport>] {
        &self.transports
    }
}

/// A scheme as the model sees it: the plugin plus the costs in force on this host.
#[derive(Clone)]
pub struct SchemeEntry {
    /// The scheme.
    pub scheme: Arc<dyn IsolationScheme>,
    /// Costs in force: the host profile's entry when it has one, else the scheme's defaults.
    pub costs: IsolationCosts,
}

/// A transport as the model sees it.
#[derive(Clone)]
pub struct TransportEntry {
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// Costs in force: the host profile's entry when it has one, else the defaults.
    pub costs: TransportCosts,
}

/// Prices placements on one host. Build with [`Model::new`] or [`Model::from_profile`].
#[derive(Clone)]
pub struct Model {
    host: HostProfile,
    schemes: Vec<(SchemeId, SchemeEntry)>,
    transports: Vec<(TransportId, TransportEntry)>,
    lookup: Nanos,
    lookup_per_byte: NanosPerByte,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("host", &self.host.host.name)
            .field(
                "schemes",
                &self.schemes.iter().map(|s| s.0).collect::<Vec<_>>(),
            )
            .field(
                "transports",
                &self.transports.iter().map(|t| t.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Model {
    /// A model of `host` knowing the schemes and transports in `registry`. A registered scheme's
    /// costs come from the host profile when it has an entry for it, else from its defaults.
    ///
    /// # Errors
    /// A validation error for the profile or for a plugin's defaults.
    pub fn new(host: HostProfile, registry: &Registry) -> Result<Self> {
        host.validate("host profile")?;
        let mut schemes = Vec::with_capacity(registry.schemes.len());
        for s in &registry.schemes {
            let id = s.id();
            let costs = match host.isolation.get(&id) {
                Some(c) => c.clone(),
                None => {
                    let mut c = s.defaults();
                    let origin = format!("defaults of scheme {id}");
                    c.check(&mut Check::new(&origin))?;
                    c.support = s.support();
                    c
                }
            };
            schemes.push((
                id,
                SchemeEntry {
                    scheme: Arc::clone(s),
                    costs,
                },
            ));
        }
        let mut transports = Vec::with_capacity(registry.transports.len());
        for t in &registry.transports {
            let id = t.id();
            let costs = host
                .transports
                .get(&id)
                .cloned()
                .map_or_else(|| crate::transport::checked_defaults(&**t), Ok)?;
            transports.push((
                id,
                TransportEntry {
                    transport: Arc::clone(t),
                    costs,
                },
            ));
        }
        // The storage server is trusted native code (Splinter): it finds a record it sends as
        // the native scheme finds one inside.
        let native = schemes
            .iter()
            .find(|(id, _)| id.as_str() == "native")
            .map(|(_, e)| &e.costs);
        let lookup = native.map_or(Nanos::ZERO, |c| c.local_access.point);
        let lookup_per_byte = native
            .and_then(|c| c.local_access_per_byte.as_ref())
            .map_or(NanosPerByte::ZERO, |e| e.point);
        Ok(Model {
            host,
            schemes,
            transports,
            lookup,
            lookup_per_byte,
        })
    }

    /// A model knowing exactly the schemes and transports in `host`.
    ///
    /// # Errors
    /// A validation error for the profile.
    pub fn from_profile(host: HostProfile) -> Result<Self> {
        let registry = Registry::from_profile(&host);
        Model::new(host, &registry)
    }

    /// The host profile.
    pub fn host(&self) -> &HostProfile {
        &self.host
    }

    /// The scheme with `id`.
    ///
    /// # Errors
    /// [`CostError::UnknownScheme`].
    pub fn scheme(&self, id: SchemeId) -> Result<&SchemeEntry> {
        self.schemes
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, e)| e)
            .ok_or_else(|| CostError::UnknownScheme {
                id: id.to_string(),
                known: self
                    .scheme_ids()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The transport with `id`.
    ///
    /// # Errors
    /// [`CostError::UnknownTransport`].
    pub fn transport(&self, id: TransportId) -> Result<&TransportEntry> {
        self.transports
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, e)| e)
            .ok_or_else(|| CostError::UnknownTransport {
                id: id.to_string(),
                known: self
                    .transport_ids()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Known scheme ids.
    pub fn scheme_ids(&self) -> impl Iterator<Item = SchemeId> + '_ {
        self.schemes.iter().map(|(i, _)| *i)
    }

    /// Known transport ids.
    pub fn transport_ids(&self) -> impl Iterator<Item = TransportId> + '_ {
        self.transports.iter().map(|(i, _)| *i)
    }

    /// CPU to dispatch an invocation to a multiplexed context.
    pub fn dispatch(&self) -> Nanos {
        self.host.dispatch.point
    }

    /// CPU the storage server spends finding one record it serves to a remote fetch (`g_0`,
    /// charged per record to remote placements as the `local access` term): by default the
    /// `native` scheme's local access, or zero when the model knows no `native` scheme. Its
    /// per-byte part is the `native` scheme's `local_access_per_byte`. A transport measured on
    /// a real server ([`crate::ServerRequestTerms`]) uses the server's per-key cost instead.
    pub fn storage_lookup(&self) -> Nanos {
        self.lookup
    }

    /// The same model with the storage server's record lookup set to `lookup`, for a server
    /// whose index costs differ from the native probe's (a B-tree, a remote log).
    ///
    /// # Errors
    /// [`CostError::Invalid`] for a negative or non-finite value.
    pub fn with_storage_lookup(mut self, lookup: Nanos) -> Result<Self> {
        Check::new("Model::with_storage_lookup").non_negative("lookup", lookup.get())?;
        self.lookup = lookup;
        Ok(self)
    }

    /// The same model with the storage server's record lookup (`g0` and its per-byte part
    /// `g_b`) taken from the scheme `id` instead of `native`: for a storage server whose own
    /// record access is measured as a scheme (a Redis server's Lua `redis` scheme, say).
    ///
    /// # Errors
    /// [`CostError::UnknownScheme`] when the model knows no scheme `id`.
    pub fn with_storage_scheme(mut self, id: SchemeId) -> Result<Self> {
        let costs = &self.scheme(id)?.costs;
        let (lookup, per_byte) = (
            costs.local_access.point,
            costs
                .local_access_per_byte
                .as_ref()
                .map_or(NanosPerByte::ZERO, |e| e.point),
        );
        self.lookup = lookup;
        self.lookup_per_byte = per_byte;
        Ok(self)
    }

    /// The per-byte part of [`Model::storage_lookup`] (`g_b` of the scheme it comes from).
    pub fn storage_lookup_per_byte(&self) -> NanosPerByte {
        self.lookup_per_byte
    }

    /// Resolves a placement's scheme and transport once, so it can be priced many times without
    /// lookups.
    ///
    /// # Errors
    /// [`CostError::UnknownScheme`] or [`CostError::UnknownTransport`].
    pub fn price(&self, placement: &Placement) -> Result<PricedPlacement> {
        let scheme = self.scheme(placement.scheme)?;
        let transport = self.transport(placement.transport)?;
        // The host was checked when the model was built.
        Ok(PricedPlacement::from_parts(
            *placement,
            SchemeCoeffs::from_checked(&scheme.costs),
            TransportCoeffs::from_checked(&transport.costs),
            self.dispatch(),
            (self.storage_lookup(), self.storage_lookup_per_byte()),
            self.host
                .scattered_access
                .as_ref()
                .map_or(Nanos::ZERO, |e| e.point),
        ))
    }

    /// The cost of running `workload` under `placement` in `cond`.
    ///
    /// # Errors
    /// Unknown ids, an invalid workload, or a placement the model cannot price.
    pub fn evaluate(
        &self,
        workload: &WorkloadProfile,
        placement: &Placement,
        cond: &Conditions,
    ) -> Result<PlacementCost> {
        let inv = Invocation::from_profile(workload)?;
        let cost = self.price(placement)?.evaluate(&inv, cond)?;
        crate::validate::finite_cost(&cost, placement)?;
        Ok(cost)
    }

    /// The crossover `k*` between a multiplexed inside placement and a one-key remote one.
    ///
    /// # Errors
    /// Unknown ids, an invalid workload, or placements of the wrong regimes.
    pub fn crossover(
        &self,
        workload: &WorkloadProfile,
        inside: &Placement,
        remote: &Placement,
        cond: &Conditions,
    ) -> Result<Crossover> {
        let inv = Invocation::from_profile(workload)?;
        let x = crate::cost::crossover(&self.price(inside)?, &self.price(remote)?, &inv, cond)?;
        crate::validate::finite_crossover(x, inside)
    }

    /// Every placement over the known schemes and transports in the three regimes (one-key
    /// fetches, no batching, node 0): the default candidate set.
    pub fn default_candidates(&self) -> Vec<Placement> {
        use crate::placement::Regime;
        let mut out = Vec::new();
        for (s, _) in &self.schemes {
            for (t, _) in &self.transports {
                for r in [Regime::DedicatedCore, Regime::Multiplexed, Regime::Remote] {
                    out.push(Placement::inside(*s, *t).with_regime(r));
                }
            }
        }
        out
    }

    /// Refuses a placement its transport cannot carry: a remote placement on another node than
    /// `storage` (the node holding the data) over a same-host transport
    /// ([`Transport::crosses_network`] false, e.g. `shm`, `unix`). Inside placements and remote
    /// ones on the storage node itself pass.
    ///
    /// # Errors
    /// [`CostError::UnknownTransport`], or [`CostError::BadPlacement`] naming the transport and
    /// both nodes.
    pub fn check_reach(&self, placement: &Placement, storage: NodeId) -> Result<()> {
        let entry = self.transport(placement.transport)?;
        if placement.regime == crate::placement::Regime::Remote
            && placement.node != storage
            && !entry.transport.crosses_network()
        {
            return Err(CostError::BadPlacement {
                placement: placement.to_string(),
                message: format!(
                    "transport {} is same-host: it cannot carry a placement on {} to the data \
                     on {}",
                    placement.transport, placement.node, storage
                ),
            });
        }
        Ok(())
    }
}
