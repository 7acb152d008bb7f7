//! Temporal locality: the probability `h` that an invocation finds a warm context.
//!
//! # One tenant, its own context
//!
//! A context is kept warm for `keep_alive` after each invocation, so an invocation hits when the
//! gap since the previous one is at most `keep_alive`: `h = F(keep_alive)` for the inter-arrival
//! distribution `F` ([`costmodel::locality::warm_hit_probability`]: the profile's histogram, or
//! a gamma fit of its rate and coefficient of variation).
//!
//! # Many tenants sharing a core's context slots (Che's approximation)
//!
//! When `N` tenants share `C < N` context slots evicted least-recently-used, a context also
//! leaves when `C` other contexts were used more recently. Che, Tung and Wang (IEEE JSAC 2002)
//! observed that LRU then behaves as if each item stayed for a fixed *characteristic time*
//! `T_C` after its last use, where `T_C` makes the expected number of resident items equal the
//! capacity. Under independent Poisson arrivals at rates `lambda_i`:
//!
//! ```text
//! sum_i (1 - exp(-lambda_i * T_C)) = C,      h_i = 1 - exp(-lambda_i * T_C)
//! ```
//!
//! With a keep-alive `K` as well, an item stays `tau = min(T_C, K)` after its last use: if even
//! `tau = K` keeps fewer than `C` items resident on average, slots never run out and `tau = K`;
//! otherwise `T_C < K` solves the equation above. The occupancy side uses the Poisson form (the
//! standard independent-reference assumption); the hit side applies each tenant's own
//! inter-arrival distribution at `tau`, `h_i = F_i(tau)`, which is exact for Poisson tenants
//! and keeps bursty or timer-driven ones honest. Fricker, Robert and Roberts (ITC 2012) explain
//! why the approximation is accurate well beyond its original assumptions.

use costmodel::{Arrival, Nanos};

use crate::error::{Result, SolverError, non_negative};

/// `P(inter-arrival <= keep_alive)`: warm-hit probability of a tenant with its own context.
pub fn keep_alive_hit(arrival: &Arrival, keep_alive: Nanos) -> f64 {
    if keep_alive.get() == f64::INFINITY {
        return if arrival.rate.get() > 0.0 { 1.0 } else { 0.0 };
    }
    costmodel::locality::warm_hit_probability(arrival, keep_alive)
}

/// The solved cache model for tenants sharing context slots.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedSlots {
    /// How long a context stays after its last use: `min(T_C, keep_alive)`. Infinite when
    /// neither slots nor keep-alive ever evict.
    pub residence: Nanos,
    /// True when the slots, not the keep-alive, bound residence (`T_C < keep_alive`).
    pub slot_bound: bool,
    /// Expected number of resident contexts (`<= slots`).
    pub occupancy: f64,
}

/// Solves Che's approximation for `arrivals` sharing `slots` LRU context slots with a
/// `keep_alive` (may be infinite), and writes each tenant's warm-hit probability into `hits`.
///
/// # Errors
/// [`SolverError::InvalidInput`] when `slots` is zero, `keep_alive` is NaN or not positive, a
/// rate is NaN or negative, or `hits` is shorter than `arrivals`; [`SolverError::Empty`] for no
/// tenants.
pub fn shared_slot_hits(
    arrivals: &[Arrival],
    slots: u32,
    keep_alive: Nanos,
    hits: &mut [f64],
) -> Result<SharedSlots> {
    if arrivals.is_empty() {
        return Err(SolverError::Empty { what: "tenants" });
    }
    if slots == 0 {
        return Err(SolverError::InvalidInput {
            field: "slots",
            expected: "must be >= 1",
            value: 0.0,
        });
    }
    let k = keep_alive.get();
    if !(k > 0.0) {
        return Err(SolverError::InvalidInput {
            field: "keep_alive",
            expected: "must be > 0 (may be infinite)",
            value: k,
        });
    }
    if hits.len() < arrivals.len() {
        return Err(SolverError::InvalidInput {
            field: "hits.len",
            expected: "must be at least the number of tenants",
            value: f64::from(u32::try_from(hits.len()).unwrap_or(u32::MAX)),
        });
    }
    for a in arrivals {
        non_negative("arrival.rate", a.rate.get())?;
    }
    let c = f64::from(slots);
    // Rates per ns.
    let occupancy = |t: f64| -> f64 {
        arrivals
            .iter()
            .map(|a| {
                let l = a.rate.get() / 1e9;
                if l > 0.0 { -(-l * t).exp_m1() } else { 0.0 }
            })
            .sum()
    };
    let active = arrivals.iter().filter(|a| a.rate.get() > 0.0).count() as f64;
    let (residence, slot_bound) = if k.is_infinite() {
        if active <= c {
            (f64::INFINITY, false)
        } else {
            (solve_characteristic(&occupancy, c, f64::INFINITY), true)
        }
    } else if occupancy(k) <= c {
        (k, false)
    } else {
        (solve_characteristic(&occupancy, c, k), true)
    };
    for (h, a) in hits.iter_mut().zip(arrivals) {
        *h = keep_alive_hit(a, Nanos::new(residence));
    }
    Ok(SharedSlots {
        residence: Nanos::new(residence),
        slot_bound,
        occupancy: if residence.is_infinite() {
            active
        } else {
            occupancy(residence)
        },
    })
}

