//! Integration tests: the real gateway on 127.0.0.1:0, spoken to over HTTP.

mod authorization;
mod boundary;
mod common;
mod config;
pub mod identity;
mod listener;
mod proxy;
