//! The machine's state during a sweep, from the ping-pong probe before every sample
//! ([`super::sweep::Sample::probe_rtt_ns`]).
//!
//! On the 2-vCPU VMs this project runs on, one unchanging ping-pong flips between two levels
//! about 2x apart (Redis: 8.0-8.5 us of server CPU per request at about 60k requests/s, or
//! 4.2-4.9 us at 116-143k/s), dwelling from half a second to over 20 s in each, with nothing in
//! steal or other processes' CPU to show it. Server CPU per request moves with the round trip,
//! so a calibration whose samples fall in both states fits neither. The probe's spread says
//! whether that happened (reported and flagged here); the request terms are fitted to the
//! samples of the state most samples saw ([`super::terms::fit`]).

use costmodel::SanityFlag;

use super::sweep::{Point, Sweep};

/// How far apart the probe's 10th and 90th percentiles may be before the sweep is said to have
/// seen the machine in more than one state (a round factor, not fitted to any result; the same
/// one the fidelity examples' state check uses).
pub const SPREAD_FACTOR: f64 = 1.25;

/// The probe's round trips over a sweep's samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeSpread {
    /// Samples with a probe.
    pub samples: usize,
    /// 10th percentile, ns.
    pub p10: f64,
    /// Median, ns.
    pub p50: f64,
    /// 90th percentile, ns.
    pub p90: f64,
}

/// Whether a probe round trip `rtt_ns` is in the same machine state as `reference_ns`: within
/// [`SPREAD_FACTOR`] of it either way. The one place that says what "the same state" is.
pub fn same_state(reference_ns: f64, rtt_ns: f64) -> bool {
    (reference_ns / SPREAD_FACTOR..=reference_ns * SPREAD_FACTOR).contains(&rtt_ns)
}

impl ProbeSpread {
    /// The probe's percentiles over every sample of `sweep` that has one.
    pub fn of(sweep: &Sweep) -> Option<Self> {
        Self::of_points(&sweep.points)
    }

    /// The probe's percentiles over every sample of `points` that has one.
    pub fn of_points(points: &[Point]) -> Option<Self> {
        let mut rtt: Vec<f64> = points
            .iter()
            .flat_map(|p| p.samples.iter().map(|s| s.probe_rtt_ns))
            .filter(|r| *r > 0.0)
            .collect();
        if rtt.is_empty() {
            return None;
        }
        rtt.sort_by(f64::total_cmp);
        // Nearest rank, by integer arithmetic: q in tenths.
        let at = |tenths: usize| rtt[((rtt.len() - 1) * tenths + 5) / 10];
        Some(ProbeSpread {
            samples: rtt.len(),
            p10: at(1),
            p50: at(5),
            p90: at(9),
        })
    }

    /// `p90 / p10`.
    pub fn ratio(&self) -> f64 {
        self.p90 / self.p10.max(1e-9)
    }

    /// Whether the samples saw more than one state.
    pub fn mixed(&self) -> bool {
        self.ratio() > SPREAD_FACTOR
    }

    /// One line for the summary.
    pub fn line(&self) -> String {
        format!(
            "machine state: probe round trip p10 {:.1} us, median {:.1} us, p90 {:.1} us over {} \
             samples ({:.2}x){}",
            self.p10 / 1e3,
            self.p50 / 1e3,
            self.p90 / 1e3,
            self.samples,
            self.ratio(),
            if self.mixed() {
                ": MIXED, the samples fell in more than one machine state; the request terms \
                 are fitted to the samples near the median round trip (see the probe column and \
                 the fit's notes for how many)"
            } else {
                ": one state"
            }
        )
    }

    /// A sanity flag on `base.server_terms` when the samples saw more than one state.
    pub fn flag(&self, base: &str) -> Option<SanityFlag> {
        self.mixed().then(|| SanityFlag {
            field: format!("{base}.server_terms.probe_spread"),
            value: self.ratio(),
            low: 1.0,
            high: SPREAD_FACTOR,
            note: format!(
                "the ping-pong probe before each sample ranged {:.1}-{:.1} us (p10-p90): the \
                 machine changed state during the sweep, and server CPU per request moves with \
                 it; the terms were fitted to the samples near the median round trip (the \
                 fit's notes say how many), the entry's version-1 links to all",
                self.p10 / 1e3,
                self.p90 / 1e3
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::Thresholds;
    use crate::noise::block::NoiseLog;
    use crate::server::procfs::ProcSample;
    use crate::server::sweep::{Idle, Point, PointSpec, Sample};

    fn sweep(rtts: &[f64]) -> Sweep {
        let spec = PointSpec::blocked(1, 1, 64, 1);
        let samples = (0u32..)
            .zip(rtts)
            .map(|(round, &probe_rtt_ns)| Sample {
                round,
                requests: 1_000,
                value_bytes: 64_000,
                wall_ns: 10_000_000,
                server: ProcSample::default(),
                client_cpu_ns: 0,
                client_wakeups: 0,
                probe_rtt_ns,
                clean: true,
            })
            .collect();
        Sweep {
            points: vec![Point { spec, samples }],
            idle: Idle::default(),
            rounds: 1,
            stopped: None,
            elapsed: std::time::Duration::ZERO,
            noise: NoiseLog::new(Thresholds::default()).record(1),
        }
    }

    #[test]
    fn two_states_are_flagged_one_is_not() {
        let one = ProbeSpread::of(&sweep(&[7_000.0, 7_200.0, 6_900.0, 7_100.0, 0.0])).unwrap();
        assert_eq!(one.samples, 4, "a failed probe (0) is left out");
        assert!(
            !one.mixed() && one.flag("transports.x").is_none(),
            "{}",
            one.line()
        );
        let mut rtts = vec![7_000.0; 6];
        rtts.extend([16_000.0; 4]);
        let two = ProbeSpread::of(&sweep(&rtts)).unwrap();
        assert!((two.ratio() - 16.0 / 7.0).abs() < 1e-9, "{two:?}");
        assert!(two.line().contains("MIXED"));
        let f = two.flag("transports.x").unwrap();
        assert_eq!(f.field, "transports.x.server_terms.probe_spread");
        assert!(ProbeSpread::of(&sweep(&[0.0])).is_none());
    }
}