/// Finds `T` in `(0, upper)` with `occupancy(T) = c` (occupancy is increasing in `T`), by
/// bisection on a log scale.
fn solve_characteristic(occupancy: &dyn Fn(f64) -> f64, c: f64, upper: f64) -> f64 {
    let mut lo = 1e-3; // 1 ps: below any meaningful gap
    let mut hi = if upper.is_finite() { upper } else { 1e3 };
    // Grow an infinite bracket until it holds the root.
    while occupancy(hi) < c && hi < 1e30 {
        hi *= 16.0;
    }
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if occupancy(mid) < c {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo < 1.0 + 1e-12 {
            break;
        }
    }
    (lo * hi).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use costmodel::PerSecond;

    #[test]
    fn single_poisson_tenant_matches_exponential_cdf() {
        let a = Arrival::poisson(PerSecond::new(10.0));
        let mut h = [0.0];
        let fit = shared_slot_hits(std::slice::from_ref(&a), 1, Nanos::new(1e8), &mut h).unwrap();
        assert!(!fit.slot_bound);
        assert!((h[0] - (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{}", h[0]);
    }

    #[test]
    fn enough_slots_and_endless_keep_alive_keep_every_active_tenant_warm() {
        let arrivals: Vec<_> = [1.0, 5.0, 0.0]
            .iter()
            .map(|r| Arrival::poisson(PerSecond::new(*r)))
            .collect();
        let mut h = [0.0; 3];
        let fit = shared_slot_hits(&arrivals, 2, Nanos::new(f64::INFINITY), &mut h).unwrap();
        assert!(fit.residence.get().is_infinite());
        assert_eq!(h, [1.0, 1.0, 0.0]);
    }

    #[test]
    fn characteristic_time_fills_exactly_the_slots() {
        let arrivals: Vec<_> = (1..=50)
            .map(|i| Arrival::poisson(PerSecond::new(1000.0 / f64::from(i))))
            .collect();
        let mut h = vec![0.0; 50];
        let fit = shared_slot_hits(&arrivals, 10, Nanos::new(f64::INFINITY), &mut h).unwrap();
        assert!(fit.slot_bound);
        assert!((fit.occupancy - 10.0).abs() < 1e-6, "{}", fit.occupancy);
        assert!((h.iter().sum::<f64>() - 10.0).abs() < 1e-6);
        assert!(
            h.windows(2).all(|w| w[0] >= w[1]),
            "hotter tenants hit more"
        );
    }

    /// Simulates LRU over superposed Poisson arrivals and compares per-tenant hit ratios with
    /// Che's approximation.
    #[test]
    fn che_approximation_matches_simulated_lru() {
        let n = 40usize;
        let slots = 8u32;
        let rates: Vec<f64> = (1..=n).map(|i| 1.0 / (i as f64).powf(0.8)).collect();
        let arrivals: Vec<_> = rates
            .iter()
            .map(|r| Arrival::poisson(PerSecond::new(*r)))
            .collect();
        let mut che = vec![0.0; n];
        shared_slot_hits(&arrivals, slots, Nanos::new(f64::INFINITY), &mut che).unwrap();
        let total: f64 = rates.iter().sum();
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in &rates {
            acc += r / total;
            cdf.push(acc);
        }
        let mut lru: Vec<usize> = Vec::new();
        let (mut hits, mut seen) = (vec![0u32; n], vec![0u32; n]);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for step in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            let t = cdf.partition_point(|c| *c < u).min(n - 1);
            let hit = if let Some(pos) = lru.iter().position(|&e| e == t) {
                lru.remove(pos);
                true
            } else {
                if lru.len() == slots as usize {
                    lru.pop();
                }
                false
            };
            lru.insert(0, t);
            if step >= 10_000 {
                seen[t] += 1;
                hits[t] += u32::from(hit);
            }
        }
        for i in 0..10 {
            let sim = f64::from(hits[i]) / f64::from(seen[i]);
            assert!(
                (sim - che[i]).abs() < 0.03,
                "tenant {i}: sim {sim} che {}",
                che[i]
            );
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a = [Arrival::poisson(PerSecond::new(1.0))];
        let mut h = [0.0];
        assert!(shared_slot_hits(&a, 0, Nanos::new(1.0), &mut h).is_err());
        assert!(shared_slot_hits(&a, 1, Nanos::new(f64::NAN), &mut h).is_err());
        assert!(shared_slot_hits(&[], 1, Nanos::new(1.0), &mut h).is_err());
        assert!(shared_slot_hits(&a, 1, Nanos::new(1.0), &mut []).is_err());
        let bad = [Arrival::poisson(PerSecond::new(-1.0))];
        assert!(shared_slot_hits(&bad, 1, Nanos::new(1.0), &mut h).is_err());
    }
}
