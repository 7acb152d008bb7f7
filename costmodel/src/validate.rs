//! Field-path tracking for validation errors that name the file, the field and the value.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{MapAccess, Visitor};

use crate::error::{CostError, Result};
use crate::units::{Bytes, Factor, Nanos, NanosPerByte, PerSecond, Quantity};

/// The largest magnitudes the file formats accept. Each is far beyond any real value and small
/// enough that the cost equations' products of them (records x bytes x per-byte cost, divided by
/// `1 - rho` for `rho` just below 1) stay finite in `f64`, so every accepted input has finite
/// costs. A value past a limit is an error naming the field, the value and the limit.
pub mod limits {
    /// Records read per invocation: at most 1e9.
    pub const MAX_RECORDS: f64 = 1e9;
    /// Any size in bytes (record, request, response, input, chain edge, context memory):
    /// at most 2^40 B (1 TiB).
    pub const MAX_BYTES: f64 = 1_099_511_627_776.0;
    /// Any time in nanoseconds (compute, a cost, a round trip, an SLO, a histogram bound):
    /// at most 1e15 ns (about 11.6 days).
    pub const MAX_NANOS: f64 = 1e15;
    /// An inter-arrival histogram bound: at most 2^64 ns (any gap between two `u64`
    /// nanosecond timestamps of a trace).
    pub const MAX_GAP_NANOS: f64 = 18_446_744_073_709_551_616.0;
    /// Any per-byte cost: at most 1e6 ns/B (a millisecond per byte). The compute per input
    /// byte is only bounded by the compute at the typical input ([`MAX_COMPUTE_NANOS`]), since
    /// a trace with tiny inputs fits a steep line.
    pub const MAX_NANOS_PER_BYTE: f64 = 1e6;
    /// Compute at the typical input, `base + per_input_byte x input_bytes`: at most 2e15 ns.
    pub const MAX_COMPUTE_NANOS: f64 = 2e15;
    /// Arrival rate: 0, or from 1e-12/s (one per 31,700 years; a trace's two records 2^64 ns
    /// apart give 5e-11/s) to 1e9/s. A far smaller positive rate would make the time between
    /// arrivals (`1e9 / rate` ns) and the batch wait overflow.
    pub const MIN_RATE: f64 = 1e-12;
    /// Arrival rate: at most 1e18 invocations per second (a billion in one nanosecond, the
    /// most a trace of a billion records can show).
    pub const MAX_RATE: f64 = 1e18;
    /// Coefficient of variation of inter-arrival times: at most 1e100 (any finite value a
    /// trace's gaps give; the warm-hit probability is defined for all of them).
    pub const MAX_CV: f64 = 1e100;
    /// Compute slowdown versus native: at least 0.1. No runtime runs the same work ten times
    /// faster than native code; a smaller value is a unit mistake (a percentage, an inverse)
    /// and would make the model favour the scheme for compute it cannot do.
    pub const MIN_SLOWDOWN: f64 = 0.1;
    /// Compute slowdown versus native: at most 1e6. An interpreter is about 10-100x, but a
    /// guest without hardware virtualisation emulates: the `vm` scheme measured 10,400-15,600x
    /// on the nested-virtualisation EPYC VM (arith and int_mul kernels), a real cost the
    /// earlier limit of 1e4 refused to store.
    pub const MAX_SLOWDOWN: f64 = 1e6;
    /// A host profile or workload file: at most 16 MiB (the committed ones are under 100 KiB).
    /// Reading stops there, so `/dev/zero` or a runaway file is an error, not all of memory.
    pub const MAX_FILE_BYTES: u64 = 16 << 20;
    /// Any other number in a file (a sanity flag's value and range, a price): finite and at
    /// most 1e18 in magnitude.
    pub const MAX_OTHER: f64 = 1e18;
}

/// The format's upper limit for a quantity of unit `U`, and the unit's name.
pub(crate) fn limit_of<U: Quantity>() -> (f64, &'static str) {
    let t = TypeId::of::<U>();
    if t == TypeId::of::<Nanos>() {
        (limits::MAX_NANOS, "ns")
    } else if t == TypeId::of::<NanosPerByte>() {
        (limits::MAX_NANOS_PER_BYTE, "ns/B")
    } else if t == TypeId::of::<Bytes>() {
        (limits::MAX_BYTES, "B")
    } else if t == TypeId::of::<PerSecond>() {
        (limits::MAX_RATE, "/s")
    } else if t == TypeId::of::<Factor>() {
        (limits::MAX_SLOWDOWN, "x")
    } else {
        (limits::MAX_OTHER, "")
    }
}

/// Walks a structure, keeping the dotted path to the current field so an error can name it:
/// `fixtures/hosts/x.ron: transports.tcp.unloaded.server.per_byte.point must be >= 0, got -0.2`.
#[derive(Debug)]
pub struct Check<'a> {
    origin: &'a str,
    path: Vec<String>,
}

impl<'a> Check<'a> {
    /// Starts a check of the object loaded from `origin` (a file path or a description).
    pub fn new(origin: &'a str) -> Self {
        Check {
            origin,
            path: Vec::new(),
        }
    }

