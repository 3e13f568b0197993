//! Palisade's HTTP side: the gates (one tower layer per file under `layers/`), the proxy, the
//! built-in endpoints, the listeners and configuration.
//!
//! Use [`server::start`] to run a gateway, or [`pipeline::Gates`] to put the gates in front of
//! your own service.
#![forbid(unsafe_code)]

pub mod admin_api;
pub mod admin_audit;
pub mod alerts;
pub mod audit;
pub mod audit_trail;
pub mod auth_api;
pub mod authz;
pub mod backends;
pub mod builtin;
pub mod checks;
pub mod config;
pub mod config_alerts;
pub mod config_audit;
pub mod config_auth;
pub mod config_http2;
pub mod config_refs;
pub mod config_secrets;
pub mod config_traffic;
pub mod conn_io;
pub mod cors;
pub mod demo;
pub mod forward_auth;
pub mod framing;
#[cfg(test)]
mod fuzz_replay;
pub mod hot_cache;
pub mod identity;
pub mod json;
pub mod keyring;
pub mod layers;
pub mod logging;
pub mod master_key;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod preflight;
pub mod problem;
pub mod proxy;
pub mod refusals;
pub mod resilience;
pub mod routes;
pub mod secrets;
pub mod secrets_api;
pub mod server;
pub mod service_accounts;
pub mod state;
pub mod tenants;
pub mod tls;
pub mod transit;
pub mod units;
pub mod vault;
