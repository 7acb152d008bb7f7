//! `WorkloadProfile`: how one function touches storage and spends CPU.

use serde::{Deserialize, Serialize};

use crate::error::{CostError, Result};
use crate::id::FunctionId;
use crate::locality;
use crate::profile::ComputeClass;
use crate::units::{Bytes, Nanos, NanosPerByte, PerSecond};
use crate::validate::Check;

/// The workload file format this crate reads and writes.
pub const WORKLOAD_FORMAT_VERSION: u32 = 1;

/// One function's behaviour, as the cost model needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadProfile {
    /// The function.
    pub id: FunctionId,
    /// What it does, for people.
    #[serde(default)]
    pub description: String,
    /// Records read per invocation (mean), `k`.
    pub records_per_invocation: f64,
    /// Bytes per record, `s`.
    pub record_bytes: Bytes,
    /// Invocation request size (arguments), `q`.
    pub request_bytes: Bytes,
    /// Invocation response size (result), `r`.
    pub response_bytes: Bytes,
    /// Native compute per invocation, `c`.
    pub compute: Compute,
    /// True when each read depends on the previous one (pointer chasing, multi-hop lookups).
    #[serde(default)]
    pub dependent_reads: bool,
    /// How invocations arrive.
    pub arrival: Arrival,
    /// Latency objective per invocation, if any.
    #[serde(default)]
    pub slo: Option<Nanos>,
    /// Functions this one passes data to, and how much.
    #[serde(default)]
    pub chain: Vec<ChainEdge>,
}

/// Native compute per invocation, optionally growing with the input size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compute {
    /// Compute independent of input size.
    pub base: Nanos,
    /// Extra compute per input byte.
    #[serde(default)]
    pub per_input_byte: NanosPerByte,
    /// Typical input size.
    #[serde(default)]
    pub input_bytes: Bytes,
    /// What kind of compute it is (version 2), which sets each runtime's slowdown;
    /// `int_mul` (the version-1 kernel) when absent.
    #[serde(default)]
    pub class: ComputeClass,
}

impl Compute {
    /// Native compute for an invocation with the typical input size.
    pub fn native(&self) -> Nanos {
        self.at_input(self.input_bytes)
    }

    /// Native compute for an invocation with `input` bytes of input.
    pub fn at_input(&self, input: Bytes) -> Nanos {
        self.base + self.per_input_byte * input
    }

    /// A fixed compute cost.
    pub fn fixed(base: Nanos) -> Self {
        Compute {
            base,
            per_input_byte: NanosPerByte::new(0.0),
            input_bytes: Bytes::ZERO,
            class: ComputeClass::IntMul,
        }
    }

    /// The same compute, of `class`.
    pub fn with_class(self, class: ComputeClass) -> Self {
        Compute { class, ..self }
    }
}

/// How invocations of a function arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrival {
    /// Mean invocation rate.
    pub rate: PerSecond,
    /// Coefficient of variation of inter-arrival times (1 = Poisson, > 1 bursty, < 1 regular).
    #[serde(default = "one")]
    pub cv: f64,
    /// Empirical inter-arrival distribution, when known: `(upper bound, cumulative fraction)`
    /// pairs with increasing bounds and fractions, the last fraction 1.
    #[serde(default)]
    pub histogram: Vec<(Nanos, f64)>,
}

fn one() -> f64 {
    1.0
}

impl Arrival {
    /// Poisson arrivals at `rate`.
    pub fn poisson(rate: PerSecond) -> Self {
        Arrival {
            rate,
            cv: 1.0,
            histogram: Vec::new(),
        }
    }

    /// Probability that an invocation finds a context kept warm for `keep_alive` after the
    /// previous invocation: `P(inter-arrival <= keep_alive)`. See [`crate::locality`].
    pub fn warm_hit_probability(&self, keep_alive: Nanos) -> f64 {
        locality::warm_hit_probability(self, keep_alive)
    }
}

/// Data passed from one function to the next in a chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEdge {
    /// The function that receives the data.
    pub to: FunctionId,
    /// Bytes passed per invocation.
    pub bytes: Bytes,
}

