//! The ranking view: what a caller reads from a ranking, rebuilt from the buffers on demand.

use std::fmt;

use costmodel::{
    Axis, Conditions, Invocation, Nanos, NodeId, Placement, PlacementCost, PricedPlacement, Side,
    TERM_COUNT, Term,
};

use super::buffers::{Group, RankBuffers, Source, Status};
use super::candidates::{Set, small};
use super::verdicts::{Infeasible, Reason, need_cores};

/// One candidate after ranking: a view into the ranking's buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranked<'a> {
    /// The candidate.
    pub placement: &'a Placement,
    /// The objective's score (lower is better); `f64::INFINITY` for infeasible candidates.
    pub score: f64,
    /// `None` when feasible, else why not.
    pub infeasible: Option<Infeasible>,
    /// What [`Ranked::cost`] needs to recompute the breakdown.
    priced: Option<&'a PricedPlacement>,
    invocation: Invocation,
    conditions: Conditions,
}

impl Ranked<'_> {
    /// Its cost breakdown: `None` when it was not priced (a storage-side candidate away from the
    /// data, or a dedicated core the model refuses). Recomputed on each call (tens of ns), so the
    /// ranking itself never stores or copies breakdowns.
    pub fn cost(&self) -> Option<PlacementCost> {
        self.priced?
            .evaluate(&self.invocation, &self.conditions)
            .ok()
    }

    /// True when the candidate can be used.
    pub fn is_feasible(&self) -> bool {
        self.infeasible.is_none()
    }

    /// The (up to) three largest terms charged to `axis` ([`costmodel::Terms::top`]).
    pub fn top_terms(&self, axis: Axis) -> [Option<(Term, Nanos)>; 3] {
        match &self.cost() {
            Some(c) => c.terms.top(axis),
            None => [None; 3],
        }
    }

    /// The terms that decided this candidate's rank against `other` (normally the winner): the
    /// (up to) three terms whose values differ most, as `self - other`, largest difference
    /// first. Positive means this candidate pays more for that term.
    pub fn against(&self, other: &Ranked<'_>) -> [Option<(Term, Nanos)>; 3] {
        let (Some(a), Some(b)) = (&self.cost(), &other.cost()) else {
            return [None; 3];
        };
        let mut diffs = [(Term::ServerRequest, 0.0f64); TERM_COUNT];
        for (slot, t) in diffs.iter_mut().zip(Term::ALL) {
            *slot = (t, a.terms.get(t).get() - b.terms.get(t).get());
        }
        let mut out = [None; 3];
        for slot in &mut out {
            let mut best: Option<usize> = None;
            for (i, (_, d)) in diffs.iter().enumerate() {
                if d.abs() > 1e-9 && best.is_none_or(|j| d.abs() > diffs[j].1.abs()) {
                    best = Some(i);
                }
            }
            if let Some(i) = best {
                *slot = Some((diffs[i].0, Nanos::new(diffs[i].1)));
                diffs[i].1 = 0.0;
            }
        }
        out
    }
}

/// The result of [`super::Candidates::rank`]: a view into the caller's buffers.
#[derive(Debug)]
pub struct Ranking<'a> {
    pub(crate) set: &'a Set,
    pub(crate) buf: &'a RankBuffers,
    pub(crate) data_node: NodeId,
    pub(crate) invocation: Invocation,
    pub(crate) conditions: Conditions,
}

impl<'a> Ranking<'a> {
    /// The verdict of candidate `index`.
    fn reason(&self, index: usize) -> Reason {
        let c = self.set.class_of[index] as usize;
        let node = self.set.priced[index].placement().node;
        if self.set.class_info[c].data_node_only && node != self.data_node {
            return Reason::DataElsewhere;
        }
        match self.buf.now[c].status {
            Status::Unreachable => Reason::DataElsewhere,
            Status::Verdict => Reason::Verdict,
            Status::AllFit => Reason::Feasible,
            Status::Mixed => self.buf.reasons[self.set.pos_of[index] as usize],
        }
    }

