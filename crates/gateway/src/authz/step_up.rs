//! Step-up (RFC 9470): a route with `mfa = true` or `max_auth_age` admits only a caller whose
//! sign-in proved enough (`acr = aal2`, a recent `auth_time`), after the policy allowed the call.
//! Below it: 401 with `WWW-Authenticate: Bearer error="insufficient_user_authentication"`
//! carrying `acr_values` and `max_age`, on record as `mfa.step_up_required`. An API key carries
//! no assurance: it passes such a route only where the route's `auth` is `api_key`.

use super::{Authorizer, GATE};
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::problem::refuse;
use crate::request::Res;
use http::{HeaderValue, StatusCode, header};
use palisade_core::policy::AuthRequirement;
use palisade_core::principal::{AuthMethod, Principal};

impl Authorizer {
    /// The refusal of a caller below route `route`'s level, or `None` when it may pass (also
    /// when the route asks for nothing; `origin` is built only for a refusal). No caller at all
    /// is below every level (a policy never lets one reach a step-up route, which needs `auth`;
    /// refused all the same: fail closed).
    pub fn step_up_refusal(
        &self,
        route: usize,
        principal: Option<&Principal>,
        origin: impl FnOnce() -> RequestOrigin,
    ) -> Option<Res> {
        let policies = self.policies();
        let policy = policies.routes().get(route)?;
        if !policy.step_up.is_any() {
            return None;
        }
        if principal.is_some_and(|p| {
            p.method == AuthMethod::ApiKey && policy.auth == AuthRequirement::ApiKey
        }) {
            return None;
        }
        let assurance = principal.and_then(|p| p.assurance.as_ref());
        let now = self.clock.now_millis() / 1000;
        let insufficient = policy.step_up.check(assurance, now).err()?;
        let origin = &origin();
        let mut event = AuditEvent::new("mfa.step_up_required", Risk::Low, Outcome::Denied)
            .resource(format!("route:{}", policy.name))
            .origin(origin)
            .details(serde_json::json!({
                "acr": assurance.map(|a| a.acr.as_str()),
                "acr_values": insufficient.acr_values.map(|a| a.as_str()),
                "max_age": insufficient.max_age,
            }));
        if let Some(p) = principal {
            event = event.actor(p.subject.clone());
        }
        self.audit.record(event);
        let mut res = refuse(
            GATE,
            "insufficient-user-authentication",
            StatusCode::UNAUTHORIZED,
            "This route needs a stronger or more recent sign-in; verify a second factor.",
            origin.request_id.as_deref().unwrap_or("-"),
        );
        if let Ok(v) = HeaderValue::from_str(&insufficient.challenge()) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        Some(res)
    }
}
