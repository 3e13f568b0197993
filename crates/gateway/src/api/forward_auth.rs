//! Forward auth: `/auth/verify` answers a proxy that keeps its own routing (nginx
//! `auth_request`, Traefik `ForwardAuth`, Envoy `ext_authz` in HTTP mode) whether the request it
//! holds may pass. The firewall and identify gates have already run on this request (the proxy
//! forwards the client's credentials); here the original request gets the same route decision
//! (host, method, canonical path) and the same policy as proxied traffic. 200 carries the
//! identity headers for the proxy to pass on; otherwise 401 or 403.
//!
//! The original request is read from:
//! - method: `X-Original-Method` (nginx), else `X-Forwarded-Method` (Traefik), else the method
//!   of this request (Envoy);
//! - target: `X-Original-URI` (nginx), else `X-Forwarded-Uri` (Traefik), else the path after
//!   `/auth/verify` (Envoy, with `path_prefix: /auth/verify`);
//! - host: `X-Forwarded-Host` (Traefik; the nginx example sets it), else `X-Original-Host`,
//!   else the `Host` of this request (Envoy keeps the original authority).
//!
//! The proxy in front forwards its own raw spelling of the path to its upstream, so an original
//! target that is not already canonical is refused (403 `ambiguous-path`): authorizing its
//! canonical form would still let the raw spelling through.

use crate::audit::RequestOrigin;
use crate::layers::boundary::ambiguous_path_event;
use crate::problem::{refuse, refuse_with};
use crate::request::{RawPath, Req, request_host, request_id_of, strip_port};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use palisade_core::principal::Principal;
use std::sync::Arc;

/// Where forward auth answers (any method).
pub const PATH: &str = "/auth/verify";

/// `/auth/verify` and `/auth/verify/{original}` (Envoy's `path_prefix`).
pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route(PATH, axum::routing::any(verify))
        .route(
            "/auth/verify/{*original}",
            axum::routing::any(verify_original),
        )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request the proxy is asking about.
#[derive(Debug, PartialEq, Eq)]
pub struct Original {
    /// Upper-cased.
    pub method: String,
    /// Without port, as sent; `None` when the proxy sent none.
    pub host: Option<String>,
    /// The path as the proxy forwards it (not yet checked to be canonical).
    pub path: String,
}

/// Why the original request cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// Neither headers nor a path after `/auth/verify` name it.
    Missing,
    /// Several hosts (a comma list): which one the proxy routes on is unknown.
    AmbiguousHost,
}

/// Reads the original request from the proxy's headers (see the module doc).
pub fn original(req: &Req) -> Result<Original, Unreadable> {
    let h = req.headers();
    let method = header(h, "x-original-method")
        .or_else(|| header(h, "x-forwarded-method"))
        .unwrap_or(req.method().as_str())
        .to_ascii_uppercase();
    let target = match header(h, "x-original-uri").or_else(|| header(h, "x-forwarded-uri")) {
        Some(uri) => uri,
        // The client's own spelling, not the boundary's canonical rewrite of it.
        None => match req
            .extensions()
            .get::<RawPath>()
            .map_or(req.uri().path(), |raw| raw.0.as_str())
            .strip_prefix(PATH)
        {
            Some(rest) if !rest.is_empty() => rest,
            _ => return Err(Unreadable::Missing),
        },
    };
    // Only the path is authorized; the query never widens or narrows access.
    let path = target.split('?').next().unwrap_or("").to_string();
    let host = match header(h, "x-forwarded-host").or_else(|| header(h, "x-original-host")) {
        Some(v) if v.contains(',') => return Err(Unreadable::AmbiguousHost),
        Some(v) => Some(strip_port(v.trim()).to_string()),
        None => request_host(req).map(String::from),
    };
    Ok(Original { method, host, path })
}

