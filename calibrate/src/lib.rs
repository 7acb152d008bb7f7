#![doc = include_str!("../README.md")]

pub mod advice;
pub mod cpu;
pub mod env;
mod error;
pub mod fit;
pub mod harness;
pub mod isolation;
pub mod micro;
pub mod noise;
pub mod profile;
pub mod report;
pub mod run;
pub mod sanity;
pub mod server;
pub mod stats;
pub mod transport;

pub use error::{CalibrateError, Result};
pub use run::{Plan, Progress, RunReport, Silent, run};
