//! `InvocationRecord`: what one invocation of a function did, as a trace line records it.

use costmodel::{Bytes, FunctionId, Nanos, Side};
use serde::{Deserialize, Serialize};

use crate::error::{ProfilerError, Result};

/// One invocation: when it started, how long it ran, the CPU it cost on each tier, what it read
/// and wrote, how big its input was, where it ran and whether it found a warm context.
///
/// Field names are the CSV column names and the RON field names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    /// The function invoked.
    pub function: FunctionId,
    /// Start time in nanoseconds since the trace's origin (an integer: absolute timestamps do
    /// not fit an `f64` exactly).
    pub start_ns: u64,
    /// Wall-clock duration.
    #[serde(rename = "duration_ns")]
    pub duration: Nanos,
    /// CPU spent on the storage server (running the function inside, or serving its reads).
    #[serde(rename = "storage_cpu_ns")]
    pub storage_cpu: Nanos,
    /// CPU spent on the compute node (running the function remotely, or forwarding the call).
    #[serde(rename = "compute_cpu_ns")]
    pub compute_cpu: Nanos,
    /// Records read.
    pub records_read: u64,
    /// Records written.
    pub records_written: u64,
    /// Bytes read from storage.
    pub bytes_read: Bytes,
    /// Bytes written to storage.
    pub bytes_written: Bytes,
    /// Size of the invocation's input (request arguments).
    pub input_bytes: Bytes,
    /// Size of the invocation's result (response).
    pub output_bytes: Bytes,
    /// Which tier ran the function.
    pub side: Side,
    /// True when the invocation found a warm context (no cold start).
    pub warm: bool,
}

/// A field of a record outside its domain: `(field, value, what was expected)`.
pub(crate) type FieldProblem = (&'static str, f64, &'static str);

impl InvocationRecord {
    /// A record with the given identity and timing and every other field zero (warm, at
    /// storage); for tests and generators that fill in what they need.
    pub fn new(function: FunctionId, start_ns: u64, duration: Nanos) -> Self {
        InvocationRecord {
            function,
            start_ns,
            duration,
            storage_cpu: Nanos::ZERO,
            compute_cpu: Nanos::ZERO,
            records_read: 0,
            records_written: 0,
            bytes_read: Bytes::ZERO,
            bytes_written: Bytes::ZERO,
            input_bytes: Bytes::ZERO,
            output_bytes: Bytes::ZERO,
            side: Side::Storage,
            warm: true,
        }
    }

    /// The CPU spent on the tier that ran the function: the profile's estimate of its compute.
    ///
    /// This includes whatever per-invocation overhead the tracing system counted on that tier
    /// (dispatch, domain switch); the calibrated host profile says how large that is.
    pub fn executing_cpu(&self) -> Nanos {
        match self.side {
            Side::Storage => self.storage_cpu,
            Side::Compute => self.compute_cpu,
        }
    }

    /// The first field outside its domain, if any: times and sizes must be finite, `>= 0` and
    /// within the cost model's format limits ([`costmodel::limits`]: 1e15 ns, 2^40 B, 1e9
    /// records), so no sum or mean the profiler keeps can overflow and every accepted trace
    /// profiles to a workload the cost model accepts.
    pub(crate) fn problem(&self) -> Option<FieldProblem> {
        use costmodel::limits::{MAX_BYTES, MAX_NANOS, MAX_RECORDS};
        const NS: &str = "must be <= 1e15 ns (the format's limit)";
        const B: &str = "must be <= 2^40 B (the format's limit)";
        const N: &str = "must be <= 1e9 (the format's limit)";
        #[allow(clippy::cast_precision_loss)]
        let count = |n: u64| n as f64;
        let fields = [
            ("duration_ns", self.duration.get(), MAX_NANOS, NS),
            ("storage_cpu_ns", self.storage_cpu.get(), MAX_NANOS, NS),
            ("compute_cpu_ns", self.compute_cpu.get(), MAX_NANOS, NS),
            ("records_read", count(self.records_read), MAX_RECORDS, N),
            (
                "records_written",
                count(self.records_written),
                MAX_RECORDS,
                N,
            ),
            ("bytes_read", self.bytes_read.get(), MAX_BYTES, B),
            ("bytes_written", self.bytes_written.get(), MAX_BYTES, B),
            ("input_bytes", self.input_bytes.get(), MAX_BYTES, B),
            ("output_bytes", self.output_bytes.get(), MAX_BYTES, B),
        ];
        let bad = fields.into_iter().find_map(|(field, v, max, too_big)| {
            if !v.is_finite() {
                Some((field, v, "must be a finite number"))
            } else if v < 0.0 {
                Some((field, v, "must be >= 0"))
            } else if v > max {
                Some((field, v, too_big))
            } else {
                None
            }
        });
        // Bytes per record (bytes read over records read) must stay within 2^40 B too.
        bad.or_else(|| {
            let per_record = MAX_BYTES * count(self.records_read);
            (self.bytes_read.get() > per_record).then_some((
                "bytes_read",
                self.bytes_read.get(),
                "must be <= records_read x 2^40 B (a record is at most 2^40 B)",
            ))
        })
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidRecord`] naming the first bad field and its value.
    pub fn validate(&self) -> Result<()> {
        match self.problem() {
            None => Ok(()),
            Some((field, value, message)) => Err(ProfilerError::InvalidRecord {
                function: self.function.to_string(),
                field,
                value,
                message,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> FunctionId {
        FunctionId::new("f").unwrap()
    }

    #[test]
    fn negative_duration_is_named_in_the_error() {
        let r = InvocationRecord::new(id(), 0, Nanos::new(-5.0));
        let err = r.validate().unwrap_err().to_string();
        assert_eq!(err, "function f: field duration_ns must be >= 0, got -5");
    }

    #[test]
    fn executing_cpu_follows_the_side() {
        let mut r = InvocationRecord::new(id(), 0, Nanos::new(1.0));
        r.storage_cpu = Nanos::new(10.0);
        r.compute_cpu = Nanos::new(20.0);
        assert!((r.executing_cpu().get() - 10.0).abs() < 1e-12);
        r.side = Side::Compute;
        assert!((r.executing_cpu().get() - 20.0).abs() < 1e-12);
    }
}