/// Whether the proxy's original request may pass (the method and URI come from headers).
#[utoipa::path(
    get, path = "/auth/verify", tag = "forward-auth",
    description = "Whether the request a proxy holds may pass: the same route decision and policy as proxied traffic. Answers any method; the original request is read from X-Original-Method and X-Original-URI (nginx), X-Forwarded-Method and X-Forwarded-Uri (Traefik), and X-Forwarded-Host.",
    params(
        ("x-original-method" = Option<String>, Header, description = "The original method (nginx).", example = "GET"),
        ("x-original-uri" = Option<String>, Header, description = "The original target (nginx).", example = "/demo/"),
        ("x-forwarded-method" = Option<String>, Header, description = "The original method (Traefik)."),
        ("x-forwarded-uri" = Option<String>, Header, description = "The original target (Traefik)."),
        ("x-forwarded-host" = Option<String>, Header, description = "The original host (one)."),
    ),
    responses(
        (status = 200, description = "May pass; the identity headers are for the proxy to pass on.",
            headers(
                ("x-palisade-user" = String, description = "The caller's subject."),
                ("x-palisade-roles" = String, description = "The caller's roles."),
            )),
        (status = 400, description = "The original request is not named, or names several hosts."),
        (status = 401, description = "The original request needs a credential."),
        (status = 403, description = "The original request is denied, or its path is not canonical."),
    ),
    security((), ("bearer" = []), ("api_key" = []), ("session" = [])),
)]
pub async fn verify(State(state): State<Arc<AppState>>, mut req: Req) -> Response {
    let id = request_id_of(req.extensions());
    let original = match original(&req) {
        Ok(o) => o,
        Err(Unreadable::Missing) => {
            return refuse(
                crate::authz::GATE,
                "no-original-request",
                StatusCode::BAD_REQUEST,
                "Send the original request as X-Original-Method and X-Original-URI (nginx), X-Forwarded-Method and X-Forwarded-Uri (Traefik), or as the path after /auth/verify (Envoy).",
                &id,
            );
        }
        Err(Unreadable::AmbiguousHost) => {
            return refuse(
                crate::authz::GATE,
                "ambiguous-host",
                StatusCode::BAD_REQUEST,
                "Send one host in X-Forwarded-Host, not a list.",
                &id,
            );
        }
    };
    let policy = state.config.server.path_policy();
    match palisade_core::path::canonicalize(&original.path, &policy) {
        Ok(c) if c == original.path => {}
        outcome => {
            let rule = outcome.err().unwrap_or(palisade_core::path::Ambiguous {
                rule: "not-canonical",
            });
            // On record without the raw spelling.
            let origin = RequestOrigin {
                action: None,
                ..RequestOrigin::of(&req)
            };
            state
                .audit
                .record_refusal(ambiguous_path_event(&rule, &origin));
            return refuse_with(
                crate::authz::GATE,
                "ambiguous-path",
                StatusCode::FORBIDDEN,
                "The original path is not in canonical form, so it cannot be authorized: the proxy would forward a spelling other than the one decided.",
                &id,
                serde_json::json!({ "rule": rule.rule }),
            );
        }
    }
    // Palisade's own endpoints are not routes; a path no route serves is denied by default.
    let method = http::Method::from_bytes(original.method.as_bytes()).ok();
    let route = match method {
        Some(m) if state.routes.builtin(&original.path).is_none() => state
            .routes
            .find(original.host.as_deref(), &original.path, &m)
            .route()
            .cloned(),
        _ => None,
    };
    let principal = req.extensions().get::<Arc<Principal>>().cloned();
    let decision = state.authz.decide(
        route.as_ref().map(|r| r.id),
        &original.method,
        &original.path,
        principal.as_deref(),
    );
    // On record with the original request's action, not this /auth/verify call's.
    let origin = RequestOrigin::of(&req).acting_on(&original.method, &original.path);
    if let Some(refusal) = state
        .authz
        .refusal(&decision, principal.as_deref(), &origin)
    {
        return refusal;
    }
    if let Some(r) = &route
        && let Some(refusal) = state
            .authz
            .step_up_refusal(r.id, principal.as_deref(), || origin.clone())
    {
        return refusal;
    }
    // The query firewall and agent tools decide on the request's body or its whole query:
    // forward auth sees neither body nor what the proxy will forward, so such a route is
    // denied here (fail closed), never passed unchecked.
    if let Some(r) = route
        .as_ref()
        .filter(|r| r.query.is_some() || r.tools.is_some())
    {
        let (event, slug) = if r.query.is_some() {
            ("query.refused", "query-refused")
        } else {
            ("tool.denied", "tool-denied")
        };
        let mut event = crate::audit::AuditEvent::new(
            event,
            crate::audit::Risk::Medium,
            crate::audit::Outcome::Denied,
        )
        .origin(&origin)
        .resource(format!("route:{}", r.name))
        .details(serde_json::json!({ "reason": "forward-auth-unsupported" }));
        if let Some(p) = &principal {
            event = event.actor(p.subject.clone());
        }
        state.audit.record_refusal(event);
        return crate::problem::refuse_with(
            crate::authz::GATE,
            slug,
            StatusCode::FORBIDDEN,
            "This route's queries or tool calls are checked on the request body, which forward auth does not see: send them through Palisade's proxy.",
            &id,
            serde_json::json!({ "reason": "forward-auth-unsupported" }),
        );
    }
    if let palisade_core::policy::Decision::Allow {
        tenant: Some(t), ..
    } = decision
    {
        req.extensions_mut()
            .insert(crate::request::AuthorizedTenant(t));
    }
    let name = route.as_ref().map_or("forward-auth", |r| r.name);
    let names = route.as_ref().map_or_else(
        || state.identity.default_names.clone(),
        |r| r.identity.clone(),
    );
    state.identity.attach_identity(name, &names, &mut req).await;
    let mut res = StatusCode::OK.into_response();
    let identity = http::HeaderName::from_static(crate::identity::assertion::IDENTITY);
    for name in names.all().chain(std::iter::once(&identity)) {
        if let Some(v) = req.headers().get(name) {
            res.headers_mut().insert(name.clone(), v.clone());
        }
    }
    res
}

