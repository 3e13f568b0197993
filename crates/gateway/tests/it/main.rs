//! Integration tests: the real gateway on 127.0.0.1:0, spoken to over HTTP.

pub mod alerts;
mod app_events;
mod app_events_restart;
pub mod audit;
pub mod authorization;
mod boundary;
mod browser_pages;
mod common;
mod config;
mod device;
pub mod federation;
mod forward_caddy;
mod forward_nginx;
mod hardening;
mod headers;
pub mod identity;
mod imports;
mod inspect;
mod keys;
mod listener;
mod mfa;
mod openapi;
mod pages;
mod posture;
mod principals;
mod proxy;
mod ratelimit;
mod refusals;
mod resilience;
mod revocation_restart;
mod scale_out;
mod secrets;
mod shared_stale;
mod strict_http;
mod window;

pub use authorization::policies as authorization_policies;
