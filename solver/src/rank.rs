//! `rank`: order an invocation's candidate placements by an objective, with the reasons.
//!
//! The work is split so the per-invocation path does as little as possible:
//!
//! 1. [`Candidates::prepare`] resolves every candidate's scheme and transport once
//!    ([`costmodel::Model::price`]), rejects unknown ids and duplicates, and sorts the set by the
//!    placement's stable id (the derived `Ord` of [`Placement`]). A candidate's index in the set
//!    is its id rank.
//! 2. [`Candidates::rank`] prices each *cost class* (candidates equal but for their node) once
//!    under the current [`ClusterState`]. What does not depend on the storage utilisation (every
//!    term but the queueing, the CPU a node needs, the scheme and dedicated-core verdicts) is
//!    computed once per candidate set, invocation, warm-hit probability and drain rate
//!    ([`costmodel::PricedPlacement::unqueued`]) and kept in the [`RankBuffers`]; per call only
//!    the queueing, the latency, the SLO check and the objective's score are computed
//!    ([`costmodel::UnqueuedCost::queued`]), with results identical bit for bit to evaluating
//!    the equations afresh. Then each member's node is checked and the feasible classes are
//!    sorted by one `u64` key (the score's total-order bits above the first member's id rank);
//!    a class whose members are all feasible is referenced in place, and runs of exactly tied
//!    scores are merged in id order. Infeasible candidates follow every feasible one, in id
//!    order. Everything is written into caller-provided [`RankBuffers`]: no heap allocation per
//!    call.
//!
//! A candidate is infeasible, with the reason kept beside its cost, when its scheme is not
//! supported on the host, it runs inside a storage node that does not hold the data, the cost
//! model refuses it a dedicated core (no arrivals, or one core cannot keep up), the node it runs
//! on lacks the free CPU its load needs, or its expected latency exceeds the SLO.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use costmodel::{
    Axis, Conditions, Invocation, Model, Nanos, NodeId, Objective, ObjectiveContext, Placement,
    PlacementCost, PricedPlacement, Regime, SchemeId, Side, TERM_COUNT, Term, UnqueuedCost,
    WorkloadProfile,
};

use crate::error::{Result, SolverError, non_negative, positive, within};

/// The function being placed: its invocation numbers and its latency objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    /// The numbers the equations use (records, bytes, compute, rate).
    pub invocation: Invocation,
    /// Latency objective per invocation, if any.
    pub slo: Option<Nanos>,
}

impl Job {
    /// Reduces a workload profile (validating it).
    ///
    /// # Errors
    /// [`SolverError::Cost`] naming the first bad field.
    pub fn from_profile(w: &WorkloadProfile) -> Result<Self> {
        Ok(Job {
            invocation: Invocation::from_profile(w)?,
            slo: w.slo,
        })
    }

    /// Checks every number: finite, not negative, the SLO positive.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming the field and the value.
    pub fn check(&self) -> Result<()> {
        let i = &self.invocation;
        non_negative("invocation.records", i.records)?;
        non_negative("invocation.record_bytes", i.record_bytes)?;
        non_negative("invocation.message_bytes", i.message_bytes)?;
        non_negative("invocation.compute_ns", i.compute_ns)?;
        non_negative("invocation.rate", i.rate)?;
        if let Some(slo) = self.slo {
            positive("job.slo", slo.get())?;
        }
        Ok(())
    }
}

/// A warm context the cluster holds: invocations placed on `node` under `scheme` find it warm
/// with probability `hit`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarmContext {
    /// The node holding the context.
    pub node: NodeId,
    /// The scheme of the context.
    pub scheme: SchemeId,
    /// Probability in `[0, 1]` that an invocation finds it warm (1 for a context idle now).
    pub hit: f64,
}

/// What the scheduler knows about the cluster at the moment of the decision. Borrowed, so a
/// scheduler can keep its own arrays and hand out a view per call.
#[derive(Clone, Copy, Debug)]
pub struct ClusterState<'a> {
    /// Free CPU per node, in cores, indexed by [`NodeId`]. Every candidate's node must be here.
    pub free_cores: &'a [f64],
    /// The storage node that holds the function's records. Storage-side candidates must run here.
    pub data_node: NodeId,
    /// Utilisation `rho` of that storage node, in `[0, 1)`.
    pub storage_utilisation: f64,
    /// Requests the storage server handles per wake-up (1 = ping-pong; large = saturated).
    pub drained_per_wakeup: f64,
    /// Warm-hit probability for candidates with no entry in `warm` (from
    /// [`crate::locality`]; 0 = always cold).
    pub default_warm_hit: f64,
    /// Contexts known to be warm. Small: it is scanned per candidate.
    pub warm: &'a [WarmContext],
}

impl<'a> ClusterState<'a> {
    /// An idle cluster view: `free_cores` per node, data on `data_node`, utilisation 0, one
    /// request per wake-up, contexts warm (`h = 1`), no explicit warm list.
    pub fn new(free_cores: &'a [f64], data_node: NodeId) -> Self {
        ClusterState {
            free_cores,
            data_node,
            storage_utilisation: 0.0,
            drained_per_wakeup: 1.0,
            default_warm_hit: 1.0,
            warm: &[],
        }
    }

