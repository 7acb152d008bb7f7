//! The noise record as text, for `show`, `diff` and the end of a run.

use std::fmt::Write as _;

use costmodel::{HostProfile, NoiseRecord};

/// Redos listed in full before the rest are counted.
const REDOS_SHOWN: usize = 8;

/// The record under `show`: the grade line and what was redone.
pub fn show(record: Option<&NoiseRecord>) -> String {
    let Some(r) = record else {
        return "noise: not recorded (profile from a calibrate without noise monitoring)\n"
            .to_owned();
    };
    let mut out = format!("noise: {}\n", r.summary());
    let _ = writeln!(
        out,
        "  involuntary context switches of the measured threads: {:.1}/s",
        r.involuntary_switches_per_s.get()
    );
    if let Some(c) = &r.core_state {
        let _ = writeln!(
            out,
            "  machine state: {} (cross-core coefficients hold in this state)",
            c.describe()
        );
    }
    for sp in &r.speed {
        let _ = writeln!(
            out,
            "  speed: reference kernel on {} (the speed its coefficients were measured at)",
            sp.describe()
        );
    }
    if let Some(rs) = &r.round_spread {
        let _ = writeln!(
            out,
            "  agreement: {} (reported, not judged: the grade does not read it)",
            rs.describe()
        );
    }
    if let Some(sc) = &r.shared_cores {
        let _ = writeln!(
            out,
            "  cores: {} (reported, not judged: another guest on the hyperthread beside a vCPU)",
            sc.describe()
        );
    }
    for x in r.redos.iter().take(REDOS_SHOWN) {
        let _ = writeln!(out, "  redone: {}: {}", x.block, x.reason);
    }
    if r.redos.len() > REDOS_SHOWN {
        let _ = writeln!(out, "  ... and {} more redos", r.redos.len() - REDOS_SHOWN);
    }
    out
}

/// The line printed at the end of a run.
pub fn grade_line(record: &NoiseRecord) -> String {
    let mut line = format!("noise grade: {}", record.summary());
    if let Some(c) = &record.core_state {
        let _ = write!(line, "; machine state held: {}", c.describe());
    }
    if !record.speed.is_empty() {
        let speeds: Vec<String> = record
            .speed
            .iter()
            .map(|s| match s.memory {
                Some(m) => format!(
                    "{:.1} ns/round on cpu {} (memory {:.1} ns/load)",
                    s.ns_per_round, s.cpu, m.ns_per_load
                ),
                None => format!("{:.1} ns/round on cpu {}", s.ns_per_round, s.cpu),
            })
            .collect();
        let _ = write!(line, "; reference kernel {}", speeds.join(", "));
    }
    if let Some(r) = &record.round_spread {
        let _ = write!(line, "; {}", r.describe());
    }
    if let Some(c) = &record.shared_cores {
        let _ = write!(line, "; {}", c.describe());
    }
    line
}

/// True when both profiles' intervals come from interleaved rounds (where the next
/// calibration lands), so a point outside the other's interval is the test of a difference.
pub fn predictive(a: &HostProfile, b: &HostProfile) -> bool {
    let rounds = |p: &HostProfile| p.noise.as_ref().map_or(0, |n| n.rounds);
    rounds(a) >= 2 && rounds(b) >= 2
}

/// What `diff`'s "beyond CIs" means for these two profiles (see [`predictive`]).
pub fn beyond_rule(a: &HostProfile, b: &HostProfile) -> &'static str {
    if predictive(a, b) {
        "each point outside the other's interval, which says where the next calibration lands"
    } else {
        "the intervals do not overlap"
    }
}

/// One row of the noise table: its name and how to read it from a record.
type Row<'a> = (&'a str, &'a dyn Fn(&NoiseRecord) -> String);

