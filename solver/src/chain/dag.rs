//! DAGs of functions: a greedy placement in topological order improved by coordinate
//! descent (see the [parent module](super)).

use super::*;

/// The costs of a DAG: options per node, and edges with costs between their ends' options.
pub trait DagCosts {
    /// Number of nodes (functions).
    fn nodes(&self) -> usize;
    /// Number of options at `node`.
    fn options(&self, node: usize) -> usize;
    /// Cost of `option` at `node`.
    fn node_cost(&self, node: usize, option: usize) -> f64;
    /// The edges, as `(from, to)` node pairs.
    fn edges(&self) -> &[(usize, usize)];
    /// Cost of edge `edge` with its ends at options `from` and `to`.
    fn edge_cost(&self, edge: usize, from: usize, to: usize) -> f64;
}

/// A DAG given as explicit cost tables.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixDag {
    /// `node[n][o]`: cost of option `o` at node `n`.
    pub node: Vec<Vec<f64>>,
    /// Edges as `(from, to)`.
    pub edges: Vec<(usize, usize)>,
    /// `edge[e][a][b]`: cost of edge `e` with its ends at options `a` and `b`.
    pub edge: Vec<Vec<Vec<f64>>>,
}

impl DagCosts for MatrixDag {
    fn nodes(&self) -> usize {
        self.node.len()
    }
    fn options(&self, node: usize) -> usize {
        self.node[node].len()
    }
    fn node_cost(&self, node: usize, option: usize) -> f64 {
        self.node[node][option]
    }
    fn edges(&self) -> &[(usize, usize)] {
        &self.edges
    }
    fn edge_cost(&self, edge: usize, from: usize, to: usize) -> f64 {
        self.edge
            .get(edge)
            .and_then(|e| e.get(from))
            .and_then(|e| e.get(to))
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// Total cost of `choice` for a DAG.
pub fn dag_total(d: &impl DagCosts, choice: &[usize]) -> f64 {
    let nodes: f64 = choice
        .iter()
        .enumerate()
        .map(|(n, &o)| d.node_cost(n, o))
        .sum();
    let edges: f64 = d
        .edges()
        .iter()
        .enumerate()
        .map(|(e, &(a, b))| d.edge_cost(e, choice[a], choice[b]))
        .sum();
    nodes + edges
}

/// Topological order (Kahn's algorithm, lowest index first among ready nodes).
fn topo_order(n: usize, edges: &[(usize, usize)]) -> Result<Vec<usize>> {
    let mut indeg = vec![0usize; n];
    for &(a, b) in edges {
        if a >= n || b >= n {
            return Err(SolverError::BadChain {
                message: format!(
                    "edge ({a}, {b}) names a node beyond {}",
                    n.saturating_sub(1)
                ),
            });
        }
        indeg[b] += 1;
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(v) = ready.pop_first() {
        order.push(v);
        for &(a, b) in edges {
            if a == v {
                indeg[b] -= 1;
                if indeg[b] == 0 {
                    ready.insert(b);
                }
            }
        }
    }
    if order.len() < n {
        return Err(SolverError::BadChain {
            message: "the graph has a cycle".into(),
        });
    }
    Ok(order)
}

/// A DAG seen as a chain when it is a simple path.
struct PathView<'d, D> {
    dag: &'d D,
    order: Vec<usize>,
    edge_of: Vec<usize>,
}

impl<D: DagCosts> ChainCosts for PathView<'_, D> {
    fn stages(&self) -> usize {
        self.order.len()
    }
    fn options(&self, stage: usize) -> usize {
        self.dag.options(self.order[stage])
    }
    fn stage_cost(&self, stage: usize, option: usize) -> f64 {
        self.dag.node_cost(self.order[stage], option)
    }
    fn edge_cost(&self, stage: usize, from: usize, to: usize) -> f64 {
        self.dag.edge_cost(self.edge_of[stage], from, to)
    }
}

/// Places a DAG: exactly (DP) when it is a simple path, else greedily in topological order
/// followed by coordinate descent. `fused` in the plan is left empty for DAGs (ask the costs).
///
/// # Errors
/// [`SolverError::Empty`] for no nodes, [`SolverError::BadChain`] for a node without options,
/// an edge to a missing node, or a cycle; [`SolverError::InvalidInput`] for a NaN cost.
pub fn solve_dag(d: &impl DagCosts) -> Result<ChainPlan> {
    let n = d.nodes();
    if n == 0 {
        return Err(SolverError::Empty { what: "dag nodes" });
    }
    for v in 0..n {
        if d.options(v) == 0 {
            return Err(SolverError::BadChain {
                message: format!("node {v} has no options"),
            });
        }
    }
    let edges = d.edges();
    let order = topo_order(n, edges)?;
    // A simple path: every consecutive pair in topological order joined by the only edges.
    if edges.len() == n - 1 {
        let edge_of: Vec<usize> = order
            .windows(2)
            .filter_map(|w| edges.iter().position(|&(a, b)| a == w[0] && b == w[1]))
            .collect();
        if edge_of.len() == n - 1 {
            let view = PathView {
                dag: d,
                order,
                edge_of,
            };
            let plan = solve_linear(&view)?;
            let mut choice = vec![0; n];
            for (s, &v) in view.order.iter().enumerate() {
                choice[v] = plan.choice[s];
            }
            return Ok(ChainPlan {
                total: dag_total(d, &choice),
                choice,
                fused: Vec::new(),
                exact: true,
            });
        }
    }
    let mut choice = vec![0usize; n];
    let mut placed = vec![false; n];
    for &v in &order {
        let mut best = (f64::INFINITY, 0);
        for o in 0..d.options(v) {
            let mut c = finite("node_cost", d.node_cost(v, o))?;
            for (e, &(a, b)) in edges.iter().enumerate() {
                if b == v && placed[a] {
                    c += finite("edge_cost", d.edge_cost(e, choice[a], o))?;
                }
            }
            if c < best.0 {
                best = (c, o);
            }
        }
        choice[v] = best.1;
        placed[v] = true;
    }
    for _ in 0..64 {
        let mut improved = false;
        for &v in &order {
            let local = |o: usize| -> f64 {
                let mut c = d.node_cost(v, o);
                for (e, &(a, b)) in edges.iter().enumerate() {
                    if b == v {
                        c += d.edge_cost(e, choice[a], o);
                    } else if a == v {
                        c += d.edge_cost(e, o, choice[b]);
                    }
                }
                c
            };
            let now = local(choice[v]);
            let mut best = (now, choice[v]);
            for o in 0..d.options(v) {
                let c = local(o);
                if c < best.0 - 1e-12 * best.0.abs().max(1.0) {
                    best = (c, o);
                }
            }
            if best.1 != choice[v] {
                choice[v] = best.1;
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    Ok(ChainPlan {
        total: dag_total(d, &choice),
        choice,
        fused: Vec::new(),
        exact: false,
    })
}