    /// The same view at storage utilisation `rho`.
    pub fn with_utilisation(self, rho: f64) -> Self {
        ClusterState {
            storage_utilisation: rho,
            ..self
        }
    }

    /// The same view with default warm-hit probability `h`.
    pub fn with_warm_hit(self, h: f64) -> Self {
        ClusterState {
            default_warm_hit: h,
            ..self
        }
    }

    /// The same view with the warm contexts `warm`.
    pub fn with_warm(self, warm: &'a [WarmContext]) -> Self {
        ClusterState { warm, ..self }
    }

    /// The scalar conditions as bits, for the memo in [`RankBuffers`].
    fn key(&self) -> [u64; 3] {
        [
            self.default_warm_hit.to_bits(),
            self.storage_utilisation.to_bits(),
            self.drained_per_wakeup.to_bits(),
        ]
    }

    /// Checks the parts of the state that are not the scalar conditions.
    fn check_rest(&self) -> Result<()> {
        for w in self.warm {
            within("state.warm.hit", w.hit, 0.0, 1.0, "must be in [0, 1]")?;
        }
        let known = self.free_cores.len();
        if self.data_node.0 as usize >= known {
            return Err(SolverError::UnknownNode {
                node: self.data_node.0,
                known,
            });
        }
        Ok(())
    }

    fn conditions(&self) -> Result<Conditions> {
        within(
            "state.storage_utilisation",
            self.storage_utilisation,
            0.0,
            f64::from_bits(1.0f64.to_bits() - 1),
            "must be in [0, 1)",
        )?;
        if !(self.drained_per_wakeup >= 1.0) || !self.drained_per_wakeup.is_finite() {
            return Err(SolverError::InvalidInput {
                field: "state.drained_per_wakeup",
                expected: "must be finite and >= 1",
                value: self.drained_per_wakeup,
            });
        }
        within(
            "state.default_warm_hit",
            self.default_warm_hit,
            0.0,
            1.0,
            "must be in [0, 1]",
        )?;
        self.check_rest()?;
        Ok(Conditions::new(
            self.default_warm_hit,
            self.storage_utilisation,
            self.drained_per_wakeup,
        )?)
    }
}

/// Why the cost model refused a dedicated core.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DedicatedRefusal {
    /// The function has no arrivals: the whole core would idle.
    NoArrivals,
    /// The function alone would saturate the core (`utilisation >= 1`).
    CannotKeepUp {
        /// Utilisation the function would put on its core.
        utilisation: f64,
    },
}

/// Why a candidate cannot be used.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Infeasible {
    /// The host does not support the candidate's isolation scheme.
    UnsupportedScheme {
        /// The scheme.
        scheme: SchemeId,
    },
    /// A storage-side candidate on a node that does not hold the function's data.
    DataElsewhere {
        /// The candidate's node.
        node: NodeId,
        /// Where the data lives.
        data: NodeId,
    },
    /// The cost model refuses a dedicated core.
    DedicatedRefused(DedicatedRefusal),
    /// The node lacks the free CPU the placement's load needs.
    NodeFull {
        /// The node.
        node: NodeId,
        /// Cores the placement would use there (`cpu per invocation x rate`).
        need_cores: f64,
        /// Free cores on the node.
        free_cores: f64,
    },
    /// Expected latency exceeds the function's SLO.
    SloViolated {
        /// Expected latency.
        latency: Nanos,
        /// The objective.
        slo: Nanos,
    },
}

impl fmt::Display for Infeasible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Infeasible::UnsupportedScheme { scheme } => {
                write!(f, "scheme {scheme} is not supported on this host")
            }
            Infeasible::DataElsewhere { node, data } => {
                write!(f, "runs inside {node} but the data lives on {data}")
            }
            Infeasible::DedicatedRefused(DedicatedRefusal::NoArrivals) => {
                f.write_str("dedicated core refused: the function has no arrivals")
            }
            Infeasible::DedicatedRefused(DedicatedRefusal::CannotKeepUp { utilisation }) => {
                write!(
                    f,
                    "dedicated core refused: one core cannot keep up (utilisation {utilisation:.2})"
                )
            }
            Infeasible::NodeFull {
                node,
                need_cores,
                free_cores,
            } => write!(
                f,
                "{node} is full: needs {need_cores:.3} cores, {free_cores:.3} free"
            ),
            Infeasible::SloViolated { latency, slo } => {
                write!(f, "latency {latency} exceeds the slo of {slo}")
            }
        }
    }
}

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
    /// (up to) three terms whose values differ most, as `self - other` in ns, largest difference
    /// first. Positive means this candidate pays more for that term.
    pub fn against(&self, other: &Ranked<'_>) -> [Option<(Term, f64)>; 3] {
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
                *slot = Some(diffs[i]);
                diffs[i].1 = 0.0;
            }
        }
        out
    }
}

/// A priced cost class (or a warm-context override of one) within one call.
#[derive(Clone, Copy, Debug)]
struct Priced {
    /// Warm-hit probability it was priced with.
    warm_hit: f64,
    /// Whether the model priced it (false for a refused dedicated core).
    priced: bool,
    score: f64,
    /// CPU per invocation on the side the placement runs on, ns.
    side_cpu: f64,
    /// Infeasibility that does not depend on the node (scheme, dedicated core, SLO).
    verdict: Option<Infeasible>,
}

