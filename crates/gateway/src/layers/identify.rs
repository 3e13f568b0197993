//! The `identify` gate: turns the request's credentials (API key, bearer JWT, session cookie)
//! into a [`Principal`](palisade_core::principal::Principal) on the request extensions, or refuses a credential that does not hold
//! (401 with `WWW-Authenticate`; 403 for a cookie request without its CSRF token; 503 when a
//! revocation cannot be checked). A session cookie on an HTML form POST (form-encoded, no
//! `X-CSRF-Token`) to a hosted page (`/auth/pages/…` under the mount) is not the caller: it rides
//! along as a [`FormSession`](crate::identity::FormSession) that only the page adopts, after
//! checking the session's CSRF token from the form body; to any other path it is refused like
//! every cookie request without its token. A request without credentials passes on anonymous: whether
//! that is allowed is the `authorize` gate's decision.
//!
//! Every rejected credential is an `auth.credential_rejected` refusal on record
//! ([`AuditLog::record_refusal`](crate::audit::AuditLog::record_refusal)) with
//! `details.credential` (`bearer`, `api_key`, `cookie`) and `details.reason`; so is a session
//! cookie that does not open, though the request goes on anonymous.

use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::identity::{AuthFailure, Credential, Identity, Rejection};
use crate::problem::{refuse, unauthorized};
use crate::request::{Req, Res, request_id_of};
use http::StatusCode;
use std::sync::Arc;

/// The label of the identify gate's refusals.
pub const GATE: &str = "identify";

/// The identify gate's check: credentials to a principal.
pub struct Identify {
    identity: Arc<Identity>,
    /// `api.mount`, where the hosted pages' `/auth/pages/` is.
    mount: String,
}

/// The identify gate as a tower layer.
pub type IdentifyLayer = CheckLayer<Identify>;

/// The identify gate over `identity`, Palisade's own endpoints under `mount`.
pub fn layer(identity: Arc<Identity>, mount: &str) -> IdentifyLayer {
    CheckLayer::new(Identify {
        identity,
        mount: mount.to_owned(),
    })
}

/// Whether `path` is one of the hosted pages (under `mount`), the only handlers that adopt a
/// [`FormSession`](crate::identity::FormSession).
fn is_page(path: &str, mount: &str) -> bool {
    let below = if mount.is_empty() {
        Some(path)
    } else {
        crate::route::builtin::Builtin::within(path, mount)
    };
    below.is_some_and(|p| p.starts_with("/auth/pages/"))
}

impl Check for Identify {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        let mut presented = self
            .identity
            .authenticate(req.method(), req.headers(), client_ip(req))
            .await;
        // A form POST's cookie rides along only to a hosted page; anywhere else it is the
        // cookie request without its CSRF token that it always was.
        if let Ok(p) = &presented
            && p.form_session.is_some()
            && !is_page(req.uri().path(), &self.mount)
        {
            presented = Err(AuthFailure::Csrf);
        }
        match presented {
            Ok(presented) => {
                if let Some(ignored) = &presented.ignored {
                    self.record(req, ignored);
                }
                if let Some(p) = presented.principal {
                    crate::metrics::record_authenticated(p.method);
                    req.extensions_mut().insert(p);
                }
                if let Some(form) = presented.form_session {
                    req.extensions_mut().insert(form);
                }
                Ok(())
            }
            Err(failure) => {
                match &failure {
                    AuthFailure::Invalid(rejection) => self.record(req, rejection),
                    AuthFailure::Csrf => self.record(
                        req,
                        &Rejection {
                            credential: Credential::Cookie,
                            slug: "csrf",
                            reason: "csrf",
                            actor: None,
                            key_id: None,
                        },
                    ),
                    AuthFailure::Delayed(_) => self.record(
                        req,
                        &Rejection {
                            credential: Credential::ApiKey,
                            slug: "too-many-attempts",
                            reason: "delayed",
                            actor: None,
                            key_id: None,
                        },
                    ),
                    AuthFailure::Unavailable => {}
                }
                Err(refusal(failure, &request_id_of(req.extensions())))
            }
        }
    }
}

impl Identify {
    /// The rejected credential, on record (sampled; every one counts for the alert rules).
    fn record(&self, req: &Req, rejection: &Rejection) {
        let mut event = AuditEvent::new("auth.credential_rejected", Risk::Medium, Outcome::Denied)
            .origin(&RequestOrigin::of(req))
            .details(serde_json::json!({
                "reason": rejection.reason,
                "credential": rejection.credential.as_str(),
            }));
        if let Some(actor) = &rejection.actor {
            event = event.actor(actor.clone());
        }
        if let Some(key) = &rejection.key_id {
            event = event.resource(format!("api_key:{key}"));
        }
        self.identity.audit.record_refusal(event);
    }
}

/// The client address the boundary resolved (unspecified when the request has none, which
/// the boundary does not let happen).
fn client_ip(req: &Req) -> std::net::IpAddr {
    req.extensions()
        .get::<crate::request::RequestMeta>()
        .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |m| {
            m.client_ip
        })
}

fn refusal(failure: AuthFailure, request_id: &str) -> Res {
    match failure {
        AuthFailure::Invalid(rejection) => {
            let slug = rejection.slug;
            metrics::counter!("palisade_auth_refused_total", "reason" => slug).increment(1);
            unauthorized(
                slug,
                "The credential is not valid (expired, revoked, malformed or not issued for this gateway).",
                request_id,
            )
        }
        AuthFailure::Csrf => refuse(
            GATE,
            "csrf",
            StatusCode::FORBIDDEN,
            "A state-changing request with the session cookie needs the X-CSRF-Token header.",
            request_id,
        ),
        AuthFailure::Delayed(wait) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut res = refuse(
                GATE,
                "too-many-attempts",
                StatusCode::TOO_MANY_REQUESTS,
                "Too many unknown API keys from this address; try again later.",
                request_id,
            );
            res.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            res
        }
        AuthFailure::Unavailable => refuse(
            GATE,
            "unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "Credentials cannot be checked right now; try again shortly.",
            request_id,
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_hosted_pages_take_a_form_session() {
        use super::is_page;
        assert!(is_page("/auth/pages/totp", ""));
        assert!(is_page("/.palisade/auth/pages/device", "/.palisade"));
        assert!(!is_page("/auth/pages/device", "/.palisade"));
        assert!(!is_page("/auth/sessions/revoke-all", ""));
        assert!(!is_page("/api/auth/pages/x", ""));
        assert!(!is_page("/auth/pages", ""));
    }
}
