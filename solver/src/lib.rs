#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod batching;
pub mod chain;
pub mod congestion;
mod error;
pub mod locality;
pub mod provision;
mod rank;
pub mod regime;

pub use batching::{BatchChoice, largest_batch};
pub use chain::{
    ChainCosts, ChainPlan, ChainStage, DagCosts, EdgePrice, ModelChain, solve_dag, solve_linear,
};
pub use congestion::{Pushback, shed_utilisation};
pub use error::{Result, SolverError};
pub use locality::{SharedSlots, keep_alive_hit, shared_slot_hits};
pub use provision::{Provisioning, Resources, lower_bound, provision};
pub use rank::{
    Candidates, ClusterState, DedicatedRefusal, Explanation, Infeasible, Job, RankBuffers, Ranked,
    Ranker, Ranking, WarmContext,
};
pub use regime::{
    Advice, AdviceReason, AdvisorConfig, FunctionTrack, RegimeAdvisor, RegimeOptions,
};
