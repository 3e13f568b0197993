//! The `authorize` gate: the route's policy (auth requirement, permissions, roles, tenant) applied
//! to the principal the identify gate found, for the route the boundary's one route decision
//! gave the request (by id, never a second lookup). Palisade's own endpoints (`/auth`, `/admin`,
//! ops) carry their own checks and pass through here. Default deny lives in the policy engine.

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
        // Palisade's own endpoints check for themselves (they have no route); a path no route
        // serves gets its 404 from the route step (nothing is forwarded).
        let Some(meta) = req.extensions().get::<RequestMeta>() else {
            return Ok(());
        };
        let Some(route) = meta.route.as_ref() else {
            return Ok(());
        };
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let decision = self.authz.decide(
            Some(route.id),
            req.method().as_str(),
            req.uri().path(),
            principal.as_deref(),
        );
        if let Some(refusal) = self.authz.refusal(
            &decision,
            principal.as_deref(),
            meta.client_ip,
            meta.request_id_str(),
        ) {
            return Err(refusal);
        }
        if let Decision::Allow {
            tenant: Some(t), ..
        } = decision
        {
            req.extensions_mut().insert(AuthorizedTenant(t));
        }
        Ok(())
    }
}
