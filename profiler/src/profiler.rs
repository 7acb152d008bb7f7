//! `Profiler`: ingests invocation records and keeps each function's [`FunctionProfile`] current,
//! in constant memory per function.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use costmodel::{FunctionId, WORKLOAD_FORMAT_VERSION, WorkloadProfile, WorkloadSet};

pub use crate::config::ProfilerConfig;
pub use crate::function_profile::{
    FunctionProfile, Percentiles, Prediction, Quantiles, Stationarity,
};

use crate::error::{ProfilerError, Result};
use crate::id_hasher::IdHasher;
use crate::record::InvocationRecord;

/// The online profiler: one [`FunctionProfile`] per function seen.
#[derive(Clone, Debug)]
pub struct Profiler {
    config: ProfilerConfig,
    index: HashMap<FunctionId, usize, BuildHasherDefault<IdHasher>>,
    functions: Vec<FunctionProfile>,
    /// The function of the last record: traces often repeat a function, so this skips a hash.
    last: Option<(FunctionId, usize)>,
    /// Latest start time seen or time advanced to.
    now_ns: u64,
}

impl Profiler {
    /// A profiler with `config`.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidConfig`] when the configuration is out of range.
    pub fn new(config: ProfilerConfig) -> Result<Self> {
        config.check()?;
        Ok(Profiler {
            config,
            index: HashMap::default(),
            functions: Vec::new(),
            last: None,
            now_ns: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProfilerConfig {
        &self.config
    }

    /// Ingests one record. Records of one function must come in start order; records of
    /// different functions may interleave freely.
    ///
    /// # Errors
    /// [`ProfilerError::InvalidRecord`] for a negative or non-finite time or size, and
    /// [`ProfilerError::OutOfOrder`] for a record that starts before the previous record of
    /// its function. The profile is unchanged on error.
    pub fn ingest(&mut self, r: &InvocationRecord) -> Result<()> {
        if let Some((field, value, message)) = r.problem() {
            return Err(ProfilerError::InvalidRecord {
                function: r.function.to_string(),
                field,
                value,
                message,
            });
        }
        let i = match self.last {
            Some((id, i)) if id == r.function => i,
            _ => {
                let i = match self.index.get(&r.function) {
                    Some(&i) => i,
                    None => {
                        self.functions
                            .push(FunctionProfile::new(r.function, &self.config));
                        self.index.insert(r.function, self.functions.len() - 1);
                        self.functions.len() - 1
                    }
                };
                self.last = Some((r.function, i));
                i
            }
        };
        self.functions[i].ingest(r, self.config.window_ns)?;
        self.now_ns = self.now_ns.max(r.start_ns);
        Ok(())
    }

    /// Ingests every record of an iterator, stopping at the first error.
    ///
    /// # Errors
    /// The first record's error, as [`Profiler::ingest`].
    pub fn ingest_all<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a InvocationRecord>,
    ) -> Result<u64> {
        let mut n = 0;
        for r in records {
            self.ingest(r)?;
            n += 1;
        }
        Ok(n)
    }

    /// Tells the profiler that time `now_ns` has been reached: every function's windows that
    /// end at or before it are closed (idle functions see their rate fall).
    pub fn advance_to(&mut self, now_ns: u64) {
        let w = now_ns / self.config.window_ns;
        for f in &mut self.functions {
            f.close_through(w);
        }
        self.now_ns = self.now_ns.max(now_ns);
    }

    /// The state of function `id`, if it has been seen.
    pub fn function(&self, id: FunctionId) -> Option<&FunctionProfile> {
        self.index.get(&id).map(|&i| &self.functions[i])
    }

    /// Every function's state, in order of first appearance.
    pub fn functions(&self) -> &[FunctionProfile] {
        &self.functions
    }

    /// The cost-model profile of function `id`, if it has been seen.
    pub fn profile(&self, id: FunctionId) -> Option<WorkloadProfile> {
        self.function(id).map(|f| f.workload_profile(&self.config))
    }

    /// Every function's profile as a workload set (RON-saveable with `costmodel`).
    pub fn workload_set(&self, description: impl Into<String>) -> WorkloadSet {
        WorkloadSet {
            format_version: WORKLOAD_FORMAT_VERSION,
            description: description.into(),
            workloads: self
                .functions
                .iter()
                .map(|f| f.workload_profile(&self.config))
                .collect(),
        }
    }

    /// Bytes held: fixed per function, independent of records ingested (the index's and the
    /// state vector's capacity grow with the number of functions only).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.functions.capacity() * FunctionProfile::memory_bytes()
            + self.index.capacity()
                * (std::mem::size_of::<FunctionId>() + std::mem::size_of::<usize>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use costmodel::Nanos;

    fn rec(f: &str, t: u64) -> InvocationRecord {
        InvocationRecord::new(FunctionId::new(f).unwrap(), t, Nanos::new(100.0))
    }

    #[test]
    fn out_of_order_record_is_rejected_and_names_the_function() {
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        p.ingest(&rec("a", 100)).unwrap();
        p.ingest(&rec("b", 50)).unwrap();
        let err = p.ingest(&rec("a", 99)).unwrap_err().to_string();
        assert!(err.contains("function a") && err.contains("99"), "{err}");
    }

    #[test]
    fn regular_arrivals_give_their_rate_and_a_low_cv() {
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        // 4 per second for 100 s.
        for i in 0..400u64 {
            p.ingest(&rec("t", i * 250_000_000)).unwrap();
        }
        p.advance_to(100_000_000_000);
        let f = p.function(FunctionId::new("t").unwrap()).unwrap();
        let prof = f.workload_profile(p.config());
        assert!((prof.arrival.rate.get() - 4.0).abs() < 1e-9);
        assert!(prof.arrival.cv < 1e-9);
        prof.validate("test").unwrap();
    }

    #[test]
    fn idle_function_rate_falls_to_zero_after_advance() {
        let mut p = Profiler::new(ProfilerConfig::default()).unwrap();
        for i in 0..2000u64 {
            p.ingest(&rec("t", i * 100_000_000)).unwrap();
        }
        // Silent for an hour.
        p.advance_to(200_000_000_000 + 3_600_000_000_000);
        let f = p.function(FunctionId::new("t").unwrap()).unwrap();
        assert!(f.rate(p.config()).get() < 0.01);
        assert_eq!(f.stationarity(p.config()).changes, 1);
    }

    #[test]
    fn profiler_state_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Profiler>();
        check::<FunctionProfile>();
    }
}
