//! Chains and DAGs of functions: place them jointly, and fuse neighbours into one domain.
//!
//! # Linear chains: dynamic programming
//!
//! Stage `i` has options (placements) with a cost each, and the edge from stage `i` to `i + 1`
//! costs something that depends on both ends' options (moving the bytes passed between them).
//! The cheapest assignment is a shortest path through the stages:
//! `best[i + 1][b] = stage[i + 1][b] + min_a (best[i][a] + edge[i][a][b])`, in
//! `O(stages x options^2)` time; ties go to the lowest option index, so it is deterministic.
//!
//! # Fusion
//!
//! Two neighbours placed in the same regime, under the same scheme, on the same node can share
//! one domain: the second one is entered by a function call instead of a dispatch and a domain
//! switch, and the data passes in memory instead of over a transport or a copy. [`ModelChain`]
//! gives such a pair a negative edge cost (the dispatch and switch saved), so the DP chooses
//! fusion exactly when it pays; the plan reports which edges are fused.
//!
//! # DAGs: a heuristic
//!
//! General DAGs (fan-out, fan-in) are placed greedily in topological order (each node takes the
//! option cheapest given its already placed predecessors), then improved by coordinate descent:
//! each node in turn re-chooses given all its neighbours, until no move improves the total (at
//! most 64 passes). The total never increases from pass to pass. A DAG that is a simple path is
//! solved exactly by the DP instead.

use costmodel::{
    Bytes, Conditions, Model, NanosPerByte, Objective, ObjectiveContext, Placement,
    PricedPlacement, Regime, Side,
};

use crate::error::{Result, SolverError};
use crate::rank::Job;

/// The costs of a linear chain: options per stage and edge costs between neighbours.
pub trait ChainCosts {
    /// Number of stages.
    fn stages(&self) -> usize;
    /// Number of options at `stage`.
    fn options(&self, stage: usize) -> usize;
    /// Cost of `option` at `stage`.
    fn stage_cost(&self, stage: usize, option: usize) -> f64;
    /// Cost of the edge from `stage` (option `from`) to `stage + 1` (option `to`).
    fn edge_cost(&self, stage: usize, from: usize, to: usize) -> f64;
    /// Whether that edge fuses the two stages into one domain. By default never.
    fn fused(&self, _stage: usize, _from: usize, _to: usize) -> bool {
        false
    }
}

/// A chosen placement per stage.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainPlan {
    /// Option chosen at each stage (node, for DAGs).
    pub choice: Vec<usize>,
    /// Total cost: stages plus edges.
    pub total: f64,
    /// For each edge (`stage -> stage + 1`, or each DAG edge in order), whether it is fused.
    pub fused: Vec<bool>,
    /// True when the plan is optimal (DP), false for the DAG heuristic.
    pub exact: bool,
}

fn check_chain(c: &impl ChainCosts) -> Result<()> {
    if c.stages() == 0 {
        return Err(SolverError::Empty {
            what: "chain stages",
        });
    }
    for s in 0..c.stages() {
        if c.options(s) == 0 {
            return Err(SolverError::BadChain {
                message: format!("stage {s} has no options"),
            });
        }
    }
    Ok(())
}

fn finite(what: &'static str, v: f64) -> Result<f64> {
    if v.is_nan() {
        Err(SolverError::InvalidInput {
            field: what,
            expected: "must not be nan",
            value: v,
        })
    } else {
        Ok(v)
    }
}

