//! The `firewall` gate: refuses client IPs under a block (placed by the brute-force defense's
//! threat levels or by an alert rule's `block_ip` action) with 403 and `Retry-After`. A block lookup that cannot be answered refuses with 503
//! (fail closed). Ops endpoints stay reachable so a blocked monitoring host can still see health.
//! Each refusal is a `firewall.refused` event on record (sampled per address; every one counts
//! for the alert rules).

use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::identity::Identity;
use crate::problem::refuse;
use crate::request::{Req, RequestMeta, Res};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// The label of the firewall's refusals.
pub const GATE: &str = "firewall";

/// The firewall gate's check: IP blocks.
pub struct Firewall {
    identity: Arc<Identity>,
}

/// The firewall gate as a tower layer.
pub type FirewallLayer = CheckLayer<Firewall>;

/// The firewall gate over `identity`'s block list.
pub fn layer(identity: Arc<Identity>) -> FirewallLayer {
    CheckLayer::new(Firewall { identity })
}

impl Check for Firewall {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        let Some(meta) = req.extensions().get::<RequestMeta>() else {
            return Ok(());
        };
        // Blocks are enforced even with the brute-force defense off: alert rules place them too.
        if meta.is_ops() {
            return Ok(());
        }
        match self.identity.brute.blocked(meta.client_ip).await {
            Ok(None) => Ok(()),
            Ok(Some(left)) => {
                let secs = left.as_secs_f64().ceil().max(1.0) as u64;
                self.identity.audit.record_refusal(
                    AuditEvent::new("firewall.refused", Risk::Low, Outcome::Denied)
                        .origin(&RequestOrigin::of(req))
                        .details(serde_json::json!({ "reason": "ip-blocked" })),
                );
                let mut res = refuse(
                    GATE,
                    "ip-blocked",
                    StatusCode::FORBIDDEN,
                    "This address is blocked after repeated failed sign-ins or another alert.",
                    meta.request_id_str(),
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                Err(res)
            }
            Err(e) => {
                tracing::warn!(error = %e, "IP block lookup failed; refusing");
                Err(refuse(
                    GATE,
                    "unavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The request cannot be checked right now; try again shortly.",
                    meta.request_id_str(),
                ))
            }
        }
    }
}
