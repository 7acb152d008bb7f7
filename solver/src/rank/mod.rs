//! `rank`: order an invocation's candidate placements by an objective, with the reasons.
//!
//! The work is split so the per-invocation path does as little as possible:
//!
//! 1. [`Candidates::prepare`] resolves every candidate's scheme and transport once
//!    ([`costmodel::Model::price`]), rejects unknown ids and duplicates, sorts the set by the
//!    placement's stable id (the derived `Ord` of [`Placement`](costmodel::Placement)) and
//!    groups it into *cost classes* (candidates equal but for their node, which the equations
//!    do not read). A candidate's index in the set is its id rank.
//! 2. [`Candidates::rank`] takes a [`Job`] and a [`ClusterState`] checked when they were built
//!    (it only checks that the state names every candidate's node), then prices each class
//!    once. What does not depend on the storage utilisation is kept in the
//!    [`RankBuffers`] for the set, invocation, warm-hit probability and drain rate
//!    ([`costmodel::PricedPlacement::unqueued`]); per call only the queueing, the latency, the
//!    SLO check and the objective's score are computed ([`costmodel::UnqueuedCost::queued`],
//!    equal bit for bit to evaluating afresh). A class whose load fits the emptiest node its
//!    members name is feasible as a whole and referenced in place; otherwise its members are
//!    judged one by one. The feasible groups are sorted by one `u64` key (the score's
//!    total-order bits above the first member's id rank) and runs of exactly tied scores are
//!    merged in id order. Infeasible candidates follow every feasible one, in id order, found
//!    when they are read. Nothing is allocated per call.
//!
//! A candidate is infeasible, with the reason kept beside its cost, when its scheme is not
//! supported on the host, it runs inside a storage node that does not hold the data, the cost
//! model refuses it a dedicated core (no arrivals, or one core cannot keep up), the node it runs
//! on lacks the free CPU its load needs ([`verdicts`]' `Room`, the one place that is decided),
//! or its expected latency exceeds the SLO.
//!
//! Files: [`inputs`] (job and cluster state), [`verdicts`], [`candidates`], [`buffers`],
//! [`pricing`], [`ordering`], [`view`] (the ranking as the caller reads it), [`ranker`] (a set
//! that owns its buffers).

mod buffers;
mod candidates;
mod inputs;
mod ordering;
mod pricing;
mod ranker;
mod verdicts;
mod view;

use costmodel::{Objective, ObjectiveContext};

pub use buffers::RankBuffers;
pub use candidates::Candidates;
pub use inputs::{ClusterState, Job, WarmContext};
pub use ranker::Ranker;
pub use verdicts::{DedicatedRefusal, Infeasible};
pub use view::{Explanation, Ranked, Ranking};

use crate::error::Result;

impl Candidates {
    /// Ranks the candidates for `job` under `state` by `objective`, into `buf`.
    ///
    /// Feasible candidates come first, in score order (ties by id); infeasible ones follow in id
    /// order, each with its reason. Scores that agree to within `2^-(52 - log2 n)` relative
    /// (about 13 significant digits for 512 candidates) count as ties.
    ///
    /// `job` and `state` were checked when they were built; nothing here checks them again.
    ///
    /// # Errors
    /// [`SolverError::UnknownNode`](crate::SolverError::UnknownNode) when a candidate's node is
    /// not in the state's free cores,
    /// [`SolverError::BufferTooSmall`](crate::SolverError::BufferTooSmall) when `buf` was sized
    /// for fewer candidates, [`SolverError::BadScore`](crate::SolverError::BadScore) when the
    /// objective returns NaN.
    pub fn rank<'a, O: Objective + ?Sized>(
        &'a self,
        job: &Job,
        state: &ClusterState<'_>,
        objective: &O,
        buf: &'a mut RankBuffers,
    ) -> Result<Ranking<'a>> {
        let set = &*self.set;
        let cond = state.conditions();
        let min_free = set.min_free(state.free_cores())?;
        buf.begin(&self.set, job, &cond)?;
        let walk = pricing::Walk {
            set,
            state,
            job,
            cond,
            ctx: ObjectiveContext {
                storage_utilisation: cond.storage_utilisation(),
                slo: job.slo(),
            },
            min_free,
            data_free: state.free_cores()[state.data_node().0 as usize],
            warm: !state.warm().is_empty(),
        };
        let mut cur = pricing::Cursors {
            feasible: 0,
            front: 0,
            back: set.priced.len(),
        };
        // In the last call's score order, so the groups arrive nearly sorted.
        for k in 0..set.classes.len() {
            walk.class(&mut cur, buf.class_order[k] as usize, objective, buf)?;
        }
        buf.feasible = cur.feasible;
        ordering::finish(set, buf);
        Ok(Ranking {
            set,
            buf,
            data_node: state.data_node(),
            invocation: *job.invocation(),
            conditions: cond,
        })
    }
}
