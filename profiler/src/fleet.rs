//! `FleetView`: per-core statistics of many machines in one compact, pre-indexed structure.
//!
//! The view is a struct of arrays: one dense array per statistic (busy fraction `f32`, queue
//! length `u16`, warm contexts `u16`, regime `u8`), indexed by a global core number, with
//! machine `m`'s cores at `first_core[m]..first_core[m + 1]`. A 1,000-machine, 64-core fleet is
//! 64,000 cores of 9 bytes: 576 KB, which fits in a server core's L2 cache, and applying one
//! machine's snapshot is a bounds check, a validation pass and four contiguous stores per core,
//! with no hashing and no allocation. Queries scan only the cores they need: the machines that
//! hold a tenant's data, or a function's warm-context list.
//!
//! Warm contexts per function change far less often than load, so they live in a separate
//! per-function list updated by [`FleetView::set_warm_contexts`], not in the per-core hot path.

use std::collections::HashMap;

use costmodel::{FunctionId, NodeId, Regime, Side};

use crate::error::{ProfilerError, Result};

/// Identifies a tenant whose data lives on some storage machines. Dense, so it indexes arrays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(pub u32);

/// The shape of one machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineSpec {
    /// Storage server or compute node.
    pub side: Side,
    /// Number of cores.
    pub cores: u16,
}

/// One core's statistics, as a machine reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CoreStat {
    /// Fraction of the last interval the core was busy, in `[0, 1]`.
    pub busy: f32,
    /// Invocations waiting for the core.
    pub queue_len: u16,
    /// Warm function contexts resident on the core.
    pub warm_contexts: u16,
    /// The regime the core serves, `None` when it serves no functions.
    pub regime: Option<Regime>,
}

/// A core found by a query, with the load it was ranked by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreRef {
    /// The machine.
    pub node: NodeId,
    /// The core on that machine.
    pub core: u16,
    /// Queue length plus busy fraction: lower is preferred.
    pub load: f64,
}

const NO_REGIME: u8 = 0;

#[inline]
fn encode(r: Option<Regime>) -> u8 {
    match r {
        None => NO_REGIME,
        Some(Regime::Multiplexed) => 1,
        Some(Regime::DedicatedCore) => 2,
        Some(Regime::Remote) => 3,
    }
}

fn decode(b: u8) -> Option<Regime> {
    match b {
        1 => Some(Regime::Multiplexed),
        2 => Some(Regime::DedicatedCore),
        3 => Some(Regime::Remote),
        _ => None,
    }
}

/// Per-core statistics of a fleet, struct-of-arrays.
#[derive(Clone, Debug, Default)]
pub struct FleetView {
    first_core: Vec<u32>,
    side: Vec<Side>,
    updated_ns: Vec<u64>,
    busy: Vec<f32>,
    queue_len: Vec<u16>,
    warm: Vec<u16>,
    regime: Vec<u8>,
    tenants: Vec<Vec<NodeId>>,
    warm_by_function: HashMap<FunctionId, Vec<(NodeId, u32)>>,
}

impl FleetView {
    /// A view of `machines`, machine `i` being `NodeId(i)`; every core starts idle.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidConfig`] when the fleet has more than `u32::MAX` cores or
    /// machines.
    pub fn new(machines: &[MachineSpec]) -> Result<Self> {
        let too_big = |what| ProfilerError::InvalidConfig {
            field: what,
            value: crate::stats::count_f64(u64::try_from(machines.len()).unwrap_or(u64::MAX)),
            message: "must fit in u32",
        };
        u32::try_from(machines.len()).map_err(|_| too_big("machines"))?;
        let mut first_core = Vec::with_capacity(machines.len() + 1);
        let mut total: u32 = 0;
        for m in machines {
            first_core.push(total);
            total = total
                .checked_add(u32::from(m.cores))
                .ok_or_else(|| too_big("cores"))?;
        }
        first_core.push(total);
        let n = usize::try_from(total).map_err(|_| too_big("cores"))?;
        Ok(FleetView {
            first_core,
            side: machines.iter().map(|m| m.side).collect(),
            updated_ns: vec![0; machines.len()],
            busy: vec![0.0; n],
            queue_len: vec![0; n],
            warm: vec![0; n],
            regime: vec![NO_REGIME; n],
            tenants: Vec::new(),
            warm_by_function: HashMap::new(),
        })
    }

    /// `machines` machines of `cores` cores each, all on `side`.
    ///
    /// # Errors
    /// As [`FleetView::new`].
    pub fn uniform(machines: usize, cores: u16, side: Side) -> Result<Self> {
        FleetView::new(&vec![MachineSpec { side, cores }; machines])
    }

