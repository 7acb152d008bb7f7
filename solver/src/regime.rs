//! The regime advisor: dedicated core, multiplexed contexts, or remote, per function, from its
//! arrival history; switching only when the switch pays for itself, and never flapping.
//!
//! # Model
//!
//! The scheduler feeds one observation per function per window: how many invocations arrived.
//! The advisor keeps, in constant memory ([`FunctionTrack`], `Copy` when its detector is, no
//! allocation):
//!
//! - a **stable epoch**: the windows since the last detected change in the arrival rate. Changes
//!   are detected by the track's [`ChangeDetector`] (the workspace's one detector is
//!   `profiler::RateDetector`, a two-sided CUSUM whose detection delay and false-alarm rate are
//!   documented and measured in `profiler/src/stationarity.rs`). A change point starts a new
//!   epoch at the current window.
//! - the **rate estimate**: the epoch's mean rate, which converges as the epoch ages instead of
//!   chasing per-window noise.
//! - the **predicted stable horizon**: as long again as the epoch has lasted (the age of a stable
//!   period is the best unbiased guess of its remaining life under a scale-free prior), capped
//!   at `max_horizon`.
//!
//! At each update it prices the function in each regime the caller offered at the estimated
//! rate ([`costmodel::PricedPlacement::evaluate`], scored by the objective, times the rate: cost
//! per second). It moves from the current regime to the cheapest one only when
//!
//! ```text
//! (cost_now - cost_best) * horizon >= transition(best) * (1 + hysteresis)
//! ```
//!
//! (break-even over the predicted horizon, with a margin), and only once per stable epoch.
//! Going back to the regime it just left additionally needs a new epoch (a detected change) and
//! an estimated rate that differs from the one it switched at by more than `reverse_band`
//! (relative) plus four standard errors of the Poisson estimate. A stationary function therefore
//! switches at most once and does not return: no flapping. A regime the model refuses (a
//! dedicated core that cannot keep up) is left at once, without waiting for break-even; so that
//! this cannot flap either, a dedicated core is only *entered* with headroom (it must keep up at
//! `reverse_band` more than the estimated rate plus four standard errors).

use costmodel::{
    ChangeDetector, Conditions, Invocation, Nanos, Objective, ObjectiveContext, PerSecond,
    PricedPlacement, Regime,
};

use crate::error::{Result, SolverError, non_negative, positive};

/// Tuning of the advisor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdvisorConfig {
    /// Length of one observation window.
    pub window: Nanos,
    /// Windows an epoch must last before the advisor decides anything in it.
    pub min_windows: u32,
    /// Longest horizon a saving is counted over.
    pub max_horizon: Nanos,
    /// Extra margin the saving must clear over the transition cost (0.25 = 25 %).
    pub hysteresis: f64,
    /// Relative rate change needed before returning to the regime just left.
    pub reverse_band: f64,
    /// One-off cost of entering each regime, in the objective's units per invocation (ns of CPU
    /// for the CPU objectives): `[dedicated, multiplexed, remote]`.
    pub transition: [f64; 3],
}

impl Default for AdvisorConfig {
    /// 10 ms windows; 8 windows before deciding;
    /// horizons up to a minute; 25 % hysteresis and reverse band; transitions of 2 ms (dedicated:
    /// program a NIC queue, pin a core), 1 ms (multiplexed: create contexts) and 0.1 ms (remote).
    fn default() -> Self {
        AdvisorConfig {
            window: Nanos::new(1e7),
            min_windows: 8,
            max_horizon: Nanos::new(6e10),
            hysteresis: 0.25,
            reverse_band: 0.25,
            transition: [2e6, 1e6, 1e5],
        }
    }
}

impl AdvisorConfig {
    /// Checks every number.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] naming the field and the value.
    pub fn check(&self) -> Result<()> {
        positive("advisor.window", self.window.get())?;
        positive("advisor.max_horizon", self.max_horizon.get())?;
        non_negative("advisor.hysteresis", self.hysteresis)?;
        non_negative("advisor.reverse_band", self.reverse_band)?;
        for t in self.transition {
            non_negative("advisor.transition", t)?;
        }
        Ok(())
    }
}

