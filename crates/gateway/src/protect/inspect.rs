//! The rules of input inspection (the `inspect` gate's use case): a route's compiled
//! [`InspectPolicy`], the values of a request it reads (query parameters, selected headers,
//! cookies, and JSON, form or multipart bodies within its bounds: `inspect_body`), and the
//! [`Verdict`]: every counted finding with the location it was found at, and the anomaly score
//! against the route's threshold.
//!
//! Guarantees: a body is read only within the policy's bounds (size, JSON depth, element count);
//! what cannot be read within them, a compressed body (unless bounded decompression is on:
//! `protect::decompress`, then it is inspected decoded), a charset other than UTF-8 and a JSON
//! object with a duplicate key are [`BodyRefusal`]s, never passed uninspected in block mode.
//! Locations name a parameter, never its value; the only trace of a value is
//! `palisade_core::inspect::redacted_excerpt`.

use super::decompress::Decompression;
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
    /// Per parameter named in `exclude_params`: the detectors run on its values (the route's,
    /// less the parameter's exclusions).
    params: HashMap<String, Vec<Detector>>,
    /// Headers whose values are inspected.
    headers: Vec<HeaderName>,
    /// Whether and how far compressed bodies are decoded for inspection.
    pub decompression: Decompression,
}

/// Where a value was found: its kind (`query`, `header`, `cookie`, `json`, `form`, `multipart`,
/// `body`) and the parameter's name (a JSON value's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location<Name = String> {
    /// The part of the request.
    pub part: &'static str,
    /// The parameter's name.
    pub name: Name,
}

impl<Name: std::fmt::Debug> std::fmt::Display for Location<Name> {
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

/// Values of one request the route's detectors found nothing in, so a repeat is not scanned
/// again: the keys of every record of a JSON array, a note copied into each item. Exact copies,
/// kept end to end in one buffer and found through a table of [`CleanValues::SLOTS`] slots
/// indexed by a hash of a value's length and three of its bytes; a candidate is compared whole,
/// so a collision (which an attacker can make) costs a comparison, never a wrong answer. At most
/// [`CleanValues::MAX`] values, the first seen, so a body of colliding values costs at most that
/// many comparisons per value, as a list would.
struct CleanValues {
    /// The remembered values, end to end.
    bytes: [u8; Self::MAX * Self::MAX_LEN],
    /// How much of `bytes` is used.
    used: usize,
    /// Where each remembered value starts in `bytes`, and its length.
    spans: [(u16, u8); Self::MAX],
    /// How many values are remembered.
    count: usize,
    /// Per slot, 1 + the index in `spans` of a value whose hash leads there (linear probing),
    /// or 0. Never more than half full, so every probe ends at an empty slot.
    slots: [u8; Self::SLOTS],
}

impl CleanValues {
    const MAX: usize = 32;
    /// Values longer than this are not kept (a repeat of a long value is rare).
    const MAX_LEN: usize = 64;
    const SLOTS: usize = 2 * Self::MAX;

    fn new() -> Self {
        Self {
            bytes: [0; Self::MAX * Self::MAX_LEN],
            used: 0,
            spans: [(0, 0); Self::MAX],
            count: 0,
            slots: [0; Self::SLOTS],
        }
    }

    /// The first slot to probe for `value` (not empty, at most `MAX_LEN` bytes).
    fn slot_of(value: &[u8]) -> usize {
        let n = value.len();
        let key = u32::from_le_bytes([n as u8, value[0], value[n / 2], value[n - 1]]);
        // Fibonacci hashing: the top bits of the product index the slots.
        (key.wrapping_mul(0x9E37_79B1) >> (32 - Self::SLOTS.trailing_zeros())) as usize
    }

    fn value(&self, index: u8) -> &[u8] {
        let (start, len) = self.spans[usize::from(index)];
        &self.bytes[usize::from(start)..usize::from(start) + usize::from(len)]
    }

    fn contains(&self, value: &str) -> bool {
        let v = value.as_bytes();
        if v.is_empty() || v.len() > Self::MAX_LEN {
            return false;
        }
        let mut slot = Self::slot_of(v);
        loop {
            match self.slots[slot] {
                0 => return false,
                i if self.value(i - 1) == v => return true,
                _ => slot = (slot + 1) % Self::SLOTS,
            }
        }
    }

