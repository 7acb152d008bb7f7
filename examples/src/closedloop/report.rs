//! The closed loop's report: metrics per policy, the CSV and the SVG plot.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::config::Config;
use super::runner::RunResult;

/// One policy's numbers.
#[derive(Clone, Debug)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// Throughput at saturation per phase, invocations/s.
    pub throughput: Vec<f64>,
    /// Server thread CPU per invocation per phase, ns.
    pub server_ns: Vec<f64>,
    /// Client/compute thread CPU per invocation per phase, ns.
    pub client_ns: Vec<f64>,
    /// p50 and p99 latency at 70% of saturation (base mix), ns.
    pub p50_ns: f64,
    /// See `p50_ns`.
    pub p99_ns: f64,
    /// Seconds after each phase change until the throughput settles (None: never did).
    pub convergence_s: Vec<Option<f64>>,
    /// Seconds after each phase change until the policy's own decision settles: from then to
    /// the phase's end it stays within [`SETTLED`] of where it ends the phase (`None`: a fixed
    /// policy, or no decision read in that phase).
    pub decision_settled_s: Vec<Option<f64>>,
    /// Throughput time series (invocations/s per bucket).
    pub series: Vec<f64>,
    /// The machine state before and after the saturation run: the cache-line round trip
    /// between the loop's two cores, ns (`calibrate::noise::core_state`; `None`: no reading).
    /// On a VM the host can move the two vCPUs apart mid-experiment, which moves every
    /// cross-core cost 2-6x; a comparison of policies run in different states says so.
    pub core_state_ns: [Option<f64>; 2],
    /// Steal during the saturation run, cores (`None`: not observable).
    pub steal_cores: Option<f64>,
    /// False when every try of the saturation run was over a noise threshold or out of the
    /// machine state (the least disturbed was kept).
    pub clean: bool,
}

/// Seconds until the 3-bucket moving average stays within 10% of the phase's steady state
/// (the mean of the phase's second half). Fixed rule, the same for every policy.
fn convergence(series: &[f64], bucket_s: f64) -> Option<f64> {
    if series.len() < 4 {
        return None;
    }
    let half = &series[series.len() / 2..];
    let steady = half.iter().sum::<f64>() / half.len() as f64;
    if steady <= 0.0 {
        return None;
    }
    let avg: Vec<f64> = series
        .windows(3)
        .map(|w| w.iter().sum::<f64>() / 3.0)
        .collect();
    let last_bad = avg.iter().rposition(|a| (a - steady).abs() > 0.1 * steady);
    match last_bad {
        None => Some(0.0),
        Some(i) if i + 1 < avg.len() => Some((i + 3) as f64 * bucket_s),
        Some(_) => None,
    }
}

/// How close (largest difference of any fraction inside) a decision must stay to where it ends
/// the phase to count as settled: 5 points of a split.
pub const SETTLED: f64 = 0.05;

/// Seconds from `start` until `decisions` (time, fractions) in `[start, end)` stay within
/// [`SETTLED`] of the last of them.
fn settled(decisions: &[(f64, Vec<f64>)], start: f64, end: f64) -> Option<f64> {
    let inside: Vec<&(f64, Vec<f64>)> = decisions
        .iter()
        .filter(|(t, _)| *t >= start && *t < end)
        .collect();
    let last = &inside.last()?.1;
    let far = |d: &[f64]| {
        d.len() != last.len() || d.iter().zip(last).any(|(a, b)| (a - b).abs() > SETTLED)
    };
    Some(
        inside
            .iter()
            .rposition(|(_, d)| far(d))
            .map_or(0.0, |i| inside.get(i + 1).map_or(end, |n| n.0) - start),
    )
}