/// The placements a function may take in each regime, resolved once.
#[derive(Clone, Copy, Debug)]
pub struct RegimeOptions {
    /// Its dedicated-core placement, if offered.
    pub dedicated: Option<PricedPlacement>,
    /// Its multiplexed placement, if offered.
    pub multiplexed: Option<PricedPlacement>,
    /// Its remote placement, if offered.
    pub remote: Option<PricedPlacement>,
    /// The function's invocation numbers (the rate is replaced by the estimate).
    pub invocation: Invocation,
    /// Conditions to price under.
    pub conditions: Conditions,
}

impl RegimeOptions {
    fn get(&self, r: Regime) -> Option<&PricedPlacement> {
        match r {
            Regime::DedicatedCore => self.dedicated.as_ref(),
            Regime::Multiplexed => self.multiplexed.as_ref(),
            Regime::Remote => self.remote.as_ref(),
        }
    }
}

const REGIMES: [Regime; 3] = [Regime::DedicatedCore, Regime::Multiplexed, Regime::Remote];

fn slot(r: Regime) -> usize {
    match r {
        Regime::DedicatedCore => 0,
        Regime::Multiplexed => 1,
        Regime::Remote => 2,
    }
}

/// One function's advisor state: constant size, `Copy` when its detector `D` is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FunctionTrack<D> {
    regime: Regime,
    detector: D,
    epoch_windows: u32,
    epoch_count: f64,
    epochs: u64,
    switched_in_epoch: bool,
    left: Option<(Regime, f64, u64)>,
}

impl<D: ChangeDetector> FunctionTrack<D> {
    /// A function currently in `regime`, with no history, whose arrival rate `detector` watches
    /// (a fresh one, e.g. `profiler::RateDetector::new(CusumParams::default())`).
    pub fn new(regime: Regime, detector: D) -> Self {
        FunctionTrack {
            regime,
            detector,
            epoch_windows: 0,
            epoch_count: 0.0,
            epochs: 0,
            switched_in_epoch: false,
            left: None,
        }
    }

    /// The regime the function is in.
    pub fn regime(&self) -> Regime {
        self.regime
    }

    /// Windows in the current stable epoch.
    pub fn epoch_windows(&self) -> u32 {
        self.epoch_windows
    }

    /// Stable epochs seen (change points detected plus one).
    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    /// The change detector.
    pub fn detector(&self) -> &D {
        &self.detector
    }

    fn start_epoch(&mut self, count: f64) {
        self.epoch_windows = 1;
        self.epoch_count = count;
        self.epochs += 1;
        self.switched_in_epoch = false;
    }
}

/// Why the advisor answered as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdviceReason {
    /// The epoch is too young to decide.
    Warming,
    /// The current regime is the cheapest.
    AlreadyBest,
    /// Cheaper elsewhere, but the saving over the horizon does not pay the transition.
    BelowBreakEven,
    /// Already switched in this stable epoch.
    Committed,
    /// The cheaper regime is the one just left, and the rate has not moved enough to go back.
    Hysteresis,
    /// Switched: the saving over the horizon pays the transition.
    Switched,
    /// Switched because the model refuses the current regime at this rate.
    Forced,
}

/// The advisor's answer for one update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Advice {
    /// The regime to run in now.
    pub regime: Regime,
    /// `Some((from, to))` when this update switched.
    pub switched: Option<(Regime, Regime)>,
    /// Why.
    pub reason: AdviceReason,
    /// Estimated arrival rate.
    pub rate: PerSecond,
    /// Cost per second in the current regime minus in the cheapest (objective units per s).
    pub saving_per_s: f64,
    /// Predicted stable horizon.
    pub horizon: Nanos,
    /// True when this update detected a change in the arrival rate.
    pub change_point: bool,
}

/// Decides regimes for many functions; holds only configuration and the objective.
#[derive(Clone, Debug)]
pub struct RegimeAdvisor<O> {
    config: AdvisorConfig,
    objective: O,
}

impl<O: Objective> RegimeAdvisor<O> {
    /// An advisor with `config`, scoring by `objective`.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] for a bad configuration.
    pub fn new(config: AdvisorConfig, objective: O) -> Result<Self> {
        config.check()?;
        Ok(RegimeAdvisor { config, objective })
    }

    /// The configuration.
    pub fn config(&self) -> &AdvisorConfig {
        &self.config
    }

