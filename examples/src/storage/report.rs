//! The sweep's report: the fidelity line, the measured-vs-predicted table, the CSV and the
//! plot files.

use std::fmt::Write as _;
use std::path::Path;

use super::experiment::{Point, Report, Summary};

impl Report {
    /// Median absolute error of predicted server CPU per invocation, percent, over the points
    /// scored ([`Point::scored`]; NaN when none is).
    pub fn median_abs_error_pct(&self) -> f64 {
        Summary::of(self.scored().map(Point::abs_error_pct).collect()).median
    }

    /// The points measured in at least one clean block: those the figures count.
    pub fn scored(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| p.scored())
    }

    /// Share of (scheme, compute, k) decisions where the model picked the measured winner.
    pub fn decision_accuracy_pct(&self) -> f64 {
        100.0 * self.correct_decisions as f64 / self.decisions.max(1) as f64
    }

    /// Compares the sweep's speed with `reference`'s (a calibration that priced it, `name`),
    /// keeping the comparison that differs most of those made. Nothing when either has no
    /// timing on a common CPU.
    pub fn check_speed(&mut self, reference: &costmodel::NoiseRecord, name: &str) {
        if let Some(cores) = reference.shared_cores {
            self.cores_reference.push((cores, name.to_owned()));
        }
        if let Some(c) = self.noise.cores_against(reference) {
            let off = |c: &costmodel::CoresCheck| c.ratio().ln().abs();
            if self.cores.as_ref().is_none_or(|(o, _)| off(&c) > off(o)) {
                self.cores = Some((c, name.to_owned()));
            }
        }
        let Some(c) = self.noise.speed_against(reference) else {
            return;
        };
        let off = |c: &costmodel::SpeedCheck| c.ratio().ln().abs();
        if self.speed.as_ref().is_none_or(|(o, _)| off(&c) > off(o)) {
            self.speed = Some((c, name.to_owned()));
        }
    }

    /// `speed: the host ran 1.02x slower than the reference (...) (the host profile's
    /// calibration): one speed (within 1.25x)`, when a comparison was made.
    pub fn speed_line(&self) -> Option<String> {
        let (c, name) = self.speed.as_ref()?;
        Some(format!(
            "speed: over the sweep {} ({name}): {}",
            c.describe(),
            verdict(c.holds(), "speed", costmodel::CpuSpeed::FACTOR)
        ))
    }

    /// `cores: over the sweep shared around 47 of 48 blocks (median 1.24x, 2.963 ns/round);
    /// the host profile's calibration: around 63 of 98 (median 1.12x, 2.671 ns/round) (shares
    /// against each run's own fastest timing, over 1.05x counted); the cores ran 1.11x slower
    /// than the reference's (...) (the host profile's calibration): another core (beyond
    /// 1.05x)`, when the sweep timed the wide kernel ([`calibrate::noise::sibling`]). A sweep
    /// whose cores ran at another speed than its calibration's measures a slower (or faster)
    /// machine than the one priced and gives no number ([`Report::unscored`]).
    pub fn cores_line(&self) -> Option<String> {
        let own = self.noise.shared_cores?;
        let ns = |c: &costmodel::SharedCores| {
            c.median_ns
                .map_or(String::new(), |m| format!(", {m:.3} ns/round"))
        };
        let mut line = format!(
            "cores: over the sweep shared around {} of {} blocks (median {:.2}x{})",
            own.shared,
            own.blocks,
            own.median,
            ns(&own)
        );
        for (c, name) in &self.cores_reference {
            let _ = write!(
                line,
                "; {name}: around {} of {} (median {:.2}x{})",
                c.shared,
                c.blocks,
                c.median,
                ns(c)
            );
        }
        let _ = write!(
            line,
            " (shares against each run's own fastest timing, over {:.2}x counted)",
            own.factor
        );
        match &self.cores {
            Some((c, name)) => {
                let _ = write!(
                    line,
                    "; {} ({name}): {}",
                    c.describe(),
                    verdict(c.holds(), "core", costmodel::SharedCores::FACTOR)
                );
            }
            None => line.push_str("; not compared (a run without the timing in ns)"),
        }
        if !self.round_cores.is_empty() {
            let matched = self.round_cores.iter().filter(|r| r.matched()).count();
            let tries: usize = self.round_cores.iter().map(|r| r.tries).sum();
            let ratios: Vec<String> = self
                .round_cores
                .iter()
                .map(|r| format!("{:.2}x", r.ratio))
                .collect();
            let waited: std::time::Duration = self.cores_waits.iter().map(|w| w.waited).sum();
            let _ = write!(
                line,
                "; {matched} of {} rounds measured on cores like the calibration's ({}; {tries} \
                 tries, {} waits, {:.1} s waited in all)",
                self.round_cores.len(),
                ratios.join(", "),
                self.cores_waits.len(),
                waited.as_secs_f64(),
            );
        }
        Some(line)
    }

    /// Why the sweep gives no fidelity figure, if it gives none: the measured side was too noisy
    /// to measure (graded unusable: steal, other processes, or a machine state other than the
    /// profile's in over a quarter of its blocks), or the calibration's cores or the sweep's
    /// read shared with another guest around most blocks
    /// ([`costmodel::SharedCores::mostly_shared`]), or the host ran at another speed than when
    /// the prediction's calibration measured it ([`costmodel::CpuSpeed::FACTOR`]), or its cores
    /// did ([`costmodel::SharedCores::FACTOR`]: the wide kernel's median timings).
    pub fn unscored(&self) -> Option<String> {
        if self.noise.grade == costmodel::NoiseGrade::Unusable {
            return Some(format!(
                "the measured side was too noisy to measure ({})",
                self.noise.summary()
            ));
        }
        // As the grade's quarter: a figure over three quarters of the grid or less would be a
        // figure of another grid.
        let left_out = self.points.len() - self.scored().count();
        if left_out * 4 > self.points.len() {
            return Some(format!(
                "the measured side was too noisy to measure: {left_out} of {} points without a \
                 block under the noise thresholds ({})",
                self.points.len(),
                self.noise.summary()
            ));
        }
        // A machine another guest shared around most blocks, on either side: a calibration that
        // priced such a machine, or a sweep that measured one, would put that guest's load in
        // the figure (`SharedCores::mostly_shared`; the calibration is named first, as no sweep
        // can make up for it).
        let shared = |c: &costmodel::SharedCores| {
            format!(
                "cores shared with another guest around {} of {} blocks (wide kernel over \
                 {:.2}x the run's fastest; median {:.2}x)",
                c.shared, c.blocks, c.factor, c.median
            )
        };
        if let Some((c, name)) = self.cores_reference.iter().find(|(c, _)| c.mostly_shared()) {
            return Some(format!(
                "{name} read its {}: it priced a machine whose speed another guest set, and a \
                 figure against it would score that guest",
                shared(c)
            ));
        }
        if let Some(c) = self
            .noise
            .shared_cores
            .filter(costmodel::SharedCores::mostly_shared)
        {
            return Some(format!(
                "the measured side read its {}: it measured a machine whose speed another guest \
                 set",
                shared(&c)
            ));
        }
        if let Some((c, name)) = self.speed.as_ref().filter(|(c, _)| !c.holds()) {
            return Some(format!(
                "over the sweep {} ({name}), beyond {:.2}x",
                c.describe(),
                costmodel::CpuSpeed::FACTOR
            ));
        }
        self.cores
            .as_ref()
            .filter(|(c, _)| !c.holds())
            .map(|(c, name)| {
                format!(
                    "over the sweep {} ({name}), beyond {:.2}x: the sweep measured another \
                     machine than the one priced",
                    c.describe(),
                    costmodel::SharedCores::FACTOR
                )
            })
    }

    /// How the scored points' measurements sit against their predictions as a whole
    /// ([`Level::of`]); nothing when the sweep gives no figure ([`Report::unscored`]).
    pub fn level(&self) -> Option<Level> {
        if self.unscored().is_some() {
            return None;
        }
        let points: Vec<(f64, f64, f64)> = self
            .scored()
            .map(|p| (p.server_cpu_ns.median, p.predicted_cpu_ns, p.compute_us))
            .collect();
        Level::of(&points)
    }

    /// How far apart a point's repetitions read: the median over the scored points of their
    /// slowest over their fastest repetition (1.0 with one repetition each); `None` when no
    /// scored point has a positive fastest one. The measured side's own repeatability, which
    /// no prediction can be expected to beat (as the calibration's `rounds 1.18x apart`).
    pub fn repetition_spread(&self) -> Option<f64> {
        let spreads: Vec<f64> = self
            .scored()
            .filter(|p| p.server_cpu_ns.min > 0.0 && p.server_cpu_ns.max.is_finite())
            .map(|p| p.server_cpu_ns.max / p.server_cpu_ns.min)
            .collect();
        (!spreads.is_empty()).then(|| Summary::of(spreads).median)
    }

    /// `level: the scored points measured 1.12x their predictions (...); with that one factor
    /// taken out the median abs error is 5.1% (...); a point's repetitions 1.04x apart (...)`,
    /// when the sweep gives a figure ([`Report::level`], [`Report::repetition_spread`]).
    /// Reported, not judged: the figure stays the fidelity line's.
    pub fn level_line(&self) -> Option<String> {
        let l = self.level()?;
        let reps = self.repetition_spread().map_or(String::new(), |r| {
            format!(
                "; a point's repetitions {r:.2}x apart (median over the points of the slowest \
                 over the fastest)"
            )
        });
        let by_compute: Vec<String> = l
            .by_compute
            .iter()
            .map(|(c, r)| format!("{r:.2}x at {c} us"))
            .collect();
        Some(format!(
            "level: the scored points measured {:.2}x their predictions (median; {:.2}x to \
             {:.2}x by point; {}); with that one factor taken out the median abs error is {:.1}% \
             (a host that drifted between the calibration and the sweep moves every point alike; \
             what is left is the model's shape){reps} (reported, not judged)",
            l.ratio,
            l.lowest,
            l.highest,
            by_compute.join(", "),
            l.shape_error_pct
        ))
    }

    /// The required last line: the figures, or a line saying why there is no number instead
    /// ([`Report::unscored`]).
    pub fn fidelity_line(&self) -> String {
        if let Some(why) = self.unscored() {
            return format!(
                "fidelity: not scored: {why}; no number is given for {} points",
                self.points.len()
            );
        }
        let scored = self.scored().count();
        let left_out = self.points.len() - scored;
        format!(
            "fidelity: median_abs_error_pct={:.1} decision_accuracy_pct={:.1} points={scored}{}",
            self.median_abs_error_pct(),
            self.decision_accuracy_pct(),
            if left_out == 0 {
                String::new()
            } else {
                format!(
                    " ({left_out} of {} left out: no block under the noise thresholds)",
                    self.points.len()
                )
            }
        )
    }

    /// The measured-vs-predicted table and the crossover table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<16} {:>3} {:>6} {:>12} {:>21} {:>12} {:>7} {:>12} {:>12}",
            "side",
            "k",
            "c(us)",
            "cpu/inv(us)",
            "[min .. max]",
            "pred(us)",
            "err%",
            "kops/s",
            "pred kops/s"
        );
        for p in &self.points {
            let _ = writeln!(
                s,
                "{:<16} {:>3} {:>6.1} {:>12.2} {:>21} {:>12.2} {:>7.1} {:>12.1} {:>12.1}{}",
                p.side.to_string(),
                p.records,
                p.compute_us,
                p.server_cpu_ns.median / 1e3,
                format!(
                    "[{:.2} .. {:.2}]",
                    p.server_cpu_ns.min / 1e3,
                    p.server_cpu_ns.max / 1e3
                ),
                p.predicted_cpu_ns / 1e3,
                p.abs_error_pct(),
                p.capacity() / 1e3,
                p.predicted_capacity() / 1e3,
                if p.scored() {
                    ""
                } else {
                    "  (not scored: no clean block)"
                },
            );
        }
        let _ = writeln!(
            s,
            "\ncrossover k* (inside starts to win), measured vs predicted:"
        );
        let _ = writeln!(
            s,
            "{:<8} {:>6} {:>24} {:>10}",
            "scheme", "c(us)", "measured", "predicted"
        );
        for r in &self.crossovers {
            let m = r
                .measured
                .map_or_else(|| r.measured_note.to_owned(), |k| format!("{k:.2}"));
            let p = r
                .predicted
                .map_or_else(|| "never".to_owned(), |k| format!("{k:.2}"));
            let _ = writeln!(
                s,
                "{:<8} {:>6.1} {:>24} {:>10}",
                r.scheme, r.compute_us, m, p
            );
        }
        let _ = writeln!(
            s,
            "\nmeasured side: {}",
            calibrate::noise::report::grade_line(&self.noise)
        );
        let later: Vec<&str> = self
            .noise
            .redos
            .iter()
            .filter(|r| r.reason.starts_with(calibrate::noise::block::LATER))
            .map(|r| r.block.as_str())
            .collect();
        if !later.is_empty() {
            let mut blocks = later.clone();
            blocks.sort_unstable();
            blocks.dedup();
            let left_out = self.points.len() - self.scored().count();
            let _ = writeln!(
                s,
                "measured again after the rounds (every try in them over a threshold): {} tries of {} \
                 points; {left_out} still without a clean block, left out of the figures",
                later.len(),
                blocks.len()
            );
        }
        s
    }

    /// Every point as CSV.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "side,records,compute_us,rounds,server_cpu_ns_median,server_cpu_ns_min,server_cpu_ns_max,predicted_cpu_ns,abs_error_pct,throughput_median,throughput_min,throughput_max,capacity,predicted_capacity,requests_per_invocation,requests_per_read,requests_per_wakeup,preemptions_per_k_requests,client_wakeups_per_request,probe_rtt_ns,clean_reps\n",
        );
        for p in &self.points {
            let _ = writeln!(
                s,
                "{},{},{},{},{:.1},{:.1},{:.1},{:.1},{:.2},{:.1},{:.1},{:.1},{:.1},{:.1},{:.3},{:.2},{:.2},{:.3},{:.4},{:.0},{}",
                p.side,
                p.records,
                p.compute_us,
                p.rounds,
                p.server_cpu_ns.median,
                p.server_cpu_ns.min,
                p.server_cpu_ns.max,
                p.predicted_cpu_ns,
                p.abs_error_pct(),
                p.throughput.median,
                p.throughput.min,
                p.throughput.max,
                p.capacity(),
                p.predicted_capacity(),
                p.requests_per_invocation,
                p.requests_per_read,
                p.requests_per_wakeup,
                p.preemptions_per_k_requests,
                p.client_wakeups_per_request,
                p.probe_rtt_ns,
                p.clean_reps,
            );
        }
        s
    }

    /// Writes the CSV and the SVG plot into `dir`.
    ///
    /// # Errors
    /// I/O errors, or a plotting error as `Other`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("storage-fidelity.csv"), self.csv())?;
        super::plot::write_svg(self, &dir.join("storage-fidelity.svg"))
    }
}

