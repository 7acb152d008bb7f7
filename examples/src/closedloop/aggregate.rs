//! Several repetitions of the experiment summarised: mean and spread per policy and phase, the
//! ratios the acceptance rules are stated in, and each repetition's latency and convergence.

use std::fmt::Write as _;

use super::report::Report;

/// Mean, minimum, maximum and sample standard deviation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Sample standard deviation (0 for one value).
    pub sd: f64,
}

impl Spread {
    /// Of `v` (NaN everywhere when empty).
    pub fn of(v: &[f64]) -> Self {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = if v.len() > 1 {
            v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Spread {
            mean,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sd: var.sqrt(),
        }
    }
}

fn throughputs(reports: &[Report], name: &str, phase: usize) -> Vec<f64> {
    reports
        .iter()
        .filter_map(|r| r.policies.iter().find(|p| p.name == name))
        .map(|p| p.throughput[phase])
        .collect()
}

/// `aggregate.csv`: `row,phase,mean,min,max,sd` for every policy's throughput, the oracle's,
/// and the per-repetition ratios of ours to the better baseline and to the oracle.
pub fn csv(reports: &[Report]) -> String {
    let mut s = String::from("row,phase,mean,min,max,sd\n");
    let Some(first) = reports.first() else {
        return s;
    };
    for (i, ph) in first.config.phases.iter().enumerate() {
        let mut rows: Vec<(String, Vec<f64>)> = first
            .policies
            .iter()
            .map(|p| (p.name.clone(), throughputs(reports, &p.name, i)))
            .collect();
        rows.push((
            "oracle".into(),
            reports.iter().map(|r| r.oracle[i].0).collect(),
        ));
        rows.push((
            "oracle-split".into(),
            reports.iter().map(|r| r.oracle_split[i].0).collect(),
        ));
        let ours = throughputs(reports, "ours", i);
        let asfp = throughputs(reports, "asfp", i);
        let kayak = throughputs(reports, "kayak", i);
        let oracle: Vec<f64> = reports.iter().map(|r| r.oracle[i].0).collect();
        let split: Vec<f64> = reports.iter().map(|r| r.oracle_split[i].0).collect();
        let ratio = |den: &dyn Fn(usize) -> f64| -> Vec<f64> {
            ours.iter().enumerate().map(|(k, o)| o / den(k)).collect()
        };
        rows.push((
            "ours/better-baseline".into(),
            ratio(&|k| asfp[k].max(kayak[k])),
        ));
        rows.push(("ours/asfp".into(), ratio(&|k| asfp[k])));
        rows.push(("ours/kayak".into(), ratio(&|k| kayak[k])));
        rows.push(("ours/oracle".into(), ratio(&|k| oracle[k])));
        rows.push(("ours/oracle-split".into(), ratio(&|k| split[k])));
        // Ours' end-of-phase split run as a static split beside the split oracle's runs.
        let paired: Vec<(f64, f64, f64)> = reports
            .iter()
            .zip(&ours)
            .filter_map(|(r, live)| {
                let (t, _) = r.ours_static.get(i)?.as_ref()?;
                Some((*t, r.oracle_split[i].0, *live))
            })
            .collect();
        rows.push(("ours-split".into(), paired.iter().map(|p| p.0).collect()));
        rows.push((
            "ours-split/oracle-split".into(),
            paired.iter().map(|p| p.0 / p.1).collect(),
        ));
        rows.push((
            "ours/ours-split".into(),
            paired.iter().map(|p| p.2 / p.0).collect(),
        ));
        for (name, v) in rows {
            let sp = Spread::of(&v);
            let _ = writeln!(
                s,
                "{name},{},{:.4},{:.4},{:.4},{:.4}",
                ph.label, sp.mean, sp.min, sp.max, sp.sd
            );
        }
    }
    s
}

/// `aggregate.txt`: the same for people, plus server CPU per invocation, latency and
/// convergence per repetition.
pub fn text(reports: &[Report], load: &str) -> String {
    let mut s = String::new();
    let Some(first) = reports.first() else {
        return s;
    };
    let labels: Vec<&str> = first.config.phases.iter().map(|p| p.label).collect();
    let _ = writeln!(
        s,
        "{} repetitions; host profile {}; {load}",
        reports.len(),
        first.host
    );
    let _ = writeln!(
        s,
        "throughput at saturation, invocations/s, mean [min-max] per phase: {}",
        labels.join(" | ")
    );
    let cell = |v: &[f64]| {
        let sp = Spread::of(v);
        format!("{:.0} [{:.0}-{:.0}]", sp.mean, sp.min, sp.max)
    };
    for p in &first.policies {
        let cells: Vec<String> = (0..labels.len())
            .map(|i| cell(&throughputs(reports, &p.name, i)))
            .collect();
        let _ = writeln!(s, "  {:<12} {}", p.name, cells.join(" | "));
    }
    for (name, pick) in [
        (
            "oracle",
            (|r: &Report| &r.oracle) as fn(&Report) -> &Vec<(f64, Vec<f64>)>,
        ),
        ("oracle-split", |r: &Report| &r.oracle_split),
    ] {
        let cells: Vec<String> = (0..labels.len())
            .map(|i| cell(&reports.iter().map(|r| pick(r)[i].0).collect::<Vec<_>>()))
            .collect();
        let _ = writeln!(s, "  {name:<12} {}", cells.join(" | "));
    }
    // Ours' split run static, per phase, over the repetitions where ours had decided.
    let ours_split: Vec<Vec<f64>> = (0..labels.len())
        .map(|i| {
            reports
                .iter()
                .filter_map(|r| r.ours_static.get(i)?.as_ref().map(|(t, _)| *t))
                .collect()
        })
        .collect();
    if ours_split.iter().any(|v| !v.is_empty()) {
        let cells: Vec<String> = ours_split
            .iter()
            .map(|v| if v.is_empty() { "-".into() } else { cell(v) })
            .collect();
        let _ = writeln!(
            s,
            "  {:<12} {}   (ours' end-of-phase split as a static split, in runs alternating \
             with the split oracle's)",
            "ours-split",
            cells.join(" | ")
        );
    }
    for r in reports {
        let splits: Vec<String> = r
            .oracle
            .iter()
            .chain(&r.oracle_split)
            .map(|(_, x)| super::report::fractions(x, None, "/"))
            .collect();
        let _ = writeln!(
            s,
            "  inside per phase, oracle then oracle-split: {}",
            splits.join(" | ")
        );
    }
    let _ = writeln!(
        s,
        "server / client CPU per invocation, us, mean per phase (one core each: 1e6 / the \
         larger is the ceiling in invocations/s):"
    );
    for p in &first.policies {
        let cells: Vec<String> = (0..labels.len())
            .map(|i| {
                let mean = |f: &dyn Fn(&super::report::PolicyReport) -> f64| {
                    let v: Vec<f64> = reports
                        .iter()
                        .filter_map(|r| r.policies.iter().find(|q| q.name == p.name))
                        .map(f)
                        .collect();
                    Spread::of(&v).mean
                };
                format!(
                    "{:.1} / {:.1}",
                    mean(&|q| q.server_ns[i] / 1e3),
                    mean(&|q| q.client_ns[i] / 1e3)
                )
            })
            .collect();
        let _ = writeln!(s, "  {:<12} {}", p.name, cells.join(" | "));
    }
    let _ = writeln!(
        s,
        "cores used, server / client (throughput x CPU per invocation; near 1 on the busier side \
         when the run had its two cores to itself), mean per phase:"
    );
    for p in &first.policies {
        let cells: Vec<String> = (0..labels.len())
            .map(|i| {
                let used = |f: &dyn Fn(&super::report::PolicyReport) -> f64| {
                    let v: Vec<f64> = reports
                        .iter()
                        .filter_map(|r| r.policies.iter().find(|q| q.name == p.name))
                        .map(|q| q.throughput[i] * f(q) / 1e9)
                        .collect();
                    Spread::of(&v).mean
                };
                format!(
                    "{:.2} / {:.2}",
                    used(&|q| q.server_ns[i]),
                    used(&|q| q.client_ns[i])
                )
            })
            .collect();
        let _ = writeln!(s, "  {:<12} {}", p.name, cells.join(" | "));
    }
    let _ = writeln!(
        s,
        "p50/p99 latency at 70% of saturation (base mix), us, per repetition:"
    );
    for p in &first.policies {
        let cells: Vec<String> = reports
            .iter()
            .filter_map(|r| r.policies.iter().find(|q| q.name == p.name))
            .map(|q| format!("{:.0}/{:.0}", q.p50_ns / 1e3, q.p99_ns / 1e3))
            .collect();
        let _ = writeln!(s, "  {:<12} {}", p.name, cells.join(", "));
    }
    let _ = writeln!(
        s,
        "convergence after each phase change, s, per repetition ({}): throughput (the 3-bucket \
         average stays within 10% of the phase's second half) / decision (the policy's own split \
         stays within 0.05 of where it ends the phase; - for a fixed policy)",
        labels[1..].join("; ")
    );
    for p in &first.policies {
        let cells: Vec<String> = reports
            .iter()
            .filter_map(|r| r.policies.iter().find(|q| q.name == p.name))
            .map(|q| {
                q.convergence_s
                    .iter()
                    .zip(&q.decision_settled_s)
                    .map(|(c, d)| {
                        format!(
                            "{} / {}",
                            c.map_or("never".into(), |c| format!("{c:.2}")),
                            d.map_or("-".into(), |d| format!("{d:.2}"))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .collect();
        let _ = writeln!(s, "  {:<12} {}", p.name, cells.join(" | "));
    }
    let _ = writeln!(
        s,
        "noise per repetition (every run a block under calibrate's noise monitor, held to one \
         machine state): {}",
        reports
            .iter()
            .map(|r| format!(
                "{}, {} of {} runs redone, steal median {:.3} max {:.3} cores",
                r.noise.grade,
                r.noise.redone,
                r.noise.blocks,
                r.noise.steal_cores.median,
                r.noise.steal_cores.max
            ))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        s,
        "machine state, cache-line round trip between the loop's cores before -> after each \
         saturation run kept, ns, and its steal, cores, per repetition (* every try disturbed):"
    );
    let ns = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    for p in &first.policies {
        let cells: Vec<String> = reports
            .iter()
            .filter_map(|r| r.policies.iter().find(|q| q.name == p.name))
            .map(|q| {
                format!(
                    "{} -> {}, steal {}{}",
                    ns(q.core_state_ns[0]),
                    ns(q.core_state_ns[1]),
                    q.steal_cores.map_or("-".into(), |v| format!("{v:.3}")),
                    if q.clean { "" } else { " *" }
                )
            })
            .collect();
        let _ = writeln!(s, "  {:<12} {}", p.name, cells.join(" | "));
    }
    for (k, r) in reports.iter().enumerate() {
        let seen: Vec<f64> = r
            .policies
            .iter()
            .flat_map(|q| q.core_state_ns)
            .flatten()
            .collect();
        let lo = seen.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = seen.iter().copied().fold(0.0, f64::max);
        if lo.is_finite() && hi > lo * costmodel::CoreState::FACTOR {
            let _ = writeln!(
                s,
                "  repetition {}: the policies did not all run in one machine state ({lo:.0} \
                 to {hi:.0} ns, over {}x apart): its ratios compare states as well as policies",
                k + 1,
                costmodel::CoreState::FACTOR
            );
        }
    }
    let _ = writeln!(
        s,
        "ratios, mean [min-max] over repetitions (from aggregate.csv):"
    );
    for line in csv(reports)
        .lines()
        .filter(|l| l.starts_with("ours/") || l.starts_with("ours-split/"))
    {
        let f: Vec<&str> = line.split(',').collect();
        if let [row, phase, mean, min, max, _] = f[..] {
            let _ = writeln!(s, "  {phase:<14} {row:<23} {mean} [{min}-{max}]");
        }
    }
    s
}