/// The jointly cheapest placement of a linear chain, by dynamic programming.
///
/// # Errors
/// [`SolverError::Empty`] for no stages, [`SolverError::BadChain`] for a stage without options,
/// [`SolverError::InvalidInput`] for a NaN cost.
pub fn solve_linear(c: &impl ChainCosts) -> Result<ChainPlan> {
    check_chain(c)?;
    let n = c.stages();
    let mut best: Vec<f64> = (0..c.options(0))
        .map(|o| finite("stage_cost", c.stage_cost(0, o)))
        .collect::<Result<_>>()?;
    let mut back: Vec<Vec<usize>> = Vec::with_capacity(n);
    back.push(Vec::new());
    for s in 1..n {
        let mut next = Vec::with_capacity(c.options(s));
        let mut from = Vec::with_capacity(c.options(s));
        for b in 0..c.options(s) {
            let mut arg = 0;
            let mut val = f64::INFINITY;
            for (a, prev) in best.iter().enumerate() {
                let v = prev + finite("edge_cost", c.edge_cost(s - 1, a, b))?;
                if v < val {
                    val = v;
                    arg = a;
                }
            }
            next.push(val + finite("stage_cost", c.stage_cost(s, b))?);
            from.push(arg);
        }
        best = next;
        back.push(from);
    }
    let (mut o, total) =
        best.iter().enumerate().fold(
            (0, f64::INFINITY),
            |acc, (i, v)| if *v < acc.1 { (i, *v) } else { acc },
        );
    let mut choice = vec![0; n];
    for s in (0..n).rev() {
        choice[s] = o;
        if s > 0 {
            o = back[s][o];
        }
    }
    let fused = (1..n)
        .map(|s| c.fused(s - 1, choice[s - 1], choice[s]))
        .collect();
    Ok(ChainPlan {
        choice,
        total,
        fused,
        exact: true,
    })
}

/// Total cost of `choice` for a chain.
pub fn chain_total(c: &impl ChainCosts, choice: &[usize]) -> f64 {
    let mut t = 0.0;
    for (s, &o) in choice.iter().enumerate() {
        t += c.stage_cost(s, o);
        if s > 0 {
            t += c.edge_cost(s - 1, choice[s - 1], o);
        }
    }
    t
}

/// The cheapest placement by trying every combination: exponential, for checking the DP on
/// small chains.
///
/// # Errors
/// As [`solve_linear`], plus [`SolverError::BadChain`] beyond 10 million combinations.
pub fn exhaustive_linear(c: &impl ChainCosts) -> Result<ChainPlan> {
    check_chain(c)?;
    let n = c.stages();
    let combos = (0..n).try_fold(1usize, |acc, s| acc.checked_mul(c.options(s)));
    if combos.is_none_or(|k| k > 10_000_000) {
        return Err(SolverError::BadChain {
            message: "too many combinations for exhaustive search".into(),
        });
    }
    let mut choice = vec![0usize; n];
    let mut best = (f64::INFINITY, choice.clone());
    loop {
        let t = chain_total(c, &choice);
        if t < best.0 {
            best = (t, choice.clone());
        }
        let mut s = n;
        loop {
            if s == 0 {
                let fused = (1..n)
                    .map(|s| c.fused(s - 1, best.1[s - 1], best.1[s]))
                    .collect();
                return Ok(ChainPlan {
                    choice: best.1,
                    total: best.0,
                    fused,
                    exact: true,
                });
            }
            s -= 1;
            choice[s] += 1;
            if choice[s] < c.options(s) {
                break;
            }
            choice[s] = 0;
        }
    }
}

/// A chain given as explicit cost tables.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixChain {
    /// `stage[s][o]`: cost of option `o` at stage `s`.
    pub stage: Vec<Vec<f64>>,
    /// `edge[s][a][b]`: cost of the edge from stage `s` option `a` to stage `s + 1` option `b`.
    pub edge: Vec<Vec<Vec<f64>>>,
}

