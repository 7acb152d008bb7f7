//! Provisioning: assign functions to machines across CPU, memory and NIC queues
//! (multi-dimensional bin packing), with a lower bound and the optimality gap.
//!
//! # Heuristic: complementary filling
//!
//! Demands and capacities are integers (millicores, bytes, milli-queues), so "fits" is exact and
//! no machine can be overfilled by rounding. Each function is classed by its *dominant*
//! dimension (its largest demand relative to the largest machine's capacity): CPU-heavy,
//! memory-heavy or network-heavy. Each class is sorted largest first.
//!
//! Machines are filled one at a time, largest first. The next function for a machine comes from
//! the class whose dominant resource the machine has the most of left (as a fraction of its
//! capacity): a machine that just took a CPU-heavy tenant next takes a network- or memory-heavy
//! one. That is the complementary pairing of CPU-heavy with network-heavy tenants, generalised
//! to any mix. Within the class it takes the largest function that fits: a binary search finds
//! the first one whose dominant demand fits, a skip list (union-find over taken positions) jumps
//! over functions already placed, and up to 32 further candidates are tried for the other two
//! dimensions. When no class offers a fitting function the machine is closed. The cost is
//! `O(n log n)` for the sort plus `O(log n + 32)` per placement.
//!
//! # Lower bound
//!
//! In each dimension, no assignment can use fewer machines than the smallest number of the
//! largest machines whose capacities add up to the total demand. The bound is the largest of the
//! three; the gap is `machines_used / bound - 1`.

use crate::error::{Result, SolverError};

/// Number of resource dimensions.
pub const DIMENSIONS: usize = 3;

/// An amount of each resource, in integer units: CPU in millicores, memory in bytes, NIC queue
/// capacity in milli-queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU, millicores.
    pub cpu_millicores: u64,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// NIC queue capacity, thousandths of a queue.
    pub nic_milliqueues: u64,
}

impl Resources {
    /// A resource vector.
    pub const fn new(cpu_millicores: u64, memory_bytes: u64, nic_milliqueues: u64) -> Self {
        Resources {
            cpu_millicores,
            memory_bytes,
            nic_milliqueues,
        }
    }

    /// As an array `[cpu, memory, nic]`.
    pub const fn as_array(&self) -> [u64; DIMENSIONS] {
        [self.cpu_millicores, self.memory_bytes, self.nic_milliqueues]
    }

    fn from_array(a: [u64; DIMENSIONS]) -> Self {
        Resources::new(a[0], a[1], a[2])
    }

    /// True when `self` fits within `capacity` in every dimension.
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.cpu_millicores <= capacity.cpu_millicores
            && self.memory_bytes <= capacity.memory_bytes
            && self.nic_milliqueues <= capacity.nic_milliqueues
    }
}

/// The result of [`provision`].
#[derive(Clone, Debug, PartialEq)]
pub struct Provisioning {
    /// Machine index chosen for each function (`None`: it could not be placed).
    pub assignment: Vec<Option<u32>>,
    /// Resources used on each machine.
    pub used: Vec<Resources>,
    /// Machines with at least one function.
    pub machines_used: usize,
    /// A lower bound on the machines any assignment of the same functions needs.
    pub lower_bound: usize,
    /// `machines_used / lower_bound - 1` (0 when nothing needs a machine).
    pub gap: f64,
    /// Functions that fit on no machine left, in index order.
    pub unplaced: Vec<u32>,
}

/// How many untaken functions beyond the first dominant fit are tried per class.
const LOOKAHEAD: usize = 32;

/// Union-find "next untaken position" over one class's sorted list.
struct Skip {
    next: Vec<u32>,
}

impl Skip {
    fn new(n: usize) -> Self {
        Skip {
            next: (0..=u32::try_from(n).unwrap_or(u32::MAX)).collect(),
        }
    }

    /// The first untaken position at or after `i` (`len` when none).
    fn find(&mut self, i: usize) -> usize {
        let mut root = i;
        while self.next[root] as usize != root {
            root = self.next[root] as usize;
        }
        let mut cur = i;
        while self.next[cur] as usize != root {
            let n = self.next[cur] as usize;
            self.next[cur] = u32::try_from(root).unwrap_or(u32::MAX);
            cur = n;
        }
        root
    }