    /// Number of machines.
    pub fn machines(&self) -> usize {
        self.side.len()
    }

    /// Number of cores across the fleet.
    pub fn cores(&self) -> usize {
        self.busy.len()
    }

    fn core_range(&self, node: NodeId) -> Result<std::ops::Range<usize>> {
        let m = usize::try_from(node.0).unwrap_or(usize::MAX);
        if m >= self.machines() {
            return Err(ProfilerError::UnknownMachine {
                machine: node.0,
                machines: self.machines(),
            });
        }
        // first_core holds u32 values and usize is at least 32 bits on supported targets.
        let lo = usize::try_from(self.first_core[m]).unwrap_or(usize::MAX);
        let hi = usize::try_from(self.first_core[m + 1]).unwrap_or(usize::MAX);
        Ok(lo..hi)
    }

    /// Applies one machine's snapshot, taken at `now_ns`: one [`CoreStat`] per core, in core
    /// order. All or nothing: on error the view is unchanged.
    ///
    /// # Errors
    /// [`ProfilerError::UnknownMachine`], [`ProfilerError::SnapshotLength`] when the snapshot
    /// has another number of cores, [`ProfilerError::InvalidCoreStat`] for a busy fraction
    /// outside `[0, 1]` (or NaN).
    #[inline]
    pub fn update_machine(
        &mut self,
        node: NodeId,
        now_ns: u64,
        snapshot: &[CoreStat],
    ) -> Result<()> {
        let range = self.core_range(node)?;
        if snapshot.len() != range.len() {
            return Err(ProfilerError::SnapshotLength {
                machine: node.0,
                expected: range.len(),
                found: snapshot.len(),
            });
        }
        // Validate first (a branch-free pass the compiler can vectorise), so a bad snapshot
        // leaves the view unchanged.
        let ok = snapshot
            .iter()
            .fold(true, |ok, s| ok & (s.busy >= 0.0) & (s.busy <= 1.0));
        if !ok {
            let core = snapshot
                .iter()
                .position(|s| !(s.busy >= 0.0 && s.busy <= 1.0))
                .unwrap_or(0);
            return Err(ProfilerError::InvalidCoreStat {
                machine: node.0,
                core,
                field: "busy",
                value: f64::from(snapshot[core].busy),
            });
        }
        let busy = &mut self.busy[range.clone()];
        let queue = &mut self.queue_len[range.clone()];
        let warm = &mut self.warm[range.clone()];
        let regime = &mut self.regime[range];
        for ((((s, b), q), w), r) in snapshot.iter().zip(busy).zip(queue).zip(warm).zip(regime) {
            *b = s.busy;
            *q = s.queue_len;
            *w = s.warm_contexts;
            *r = encode(s.regime);
        }
        if let Some(t) = self
            .updated_ns
            .get_mut(usize::try_from(node.0).unwrap_or(usize::MAX))
        {
            *t = now_ns;
        }
        Ok(())
    }

    /// One core's statistics.
    pub fn core(&self, node: NodeId, core: u16) -> Option<CoreStat> {
        let range = self.core_range(node).ok()?;
        let i = range.start + usize::from(core);
        range.contains(&i).then(|| CoreStat {
            busy: self.busy[i],
            queue_len: self.queue_len[i],
            warm_contexts: self.warm[i],
            regime: decode(self.regime[i]),
        })
    }

    /// When machine `node` last reported.
    pub fn updated_ns(&self, node: NodeId) -> Option<u64> {
        self.updated_ns.get(usize::try_from(node.0).ok()?).copied()
    }

    /// Mean busy fraction of machine `node`'s cores.
    pub fn machine_busy(&self, node: NodeId) -> Option<f64> {
        let range = self.core_range(node).ok()?;
        let n = range.len();
        if n == 0 {
            return Some(0.0);
        }
        let sum: f64 = self.busy[range].iter().map(|&b| f64::from(b)).sum();
        Some(sum / crate::stats::count_f64(u64::try_from(n).unwrap_or(u64::MAX)))
    }

    /// Records which storage machines hold tenant `tenant`'s data.
    ///
    /// # Errors
    /// [`ProfilerError::UnknownMachine`] when a node is not in the fleet.
    pub fn set_tenant_machines(&mut self, tenant: TenantId, nodes: &[NodeId]) -> Result<()> {
        for &n in nodes {
            self.core_range(n)?;
        }
        let t = usize::try_from(tenant.0).unwrap_or(usize::MAX);
        if t >= self.tenants.len() {
            self.tenants.resize(t + 1, Vec::new());
        }
        let mut v = nodes.to_vec();
        v.sort_unstable();
        v.dedup();
        self.tenants[t] = v;
        Ok(())
    }