    fn remember(&mut self, value: &str) {
        let v = value.as_bytes();
        if self.count == Self::MAX || v.is_empty() || v.len() > Self::MAX_LEN {
            return;
        }
        let mut slot = Self::slot_of(v);
        while self.slots[slot] != 0 {
            slot = (slot + 1) % Self::SLOTS;
        }
        self.bytes[self.used..self.used + v.len()].copy_from_slice(v);
        self.spans[self.count] = (self.used as u16, v.len() as u8);
        self.used += v.len();
        self.count += 1;
        self.slots[slot] = self.count as u8;
    }
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
        let run = |excluded: &[Detector]| -> Vec<Detector> {
            Detector::ALL
                .into_iter()
                .filter(|d| !excluded.contains(d))
                .collect()
        };
        let detectors = run(&excluded);
        Ok(Self {
            mode: route.mode.unwrap_or(global.mode),
            paranoia: route.paranoia.unwrap_or(global.paranoia),
            threshold: route.threshold.unwrap_or(global.threshold),
            max_body: route.max_body.unwrap_or(global.max_body).0,
            max_depth: global.max_depth,
            max_elements: global.max_elements,
            params: route
                .exclude_params
                .iter()
                .map(|(k, v)| {
                    let mut off = parse(v)?;
                    off.extend_from_slice(&excluded);
                    Ok((k.clone(), run(&off)))
                })
                .collect::<Result<_, String>>()?,
            detectors,
            headers: global
                .headers
                .iter()
                .filter_map(|h| crate::config::header_name(h))
                .collect(),
            decompression: Decompression::new(global, Some(route)),
        })
    }

