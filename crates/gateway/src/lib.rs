//! Palisade's HTTP side, one room per concern (DESIGN.md, "Crates (rooms)"): the gates
//! ([`layers`], one tower layer per file) over the per-request facts they share ([`request`]);
//! the route step ([`route`]: built-in or upstream, the proxy); the built-in API ([`api`]) and
//! the hosted pages ([`pages`]) with passkeys ([`passkeys`]); who
//! is calling ([`identity`]) and what they may do ([`authz`]); the audit trail and alerts
//! ([`audit`]); data protection ([`protect`]); configuration ([`config`]); hot state ([`hot`]);
//! and the listeners ([`server`]). [`pipeline`] assembles the gates; [`state`] is what every
//! worker shares.
//!
//! Two ways to use it: [`server::start`] runs a gateway (what `palisade serve` does), and
//! [`Palisade`] puts the same gates in front of an axum service in-process (library mode).
//!
//! # Library mode
//!
//! The re-exports below are the surface an application needs: [`Palisade::builder`] over the
//! [`Config`] `palisade serve` reads, the [`PalisadeLayer`] that wraps the application's
//! `Router`, the [`Caller`] extractor for its handlers, and [`Problem`] for answers in
//! Palisade's shape. `examples/axum-app/` in the repository is a small service protected this
//! way, with tests.
//!
//! ```no_run
//! use axum::{Router, ServiceExt as _, routing::get};
//! use palisade_gateway::{Caller, Config, Palisade};
//! use std::net::SocketAddr;
//! use tower::Layer as _;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = Config::load_file("palisade.toml".as_ref())?;
//!     let palisade = Palisade::builder(config).build().await?;
//!     let router = Router::new().route("/me", get(|who: Caller| async move { who.subject().to_owned() }));
//!     // Sign-in and the rest of Palisade's API answer under /.palisade.
//!     let app = palisade.layer().layer(router);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub use config::{Config, Environment};
pub use library::{Caller, Palisade, PalisadeBuilder, PalisadeLayer, PalisadeService, RequestId};
pub use palisade_core::principal::{AuthMethod, Principal};
pub use problem::Problem;
pub use server::StartError;

pub mod api;
pub mod audit;
pub mod authz;
pub mod compliance;
pub mod config;
pub mod console;
pub mod demo;
pub mod erasures;
#[cfg(test)]
mod fuzz_replay;
pub mod hot;
pub mod identity;
pub mod layers;
mod library;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod pages;
pub mod passkeys;
pub mod pipeline;
pub mod problem;
pub mod protect;
pub mod reload;
pub mod request;
pub mod retention;
pub mod route;
pub mod series;
pub mod server;
pub mod state;
