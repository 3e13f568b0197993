//! The Redis / Valkey backends, for several gateway replicas sharing one hot state: [`hot`] (the
//! `HotState`, published as `palisade_store::redis_hot`) and [`limiter`] (rate-limit decisions,
//! `palisade_store::redis_limiter`). They share one connection ([`hot::Conn`]).

pub mod hot;
pub mod limiter;
