//! Interleaved rounds and the intervals they give: where the next calibration lands.
//!
//! A run measures every transport and scheme once per round, `R` rounds in a row, instead of
//! one long block each: slow drift and bursts then spread over all coefficients instead of
//! hitting one. Each round gives every coefficient an estimate `x_i` with a within-round
//! interval of half-width `h_i`. They combine as
//!
//! ```text
//! point     = median(x_i)
//! between   = t(R-1, 0.975) * s * sqrt(2 / R)      s: standard deviation of the x_i
//! within    = rms(h_i) / sqrt(R)
//! half      = sqrt(between^2 + within^2)
//! ```
//!
//! `between` is the 95% prediction half-width for the difference between this run's point and
//! the next run's (each a combination of `R` rounds with the spread the rounds showed), so the
//! interval says where the next calibration lands, not only how well this run pinned its own
//! median; `within` keeps an interval from collapsing when a few rounds agree by chance. This
//! is the one mechanism behind both the noise work (issue 15) and the honest intervals of the
//! server calibration (issue 10, item 5). Each round of a transport or scheme carries a
//! [`Mark`]: over a noise threshold, clean on cores another guest shared, or clean on free
//! cores. A coefficient combines only the rounds of the best mark it has (the free-core rounds
//! when any, else the clean ones, else all); a value that is not measured in any round (a cited
//! default) is kept as it is.

use std::any::TypeId;
use std::collections::BTreeMap;

use costmodel::{
    Bytes, Estimate, Factor, HostProfile, IsolationCosts, LinkCosts, Nanos, NanosPerByte,
    NoiseGrade, NoiseRecord, Quantity, RoundSpread, SideCosts, Source, TransportCosts, limits,
};

use crate::stats::{median, quantile_sorted};

/// How one round of a transport or scheme read: the rounds a coefficient combines are those of
/// the best mark it has ([`combine_lent`]), the worst first here.
///
/// A block on cores another guest shares sees no steal, yet slows what uses the core's width
/// (requests, memory, allocation; [`super::sibling`]). A run that records shared cores without
/// holding its blocks to free ones keeps those blocks clean; without this mark such a round
/// priced a slower machine than the cores are when free. On the 2-vCPU EPYC VM (2026-12-04,
/// batch 69) a calibration with 46 of 98 blocks on shared cores, under the half that grades a
/// run noisy, predicted a sweep on free cores 1.18x too high (17.2% median error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// A block over a noise threshold (steal, other processes, the machine state, or a shared
    /// core in a run held to free cores), kept when every try was.
    Over,
    /// Every block clean, one or more on cores another guest shared (recorded, not redone).
    Shared,
    /// Every block clean on free cores (or on cores not watched).
    Free,
}

impl Mark {
    /// The mark of a round whose blocks were all clean or not (`clean`), and read their cores
    /// shared in one or more of them or not (`shared`).
    pub fn of(clean: bool, shared: bool) -> Mark {
        match (clean, shared) {
            (false, _) => Mark::Over,
            (true, true) => Mark::Shared,
            (true, false) => Mark::Free,
        }
    }

    /// The best mark among `marks`, `None` when there is none.
    pub fn best(marks: impl IntoIterator<Item = Mark>) -> Option<Mark> {
        marks.into_iter().max()
    }

    /// The mark of one item's rounds that [`spread`] and [`Lent::from_rounds`] compare (those
    /// [`combine_lent`] uses): the best, unless every round was over a threshold (`None`).
    pub fn compared(marks: impl IntoIterator<Item = Mark>) -> Option<Mark> {
        Mark::best(marks).filter(|m| *m > Mark::Over)
    }
}

/// Every `transports.*` and `isolation.*` coefficient measured and positive in `rounds` (one
/// profile per round with only the transports and schemes whose round is of their best
/// [`Mark`], the rounds [`combine_lent`] uses), by path, with its value in each round that
/// measured it.
fn by_path(rounds: &[HostProfile]) -> BTreeMap<String, Vec<f64>> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for p in rounds {
        for c in crate::report::coefficients(p) {
            let ours = c.path.starts_with("transports.") || c.path.starts_with("isolation.");
            if ours && c.measured && c.point.is_finite() && c.point > 0.0 {
                values.entry(c.path).or_default().push(c.point);
            }
        }
    }
    values
}

