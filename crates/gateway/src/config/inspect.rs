//! `[inspect]` and `[firewall]`, and their per-route forms `inspect = {…}` and `firewall = {…}`:
//! which requests the `inspect` gate reads (paranoia, threshold, mode, body bounds, exclusions)
//! and which client addresses the `firewall` gate admits (CIDR allow and deny lists).
//!
//! Guarantees: unknown keys are refused; a CIDR that does not parse is refused when the file is
//! read; [`InspectConfig::problems`] (run by `config check` and at start) refuses values the
//! gates cannot apply (paranoia outside 1–4, an unknown detector name, a zero threshold).

use super::units::ByteSize;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the inspect gate does with a request over the threshold.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InspectMode {
    /// Refuse it (403), and a body over the inspection limit with 413.
    #[default]
    Block,
    /// Pass it on and record what was found.
    Detect,
}

/// `[inspect]`: the defaults of every route's `inspect = {…}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InspectConfig {
    /// Paranoia level 1–4: findings of a higher level than this are not counted.
    pub paranoia: u8,
    /// The anomaly score (5 per counted finding) at which a request is refused.
    pub threshold: u32,
    /// `block` or `detect`.
    pub mode: InspectMode,
    /// Largest body inspected; in block mode a larger body is refused with 413.
    pub max_body: ByteSize,
    /// Deepest JSON nesting inspected; deeper is refused (400).
    pub max_depth: usize,
    /// Most JSON values, form fields or multipart parts inspected; more is refused (400).
    pub max_elements: usize,
    /// Request headers whose values are inspected (lowercase names); cookies always are.
    pub headers: Vec<String>,
    /// Decompress `Content-Encoding: gzip | deflate | br` bodies (within the two bounds below)
    /// to inspect and validate them; off, a compressed body is refused (415).
    pub decompress: bool,
    /// Most bytes a compressed body may inflate to; more is refused (413).
    pub max_decompressed: ByteSize,
    /// Most times its compressed size a body may inflate to; more is refused (413).
    pub max_ratio: u32,
}

impl Default for InspectConfig {
    fn default() -> Self {
        Self {
            paranoia: 2,
            threshold: 5,
            mode: InspectMode::Block,
            max_body: ByteSize(64 * 1024),
            max_depth: 32,
            max_elements: 10_000,
            headers: vec!["user-agent".into(), "referer".into()],
            decompress: false,
            max_decompressed: ByteSize(1_000_000),
            max_ratio: 100,
        }
    }
}

/// A route's `inspect = {…}`: present, the route's requests are inspected; each key unset takes
/// `[inspect]`'s.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteInspect {
    /// Overrides `inspect.paranoia`.
    pub paranoia: Option<u8>,
    /// Overrides `inspect.threshold`.
    pub threshold: Option<u32>,
    /// Overrides `inspect.mode`.
    pub mode: Option<InspectMode>,
    /// Overrides `inspect.max_body`.
    pub max_body: Option<ByteSize>,
    /// Detectors not run on this route (`sqli`, `xss`, `traversal`, `cmdi`, `header`).
    pub exclude: Vec<String>,
    /// Per parameter (query, form or multipart field name, JSON key, cookie or header name): the
    /// detectors not run on its values, or `["all"]`.
    pub exclude_params: BTreeMap<String, Vec<String>>,
    /// Overrides `inspect.decompress` (for this route's schema validation too).
    pub decompress: Option<bool>,
    /// Overrides `inspect.max_decompressed`.
    pub max_decompressed: Option<ByteSize>,
    /// Overrides `inspect.max_ratio`.
    pub max_ratio: Option<u32>,
}

/// `[firewall]`: addresses refused or admitted before identification, on every route.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FirewallConfig {
    /// Addresses always refused (403), IPv4 or IPv6 CIDR.
    pub deny: Vec<IpNet>,
    /// When not empty, only these addresses are admitted (403 for others).
    pub allow: Vec<IpNet>,
    /// Addresses trusted enough that the content rules (the inspect gate) are skipped for them;
    /// identification and authorization still apply.
    pub skip_inspection: Vec<IpNet>,
    /// A MaxMind-format country database (`.mmdb`, GeoIP2/GeoLite2 Country or City) the operator
    /// supplies, read at start; the country lists need it.
    pub geoip_database: Option<std::path::PathBuf>,
    /// Countries refused (ISO 3166-1 alpha-2, e.g. `"KP"`).
    pub deny_countries: Vec<String>,
    /// When not empty, only these countries are admitted; an address the database does not
    /// place is refused.
    pub allow_countries: Vec<String>,
}

