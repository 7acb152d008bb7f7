//! The closed loop's configuration: the function catalogue, the mix and its phases, and the
//! checks that turn bad input into one clear line.

use std::time::Duration;

/// One storage function of the mix: the standard storage function with its own records per
/// invocation, record size and compute (kernel rounds). Each function reads its own table of
/// the server's store, whose records have the function's size.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// Name (the catalogue key).
    pub name: &'static str,
    /// Records read per invocation (phase 0).
    pub records: u32,
    /// Kernel rounds per invocation (compute).
    pub rounds: u32,
    /// Bytes per record of the function's table.
    pub record_bytes: usize,
}

/// The catalogue the mix draws from: a cheap lookup, a data-heavy scan, a compute-heavy hash
/// and a middle aggregate. Records and rounds were chosen to span the crossover before any
/// policy was run. Record sizes (added when the "different record sizes" was found
/// unmet, before the first run with them): the lookup reads 64 B records (the smallest size
/// calibration measures), the scan 1 KiB documents, the others keep the 256 B the single store
/// had.
pub const CATALOGUE: [Function; 4] = [
    Function {
        name: "lookup",
        records: 2,
        rounds: 0,
        record_bytes: 64,
    },
    Function {
        name: "scan",
        records: 32,
        rounds: 1,
        record_bytes: 1024,
    },
    Function {
        name: "hash",
        records: 2,
        rounds: 400,
        record_bytes: 256,
    },
    Function {
        name: "aggregate",
        records: 16,
        rounds: 40,
        record_bytes: 256,
    },
];

/// One phase of the mix: arrival weight per function and a records multiplier.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// Label in the report.
    pub label: &'static str,
    /// Relative arrival rate per function (same order as [`Config::functions`]).
    pub weights: Vec<f64>,
    /// Records per invocation are multiplied by this.
    pub records_factor: u32,
}

/// What one closed-loop run does.
#[derive(Clone, Debug)]
pub struct Config {
    /// The functions of the mix.
    pub functions: Vec<Function>,
    /// The phases, run back to back (two phase changes with the default three).
    pub phases: Vec<Phase>,
    /// Length of each phase at saturation.
    pub phase_duration: Duration,
    /// Length of each paced (70% of saturation) latency run, after its warm-up.
    pub latency_duration: Duration,
    /// Paced time before the latency run whose latencies are not kept: every policy starts
    /// knowing nothing (ours all inside until its first decision, Kayak at 100% RPC), and a
    /// queue built then is the start-up, not the latency at that load.
    pub latency_warmup: Duration,
    /// Length of each static split the oracle tries.
    pub oracle_duration: Duration,
    /// Step of the split oracle's sweep of each function's fraction inside (in (0, 1]).
    pub oracle_step: f64,
    /// Runs of the split oracle's choice, each paired with a run of ours' end-of-phase split
    /// as a static split, alternating; the split oracle reports the median of its runs.
    pub oracle_pairs: u32,
    /// Invocations kept outstanding at saturation.
    pub window: usize,
    /// Scheme index the server runs functions under (0 native, 1 wasm, 2 ebpf).
    pub scheme: u8,
    /// Records in each function's table of the store.
    pub store_records: u64,
    /// Width of a throughput bucket in the time series.
    pub bucket: Duration,
    /// Control tick (STATS request) period.
    pub tick: Duration,
    /// Seed of the arrival generator.
    pub seed: u64,
    /// Core for the server thread and for the client/compute thread.
    pub cores: (usize, usize),
    /// Latency SLO of Kayak's rate controller (`None`: no SLO, the rate controller is off and
    /// Kayak keeps the loop's window, as at saturation).
    pub kayak_slo: Option<Duration>,
    /// Repetitions of the whole experiment (the example writes `rep1..repN` and an aggregate).
    pub reps: usize,
    /// Tries per run under the noise monitor (3; 1 in the quick run, a smoke run that must stay
    /// under 30 s: its noise grade still says how disturbed it was).
    pub tries: u32,
}

