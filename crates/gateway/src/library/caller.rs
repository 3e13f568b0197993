//! What an application's handlers read about a request Palisade let through: who is calling
//! ([`Caller`]) and the request's id ([`RequestId`]). Both come from what the gates put on the
//! request (the identify gate's principal, the authorize gate's tenant, the boundary's id), so
//! a handler reads the decision the gates made and never a header a client could have sent.

use crate::problem::unauthorized;
use crate::request::{AuthorizedTenant, request_id_of};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::Response;
use http::request::Parts;
use palisade_core::principal::{AuthMethod, Principal};
use std::convert::Infallible;
use std::sync::Arc;
use uuid::Uuid;

/// Who is calling, as Palisade's identify gate proved it: an axum extractor for handlers
/// behind [`PalisadeLayer`](super::PalisadeLayer).
///
/// As `Caller`, a request without a credential is answered 401 problem+json (the route's
/// policy has usually refused it already); as `Option<Caller>`, a public handler gets `None`.
/// The roles are the account's (for an API key: the key's roles its owner still holds, which
/// its scopes narrow further when permissions are checked); [`Caller::tenant`] is the tenant
/// the route's policy checked, when it names one.
///
/// ```
/// use palisade_gateway::Caller;
///
/// async fn me(who: Caller) -> String {
///     format!("{} ({})", who.subject(), who.roles().join(", "))
/// }
///
/// async fn greeting(who: Option<Caller>) -> &'static str {
///     if who.is_some() { "welcome back" } else { "hello, stranger" }
/// }
/// # let _ = axum::Router::<()>::new()
/// #     .route("/me", axum::routing::get(me))
/// #     .route("/", axum::routing::get(greeting));
/// ```
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Arc<Principal>,
    tenant: Option<String>,
}

impl Caller {
    /// Everything the credential proved, as the gates use it.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The stable id of who is calling: a Palisade account's external id (an imported account,
    /// under `auth.subject = "external_id"`) or UUID, or a trusted external issuer's mapped
    /// subject. What the audit trail names as the actor.
    pub fn subject(&self) -> &str {
        &self.principal.subject
    }

    /// The caller's Palisade account (people and service accounts), or `None` for a token of
    /// another issuer.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.principal.method {
            AuthMethod::External => None,
            _ => self.principal.account,
        }
    }

    /// The caller's global roles (`[[roles]]` names, e.g. `admin`, `member`).
    pub fn roles(&self) -> &[String] {
        &self.principal.roles
    }

    /// Whether the caller holds `role` itself (inherited roles are the policy's business).
    pub fn has_role(&self, role: &str) -> bool {
        self.principal.has_role(role)
    }

    /// The tenant this request was authorized for (a route with `tenant_param`), if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The caller's subscription tier (rate-limit multiplier), if it has one.
    pub fn tier(&self) -> Option<&str> {
        self.principal.tier.as_deref()
    }

    /// How the caller proved who it is: access token, external token, API key or session.
    pub fn method(&self) -> AuthMethod {
        self.principal.method
    }

    fn of(parts: &Parts) -> Option<Caller> {
        let principal = parts.extensions.get::<Arc<Principal>>()?.clone();
        let tenant = parts
            .extensions
            .get::<AuthorizedTenant>()
            .map(|t| t.0.clone());
        Some(Caller { principal, tenant })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        Caller::of(parts).ok_or_else(|| {
            unauthorized(
                "missing",
                "Sign in: send a bearer token, an API key or the session cookie.",
                &request_id_of(&parts.extensions),
            )
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Infallible> {
        Ok(Caller::of(parts))
    }
}

/// The request's id, as the boundary gave it (kept from a well-formed `X-Request-Id`, else a
/// new UUIDv7) and as every answer and audit event carries it: for an application's own logs
/// and its [`Problem`](crate::Problem) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(RequestId(request_id_of(&parts.extensions)))
    }
}