/// The noise of two profiles side by side, for `diff`.
pub fn diff(a: &HostProfile, b: &HostProfile) -> String {
    let cell = |p: &HostProfile, f: &dyn Fn(&NoiseRecord) -> String| {
        p.noise.as_ref().map_or("-".to_owned(), f)
    };
    let rows: Vec<Row<'_>> = vec![
        ("noise grade", &|r| r.grade.to_string()),
        ("steal, cores (median / max)", &|r| {
            format!("{:.3} / {:.3}", r.steal_cores.median, r.steal_cores.max)
        }),
        ("other processes, cores (median / max)", &|r| {
            format!(
                "{:.3} / {:.3}",
                r.other_cpu_cores.median, r.other_cpu_cores.max
            )
        }),
        ("blocks redone / kept over a threshold", &|r| {
            format!("{} / {} of {}", r.redone, r.contaminated, r.blocks)
        }),
        ("rounds", &|r| r.rounds.to_string()),
        ("rounds apart, largest over smallest (median / p75)", &|r| {
            r.round_spread.map_or("-".to_owned(), |s| {
                format!("{:.2}x / {:.2}x of {}", s.median, s.p75, s.coefficients)
            })
        }),
        ("cores shared, blocks (median / max slowdown)", &|r| {
            r.shared_cores.map_or("-".to_owned(), |c| {
                format!(
                    "{} of {} ({:.2}x / {:.2}x)",
                    c.shared, c.blocks, c.median, c.max
                )
            })
        }),
        ("wide kernel, ns/round (median / fastest)", &|r| {
            r.shared_cores
                .and_then(|c| Some((c.median_ns?, c.fastest_ns)))
                .map_or("-".to_owned(), |(m, f)| match f {
                    Some(f) => format!("{m:.3} / {f:.3}"),
                    None => format!("{m:.3}"),
                })
        }),
        ("machine state: cache-line round trip", &|r| {
            r.core_state.map_or("-".to_owned(), |c| {
                format!(
                    "{:.0} ns (cpus {}-{})",
                    c.round_trip_ns, c.cpus[0], c.cpus[1]
                )
            })
        }),
        ("speed: reference kernel, ns/round (mean per cpu)", &|r| {
            if r.speed.is_empty() {
                return "-".to_owned();
            }
            r.speed
                .iter()
                .map(|s| format!("{:.1} (cpu {})", s.ns_per_round, s.cpu))
                .collect::<Vec<_>>()
                .join(", ")
        }),
        ("speed: memory latency, ns/load (mean per cpu)", &|r| {
            let v: Vec<String> = r
                .speed
                .iter()
                .filter_map(|s| Some(format!("{:.1} (cpu {})", s.memory?.ns_per_load, s.cpu)))
                .collect();
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        }),
    ];
    let mut t = vec![vec!["noise".to_owned(), "A".to_owned(), "B".to_owned()]];
    for (name, f) in rows {
        t.push(vec![name.to_owned(), cell(a, f), cell(b, f)]);
    }
    let mut out = crate::report::table(&t);
    for line in [state_difference(a, b), speed_difference(a, b)]
        .into_iter()
        .flatten()
    {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A line when the two profiles were measured at different speeds ([`costmodel::CpuSpeed`]):
/// every coefficient then differs with the host's speed, not with noise.
pub fn speed_difference(a: &HostProfile, b: &HostProfile) -> Option<String> {
    let check = b.noise.as_ref()?.speed_against(a.noise.as_ref()?)?;
    (!check.holds()).then(|| {
        format!(
            "speeds differ: B ran the reference kernel at {:.1} ns/round on cpu {}, A at {:.1} \
             ({:.2}x, beyond {:.2}x): the host was not equally fast, so the differences below \
             are partly its speed, not noise",
            check.this,
            check.cpu,
            check.reference,
            check.ratio(),
            costmodel::CpuSpeed::FACTOR
        )
    })
}

/// A line when the two profiles were measured in different machine states
/// ([`costmodel::CoreState`]): their cross-core coefficients then differ with the state, not
/// with noise.
pub fn state_difference(a: &HostProfile, b: &HostProfile) -> Option<String> {
    let state = |p: &HostProfile| p.noise.as_ref().and_then(|n| n.core_state);
    let (sa, sb) = (state(a)?, state(b)?);
    (!sa.same_as(&sb)).then(|| {
        format!(
            "machine states differ: A {}, B {}: cross-core coefficients move with the state, \
             so their differences below are the host's, not noise",
            sa.describe(),
            sb.describe()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use costmodel::{NoiseGrade, NoiseStat, Redo};

    fn record(redos: usize) -> NoiseRecord {
        NoiseRecord {
            grade: NoiseGrade::Noisy,
            rounds: 3,
            blocks: 40,
            redone: u32::try_from(redos).unwrap(),
            contaminated: 1,
            steal_cores: NoiseStat {
                median: 0.012,
                max: 0.31,
            },
            other_cpu_cores: NoiseStat {
                median: 0.05,
                max: 1.5,
            },
            involuntary_switches_per_s: costmodel::PerSecond::new(4.0),
            steal_threshold: 0.1,
            other_cpu_threshold: 0.25,
            redos: (0..redos)
                .map(|i| Redo {
                    block: format!("round 1/3: block {i}"),
                    reason: "try 1: steal 0.31 cores > 0.10".to_owned(),
                })
                .collect(),
            core_state: None,
            speed: Vec::new(),
            round_spread: None,
            shared_cores: None,
        }
    }

    #[test]
    fn show_lists_redos_and_counts_the_rest() {
        let text = show(Some(&record(10)));
        assert!(text.starts_with("noise: noisy: 40 blocks in 3 rounds, 10 redone"));
        assert!(text.contains("steal 0.012 cores (max 0.310)"), "{text}");
        assert!(text.contains("redone: round 1/3: block 7: try 1: steal 0.31"));
        assert!(text.contains("... and 2 more redos"));
        assert!(show(None).contains("not recorded"));
    }

    #[test]
    fn diff_shows_both_sides_noise() {
        let mut a = crate::profile::reference().unwrap();
        let b = a.clone();
        assert!(!predictive(&a, &b));
        a.noise = Some(record(0));
        let text = diff(&a, &b);
        assert!(text.contains("0.012 / 0.310"), "{text}");
        assert!(text.contains("0.050 / 1.500"), "{text}");
        let line = text.lines().find(|l| l.starts_with("noise grade")).unwrap();
        assert!(
            line.contains("noisy") && line.trim_end().ends_with('-'),
            "{line}"
        );
        assert!(!text.contains("machine states differ"), "{text}");
    }

    #[test]
    fn show_diff_and_the_grade_line_carry_the_round_spread() {
        let mut a = crate::profile::reference().unwrap();
        let b = a.clone();
        a.noise = Some(NoiseRecord {
            round_spread: Some(costmodel::RoundSpread {
                coefficients: 139,
                median: 1.48,
                p75: 1.80,
            }),
            ..record(0)
        });
        let r = a.noise.as_ref().unwrap();
        assert!(
            show(Some(r)).contains("agreement: rounds 1.48x apart (median over 139"),
            "{}",
            show(Some(r))
        );
        assert!(
            grade_line(r).ends_with("75th percentile 1.80x)"),
            "{}",
            grade_line(r)
        );
        let text = diff(&a, &b);
        let line = text
            .lines()
            .find(|l| l.starts_with("rounds apart"))
            .unwrap();
        assert!(line.contains("1.48x / 1.80x of 139"), "{line}");
        assert!(!show(Some(&record(0))).contains("agreement"));
    }

    #[test]
    fn show_diff_and_the_grade_line_carry_the_shared_cores() {
        let mut a = crate::profile::reference().unwrap();
        let b = a.clone();
        a.noise = Some(NoiseRecord {
            shared_cores: Some(costmodel::SharedCores {
                blocks: 98,
                shared: 31,
                median: 1.02,
                max: 1.17,
                factor: 1.05,
                held: false,
                median_ns: Some(2.731),
                fastest_ns: Some(2.671),
            }),
            ..record(0)
        });
        let r = a.noise.as_ref().unwrap();
        let shown = show(Some(r));
        assert!(
            shown.contains("cores: cores shared around 31 of 98 blocks (wide kernel over 1.05x"),
            "{shown}"
        );
        assert!(
            grade_line(r).ends_with(
                "median 1.02x, max 1.17x; 2.731 ns/round at the median, 2.671 at the fastest)"
            ),
            "{}",
            grade_line(r)
        );
        let text = diff(&a, &b);
        let line = text
            .lines()
            .find(|l| l.starts_with("cores shared"))
            .unwrap();
        assert!(line.contains("31 of 98 (1.02x / 1.17x)"), "{line}");
        assert!(line.trim_end().ends_with('-'), "{line}");
        let line = text.lines().find(|l| l.starts_with("wide kernel")).unwrap();
        assert!(line.contains("2.731 / 2.671"), "{line}");
        assert!(line.trim_end().ends_with('-'), "{line}");
        assert!(!show(Some(&record(0))).contains("cores:"));
    }

    #[test]
    fn diff_says_when_the_machine_states_differ() {
        let state = |ns: f64| costmodel::CoreState {
            cpus: [0, 1],
            round_trip_ns: ns,
        };
        let mut a = crate::profile::reference().unwrap();
        let mut b = a.clone();
        a.noise = Some(NoiseRecord {
            core_state: Some(state(84.0)),
            ..record(0)
        });
        b.noise = Some(NoiseRecord {
            core_state: Some(state(90.0)),
            ..record(0)
        });
        assert!(!diff(&a, &b).contains("machine states differ"));
        b.noise = Some(NoiseRecord {
            core_state: Some(state(375.0)),
            ..record(0)
        });
        let text = diff(&a, &b);
        assert!(text.contains("machine states differ"), "{text}");
        assert!(text.contains("84 ns (cpus 0-1)"), "{text}");
        assert!(show(a.noise.as_ref()).contains("cache-line round trip 84 ns"));
    }

    #[test]
    fn diff_and_show_say_when_the_speeds_differ() {
        let speed = |ns: f64| costmodel::CpuSpeed {
            cpu: 1,
            ns_per_round: ns,
            min: ns - 5.0,
            max: ns + 60.0,
            timings: 25,
            memory: None,
        };
        let mut a = crate::profile::reference().unwrap();
        let mut b = a.clone();
        a.noise = Some(NoiseRecord {
            speed: vec![speed(351.4)],
            ..record(0)
        });
        b.noise = Some(NoiseRecord {
            speed: vec![speed(362.3)],
            ..record(0)
        });
        let text = diff(&a, &b);
        assert!(!text.contains("speeds differ"), "{text}");
        assert!(
            text.contains("351.4 (cpu 1)") && text.contains("362.3 (cpu 1)"),
            "{text}"
        );
        b.noise = Some(NoiseRecord {
            speed: vec![speed(474.4)],
            ..record(0)
        });
        let text = diff(&a, &b);
        assert!(
            text.contains("speeds differ") && text.contains("1.35x"),
            "{text}"
        );
        let shown = show(a.noise.as_ref());
        assert!(
            shown.contains("speed: reference kernel on cpu 1: 351.4 ns/round"),
            "{shown}"
        );
    }
}
