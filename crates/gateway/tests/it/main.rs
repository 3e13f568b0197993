//! Integration tests: the real gateway on 127.0.0.1:0, spoken to over HTTP.

mod boundary;
mod common;
mod config;
mod identity;
mod listener;
mod proxy;