impl ChainCosts for MatrixChain {
    fn stages(&self) -> usize {
        self.stage.len()
    }
    fn options(&self, stage: usize) -> usize {
        self.stage[stage].len()
    }
    fn stage_cost(&self, stage: usize, option: usize) -> f64 {
        self.stage[stage][option]
    }
    fn edge_cost(&self, stage: usize, from: usize, to: usize) -> f64 {
        self.edge
            .get(stage)
            .and_then(|e| e.get(from))
            .and_then(|e| e.get(to))
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// How edge CPU is priced: per ns on each side, and the in-memory copy cost per byte.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgePrice {
    /// Price of one ns of storage CPU.
    pub storage: f64,
    /// Price of one ns of compute CPU.
    pub compute: f64,
    /// CPU per byte to copy between two domains on one machine.
    pub copy_per_byte: NanosPerByte,
}

impl EdgePrice {
    /// CPU priced alike on both sides; the copy cost from the host's memory-copy estimate (or
    /// 0.0244 ns/B, 41 GB/s, when the profile has none).
    pub fn from_model(model: &Model) -> Self {
        EdgePrice {
            storage: 1.0,
            compute: 1.0,
            copy_per_byte: model
                .host()
                .memory_copy
                .as_ref()
                .map_or(NanosPerByte::new(0.0244), |e| e.point),
        }
    }

    fn side(&self, side: Side) -> f64 {
        match side {
            Side::Storage => self.storage,
            Side::Compute => self.compute,
        }
    }
}

/// One stage of a chain to be priced by the model.
#[derive(Clone, Copy, Debug)]
pub struct ChainStage<'a> {
    /// The function.
    pub job: Job,
    /// Its candidate placements.
    pub candidates: &'a [Placement],
    /// Bytes it passes to the next stage (ignored for the last).
    pub bytes_to_next: Bytes,
}

/// A chain priced by the cost model: stage costs are objective scores, edge costs the CPU of
/// moving the bytes between the two placements (or the saving of fusing them).
#[derive(Clone, Debug)]
pub struct ModelChain {
    priced: Vec<Vec<PricedPlacement>>,
    stage: Vec<Vec<f64>>,
    bytes: Vec<Bytes>,
    price: EdgePrice,
    drained: f64,
}

