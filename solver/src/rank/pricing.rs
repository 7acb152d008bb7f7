//! Pricing: each cost class once per call (from its memo), warm-context overrides on their own,
//! and each class's members judged against their nodes.

use costmodel::{
    Conditions, Invocation, Nanos, Objective, ObjectiveContext, PlacementCost, PricedPlacement,
    Regime, Side,
};

use super::buffers::{ClassMemo, Group, Priced, RankBuffers, Source, Status};
use super::candidates::Set;
use super::inputs::{ClusterState, Job};
use super::ordering::key;
use super::verdicts::{Infeasible, Reason, Room};
use crate::error::{Result, SolverError};

/// What does not depend on the storage utilisation or the node: the verdicts of the scheme and
/// of a dedicated core, and the cost up to the queueing.
///
/// # Errors
/// The model's refusal of anything but a dedicated core.
pub(crate) fn memo_class(
    pp: &PricedPlacement,
    inv: &Invocation,
    cond: &Conditions,
) -> Result<ClassMemo> {
    let p = pp.placement();
    let mut out = ClassMemo {
        verdict: None,
        priced: false,
        cost: None,
        side_cpu: Nanos::ZERO,
        room: Room::for_need(0.0),
    };
    // The model's own check (the one equation), returning its refusal as a value so the hot
    // path never builds the model's error message.
    let cost = match pp.try_unqueued(inv, cond) {
        Ok(c) => c,
        Err(refusal) if p.regime == Regime::DedicatedCore => {
            out.verdict = Some(Infeasible::DedicatedRefused(refusal));
            return Ok(out);
        }
        Err(refusal) => return Err(refused(pp, refusal)),
    };
    out.priced = true;
    out.side_cpu = match p.regime.side() {
        Side::Storage => cost.storage_cpu(),
        Side::Compute => cost.compute_cpu(),
    };
    out.room = Room::for_load(out.side_cpu, inv.rate());
    if pp.scheme().supported() {
        out.cost = Some(cost);
    } else {
        out.verdict = Some(Infeasible::UnsupportedScheme { scheme: p.scheme });
    }
    Ok(out)
}

/// The objective's verdict on `cost` (its SLO), if any.
#[inline(always)]
fn verdict<O: Objective + ?Sized>(
    cost: &PlacementCost,
    ctx: &ObjectiveContext,
    objective: &O,
) -> Option<Infeasible> {
    // Exhaustive on purpose: a verdict the objective adds later must be mapped here, never
    // skipped (which would score the candidate as feasible).
    match objective.feasible(cost, ctx) {
        Ok(()) => None,
        Err(costmodel::Infeasible::SloViolated { latency, slo }) => {
            Some(Infeasible::SloViolated { latency, slo })
        }
    }
}

/// The objective's score of `cost`.
///
/// # Errors
/// [`SolverError::BadScore`] when it is NaN (`index` names the candidate).
#[inline(always)]
fn score<O: Objective + ?Sized>(
    cost: &PlacementCost,
    ctx: &ObjectiveContext,
    objective: &O,
    index: u32,
) -> Result<f64> {
    let score = objective.score(cost, ctx);
    if score.is_nan() {
        return Err(bad_score(objective.name(), index, score));
    }
    Ok(score)
}

#[cold]
fn bad_score(objective: &str, index: u32, value: f64) -> SolverError {
    SolverError::BadScore {
        objective: objective.to_owned(),
        index: index as usize,
        value,
    }
}

/// One candidate priced on its own under `cond` (a warm-context override).
fn price_override<O: Objective + ?Sized>(
    pp: &PricedPlacement,
    inv: &Invocation,
    cond: &Conditions,
    ctx: &ObjectiveContext,
    objective: &O,
    index: u32,
) -> Result<Priced> {
    let memo = memo_class(pp, inv, cond)?;
    let mut out = Priced {
        warm_hit: cond.warm_hit(),
        priced: memo.priced,
        score: f64::INFINITY,
        side_cpu: memo.side_cpu,
        verdict: memo.verdict,
    };
    if let Some(cost) = &memo.cost {
        let cost = cost.queued(cond);
        out.verdict = verdict(&cost, ctx, objective);
        if out.verdict.is_none() {
            out.score = score(&cost, ctx, objective, index)?;
        }
    }
    Ok(out)
}

/// The model's refusal of a placement that is not a dedicated core (it has none today), as the
/// model's own error.
#[cold]
fn refused(pp: &PricedPlacement, refusal: costmodel::Refusal) -> SolverError {
    costmodel::CostError::Refused {
        placement: pp.placement().to_string(),
        refusal,
    }
    .into()
}

/// No group: sorts after every group.
const NONE: Group = Group {
    key: u64::MAX,
    start: 0,
    len: 0,
};

/// One call's pricing walk over the classes of a set: what every class reads and no class
/// changes (kept apart from the [`Cursors`], so the compiler may keep it in registers across
/// the classes, an objective's per-call arithmetic included).
pub(crate) struct Walk<'s, 'st> {
    pub(crate) set: &'s Set,
    pub(crate) state: &'s ClusterState<'st>,
    pub(crate) job: &'s Job,
    pub(crate) cond: Conditions,
    pub(crate) ctx: ObjectiveContext,
    /// Fewest free cores over the compute-side candidates' nodes.
    pub(crate) min_free: f64,
    /// Free cores on the data node (checked when a storage-side candidate can run there).
    pub(crate) data_free: f64,
    /// The state lists warm contexts (each member is then checked for one).
    pub(crate) warm: bool,
}

