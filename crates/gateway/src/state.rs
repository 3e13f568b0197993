//! What every worker shares: configuration, stores, routes and the metrics handle.

use crate::audit::AuditLog;
use crate::config::Config;
use crate::identity::Identity;
use crate::route::table::RouteTable;
use metrics_exporter_prometheus::PrometheusHandle;
use palisade_core::clock::SharedClock;
use palisade_store::{SharedHotState, SharedStore};
use std::sync::Arc;

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: SharedStore,
    pub hot: SharedHotState,
    pub routes: Arc<RouteTable>,
    pub metrics: PrometheusHandle,
    pub clock: SharedClock,
    pub audit: Arc<AuditLog>,
    pub identity: Arc<Identity>,
    pub authz: Arc<crate::authz::Authorizer>,
    pub tenants: Arc<crate::authz::tenants::Tenants>,
    pub throttle: Arc<crate::layers::throttle::Throttle>,
    pub admission: Arc<crate::layers::admission::AdmissionControl>,
    pub resilience: Arc<crate::route::resilience::Resilience>,
    /// Where configuration is re-read from on reload (SIGHUP, `POST /admin/config/reload`).
    pub config_source: std::sync::Mutex<crate::config::ConfigSource>,
    /// The field-encryption data keys (rotation, re-encryption).
    pub keyring: Arc<crate::protect::keyring::KeyringService>,
    /// The secrets store (`/v1/secrets`).
    pub vault: Arc<crate::protect::vault::Vault>,
}