/// A bad configuration: its `Display` is the one line the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A function name not in [`CATALOGUE`].
    #[error("closed loop: unknown function {0:?} (known: lookup, scan, hash, aggregate)")]
    UnknownFunction(String),
    /// No function in the mix.
    #[error("closed loop: the mix is empty (name at least one function)")]
    EmptyMix,
    /// A duration of zero.
    #[error("closed loop: {0} must be above zero")]
    ZeroDuration(&'static str),
    /// A command-line flag not understood.
    #[error("closed loop: {0}")]
    BadFlag(String),
}

impl Config {
    /// The full run over `names` (catalogue functions): three phases of 4 s.
    ///
    /// # Errors
    /// [`ConfigError`] for an empty mix or an unknown name.
    pub fn full(names: &[&str]) -> Result<Self, ConfigError> {
        if names.is_empty() {
            return Err(ConfigError::EmptyMix);
        }
        let functions = names
            .iter()
            .map(|n| {
                CATALOGUE
                    .iter()
                    .find(|f| f.name == *n)
                    .cloned()
                    .ok_or_else(|| ConfigError::UnknownFunction((*n).to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let base: Vec<f64> = functions.iter().map(|_| 1.0).collect();
        // Phase 1: the compute-heavy share rises (functions with the most rounds get 4x).
        let max_rounds = functions.iter().map(|f| f.rounds).max().unwrap_or(0);
        let heavy: Vec<f64> = functions
            .iter()
            .map(|f| if f.rounds == max_rounds { 4.0 } else { 1.0 })
            .collect();
        Ok(Config {
            phases: vec![
                Phase {
                    label: "base",
                    weights: base,
                    records_factor: 1,
                },
                Phase {
                    label: "compute-heavy",
                    weights: heavy.clone(),
                    records_factor: 1,
                },
                Phase {
                    label: "more-records",
                    weights: heavy,
                    records_factor: 4,
                },
            ],
            functions,
            phase_duration: Duration::from_secs(4),
            latency_duration: Duration::from_secs(2),
            latency_warmup: Duration::from_millis(500),
            oracle_duration: Duration::from_millis(700),
            oracle_step: 0.1,
            oracle_pairs: 3,
            window: 32,
            scheme: 1,
            store_records: 100_000,
            bucket: Duration::from_millis(100),
            tick: Duration::from_millis(20),
            seed: 42,
            cores: (0, 1),
            kayak_slo: None,
            reps: 1,
            tries: 3,
        })
    }

    /// The quick run (under 30 s): short phases, native scheme, a small store.
    ///
    /// # Errors
    /// As [`Config::full`].
    pub fn quick(names: &[&str]) -> Result<Self, ConfigError> {
        let mut c = Config::full(names)?;
        c.phase_duration = Duration::from_millis(700);
        c.latency_duration = Duration::from_millis(250);
        c.latency_warmup = Duration::from_millis(100);
        c.oracle_duration = Duration::from_millis(120);
        c.oracle_step = 0.25;
        c.oracle_pairs = 1;
        c.scheme = 0;
        c.tries = 1;
        c.store_records = 10_000;
        Ok(c)
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad field.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.functions.is_empty() {
            return Err(ConfigError::EmptyMix);
        }
        for f in &self.functions {
            if !CATALOGUE.iter().any(|c| c.name == f.name) {
                return Err(ConfigError::UnknownFunction(f.name.to_string()));
            }
        }
        for (name, d) in [
            ("phase duration", self.phase_duration),
            ("latency duration", self.latency_duration),
            ("oracle duration", self.oracle_duration),
            ("bucket", self.bucket),
            ("tick", self.tick),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.phases.is_empty()
            || self.phases.iter().any(|p| {
                p.weights.len() != self.functions.len() || p.weights.iter().all(|w| *w <= 0.0)
            })
        {
            return Err(ConfigError::EmptyMix);
        }
        let most = self
            .functions
            .iter()
            .map(|f| {
                let factor = self
                    .phases
                    .iter()
                    .map(|p| p.records_factor)
                    .max()
                    .unwrap_or(1);
                u64::from(f.records) * u64::from(factor)
            })
            .max()
            .unwrap_or(0);
        if self.store_records < most {
            return Err(ConfigError::BadFlag(format!(
                "each function's table holds {} records, fewer than the {most} an invocation \
                 reads",
                self.store_records
            )));
        }
        if self.window == 0 {
            return Err(ConfigError::BadFlag("--window must be above zero".into()));
        }
        if !(self.oracle_step > 0.0 && self.oracle_step <= 1.0) {
            return Err(ConfigError::BadFlag(format!(
                "oracle step {} must be in (0, 1]",
                self.oracle_step
            )));
        }
        if self.oracle_pairs == 0 {
            return Err(ConfigError::BadFlag(
                "oracle pairs must be above zero".into(),
            ));
        }
        if self.tries == 0 {
            return Err(ConfigError::BadFlag("tries must be above zero".into()));
        }
        if self.reps == 0 {
            return Err(ConfigError::BadFlag("--reps must be above zero".into()));
        }
        if self.kayak_slo.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroDuration("Kayak's SLO"));
        }
        Ok(())
    }

    /// Parses `--quick`, `--functions a,b,c`, `--phase-ms N`, `--scheme N`, `--reps N`,
    /// `--window N` and `--kayak-slo-us N` into a checked configuration.
    ///
    /// # Errors
    /// [`ConfigError`] with one line for any bad flag or value.
    pub fn from_args(args: &[String]) -> Result<Self, ConfigError> {
        let mut quick = false;
        let mut names: Vec<String> = CATALOGUE.iter().map(|f| f.name.to_string()).collect();
        let mut phase_ms: Option<u64> = None;
        let mut scheme: Option<u8> = None;
        let mut reps: Option<usize> = None;
        let mut window: Option<usize> = None;
        let mut slo_us: Option<u64> = None;
        let whole = |flag: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| ConfigError::BadFlag(format!("{flag} {v:?} is not a whole number")))
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| ConfigError::BadFlag(format!("{flag} needs a value")))
            };
            match a.as_str() {
                "--quick" => quick = true,
                "--functions" => {
                    let v = value("--functions")?;
                    names = v
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                "--phase-ms" => phase_ms = Some(whole("--phase-ms", &value("--phase-ms")?)?),
                "--window" => {
                    let n = whole("--window", &value("--window")?)?;
                    window = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                "--reps" => {
                    let n = whole("--reps", &value("--reps")?)?;
                    reps = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                "--kayak-slo-us" => {
                    slo_us = Some(whole("--kayak-slo-us", &value("--kayak-slo-us")?)?);
                }
                "--scheme" => {
                    let v = value("--scheme")?;
                    scheme = Some(v.parse().ok().filter(|s| *s <= 2).ok_or_else(|| {
                        ConfigError::BadFlag(format!("--scheme {v:?}: expected 0, 1 or 2"))
                    })?);
                }
                other => return Err(ConfigError::BadFlag(format!("unknown flag {other:?}"))),
            }
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut c = if quick {
            Config::quick(&refs)?
        } else {
            Config::full(&refs)?
        };
        if let Some(ms) = phase_ms {
            c.phase_duration = Duration::from_millis(ms);
        }
        if let Some(s) = scheme {
            c.scheme = s;
        }
        if let Some(n) = reps {
            c.reps = n;
        }
        if let Some(n) = window {
            c.window = n;
        }
        if let Some(us) = slo_us {
            c.kayak_slo = Some(Duration::from_micros(us));
        }
        c.check()?;
        Ok(c)
    }
}
