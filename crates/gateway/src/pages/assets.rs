//! The pages' static assets, embedded in the binary: one stylesheet and one script, served from
//! `/auth/pages/assets/` (the page CSP allows `'self'` only, so nothing comes from a CDN).

use crate::state::AppState;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// The stylesheet (light and dark, visible focus).
pub const CSS: &str = include_str!("assets/pages.css");
/// The script (passkey ceremonies; every page works for password sign-in without it).
pub const JS: &str = include_str!("assets/pages.js");

/// `/auth/pages/assets/pages.css` and `/auth/pages/assets/pages.js`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/pages/assets/pages.css", get(css))
        .route("/auth/pages/assets/pages.js", get(js))
}

/// The pages' stylesheet.
#[utoipa::path(get, path = "/auth/pages/assets/pages.css", tag = "pages",
    responses((status = 200, description = "The stylesheet of the hosted pages.", content_type = "text/css")))]
async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// The pages' script.
#[utoipa::path(get, path = "/auth/pages/assets/pages.js", tag = "pages",
    responses((status = 200, description = "The script of the hosted pages.", content_type = "text/javascript")))]
async fn js() -> Response {
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