impl Priced {
    const BLANK: Priced = Priced {
        warm_hit: 1.0,
        priced: false,
        score: f64::INFINITY,
        side_cpu: 0.0,
        verdict: None,
    };
}

/// Compact infeasibility code; the full [`Infeasible`] is rebuilt when a caller looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Reason {
    Feasible,
    DataElsewhere,
    NodeFull,
    /// The priced class's own verdict (scheme, dedicated core, SLO).
    Verdict,
}

const OVERRIDE: u32 = 1 << 31;
/// A group whose members live in `order` (a merged tie run), not in `members`.
const IN_ORDER: u32 = 1 << 31;
/// A group that is a whole class: its members live in the candidates' own `members`.
const IN_CLASS: u32 = 1 << 30;
/// The flags of `Group::start`.
const GROUP_FLAGS: u32 = IN_ORDER | IN_CLASS;

/// A group of feasible candidates with one score: a class's feasible members, or one candidate
/// priced on its own (a warm-context override).
#[derive(Clone, Copy, Debug)]
struct Group {
    /// Score's order bits, truncated, above the first member's id rank.
    key: u64,
    start: u32,
    len: u32,
}

/// Caller-provided scratch and output space for [`Candidates::rank`]. Size it once (for the
/// largest candidate set it will serve) and reuse it: ranking then never allocates.
#[derive(Clone, Debug, Default)]
pub struct RankBuffers {
    classes: Vec<Priced>,
    overrides: Vec<Priced>,
    /// Candidate index of each override.
    override_of: Vec<u32>,
    /// Verdict per position in the candidates' `members` order.
    reasons: Vec<Reason>,
    /// `(candidate, free cores)` for each candidate found `NodeFull`.
    full: Vec<(u32, f64)>,
    members: Vec<u32>,
    groups: Vec<Group>,
    order: Vec<u32>,
    infeasible: Vec<u32>,
    /// Feasible candidates in the last ranking.
    feasible: usize,
    /// The last job that passed its checks (skips re-checking an unchanged job).
    checked_job: Option<Job>,
    /// The last validated scalar conditions, by their bits.
    conditions: Option<([u64; 3], Conditions)>,
    /// Per class, its pricing up to the storage queueing (which alone depends on the
    /// utilisation), valid for `unqueued_key`.
    unqueued: Vec<ClassBase>,
    /// The candidate set, invocation and warm-hit and drain conditions `unqueued` holds.
    unqueued_key: Option<UnqueuedKey>,
}

/// What a class's [`ClassBase`] depends on, by bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UnqueuedKey {
    /// [`Candidates::uid`].
    set: u64,
    invocation: [u64; 6],
    /// Warm-hit probability and requests drained per wake-up.
    conditions: [u64; 2],
}

impl UnqueuedKey {
    fn new(set: u64, inv: &Invocation, cond: &Conditions) -> Self {
        UnqueuedKey {
            set,
            invocation: [
                inv.records.to_bits(),
                inv.record_bytes.to_bits(),
                inv.message_bytes.to_bits(),
                inv.compute_ns.to_bits(),
                inv.rate.to_bits(),
                u64::from(inv.dependent_reads),
            ],
            conditions: [
                cond.warm_hit().to_bits(),
                cond.drained_per_wakeup().to_bits(),
            ],
        }
    }
}

/// A cost class priced but for the storage queueing and the objective.
#[derive(Clone, Copy, Debug)]
struct ClassBase {
    /// The class's [`Priced`] before the objective: its score is infinite and its verdict is
    /// what does not depend on the utilisation (scheme, dedicated core).
    priced: Priced,
    /// The cost up to the queueing, when the objective is to be asked (priced, no verdict).
    cost: Option<UnqueuedCost>,
    /// Fewest free cores a member's node needs: `fits(need, f)` is `f >= floor`.
    floor: f64,
}

impl RankBuffers {
    /// Buffers for candidate sets of up to `n` placements.
    pub fn with_capacity(n: usize) -> Self {
        RankBuffers {
            classes: Vec::with_capacity(n),
            overrides: Vec::with_capacity(n),
            override_of: Vec::with_capacity(n),
            reasons: Vec::with_capacity(n),
            full: Vec::with_capacity(n),
            members: Vec::with_capacity(n),
            groups: Vec::with_capacity(n),
            order: Vec::with_capacity(n),
            infeasible: Vec::with_capacity(n),
            feasible: 0,
            checked_job: None,
            conditions: None,
            unqueued: Vec::with_capacity(n),
            unqueued_key: None,
        }
    }

    /// Buffers sized for `candidates`.
    pub fn for_candidates(candidates: &Candidates) -> Self {
        RankBuffers::with_capacity(candidates.len())
    }