/// What the walk writes as it goes.
pub(crate) struct Cursors {
    /// Feasible candidates so far.
    pub(crate) feasible: usize,
    /// Cursor into `RankBuffers::members` from the front (mixed classes' feasible members).
    pub(crate) front: usize,
    /// Cursor from the back (override singletons).
    pub(crate) back: usize,
}

impl Walk<'_, '_> {
    /// Prices class `c`, judges its members and records its group of feasible members.
    #[inline(always)]
    pub(crate) fn class<O: Objective + ?Sized>(
        &self,
        cur: &mut Cursors,
        c: usize,
        objective: &O,
        buf: &mut RankBuffers,
    ) -> Result<()> {
        let set = self.set;
        let mut reach = set.range(c);
        // The fewest free cores among the nodes its members can run on.
        let min_free = if set.class_info[c].data_node_only {
            // Only the member on the data node (there is at most one) can run.
            let data = self.state.data_node().0;
            match set.member_nodes[reach.clone()]
                .iter()
                .position(|&n| n == data)
            {
                Some(k) => reach = reach.start + k..reach.start + k + 1,
                None => {
                    let now = &mut buf.now[c];
                    (now.status, now.score, now.group) = (Status::Unreachable, f64::INFINITY, NONE);
                    return Ok(());
                }
            }
            self.data_free
        } else {
            self.min_free
        };
        let memo = &buf.memo[c];
        let (room, now) = (memo.room, &mut buf.now[c]);
        let first = set.members[reach.start];
        // Whether the objective scored it; otherwise `now.verdict` says why not.
        let scored = match &memo.cost {
            Some(cost) => {
                let cost = cost.queued(&self.cond);
                match verdict(&cost, &self.ctx, objective) {
                    None => {
                        now.score = score(&cost, &self.ctx, objective, first)?;
                        true
                    }
                    Some(v) => {
                        now.verdict = Some(v);
                        false
                    }
                }
            }
            None => {
                now.verdict = memo.verdict;
                false
            }
        };
        if !scored {
            now.score = f64::INFINITY;
        }
        if self.warm {
            return self.members(cur, c, scored, objective, buf);
        }
        if !scored {
            (now.status, now.group) = (Status::Verdict, NONE);
            return Ok(());
        }
        if !room.admits_all(min_free) {
            return self.members(cur, c, scored, objective, buf);
        }
        now.status = Status::AllFit;
        cur.feasible += reach.len();
        now.group = Group {
            key: key(now.score, first, set.index_bits),
            start: Source::Class.at(reach.start),
            len: super::candidates::small(reach.len()),
        };
        Ok(())
    }

    /// Judges class `c`'s members one by one, pricing warm-context overrides on their own.
    /// `scored`: the class has no verdict of its own.
    #[inline(never)]
    fn members<O: Objective + ?Sized>(
        &self,
        cur: &mut Cursors,
        c: usize,
        scored: bool,
        objective: &O,
        buf: &mut RankBuffers,
    ) -> Result<()> {
        let set = self.set;
        let (data, rate) = (self.state.data_node().0, self.job.invocation().rate());
        let data_node_only = set.class_info[c].data_node_only;
        let scheme = set.classes[c].placement().scheme;
        let (room, class_verdict) = (buf.memo[c].room, !scored);
        buf.now[c].status = Status::Mixed;
        let start = cur.front;
        for pos in set.range(c) {
            let (i, node) = (set.members[pos], set.member_nodes[pos]);
            if data_node_only && node != data {
                buf.reasons[pos] = Reason::DataElsewhere;
                continue;
            }
            // Checked when the state was built; the node by `Set::min_free`.
            let free = self.state.free_cores()[node as usize];
            buf.node_free[pos] = free;
            let warm = self.state.warm().iter();
            let reason = if let Some(w) = warm
                .clone()
                .find(|w| w.node().0 == node && w.scheme() == scheme)
            {
                let cond = self.cond.with_warm_hit(w.hit())?;
                let pp = &set.priced[i as usize];
                let o = price_override(pp, self.job.invocation(), &cond, &self.ctx, objective, i)?;
                buf.overrides.push(o);
                buf.override_of.push(i);
                let reason =
                    judge_node(o.verdict.is_some(), Room::for_load(o.side_cpu, rate), free);
                if reason == Reason::Feasible {
                    cur.feasible += 1;
                    cur.back -= 1;
                    buf.members[cur.back] = i;
                    buf.groups.push(Group {
                        key: key(o.score, i, set.index_bits),
                        start: Source::Members.at(cur.back),
                        len: 1,
                    });
                }
                reason
            } else {
                let reason = judge_node(class_verdict, room, free);
                if reason == Reason::Feasible {
                    buf.members[cur.front] = i;
                    cur.front += 1;
                }
                reason
            };
            buf.reasons[pos] = reason;
        }
        buf.now[c].group = if cur.front > start {
            cur.feasible += cur.front - start;
            Group {
                key: key(buf.now[c].score, buf.members[start], set.index_bits),
                start: Source::Members.at(start),
                len: super::candidates::small(cur.front - start),
            }
        } else {
            NONE
        };
        Ok(())
    }
}

/// A member's verdict on its node: its pricing's verdict first, then the room.
#[inline]
fn judge_node(verdict: bool, room: Room, free: f64) -> Reason {
    if verdict {
        Reason::Verdict
    } else if room.admits(free) {
        Reason::Feasible
    } else {
        Reason::NodeFull
    }
}