/// How a sweep's measurements sit against their predictions as a whole: the one factor by
/// which the measured side differs from the predicted (the median of the points' measured over
/// predicted: as robust as the figure it sits beside), and the error left when it is divided
/// out. Time between the calibration and the sweep on a drifting host moves every point's
/// measurement alike (the transport's, the caches'), which a factor shared by all points
/// shows; what a factor cannot absorb is the model's shape: how the costs move with records,
/// compute and scheme.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// Median of measured / predicted over the points.
    pub ratio: f64,
    /// The lowest point's measured / predicted.
    pub lowest: f64,
    /// The highest point's.
    pub highest: f64,
    /// `(compute us, median of measured / predicted)` per compute level, in order.
    pub by_compute: Vec<(f64, f64)>,
    /// Median over the points of `|ratio * predicted - measured| / measured`, percent: the
    /// fidelity figure's error with the factor divided out.
    pub shape_error_pct: f64,
}

impl Level {
    /// The level of `points` (`(measured, predicted, compute us)` each), over those whose
    /// measured and predicted costs are both positive and finite; `None` when there is none.
    pub fn of(points: &[(f64, f64, f64)]) -> Option<Level> {
        let usable: Vec<(f64, f64, f64)> = points
            .iter()
            .copied()
            .filter(|&(m, p, _)| m.is_finite() && p.is_finite() && m > 0.0 && p > 0.0)
            .collect();
        if usable.is_empty() {
            return None;
        }
        // Measured over predicted, each point: the median, lowest and highest in one summary.
        let ratios = |of: &dyn Fn(f64) -> bool| {
            Summary::of(
                usable
                    .iter()
                    .filter(|u| of(u.2))
                    .map(|&(m, p, _)| m / p)
                    .collect(),
            )
        };
        let all = ratios(&|_| true);
        let mut computes: Vec<f64> = usable.iter().map(|u| u.2).collect();
        computes.sort_by(f64::total_cmp);
        computes.dedup();
        let by_compute = computes
            .into_iter()
            .map(|c| (c, ratios(&|u| u == c).median))
            .collect();
        let errors = usable
            .iter()
            .map(|&(m, p, _)| ((all.median * p - m) / m).abs() * 100.0)
            .collect();
        Some(Level {
            ratio: all.median,
            lowest: all.min,
            highest: all.max,
            by_compute,
            shape_error_pct: Summary::of(errors).median,
        })
    }
}

