//! Congestion pricing with pushback: as the storage server saturates, invocations move to
//! compute nodes, the least deserving first, and never back while utilisation keeps rising.
//!
//! # The price
//!
//! [`Pushback`] scores a placement's cost as
//!
//! ```text
//! score = p0 * storage_cpu + compute * compute_cpu + byte * network_bytes
//!       + latency * (latency - queueing)
//!       + [runs on storage] * p0 * rho / (1 - rho) * storage_cpu
//! ```
//!
//! The first line prices resources at an idle server. The second is the congestion surcharge:
//! `p0 / (1 - rho) - p0`, the M/M/1 growth of the price of storage CPU (DESIGN.md §5), charged
//! only on work that *runs inside* the storage server (its tenant code, its dispatch, its
//! reserved core), in proportion to the storage CPU that work holds.
//!
//! # Why only storage-side placements pay the surcharge
//!
//! A plain weighted price (`price(rho) * storage_cpu + compute_cpu`, as
//! [`costmodel::WeightedPrice`]) also raises the price of the storage CPU a *remote* placement
//! spends serving its GETs. When a remote placement uses more storage CPU than the inside one
//! (many small records, `k` above the crossover `k*`), a rising `rho` makes the inside placement
//! relatively cheaper and can pull an invocation from compute *back into* the saturating
//! server: the opposite of pushback. Splinter's and ASFP's pushback sheds the *discretionary*
//! work, tenant code the server may decline to run; the GETs that a pushed-back invocation sends
//! are the server's product and are served either way. So the surcharge falls on storage-side
//! placements only. Then, for any storage-side `s` and compute-side `c`,
//! `score_s(rho) - score_c(rho) = d + p0 * rho / (1 - rho) * storage_cpu_s` with `d` fixed, a
//! non-decreasing function of `rho`: once a compute placement wins it keeps winning as `rho`
//! rises. That is the property, by construction, for every input.
//!
//! Queueing latency is excluded from the latency price for the same reason: it grows with `rho`
//! on both sides (more for remote placements with many dependent rounds), and the surcharge
//! already is the price of congestion; counting both would double-count it and could break the
//! monotonicity. SLOs are different: they are hard constraints checked on the full latency, so a
//! compute placement whose queueing pushes it over its SLO becomes infeasible, and that (not the
//! price) can send work back inside. The property tests state this exception.
//!
//! # Who is shed first
//!
//! An invocation with best storage-side score `b_s` and best compute-side score `b_c > b_s`
//! moves when `rho / (1 - rho) > (b_c - b_s) / (p0 * storage_cpu_s)`: the ratio of what running
//! inside saves to the storage CPU it holds. The invocations that save the least per unit of
//! storage CPU go first, without a fixed threshold; [`shed_utilisation`] computes the `rho` at
//! which an invocation goes.

use costmodel::{Axis, NanosPerByte, Objective, ObjectiveContext, PlacementCost, Term};

/// The pushback price: idle-server prices plus a congestion surcharge on storage-side work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pushback {
    /// Price of one ns of storage CPU at an idle server (`p0`), relative to compute CPU.
    pub storage: f64,
    /// Price of one ns of compute-node CPU (dimensionless: the score is in ns of compute CPU).
    pub compute: f64,
    /// Price per network byte, in ns of compute CPU per byte.
    pub network_byte: NanosPerByte,
    /// Price of one ns of latency (queueing excluded; dimensionless, as `compute`).
    pub latency: f64,
}

impl Default for Pushback {
    /// Storage and compute CPU priced alike at idle; bytes and latency free.
    fn default() -> Self {
        Pushback {
            storage: 1.0,
            compute: 1.0,
            network_byte: NanosPerByte::ZERO,
            latency: 0.0,
        }
    }
}

/// Utilisation clamp: the surcharge stays finite.
const RHO_MAX: f64 = 0.999;

impl Pushback {
    /// The surcharge factor `rho / (1 - rho)` at utilisation `rho` (clamped to `[0, 0.999]`,
    /// NaN read as 0).
    #[inline]
    pub fn congestion(rho: f64) -> f64 {
        let rho = if rho.is_nan() {
            0.0
        } else {
            rho.clamp(0.0, RHO_MAX)
        };
        rho / (1.0 - rho)
    }

    /// The score at an idle server (no surcharge).
    #[inline]
    pub fn idle_score(&self, cost: &PlacementCost) -> f64 {
        let score = self.storage * cost.storage_cpu.get()
            + self.compute * cost.compute_cpu.get()
            + (self.network_byte * cost.network_bytes).get();
        // Free latency adds exactly +0.0 to the (finite) score: skipped, as the default prices
        // it. The branch is the same for every candidate of a ranking.
        if self.latency == 0.0 {
            return score;
        }
        score + self.latency * (cost.latency.get() - cost.terms.get(Term::Queueing).get()).max(0.0)
    }
}

/// True when the cost is for a placement that runs inside the storage server. The breakdown
/// records it: the function's own compute is charged to storage CPU exactly then.
#[inline]
pub fn runs_on_storage(cost: &PlacementCost) -> bool {
    cost.terms.axis_of(Term::Compute) == Axis::StorageCpu
}

impl Objective for Pushback {
    fn name(&self) -> &str {
        "pushback"
    }

    // Inlined into each caller's instantiation of `rank` (another crate): without it the
    // pushback price cost about 18% more per ranking than `MinTotalCpu` (callgrind, 64
    // candidates), with it within a few per cent.
    #[inline]
    fn score(&self, cost: &PlacementCost, ctx: &ObjectiveContext) -> f64 {
        let base = self.idle_score(cost);
        if runs_on_storage(cost) {
            base + self.storage
                * Pushback::congestion(ctx.storage_utilisation)
                * cost.storage_cpu.get()
        } else {
            base
        }
    }
}

/// The utilisation at which [`Pushback`] prefers `remote` (a compute-side cost) to `inside` (a
/// storage-side cost): `Some(0.0)` when it already does at idle, `None` when it never does
/// (inside holds no storage CPU, or the surcharge cannot close the gap below `rho = 0.999`).
pub fn shed_utilisation(
    price: &Pushback,
    inside: &PlacementCost,
    remote: &PlacementCost,
) -> Option<f64> {
    let gap = price.idle_score(remote) - price.idle_score(inside);
    if gap <= 0.0 {
        return Some(0.0);
    }
    let held = price.storage * inside.storage_cpu.get();
    if !(held > 0.0) {
        return None;
    }
    // rho / (1 - rho) = x  <=>  rho = x / (1 + x)
    let x = gap / held;
    let rho = x / (1.0 + x);
    (rho <= RHO_MAX).then_some(rho)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn congestion_factor_is_mm1_and_clamped() {
        assert!((Pushback::congestion(0.5) - 1.0).abs() < 1e-12);
        assert!(Pushback::congestion(0.0).abs() < 1e-12);
        assert!(Pushback::congestion(2.0).is_finite());
        assert!(Pushback::congestion(f64::NAN).abs() < 1e-12);
        assert!(Pushback::congestion(-1.0).abs() < 1e-12);
    }
}
