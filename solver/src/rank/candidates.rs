//! A candidate set resolved once ([`Candidates::prepare`]) and ranked many times.

use std::ops::Range;
use std::sync::Arc;

use costmodel::{Model, NodeId, Placement, PricedPlacement, Regime, Side, TransportId};

use crate::error::{Result, SolverError};

/// The most candidates one set may hold (the sort key keeps 20 bits for the id rank at most).
pub(crate) const MAX_CANDIDATES: usize = 1 << 20;

/// A candidate set resolved once and ranked many times. Sorted by the placements' stable id.
///
/// Candidates that differ only in their node cost the same (the equations do not depend on the
/// node), so the set also records each candidate's *cost class*: per call each class is priced
/// once, the classes are sorted by score, and the per-candidate work is the node checks.
/// Clones share the resolved set (and so share the memo a [`super::RankBuffers`] keeps for it).
#[derive(Clone, Debug)]
pub struct Candidates {
    pub(crate) set: Arc<Set>,
}

/// The resolved set behind [`Candidates`].
#[derive(Debug)]
pub(crate) struct Set {
    /// The candidates in id order, with their coefficients.
    pub(crate) priced: Vec<PricedPlacement>,
    /// One representative (the first member, in id order) per class.
    pub(crate) classes: Vec<PricedPlacement>,
    /// Per class: where its members are and which side it runs on.
    pub(crate) class_info: Vec<ClassInfo>,
    /// Members of each class, in id order (see [`Set::range`]).
    pub(crate) members: Vec<u32>,
    /// Node of each entry of `members` (aligned with it).
    pub(crate) member_nodes: Vec<u32>,
    /// Position of each candidate in `members`.
    pub(crate) pos_of: Vec<u32>,
    /// Class of each candidate.
    pub(crate) class_of: Vec<u32>,
    /// Distinct nodes of compute-side candidates.
    pub(crate) compute_nodes: Vec<u32>,
    /// `(first, last)` of `compute_nodes` when they are every node in between.
    pub(crate) compute_span: Option<(u32, u32)>,
    pub(crate) max_node: u32,
    /// Bits of the sort key that hold a candidate's id rank.
    pub(crate) index_bits: u32,
}

/// Where a class's members are, and which side it runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClassInfo {
    /// Its members are `members[start..end]`.
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// Only a member on the data node can run: it runs on the storage side, or it fetches over
    /// a same-host transport (`shm`, `unix`: [`costmodel::Transport::crosses_network`] false),
    /// which cannot reach the data from another node ([`costmodel::Model::check_reach`]).
    pub(crate) data_node_only: bool,
}

impl Set {
    /// Positions in `members` of class `c`.
    #[inline]
    pub(crate) fn range(&self, c: usize) -> Range<usize> {
        let info = self.class_info[c];
        info.start as usize..info.end as usize
    }

    /// The fewest free cores over the compute-side candidates' nodes (infinite when there are
    /// none); `free` was checked when its [`super::ClusterState`] was built.
    ///
    /// # Errors
    /// [`SolverError::UnknownNode`] when `free` does not describe a candidate's node.
    #[inline]
    pub(crate) fn min_free(&self, free: &[f64]) -> Result<f64> {
        if self.max_node as usize >= free.len() {
            return Err(SolverError::UnknownNode {
                node: self.max_node,
                known: free.len(),
            });
        }
        let mut min = f64::INFINITY;
        match self.compute_span {
            // Dense node ids (the usual case): one pass over a slice, no gathers.
            Some((lo, hi)) => {
                for &f in &free[lo as usize..=hi as usize] {
                    min = if f < min { f } else { min };
                }
            }
            None => {
                for &n in &self.compute_nodes {
                    let f = free[n as usize];
                    min = if f < min { f } else { min };
                }
            }
        }
        Ok(min)
    }
}

