//! What every built-in endpoint extracts and answers with: the request's context (`Ctx`: id,
//! client IP, audit origin), the authenticated `Caller` (a principal, or 401), the permission
//! check of Palisade's own API (`require`, a 403 on record), and the answers for a store that
//! cannot be reached and for bodies that must not be cached.
//!
//! A path parameter is taken with this module's `Path`, whose refusal is problem+json like
//! every other (axum's own answers in plain text).
//!
//! Handlers stay thin: they take these, call into identity, authz, the store or the vault, and
//! turn the outcome into JSON or a problem.

// Helpers return the finished refusal as their error, the axum idiom; off the hot path, so the
// size of `Response` in a `Result` does not matter.
#![allow(clippy::result_large_err)]

use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::problem::{refuse, refuse_with, unauthorized};
use crate::request::{RequestMeta, request_id_of};
use crate::route::builtin::Builtin;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use palisade_core::principal::{AuthMethod, Principal};
use palisade_store::StoreError;
use std::net::IpAddr;
use std::sync::Arc;
use uuid::Uuid;

/// The part of the built-in API a request was answered by: the label its refusals are counted
/// under (`palisade_refusals_total{gate=…}`) and what a 503 says cannot answer. Read from the
/// boundary's one built-in classification, so a handler cannot name another area's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub gate: &'static str,
    /// Subject of "… cannot answer right now".
    pub service: &'static str,
}

impl Area {
    pub(crate) const AUTH: Area = Area {
        gate: "auth",
        service: "The identity service",
    };
    pub(crate) const SECRETS: Area = Area {
        gate: "secrets",
        service: "The secrets store",
    };

    pub(crate) fn of(builtin: Option<Builtin>) -> Area {
        match builtin {
            Some(Builtin::Secrets) => Area::SECRETS,
            // `/auth`, `/admin` and `/v1/transit` keep the label and message they always had.
            _ => Area::AUTH,
        }
    }
}

/// What every handler needs to answer and to record: the request id, the client IP, the rest
/// of the request's audit origin, and the area answering.
pub(crate) struct Ctx {
    pub id: String,
    pub ip: IpAddr,
    pub origin: RequestOrigin,
    pub area: Area,
    /// The browser session (`__Host-palisade`) the request arrived with, if the identify gate
    /// accepted one or handed it over with a hosted page's form: a new browser sign-in ends it
    /// (ASVS 5.0 V7.2.4; the sign-in forms carry their own CSRF proof).
    pub browser_session: Option<Uuid>,
}

impl<St: Send + Sync> FromRequestParts<St> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Response> {
        let meta = parts.extensions.get::<RequestMeta>();
        Ok(Ctx {
            id: request_id_of(&parts.extensions),
            ip: meta.map_or(IpAddr::from([0, 0, 0, 0]), |m| m.client_ip),
            origin: RequestOrigin::from_parts(
                &parts.method,
                &parts.uri,
                &parts.headers,
                &parts.extensions,
            ),
            area: Area::of(meta.and_then(|m| m.builtin)),
            browser_session: parts
                .extensions
                .get::<Arc<Principal>>()
                .filter(|p| p.method == AuthMethod::Session)
                .and_then(|p| p.session_id.as_deref())
                .or_else(|| {
                    parts
                        .extensions
                        .get::<crate::identity::FormSession>()?
                        .session_id()
                })
                .and_then(|sid| sid.parse().ok()),
        })
    }
}

impl Ctx {
    pub(crate) fn problem(
        &self,
        status: StatusCode,
        slug: &'static str,
        detail: impl Into<String>,
    ) -> Response {
        refuse(self.area.gate, slug, status, detail, &self.id)
    }

    /// 503 for a backend (store, hot state) that failed; the error goes to the log only.
    pub(crate) fn unavailable(&self, e: impl std::fmt::Display) -> Response {
        tracing::warn!(error = %e, request_id = %self.id, area = self.area.gate, "backend failed");
        self.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "{} cannot answer right now; try again shortly.",
                self.area.service
            ),
        )
    }

    /// The event with what this request tells: client IP, request id, user agent, action,
    /// tenant.
    pub(crate) fn audit(&self, event: AuditEvent) -> AuditEvent {
        event.origin(&self.origin)
    }

    /// The caller acting through this request, as a use case records it.
    pub(crate) fn by(&self, caller: &Caller) -> crate::identity::manage::By<'_> {
        crate::identity::manage::By {
            actor: caller.0.subject.clone(),
            origin: &self.origin,
        }
    }
}

/// A path parameter, or a 400 problem when it cannot be read (axum's own [`axum::extract::Path`]
/// refuses in plain text).
pub(crate) struct Path<T>(pub T);

impl<St: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<St> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => {
                tracing::debug!(error = %e, "path parameter refused");
                let ctx = Ctx::from_request_parts(parts, state).await?;
                Err(ctx.problem(
                    StatusCode::BAD_REQUEST,
                    "invalid-path",
                    "A path parameter is not acceptable (not UTF-8 once decoded).",
                ))
            }
        }
    }
}

/// The answer to a built-in path no endpoint serves (axum's own 404 has no body).
pub(crate) async fn no_endpoint(ctx: Ctx) -> Response {
    ctx.problem(
        StatusCode::NOT_FOUND,
        "no-route",
        "No endpoint of Palisade's API serves this path.",
    )
}

/// The answer to a method an endpoint does not take (axum's own 405 has no body).
pub(crate) async fn wrong_method(ctx: Ctx) -> Response {
    ctx.problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "This endpoint does not take this method.",
    )
}

/// The authenticated caller, or a 401.
pub(crate) struct Caller(pub Arc<Principal>);