    /// Cost per second of `options` in `regime` at `rate`, or `None` when not offered or refused.
    pub fn cost_per_second(
        &self,
        options: &RegimeOptions,
        regime: Regime,
        rate: PerSecond,
    ) -> Option<f64> {
        let pp = options.get(regime)?;
        let inv = options.invocation.with_rate(rate).ok()?;
        // A dedicated core with no arrivals idles a whole core; the model refuses to price it.
        let cost = pp.evaluate(&inv, &options.conditions).ok()?;
        let ctx = ObjectiveContext {
            storage_utilisation: options.conditions.storage_utilisation(),
            slo: None,
        };
        // For a dedicated core the reservation term makes this about one core-second per second.
        let per_s = self.objective.score(&cost, &ctx) * rate.get();
        per_s.is_finite().then_some(per_s)
    }

    /// Feeds one window with `arrivals` invocations of a function and returns the regime to use.
    ///
    /// # Errors
    /// [`SolverError::InvalidInput`] when `arrivals` is NaN or negative, or when `options`
    /// offers no regime at all.
    pub fn observe<D: ChangeDetector>(
        &self,
        track: &mut FunctionTrack<D>,
        options: &RegimeOptions,
        arrivals: f64,
    ) -> Result<Advice> {
        non_negative("arrivals", arrivals)?;
        if REGIMES.iter().all(|r| options.get(*r).is_none()) {
            return Err(SolverError::Empty {
                what: "regime options",
            });
        }
        let cfg = &self.config;
        let change_point = track.detector.observe_window(arrivals) && track.epoch_windows > 0;
        if track.epoch_windows == 0 || change_point {
            track.start_epoch(arrivals);
        } else {
            track.epoch_windows += 1;
            track.epoch_count += arrivals;
        }
        let window_s = cfg.window.get() / 1e9;
        let age_s = f64::from(track.epoch_windows) * window_s;
        let rate = track.epoch_count / age_s;
        let horizon_s = age_s.min(cfg.max_horizon.get() / 1e9);
        let mut advice = Advice {
            regime: track.regime,
            switched: None,
            reason: AdviceReason::Warming,
            rate: PerSecond::new(rate),
            saving_per_s: 0.0,
            horizon: Nanos::new(horizon_s * 1e9),
            change_point,
        };
        // Four standard errors of a Poisson rate estimate over the epoch.
        let se = track.epoch_count.max(1.0).sqrt() / age_s;
        let mut costs = [None; 3];
        for r in REGIMES {
            costs[slot(r)] = self.cost_per_second(options, r, PerSecond::new(rate));
        }
        // A dedicated core is only entered with headroom: it must still keep up if the rate is
        // `reverse_band` higher than estimated, plus four standard errors. Otherwise a function
        // near one core's capacity would be promoted and then forced out by noise.
        if track.regime != Regime::DedicatedCore {
            let high = rate * (1.0 + cfg.reverse_band) + 4.0 * se;
            if self
                .cost_per_second(options, Regime::DedicatedCore, PerSecond::new(high))
                .is_none()
            {
                costs[slot(Regime::DedicatedCore)] = None;
            }
        }
        let current = costs[slot(track.regime)];
        let best = REGIMES
            .into_iter()
            .filter_map(|r| costs[slot(r)].map(|c| (r, c)))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(slot(a.0).cmp(&slot(b.0))));
        let Some((best_regime, best_cost)) = best else {
            return Ok(advice);
        };
        let Some(current_cost) = current else {
            // The current regime is refused (or not offered): leave it now.
            self.switch(track, best_regime, rate, &mut advice, AdviceReason::Forced);
            return Ok(advice);
        };
        advice.saving_per_s = current_cost - best_cost;
        if track.epoch_windows < cfg.min_windows {
            return Ok(advice);
        }
        if best_regime == track.regime || !(current_cost > best_cost) {
            advice.reason = AdviceReason::AlreadyBest;
            return Ok(advice);
        }
        if track.switched_in_epoch {
            advice.reason = AdviceReason::Committed;
            return Ok(advice);
        }
        if let Some((left, rate_then, epoch_then)) = track.left
            && left == best_regime
        {
            let moved = (rate - rate_then).abs();
            if track.epochs == epoch_then || moved < cfg.reverse_band * rate_then + 4.0 * se {
                advice.reason = AdviceReason::Hysteresis;
                return Ok(advice);
            }
        }
        let transition = cfg.transition[slot(best_regime)];
        if advice.saving_per_s * horizon_s >= transition * (1.0 + cfg.hysteresis) {
            self.switch(
                track,
                best_regime,
                rate,
                &mut advice,
                AdviceReason::Switched,
            );
        } else {
            advice.reason = AdviceReason::BelowBreakEven;
        }
        Ok(advice)
    }

    fn switch<D>(
        &self,
        track: &mut FunctionTrack<D>,
        to: Regime,
        rate: f64,
        advice: &mut Advice,
        reason: AdviceReason,
    ) {
        let from = track.regime;
        track.left = Some((from, rate, track.epochs));
        track.regime = to;
        track.switched_in_epoch = true;
        advice.regime = to;
        advice.switched = Some((from, to));
        advice.reason = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use costmodel::{Bytes, MinTotalCpu, Placement, SchemeId, TransportId};
    use profiler::{CusumParams, RateDetector};

    fn track(regime: Regime) -> FunctionTrack<RateDetector> {
        FunctionTrack::new(regime, RateDetector::new(CusumParams::default()))
    }

    fn options(records: f64, compute: f64) -> RegimeOptions {
        let host = costmodel::HostProfile::load(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/hosts/reference.ron"),
        )
        .unwrap();
        let m = costmodel::Model::from_profile(host).unwrap();
        let s = SchemeId::new("process").unwrap();
        let t = TransportId::new("tcp").unwrap();
        let price = |r: Regime| m.price(&Placement::inside(s, t).with_regime(r)).ok();
        RegimeOptions {
            dedicated: price(Regime::DedicatedCore),
            multiplexed: price(Regime::Multiplexed),
            remote: price(Regime::Remote),
            invocation: Invocation::new(
                records,
                Bytes::new(128.0),
                Bytes::new(256.0),
                Nanos::new(compute),
                PerSecond::ZERO,
            )
            .unwrap(),
            conditions: Conditions::default(),
        }
    }

    fn advisor() -> RegimeAdvisor<MinTotalCpu> {
        let cfg = AdvisorConfig {
            window: Nanos::new(1e6),
            ..AdvisorConfig::default()
        };
        RegimeAdvisor::new(cfg, MinTotalCpu).unwrap()
    }

    #[test]
    fn a_hot_stable_function_is_promoted_to_a_dedicated_core_once() {
        // 150 invocations per ms = 150,000/s: multiplexed under a process sandbox costs more
        // than a core in switches alone.
        let (a, o) = (advisor(), options(4.0, 500.0));
        let mut track = track(Regime::Multiplexed);
        let mut switches = Vec::new();
        for _ in 0..200 {
            let adv = a.observe(&mut track, &o, 150.0).unwrap();
            if let Some(s) = adv.switched {
                switches.push(s);
            }
        }
        assert_eq!(switches, vec![(Regime::Multiplexed, Regime::DedicatedCore)]);
    }

    #[test]
    fn a_cooling_function_is_demoted_after_the_change_is_detected() {
        let (a, o) = (advisor(), options(4.0, 500.0));
        let mut track = track(Regime::Multiplexed);
        for _ in 0..100 {
            a.observe(&mut track, &o, 150.0).unwrap();
        }
        assert_eq!(track.regime(), Regime::DedicatedCore);
        let mut change = false;
        for _ in 0..400 {
            let adv = a.observe(&mut track, &o, 2.0).unwrap();
            change |= adv.change_point;
        }
        assert!(change, "the drop is detected");
        assert_ne!(
            track.regime(),
            Regime::DedicatedCore,
            "demoted after the drop"
        );
    }

    #[test]
    fn a_young_epoch_does_not_switch() {
        let (a, o) = (advisor(), options(4.0, 500.0));
        let mut track = track(Regime::Multiplexed);
        for _ in 0..3 {
            let adv = a.observe(&mut track, &o, 150.0).unwrap();
            assert_eq!(adv.reason, AdviceReason::Warming);
        }
    }

    #[test]
    fn bad_observations_and_configs_are_errors() {
        let (a, o) = (advisor(), options(1.0, 0.0));
        let mut track = track(Regime::Remote);
        assert!(a.observe(&mut track, &o, f64::NAN).is_err());
        assert!(a.observe(&mut track, &o, -1.0).is_err());
        let bad = AdvisorConfig {
            window: Nanos::new(0.0),
            ..AdvisorConfig::default()
        };
        assert!(RegimeAdvisor::new(bad, MinTotalCpu).is_err());
    }
}
