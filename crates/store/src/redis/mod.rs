//! The Redis / Valkey backends, for several gateway replicas sharing one hot state: [`hot`] (the
//! `HotState`, published as `palisade_store::redis_hot`) and [`limiter`] (rate-limit decisions,
//! `palisade_store::redis_limiter`) and [`stale`] (the shared stale-fallback entries,
//! `palisade_store::redis_stale`). They share one connection ([`hot::Conn`]).

pub mod hot;
pub mod limiter;
pub mod stale;
