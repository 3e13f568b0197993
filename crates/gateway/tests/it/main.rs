//! Integration tests: the real gateway on 127.0.0.1:0, spoken to over HTTP.

pub mod alerts;
pub mod audit;
pub mod authorization;
mod boundary;
mod common;
mod config;
mod forward_nginx;
mod hardening;
pub mod identity;
mod keys;
mod listener;
mod openapi;
mod posture;
mod principals;
mod proxy;
mod ratelimit;
mod refusals;
mod resilience;
mod revocation_restart;
mod scale_out;
mod secrets;
mod strict_http;

pub use authorization::policies as authorization_policies;
