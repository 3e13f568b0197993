//! What every worker shares: configuration, stores, routes and the metrics handle.

use crate::audit::AuditLog;
use crate::config::Config;
use crate::identity::Identity;
use crate::route::table::RouteTable;
use metrics_exporter_prometheus::PrometheusHandle;
use palisade_core::clock::SharedClock;
use palisade_store::{SharedHotState, SharedStore};
use std::sync::Arc;

/// What every worker shares: the configuration, backends, routes, identity, policy, gates'
/// state and the metrics handle. Built once at start (server or library mode).
#[derive(Debug)]
pub struct AppState {
    /// The configuration in force.
    pub config: Config,
    /// The durable store.
    pub store: SharedStore,
    /// Hot state.
    pub hot: SharedHotState,
    /// The route table.
    pub routes: Arc<RouteTable>,
    /// This replica's last hour of requests, for the console's dashboard.
    pub series: Arc<crate::series::Series>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The clock every expiry is read from.
    pub clock: SharedClock,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// Identity.
    pub identity: Arc<Identity>,
    /// The authorizer.
    pub authz: Arc<crate::authz::Authorizer>,
    /// The tenant snapshot.
    pub tenants: Arc<crate::authz::tenants::Tenants>,
    /// The rate limiter.
    pub throttle: Arc<crate::layers::throttle::Throttle>,
    /// Load shedding.
    pub admission: Arc<crate::layers::admission::AdmissionControl>,
    /// Breakers and the stale fallback.
    pub resilience: Arc<crate::route::resilience::Resilience>,
    /// Where configuration is re-read from on reload (SIGHUP, `POST /admin/config/reload`).
    pub config_source: std::sync::Mutex<crate::config::ConfigSource>,
    /// The field-encryption data keys (rotation, re-encryption).
    pub keyring: Arc<crate::protect::keyring::KeyringService>,
    /// The secrets store (`/v1/secrets`).
    pub vault: Arc<crate::protect::vault::Vault>,
    /// The passkey relying party and its waiting ceremonies.
    pub passkeys: crate::passkeys::Passkeys,
    /// The federated sign-in providers and their waiting flows.
    pub federation: crate::identity::federation::Federation,
}