/// How far apart the rounds put each coefficient ([`RoundSpread`]): `rounds` holds one profile
/// per round with the transports and schemes of that round that are combined; every `transports.*` and
/// `isolation.*` coefficient measured and positive in two of them or more is compared, largest
/// round over smallest. `None` when none is.
pub fn spread(rounds: &[HostProfile]) -> Option<RoundSpread> {
    let mut ratios: Vec<f64> = by_path(rounds)
        .values()
        .filter(|v| v.len() >= 2)
        .map(|v| {
            v.iter().copied().fold(0.0, f64::max) / v.iter().copied().fold(f64::INFINITY, f64::min)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    Some(RoundSpread {
        coefficients: u32::try_from(ratios.len()).unwrap_or(u32::MAX),
        median: quantile_sorted(&ratios, 0.5),
        p75: quantile_sorted(&ratios, 0.75),
    })
}

/// A run's between-round half-width, lent to the coefficients it combines from one round only
/// (one clean round, or one on free cores; or one block, as the micro benchmarks).
///
/// One round says how well that round pinned its own median, not where the next calibration
/// lands: a run that redid many blocks kept one clean round of some coefficients, and their
/// within-round intervals were a few percent wide while the host moved a third between rounds
/// (issue 15's coverage missed mostly on them). Such a coefficient borrows the run's typical
/// `t(n-1) s sqrt(2/n)`, relative to the point, over the coefficients the run combines from two
/// rounds or more ([`combine_lent`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lent {
    /// The median of `t(n-1) s sqrt(2/n) / median` over the coefficients combined from two
    /// rounds or more.
    pub half: f64,
    /// How many coefficients it is the median of.
    pub coefficients: usize,
}

impl Lent {
    /// The run's between-round half-width from `rounds` (as for [`spread`]); `None` when no
    /// coefficient is combined from two rounds.
    pub fn from_rounds(rounds: &[HostProfile]) -> Option<Lent> {
        let mut rel: Vec<f64> = by_path(rounds)
            .values()
            .filter(|v| v.len() >= 2)
            .map(|v| between(v) / median(v))
            .filter(|r| r.is_finite())
            .collect();
        if rel.is_empty() {
            return None;
        }
        rel.sort_by(f64::total_cmp);
        Some(Lent {
            half: quantile_sorted(&rel, 0.5),
            coefficients: rel.len(),
        })
    }

    /// `e` (measured once) with its interval widened by the lent half-width at its point,
    /// combined with its own: `sqrt((half * point)^2 + own^2)` each side.
    pub fn widen<U: Quantity>(&self, e: &Estimate<U>, what: &str) -> Estimate<U> {
        if !e.source.is_measured() {
            return e.clone();
        }
        let point = e.point.value();
        let lent = self.half * point.abs();
        let below = lent.hypot(point - e.lower.value());
        let above = lent.hypot(e.upper.value() - point);
        let mut out = e.clone();
        out.lower = U::from_value((point - below).max(floor(&[e])).min(point));
        out.upper = U::from_value((point + above).min(format_limit::<U>()).max(point));
        append(
            &mut out.source,
            &format!(
                "; {what}: 95% interval for the next calibration widened by the run's \
                 between-round half-width ({:.1}% of the point, the median over {} coefficients \
                 combined from two rounds or more) with its own",
                100.0 * self.half,
                self.coefficients
            ),
        );
        out
    }
}

/// `t(n-1) s sqrt(2/n)` of `points` (two or more): the 95% prediction half-width for the
/// difference between a combination of these rounds and the next run's.
fn between(points: &[f64]) -> f64 {
    let n = points.len();
    t975(n - 1) * sd(points) * (2.0 / n as f64).sqrt()
}

/// The sample standard deviation of `points` (two or more).
fn sd(points: &[f64]) -> f64 {
    let nf = points.len() as f64;
    let mean = points.iter().sum::<f64>() / nf;
    (points.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0)).sqrt()
}

/// 0 when every estimate's interval is non-negative (the quantity cannot go below 0), else no
/// floor.
fn floor<U: Quantity>(used: &[&Estimate<U>]) -> f64 {
    if used.iter().all(|e| e.lower.value() >= 0.0) {
        0.0
    } else {
        f64::NEG_INFINITY
    }
}

/// The order round `round` measures `points` points in: as listed on even rounds, reversed on
/// odd ones, so that a drift over the rounds lands on every point alike instead of on those
/// measured while it lasted.
pub fn order(round: usize, points: usize) -> Vec<usize> {
    if round.is_multiple_of(2) {
        (0..points).collect()
    } else {
        (0..points).rev().collect()
    }
}

