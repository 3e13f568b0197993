//! The gates of the request pipeline, one tower layer per file, in pipeline order:
//!
//! ```text
//! respond ─► boundary ─► cors ─► sanitize ─► admission ─► firewall ─► identify ─► throttle
//!         ─► authorize ─► (inspect: its own issue) ─► route
//! ```
//!
//! `respond` is outermost so that it sees every answer, refusals included, to add security
//! headers, count metrics and write the access log. `boundary` runs first on the way in and
//! attaches the [`RequestMeta`](crate::request::RequestMeta) that later gates read.

pub mod admission;
pub mod authorize;
pub mod boundary;
pub mod check;
pub mod firewall;
pub mod identify;
pub mod respond;
pub mod sanitize;
pub mod strict_http;
pub mod throttle;
