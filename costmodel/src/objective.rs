//! Objectives: what "cheapest" means. Lower scores are preferred.
//!
//! Storage congestion enters as a price on storage CPU that rises with utilisation,
//! `price(rho) = base / (1 - rho)` ([`CongestionPrice`]): as a storage server saturates, its
//! CPU becomes dearer than compute-node CPU, so the invocations that save the least storage CPU
//! per unit of work moved are the first to go remote (the pushback of Splinter and Kayak,
//! without a fixed threshold).

use crate::cost::PlacementCost;
use crate::error::Result;
use crate::units::{Nanos, NanosPerByte};
use crate::validate::{Check, limits::MAX_OTHER};

/// Why a candidate cannot be used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Infeasible {
    /// Expected latency exceeds the function's SLO.
    SloViolated {
        /// Expected latency.
        latency: Nanos,
        /// The objective.
        slo: Nanos,
    },
}

impl std::fmt::Display for Infeasible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Infeasible::SloViolated { latency, slo } => {
                write!(f, "latency {latency} exceeds the slo of {slo}")
            }
        }
    }
}

/// What the objective may look at besides the cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ObjectiveContext {
    /// Storage utilisation `rho` in `[0, 1)`.
    pub storage_utilisation: f64,
    /// The function's latency objective.
    pub slo: Option<Nanos>,
}

/// A way to score placement costs. Lower is preferred (as tower's `Load`).
pub trait Objective: Send + Sync {
    /// A short name.
    fn name(&self) -> &str;

    /// The score of `cost`; lower is better. Must be finite for finite costs.
    fn score(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> f64;

    /// Whether `cost` is acceptable at all. By default: latency within the SLO, if any.
    fn feasible(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> Result<(), Infeasible> {
        match ctx.slo {
            Some(slo) if cost.latency.get() > slo.get() => Err(Infeasible::SloViolated {
                latency: cost.latency,
                slo,
            }),
            _ => Ok(()),
        }
    }
}

impl<T: Objective + ?Sized> Objective for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn score(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> f64 {
        (**self).score(cost, ctx)
    }
    fn feasible(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> Result<(), Infeasible> {
        (**self).feasible(cost, ctx)
    }
}

impl<T: Objective + ?Sized> Objective for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn score(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> f64 {
        (**self).score(cost, ctx)
    }
    fn feasible(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> Result<(), Infeasible> {
        (**self).feasible(cost, ctx)
    }
}

/// The price of one nanosecond of storage CPU relative to compute CPU, rising with utilisation:
/// `base / (1 - rho)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CongestionPrice {
    /// Price at zero utilisation (relative to compute CPU at 1.0).
    pub base: f64,
}

impl Default for CongestionPrice {
    fn default() -> Self {
        CongestionPrice { base: 1.0 }
    }
}

impl CongestionPrice {
    /// A congestion price with `base` at zero utilisation.
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming `storage.base` unless it is finite, `>= 0` and at
    /// most 1e18.
    pub fn new(base: f64) -> Result<Self> {
        let p = CongestionPrice { base };
        p.check(&mut Check::new("objective"))?;
        Ok(p)
    }

    /// Validates the price (the fields are public, so a literal may hold anything).
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming the field and value.
    pub fn check(&self, c: &mut Check<'_>) -> Result<()> {
        c.with("storage", |c| c.bounded("base", self.base, MAX_OTHER, ""))
    }

    /// The price at utilisation `rho` (clamped below 1 so the price stays finite).
    #[inline]
    pub fn at(&self, rho: f64) -> f64 {
        let rho = if rho.is_finite() {
            rho.clamp(0.0, 0.999)
        } else {
            0.0
        };
        self.base / (1.0 - rho)
    }
}

/// Maximise storage throughput: minimise storage CPU per invocation (compute CPU breaks ties).
#[derive(Clone, Copy, Debug, Default)]
pub struct MaxStorageThroughput;

impl Objective for MaxStorageThroughput {
    fn name(&self) -> &str {
        "max-storage-throughput"
    }
    #[inline]
    fn score(&self, cost: &PlacementCost, _: &ObjectiveContext) -> f64 {
        cost.storage_cpu.get() + 1e-6 * cost.compute_cpu.get()
    }
}

/// Minimise total CPU (storage plus compute) per invocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct MinTotalCpu;

impl Objective for MinTotalCpu {
    fn name(&self) -> &str {
        "min-total-cpu"
    }
    #[inline]
    fn score(&self, cost: &PlacementCost, _: &ObjectiveContext) -> f64 {
        cost.total_cpu().get()
    }
}

/// Minimise latency; candidates over the SLO are infeasible.
#[derive(Clone, Copy, Debug, Default)]
pub struct MinLatency;

impl Objective for MinLatency {
    fn name(&self) -> &str {
        "min-latency"
    }
    #[inline]
    fn score(&self, cost: &PlacementCost, _: &ObjectiveContext) -> f64 {
        cost.latency.get()
    }
}

/// A weighted price: congestion-priced storage CPU, compute CPU, network bytes and latency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightedPrice {
    /// Price of storage CPU per ns, as a function of utilisation.
    pub storage: CongestionPrice,
    /// Price of one ns of compute CPU (dimensionless: the score is in ns of compute CPU).
    pub compute: f64,
    /// Price per network byte, in ns of compute CPU per byte.
    pub network_byte: NanosPerByte,
    /// Price of one ns of latency (dimensionless, as `compute`).
    pub latency: f64,
}

impl WeightedPrice {
    /// A weighted price; every price must be finite, `>= 0` and at most 1e18.
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming the price (`compute`, `network_byte`, `latency`,
    /// `storage.base`) and its value.
    pub fn new(
        storage: CongestionPrice,
        compute: f64,
        network_byte: NanosPerByte,
        latency: f64,
    ) -> Result<Self> {
        let p = WeightedPrice {
            storage,
            compute,
            network_byte,
            latency,
        };
        p.check(&mut Check::new("objective"))?;
        Ok(p)
    }

    /// Validates every price (the fields are public, so a literal may hold anything).
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming the field and value.
    pub fn check(&self, c: &mut Check<'_>) -> Result<()> {
        self.storage.check(c)?;
        c.bounded("compute", self.compute, MAX_OTHER, "")?;
        c.bounded("network_byte", self.network_byte.get(), MAX_OTHER, "")?;
        c.bounded("latency", self.latency, MAX_OTHER, "")
    }
}

impl Default for WeightedPrice {
    /// Storage and compute CPU priced alike at zero load; bytes and latency free.
    fn default() -> Self {
        WeightedPrice {
            storage: CongestionPrice::default(),
            compute: 1.0,
            network_byte: NanosPerByte::ZERO,
            latency: 0.0,
        }
    }
}

impl Objective for WeightedPrice {
    fn name(&self) -> &str {
        "weighted-price"
    }
    #[inline]
    fn score(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> f64 {
        self.storage.at(ctx.storage_utilisation) * cost.storage_cpu.get()
            + self.compute * cost.compute_cpu.get()
            + (self.network_byte * cost.network_bytes).get()
            + self.latency * cost.latency.get()
    }
}
