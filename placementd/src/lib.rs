#![doc = include_str!("../README.md")]

pub mod api;
pub mod client;
pub mod engine;
pub mod error;
pub mod extender;
pub mod http;
mod kube_objects;
pub mod metrics;
mod node_view;
mod pod_inputs;
pub mod workload;
