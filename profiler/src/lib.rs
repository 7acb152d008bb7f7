#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
pub mod csv;
mod error;
pub mod fleet;
pub mod forecast;
mod function_profile;
mod id_hasher;
pub mod profiler;
mod record;
pub mod ron_trace;
pub mod sketch;
pub mod stationarity;
pub mod stats;
pub mod synth;
mod trace;

pub use csv::{CSV_COLUMNS, CsvReader, read_csv_str, write_csv};
pub use error::{ProfilerError, Result};
pub use fleet::{CoreRef, CoreStat, FleetView, MachineSpec, TenantId};
pub use forecast::Holt;
pub use profiler::{
    FunctionProfile, Percentiles, Prediction, Profiler, ProfilerConfig, Quantiles, Stationarity,
};
pub use record::InvocationRecord;
pub use ron_trace::{TRACE_FORMAT_VERSION, read_ron_str, write_ron};
pub use sketch::LogHistogram;
pub use stationarity::{CusumParams, Observed, RateDetector};
pub use stats::{LinearFit, Moments};
pub use synth::{ArrivalKind, FunctionSpec, Generator, Rng, Scenario, Step, azure_like};
pub use trace::{Trace, TraceFormat};
