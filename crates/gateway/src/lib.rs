//! Palisade's HTTP side: the gates (one tower layer per file under `layers/`), the proxy, the
//! built-in endpoints, the listeners and configuration.
//!
//! Use [`server::start`] to run a gateway, or [`pipeline::Gates`] to put the gates in front of
//! your own service.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod authz;
pub mod config;
pub mod demo;
pub mod hot;
pub mod identity;
pub mod layers;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod problem;
pub mod protect;
pub mod reload;
pub mod request;
pub mod route;
pub mod server;
pub mod state;
