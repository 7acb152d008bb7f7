//! Caller-provided scratch and output space for a ranking, and what it keeps between calls.

use std::sync::{Arc, Weak};

use costmodel::{Conditions, Invocation, Nanos, UnqueuedCost};

use super::candidates::{MAX_CANDIDATES, Set};
use super::inputs::Job;
use super::pricing::memo_class;
use super::verdicts::{Infeasible, Reason, Room};
use crate::error::{Result, SolverError};

/// Caller-provided scratch and output space for [`super::Candidates::rank`]. Size it once (for
/// the largest candidate set it will serve) and reuse it: ranking then never allocates.
///
/// It keeps, per cost class, the pricing that does not depend on the storage utilisation, for
/// the candidate set, invocation, warm-hit probability and drain rate of the last call (compared
/// by value; every value was checked before it was kept). A call that changes only the
/// utilisation, the free cores or the objective reuses it.
#[derive(Clone, Debug, Default)]
pub struct RankBuffers {
    /// Per class: its pricing but for the queueing, valid for `memo_of`.
    pub(crate) memo: Vec<ClassMemo>,
    memo_of: Option<MemoKey>,
    /// Per class, this call: its score and what became of its members.
    pub(crate) now: Vec<ClassNow>,
    /// The classes by their group's key (any order ranks alike; the last call's order makes
    /// this call's sort nearly free).
    pub(crate) class_order: Vec<u32>,
    /// Warm-context overrides priced on their own, this call.
    pub(crate) overrides: Vec<Priced>,
    /// Candidate index of each override.
    pub(crate) override_of: Vec<u32>,
    /// Per position in the set's `members`: the verdict, written for [`Status::Mixed`] classes.
    pub(crate) reasons: Vec<Reason>,
    /// Per position: the node's free cores, written for members found full.
    pub(crate) node_free: Vec<f64>,
    /// Feasible members of mixed classes from the front; override singletons from the back.
    pub(crate) members: Vec<u32>,
    pub(crate) groups: Vec<Group>,
    /// Members of merged tie runs.
    pub(crate) order: Vec<u32>,
    /// Feasible candidates in the last ranking.
    pub(crate) feasible: usize,
}

/// What the memo was computed for.
#[derive(Clone, Debug)]
struct MemoKey {
    /// The set (a weak reference: its allocation, and so its address, outlives the key).
    set: Weak<Set>,
    invocation: Invocation,
    warm_hit: f64,
    drained: f64,
}

/// A cost class priced but for the storage queueing and the objective.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClassMemo {
    /// What does not depend on the utilisation or the node: scheme, dedicated core.
    pub(crate) verdict: Option<Infeasible>,
    /// Whether the model priced it (false for a refused dedicated core).
    pub(crate) priced: bool,
    /// The cost up to the queueing, when the objective is to be asked (priced, no verdict).
    pub(crate) cost: Option<UnqueuedCost>,
    /// CPU per invocation on the side the placement runs on.
    pub(crate) side_cpu: Nanos,
    /// The room its load takes on a node.
    pub(crate) room: Room,
}

/// What became of a class's members in this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Storage-side, with no member on the data node: every member is `DataElsewhere`.
    Unreachable,
    /// The class's verdict applies to every member that can reach the data.
    Verdict,
    /// Every member that can reach the data is feasible (storage-side members elsewhere are
    /// `DataElsewhere`).
    AllFit,
    /// Judged member by member: see `reasons`.
    Mixed,
}

/// A class in this call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClassNow {
    /// The objective's score (infinite when the objective was not asked).
    pub(crate) score: f64,
    /// The class's verdict, read only when a member's reason is [`Reason::Verdict`].
    pub(crate) verdict: Option<Infeasible>,
    pub(crate) status: Status,
    /// Its feasible members but warm-context overrides (none: `len` 0, `key` `u64::MAX`).
    pub(crate) group: Group,
}

impl ClassNow {
    const BLANK: ClassNow = ClassNow {
        score: f64::INFINITY,
        verdict: None,
        status: Status::Unreachable,
        group: Group {
            key: u64::MAX,
            start: 0,
            len: 0,
        },
    };
}

/// One candidate priced on its own (a warm-context override of its class).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Priced {
    /// Warm-hit probability it was priced with.
    pub(crate) warm_hit: f64,
    /// Whether the model priced it (false for a refused dedicated core).
    pub(crate) priced: bool,
    pub(crate) score: f64,
    /// CPU per invocation on the side the placement runs on.
    pub(crate) side_cpu: Nanos,
    /// What does not depend on the node (scheme, dedicated core, SLO).
    pub(crate) verdict: Option<Infeasible>,
}

/// Where a group's members live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `RankBuffers::members`.
    Members,
    /// The set's own `members` (a class referenced in place).
    Class,
    /// `RankBuffers::order` (a merged tie run).
    Order,
}

impl Source {
    /// Bit position of the source tag in [`Group::start`].
    const SHIFT: u32 = 30;