impl PolicyReport {
    /// Summarises a saturation run and a latency run.
    pub fn new(name: &str, config: &Config, sat: &RunResult, lat: &RunResult) -> Self {
        let throughput = sat
            .completed
            .iter()
            .zip(&sat.seconds)
            .map(|(c, s)| *c as f64 / s.max(1e-9))
            .collect();
        let server_ns = sat
            .server_ns
            .iter()
            .zip(&sat.completed)
            .map(|(n, c)| *n as f64 / (*c).max(1) as f64)
            .collect();
        let client_ns = sat
            .client_ns
            .iter()
            .zip(&sat.completed)
            .map(|(n, c)| *n as f64 / (*c).max(1) as f64)
            .collect();
        let mut l = lat.latencies.clone();
        l.sort_unstable();
        let q = |p: f64| {
            l.get(super::runner::index(((l.len() as f64 - 1.0) * p).round()))
                .map_or(f64::NAN, |v| *v as f64)
        };
        let bucket_s = config.bucket.as_secs_f64();
        // Phase boundaries in buckets (phases run back to back; their lengths as measured).
        let mut edges = vec![0usize];
        let mut t = 0.0;
        for s in &sat.seconds {
            t += s;
            edges.push(super::runner::index((t / bucket_s).round()));
        }
        let convergence_s = (1..sat.seconds.len())
            .map(|p| {
                let a = edges[p].min(sat.series.len());
                let b = edges[p + 1].min(sat.series.len());
                convergence(&sat.series[a..b], bucket_s)
            })
            .collect();
        let mut at = 0.0;
        let starts: Vec<f64> = sat
            .seconds
            .iter()
            .map(|s| {
                at += s;
                at
            })
            .collect();
        let decision_settled_s = (1..sat.seconds.len())
            .map(|p| settled(&sat.decisions, starts[p - 1], starts[p]))
            .collect();
        PolicyReport {
            name: name.to_string(),
            decision_settled_s,
            throughput,
            server_ns,
            client_ns,
            p50_ns: q(0.5),
            p99_ns: q(0.99),
            convergence_s,
            series: sat.series.clone(),
            core_state_ns: [None, None],
            steal_cores: None,
            clean: true,
        }
    }
}

/// The whole experiment's result.
#[derive(Clone, Debug)]
pub struct Report {
    /// Host profile used by ours.
    pub host: String,
    /// Per policy.
    pub policies: Vec<PolicyReport>,
    /// Best static split per phase: (throughput, fraction inside per function), each function
    /// all inside or all at the client.
    pub oracle: Vec<(f64, Vec<f64>)>,
    /// The best of those refined by sweeping each function's fraction inside in turn, in steps
    /// of [`Config::oracle_step`].
    pub oracle_split: Vec<(f64, Vec<f64>)>,
    /// Ours' decision at the end of each phase run as a static split, in runs alternating with
    /// the split oracle's choice (the median of [`Config::oracle_pairs`] runs, and the split):
    /// whether ours' decision is as good as the oracle's, measured side by side, apart from
    /// what running live costs ours and from the host's drift between ours' run and the
    /// oracle's. `None` where ours had not decided by the phase's end.
    pub ours_static: Vec<Option<(f64, Vec<f64>)>>,
    /// What else used the CPU during the runs, what was redone and why, and the grade.
    pub noise: costmodel::NoiseRecord,
    /// Error replies the server sent (should be 0).
    pub server_errors: u64,
    /// The configuration run.
    pub config: Config,
}

