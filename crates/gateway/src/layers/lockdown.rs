//! The `lockdown` gate (after `identify`): while the gateway is locked down
//! ([`crate::identity::lockdown`]) it refuses every request with 503 `lockdown`, on record as a
//! sampled `lockdown.refused`, except
//! - the ops endpoints (`/healthz`, `/readyz`, `/metrics`);
//! - the sign-in endpoints an administrator needs, [`SIGN_IN_PATHS`] (password, second factor,
//!   refresh); their handlers open a session only for an administrator meanwhile;
//! - the admin API (`/admin/…`) for a principal holding an administrator role (each endpoint
//!   still checks its own permission).
//!
//! Guarantee: when no lockdown is on, the gate costs one atomic load.

use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::authz::Authorizer;
use crate::identity::Identity;
use crate::problem::refuse;
use crate::request::{Req, RequestMeta, Res};
use crate::route::builtin::Builtin;
use http::StatusCode;
use palisade_core::principal::Principal;
use std::sync::Arc;

/// The label of the lockdown gate's refusals (and the problem type's slug).
pub const GATE: &str = "lockdown";

/// The built-in endpoints (below the mount) open to everyone during a lockdown, so that an
/// administrator can sign in: the password sign-in, its second factor and the refresh.
pub const SIGN_IN_PATHS: &[&str] = &["/auth/login", "/auth/mfa/verify", "/auth/refresh"];

/// The lockdown gate's check.
pub struct LockdownGate {
    identity: Arc<Identity>,
    authz: Arc<Authorizer>,
    mount: String,
}

/// The lockdown gate as a tower layer.
pub type LockdownLayer = CheckLayer<LockdownGate>;

/// The lockdown gate over `identity`'s lockdown; `authz` says who is an administrator.
pub fn layer(identity: Arc<Identity>, authz: Arc<Authorizer>, mount: &str) -> LockdownLayer {
    CheckLayer::new(LockdownGate {
        identity,
        authz,
        mount: mount.to_owned(),
    })
}

impl LockdownGate {
    fn passes(&self, req: &Req, meta: &RequestMeta) -> bool {
        match meta.builtin {
            Some(Builtin::Ops) => true,
            Some(Builtin::Auth) => {
                let path = req.uri().path();
                let below = if self.mount.is_empty() {
                    Some(path)
                } else {
                    Builtin::within(path, &self.mount)
                };
                below.is_some_and(|p| SIGN_IN_PATHS.contains(&p))
            }
            Some(Builtin::Admin) => req
                .extensions()
                .get::<Arc<Principal>>()
                .is_some_and(|p| self.authz.is_admin(&p.roles)),
            _ => false,
        }
    }
}

impl Check for LockdownGate {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        if !self.identity.lockdown.is_on() {
            return Ok(());
        }
        let Some(meta) = req.extensions().get::<RequestMeta>() else {
            return Ok(());
        };
        if self.passes(req, meta) {
            return Ok(());
        }
        let mut event = AuditEvent::new("lockdown.refused", Risk::Low, Outcome::Denied)
            .origin(&RequestOrigin::of(req));
        if let Some(p) = req.extensions().get::<Arc<Principal>>() {
            event = event.actor(p.subject.clone());
        }
        self.identity.audit.record_refusal(event);
        Err(refuse(
            GATE,
            "lockdown",
            StatusCode::SERVICE_UNAVAILABLE,
            "The gateway is locked down by its administrators; try again later.",
            meta.request_id_str(),
        ))
    }
}