    /// `start` tagged with this source.
    #[inline]
    pub(crate) fn at(self, start: usize) -> u32 {
        let tag = match self {
            Source::Members => 0u32,
            Source::Class => 1,
            Source::Order => 2,
        };
        (tag << Self::SHIFT) | super::candidates::small(start)
    }

    /// The source and start a tagged start holds.
    #[inline]
    pub(crate) fn of(tagged: u32) -> (Source, usize) {
        let start = (tagged & ((1 << Self::SHIFT) - 1)) as usize;
        let source = match tagged >> Self::SHIFT {
            0 => Source::Members,
            1 => Source::Class,
            _ => Source::Order,
        };
        (source, start)
    }
}

// Every start fits below the tag bits.
const _: () = assert!(MAX_CANDIDATES < 1 << Source::SHIFT);

/// Feasible candidates that share one score: a class's feasible members, one candidate priced
/// on its own, or a merged run of tied groups.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Group {
    /// The score's order bits, truncated, above the first member's id rank.
    pub(crate) key: u64,
    /// Where the members start, tagged with their [`Source`].
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl RankBuffers {
    /// Buffers for candidate sets of up to `n` placements.
    pub fn with_capacity(n: usize) -> Self {
        RankBuffers {
            memo: Vec::with_capacity(n),
            memo_of: None,
            now: Vec::with_capacity(n),
            class_order: Vec::with_capacity(n),
            overrides: Vec::with_capacity(n),
            override_of: Vec::with_capacity(n),
            reasons: Vec::with_capacity(n),
            node_free: Vec::with_capacity(n),
            members: Vec::with_capacity(n),
            groups: Vec::with_capacity(n),
            order: Vec::with_capacity(n),
            feasible: 0,
        }
    }

    /// Buffers sized for `candidates`.
    pub fn for_candidates(candidates: &super::Candidates) -> Self {
        RankBuffers::with_capacity(candidates.len())
    }

    /// How many candidates the buffers hold without growing.
    pub fn capacity(&self) -> usize {
        [
            self.memo.capacity(),
            self.now.capacity(),
            self.class_order.capacity(),
            self.overrides.capacity(),
            self.override_of.capacity(),
            self.reasons.capacity(),
            self.node_free.capacity(),
            self.members.capacity(),
            self.groups.capacity(),
            self.order.capacity(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    /// Readies the buffers for ranking `set` for `job` (checked when it was built) under
    /// `cond`: refreshes the memo if its key changed, and clears this call's outputs. Within
    /// capacity (checked first) nothing here allocates.
    ///
    /// # Errors
    /// [`SolverError::BufferTooSmall`], or the model's refusal of a class.
    #[inline]
    pub(crate) fn begin(&mut self, set: &Arc<Set>, job: &Job, cond: &Conditions) -> Result<()> {
        let n = set.priced.len();
        if self.capacity() < n {
            return Err(SolverError::BufferTooSmall {
                capacity: self.capacity(),
                needed: n,
            });
        }
        let fresh = self.memo_of.as_ref().is_some_and(|k| {
            std::ptr::eq(k.set.as_ptr(), Arc::as_ptr(set))
                && k.invocation == *job.invocation()
                && k.warm_hit == cond.warm_hit()
                && k.drained == cond.drained_per_wakeup()
        });
        if !fresh {
            self.refresh(set, job.invocation(), cond)?;
        }
        let classes = set.classes.len();
        if !fresh || self.now.len() != classes {
            self.now.clear();
            self.now.resize(classes, ClassNow::BLANK);
            self.class_order.clear();
            self.class_order
                .extend(0..super::candidates::small(classes));
        }
        self.overrides.clear();
        self.override_of.clear();
        // Written before they are read: `reasons` and `node_free` for mixed classes,
        // `members` through cursors.
        self.reasons.resize(n, Reason::DataElsewhere);
        self.node_free.resize(n, 0.0);
        self.members.resize(n, 0);
        self.groups.clear();
        self.order.clear();
        Ok(())
    }

    /// Prices every class of `set` up to the queueing.
    #[cold]
    fn refresh(&mut self, set: &Arc<Set>, inv: &Invocation, cond: &Conditions) -> Result<()> {
        self.memo_of = None;
        self.memo.clear();
        for class in &set.classes {
            self.memo.push(memo_class(class, inv, cond)?);
        }
        self.memo_of = Some(MemoKey {
            set: Arc::downgrade(set),
            invocation: *inv,
            warm_hit: cond.warm_hit(),
            drained: cond.drained_per_wakeup(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source survives its tag: two sources sharing a tag bit (as `OVERRIDE` and
    /// `IN_ORDER` once did, both `1 << 31`) would fail here.
    #[test]
    fn group_sources_round_trip_and_never_collide() {
        let sources = [Source::Members, Source::Class, Source::Order];
        let starts = [0, 1, 12_345, MAX_CANDIDATES - 1];
        let mut seen = Vec::new();
        for s in sources {
            for start in starts {
                let tagged = s.at(start);
                assert_eq!(Source::of(tagged), (s, start), "{s:?} at {start}");
                assert!(!seen.contains(&tagged), "{s:?} at {start} collides");
                seen.push(tagged);
            }
        }
    }
}