    /// The least-loaded storage core that holds tenant `tenant`'s data and can take a
    /// multiplexed invocation (cores dedicated to one function or serving remote work are
    /// skipped): lowest queue length plus busy fraction, ties broken by machine then core.
    /// `None` when no such core exists.
    ///
    /// # Errors
    /// [`ProfilerError::UnknownTenant`] when the tenant has no registered machines.
    pub fn least_loaded_storage_core(&self, tenant: TenantId) -> Result<Option<CoreRef>> {
        let nodes = usize::try_from(tenant.0)
            .ok()
            .and_then(|t| self.tenants.get(t))
            .filter(|v| !v.is_empty())
            .ok_or(ProfilerError::UnknownTenant { tenant: tenant.0 })?;
        let mut best: Option<CoreRef> = None;
        for &node in nodes {
            let Ok(range) = self.core_range(node) else {
                continue;
            };
            let m = usize::try_from(node.0).unwrap_or(usize::MAX);
            if self.side[m] != Side::Storage {
                continue;
            }
            let lo = range.start;
            for i in range {
                let r = self.regime[i];
                if r == 2 || r == 3 {
                    continue;
                }
                let load = f64::from(self.queue_len[i]) + f64::from(self.busy[i]);
                // Machines are visited in id order and cores in index order, so strict `<`
                // keeps the lowest (machine, core) among equal loads.
                if best.is_none_or(|b| load < b.load) {
                    best = Some(CoreRef {
                        node,
                        core: u16::try_from(i - lo).unwrap_or(u16::MAX),
                        load,
                    });
                }
            }
        }
        Ok(best)
    }

    /// Sets how many warm contexts of `function` machine `node` holds (0 removes it).
    ///
    /// # Errors
    /// [`ProfilerError::UnknownMachine`] when the node is not in the fleet.
    pub fn set_warm_contexts(
        &mut self,
        node: NodeId,
        function: FunctionId,
        count: u32,
    ) -> Result<()> {
        self.core_range(node)?;
        let list = self.warm_by_function.entry(function).or_default();
        match list.binary_search_by_key(&node, |e| e.0) {
            Ok(i) if count == 0 => {
                list.remove(i);
            }
            Ok(i) => list[i].1 = count,
            Err(_) if count == 0 => {}
            Err(i) => list.insert(i, (node, count)),
        }
        if list.is_empty() {
            self.warm_by_function.remove(&function);
        }
        Ok(())
    }

    /// The machines holding warm contexts of `function`, with how many, in machine order.
    pub fn warm_contexts(&self, function: FunctionId) -> &[(NodeId, u32)] {
        self.warm_by_function
            .get(&function)
            .map_or(&[], Vec::as_slice)
    }

    /// Total warm contexts of `function` across the fleet.
    pub fn total_warm_contexts(&self, function: FunctionId) -> u64 {
        self.warm_contexts(function)
            .iter()
            .map(|&(_, c)| u64::from(c))
            .sum()
    }

    /// Bytes of the per-machine and per-core arrays (the per-tenant and per-function lists
    /// are extra and grow with tenants and warm functions, not with updates).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.first_core.capacity() * size_of::<u32>()
            + self.side.capacity() * size_of::<Side>()
            + self.updated_ns.capacity() * size_of::<u64>()
            + self.busy.capacity() * size_of::<f32>()
            + self.queue_len.capacity() * size_of::<u16>()
            + self.warm.capacity() * size_of::<u16>()
            + self.regime.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(busy: f32, queue: u16, regime: Option<Regime>) -> CoreStat {
        CoreStat {
            busy,
            queue_len: queue,
            warm_contexts: 1,
            regime,
        }
    }

    #[test]
    fn snapshot_lands_on_its_machine_only() {
        let mut f = FleetView::uniform(3, 4, Side::Storage).unwrap();
        let snap = [stat(0.5, 2, Some(Regime::Multiplexed)); 4];
        f.update_machine(NodeId(1), 77, &snap).unwrap();
        assert_eq!(f.core(NodeId(1), 3), Some(snap[3]));
        assert_eq!(f.core(NodeId(0), 3).unwrap().queue_len, 0);
        assert_eq!(f.core(NodeId(2), 0).unwrap().queue_len, 0);
        assert_eq!(f.updated_ns(NodeId(1)), Some(77));
        assert_eq!(f.core(NodeId(1), 4), None);
    }