    /// Inspects the request head `parts` and its `body` (already read within
    /// [`InspectPolicy::max_body`]; empty for none; decoded here as `Content-Encoding` says). Each value is judged as it is read; only
    /// a value with a finding is copied (its location and redacted excerpt).
    pub fn inspect(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<Verdict, BodyRefusal> {
        let mut verdict = Verdict::default();
        let mut clean = CleanValues::new();
        let mut judge = |part: &'static str, name: &str, value: &str, in_header: bool| {
            self.judge(
                Location { part, name },
                value,
                in_header,
                &mut verdict,
                &mut clean,
            )
        };
        if let Some(q) = parts.uri.query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let name = url_decode(k, true);
                judge("query", &name, &name, false);
                judge("query", &name, &url_decode(v, true), false);
            }
        }
        for h in &self.headers {
            for v in parts.headers.get_all(h) {
                judge(
                    "header",
                    h.as_str(),
                    &String::from_utf8_lossy(v.as_bytes()),
                    true,
                );
            }
        }
        for c in parts.headers.get_all(http::header::COOKIE) {
            for pair in String::from_utf8_lossy(c.as_bytes()).split(';') {
                let (k, v) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
                judge("cookie", k, &url_decode(v, false), true);
            }
        }
        if !body.is_empty() {
            let body = self.decompression.decode(&parts.headers, body)?;
            body_values(parts, &body, self, &mut |part, name, value| {
                judge(part, name, value, false)
            })?;
        }
        verdict.hits.sort_by_key(|h| h.finding.level);
        Ok(verdict)
    }

    /// Runs the detectors this route runs on `name`'s values over `value`; what they find within
    /// the paranoia level is added to `verdict`. A value already found clean in this request by
    /// the route's detectors (`clean`) is not scanned again: the detectors are pure functions.
    fn judge(
        &self,
        at: Location<&str>,
        value: &str,
        in_header: bool,
        verdict: &mut Verdict,
        clean: &mut CleanValues,
    ) {
        let narrowed = if self.params.is_empty() {
            None
        } else {
            self.params.get(at.name)
        };
        let detectors = narrowed.unwrap_or(&self.detectors);
        if detectors.is_empty() {
            return;
        }
        let remembered = narrowed.is_none() && !in_header && value.len() >= 2;
        if remembered && clean.contains(value) {
            return;
        }
        let found = scan(value, in_header, detectors);
        if found.is_empty() {
            if remembered {
                clean.remember(value);
            }
            return;
        }
        let mut counted = found.iter().filter(|f| f.level <= self.paranoia).peekable();
        if counted.peek().is_none() {
            return;
        }
        let excerpt = redacted_excerpt(value);
        for &finding in counted {
            verdict.score += score(&[finding], self.paranoia);
            verdict.hits.push(Hit {
                finding,
                location: Location {
                    part: at.part,
                    name: at.name.to_owned(),
                },
                excerpt: excerpt.clone(),
            });
        }
    }

    /// Whether `verdict` refuses the request under this policy (block mode, at the threshold).
    pub fn refuses(&self, verdict: &Verdict) -> bool {
        self.mode == InspectMode::Block && verdict.score >= self.threshold
    }

    /// Inspects one WebSocket text message: a JSON object or array is walked as a JSON body
    /// (its values judged under their keys, within the depth and element bounds); anything
    /// else, and JSON that cannot be walked (malformed, too deep, too many values), is judged
    /// whole.
    pub fn inspect_message(&self, text: &str) -> Verdict {
        let mut verdict = Verdict::default();
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let (mut parts, ()) = http::Request::new(()).into_parts();
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            let mut clean = CleanValues::new();
            if body_values(&parts, text.as_bytes(), self, &mut |part, name, value| {
                self.judge(
                    Location { part, name },
                    value,
                    false,
                    &mut verdict,
                    &mut clean,
                )
            })
            .is_ok()
            {
                verdict.hits.sort_by_key(|h| h.finding.level);
                return verdict;
            }
            verdict = Verdict::default();
        }
        self.judge(
            Location {
                part: "websocket",
                name: "message",
            },
            text,
            false,
            &mut verdict,
            &mut CleanValues::new(),
        );
        verdict.hits.sort_by_key(|h| h.finding.level);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_post() -> http::request::Parts {
        http::Request::post("/")
            .header("content-type", "application/json")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    /// The table finds exactly the values remembered: values that share the hashed bytes
    /// (length, first, middle, last) collide and are told apart whole, a probe chain wraps past
    /// the last slot, and values past the first `MAX` (or longer than `MAX_LEN`) are not kept.
    #[test]
    fn clean_values_are_found_only_by_exact_copies() {
        // `MAX` values of one hash, from a first slot near the table's end: the chain wraps.
        let shape = |c: u8, i: usize| format!("{}{i:02}m{:02}z", c as char, 99 - i);
        let first = (b'!'..=b'~')
            .find(|&c| CleanValues::slot_of(shape(c, 0).as_bytes()) >= CleanValues::SLOTS - 4)
            .expect("a first byte whose slot is near the end");
        let colliding: Vec<String> = (0..CleanValues::MAX).map(|i| shape(first, i)).collect();
        let mut clean = CleanValues::new();
        for v in &colliding {
            assert_eq!(
                CleanValues::slot_of(v.as_bytes()),
                CleanValues::slot_of(colliding[0].as_bytes())
            );
            assert!(!clean.contains(v), "{v}");
            clean.remember(v);
        }
        for v in &colliding {
            assert!(clean.contains(v), "{v}");
        }
        assert!(
            !clean.contains(&shape(first, 40)),
            "same hash, never remembered"
        );
        assert!(!clean.contains(&colliding[0][..6]));
        clean.remember("one too many");
        assert!(!clean.contains("one too many"));

        let mut clean = CleanValues::new();
        let long = "y".repeat(CleanValues::MAX_LEN + 1);
        clean.remember(&long);
        assert!(!clean.contains(&long));
        clean.remember(&long[1..]);
        assert!(clean.contains(&long[1..]));
    }

    /// Skipping the values already found clean changes no verdict: a repeated attack counts
    /// at every place it appears, a clean repeat still counts nothing.
    #[test]
    fn repeated_values_are_judged_as_if_each_were_scanned() {
        let policy =
            InspectPolicy::new(&InspectConfig::default(), &RouteInspect::default()).unwrap();
        let one = policy
            .inspect(&json_post(), br#"{"q":"1' or '1'='1"}"#)
            .unwrap();
        assert!(one.score > 0);
        let body = br#"[{"q":"blue shoes","n":"O'Brien"},{"q":"blue shoes","n":"O'Brien"},
            {"q":"1' or '1'='1","n":"O'Brien"},{"q":"1' or '1'='1","n":"O'Brien"}]"#;
        let twice = policy.inspect(&json_post(), body).unwrap();
        assert_eq!(twice.score, 2 * one.score);
        assert_eq!(twice.hits.len(), 2 * one.hits.len());
        let clean = policy
            .inspect(&json_post(), br#"{"q":"blue shoes","r":"blue shoes"}"#)
            .unwrap();
        assert_eq!(clean.score, 0);
    }
}
