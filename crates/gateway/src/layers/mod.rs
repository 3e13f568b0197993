//! The gates of the request pipeline, one tower layer per file, in pipeline order:
//!
//! ```text
//! respond ─► boundary ─► cors ─► durability ─► sanitize ─► admission ─► firewall ─► identify
//!         ─► lockdown ─► throttle ─► authorize ─► inspect ─► query_tools ─► upload ─► route
//! ```
//!
//! `respond` is outermost so that it sees every answer, refusals included, to add security
//! headers, count metrics and write the access log. `boundary` runs first on the way in and
//! attaches the [`RequestMeta`](crate::request::RequestMeta) that later gates read
//! (`strict_http` is the first of its checks). The asynchronous gates share [`check`].
//!
//! A gate reads `request`, `config`, `audit`, `identity`, `authz`, `protect` and the route table; it never
//! imports an endpoint of the built-in API, the route step or the pipeline that assembles it.

pub mod admission;
pub mod authorize;
mod body;
pub mod boundary;
pub mod check;
pub mod cors;
pub mod durability;
pub mod firewall;
pub mod identify;
pub mod inspect;
pub mod lockdown;
pub mod query_tools;
pub mod respond;
pub mod sanitize;
pub mod strict_http;
pub mod throttle;
pub mod upload;