    #[test]
    fn bad_snapshot_is_rejected_and_leaves_the_view_unchanged() {
        let mut f = FleetView::uniform(2, 2, Side::Storage).unwrap();
        let err = f
            .update_machine(NodeId(0), 1, &[stat(0.2, 1, None), stat(f32::NAN, 1, None)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("machine 0 core 1: busy"), "{err}");
        assert_eq!(f.core(NodeId(0), 0).unwrap().queue_len, 0);
        let err = f
            .update_machine(NodeId(0), 1, &[stat(0.2, 1, None)])
            .unwrap_err();
        assert!(matches!(
            err,
            ProfilerError::SnapshotLength {
                expected: 2,
                found: 1,
                ..
            }
        ));
        let err = f.update_machine(NodeId(9), 1, &[]).unwrap_err();
        assert!(matches!(
            err,
            ProfilerError::UnknownMachine { machine: 9, .. }
        ));
    }

    #[test]
    fn least_loaded_core_skips_dedicated_cores_compute_nodes_and_other_tenants() {
        let machines = [
            MachineSpec {
                side: Side::Storage,
                cores: 3,
            },
            MachineSpec {
                side: Side::Compute,
                cores: 2,
            },
            MachineSpec {
                side: Side::Storage,
                cores: 2,
            },
            MachineSpec {
                side: Side::Storage,
                cores: 1,
            },
        ];
        let mut f = FleetView::new(&machines).unwrap();
        let m = Some(Regime::Multiplexed);
        f.update_machine(
            NodeId(0),
            0,
            &[
                stat(0.9, 3, m),
                stat(0.0, 0, Some(Regime::DedicatedCore)),
                stat(0.4, 1, m),
            ],
        )
        .unwrap();
        f.update_machine(NodeId(1), 0, &[stat(0.0, 0, m), stat(0.0, 0, m)])
            .unwrap();
        f.update_machine(NodeId(2), 0, &[stat(0.7, 1, m), stat(0.3, 1, m)])
            .unwrap();
        f.update_machine(NodeId(3), 0, &[stat(0.0, 0, m)]).unwrap();
        f.set_tenant_machines(TenantId(5), &[NodeId(2), NodeId(0), NodeId(1)])
            .unwrap();
        let best = f.least_loaded_storage_core(TenantId(5)).unwrap().unwrap();
        assert_eq!((best.node, best.core), (NodeId(2), 1));
        assert!((best.load - 1.3).abs() < 1e-6);
        assert!(matches!(
            f.least_loaded_storage_core(TenantId(4)),
            Err(ProfilerError::UnknownTenant { tenant: 4 })
        ));
    }

    #[test]
    fn equal_loads_break_ties_by_machine_then_core() {
        let mut f = FleetView::uniform(2, 2, Side::Storage).unwrap();
        f.set_tenant_machines(TenantId(0), &[NodeId(1), NodeId(0)])
            .unwrap();
        let best = f.least_loaded_storage_core(TenantId(0)).unwrap().unwrap();
        assert_eq!((best.node, best.core), (NodeId(0), 0));
    }

    #[test]
    fn warm_contexts_are_listed_per_function_across_the_fleet() {
        let mut f = FleetView::uniform(4, 1, Side::Storage).unwrap();
        let a = FunctionId::new("a").unwrap();
        f.set_warm_contexts(NodeId(3), a, 2).unwrap();
        f.set_warm_contexts(NodeId(1), a, 1).unwrap();
        f.set_warm_contexts(NodeId(3), a, 4).unwrap();
        assert_eq!(f.warm_contexts(a), &[(NodeId(1), 1), (NodeId(3), 4)]);
        assert_eq!(f.total_warm_contexts(a), 5);
        f.set_warm_contexts(NodeId(1), a, 0).unwrap();
        f.set_warm_contexts(NodeId(3), a, 0).unwrap();
        assert!(f.warm_contexts(a).is_empty());
        assert!(f.set_warm_contexts(NodeId(4), a, 1).is_err());
    }

    #[test]
    fn fleet_of_a_thousand_64_core_machines_fits_in_under_a_megabyte() {
        let f = FleetView::uniform(1000, 64, Side::Storage).unwrap();
        assert_eq!(f.cores(), 64_000);
        assert!(f.memory_bytes() < 1 << 20, "{}", f.memory_bytes());
    }
}