/// A route's `firewall = {…}`: lists checked after the global ones, for this route only.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteFirewall {
    /// Addresses refused on this route.
    pub deny: Vec<IpNet>,
    /// When not empty, only these addresses are admitted on this route.
    pub allow: Vec<IpNet>,
    /// Addresses whose requests to this route skip the inspect gate.
    pub skip_inspection: Vec<IpNet>,
    /// Countries refused on this route (needs `firewall.geoip_database`).
    pub deny_countries: Vec<String>,
    /// When not empty, only these countries are admitted on this route.
    pub allow_countries: Vec<String>,
}

impl RouteFirewall {
    /// This route has country rules.
    pub fn has_countries(&self) -> bool {
        !self.deny_countries.is_empty() || !self.allow_countries.is_empty()
    }
}

impl FirewallConfig {
    /// What is wrong with `[firewall]` and the routes' `firewall = {…}`: country codes not of
    /// the ISO shape, country lists without a database, a database that cannot be read.
    pub fn problems(&self, routes: &[super::RouteConfig]) -> Vec<String> {
        let mut out = Vec::new();
        let lists = std::iter::once((
            "firewall".to_string(),
            &self.deny_countries,
            &self.allow_countries,
        ))
        .chain(routes.iter().map(|r| {
            (
                format!("route {}: firewall", r.display_name()),
                &r.firewall.deny_countries,
                &r.firewall.allow_countries,
            )
        }));
        let mut any = false;
        for (at, deny, allow) in lists {
            for code in deny.iter().chain(allow) {
                any = true;
                if !crate::protect::geoip::valid_code(code) {
                    out.push(format!(
                        "{at}: {code:?} is not an ISO 3166-1 alpha-2 country code (two capital letters)"
                    ));
                }
            }
        }
        match &self.geoip_database {
            None if any => out.push(
                "firewall: country lists need firewall.geoip_database (a MaxMind .mmdb file)"
                    .into(),
            ),
            Some(path) => {
                if let Err(e) = crate::protect::geoip::CountryDb::open(path) {
                    out.push(format!("firewall.geoip_database: {e}"));
                }
            }
            None => {}
        }
        out
    }
}

const DETECTORS: &[&str] = &["sqli", "xss", "traversal", "cmdi", "header"];

impl InspectConfig {
    /// What is wrong with `[inspect]` and the routes' `inspect = {…}`.
    pub fn problems(&self, routes: &[super::RouteConfig]) -> Vec<String> {
        let mut out = Vec::new();
        if !(1..=4).contains(&self.paranoia) {
            out.push("inspect.paranoia: 1 to 4".into());
        }
        if self.threshold == 0 {
            out.push("inspect.threshold: at least 1".into());
        }
        if self.max_depth == 0 || self.max_depth > 128 || self.max_elements == 0 {
            out.push("inspect.max_depth: 1 to 128; inspect.max_elements: at least 1".into());
        }
        for h in &self.headers {
            if super::header_name(h).is_none() {
                out.push(format!("inspect.headers: {h:?} is not a header name"));
            }
        }
        if self.max_decompressed.0 == 0 || self.max_ratio == 0 {
            out.push("inspect.max_decompressed, inspect.max_ratio: at least 1".into());
        }
        for r in routes {
            let Some(i) = &r.inspect else { continue };
            let name = r.display_name();
            if i.max_decompressed.is_some_and(|b| b.0 == 0) || i.max_ratio == Some(0) {
                out.push(format!(
                    "route {name}: inspect.max_decompressed, inspect.max_ratio: at least 1"
                ));
            }
            if i.paranoia.is_some_and(|p| !(1..=4).contains(&p)) {
                out.push(format!("route {name}: inspect.paranoia: 1 to 4"));
            }
            if i.threshold == Some(0) {
                out.push(format!("route {name}: inspect.threshold: at least 1"));
            }
            for d in i.exclude.iter().chain(i.exclude_params.values().flatten()) {
                if !DETECTORS.contains(&d.as_str()) && d != "all" {
                    out.push(format!(
                        "route {name}: inspect: unknown detector {d:?} (expected one of {})",
                        DETECTORS.join(", ")
                    ));
                }
            }
        }
        out
    }
}