impl Candidates {
    /// Resolves `placements` against `model`.
    ///
    /// # Errors
    /// [`SolverError::Empty`] for no candidates, [`SolverError::Cost`] for an unknown scheme or
    /// transport id, [`SolverError::DuplicateCandidate`] when a
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
        priced.sort_unstable_by_key(|p| *p.placement());
        if let Some(w) = priced
            .windows(2)
            .find(|w| w[0].placement() == w[1].placement())
        {
            return Err(SolverError::DuplicateCandidate {
                placement: w[0].placement().to_string(),
            });
        }
        // Transports that cannot carry a fetch between nodes.
        let mut same_host = Vec::new();
        for p in placements {
            if !same_host.contains(&p.transport)
                && !model.transport(p.transport)?.transport.crosses_network()
            {
                same_host.push(p.transport);
            }
        }
        Ok(Candidates {
            set: Arc::new(Set::new(priced, &same_host)),
        })
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.set.priced.len()
    }

    /// Always false: a prepared set is never empty.
    pub fn is_empty(&self) -> bool {
        self.set.priced.is_empty()
    }

    /// Number of distinct cost classes (candidates equal but for their node).
    pub fn classes(&self) -> usize {
        self.set.classes.len()
    }

    /// The candidates, in id order, with their resolved coefficients.
    pub fn priced(&self) -> &[PricedPlacement] {
        &self.set.priced
    }
}

/// `u32` from a count or position bounded by [`MAX_CANDIDATES`] (a set never holds more).
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // n <= MAX_CANDIDATES < 2^32
pub(crate) fn small(n: usize) -> u32 {
    debug_assert!(n <= MAX_CANDIDATES);
    n as u32
}

impl Set {
    /// Groups the sorted, distinct candidates into cost classes; a remote class over one of
    /// the `same_host` transports can only run on the data node.
    fn new(priced: Vec<PricedPlacement>, same_host: &[TransportId]) -> Self {
        // Class of each candidate: its placement with the node erased.
        let mut keyed: Vec<(Placement, u32)> = priced
            .iter()
            .zip(0u32..)
            .map(|(pp, i)| (pp.placement().on(NodeId(0)), i))
            .collect();
        keyed.sort_unstable();
        let (mut classes, mut class_info) = (Vec::new(), Vec::<ClassInfo>::new());
        let mut members = Vec::with_capacity(priced.len());
        let mut class_of = vec![0u32; priced.len()];
        for (i, (key, idx)) in keyed.iter().enumerate() {
            if i == 0 || keyed[i - 1].0 != *key {
                let start = small(members.len());
                if let Some(last) = class_info.last_mut() {
                    last.end = start;
                }
                class_info.push(ClassInfo {
                    start,
                    end: start,
                    data_node_only: key.regime.side() == Side::Storage
                        || (key.regime == Regime::Remote && same_host.contains(&key.transport)),
                });
                classes.push(priced[*idx as usize]);
            }
            class_of[*idx as usize] = small(classes.len() - 1);
            members.push(*idx);
        }
        if let Some(last) = class_info.last_mut() {
            last.end = small(members.len());
        }
        let node = |i: u32| priced[i as usize].placement().node.0;
        let member_nodes = members.iter().map(|&i| node(i)).collect();
        let mut pos_of = vec![0u32; priced.len()];
        for (pos, &i) in (0u32..).zip(&members) {
            pos_of[i as usize] = pos;
        }
        let side = |p: &PricedPlacement| p.placement().regime.side();
        let distinct = |want: Side| {
            let mut nodes: Vec<u32> = priced
                .iter()
                .filter(|p| side(p) == want)
                .map(|p| p.placement().node.0)
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            nodes
        };
        let compute_nodes = distinct(Side::Compute);
        let compute_span = match (compute_nodes.first(), compute_nodes.last()) {
            (Some(&lo), Some(&hi)) if (hi - lo) as usize + 1 == compute_nodes.len() => {
                Some((lo, hi))
            }
            _ => None,
        };
        let max_node = priced
            .iter()
            .map(|p| p.placement().node.0)
            .max()
            .unwrap_or(0);
        let index_bits = usize::BITS - (priced.len().max(1) - 1).leading_zeros();
        Set {
            priced,
            classes,
            class_info,
            members,
            member_nodes,
            pos_of,
            class_of,
            compute_nodes,
            compute_span,
            max_node,
            index_bits,
        }
    }
}
