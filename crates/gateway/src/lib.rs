//! Palisade's HTTP side, one room per concern (DESIGN.md, "Crates (rooms)"): the gates
//! ([`layers`], one tower layer per file) over the per-request facts they share ([`request`]);
//! the route step ([`route`]: built-in or upstream, the proxy); the built-in API ([`api`]); who
//! is calling ([`identity`]) and what they may do ([`authz`]); the audit trail and alerts
//! ([`audit`]); data protection ([`protect`]); configuration ([`config`]); hot state ([`hot`]);
//! and the listeners ([`server`]). [`pipeline`] assembles the gates; [`state`] is what every
//! worker shares.
//!
//! Use [`server::start`] to run a gateway, or [`pipeline::Gates`] to put the gates in front of
//! your own service.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod authz;
pub mod config;
pub mod demo;
#[cfg(test)]
mod fuzz_replay;
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
