#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cost;
mod detect;
mod error;
mod estimate;
mod format;
mod id;
mod isolation;
pub mod locality;
mod model;
mod noise;
mod objective;
mod placement;
mod probe;
mod profile;
mod table;
mod transport;
mod units;
mod validate;
mod workload;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use cost::{
    Axis, Charge, Conditions, Crossover, Invocation, PlacementCost, PricedPlacement, Refusal,
    SchemeCoeffs, ServerCoeffs, TERM_COUNT, TERM_TABLE, Term, TermRow, Terms, TransportCoeffs,
    UnqueuedCost, crossover,
};
pub use detect::ChangeDetector;
pub use error::{CostError, Result};
pub use estimate::{Estimate, Source};
pub use id::{FunctionId, MAX_ID_LEN, NodeId, SchemeId, TransportId};
pub use isolation::{
    IsolationScheme, IsolationSchemeExt, ProfiledScheme, SchemeKind, WithOverhead,
};
pub use model::{Model, Registry, SchemeEntry, TransportEntry};
pub use noise::{
    CoreState, CoresCheck, CpuSpeed, MemoryLatency, NoiseGrade, NoiseRecord, NoiseStat, Redo,
    RoundSpread, SharedCores, SpeedCheck, within_either_way,
};
pub use objective::{
    CongestionPrice, Infeasible, MaxStorageThroughput, MinLatency, MinTotalCpu, Objective,
    ObjectiveContext, WeightedPrice,
};
pub use placement::{Placement, Regime, Side};
pub use probe::{IsolationProbe, ProbeError, kernel};
pub use profile::{
    ComputeClass, CoreRegime, HOST_FORMAT_VERSION, HostIdentity, HostProfile, IsolationCosts,
    LinkCosts, OLDEST_HOST_FORMAT_VERSION, Requirement, SanityFlag, ServerRequestTerms, SideCosts,
    Support, TransportCosts,
};
pub use table::{TableAccess, TablePoint};
pub use transport::{
    LinkOptions, LinkPair, ProfiledTransport, SAME_HOST_BUILTINS, Transport, TransportLink,
    TransportProbe, checked_defaults,
};
pub use units::{Bytes, Factor, Nanos, NanosPerByte, PerSecond, Quantity};
pub use validate::{Check, limits};
pub use workload::{
    Arrival, ChainEdge, Compute, WORKLOAD_FORMAT_VERSION, WorkloadProfile, WorkloadSet,
};