/// Student's t quantile at 0.975 for `df` degrees of freedom (1.96 beyond 30).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        d if d <= 30 => T[d - 1],
        _ => 1.96,
    }
}

/// The host-profile format's largest value of unit `U` (`costmodel::limits`): a wide interval
/// stops there rather than making the profile unloadable.
fn format_limit<U: Quantity>() -> f64 {
    let t = TypeId::of::<U>();
    if t == TypeId::of::<Nanos>() {
        limits::MAX_NANOS
    } else if t == TypeId::of::<NanosPerByte>() {
        limits::MAX_NANOS_PER_BYTE
    } else if t == TypeId::of::<Bytes>() {
        limits::MAX_BYTES
    } else if t == TypeId::of::<Factor>() {
        limits::MAX_SLOWDOWN
    } else {
        limits::MAX_OTHER
    }
}

/// `Ok` unless `record` grades the run unusable; the error is the line to print instead of a
/// number.
///
/// # Errors
/// The run is graded [`NoiseGrade::Unusable`].
pub fn usable(record: &NoiseRecord) -> Result<(), String> {
    if record.grade == NoiseGrade::Unusable {
        return Err(format!(
            "host too noisy to measure ({}); no coefficient reported",
            record.summary()
        ));
    }
    Ok(())
}

/// Why a run graded unusable lost its machine state, when most of its redos were for the state
/// ([`super::STATE_REASON`], [`super::core_state`]) and not for steal or other processes: such
/// a run is worth measuring again in the state the host is in then.
pub fn lost_state(noise: &NoiseRecord) -> Option<String> {
    usable(noise).err()?;
    let state = noise
        .redos
        .iter()
        .filter(|r| r.reason.contains(super::STATE_REASON))
        .count();
    (state * 2 > noise.redos.len()).then(|| {
        format!(
            "the host moved the CPUs for most of the run ({state} of {} redos were for the \
             machine state, {} of {} blocks kept out of it)",
            noise.redos.len(),
            noise.contaminated,
            noise.blocks
        )
    })
}

/// One coefficient's rounds combined (see the module docs). `rounds` holds each round's
/// estimate and whether its block was clean (cores not watched); `None` when it is empty.
pub fn combine<U: Quantity>(rounds: &[(&Estimate<U>, bool)]) -> Option<Estimate<U>> {
    let marked: Vec<(&Estimate<U>, Mark)> = rounds
        .iter()
        .map(|(e, clean)| (*e, Mark::of(*clean, false)))
        .collect();
    combine_lent(&marked, None)
}

/// One coefficient's rounds combined (see the module docs), each round with its [`Mark`]: only
/// those of the best mark among the rounds that measured it are used. A coefficient left with
/// one round borrows `lent`'s between-round half-width ([`Lent`]) when given.
pub fn combine_lent<U: Quantity>(
    rounds: &[(&Estimate<U>, Mark)],
    lent: Option<&Lent>,
) -> Option<Estimate<U>> {
    let first = rounds.first()?.0;
    let measured: Vec<&(&Estimate<U>, Mark)> = rounds
        .iter()
        .filter(|(e, _)| e.source.is_measured())
        .collect();
    let Some(best) = Mark::best(measured.iter().map(|(_, m)| *m)) else {
        return Some(first.clone());
    };
    let used: Vec<&Estimate<U>> = measured
        .iter()
        .filter(|(_, m)| *m == best)
        .map(|(e, _)| *e)
        .collect();
    let note = match best {
        Mark::Over => "; every round's block over a noise threshold",
        Mark::Shared => "; every clean round on cores shared with another guest",
        Mark::Free => "",
    };
    let n = used.len();
    let points: Vec<f64> = used.iter().map(|e| e.point.value()).collect();
    let point = median(&points);
    if n == 1 {
        let mut one = used[0].clone();
        append(
            &mut one.source,
            &format!(
                "; 1 of {} rounds kept{}{note}",
                rounds.len(),
                left_out(rounds, best)
            ),
        );
        return Some(match lent {
            Some(l) => l.widen(&one, "one round"),
            None => one,
        });
    }
    let nf = n as f64;
    let s = sd(&points);
    let between = between(&points);
    let within = (used
        .iter()
        .map(|e| ((e.upper.value() - e.lower.value()) / 2.0).powi(2))
        .sum::<f64>()
        / nf)
        .sqrt()
        / nf.sqrt();
    let half = between.hypot(within);
    let floor = floor(&used);
    let mut out = Estimate {
        point: U::from_value(point),
        lower: U::from_value((point - half).max(floor).min(point)),
        upper: U::from_value((point + half).min(format_limit::<U>()).max(point)),
        confidence: 0.95,
        samples: used.iter().map(|e| e.samples).sum(),
        source: used[0].source.clone(),
    };
    let listed: Vec<String> = points.iter().map(|x| format!("{x:.4}")).collect();
    append(
        &mut out.source,
        &format!(
            "; median of {n} interleaved rounds [{}]{}{note}; 95% interval for the next \
             calibration: t({}) s sqrt(2/{n}) between rounds (s {s:.4}) with the within-round \
             intervals",
            listed.join(", "),
            left_out(rounds, best),
            n - 1
        ),
    );
    Some(out)
}

