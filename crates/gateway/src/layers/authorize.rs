//! The `authorize` gate: the route's policy (auth requirement, permissions, roles, tenant) applied
//! to the principal the identify gate found. Palisade's own endpoints (`/auth`, `/admin`, ops)
//! carry their own checks and pass through here. Default deny lives in the policy engine.

use super::check::{Check, CheckLayer};
use super::{Req, RequestMeta, Res};
use crate::authz::Authorizer;
use crate::identity::assertion::AuthorizedTenant;
use palisade_core::policy::Decision;
use palisade_core::principal::Principal;
use std::sync::Arc;

pub struct Authorize {
    authz: Arc<Authorizer>,
}

pub type AuthorizeLayer = CheckLayer<Authorize>;

pub fn layer(authz: Arc<Authorizer>) -> AuthorizeLayer {
    CheckLayer::new(Authorize { authz })
}

impl Check for Authorize {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        // Palisade's own endpoints check for themselves; a path no route serves gets its 404
        // from the route step (nothing is forwarded).
        let routed = req
            .extensions()
            .get::<RequestMeta>()
            .is_some_and(|m| m.route.is_some());
        if !routed || crate::pipeline::is_builtin_path(req.uri().path()) {
            return Ok(());
        }
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let decision = self.authz.decide(
            req.method().as_str(),
            req.uri().path(),
            principal.as_deref(),
        );
        if let Decision::Allow {
            tenant: Some(t), ..
        } = &decision
        {
            req.extensions_mut().insert(AuthorizedTenant(t.clone()));
        }
        if req.extensions().get::<RequestMeta>().is_none() {
            return Ok(());
        }
        if matches!(decision, Decision::Allow { .. }) {
            return Ok(());
        }
        match self.authz.refusal(
            &decision,
            principal.as_deref(),
            &crate::audit::RequestOrigin::of(req),
        ) {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }
}
