//! The rules of input inspection (the `inspect` gate's use case): a route's compiled
//! [`InspectPolicy`], the values of a request it reads (query parameters, selected headers,
//! cookies, and JSON, form or multipart bodies within its bounds: `inspect_body`), and the
//! [`Verdict`]: every counted finding with the location it was found at, and the anomaly score
//! against the route's threshold.
//!
//! Guarantees: a body is read only within the policy's bounds (size, JSON depth, element count);
//! what cannot be read within them, a compressed body, a charset other than UTF-8 and a JSON
//! object with a duplicate key are [`BodyRefusal`]s, never passed uninspected in block mode.
//! Locations name a parameter, never its value; the only trace of a value is
//! `palisade_core::inspect::redacted_excerpt`.

use super::inspect_body::{BodyRefusal, body_values};
use crate::config::inspect::{InspectConfig, InspectMode, RouteInspect};
use http::HeaderName;
use palisade_core::inspect::decode::url_decode;
use palisade_core::inspect::{Detector, Finding, redacted_excerpt, scan, score};
use std::collections::HashMap;

/// A route's inspection, compiled at start from its `inspect = {…}` over `[inspect]`.
#[derive(Debug)]
pub struct InspectPolicy {
    /// `block` or `detect`.
    pub mode: InspectMode,
    /// Findings above this level are not counted.
    pub paranoia: u8,
    /// The score at which a request is refused.
    pub threshold: u32,
    /// Largest body inspected.
    pub max_body: u64,
    /// Deepest JSON nesting.
    pub max_depth: usize,
    /// Most values in a body.
    pub max_elements: usize,
    /// Detectors run on this route.
    detectors: Vec<Detector>,
    /// Per parameter name: detectors not run on it.
    exclude_params: HashMap<String, Vec<Detector>>,
    /// Headers whose values are inspected.
    headers: Vec<HeaderName>,
}

/// Where a value was found: its kind (`query`, `header`, `cookie`, `json`, `form`, `multipart`,
/// `body`) and the parameter's name (a JSON value's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The part of the request.
    pub part: &'static str,
    /// The parameter's name.
    pub name: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.part, self.name)
    }
}

/// One counted finding and where.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The finding.
    pub finding: Finding,
    /// Where.
    pub location: Location,
    /// The value, redacted (letters and digits masked).
    pub excerpt: String,
}

/// What inspection found in one request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The counted findings (level within the route's paranoia), strongest first.
    pub hits: Vec<Hit>,
    /// Their anomaly score.
    pub score: u32,
}

impl InspectPolicy {
    /// The policy of a route with `route` over the defaults `global`.
    pub fn new(global: &InspectConfig, route: &RouteInspect) -> Result<Self, String> {
        let parse = |names: &[String]| -> Result<Vec<Detector>, String> {
            if names.iter().any(|n| n == "all") {
                return Ok(Detector::ALL.to_vec());
            }
            names
                .iter()
                .map(|n| Detector::parse(n).ok_or_else(|| format!("unknown detector {n:?}")))
                .collect()
        };
        let excluded = parse(&route.exclude)?;
        Ok(Self {
            mode: route.mode.unwrap_or(global.mode),
            paranoia: route.paranoia.unwrap_or(global.paranoia),
            threshold: route.threshold.unwrap_or(global.threshold),
            max_body: route.max_body.unwrap_or(global.max_body).0,
            max_depth: global.max_depth,
            max_elements: global.max_elements,
            detectors: Detector::ALL
                .into_iter()
                .filter(|d| !excluded.contains(d))
                .collect(),
            exclude_params: route
                .exclude_params
                .iter()
                .map(|(k, v)| Ok((k.clone(), parse(v)?)))
                .collect::<Result<_, String>>()?,
            headers: global
                .headers
                .iter()
                .filter_map(|h| crate::config::header_name(h))
                .collect(),
        })
    }

    /// Inspects the request head `parts` and its `body` (already read within
    /// [`InspectPolicy::max_body`]; empty for none).
    pub fn inspect(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<Verdict, BodyRefusal> {
        let mut values: Vec<(Location, String, bool)> = Vec::new();
        if let Some(q) = parts.uri.query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let name = url_decode(k, true);
                values.push((
                    Location {
                        part: "query",
                        name: name.clone(),
                    },
                    name.clone(),
                    false,
                ));
                values.push((
                    Location {
                        part: "query",
                        name,
                    },
                    url_decode(v, true),
                    false,
                ));
            }
        }
        for h in &self.headers {
            for v in parts.headers.get_all(h) {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                values.push((
                    Location {
                        part: "header",
                        name: h.as_str().to_owned(),
                    },
                    v,
                    true,
                ));
            }
        }
        for c in parts.headers.get_all(http::header::COOKIE) {
            for pair in String::from_utf8_lossy(c.as_bytes()).split(';') {
                let (k, v) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
                values.push((
                    Location {
                        part: "cookie",
                        name: k.to_owned(),
                    },
                    url_decode(v, false),
                    true,
                ));
            }
        }
        if !body.is_empty() {
            body_values(parts, body, self, &mut values)?;
        }
        let mut verdict = Verdict::default();
        for (location, value, in_header) in values {
            let skip = self.exclude_params.get(&location.name);
            let detectors: Vec<Detector> = match skip {
                None => self.detectors.clone(),
                Some(s) => self
                    .detectors
                    .iter()
                    .copied()
                    .filter(|d| !s.contains(d))
                    .collect(),
            };
            let found: Vec<Finding> = scan(&value, in_header, &detectors)
                .into_iter()
                .filter(|f| f.level <= self.paranoia)
                .collect();
            if found.is_empty() {
                continue;
            }
            verdict.score += score(&found, self.paranoia);
            let excerpt = redacted_excerpt(&value);
            verdict.hits.extend(found.into_iter().map(|finding| Hit {
                finding,
                location: location.clone(),
                excerpt: excerpt.clone(),
            }));
        }
        verdict.hits.sort_by_key(|h| h.finding.level);
        Ok(verdict)
    }

    /// Whether `verdict` refuses the request under this policy (block mode, at the threshold).
    pub fn refuses(&self, verdict: &Verdict) -> bool {
        self.mode == InspectMode::Block && verdict.score >= self.threshold
    }
}
