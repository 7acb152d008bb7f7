//! Batching: the largest batch whose expected latency still meets the SLO.
//!
//! A batch of `B` invocations pays the per-request CPU, the dispatch and the domain switch once
//! (`a/B`, `dispatch/B`, `w/B` in the equations) but the first invocation waits for `B - 1`
//! others: `(B - 1) / (2 rate)` on average. CPU per invocation therefore falls with `B` while
//! latency is convex in `B` (a falling `1/B` part plus a rising linear part), so the batches
//! that meet an SLO form an interval and its upper end is found by a doubling search followed
//! by bisection: `O(log B)` evaluations.
//!
//! Without an SLO the largest allowed batch is chosen: it minimises CPU per invocation. With no
//! arrivals (`rate = 0`) there is nobody to batch with, and the answer is 1.

use std::num::NonZeroU32;

use costmodel::{Conditions, Nanos, PlacementCost, PricedPlacement};

use crate::error::Result;
use crate::rank::Job;

/// The chosen batch and what it buys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchChoice {
    /// Invocations per domain entry and request.
    pub batch: NonZeroU32,
    /// Cost per invocation at that batch.
    pub cost: PlacementCost,
    /// Storage CPU per invocation saved against no batching (`B = 1`).
    pub storage_cpu_saved: Nanos,
    /// Total CPU per invocation saved against no batching.
    pub total_cpu_saved: Nanos,
}

/// The largest batch in `1..=max_batch` for `placement` whose expected latency meets the job's
/// SLO (any batch up to `max_batch` when there is no SLO).
///
/// # Errors
/// [`SolverError::Cost`] when the model refuses the placement (a dedicated core it cannot have).
/// When not even `B = 1` meets the SLO, the answer
/// is `B = 1` with its (violating) cost: batching cannot help, and the caller's ranking reports
/// the violation.
pub fn largest_batch(
    placement: &PricedPlacement,
    job: &Job,
    cond: &Conditions,
    max_batch: NonZeroU32,
) -> Result<BatchChoice> {
    let inv = job.invocation();
    let at = |b: NonZeroU32| -> Result<PlacementCost> {
        Ok(placement.with_batch(b).evaluate(inv, cond)?)
    };
    let one = at(NonZeroU32::MIN)?;
    let meets = |c: &PlacementCost| job.slo().is_none_or(|slo| c.latency.get() <= slo.get());
    let choose = |b: NonZeroU32, cost: PlacementCost| BatchChoice {
        batch: b,
        cost,
        storage_cpu_saved: one.storage_cpu - cost.storage_cpu,
        total_cpu_saved: one.total_cpu() - cost.total_cpu(),
    };
    if !(inv.rate().get() > 0.0) || max_batch == NonZeroU32::MIN {
        return Ok(choose(NonZeroU32::MIN, one));
    }
    if job.slo().is_none() {
        return Ok(choose(max_batch, at(max_batch)?));
    }
    // Doubling search for the last feasible power of two (feasibility is an interval in B).
    let mut good = if meets(&one) {
        Some(NonZeroU32::MIN)
    } else {
        None
    };
    let mut b = NonZeroU32::MIN;
    let mut bad = None;
    let two = NonZeroU32::MIN.saturating_add(1);
    while b < max_batch {
        let next = b.saturating_mul(two).min(max_batch);
        if meets(&at(next)?) {
            good = Some(next);
        } else if good.is_some() {
            bad = Some(next);
            break;
        }
        b = next;
    }
    let Some(mut lo) = good else {
        return Ok(choose(NonZeroU32::MIN, one));
    };
    // Bisection between the last feasible and the first infeasible batch above it.
    if let Some(mut hi) = bad {
        while hi.get() - lo.get() > 1 {
            let mid = lo.saturating_add((hi.get() - lo.get()) / 2);
            if meets(&at(mid)?) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    Ok(choose(lo, at(lo)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use costmodel::{Bytes, Invocation, PerSecond, Placement, SchemeId, TransportId};

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn fixture() -> (PricedPlacement, Job) {
        let host = costmodel::HostProfile::load(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/hosts/reference.ron"),
        )
        .unwrap();
        let model = costmodel::Model::from_profile(host).unwrap();
        let p = Placement::inside(
            SchemeId::new("wasm").unwrap(),
            TransportId::new("tcp").unwrap(),
        );
        let inv = Invocation::new(
            4.0,
            Bytes::new(100.0),
            Bytes::new(80.0),
            Nanos::new(1000.0),
            PerSecond::new(100_000.0),
        )
        .unwrap();
        let job = Job::new(inv, Some(Nanos::from_micros(200.0))).unwrap();
        (model.price(&p).unwrap(), job)
    }

    #[test]
    fn chosen_batch_is_the_largest_that_meets_the_slo() {
        let (pp, job) = fixture();
        let cond = Conditions::default();
        let choice = largest_batch(&pp, &job, &cond, nz(4096)).unwrap();
        let slo = job.slo().unwrap().get();
        assert!(choice.batch.get() > 1);
        assert!(choice.cost.latency.get() <= slo);
        let next = pp.with_batch(choice.batch.saturating_add(1));
        let over = next.evaluate(job.invocation(), &cond).unwrap();
        assert!(over.latency.get() > slo, "batch + 1 must miss the slo");
        assert!(choice.storage_cpu_saved.get() > 0.0);
    }

    #[test]
    fn no_slo_takes_the_cap_and_no_arrivals_take_one() {
        let (pp, job) = fixture();
        let job = job.with_slo(None).unwrap();
        let cond = Conditions::default();
        assert_eq!(
            largest_batch(&pp, &job, &cond, nz(64)).unwrap().batch,
            nz(64)
        );
        let idle = job.invocation().with_rate(PerSecond::ZERO).unwrap();
        let job = job.with_invocation(idle);
        assert_eq!(
            largest_batch(&pp, &job, &cond, nz(64)).unwrap().batch,
            nz(1)
        );
    }

    #[test]
    fn an_unreachable_slo_falls_back_to_no_batching() {
        let (pp, job) = fixture();
        let job = job.with_slo(Some(Nanos::new(1.0))).unwrap();
        let c = largest_batch(&pp, &job, &Conditions::default(), nz(64)).unwrap();
        assert_eq!(c.batch, nz(1));
    }
}
