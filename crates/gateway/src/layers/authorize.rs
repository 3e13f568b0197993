//! The `authorize` gate: the route's policy (auth requirement, permissions, roles, tenant) applied
//! to the principal the identify gate found, for the route the boundary's one route decision
//! gave the request (by id, never a second lookup). Palisade's own endpoints (`/auth`, `/admin`,
//! ops) carry their own checks and pass through here. Default deny lives in the policy engine.
//! On a route with a `tenant_header`, the tenant is the one the header named (read by the
//! boundary); a missing or malformed header is 400 (`tenant-header-missing`,
//! `tenant-header-invalid`) on record as `authz.denied`, after the 401 of a missing credential.

use super::check::{Check, CheckLayer};
use crate::authz::Authorizer;
use crate::request::{AuthorizedTenant, TenantHeader};
use crate::request::{Req, RequestMeta, Res};
use palisade_core::policy::Decision;
use palisade_core::principal::Principal;
use std::sync::Arc;

/// The authorize gate's check: the route's policy for the principal.
pub struct Authorize {
    authz: Arc<Authorizer>,
}

/// The authorize gate as a tower layer.
pub type AuthorizeLayer = CheckLayer<Authorize>;

/// The authorize gate over `authz`.
pub fn layer(authz: Arc<Authorizer>) -> AuthorizeLayer {
    CheckLayer::new(Authorize { authz })
}

impl Check for Authorize {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        // Palisade's own endpoints check for themselves (they have no route); a path no route
        // serves gets its 404 from the route step (nothing is forwarded).
        let Some(route) = req
            .extensions()
            .get::<RequestMeta>()
            .and_then(|m| m.route.as_ref())
            .map(|r| r.id)
        else {
            return Ok(());
        };
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        // Present only on routes with a `tenant_header` (the boundary read it).
        let sent = req.extensions().get::<TenantHeader>().cloned();
        let header_tenant = match &sent {
            Some(TenantHeader::One(t)) => Some(t.as_str()),
            _ => None,
        };
        let decision = self.authz.decide_in(
            Some(route),
            req.method().as_str(),
            req.uri().path(),
            header_tenant,
            principal.as_deref(),
        );
        if let (Some(bad @ (TenantHeader::Missing | TenantHeader::Malformed)), false) =
            (&sent, matches!(decision, Decision::Unauthenticated { .. }))
        {
            return Err(self.authz.tenant_header_refusal(
                bad,
                &decision,
                principal.as_deref(),
                &crate::audit::RequestOrigin::of(req),
            ));
        }
        match decision {
            Decision::Allow { tenant, .. } => {
                if let Some(res) = self.authz.step_up_refusal(route, principal.as_deref(), || {
                    crate::audit::RequestOrigin::of(req)
                }) {
                    return Err(res);
                }
                if let Some(t) = tenant {
                    req.extensions_mut().insert(AuthorizedTenant(t));
                }
                Ok(())
            }
            refused => Err(self
                .authz
                .refusal(
                    &refused,
                    principal.as_deref(),
                    &crate::audit::RequestOrigin::of(req),
                )
                .expect("a decision other than Allow is a refusal")),
        }
    }
}
