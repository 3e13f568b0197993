//! Evaluation of the detectors on labelled request corpora (JSON Lines of
//! `{method, uri, headers, body, expect}`; the libinjection sample format
//! `{source, kind, is_attack, input_urlencoded}` is read as a query parameter). Used by
//! `scripts/inspect-eval` (through the `inspect_eval` example) and by the corpus tests, so the
//! figures reported are the figures asserted. Values are taken from a request the way the
//! `inspect` gate takes them: query parameters URL-decoded, header values, a JSON body's strings
//! (keys too) walked, a form body decoded, any other body as one value.

use super::{Detector, Finding, decode::url_decode, scan};
use serde_json::Value;
use std::collections::BTreeMap;

/// One labelled request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The values the gate would inspect, with whether each is a header value.
    pub values: Vec<(String, bool)>,
    /// Whether the request is an attack (`expect` = `block`).
    pub attack: bool,
    /// The category (`category` or `kind` field; else `all`).
    pub category: String,
    /// The source file (`source` field; else the corpus file's name).
    pub source: String,
}

/// Reads one JSON Lines record; `None` for a line that is not a record.
pub fn parse_line(line: &str, file: &str) -> Option<Sample> {
    let v: Value = serde_json::from_str(line).ok()?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let category = text("category")
        .or_else(|| text("kind"))
        .unwrap_or_else(|| "all".into());
    let source = text("source").unwrap_or_else(|| file.to_owned());
    if let Some(raw) = text("input_urlencoded") {
        let attack = v.get("is_attack").and_then(Value::as_bool)?;
        return Some(Sample {
            values: vec![(url_decode(&raw, true).into_owned(), false)],
            attack,
            category,
            source,
        });
    }
    let attack = match v.get("expect")? {
        Value::String(s) => matches!(s.as_str(), "block" | "attack" | "refuse" | "deny"),
        Value::Bool(b) => *b,
        _ => return None,
    };
    let mut values = Vec::new();
    if let Some(uri) = text("uri")
        && let Some((_, q)) = uri.split_once('?')
    {
        for pair in q.split('&') {
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            values.push((url_decode(k, true).into_owned(), false));
            values.push((url_decode(val, true).into_owned(), false));
        }
    }
    if let Some(h) = v.get("headers").and_then(Value::as_object) {
        for (_, hv) in h {
            if let Some(s) = hv.as_str() {
                values.push((s.to_owned(), true));
            }
        }
    }
    match v.get("body") {
        Some(Value::String(b)) => match serde_json::from_str::<Value>(b) {
            Ok(j @ (Value::Object(_) | Value::Array(_))) => walk(&j, &mut values),
            _ if b.contains('=') && !b.contains(' ') => {
                for pair in b.split('&') {
                    let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                    values.push((url_decode(k, true).into_owned(), false));
                    values.push((url_decode(val, true).into_owned(), false));
                }
            }
            _ => values.push((b.clone(), false)),
        },
        Some(j @ (Value::Object(_) | Value::Array(_))) => walk(j, &mut values),
        _ => {}
    }
    Some(Sample {
        values,
        attack,
        category,
        source,
    })
}

fn walk(v: &Value, out: &mut Vec<(String, bool)>) {
    match v {
        Value::String(s) => out.push((s.clone(), false)),
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push((k.clone(), false));
            walk(x, out)
        }),
        _ => {}
    }
}

/// All findings in a sample's values.
pub fn findings(s: &Sample) -> Vec<Finding> {
    s.values
        .iter()
        .flat_map(|(v, h)| scan(v, *h, &Detector::ALL))
        .collect()
}

/// Counts for one row of a report: samples, and those flagged at each paranoia level 1–4.
#[derive(Debug, Default, Clone, Copy)]
pub struct Count {
    /// Samples in the row.
    pub total: u64,
    /// Samples flagged at paranoia level `i + 1`.
    pub flagged: [u64; 4],
}

impl Count {
    /// The flagged share at `paranoia`, in percent.
    pub fn rate(&self, paranoia: u8) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 * self.flagged[usize::from(paranoia.clamp(1, 4) - 1)] as f64 / self.total as f64
    }
}

/// A report: detection on attacks by category and by source; false positives on benign
/// samples overall and per detector.
#[derive(Debug, Default)]
pub struct Report {
    /// Attacks by category (flagged by any detector).
    pub detection_by_category: BTreeMap<String, Count>,
    /// Attacks by (category, source).
    pub detection_by_source: BTreeMap<(String, String), Count>,
    /// Benign samples flagged by any detector, by source.
    pub false_positives_by_source: BTreeMap<String, Count>,
    /// Benign samples flagged, per detector (every benign sample counts in every row).
    pub false_positives_by_detector: BTreeMap<&'static str, Count>,
}

impl Report {
    /// Adds one sample.
    pub fn add(&mut self, s: &Sample) {
        let f = findings(s);
        let flagged_at = |p: u8, d: Option<Detector>| {
            f.iter()
                .any(|x| x.level <= p && d.is_none_or(|d| x.detector == d))
        };
        let bump = |c: &mut Count, d: Option<Detector>| {
            c.total += 1;
            for p in 1..=4u8 {
                c.flagged[usize::from(p - 1)] += u64::from(flagged_at(p, d));
            }
        };
        if s.attack {
            bump(
                self.detection_by_category
                    .entry(s.category.clone())
                    .or_default(),
                None,
            );
            bump(
                self.detection_by_source
                    .entry((s.category.clone(), s.source.clone()))
                    .or_default(),
                None,
            );
        } else {
            bump(
                self.false_positives_by_source
                    .entry(s.source.clone())
                    .or_default(),
                None,
            );
            for d in Detector::ALL {
                bump(
                    self.false_positives_by_detector
                        .entry(d.name())
                        .or_default(),
                    Some(d),
                );
            }
        }
    }

    /// The report as text: one line per row, rates at paranoia 1–4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, label: &str, c: &Count| {
            out.push_str(&format!(
                "  {label:<60} n={:<6} p1={:>6.2}% p2={:>6.2}% p3={:>6.2}% p4={:>6.2}%\n",
                c.total,
                c.rate(1),
                c.rate(2),
                c.rate(3),
                c.rate(4)
            ));
        };
        out.push_str("detection (attacks flagged), by category:\n");
        for (k, c) in &self.detection_by_category {
            line(&mut out, k, c);
        }
        out.push_str("detection, by category and source file:\n");
        for ((cat, src), c) in &self.detection_by_source {
            line(&mut out, &format!("{cat} {src}"), c);
        }
        out.push_str("false positives (benign flagged), by source file:\n");
        for (k, c) in &self.false_positives_by_source {
            line(&mut out, k, c);
        }
        out.push_str("false positives, by detector:\n");
        for (k, c) in &self.false_positives_by_detector {
            line(&mut out, k, c);
        }
        out
    }
}
