#![doc = include_str!("../README.md")]

pub mod api;
pub mod client;
pub mod engine;
pub mod error;
pub mod extender;
pub mod http;
pub mod metrics;
pub mod workload;