/// A split's fractions inside, joined by `sep`: as written (`None`, a sweep's steps) or to
/// `decimals` places (a solver's fractions).
pub fn fractions(split: &[f64], decimals: Option<usize>, sep: &str) -> String {
    split
        .iter()
        .map(|f| match decimals {
            None => format!("{f}"),
            Some(d) => format!("{f:.d$}"),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

impl Report {
    /// The summary CSV: one row per (policy, phase), the oracle included.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "policy,phase,throughput_per_s,server_cpu_ns_per_invocation,client_cpu_ns_per_invocation,p50_us_at_70pct,p99_us_at_70pct,convergence_s,decision_settled_s\n",
        );
        for p in &self.policies {
            for (i, ph) in self.config.phases.iter().enumerate() {
                let (conv, settled) = if i == 0 {
                    (String::new(), String::new())
                } else {
                    (
                        p.convergence_s[i - 1].map_or("never".into(), |c| format!("{c:.2}")),
                        p.decision_settled_s[i - 1].map_or(String::new(), |c| format!("{c:.2}")),
                    )
                };
                let _ = writeln!(
                    s,
                    "{},{},{:.1},{:.0},{:.0},{:.1},{:.1},{},{}",
                    p.name,
                    ph.label,
                    p.throughput[i],
                    p.server_ns[i],
                    p.client_ns[i],
                    p.p50_ns / 1e3,
                    p.p99_ns / 1e3,
                    conv,
                    settled
                );
            }
        }
        // A static split's row: the policy column names the split, the phase its throughput.
        let mut split_row = |name: &str, phase: usize, t: f64, split: &str| {
            let label = self.config.phases[phase].label;
            let _ = writeln!(s, "{name}(inside={split}),{label},{t:.1},,,,,");
        };
        for (name, rows) in [
            ("oracle", &self.oracle),
            ("oracle-split", &self.oracle_split),
        ] {
            for (i, (t, split)) in rows.iter().enumerate() {
                split_row(name, i, *t, &fractions(split, None, "/"));
            }
        }
        // Ours' split is a solver's fraction, not a sweep step: three decimals.
        for (i, row) in self.ours_static.iter().enumerate() {
            if let Some((t, split)) = row {
                split_row("ours-split", i, *t, &fractions(split, Some(3), "/"));
            }
        }
        s
    }

    /// The time series CSV: `policy,t_s,throughput_per_s`.
    pub fn series_csv(&self) -> String {
        let b = self.config.bucket.as_secs_f64();
        let mut s = String::from("policy,t_s,throughput_per_s\n");
        for p in &self.policies {
            for (i, v) in p.series.iter().enumerate() {
                let _ = writeln!(s, "{},{:.2},{v:.1}", p.name, i as f64 * b);
            }
        }
        s
    }

    /// Writes the throughput-over-time plot.
    ///
    /// # Errors
    /// I/O or drawing errors.
    pub fn write_svg(&self, path: &Path) -> std::io::Result<()> {
        let other = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let b = self.config.bucket.as_secs_f64();
        let tmax = self
            .policies
            .iter()
            .map(|p| p.series.len() as f64 * b)
            .fold(1.0, f64::max);
        let ymax = self
            .policies
            .iter()
            .flat_map(|p| p.series.iter().copied())
            .fold(1.0, f64::max)
            * 1.1;
        let root = SVGBackend::new(path, (1100, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| other(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "closed loop: throughput over time per policy (phase changes at the dashed lines)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..tmax, 0f64..ymax)
            .map_err(|e| other(&e))?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("invocations/s")
            .draw()
            .map_err(|e| other(&e))?;
        let colors = [
            RGBColor(0, 0, 0),
            RGBColor(31, 119, 180),
            RGBColor(214, 39, 40),
            RGBColor(44, 160, 44),
            RGBColor(148, 103, 189),
        ];
        for (i, p) in self.policies.iter().enumerate() {
            let c = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(
                    p.series.iter().enumerate().map(|(j, v)| (j as f64 * b, *v)),
                    c.stroke_width(2),
                ))
                .map_err(|e| other(&e))?
                .label(p.name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c));
        }
        let phase = self.config.phase_duration.as_secs_f64();
        for k in 1..self.config.phases.len() {
            let x = k as f64 * phase;
            chart
                .draw_series(DashedLineSeries::new(
                    [(x, 0.0), (x, ymax)],
                    4,
                    4,
                    BLACK.into(),
                ))
                .map_err(|e| other(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| other(&e))?;
        root.present().map_err(|e| other(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_settles_when_it_last_leaves_the_band_of_its_end() {
        let d = |t: f64, x: f64| (t, vec![x, 1.0]);
        // Phase [1, 2): 0.9 until 1.1, 0.5 from 1.2 (0.53 at 1.5 is within 0.05), and one
        // decision of the previous phase that must not count.
        let ds = [
            d(0.5, 0.0),
            d(1.05, 0.9),
            d(1.2, 0.5),
            d(1.5, 0.53),
            d(1.9, 0.5),
        ];
        let s = settled(&ds, 1.0, 2.0).unwrap();
        assert!((s - 0.2).abs() < 1e-9, "{s}");
        // A late excursion (0.6 at 1.8) moves it to the decision after that.
        let ds = [d(1.05, 0.5), d(1.8, 0.6), d(1.9, 0.5)];
        assert!((settled(&ds, 1.0, 2.0).unwrap() - 0.9).abs() < 1e-9);
        // Never left: settled at once; no decision in the phase: none.
        assert_eq!(settled(&[d(1.1, 0.5), d(1.5, 0.5)], 1.0, 2.0), Some(0.0));
        assert_eq!(settled(&ds, 3.0, 4.0), None);
    }
}