impl<St: Send + Sync> FromRequestParts<St> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Response> {
        match parts.extensions.get::<Arc<Principal>>() {
            Some(p) => Ok(Caller(p.clone())),
            None => {
                let id = request_id_of(&parts.extensions);
                Err(unauthorized(
                    "missing",
                    "Sign in: send a bearer token, an API key or the session cookie.",
                    &id,
                ))
            }
        }
    }
}

impl Caller {
    /// The caller's Palisade account, if it is one (not a token of another issuer).
    pub(crate) fn user_id(&self) -> Option<Uuid> {
        match self.0.method {
            AuthMethod::External => None,
            _ => self.0.account,
        }
    }
}

/// The caller holds `permission` (through its roles, within its key's scopes), or a 403 that is
/// an audit event (and a privilege-escalation attempt when the caller is no administrator).
pub(crate) fn require(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    permission: &'static str,
) -> Result<(), Response> {
    if state.authz.permits(&caller.0, permission) {
        return Ok(());
    }
    state
        .authz
        .record_admin_denial(&caller.0, permission, &ctx.origin);
    Err(refuse_with(
        ctx.area.gate,
        "forbidden",
        StatusCode::FORBIDDEN,
        "You are not allowed to do this.",
        &ctx.id,
        serde_json::json!({ "permission": permission }),
    ))
}

/// A store failure as the handler's answer (503, logged).
pub(crate) fn store_err(ctx: &Ctx) -> impl Fn(StoreError) -> Response + '_ {
    move |e| ctx.unavailable(e)
}

/// The caller's account id, or 403 for callers that are not Palisade accounts.
pub(crate) fn needs_user(caller: &Caller, ctx: &Ctx) -> Result<Uuid, Response> {
    caller.user_id().ok_or_else(|| {
        ctx.problem(
            StatusCode::FORBIDDEN,
            "not-a-palisade-account",
            "Only Palisade accounts have sessions and API keys here.",
        )
    })
}

/// The caller's account id when the caller signed in (an access token or the browser session),
/// or 403: an API key acts on its account's behalf toward the APIs behind Palisade, but never
/// approves a sign-in, adds or removes a sign-in factor, or otherwise changes how the account
/// proves itself (a stolen key must not become a session or a second factor). The refusal is
/// an `authz.denied` event on record.
pub(crate) fn needs_signed_in_user(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
) -> Result<Uuid, Response> {
    if caller.0.method == AuthMethod::ApiKey {
        state.identity.audit.record_refusal(
            ctx.audit(
                AuditEvent::new("authz.denied", Risk::Medium, Outcome::Denied)
                    .actor(caller.0.subject.clone())
                    .details(
                        serde_json::json!({ "reason": "needs-a-sign-in", "credential": "api_key" }),
                    ),
            ),
        );
        return Err(ctx.problem(
            StatusCode::FORBIDDEN,
            "needs-a-sign-in",
            "This needs a user's sign-in (an access token or the browser session), not an API key.",
        ));
    }
    needs_user(caller, ctx)
}

/// Marks an answer that carries credentials or secrets as not to be stored by any cache.
pub(crate) fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The answer to a use case that did not happen.
pub(crate) fn refused(ctx: &Ctx, e: crate::identity::manage::Refused) -> Response {
    use crate::identity::manage::Refused;
    match e {
        Refused::Invalid { slug, detail } => {
            ctx.problem(StatusCode::UNPROCESSABLE_ENTITY, slug, detail)
        }
        Refused::Conflict { slug, detail } => ctx.problem(StatusCode::CONFLICT, slug, detail),
        Refused::WeakPassword(violations) => {
            let list: Vec<_> = violations
                .iter()
                .map(|v| serde_json::json!({"code": v.code(), "message": v.message()}))
                .collect();
            crate::problem::refuse_with(
                ctx.area.gate,
                "weak-password",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The password does not meet the policy.",
                &ctx.id,
                serde_json::json!({ "violations": list }),
            )
        }
        Refused::Busy => {
            let mut res = ctx.problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many passwords are being hashed; try again in a moment.",
            );
            res.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            res
        }
        Refused::Store(e) => ctx.unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Refusal;

    async fn ctx_for(path: &str) -> Ctx {
        let mut req = http::Request::builder().uri(path).body(()).unwrap();
        req.extensions_mut().insert(RequestMeta {
            request_id: HeaderValue::from_static("r-1"),
            client_ip: IpAddr::from([192, 0, 2, 1]),
            https: false,
            peer_is_trusted_proxy: false,
            builtin: Builtin::classify(path, ""),
            route: None,
        });
        let (mut parts, ()) = req.into_parts();
        Ctx::from_request_parts(&mut parts, &()).await.unwrap()
    }

    async fn detail(res: Response) -> String {
        use http_body_util::BodyExt;
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        problem["detail"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn secrets_refusals_are_counted_and_worded_as_the_secrets_store() {
        let ctx = ctx_for("/v1/secrets/app/db").await;
        let res = ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such secret.");
        assert_eq!(res.extensions().get::<Refusal>().unwrap().gate, "secrets");
        let res = ctx.unavailable("connection refused");
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.extensions().get::<Refusal>().unwrap().gate, "secrets");
        let text = detail(res).await;
        assert!(
            text.starts_with("The secrets store cannot answer"),
            "{text}"
        );
        assert!(!text.contains("identity"), "{text}");
    }

    #[tokio::test]
    async fn the_auth_and_admin_apis_keep_their_label_and_message() {
        for path in ["/auth/login", "/admin/tenants", "/v1/transit/encrypt"] {
            let ctx = ctx_for(path).await;
            let res = ctx.unavailable("connection refused");
            assert_eq!(res.extensions().get::<Refusal>().unwrap().gate, "auth");
            assert_eq!(
                detail(res).await,
                "The identity service cannot answer right now; try again shortly."
            );
        }
    }
}