    /// How many candidates the buffers hold without growing.
    pub fn capacity(&self) -> usize {
        [
            self.classes.capacity(),
            self.overrides.capacity(),
            self.override_of.capacity(),
            self.reasons.capacity(),
            self.full.capacity(),
            self.members.capacity(),
            self.groups.capacity(),
            self.order.capacity(),
            self.infeasible.capacity(),
            self.unqueued.capacity(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }
}

/// A candidate set resolved once and ranked many times. Sorted by the placements' stable id.
///
/// Candidates that differ only in their node cost the same (the equations do not depend on the
/// node), so the set also records each candidate's *cost class*: per call each class is priced
/// once, the classes are sorted by score, and the per-candidate work is the node checks.
#[derive(Clone, Debug)]
pub struct Candidates {
    priced: Vec<PricedPlacement>,
    /// One representative (the first member, in id order) per class.
    classes: Vec<PricedPlacement>,
    /// Members of each class, in id order: `members[class_start[c]..class_start[c + 1]]`.
    members: Vec<u32>,
    class_start: Vec<u32>,
    /// Node of each entry of `members` (aligned with it).
    member_nodes: Vec<u32>,
    /// Position of each candidate in `members`.
    pos_of: Vec<u32>,
    /// Class of each candidate.
    class_of: Vec<u32>,
    /// Node of each candidate (a dense copy for the hot loop).
    node_of: Vec<u32>,
    max_node: u32,
    index_bits: u32,
    /// Distinct per prepared set (clones share it: they are equal), so buffers can tell which
    /// set their per-class memo belongs to.
    uid: u64,
}

/// Source of [`Candidates`] uids.
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

impl Candidates {
    /// Resolves `placements` against `model`.
    ///
    /// # Errors
    /// [`SolverError::Empty`] for no candidates, [`SolverError::Cost`] for an unknown scheme or
    /// transport id or a zero batch or multi-get, [`SolverError::DuplicateCandidate`] when a
    /// placement appears twice, [`SolverError::InvalidInput`] for more than 2^20 candidates.
    pub fn prepare(model: &Model, placements: &[Placement]) -> Result<Self> {
        if placements.is_empty() {
            return Err(SolverError::Empty {
                what: "candidate placements",
            });
        }
        if placements.len() > MAX_CANDIDATES {
            return Err(SolverError::InvalidInput {
                field: "placements.len",
                expected: "must be at most 1048576",
                value: f64::from(u32::try_from(placements.len()).unwrap_or(u32::MAX)),
            });
        }
        let mut priced = placements
            .iter()
            .map(|p| model.price(p))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        priced.sort_unstable_by_key(|p| p.placement);
        if let Some(w) = priced.windows(2).find(|w| w[0].placement == w[1].placement) {
            return Err(SolverError::DuplicateCandidate {
                placement: w[0].placement.to_string(),
            });
        }
        // Class of each candidate: its placement with the node erased.
        let mut keyed: Vec<(Placement, u32)> = priced
            .iter()
            .zip(0u32..)
            .map(|(pp, i)| (pp.placement.on(NodeId(0)), i))
            .collect();
        keyed.sort_unstable();
        let mut classes = Vec::new();
        let mut members = Vec::with_capacity(priced.len());
        let mut class_start = Vec::new();
        let mut class_of = vec![0u32; priced.len()];
        for (i, (key, idx)) in keyed.iter().enumerate() {
            if i == 0 || keyed[i - 1].0 != *key {
                class_start.push(u32::try_from(members.len()).unwrap_or(u32::MAX));
                classes.push(priced[*idx as usize]);
            }
            class_of[*idx as usize] = u32::try_from(classes.len() - 1).unwrap_or(u32::MAX);
            members.push(*idx);
        }
        let member_nodes = members
            .iter()
            .map(|&i| priced[i as usize].placement.node.0)
            .collect();
        let mut pos_of = vec![0u32; priced.len()];
        for (pos, &i) in (0u32..).zip(&members) {
            pos_of[i as usize] = pos;
        }
        let node_of = priced.iter().map(|p| p.placement.node.0).collect();
        class_start.push(u32::try_from(members.len()).unwrap_or(u32::MAX));
        let max_node = priced.iter().map(|p| p.placement.node.0).max().unwrap_or(0);
        let index_bits = usize::BITS - (priced.len() - 1).leading_zeros();
        Ok(Candidates {
            priced,
            classes,
            members,
            class_start,
            member_nodes,
            pos_of,
            class_of,
            node_of,
            max_node,
            index_bits,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.priced.len()
    }

    /// Always false: a prepared set is never empty.
    pub fn is_empty(&self) -> bool {
        self.priced.is_empty()
    }

    /// Number of distinct cost classes (candidates equal but for their node).
    pub fn classes(&self) -> usize {
        self.classes.len()
    }

    /// The candidates, in id order, with their resolved coefficients.
    pub fn priced(&self) -> &[PricedPlacement] {
        &self.priced
    }

    /// Ranks the candidates for `job` under `state` by `objective`, into `buf`.
    ///
    /// Feasible candidates come first, in score order (ties by id); infeasible ones follow in id
    /// order, each with its reason. Scores that agree to within `2^-(52 - log2 n)` relative
    /// (about 13 significant digits for 512 candidates) count as ties.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] for NaN or negative numbers in `job` or `state`,
    /// [`SolverError::UnknownNode`] when a candidate's node or the data node is not in
    /// `state.free_cores`, [`SolverError::BufferTooSmall`] when `buf` was sized for fewer
    /// candidates, [`SolverError::BadScore`] when the objective returns NaN.
    pub fn rank<'a, O: Objective + ?Sized>(
        &'a self,
        job: &Job,
        state: &ClusterState<'_>,
        objective: &O,
        buf: &'a mut RankBuffers,
    ) -> Result<Ranking<'a>> {
        // NaN never equals itself, so a job with a NaN is never taken as already checked.
        if buf.checked_job != Some(*job) {
            buf.checked_job = None;
            job.check()?;
            buf.checked_job = Some(*job);
        }
        // The same scalar conditions as last call (bit for bit, so never a NaN) reuse the
        // validated `Conditions`.
        let key = state.key();
        let base = match buf.conditions {
            Some((k, c)) if k == key => {
                state.check_rest()?;
                c
            }
            _ => {
                buf.conditions = None;
                let c = state.conditions()?;
                buf.conditions = Some((key, c));
                c
            }
        };
        let known = state.free_cores.len();
        if self.max_node as usize >= known {
            return Err(SolverError::UnknownNode {
                node: self.max_node,
                known,
            });
        }
        let n = self.priced.len();
        if buf.capacity() < n {
            return Err(SolverError::BufferTooSmall {
                capacity: buf.capacity(),
                needed: n,
            });
        }
        // Within capacity (checked above): none of these calls allocates.
        // Class slots are overwritten before they are read (a skipped class has no member that
        // reads it), so they are only resized, not reset.
        if buf.classes.len() != self.classes.len() {
            buf.classes.clear();
            buf.classes.resize(self.classes.len(), Priced::BLANK);
        }
        buf.overrides.clear();
        buf.override_of.clear();
        // Every position is written below (no reset needed).
        buf.reasons.resize(n, Reason::DataElsewhere);
        buf.full.clear();
        // `members` is written through a cursor, never past `n` (one entry per feasible one).
        buf.members.resize(n, 0);
        let mut m = 0usize;
        buf.groups.clear();
        buf.order.clear();
        buf.infeasible.clear();
        let ctx = ObjectiveContext {
            storage_utilisation: state.storage_utilisation,
            slo: job.slo,
        };
        let inv = &job.invocation;
        let shift = self.index_bits;
        let truncate = |score: f64| (order_bits(score) >> shift) << shift;
        let data = state.data_node.0;
        let free_cores = state.free_cores;
        // What does not depend on the utilisation is priced once per candidate set, invocation
        // and warm-hit and drain conditions.
        let key = UnqueuedKey::new(self.uid, inv, &base);
        if buf.unqueued_key != Some(key) {
            buf.unqueued_key = None;
            buf.unqueued.clear();
            for class in &self.classes {
                let (priced, cost) = price_unqueued(class, inv, &base)?;
                let need = priced.side_cpu * inv.rate / 1e9;
                buf.unqueued.push(ClassBase {
                    priced,
                    cost,
                    floor: ((need - 1e-12) / (1.0 + 1e-9)).max(0.0),
                });
            }
            buf.unqueued_key = Some(key);
        }
        for (c, class) in self.classes.iter().enumerate() {
            let members =
                &self.members[self.class_start[c] as usize..self.class_start[c + 1] as usize];
            let storage_side = class.placement.regime.side() == Side::Storage;
            // Storage-side members away from the data stay `DataElsewhere`, unpriced.
            if storage_side && !members.iter().any(|&i| self.node_of[i as usize] == data) {
                let range = self.class_start[c] as usize..self.class_start[c + 1] as usize;
                buf.reasons[range].fill(Reason::DataElsewhere);
                continue;
            }
            let cb = &buf.unqueued[c];
            let pr = &mut buf.classes[c];
            *pr = cb.priced;
            if let Some(cost) = &cb.cost {
                judge_cost(&cost.queued(&base), &ctx, objective, members[0], pr)?;
            }
            let floor = cb.floor;
            let verdict = pr.verdict.is_some();
            let start = m;
            let range = self.class_start[c] as usize..self.class_start[c + 1] as usize;
            let nodes = &self.member_nodes[range.clone()];
            // The most common case: every member feasible. The group is then the class itself,
            // referenced in place (`fits(need, f)` is `f >= floor`, see below). Otherwise the
            // loops below judge the members one by one, overwriting these reasons.
            let mut all_fit = state.warm.is_empty() && !verdict;
            if all_fit {
                for (&node, reason) in nodes.iter().zip(&mut buf.reasons[range.clone()]) {
                    *reason = Reason::Feasible;
                    let fit = (!storage_side || node == data)
                        && free_cores
                            .get(node as usize)
                            .is_some_and(|&free| free >= floor && free <= f64::MAX);
                    if !fit {
                        all_fit = false;
                        break;
                    }
                }
            }
            if all_fit {
                buf.groups.push(Group {
                    key: truncate(buf.classes[c].score) | u64::from(members[0]),
                    start: IN_CLASS | u32::try_from(range.start).unwrap_or(0),
                    len: u32::try_from(members.len()).unwrap_or(0),
                });
                continue;
            }
            if state.warm.is_empty() && !verdict {
                // The common case, kept tight: no warm-context overrides, no class verdict.
                // Positions are sequential, so verdicts are written in order. `fits(need, f)`
                // is `f >= floor` (floor >= 0, so NaN and negative free cores fall through to
                // the checks below, which reject them).
                let out = &mut buf.members[..];
                let reasons = &mut buf.reasons[range];
                for ((&i, &node), reason) in members.iter().zip(nodes).zip(reasons) {
                    if storage_side && node != data {
                        *reason = Reason::DataElsewhere;
                        continue;
                    }
                    let free = free_cores[node as usize];
                    if free >= floor && free <= f64::MAX {
                        *reason = Reason::Feasible;
                        out[m] = i;
                        m += 1;
                        continue;
                    }
                    if !(0.0..=f64::MAX).contains(&free) {
                        return Err(bad_free_cores(free));
                    }
                    *reason = Reason::NodeFull;
                    buf.full.push((i, free));
                }
            } else {
                let need = buf.classes[c].side_cpu * inv.rate / 1e9;
                self.judge_members(
                    range.start,
                    c,
                    need,
                    verdict,
                    (state, inv, &base, &ctx),
                    objective,
                    buf,
                    &mut m,
                )?;
            }
            if m > start {
                buf.groups.push(Group {
                    key: truncate(buf.classes[c].score) | u64::from(buf.members[start]),
                    start: u32::try_from(start).unwrap_or(0),
                    len: u32::try_from(m - start).unwrap_or(0),
                });
            }
        }
        // Override singletons were parked in `order`; move them to `members` so every group
        // indexes `members`.
        if !buf.order.is_empty() {
            let base_len = u32::try_from(m).unwrap_or(0);
            let parked = buf.order.len();
            buf.members[m..m + parked].copy_from_slice(&buf.order);
            for g in &mut buf.groups {
                if g.start & GROUP_FLAGS == OVERRIDE {
                    g.start = base_len + (g.start & !OVERRIDE);
                }
            }
            buf.order.clear();
        }
        buf.groups.sort_unstable_by_key(|g| g.key);
        // Groups in score order reference their members in place. Runs of groups whose scores
        // tie are merged by id into `order` (rare: exact ties between different classes).
        let (mut w, mut g, mut feasible) = (0, 0, 0usize);
        while let Some(first) = buf.groups.get(g) {
            let score_part = first.key >> shift;
            let mut h = g + 1;
            while let Some(next) = buf.groups.get(h)
                && next.key >> shift == score_part
            {
                h += 1;
            }
            if h - g == 1 {
                buf.groups[w] = buf.groups[g];
            } else {
                let from = buf.order.len();
                for k in g..h {
                    let grp = buf.groups[k];
                    let s = (grp.start & !GROUP_FLAGS) as usize;
                    let from_members = if grp.start & IN_CLASS != 0 {
                        &self.members[s..s + grp.len as usize]
                    } else {
                        &buf.members[s..s + grp.len as usize]
                    };
                    buf.order.extend_from_slice(from_members);
                }
                buf.order[from..].sort_unstable();
                buf.groups[w] = Group {
                    key: buf.groups[g].key,
                    start: IN_ORDER | u32::try_from(from).unwrap_or(0),
                    len: u32::try_from(buf.order.len() - from).unwrap_or(0),
                };
            }
            feasible += buf.groups[w].len as usize;
            w += 1;
            g = h;
        }
        buf.groups.truncate(w);
        buf.feasible = feasible;
        if feasible < n {
            for (i, &pos) in (0u32..).zip(&self.pos_of) {
                if buf.reasons[pos as usize] != Reason::Feasible {
                    buf.infeasible.push(i);
                }
            }
        }
        Ok(Ranking {
            candidates: self,
            buf,
            data_node: state.data_node,
            invocation: *inv,
            conditions: base,
        })
    }
}

#[cold]
fn bad_free_cores(value: f64) -> SolverError {
    SolverError::InvalidInput {
        field: "state.free_cores",
        expected: "must be finite and >= 0",
        value,
    }
}

/// The node-dependent verdict for a priced class or override.
#[inline]
fn judge(verdict: bool, need: f64, free: f64) -> Reason {
    if verdict {
        Reason::Verdict
    } else if !fits(need, free) {
        Reason::NodeFull
    } else {
        Reason::Feasible
    }
}

/// Whether `need` cores fit in `free` ones. The relative slack lets a dedicated core (exactly
/// one core) fit a node with exactly one free.
#[inline]
fn fits(need: f64, free: f64) -> bool {
    need <= free * (1.0 + 1e-9) + 1e-12
}

impl Candidates {
    /// Judges a class's members one by one, pricing warm-context overrides on their own.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn judge_members<O: Objective + ?Sized>(
        &self,
        first: usize,
        c: usize,
        need: f64,
        verdict: bool,
        (state, inv, base, ctx): (
            &ClusterState<'_>,
            &Invocation,
            &Conditions,
            &ObjectiveContext,
        ),
        objective: &O,
        buf: &mut RankBuffers,
        m: &mut usize,
    ) -> Result<()> {
        let end = self.class_start[c + 1] as usize;
        let members = &self.members[first..end];
        let shift = self.index_bits;
        let truncate = |score: f64| (order_bits(score) >> shift) << shift;
        let data = state.data_node.0;
        let free_cores = state.free_cores;
        let class = &self.classes[c];
        let storage_side = class.placement.regime.side() == Side::Storage;
        for (pos, &i) in (first..).zip(members) {
            let node = self.node_of[i as usize];
            if storage_side && node != data {
                buf.reasons[pos] = Reason::DataElsewhere;
                continue;
            }
            let free = free_cores[node as usize];
            if !(0.0..=f64::MAX).contains(&free) {
                return Err(bad_free_cores(free));
            }
            if !state.warm.is_empty() {
                let scheme = class.placement.scheme;
                if let Some(w) = state
                    .warm
                    .iter()
                    .find(|w| w.node.0 == node && w.scheme == scheme)
                {
                    let cond = base.with_warm_hit(w.hit)?;
                    let k = buf.overrides.len();
                    buf.overrides.push(Priced::BLANK);
                    buf.override_of.push(i);
                    let pp = &self.priced[i as usize];
                    price(pp, inv, &cond, ctx, objective, i, &mut buf.overrides[k])?;
                    let o = &buf.overrides[k];
                    let reason = judge(o.verdict.is_some(), o.side_cpu * inv.rate / 1e9, free);
                    buf.reasons[pos] = reason;
                    match reason {
                        Reason::Feasible => {
                            let at = u32::try_from(buf.order.len()).unwrap_or(0);
                            buf.order.push(i);
                            buf.groups.push(Group {
                                key: truncate(o.score) | u64::from(i),
                                start: OVERRIDE | at,
                                len: 1,
                            });
                        }
                        Reason::NodeFull => buf.full.push((i, free)),
                        _ => {}
                    }
                    continue;
                }
            }
            let reason = judge(verdict, need, free);
            buf.reasons[pos] = reason;
            match reason {
                Reason::Feasible => {
                    buf.members[*m] = i;
                    *m += 1;
                }
                Reason::NodeFull => buf.full.push((i, free)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The most candidates one set may hold (the sort key keeps 20 bits for the id rank at most).
const MAX_CANDIDATES: usize = 1 << 20;

/// Maps a score to bits whose unsigned order is the score's total order (`-0.0` as `0.0`).
#[inline]
fn order_bits(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Prices one cost class under `cond` and checks what does not depend on the node.
#[inline(always)]
fn price<O: Objective + ?Sized>(
    pp: &PricedPlacement,
    inv: &Invocation,
    cond: &Conditions,
    ctx: &ObjectiveContext,
    objective: &O,
    index: u32,
    out: &mut Priced,
) -> Result<()> {
    let (priced, cost) = price_unqueued(pp, inv, cond)?;
    *out = priced;
    match cost {
        Some(cost) => judge_cost(&cost.queued(cond), ctx, objective, index, out),
        None => Ok(()),
    }
}

/// The part of [`price`] that does not depend on the storage utilisation (`cond`'s is not
/// read): the [`Priced`] before the objective, and the cost up to the queueing when the
/// objective is to be asked.
fn price_unqueued(
    pp: &PricedPlacement,
    inv: &Invocation,
    cond: &Conditions,
) -> Result<(Priced, Option<UnqueuedCost>)> {
    let p = &pp.placement;
    let mut out = Priced {
        warm_hit: cond.warm_hit(),
        ..Priced::BLANK
    };
    if p.regime == Regime::DedicatedCore
        && let Some(refusal) = dedicated_refusal(pp, inv)
    {
        out.verdict = Some(Infeasible::DedicatedRefused(refusal));
        return Ok((out, None));
    }
    let cost = match pp.unqueued(inv, cond) {
        Ok(c) => c,
        // The pre-check above mirrors the model's refusal; this is its floating-point edge.
        Err(_) if p.regime == Regime::DedicatedCore => {
            out.verdict = Some(Infeasible::DedicatedRefused(
                DedicatedRefusal::CannotKeepUp { utilisation: 1.0 },
            ));
            return Ok((out, None));
        }
        Err(e) => return Err(e.into()),
    };
    out.priced = true;
    out.side_cpu = match p.regime.side() {
        Side::Storage => cost.storage_cpu().get(),
        Side::Compute => cost.compute_cpu().get(),
    };
    if !pp.scheme.supported {
        out.verdict = Some(Infeasible::UnsupportedScheme { scheme: p.scheme });
        return Ok((out, None));
    }
    Ok((out, Some(cost)))
}

/// The rest of [`price`]: the SLO, then the objective's score.
#[inline(always)]
fn judge_cost<O: Objective + ?Sized>(
    cost: &PlacementCost,
    ctx: &ObjectiveContext,
    objective: &O,
    index: u32,
    out: &mut Priced,
) -> Result<()> {
    if let Err(costmodel::Infeasible::SloViolated { latency, slo }) = objective.feasible(cost, ctx)
    {
        out.verdict = Some(Infeasible::SloViolated { latency, slo });
        return Ok(());
    }
    out.score = objective.score(cost, ctx);
    if out.score.is_nan() {
        return Err(SolverError::BadScore {
            objective: objective.name().to_owned(),
            index: index as usize,
            value: out.score,
        });
    }
    Ok(())
}

/// The model's dedicated-core refusal, checked before evaluating so the hot path never builds
/// the model's error message. Mirrors `PricedPlacement::evaluate` for `Regime::DedicatedCore`.
fn dedicated_refusal(pp: &PricedPlacement, inv: &Invocation) -> Option<DedicatedRefusal> {
    if !(inv.rate > 0.0) {
        return Some(DedicatedRefusal::NoArrivals);
    }
    let batch = f64::from(pp.placement.batch.max(1));
    let (a_s, b_s) = pp.transport.server(f64::INFINITY);
    let busy = a_s / batch
        + b_s * inv.message_bytes
        + pp.inside_access(inv)
        + pp.scheme.slowdown * inv.compute_ns;
    let utilisation = inv.rate * busy / 1e9;
    (utilisation >= 1.0).then_some(DedicatedRefusal::CannotKeepUp { utilisation })
}

/// The result of [`Candidates::rank`]: a view into the caller's buffers.
#[derive(Debug)]
pub struct Ranking<'a> {
    candidates: &'a Candidates,
    buf: &'a RankBuffers,
    data_node: NodeId,
    invocation: Invocation,
    conditions: Conditions,
}

impl<'a> Ranking<'a> {
    fn entry(&self, index: usize) -> Ranked<'a> {
        let buf: &'a RankBuffers = self.buf;
        let placement = &self.candidates.priced[index].placement;
        let reason = buf.reasons[self.candidates.pos_of[index] as usize];
        let priced = if reason == Reason::DataElsewhere {
            None
        } else {
            let i = u32::try_from(index).unwrap_or(u32::MAX);
            match buf.override_of.iter().position(|&o| o == i) {
                Some(k) => Some(&buf.overrides[k]),
                None => Some(&buf.classes[self.candidates.class_of[index] as usize]),
            }
        };
        let infeasible = match (reason, priced) {
            (Reason::Feasible, _) => None,
            (Reason::Verdict, Some(p)) => p.verdict,
            (Reason::NodeFull, Some(p)) => {
                let i = u32::try_from(index).unwrap_or(u32::MAX);
                let free = buf.full.iter().find(|f| f.0 == i).map_or(0.0, |f| f.1);
                Some(Infeasible::NodeFull {
                    node: placement.node,
                    need_cores: p.side_cpu * self.invocation.rate / 1e9,
                    free_cores: free,
                })
            }
            _ => Some(Infeasible::DataElsewhere {
                node: placement.node,
                data: self.data_node,
            }),
        };
        Ranked {
            placement,
            priced: priced
                .filter(|p| p.priced)
                .map(|_| &self.candidates.priced[index]),
            invocation: self.invocation,
            conditions: match priced {
                Some(p) if p.warm_hit.to_bits() != self.conditions.warm_hit().to_bits() => self
                    .conditions
                    .with_warm_hit(p.warm_hit)
                    .unwrap_or(self.conditions),
                _ => self.conditions,
            },
            score: match (infeasible, priced) {
                (None, Some(p)) => p.score,
                _ => f64::INFINITY,
            },
            infeasible,
        }
    }

    fn group(&self, g: &Group) -> &'a [u32] {
        let buf: &'a RankBuffers = self.buf;
        let (len, s) = (g.len as usize, (g.start & !GROUP_FLAGS) as usize);
        if g.start & IN_ORDER != 0 {
            &buf.order[s..s + len]
        } else if g.start & IN_CLASS != 0 {
            &self.candidates.members[s..s + len]
        } else {
            &buf.members[s..s + len]
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
            .map(move |i| self.entry(*i as usize))
    }

    /// The infeasible candidates, in id order, each with its reason.
    pub fn infeasible(&self) -> impl ExactSizeIterator<Item = Ranked<'a>> + '_ {
        self.buf
            .infeasible
            .iter()
            .map(move |i| self.entry(*i as usize))
    }

    /// The best feasible candidate, if any is feasible.
    pub fn best(&self) -> Option<Ranked<'a>> {
        let g = self.buf.groups.first()?;
        self.group(g).first().map(|i| self.entry(*i as usize))
    }

    /// The candidate at `rank` (0 = best).
    pub fn get(&self, rank: usize) -> Option<Ranked<'a>> {
        if rank >= self.buf.feasible {
            return self
                .buf
                .infeasible
                .get(rank - self.buf.feasible)
                .map(|i| self.entry(*i as usize));
        }
        let mut left = rank;
        for g in &self.buf.groups {
            let members = self.group(g);
            if left < members.len() {
                return Some(self.entry(members[left] as usize));
            }
            left -= members.len();
        }
        None
    }

    /// Number of candidates (feasible and not).
    pub fn len(&self) -> usize {
        self.buf.reasons.len()
    }

    /// True when there are no candidates (never, for a prepared set).
    pub fn is_empty(&self) -> bool {
        self.buf.reasons.is_empty()
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
                let sign = if d >= 0.0 { "+" } else { "-" };
                write!(f, "{} {sign}{}", t.name(), Nanos::new(d.abs()))?;
            }
        }
        Ok(())
    }
}