impl ModelChain {
    /// Prices every stage's candidates under `cond` with `objective`. Infeasible candidates (SLO,
    /// unsupported scheme, refused dedicated core) cost infinity, so the DP avoids them.
    ///
    /// # Errors
    /// [`SolverError::Empty`] for no stages or a stage without candidates, [`SolverError::Cost`]
    /// for unknown ids, [`SolverError::InvalidInput`] for bad job numbers.
    pub fn build<O: Objective + ?Sized>(
        model: &Model,
        stages: &[ChainStage<'_>],
        objective: &O,
        cond: &Conditions,
        price: EdgePrice,
    ) -> Result<Self> {
        if stages.is_empty() {
            return Err(SolverError::Empty {
                what: "chain stages",
            });
        }
        let mut priced = Vec::with_capacity(stages.len());
        let mut stage_costs = Vec::with_capacity(stages.len());
        for st in stages {
            if st.candidates.is_empty() {
                return Err(SolverError::Empty {
                    what: "stage candidates",
                });
            }
            let ctx = ObjectiveContext {
                storage_utilisation: cond.storage_utilisation(),
                slo: st.job.slo(),
            };
            let mut pp = Vec::with_capacity(st.candidates.len());
            let mut costs = Vec::with_capacity(st.candidates.len());
            for p in st.candidates {
                let p = model.price(p)?;
                let score = match p.evaluate(st.job.invocation(), cond) {
                    Ok(cost)
                        if p.scheme().supported() && objective.feasible(&cost, &ctx).is_ok() =>
                    {
                        objective.score(&cost, &ctx)
                    }
                    _ => f64::INFINITY,
                };
                pp.push(p);
                costs.push(score);
            }
            priced.push(pp);
            stage_costs.push(costs);
        }
        Ok(ModelChain {
            priced,
            stage: stage_costs,
            bytes: stages
                .iter()
                .map(|s| Bytes::new(s.bytes_to_next.get().max(0.0)))
                .collect(),
            price,
            drained: cond.drained_per_wakeup(),
        })
    }

    /// The placement of `option` at `stage`.
    pub fn placement(&self, stage: usize, option: usize) -> Placement {
        *self.priced[stage][option].placement()
    }

    fn fusable(p: &Placement, q: &Placement) -> bool {
        p.regime == q.regime
            && p.regime != Regime::DedicatedCore
            && p.node == q.node
            && p.scheme == q.scheme
    }
}

impl ChainCosts for ModelChain {
    fn stages(&self) -> usize {
        self.priced.len()
    }
    fn options(&self, stage: usize) -> usize {
        self.priced[stage].len()
    }
    fn stage_cost(&self, stage: usize, option: usize) -> f64 {
        self.stage[stage][option]
    }
    fn edge_cost(&self, stage: usize, from: usize, to: usize) -> f64 {
        let p = &self.priced[stage][from];
        let q = &self.priced[stage + 1][to];
        let (pl, ql) = (p.placement(), q.placement());
        let (ps, qs) = (pl.regime.side(), ql.regime.side());
        let bytes = self.bytes[stage];
        if ModelChain::fusable(pl, ql) {
            // One domain: the second function is a call, not a dispatch plus a switch.
            let saved = (p.dispatch() + q.scheme().warm_invoke()) / f64::from(ql.batch.get());
            return -self.price.side(qs) * saved.get();
        }
        if pl.node == ql.node && ps == qs {
            return self.price.side(qs) * bytes.get() * self.price.copy_per_byte.get();
        }
        let side_cost = |side: Side| {
            let (a, b) = match side {
                Side::Storage => q.transport().server(self.drained),
                Side::Compute => q.transport().client(self.drained),
            };
            self.price.side(side) * (a + b * bytes).get()
        };
        side_cost(ps) + side_cost(qs)
    }
    fn fused(&self, stage: usize, from: usize, to: usize) -> bool {
        ModelChain::fusable(
            self.priced[stage][from].placement(),
            self.priced[stage + 1][to].placement(),
        )
    }
}

mod dag;

pub use dag::{DagCosts, MatrixDag, dag_total, solve_dag};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_picks_the_cheap_path_through_expensive_edges() {
        // Each stage alone prefers (0, 1), but switching costs 10: staying on 1 costs 2.
        let c = MatrixChain {
            stage: vec![vec![0.0, 2.0], vec![3.0, 0.0]],
            edge: vec![vec![vec![0.0, 10.0], vec![10.0, 0.0]]],
        };
        let plan = solve_linear(&c).unwrap();
        assert_eq!(plan.choice, vec![1, 1]);
        assert!((plan.total - 2.0).abs() < 1e-12);
    }

    #[test]
    fn empty_and_optionless_chains_are_errors() {
        let c = MatrixChain {
            stage: vec![],
            edge: vec![],
        };
        assert!(solve_linear(&c).is_err());
        let c = MatrixChain {
            stage: vec![vec![]],
            edge: vec![],
        };
        assert!(solve_linear(&c).is_err());
        let c = MatrixChain {
            stage: vec![vec![f64::NAN]],
            edge: vec![],
        };
        assert!(solve_linear(&c).is_err());
    }

    #[test]
    fn cycles_are_errors() {
        let d = MatrixDag {
            node: vec![vec![0.0], vec![0.0]],
            edges: vec![(0, 1), (1, 0)],
            edge: vec![vec![vec![0.0]], vec![vec![0.0]]],
        };
        assert!(matches!(solve_dag(&d), Err(SolverError::BadChain { .. })));
    }

    #[test]
    fn a_path_shaped_dag_is_solved_exactly() {
        let d = MatrixDag {
            node: vec![vec![0.0, 2.0], vec![3.0, 0.0]],
            edges: vec![(0, 1)],
            edge: vec![vec![vec![0.0, 10.0], vec![10.0, 0.0]]],
        };
        let plan = solve_dag(&d).unwrap();
        assert!(plan.exact);
        assert_eq!(plan.choice, vec![1, 1]);
    }
}
