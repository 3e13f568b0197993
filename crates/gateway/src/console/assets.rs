//! The console's static assets, embedded in the binary: one stylesheet and one script, served
//! from `/admin/console/assets/` to anyone (they hold no data; the page CSP allows `'self'`).

use crate::state::AppState;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// The stylesheet (light and dark, visible focus).
pub const CSS: &str = include_str!("assets/console.css");
/// The script (the actions; every page reads without it).
pub const JS: &str = include_str!("assets/console.js");

/// `/admin/console/assets/console.css` and `/admin/console/assets/console.js`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/console/assets/console.css", get(css))
        .route("/admin/console/assets/console.js", get(js))
}

/// The console's stylesheet.
#[utoipa::path(get, path = "/admin/console/assets/console.css", tag = "console",
    responses((status = 200, description = "The console's stylesheet.", content_type = "text/css")))]
pub(crate) async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// The console's script.
#[utoipa::path(get, path = "/admin/console/assets/console.js", tag = "console",
    responses((status = 200, description = "The console's script.", content_type = "text/javascript")))]
pub(crate) async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated every time: the binary's assets change with an upgrade.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