    /// Runs `f` with `segment` pushed onto the path.
    pub fn with<T>(&mut self, segment: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.path.push(segment.to_owned());
        let r = f(self);
        self.path.pop();
        r
    }

    /// The dotted path of `field` under the current position.
    fn field_path(&self, field: &str) -> String {
        let mut p = self.path.join(".");
        if !field.is_empty() {
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(field);
        }
        p
    }

    /// An error for `field` with `message`.
    pub fn fail(&self, field: &str, message: impl Into<String>) -> CostError {
        CostError::invalid(self.origin, self.field_path(field), message)
    }

    /// `value` must be finite.
    pub fn finite(&self, field: &str, value: f64) -> Result<()> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be a finite number, got {value}")))
        }
    }

    /// `value` must be finite and `>= 0`.
    pub fn non_negative(&self, field: &str, value: f64) -> Result<()> {
        self.finite(field, value)?;
        if value >= 0.0 {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be >= 0, got {value}")))
        }
    }

    /// `value` must be finite and `> 0`.
    pub fn positive(&self, field: &str, value: f64) -> Result<()> {
        self.finite(field, value)?;
        if value > 0.0 {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be > 0, got {value}")))
        }
    }

    /// `value` must lie in the closed interval `[lo, hi]`.
    pub fn within(&self, field: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
        self.finite(field, value)?;
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(self.fail(field, format!("must be in [{lo}, {hi}], got {value}")))
        }
    }

    /// `value` must be finite, `>= 0` and at most `max` (the format's limit, in `unit`).
    pub fn bounded(&self, field: &str, value: f64, max: f64, unit: &str) -> Result<()> {
        self.non_negative(field, value)?;
        if value <= max {
            Ok(())
        } else {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            Err(self.fail(
                field,
                format!("must be <= {max:e}{unit} (the format's limit), got {value:e}"),
            ))
        }
    }

    /// A quantity must be finite, `>= 0` and within its unit's limit ([`limits`]).
    pub fn quantity<U: Quantity>(&self, field: &str, value: U) -> Result<()> {
        let (max, unit) = limit_of::<U>();
        self.bounded(field, value.value(), max, unit)
    }

    /// A string field must not be empty.
    pub fn non_empty(&self, field: &str, value: &str) -> Result<()> {
        if value.trim().is_empty() {
            Err(self.fail(field, "must not be empty"))
        } else {
            Ok(())
        }
    }

    /// The origin this check reports.
    pub fn origin(&self) -> &str {
        self.origin
    }
}

/// Refuses a cost with a non-finite or negative total: the equations' output check. Bounded
/// inputs ([`limits`]) cannot produce one, so this error means a bug or an input that bypassed
/// validation; it names the placement and the axis rather than letting infinity rank.
pub(crate) fn finite_cost(
    cost: &crate::cost::PlacementCost,
    placement: &crate::placement::Placement,
) -> Result<()> {
    for (axis, v) in [
        ("storage_cpu", cost.storage_cpu.get()),
        ("compute_cpu", cost.compute_cpu.get()),
        ("network_bytes", cost.network_bytes.get()),
        ("latency", cost.latency.get()),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(CostError::BadPlacement {
                placement: placement.to_string(),
                message: format!("{axis} came out as {v}, not a finite non-negative cost"),
            });
        }
    }
    Ok(())
}

/// Refuses a crossover that is not finite and non-negative (see [`finite_cost`]).
pub(crate) fn finite_crossover(
    x: crate::cost::Crossover,
    placement: &crate::placement::Placement,
) -> Result<crate::cost::Crossover> {
    match x {
        crate::cost::Crossover::At(k) if !(k.is_finite() && k >= 0.0) => {
            Err(CostError::BadPlacement {
                placement: placement.to_string(),
                message: format!("crossover came out as {k}, not a finite number of records"),
            })
        }
        x => Ok(x),
    }
}

/// Deserialises a map, refusing a key that appears twice (serde's `BTreeMap` keeps the last and
/// drops the first silently). Use with `#[serde(deserialize_with = "...")]`.
pub(crate) fn strict_map<'de, D, K, V>(d: D) -> std::result::Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: serde::Deserialize<'de> + Ord + fmt::Display,
    V: serde::Deserialize<'de>,
{
    struct Strict<K, V>(PhantomData<(K, V)>);
    impl<'de, K, V> Visitor<'de> for Strict<K, V>
    where
        K: serde::Deserialize<'de> + Ord + fmt::Display,
        V: serde::Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map with distinct keys")
        }
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut m: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = m.next_key::<K>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!("duplicate key \"{k}\"")));
                }
                let v = m.next_value()?;
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Strict(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_nested_field_and_value() {
        let mut c = Check::new("fixtures/hosts/x.ron");
        let err = c
            .with("transports", |c| {
                c.with("tcp", |c| c.non_negative("per_byte", -0.2))
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "fixtures/hosts/x.ron: transports.tcp.per_byte must be >= 0, got -0.2"
        );
    }

    #[test]
    fn nan_is_not_finite() {
        let c = Check::new("t");
        assert!(c.non_negative("x", f64::NAN).is_err());
        assert!(c.within("rho", 1.5, 0.0, 1.0).is_err());
    }
}