/// Envoy's form: the original path follows `/auth/verify`.
#[utoipa::path(
    get, path = "/auth/verify/{original}", tag = "forward-auth",
    description = "As /auth/verify, with the original path after /auth/verify (Envoy's path_prefix); answers any method, the original method is this request's.",
    params(("original" = String, Path, description = "The original path, without its leading slash.", example = "demo")),
    responses(
        (status = 200, description = "May pass; the identity headers are for the proxy to pass on."),
        (status = 400, description = "The original host names several hosts."),
        (status = 401, description = "The original request needs a credential."),
        (status = 403, description = "The original request is denied, or its path is not canonical."),
    ),
    security((), ("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn verify_original(state: State<Arc<AppState>>, req: Req) -> Response {
    verify(state, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> Req {
        let mut b = http::Request::builder().uri(uri).method("GET");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn the_original_request_comes_from_each_proxys_headers() {
        let nginx = req(
            "/auth/verify",
            &[
                ("x-original-method", "post"),
                ("x-original-uri", "/api/x?a=%2F"),
                ("x-forwarded-host", "Admin.local:8443"),
                ("host", "palisade:8080"),
            ],
        );
        assert_eq!(
            original(&nginx),
            Ok(Original {
                method: "POST".into(),
                host: Some("Admin.local".into()),
                path: "/api/x".into()
            })
        );
        let traefik = req(
            "/auth/verify",
            &[
                ("x-forwarded-method", "DELETE"),
                ("x-forwarded-uri", "/api/y"),
                ("x-forwarded-host", "a.example"),
            ],
        );
        assert_eq!(original(&traefik).unwrap().method, "DELETE");
        assert_eq!(
            original(&traefik).unwrap().host.as_deref(),
            Some("a.example")
        );
        let envoy = req("/auth/verify/api/z", &[("host", "b.example")]);
        assert_eq!(
            original(&envoy),
            Ok(Original {
                method: "GET".into(),
                host: Some("b.example".into()),
                path: "/api/z".into()
            })
        );
        assert_eq!(
            original(&req("/auth/verify", &[])),
            Err(Unreadable::Missing)
        );
        let two = req(
            "/auth/verify",
            &[("x-original-uri", "/a"), ("x-forwarded-host", "a, b")],
        );
        assert_eq!(original(&two), Err(Unreadable::AmbiguousHost));
    }
}
