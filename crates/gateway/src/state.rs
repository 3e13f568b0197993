//! What every worker shares: configuration, stores, routes and the metrics handle.

use crate::config::Config;
use crate::routes::RouteTable;
use metrics_exporter_prometheus::PrometheusHandle;
use palisade_store::{SharedHotState, SharedStore};
use std::sync::Arc;

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: SharedStore,
    pub hot: SharedHotState,
    pub routes: Arc<RouteTable>,
    pub metrics: PrometheusHandle,
}
