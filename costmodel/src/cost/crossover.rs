//! The crossover `k*` where running inside starts to use less storage CPU than fetching.

use super::{Conditions, Invocation, PricedPlacement};
use crate::error::Result;
use crate::placement::Regime;

/// Where running inside starts to beat fetching remotely, in records per invocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Crossover {
    /// Inside uses less storage CPU than remote for every `k` above this value.
    At(f64),
    /// Inside never uses less storage CPU (each record costs inside at least as much as a
    /// remote fetch of it).
    Never,
}

/// The crossover `k*` for storage CPU between an inside placement and a remote one:
///
/// `k* = (a_s + b_s(q + r) + dispatch + w + (1 - h) z + f_K c + g_s) / (a_s' + s b_s' + l(s)
/// + g_s - g(s))`
///
/// (primes: the remote placement's transport, `a_s'` its [`PricedPlacement::server_request`];
/// `l(s)`: its [`PricedPlacement::remote_lookup`];
/// `g(s) = g0 + s g_b`: the inside scheme's record access; `g_s` the scattered-read premium,
/// which a remote fetch pays per request and inside pays once, on the run's first record).
/// With dependent reads both sides pay `g_s` on every record and it cancels (both `+ g_s`
/// drop). Exact for the equations above at `k >= 1` when the inside placement is multiplexed
/// and the remote one fetches one key per request. Both placements must carry the same
/// premium (they do when one [`crate::Model`] priced them).
///
/// # Errors
/// [`crate::CostError::BadPlacement`] when `inside` is not multiplexed, `remote` is not a one-key
/// remote placement, or their scattered-read premiums differ.
pub fn crossover(
    inside: &PricedPlacement,
    remote: &PricedPlacement,
    inv: &Invocation,
    cond: &Conditions,
) -> Result<Crossover> {
    if inside.placement.regime != Regime::Multiplexed {
        return Err(inside.bad("crossover needs a multiplexed inside placement"));
    }
    if remote.placement.regime != Regime::Remote || remote.placement.multiget.get() != 1 {
        return Err(remote.bad("crossover needs a remote placement with multiget 1"));
    }
    if inside.scattered.get().to_bits() != remote.scattered.get().to_bits() {
        return Err(remote.bad(&format!(
            "crossover needs the same scattered-read premium on both sides (one host), got {} \
             inside and {} remote",
            inside.scattered, remote.scattered
        )));
    }
    let at0 = inside
        .evaluate(&inv.without_records(), cond)?
        .storage_cpu
        .get();
    let s = inv.record_bytes();
    let g = inside.scheme.local_access_at(s).get();
    let (a_s, b_s) = remote.server_request(cond.drained_per_wakeup, cond);
    // The premium inside pays once and remote per request; with dependent reads, both per
    // record.
    let g_s = if inv.dependent_reads() {
        0.0
    } else {
        remote.scattered.get()
    };
    let per_record_remote = (a_s + s * b_s + remote.remote_lookup(s)).get() + g_s;
    let saving = per_record_remote - g;
    if saving <= 0.0 {
        return Ok(Crossover::Never);
    }
    // A saving so small (subnormal) that k* overflows means inside never wins in practice.
    let k = (at0 + g_s) / saving;
    if !k.is_finite() {
        return Ok(Crossover::Never);
    }
    Ok(Crossover::At(k))
}