/// `one core (within 1.05x)` when a check `holds`, else `another core (beyond 1.05x)`.
fn verdict(holds: bool, what: &str, factor: f64) -> String {
    if holds {
        format!("one {what} (within {factor:.2}x)")
    } else {
        format!("another {what} (beyond {factor:.2}x)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep with no points whose measured side's noise is `noise`, priced by a calibration
    /// whose cores read as `calibration`.
    fn report(
        noise: costmodel::NoiseRecord,
        calibration: Option<costmodel::SharedCores>,
    ) -> Report {
        Report {
            points: Vec::new(),
            crossovers: Vec::new(),
            ns_per_round: 1.0,
            pinned: true,
            decisions: 0,
            correct_decisions: 0,
            elapsed: std::time::Duration::ZERO,
            host: "host".to_owned(),
            predicted_from: "tcp".to_owned(),
            noise,
            speed: None,
            cores_reference: calibration
                .map(|c| (c, "the host profile's calibration".to_owned()))
                .into_iter()
                .collect(),
            cores: None,
            cores_waits: Vec::new(),
            round_cores: Vec::new(),
        }
    }

    fn cores(shared: u32, blocks: u32) -> costmodel::SharedCores {
        costmodel::SharedCores {
            blocks,
            shared,
            median: 1.12,
            max: 1.4,
            factor: 1.05,
            held: false,
            median_ns: Some(2.44),
            fastest_ns: Some(2.18),
        }
    }

    // A calibration whose cores another guest shared around most of its blocks priced that
    // guest's load; so did a sweep that measured on such cores. Either way no figure is given,
    // and the line says which side and how many blocks; half the blocks is not most.
    #[test]
    fn cores_shared_around_most_blocks_on_either_side_give_no_figure() {
        let quiet = calibrate::noise::block::NoiseLog::new(calibrate::noise::Thresholds::default())
            .record(2);
        assert_eq!(report(quiet.clone(), Some(cores(49, 98))).unscored(), None);
        let why = report(quiet.clone(), Some(cores(77, 98)))
            .unscored()
            .unwrap();
        assert!(
            why.starts_with(
                "the host profile's calibration read its cores shared with another guest around \
                 77 of 98 blocks"
            ),
            "{why}"
        );
        let mut shared = quiet.clone();
        shared.shared_cores = Some(cores(25, 48));
        let r = report(shared, Some(cores(10, 98)));
        let why = r.unscored().unwrap();
        assert!(
            why.starts_with(
                "the measured side read its cores shared with another guest around 25 of 48"
            ),
            "{why}"
        );
        assert!(
            r.fidelity_line().starts_with("fidelity: not scored: "),
            "{}",
            r.fidelity_line()
        );
        assert_eq!(r.level(), None);
    }

    #[test]
    fn a_level_shared_by_every_point_leaves_no_shape_error() {
        // Every point measured 1.2x its prediction: the factor is 1.2 and nothing is left.
        let points = [
            (120.0, 100.0, 0.0),
            (240.0, 200.0, 0.0),
            (600.0, 500.0, 5.0),
        ];
        let l = Level::of(&points).unwrap();
        assert!((l.ratio - 1.2).abs() < 1e-12, "{l:?}");
        assert!(l.shape_error_pct < 1e-9, "{l:?}");
        assert_eq!(l.by_compute.len(), 2);
        assert!((l.by_compute[1].1 - 1.2).abs() < 1e-12);
    }

    #[test]
    fn a_point_off_the_level_keeps_its_error_and_bad_points_are_skipped() {
        // Points at 1.0x, 1.1x and 2.0x: the median is 1.1 and the third point keeps most of
        // its error; unusable points (a zero prediction, a NaN measurement) count nowhere.
        let points = [
            (100.0, 100.0, 0.0),
            (110.0, 100.0, 0.0),
            (200.0, 100.0, 5.0),
            (100.0, 0.0, 0.0),
            (f64::NAN, 100.0, 0.0),
        ];
        let l = Level::of(&points).unwrap();
        assert!((l.ratio - 1.1).abs() < 1e-12, "{l:?}");
        assert_eq!((l.lowest, l.highest), (1.0, 2.0));
        // Errors after the factor: 10%, 0 and 45%: the median is 10%.
        assert!((l.shape_error_pct - 10.0).abs() < 1e-9, "{l:?}");
        assert_eq!(l.by_compute.len(), 2);
        assert!((l.by_compute[0].1 - 1.05).abs() < 1e-12, "{l:?}");
        assert_eq!(l.by_compute[1], (5.0, 2.0));
        assert!(Level::of(&[(1.0, 0.0, 0.0)]).is_none());
    }
}
