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

use costmodel::{Conditions, Nanos, PlacementCost, PricedPlacement};

use crate::error::{Result, SolverError};
use crate::rank::Job;

/// The chosen batch and what it buys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchChoice {
    /// Invocations per domain entry and request.
    pub batch: u32,
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
/// [`SolverError::InvalidInput`] for `max_batch = 0` or bad job numbers;
/// [`SolverError::Cost`] when the model refuses the placement (a dedicated core it cannot have).
/// When not even `B = 1` meets the SLO, the answer
/// is `B = 1` with its (violating) cost: batching cannot help, and the caller's ranking reports
/// the violation.
pub fn largest_batch(
    placement: &PricedPlacement,
    job: &Job,
    cond: &Conditions,
    max_batch: u32,
) -> Result<BatchChoice> {
    job.check()?;
    if max_batch == 0 {
        return Err(SolverError::InvalidInput {
            field: "max_batch",
            expected: "must be >= 1",
            value: 0.0,
        });
    }
    let at = |b: u32| -> Result<PlacementCost> {
        let mut p = *placement;
        p.placement.batch = b;
        Ok(p.evaluate(&job.invocation, cond)?)
    };
    let one = at(1)?;
    let meets = |c: &PlacementCost| job.slo.is_none_or(|slo| c.latency.get() <= slo.get());
    let choose = |b: u32, cost: PlacementCost| BatchChoice {
        batch: b,
        cost,
        storage_cpu_saved: one.storage_cpu - cost.storage_cpu,
        total_cpu_saved: one.total_cpu() - cost.total_cpu(),
    };
    if !(job.invocation.rate > 0.0) || max_batch == 1 {
        return Ok(choose(1, one));
    }
    if job.slo.is_none() {
        return Ok(choose(max_batch, at(max_batch)?));
    }
    // Doubling search for the last feasible power of two (feasibility is an interval in B).
    let mut good = if meets(&one) { Some(1u32) } else { None };
    let mut b = 1u32;
    let mut bad = None;
    while b < max_batch {
        let next = b.saturating_mul(2).min(max_batch);
        if meets(&at(next)?) {
            good = Some(next);
        } else if good.is_some() {
            bad = Some(next);
            break;
        }
        b = next;
    }
    let Some(mut lo) = good else {
        return Ok(choose(1, one));
    };
    // Bisection between the last feasible and the first infeasible batch above it.
    if let Some(mut hi) = bad {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
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
    use costmodel::{Invocation, Placement, SchemeId, TransportId};

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
        let job = Job {
            invocation: Invocation {
                records: 4.0,
                record_bytes: 100.0,
                message_bytes: 80.0,
                compute_ns: 1000.0,
                rate: 100_000.0,
                dependent_reads: false,
                class: Default::default(),
            },
            slo: Some(Nanos::from_micros(200.0)),
        };
        (model.price(&p).unwrap(), job)
    }

    #[test]
    fn chosen_batch_is_the_largest_that_meets_the_slo() {
        let (pp, job) = fixture();
        let cond = Conditions::default();
        let choice = largest_batch(&pp, &job, &cond, 4096).unwrap();
        let slo = job.slo.unwrap().get();
        assert!(choice.batch > 1);
        assert!(choice.cost.latency.get() <= slo);
        let mut next = pp;
        next.placement.batch = choice.batch + 1;
        let over = next.evaluate(&job.invocation, &cond).unwrap();
        assert!(over.latency.get() > slo, "batch + 1 must miss the slo");
        assert!(choice.storage_cpu_saved.get() > 0.0);
    }

    #[test]
    fn no_slo_takes_the_cap_and_no_arrivals_take_one() {
        let (pp, mut job) = fixture();
        job.slo = None;
        let cond = Conditions::default();
        assert_eq!(largest_batch(&pp, &job, &cond, 64).unwrap().batch, 64);
        job.invocation.rate = 0.0;
        assert_eq!(largest_batch(&pp, &job, &cond, 64).unwrap().batch, 1);
        assert!(largest_batch(&pp, &job, &cond, 0).is_err());
    }

    #[test]
    fn an_unreachable_slo_falls_back_to_no_batching() {
        let (pp, mut job) = fixture();
        job.slo = Some(Nanos::new(1.0));
        let c = largest_batch(&pp, &job, &Conditions::default(), 64).unwrap();
        assert_eq!(c.batch, 1);
    }
}