impl WorkloadProfile {
    /// Validates every field, naming `origin` and the field on error.
    ///
    /// # Errors
    /// [`CostError::Invalid`] for the first bad field.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let mut c = Check::new(origin);
        c.with(self.id.as_str(), |c| self.check(c))
    }

    pub(crate) fn check(&self, c: &mut Check<'_>) -> Result<()> {
        use crate::validate::limits::{
            MAX_COMPUTE_NANOS, MAX_CV, MAX_GAP_NANOS, MAX_RATE, MAX_RECORDS, MIN_RATE,
        };
        c.bounded(
            "records_per_invocation",
            self.records_per_invocation,
            MAX_RECORDS,
            "",
        )?;
        c.quantity("record_bytes", self.record_bytes)?;
        c.quantity("request_bytes", self.request_bytes)?;
        c.quantity("response_bytes", self.response_bytes)?;
        c.with("compute", |c| {
            c.quantity("base", self.compute.base)?;
            c.non_negative("per_input_byte", self.compute.per_input_byte.get())?;
            c.quantity("input_bytes", self.compute.input_bytes)?;
            let native = self.compute.native().get();
            if !(native.is_finite() && native <= MAX_COMPUTE_NANOS) {
                return Err(c.fail(
                    "per_input_byte",
                    format!(
                        "times input_bytes must keep the compute at the typical input <= \
                         {MAX_COMPUTE_NANOS:e} ns (the format's limit), got {native:e} ns"
                    ),
                ));
            }
            Ok(())
        })?;
        c.with("arrival", |c| {
            let rate = self.arrival.rate.get();
            c.bounded("rate", rate, MAX_RATE, "/s")?;
            if rate > 0.0 && rate < MIN_RATE {
                return Err(c.fail(
                    "rate",
                    format!("must be 0 or >= {MIN_RATE:e}/s (the format's limit), got {rate:e}"),
                ));
            }
            c.bounded("cv", self.arrival.cv, MAX_CV, "")?;
            let mut prev = (0.0, 0.0);
            for (i, (bound, frac)) in self.arrival.histogram.iter().enumerate() {
                let field = format!("histogram[{i}]");
                c.bounded(&format!("{field}.0"), bound.get(), MAX_GAP_NANOS, "ns")?;
                c.within(&format!("{field}.1"), *frac, 0.0, 1.0)?;
                if bound.get() < prev.0 || *frac < prev.1 {
                    return Err(c.fail(&field, "must not decrease (bounds and fractions)"));
                }
                prev = (bound.get(), *frac);
            }
            if let Some((_, last)) = self.arrival.histogram.last()
                && (last - 1.0).abs() > 1e-9
            {
                let i = self.arrival.histogram.len() - 1;
                return Err(c.fail(
                    &format!("histogram[{i}].1"),
                    format!("the last cumulative fraction must be 1, got {last}"),
                ));
            }
            Ok(())
        })?;
        if let Some(slo) = self.slo {
            c.positive("slo", slo.get())?;
            c.quantity("slo", slo)?;
        }
        for (i, e) in self.chain.iter().enumerate() {
            c.quantity(&format!("chain[{i}].bytes"), e.bytes)?;
        }
        Ok(())
    }
}

/// A file of workloads: `(format_version: 1, workloads: [...])`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSet {
    /// Must equal [`WORKLOAD_FORMAT_VERSION`].
    pub format_version: u32,
    /// What the set is for.
    #[serde(default)]
    pub description: String,
    /// The functions.
    pub workloads: Vec<WorkloadProfile>,
}

impl WorkloadSet {
    /// Validates the version, every workload, id uniqueness and chain references.
    ///
    /// # Errors
    /// [`CostError::FormatVersion`], [`CostError::Empty`], [`CostError::Invalid`],
    /// [`CostError::DuplicateId`] or [`CostError::UnknownFunction`].
    pub fn validate(&self, origin: &str) -> Result<()> {
        if self.format_version != WORKLOAD_FORMAT_VERSION {
            return Err(CostError::FormatVersion {
                origin: origin.to_owned(),
                oldest: WORKLOAD_FORMAT_VERSION,
                expected: WORKLOAD_FORMAT_VERSION,
                found: self.format_version,
            });
        }
        if self.workloads.is_empty() {
            return Err(CostError::Empty {
                origin: origin.to_owned(),
                what: "workloads",
            });
        }
        let mut c = Check::new(origin);
        for (i, w) in self.workloads.iter().enumerate() {
            c.with(&format!("workloads[{i}]"), |c| w.check(c))?;
            if let Some(j) = self.workloads[..i].iter().position(|o| o.id == w.id) {
                return Err(c.fail(
                    &format!("workloads[{i}].id"),
                    format!("repeats the id of workloads[{j}], got \"{}\"", w.id),
                ));
            }
        }
        for w in &self.workloads {
            for e in &w.chain {
                if !self.workloads.iter().any(|o| o.id == e.to) {
                    return Err(CostError::UnknownFunction {
                        origin: format!("{origin}: {}.chain", w.id),
                        id: e.to.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The workload with `id`.
    ///
    /// # Errors
    /// [`CostError::UnknownFunction`] when there is none.
    pub fn get(&self, id: &str) -> Result<&WorkloadProfile> {
        self.workloads
            .iter()
            .find(|w| w.id.as_str() == id)
            .ok_or_else(|| CostError::UnknownFunction {
                origin: "workload set".into(),
                id: id.to_owned(),
            })
    }
}
