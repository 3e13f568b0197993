//! Forward auth: `/auth/verify` answers a proxy that keeps its own routing (nginx
//! `auth_request`, Traefik `ForwardAuth`, Envoy `ext_authz` in HTTP mode) whether the request it
//! holds may pass. The firewall and identify gates have already run on this request (the proxy
//! forwards the client's credentials); here the original method and path are authorized with the
//! same policy as proxied traffic. 200 carries the identity headers for the proxy to pass on;
//! otherwise 401 or 403.
//!
//! The original request is read from `X-Original-Method` / `X-Original-URI` (nginx), else
//! `X-Forwarded-Method` / `X-Forwarded-Uri` (Traefik), else the path after `/auth/verify` and the
//! method of this request (Envoy, with `path_prefix: /auth/verify`).

use crate::json::request_id;
use crate::layers::Req;
use crate::problem::refuse;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use palisade_core::principal::Principal;
use std::sync::Arc;

pub const PATH: &str = "/auth/verify";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The method and path of the request the proxy is asking about.
pub fn original(req: &Req) -> Option<(String, String)> {
    let h = req.headers();
    let method = header(h, "x-original-method")
        .or_else(|| header(h, "x-forwarded-method"))
        .unwrap_or(req.method().as_str())
        .to_ascii_uppercase();
    let uri = match header(h, "x-original-uri").or_else(|| header(h, "x-forwarded-uri")) {
        Some(uri) => uri.to_string(),
        None => {
            let rest = req.uri().path().strip_prefix(PATH)?;
            if rest.is_empty() {
                return None;
            }
            rest.to_string()
        }
    };
    // Only the path is authorized; the query never widens or narrows access.
    let path = uri.split(['?', '#']).next().unwrap_or("").to_string();
    if !path.starts_with('/') || path.contains("/../") || path.ends_with("/..") {
        return None;
    }
    Some((method, path))
}

pub async fn verify(State(state): State<Arc<AppState>>, mut req: Req) -> Response {
    let id = request_id(&req);
    let Some((method, path)) = original(&req) else {
        return refuse(
            crate::authz::GATE,
            "no-original-request",
            StatusCode::BAD_REQUEST,
            "Send the original request as X-Original-Method and X-Original-URI (nginx), X-Forwarded-Method and X-Forwarded-Uri (Traefik), or as the path after /auth/verify (Envoy).",
            &id,
        );
    };
    let principal = req.extensions().get::<Arc<Principal>>().cloned();
    let decision = state.authz.decide(&method, &path, principal.as_deref());
    // On record with the original request's action, not this /auth/verify call's.
    let origin = crate::audit::RequestOrigin::of(&req).acting_on(&method, &path);
    if let Some(refusal) = state
        .authz
        .refusal(&decision, principal.as_deref(), &origin)
    {
        return refusal;
    }
    if let palisade_core::policy::Decision::Allow {
        tenant: Some(t), ..
    } = &decision
    {
        req.extensions_mut()
            .insert(crate::identity::assertion::AuthorizedTenant(t.clone()));
    }
    let route: &'static str = state
        .routes
        .find(None, &path, &http::Method::GET)
        .route_name()
        .unwrap_or("forward-auth");
    state.identity.attach_identity(route, &mut req);
    let mut res = StatusCode::OK.into_response();
    for name in [
        crate::identity::assertion::USER,
        crate::identity::assertion::ROLES,
        crate::identity::assertion::TENANT,
        crate::identity::assertion::IDENTITY,
    ] {
        if let Some(v) = req.headers().get(name) {
            res.headers_mut().insert(name, v.clone());
        }
    }
    res
}