    fn entry(&self, index: usize) -> Ranked<'a> {
        self.entry_as(index, self.reason(index))
    }

    /// The entry of candidate `index`, whose verdict is `reason` (known for a group's members:
    /// feasible).
    fn entry_as(&self, index: usize, reason: Reason) -> Ranked<'a> {
        let (set, buf): (&'a Set, &'a RankBuffers) = (self.set, self.buf);
        let placement = set.priced[index].placement();
        let c = set.class_of[index] as usize;
        let (memo, now) = (&buf.memo[c], &buf.now[c]);
        let own = match reason {
            Reason::DataElsewhere => None,
            _ if buf.override_of.is_empty() => None,
            _ => {
                let i = small(index);
                buf.override_of.iter().position(|&o| o == i)
            }
        };
        // (priced, score, verdict, CPU on its side, warm-hit probability)
        let (priced, score, verdict, side_cpu, h) = match own {
            Some(k) => {
                let o = &buf.overrides[k];
                (o.priced, o.score, o.verdict, o.side_cpu, o.warm_hit)
            }
            None => (
                memo.priced,
                now.score,
                now.verdict,
                memo.side_cpu,
                self.conditions.warm_hit(),
            ),
        };
        let infeasible = match reason {
            Reason::Feasible => None,
            Reason::Verdict => verdict,
            Reason::NodeFull => Some(Infeasible::NodeFull {
                node: placement.node,
                need_cores: need_cores(side_cpu, self.invocation.rate()),
                free_cores: buf.node_free[set.pos_of[index] as usize],
            }),
            Reason::DataElsewhere if placement.regime.side() == Side::Compute => {
                Some(Infeasible::SameHostTransport {
                    transport: placement.transport,
                    node: placement.node,
                    data: self.data_node,
                })
            }
            Reason::DataElsewhere => Some(Infeasible::DataElsewhere {
                node: placement.node,
                data: self.data_node,
            }),
        };
        let conditions = if h == self.conditions.warm_hit() {
            self.conditions
        } else {
            self.conditions.with_warm_hit(h).unwrap_or(self.conditions)
        };
        Ranked {
            placement,
            priced: (reason != Reason::DataElsewhere && priced).then(|| &set.priced[index]),
            invocation: self.invocation,
            conditions,
            score: if infeasible.is_none() {
                score
            } else {
                f64::INFINITY
            },
            infeasible,
        }
    }

    fn group(&self, g: &Group) -> &'a [u32] {
        let (set, buf): (&'a Set, &'a RankBuffers) = (self.set, self.buf);
        let (source, s) = Source::of(g.start);
        let range = s..s + g.len as usize;
        match source {
            Source::Members => &buf.members[range],
            Source::Class => &set.members[range],
            Source::Order => &buf.order[range],
        }
    }

    /// Every candidate, best first: feasible ones by score, then infeasible ones by id.
    pub fn iter(&self) -> impl Iterator<Item = Ranked<'a>> + '_ {
        self.feasible().chain(self.infeasible())
    }

    /// The feasible candidates, best first.
    pub fn feasible(&self) -> impl Iterator<Item = Ranked<'a>> + '_ {
        self.buf
            .groups
            .iter()
            .flat_map(move |g| self.group(g).iter())
            .map(move |i| self.entry_as(*i as usize, Reason::Feasible))
    }

    /// The infeasible candidates, in id order, each with its reason.
    pub fn infeasible(&self) -> impl ExactSizeIterator<Item = Ranked<'a>> + '_ {
        Infeasibles {
            ranking: self,
            next: 0,
            left: self.len() - self.buf.feasible,
        }
    }

    /// The best feasible candidate, if any is feasible.
    pub fn best(&self) -> Option<Ranked<'a>> {
        let g = self.buf.groups.first()?;
        self.group(g)
            .first()
            .map(|i| self.entry_as(*i as usize, Reason::Feasible))
    }

    /// The candidate at `rank` (0 = best).
    pub fn get(&self, rank: usize) -> Option<Ranked<'a>> {
        if rank >= self.buf.feasible {
            return self.infeasible().nth(rank - self.buf.feasible);
        }
        let mut left = rank;
        for g in &self.buf.groups {
            let members = self.group(g);
            if left < members.len() {
                return Some(self.entry_as(members[left] as usize, Reason::Feasible));
            }
            left -= members.len();
        }
        None
    }

    /// Number of candidates (feasible and not).
    pub fn len(&self) -> usize {
        self.set.priced.len()
    }

    /// True when there are no candidates (never, for a prepared set).
    pub fn is_empty(&self) -> bool {
        self.set.priced.is_empty()
    }

    /// Number of feasible candidates.
    pub fn feasible_len(&self) -> usize {
        self.buf.feasible
    }

    /// A displayable explanation of the candidate at `rank`: its totals with their top terms,
    /// and, below the winner, the terms that put it behind.
    pub fn explain(&self, rank: usize) -> Option<Explanation<'a>> {
        let entry = self.get(rank)?;
        let winner = if rank == 0 { None } else { self.best() };
        Some(Explanation {
            rank,
            entry,
            winner,
        })
    }
}

/// The infeasible candidates of a ranking in id order, found as they are read.
struct Infeasibles<'r, 'a> {
    ranking: &'r Ranking<'a>,
    next: usize,
    left: usize,
}

impl<'a> Iterator for Infeasibles<'_, 'a> {
    type Item = Ranked<'a>;

    fn next(&mut self) -> Option<Ranked<'a>> {
        if self.left == 0 {
            return None;
        }
        while self.next < self.ranking.len() {
            let i = self.next;
            self.next += 1;
            if self.ranking.reason(i) != Reason::Feasible {
                self.left -= 1;
                return Some(self.ranking.entry(i));
            }
        }
        self.left = 0;
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Infeasibles<'_, '_> {}

/// Why a candidate sits where it does; see [`Ranking::explain`].
#[derive(Clone, Copy, Debug)]
pub struct Explanation<'a> {
    rank: usize,
    entry: Ranked<'a>,
    winner: Option<Ranked<'a>>,
}

impl fmt::Display for Explanation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.entry;
        write!(f, "#{} {}", self.rank + 1, e.placement)?;
        match &e.infeasible {
            Some(why) => write!(f, ": infeasible, {why}")?,
            None => write!(f, ": score {:.1}", e.score)?,
        }
        if let Some(cost) = &e.cost() {
            write!(f, "\n    {cost}")?;
        }
        if let Some(w) = &self.winner {
            let mut first = true;
            for (t, d) in e.against(w).into_iter().flatten() {
                f.write_str(if first { "\n    vs winner: " } else { ", " })?;
                first = false;
                let sign = if d.get() >= 0.0 { "+" } else { "-" };
                write!(f, "{} {sign}{}", t.name(), Nanos::new(d.get().abs()))?;
            }
        }
        Ok(())
    }
}