/// The rounds `combine_lent` leaves out below `best`, by mark: ` (1 over a noise threshold,
/// 2 on cores shared with another guest left out)`, or nothing.
fn left_out<U: Quantity>(rounds: &[(&Estimate<U>, Mark)], best: Mark) -> String {
    let count = |mark: Mark| rounds.iter().filter(|(_, m)| *m == mark).count();
    let mut parts = Vec::new();
    if best > Mark::Over && count(Mark::Over) > 0 {
        parts.push(format!("{} over a noise threshold", count(Mark::Over)));
    }
    if best > Mark::Shared && count(Mark::Shared) > 0 {
        parts.push(format!(
            "{} on cores shared with another guest",
            count(Mark::Shared)
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({} left out)", parts.join(", "))
    }
}

fn append(s: &mut Source, text: &str) {
    match s {
        Source::Measured { method: t }
        | Source::Literature { citation: t }
        | Source::Derived { formula: t } => t.push_str(text),
    }
}

fn pick<'a, T, U: Quantity>(
    rounds: &[(&'a T, Mark)],
    lent: Option<&Lent>,
    f: impl Fn(&'a T) -> &'a Estimate<U>,
) -> Option<Estimate<U>> {
    let v: Vec<(&Estimate<U>, Mark)> = rounds.iter().map(|(x, c)| (f(x), *c)).collect();
    combine_lent(&v, lent)
}

fn side(rounds: &[(&SideCosts, Mark)], lent: Option<&Lent>) -> Option<SideCosts> {
    Some(SideCosts {
        per_request: pick(rounds, lent, |s| &s.per_request)?,
        per_byte: pick(rounds, lent, |s| &s.per_byte)?,
    })
}

fn link(rounds: &[(&LinkCosts, Mark)], lent: Option<&Lent>) -> Option<LinkCosts> {
    let client: Vec<(&SideCosts, Mark)> = rounds.iter().map(|(l, c)| (&l.client, *c)).collect();
    let server: Vec<(&SideCosts, Mark)> = rounds.iter().map(|(l, c)| (&l.server, *c)).collect();
    let r2: Vec<f64> = rounds.iter().filter_map(|(l, _)| l.fit_r2).collect();
    Some(LinkCosts {
        client: side(&client, lent)?,
        server: side(&server, lent)?,
        round_trip: pick(rounds, lent, |l| &l.round_trip)?,
        fit_r2: (!r2.is_empty()).then(|| median(&r2)),
    })
}

/// A transport's rounds combined, coefficient by coefficient (one left with one round borrows
/// `lent`'s half-width when given); fields this function does not know keep the first round's
/// value.
pub fn transport(
    rounds: &[(&TransportCosts, Mark)],
    lent: Option<&Lent>,
) -> Option<TransportCosts> {
    let first = rounds.first()?.0;
    let links = |f: fn(&TransportCosts) -> Option<&LinkCosts>| {
        let v: Vec<(&LinkCosts, Mark)> = rounds
            .iter()
            .filter_map(|(t, c)| f(t).map(|l| (l, *c)))
            .collect();
        link(&v, lent)
    };
    Some(TransportCosts {
        unloaded: links(|t| Some(&t.unloaded))?,
        saturated: links(|t| Some(&t.saturated))?,
        other_cores: links(|t| t.other_cores.as_ref()),
        ..first.clone()
    })
}

/// A scheme's rounds combined, coefficient by coefficient (one left with one round borrows
/// `lent`'s half-width when given); fields this function does not know keep the first round's
/// value.
pub fn isolation(
    rounds: &[(&IsolationCosts, Mark)],
    lent: Option<&Lent>,
) -> Option<IsolationCosts> {
    let first = rounds.first()?.0;
    let mut details = BTreeMap::new();
    for name in rounds.iter().flat_map(|(s, _)| s.details.keys()) {
        if details.contains_key(name) {
            continue;
        }
        let v: Vec<_> = rounds
            .iter()
            .filter_map(|(s, c)| s.details.get(name).map(|e| (e, *c)))
            .collect();
        if let Some(e) = combine_lent(&v, lent) {
            details.insert(name.clone(), e);
        }
    }
    let mut by_class = BTreeMap::new();
    for class in rounds.iter().flat_map(|(s, _)| s.slowdown_by_class.keys()) {
        let v: Vec<_> = rounds
            .iter()
            .filter_map(|(s, c)| s.slowdown_by_class.get(class).map(|e| (e, *c)))
            .collect();
        if let Some(e) = combine_lent(&v, lent) {
            by_class.insert(*class, e);
        }
    }
    let per_byte: Vec<_> = rounds
        .iter()
        .filter_map(|(s, c)| s.local_access_per_byte.as_ref().map(|e| (e, *c)))
        .collect();
    Some(IsolationCosts {
        warm_invoke: pick(rounds, lent, |s| &s.warm_invoke)?,
        cold_start: pick(rounds, lent, |s| &s.cold_start)?,
        local_access: pick(rounds, lent, |s| &s.local_access)?,
        slowdown: pick(rounds, lent, |s| &s.slowdown)?,
        memory_per_context: pick(rounds, lent, |s| &s.memory_per_context)?,
        details,
        slowdown_by_class: by_class,
        local_access_per_byte: combine_lent(&per_byte, lent),
        ..first.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;
    use costmodel::Nanos;

    fn m(point: f64, half: f64) -> Estimate<Nanos> {
        Estimate::measured(
            Nanos::new(point),
            Nanos::new(point - half),
            Nanos::new(point + half),
            0.95,
            10,
            "timed",
        )
    }

    // The reference profile with one transport, no schemes, its link coefficients marked
    // measured as a run measures them (the reference profile's are cited).
    fn one_measured_transport() -> HostProfile {
        let mut base = crate::profile::reference().unwrap();
        base.isolation.clear();
        let keep = *base.transports.keys().next().unwrap();
        base.transports.retain(|k, _| *k == keep);
        let measured = Source::Measured {
            method: "test".to_owned(),
        };
        for t in base.transports.values_mut() {
            for l in [&mut t.unloaded, &mut t.saturated] {
                l.round_trip.source = measured.clone();
                for side in [&mut l.client, &mut l.server] {
                    side.per_request.source = measured.clone();
                    side.per_byte.source = measured.clone();
                }
            }
            t.other_cores = None;
            t.server_terms = None;
        }
        base
    }

    // `base` with its round trips times `f` and its other link coefficients times `g`.
    fn scaled(base: &HostProfile, f: f64, g: f64) -> HostProfile {
        let mut p = base.clone();
        for t in p.transports.values_mut() {
            for l in [&mut t.unloaded, &mut t.saturated] {
                l.round_trip.point = Nanos::new(l.round_trip.point.get() * f);
                for side in [&mut l.client, &mut l.server] {
                    side.per_request.point = Nanos::new(side.per_request.point.get() * g);
                    side.per_byte.point = NanosPerByte::new(side.per_byte.point.get() * g);
                }
            }
        }
        p
    }

    #[test]
    fn the_spread_compares_each_coefficient_over_the_rounds_that_measured_it() {
        // One transport, no schemes; `f` scales its round trips, `g` everything else of it.
        let base = one_measured_transport();
        let round = |f: f64, g: f64| scaled(&base, f, g);
        let counted = crate::report::coefficients(&base)
            .into_iter()
            .filter(|c| c.path.starts_with("transports.") && c.measured && c.point > 0.0)
            .count();
        assert!(counted >= 4, "{counted}");
        assert_eq!(
            spread(std::slice::from_ref(&base)),
            None,
            "one round compares nothing"
        );
        let same = spread(&[round(1.0, 1.0), round(1.0, 1.0)]).unwrap();
        assert_eq!(same.coefficients as usize, counted);
        assert_eq!((same.median, same.p75), (1.0, 1.0));
        // Everything 1.5x apart from the smallest round to the largest, the middle between.
        let all = spread(&[round(1.0, 1.0), round(1.5, 1.5), round(1.2, 1.2)]).unwrap();
        assert!(
            (all.median - 1.5).abs() < 1e-9 && (all.p75 - 1.5).abs() < 1e-9,
            "{all:?}"
        );
        // Only the round trips (2 of the link coefficients, a minority): the median stays 1.
        let few = spread(&[round(1.0, 1.0), round(2.0, 1.0)]).unwrap();
        assert_eq!(few.median, 1.0, "{few:?}");
        // A coefficient measured in one round only is not compared.
        let mut lone = round(1.0, 1.0);
        lone.transports.clear();
        assert_eq!(spread(&[lone, round(1.5, 1.5)]), None);
    }

    #[test]
    fn odd_rounds_measure_their_points_in_reverse() {
        assert_eq!(order(0, 3), vec![0, 1, 2]);
        assert_eq!(order(1, 3), vec![2, 1, 0]);
        assert_eq!(order(2, 3), vec![0, 1, 2]);
        assert!(order(1, 0).is_empty());
    }

    #[test]
    fn rounds_combine_into_a_wider_interval_around_the_median() {
        let (a, b, c) = (m(100.0, 1.0), m(110.0, 1.0), m(104.0, 1.0));
        let e = combine(&[(&a, true), (&b, true), (&c, true)]).unwrap();
        assert!((e.point.get() - 104.0).abs() < 1e-9);
        // s = 5.03, t(2) = 4.303, sqrt(2/3): between = 17.7; within = 1/sqrt(3).
        let half = e.upper.get() - 104.0;
        assert!((half - 17.68).abs() < 0.05, "{half}");
        assert_eq!(e.samples, 30);
        assert!(e.source.detail().contains("median of 3 interleaved rounds"));
    }

    // A very wide interval stops at the format's limit (a slowdown of 1e6), so the profile
    // still loads.
    #[test]
    fn a_wide_interval_stops_at_the_format_limit() {
        let f = |x: f64| {
            Estimate::measured(Factor::new(x), Factor::new(x), Factor::new(x), 0.95, 5, "k")
        };
        let (a, b, c) = (f(1e5), f(3.7e5), f(6e5));
        let e = combine(&[(&a, true), (&b, true), (&c, true)]).unwrap();
        assert!((e.upper.get() - limits::MAX_SLOWDOWN).abs() < 1e-9, "{e:?}");
        assert!(e.lower.get() >= 0.0 && e.lower.get() <= e.point.get());
    }

    #[test]
    fn contaminated_rounds_are_left_out_when_a_clean_one_exists() {
        let (a, b, c) = (m(100.0, 1.0), m(300.0, 1.0), m(102.0, 1.0));
        let e = combine(&[(&a, true), (&b, false), (&c, true)]).unwrap();
        assert!((e.point.get() - 101.0).abs() < 1e-9);
        assert!(
            e.source
                .detail()
                .contains("1 over a noise threshold left out")
        );
        let lit = Estimate::cited(Nanos::new(5.0), "paper");
        let e = combine(&[(&lit, true), (&lit, true)]).unwrap();
        assert_eq!(e, lit);
        assert!(combine::<Nanos>(&[]).is_none());
    }

    // Rounds on cores another guest shared are left out when a round on free cores measured
    // the coefficient (as contaminated ones are when a clean one did), and used when none did;
    // the source says which were left out and why.
    #[test]
    fn rounds_on_shared_cores_are_left_out_when_one_on_free_cores_exists() {
        let (free, shared, over) = (Mark::Free, Mark::Shared, Mark::Over);
        let r: Vec<Estimate<Nanos>> = [100.0, 130.0, 104.0, 128.0, 300.0]
            .iter()
            .map(|&x| m(x, 1.0))
            .collect();
        let marks = [free, shared, free, shared, over];
        let v: Vec<(&Estimate<Nanos>, Mark)> = r.iter().zip(marks).collect();
        let e = combine_lent(&v, None).unwrap();
        assert!((e.point.get() - 102.0).abs() < 1e-9, "{e:?}");
        let why = e.source.detail();
        assert!(
            why.contains(
                "median of 2 interleaved rounds [100.0000, 104.0000] (1 over a noise \
                 threshold, 2 on cores shared with another guest left out)"
            ),
            "{why}"
        );
        // No free round: the clean ones on shared cores, and the source says so.
        let v: Vec<(&Estimate<Nanos>, Mark)> =
            vec![(&r[1], shared), (&r[4], over), (&r[3], shared)];
        let e = combine_lent(&v, None).unwrap();
        assert!((e.point.get() - 129.0).abs() < 1e-9, "{e:?}");
        let why = e.source.detail();
        assert!(
            why.contains("(1 over a noise threshold left out); every clean round on cores shared"),
            "{why}"
        );
        // One free round: kept alone, with the run's lent half-width.
        let lent = Lent {
            half: 0.1,
            coefficients: 30,
        };
        let v: Vec<(&Estimate<Nanos>, Mark)> =
            vec![(&r[1], shared), (&r[0], free), (&r[3], shared)];
        let e = combine_lent(&v, Some(&lent)).unwrap();
        assert_eq!(e.point.get(), 100.0);
        assert!(
            (e.upper.get() - (100.0 + 10.0_f64.hypot(1.0))).abs() < 1e-9,
            "{e:?}"
        );
        let why = e.source.detail();
        assert!(
            why.contains("1 of 3 rounds kept (2 on cores shared with another guest left out)"),
            "{why}"
        );
        // The marks order worst to best, and a round's mark follows its blocks.
        assert!(over < shared && shared < free);
        assert_eq!(Mark::of(false, true), over);
        assert_eq!(Mark::of(true, true), shared);
        assert_eq!(Mark::of(true, false), free);
        assert_eq!(Mark::best([shared, over, shared]), Some(shared));
        assert_eq!(Mark::best([]), None);
    }

    // Property: when each round is the truth plus normal noise, the combined 95% interval of
    // one run holds an independent next run's point in about 95% of trials (at least 88% of
    // 400 seeded trials here, and not all of them: the interval is not vacuous).
    #[test]
    fn the_interval_predicts_the_next_calibration() {
        let mut rng = Rng::new(0x15);
        let run = |rng: &mut Rng| {
            let r: Vec<Estimate<Nanos>> =
                (0..4).map(|_| m(100.0 + 5.0 * rng.normal(), 0.5)).collect();
            let v: Vec<(&Estimate<Nanos>, bool)> = r.iter().map(|e| (e, true)).collect();
            combine(&v).unwrap()
        };
        let trials = 400;
        let mut inside = 0;
        for _ in 0..trials {
            let (a, b) = (run(&mut rng), run(&mut rng));
            if a.lower.get() <= b.point.get() && b.point.get() <= a.upper.get() {
                inside += 1;
            }
        }
        let rate = f64::from(inside) / f64::from(trials);
        assert!((0.88..0.999).contains(&rate), "coverage {rate}");
    }

    // A coefficient left with one clean round borrows the run's between-round half-width; with
    // two or more it keeps its own, and a cited value is left alone.
    #[test]
    fn a_coefficient_left_with_one_round_borrows_the_runs_half_width() {
        let lent = Lent {
            half: 0.2,
            coefficients: 40,
        };
        let (a, b, c) = (m(100.0, 1.0), m(300.0, 1.0), m(250.0, 1.0));
        let (free, over) = (Mark::Free, Mark::Over);
        let one = combine_lent(&[(&a, free), (&b, over), (&c, over)], Some(&lent)).unwrap();
        assert!((one.point.get() - 100.0).abs() < 1e-9);
        // sqrt(20^2 + 1^2) each side.
        let half = 20.0_f64.hypot(1.0);
        assert!((one.upper.get() - (100.0 + half)).abs() < 1e-9, "{one:?}");
        assert!((one.lower.get() - (100.0 - half)).abs() < 1e-9, "{one:?}");
        let why = one.source.detail();
        assert!(why.contains("1 of 3 rounds kept"), "{why}");
        assert!(
            why.contains("20.0% of the point") && why.contains("over 40"),
            "{why}"
        );
        // Without a lent width: the round's own interval, as before.
        let alone = combine(&[(&a, true), (&b, false), (&c, false)]).unwrap();
        assert_eq!((alone.lower.get(), alone.upper.get()), (99.0, 101.0));
        // Two rounds or more: their own spread, the lent width unused.
        let (d, e) = (m(100.0, 1.0), m(102.0, 1.0));
        let two = combine_lent(&[(&d, free), (&e, free)], Some(&lent)).unwrap();
        assert_eq!(two, combine(&[(&d, true), (&e, true)]).unwrap());
        let lit = Estimate::cited(Nanos::new(5.0), "paper");
        assert_eq!(lent.widen(&lit, "one block"), lit);
        // Never below 0 for a quantity whose intervals are not.
        let small = m(10.0, 1.0);
        let wide = Lent { half: 3.0, ..lent };
        assert_eq!(wide.widen(&small, "one block").lower.get(), 0.0);
    }

    #[test]
    fn the_lent_width_is_the_median_between_round_width_of_the_runs_coefficients() {
        let base = one_measured_transport();
        let scaled = |f: f64| scaled(&base, f, f);
        // Every coefficient 1.0, 1.1, 1.2 times its value: s / median = 0.1 / 1.1.
        let l = Lent::from_rounds(&[scaled(1.0), scaled(1.1), scaled(1.2)]).unwrap();
        let want = t975(2) * 0.1 * (2.0_f64 / 3.0).sqrt() / 1.1;
        assert!((l.half - want).abs() < 1e-9, "{l:?} against {want}");
        assert!(l.coefficients >= 4);
        assert!(Lent::from_rounds(std::slice::from_ref(&base)).is_none());
        assert!(Lent::from_rounds(&[]).is_none());
    }

    // Property: a run keeps one clean round of half its coefficients (the others in three).
    // Each round is the truth plus 10% normal noise and a within-round interval of 0.5%: the
    // one-round intervals alone hold the next run's point in few trials; borrowing the run's
    // half-width they hold it in most (at least 85% of 400 seeded trials here).
    #[test]
    fn a_borrowed_width_predicts_the_next_calibration() {
        let mut rng = Rng::new(0x0f15);
        let trials = 400;
        let (mut alone, mut lent_in) = (0, 0);
        for _ in 0..trials {
            // The run's multi-round coefficients: 20 of them, each 3 rounds, for the lent width.
            let mut rel = Vec::new();
            for _ in 0..20 {
                let v: Vec<f64> = (0..3).map(|_| 100.0 * (1.0 + 0.1 * rng.normal())).collect();
                rel.push(between(&v) / median(&v));
            }
            rel.sort_by(f64::total_cmp);
            let lent = Lent {
                half: quantile_sorted(&rel, 0.5),
                coefficients: rel.len(),
            };
            let once = m(100.0 * (1.0 + 0.1 * rng.normal()), 0.5);
            let next: Vec<f64> = (0..3).map(|_| 100.0 * (1.0 + 0.1 * rng.normal())).collect();
            let next = median(&next);
            let own = combine(&[(&once, true)]).unwrap();
            let wide = combine_lent(&[(&once, Mark::Free)], Some(&lent)).unwrap();
            alone += usize::from(own.lower.get() <= next && next <= own.upper.get());
            lent_in += usize::from(wide.lower.get() <= next && next <= wide.upper.get());
        }
        let rate = |k: usize| k as f64 / f64::from(trials);
        assert!(rate(alone) < 0.2, "alone {}", rate(alone));
        assert!(
            (0.85..0.9999).contains(&rate(lent_in)),
            "lent {}",
            rate(lent_in)
        );
    }

    // Only an unusable run whose redos were mostly for the machine state is measured again.
    #[test]
    fn a_run_is_measured_again_only_when_it_lost_its_machine_state() {
        use costmodel::{NoiseGrade, NoiseRecord, NoiseStat, PerSecond, Redo};
        let redo = |why: &str| Redo {
            block: "round 1/3: tcp cross-core ping-pong".to_owned(),
            reason: format!("try 1: {why}"),
        };
        let record = |grade, redos: Vec<Redo>| NoiseRecord {
            grade,
            rounds: 2,
            blocks: 40,
            redone: u32::try_from(redos.len()).unwrap(),
            contaminated: 12,
            steal_cores: NoiseStat::default(),
            other_cpu_cores: NoiseStat::default(),
            involuntary_switches_per_s: PerSecond::new(0.0),
            steal_threshold: 0.1,
            other_cpu_threshold: 0.25,
            redos,
            core_state: None,
            speed: Vec::new(),
            round_spread: None,
            shared_cores: None,
        };
        let state = "machine state: cache-line round trip 40 ns before, 360 ns after";
        let lost = record(
            NoiseGrade::Unusable,
            vec![redo(state), redo(state), redo("steal")],
        );
        let why = lost_state(&lost).unwrap();
        assert!(why.contains("2 of 3 redos"), "{why}");
        assert!(lost_state(&record(NoiseGrade::Unusable, vec![redo("steal 0.3 cores")])).is_none());
        assert!(lost_state(&record(NoiseGrade::Noisy, vec![redo(state)])).is_none());
    }
}