    fn take(&mut self, i: usize) {
        self.next[i] = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
}

/// Assigns `demands` (one per function) to `machines` (capacities).
///
/// # Errors
/// [`SolverError::Empty`] when there are no machines; [`SolverError::BadFleet`] for more than
/// `u32::MAX` machines or functions.
pub fn provision(machines: &[Resources], demands: &[Resources]) -> Result<Provisioning> {
    if machines.is_empty() {
        return Err(SolverError::Empty { what: "machines" });
    }
    if u32::try_from(machines.len()).is_err() || u32::try_from(demands.len()).is_err() {
        return Err(SolverError::BadFleet {
            message: "at most u32::MAX machines and functions".into(),
        });
    }
    // Reference scale per dimension: the largest machine's capacity (1 where all are zero).
    let mut scale = [1u64; DIMENSIONS];
    for m in machines {
        for (s, c) in scale.iter_mut().zip(m.as_array()) {
            *s = (*s).max(c);
        }
    }
    let norm = |r: &Resources| -> [f64; DIMENSIONS] {
        let a = r.as_array();
        std::array::from_fn(|d| a[d] as f64 / scale[d] as f64)
    };
    // Class = dominant dimension; sort each class by dominant size, largest first.
    let mut classes: [Vec<u32>; DIMENSIONS] = Default::default();
    for (i, r) in (0u32..).zip(demands) {
        let n = norm(r);
        let (d, _) = n.iter().enumerate().fold(
            (0, -1.0),
            |acc, (d, v)| if *v > acc.1 { (d, *v) } else { acc },
        );
        classes[d].push(i);
    }
    for (d, class) in classes.iter_mut().enumerate() {
        class.sort_unstable_by(|a, b| {
            let (da, db) = (
                demands[*a as usize].as_array()[d],
                demands[*b as usize].as_array()[d],
            );
            db.cmp(&da).then(a.cmp(b))
        });
    }
    let dom_size: [Vec<u64>; DIMENSIONS] = std::array::from_fn(|d| {
        classes[d]
            .iter()
            .map(|&i| demands[i as usize].as_array()[d])
            .collect()
    });
    let mut skips: [Skip; DIMENSIONS] = std::array::from_fn(|d| Skip::new(classes[d].len()));
    let mut left = [0usize; DIMENSIONS];
    for d in 0..DIMENSIONS {
        left[d] = classes[d].len();
    }
    // Machines largest first (by normalised total capacity), ties by index.
    let mut machine_order: Vec<u32> = (0..u32::try_from(machines.len()).unwrap_or(0)).collect();
    let weight = |m: &Resources| norm(m).iter().sum::<f64>();
    machine_order.sort_by(|a, b| {
        weight(&machines[*b as usize])
            .total_cmp(&weight(&machines[*a as usize]))
            .then(a.cmp(b))
    });
    let mut assignment: Vec<Option<u32>> = vec![None; demands.len()];
    let mut used = vec![Resources::default(); machines.len()];
    let mut machines_used = 0usize;
    for &m in &machine_order {
        if left.iter().all(|l| *l == 0) {
            break;
        }
        let cap = machines[m as usize].as_array();
        let mut load = [0u64; DIMENSIONS];
        let mut any = false;
        loop {
            // Classes by the fraction of their dominant resource this machine has left.
            let mut order = [0usize, 1, 2];
            let frac = |d: usize| {
                if cap[d] == 0 {
                    0.0
                } else {
                    (cap[d] - load[d]) as f64 / cap[d] as f64
                }
            };
            order.sort_by(|a, b| frac(*b).total_cmp(&frac(*a)).then(a.cmp(b)));
            let mut placed = None;
            for d in order {
                if left[d] == 0 {
                    continue;
                }
                let room_d = cap[d] - load[d];
                // First position whose dominant demand fits (sizes are descending).
                let mut pos = dom_size[d].partition_point(|s| *s > room_d);
                let mut tried = 0;
                loop {
                    pos = skips[d].find(pos);
                    if pos >= classes[d].len() || tried == LOOKAHEAD {
                        break;
                    }
                    let f = classes[d][pos] as usize;
                    let dem = demands[f].as_array();
                    if (0..DIMENSIONS).all(|k| dem[k] <= cap[k] - load[k]) {
                        placed = Some((d, pos, f));
                        break;
                    }
                    tried += 1;
                    pos += 1;
                }
                if placed.is_some() {
                    break;
                }
            }
            let Some((d, pos, f)) = placed else {
                break;
            };
            let dem = demands[f].as_array();
            for k in 0..DIMENSIONS {
                load[k] += dem[k];
            }
            skips[d].take(pos);
            left[d] -= 1;
            assignment[f] = Some(m);
            any = true;
        }
        if any {
            used[m as usize] = Resources::from_array(load);
            machines_used += 1;
        }
    }
    let unplaced: Vec<u32> = (0u32..)
        .zip(&assignment)
        .filter_map(|(i, a)| a.is_none().then_some(i))
        .collect();
    let lower_bound = lower_bound(machines, demands);
    let gap = if lower_bound == 0 {
        0.0
    } else {
        machines_used as f64 / lower_bound as f64 - 1.0
    };
    Ok(Provisioning {
        assignment,
        used,
        machines_used,
        lower_bound,
        gap,
        unplaced,
    })
}

/// The largest, over dimensions, of the fewest largest machines whose capacity covers the total
/// demand (0 when nothing is demanded; every machine when even all of them do not suffice).
pub fn lower_bound(machines: &[Resources], demands: &[Resources]) -> usize {
    let mut bound = 0usize;
    for d in 0..DIMENSIONS {
        let total: u128 = demands.iter().map(|r| u128::from(r.as_array()[d])).sum();
        if total == 0 {
            continue;
        }
        let mut caps: Vec<u64> = machines.iter().map(|m| m.as_array()[d]).collect();
        caps.sort_unstable_by(|a, b| b.cmp(a));
        let mut acc = 0u128;
        let mut need = caps.len();
        for (i, c) in caps.iter().enumerate() {
            acc += u128::from(*c);
            if acc >= total {
                need = i + 1;
                break;
            }
        }
        bound = bound.max(need);
    }
    if bound == 0 && demands.iter().any(|r| *r != Resources::default()) {
        bound = 1;
    }
    bound
}

/// A reproducible synthetic fleet for benchmarks and simulations: `machines` identical machines
/// (64 cores, 256 GiB, 64 NIC queues) and `functions` tenants, a third each CPU-, memory- and
/// network-heavy (heavy dimension 0.5-2.5 % of a machine, the others 0.05-0.5 %), about 70 %
/// of the fleet's capacity in every dimension for 100 functions per machine.
pub fn synthetic_fleet(
    seed: u64,
    machines: usize,
    functions: usize,
) -> (Vec<Resources>, Vec<Resources>) {
    let cap = Resources::new(64_000, 256 << 30, 64_000);
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut unit = move || {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let c = cap.as_array();
    let demands = (0..functions)
        .map(|i| {
            let heavy = i % DIMENSIONS;
            let a: [u64; DIMENSIONS] = std::array::from_fn(|d| {
                let frac = if d == heavy {
                    0.005 + 0.02 * unit()
                } else {
                    0.0005 + 0.0045 * unit()
                };
                // frac is in [0.0005, 0.025], so the product is a small non-negative integer.
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a small non-negative fraction of a u64 capacity"
                )]
                let v = (frac * c[d] as f64) as u64;
                v
            });
            Resources::from_array(a)
        })
        .collect();
    (vec![cap; machines], demands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complementary_tenants_share_a_machine() {
        // One CPU-heavy and one network-heavy tenant fit together on one machine.
        let m = [Resources::new(1000, 1000, 1000); 2];
        let d = [Resources::new(900, 10, 50), Resources::new(50, 10, 900)];
        let p = provision(&m, &d).unwrap();
        assert_eq!(p.machines_used, 1);
        assert_eq!(p.lower_bound, 1);
        assert!(p.gap.abs() < 1e-12);
    }

    #[test]
    fn oversized_functions_are_reported_unplaced() {
        let m = [Resources::new(100, 100, 100)];
        let d = [Resources::new(50, 50, 50), Resources::new(500, 1, 1)];
        let p = provision(&m, &d).unwrap();
        assert_eq!(p.unplaced, vec![1]);
        assert_eq!(p.assignment[0], Some(0));
    }

    #[test]
    fn no_machines_is_an_error_and_no_functions_is_empty() {
        assert!(provision(&[], &[Resources::new(1, 1, 1)]).is_err());
        let p = provision(&[Resources::new(1, 1, 1)], &[]).unwrap();
        assert_eq!(p.machines_used, 0);
        assert_eq!(p.lower_bound, 0);
    }

    #[test]
    fn lower_bound_counts_the_scarcest_dimension() {
        let m = [Resources::new(10, 100, 100); 5];
        let d = [Resources::new(7, 1, 1); 4]; // 28 cpu over capacities of 10
        assert_eq!(lower_bound(&m, &d), 3);
    }

    #[test]
    fn synthetic_fleet_packs_within_five_percent_of_its_bound() {
        let (m, d) = synthetic_fleet(7, 100, 10_000);
        let p = provision(&m, &d).unwrap();
        assert!(p.unplaced.is_empty());
        assert!(p.gap <= 0.05, "gap {}", p.gap);
    }
}
