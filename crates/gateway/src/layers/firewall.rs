//! The `firewall` gate: refuses client IPs on a deny list or off an allow list (`[firewall]` and
//! the route's `firewall = {…}`, IPv4/IPv6 CIDR) with 403 `firewall.refused`, marks clients on a
//! `skip_inspection` list so the `inspect` gate passes them (identification and authorization
//! still run), refuses by country where `deny_countries` / `allow_countries` apply (a
//! MaxMind-format database the operator supplies, `protect::geoip`; an address it cannot place is
//! refused wherever an allow list applies), and refuses client IPs under a block (placed by the brute-force defense's
//! threat levels or by an alert rule's `block_ip` action) with 403 and `Retry-After`. A block lookup that cannot be answered refuses with 503
//! (fail closed). Ops endpoints stay reachable so a blocked monitoring host can still see health.
//! Each refusal is a `firewall.refused` event on record (sampled per address; every one counts
//! for the alert rules).

use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::config::inspect::FirewallConfig;
use crate::identity::Identity;
use crate::problem::refuse;
use crate::protect::geoip::{Country, CountryDb};
use crate::request::{Req, RequestMeta, Res};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// The label of the firewall's refusals.
pub const GATE: &str = "firewall";

/// The firewall gate's check: IP blocks.
pub struct Firewall {
    identity: Arc<Identity>,
    lists: Arc<FirewallConfig>,
    /// The country database, when `geoip_database` is set.
    countries: Option<CountryDb>,
}

/// The firewall gate as a tower layer.
pub type FirewallLayer = CheckLayer<Firewall>;

/// The firewall gate over `identity`'s block list; reads `lists.geoip_database` if set.
pub fn layer(identity: Arc<Identity>, lists: FirewallConfig) -> Result<FirewallLayer, String> {
    let countries = lists
        .geoip_database
        .as_deref()
        .map(CountryDb::open)
        .transpose()
        .map_err(|e| format!("firewall.geoip_database: {e}"))?;
    Ok(CheckLayer::new(Firewall {
        identity,
        lists: Arc::new(lists),
        countries,
    }))
}

/// `code` is on `list`.
fn names(list: &[String], code: &Country) -> bool {
    matches!(code, Country::Code(c) if list.iter().any(|l| l.as_bytes() == c))
}

fn listed(nets: &[ipnet::IpNet], ip: std::net::IpAddr) -> bool {
    // An IPv4-mapped IPv6 peer is matched as its IPv4 address.
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|n| n.contains(&ip))
}

impl Firewall {
    /// The CIDR lists' decision for a request: `Some(reason)` refuses.
    fn lists_refuse(&self, meta: &RequestMeta) -> Option<&'static str> {
        let ip = meta.client_ip;
        let route = meta.route.as_deref().map(|r| &r.firewall);
        if listed(&self.lists.deny, ip) || route.is_some_and(|r| listed(&r.deny, ip)) {
            return Some("ip-denied");
        }
        if (!self.lists.allow.is_empty() && !listed(&self.lists.allow, ip))
            || route.is_some_and(|r| !r.allow.is_empty() && !listed(&r.allow, ip))
        {
            return Some("ip-not-allowed");
        }
        None
    }

    /// The country lists' decision: `Some((reason, country))` refuses. Lists apply only when the
    /// database is loaded (`config check` refuses lists without one).
    fn countries_refuse(&self, meta: &RequestMeta) -> Option<(&'static str, Country)> {
        let db = self.countries.as_ref()?;
        let route = meta.route.as_deref().map(|r| &r.firewall);
        let g = &self.lists;
        let has_allow =
            !g.allow_countries.is_empty() || route.is_some_and(|r| !r.allow_countries.is_empty());
        let has_deny =
            !g.deny_countries.is_empty() || route.is_some_and(|r| !r.deny_countries.is_empty());
        if !has_allow && !has_deny {
            return None;
        }
        let country = db.country(meta.client_ip);
        if country == Country::Unreadable
            || names(&g.deny_countries, &country)
            || route.is_some_and(|r| names(&r.deny_countries, &country))
        {
            return Some(("country-denied", country));
        }
        if (!g.allow_countries.is_empty() && !names(&g.allow_countries, &country))
            || route.is_some_and(|r| {
                !r.allow_countries.is_empty() && !names(&r.allow_countries, &country)
            })
        {
            return Some(("country-not-allowed", country));
        }
        None
    }
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
        if let Some(reason) = self.lists_refuse(meta) {
            self.identity.audit.record_refusal(
                AuditEvent::new("firewall.refused", Risk::Low, Outcome::Denied)
                    .origin(&RequestOrigin::of(req))
                    .details(serde_json::json!({ "reason": reason })),
            );
            return Err(refuse(
                GATE,
                reason,
                StatusCode::FORBIDDEN,
                "Requests from this address are not accepted.",
                meta.request_id_str(),
            ));
        }
        if let Some((reason, country)) = self.countries_refuse(meta) {
            self.identity.audit.record_refusal(
                AuditEvent::new("firewall.refused", Risk::Low, Outcome::Denied)
                    .origin(&RequestOrigin::of(req))
                    .details(serde_json::json!({ "reason": reason, "country": country.as_str() })),
            );
            return Err(refuse(
                GATE,
                reason,
                StatusCode::FORBIDDEN,
                "Requests from this country are not accepted here.",
                meta.request_id_str(),
            ));
        }
        let skip = listed(&self.lists.skip_inspection, meta.client_ip)
            || meta
                .route
                .as_deref()
                .is_some_and(|r| listed(&r.firewall.skip_inspection, meta.client_ip));
        match self.identity.brute.blocked(meta.client_ip).await {
            Ok(None) => {
                if skip {
                    req.extensions_mut().insert(super::inspect::SkipInspection);
                }
                Ok(())
            }
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
