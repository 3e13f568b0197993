//! A route's `upload = {…}`: which file types the `upload` gate admits (decided by content,
//! never by the client's name or content type), size caps per file and per principal tier,
//! multipart bounds, and the structural limits for archives, CSV and JSON.
//!
//! Guarantees: unknown keys are refused when the file is read; [`problems`] (run by
//! `config check` and at start) refuses an unknown type name, zero limits, and a file cap larger
//! than the route's body limit (such a file could never arrive whole).

use super::units::ByteSize;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The type names `types` may list.
pub const TYPES: &[&str] = &[
    "png", "jpeg", "gif", "webp", "pdf", "zip", "xlsx", "docx", "parquet", "csv", "json",
];

/// A route's `upload = {…}`: present, request bodies on the route are files checked by the
/// `upload` gate (the body itself, or the file parts of `multipart/form-data`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteUpload {
    /// Types admitted, by content (see [`TYPES`]).
    pub types: Vec<String>,
    /// Largest file (raw body or one file part).
    pub max_file: ByteSize,
    /// Per principal tier (`free`, `pro`, …): the largest file for callers of that tier, over
    /// `max_file`. Anonymous callers and unlisted tiers get `max_file`.
    pub max_file_by_tier: BTreeMap<String, ByteSize>,
    /// Most parts in a multipart body (files and fields together).
    pub max_parts: usize,
    /// Largest non-file multipart field.
    pub max_field: ByteSize,
    /// Largest header block of one multipart part.
    pub max_part_headers: ByteSize,
    /// Archive bounds (ZIP, XLSX, DOCX).
    pub archive: ArchiveLimits,
    /// CSV structure.
    pub csv: CsvLimits,
    /// JSON structure.
    pub json: JsonLimits,
}

impl Default for RouteUpload {
    fn default() -> Self {
        Self {
            types: Vec::new(),
            max_file: ByteSize(8 << 20),
            max_file_by_tier: BTreeMap::new(),
            max_parts: 20,
            max_field: ByteSize(64 << 10),
            max_part_headers: ByteSize(8 << 10),
            archive: ArchiveLimits::default(),
            csv: CsvLimits::default(),
            json: JsonLimits::default(),
        }
    }
}

/// `upload.archive`: what an archive may hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveLimits {
    /// Most entries, nested archives' entries included.
    pub max_entries: usize,
    /// Largest uncompressed total, declared and actual, nested archives' included.
    pub max_total: ByteSize,
    /// Largest uncompressed / compressed ratio of one entry.
    pub max_ratio: u64,
    /// Archive nesting: 1 admits an archive but no archive inside it.
    pub max_depth: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_entries: 1000,
            max_total: ByteSize(100_000_000),
            max_ratio: 100,
            max_depth: 1,
        }
    }
}

/// `upload.csv`: the shape of a CSV file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CsvLimits {
    /// Most data rows (the header not counted).
    pub max_rows: u64,
    /// The first row is a header: present, no empty names.
    pub header: bool,
}

impl Default for CsvLimits {
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            header: true,
        }
    }
}

/// `upload.json`: the shape of a JSON file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JsonLimits {
    /// Deepest nesting of arrays and objects.
    pub max_depth: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        Self { max_depth: 64 }
    }
}

/// What is wrong with the routes' `upload = {…}`.
pub fn problems(config: &super::Config) -> Vec<String> {
    let mut out = Vec::new();
    for r in &config.routes {
        let Some(u) = &r.upload else { continue };
        let at = format!("route {}: upload", r.display_name());
        if u.types.is_empty() {
            out.push(format!(
                "{at}.types: list at least one type ({})",
                TYPES.join(", ")
            ));
        }
        for t in &u.types {
            if !TYPES.contains(&t.as_str()) {
                out.push(format!(
                    "{at}.types: unknown type {t:?} (expected one of {})",
                    TYPES.join(", ")
                ));
            }
        }
        let body = r.max_body.unwrap_or(config.limits.max_body).0;
        for (key, cap) in std::iter::once(("max_file".to_string(), u.max_file)).chain(
            u.max_file_by_tier
                .iter()
                .map(|(t, c)| (format!("max_file_by_tier.{t}"), *c)),
        ) {
            if cap.0 == 0 {
                out.push(format!("{at}.{key}: at least 1 byte"));
            } else if cap.0 > body {
                out.push(format!(
                    "{at}.{key}: {} bytes is over the route's body limit ({body} bytes): raise \
                     the route's max_body or lower the cap",
                    cap.0
                ));
            }
        }
        if u.max_parts == 0 || u.max_parts > 10_000 {
            out.push(format!("{at}.max_parts: 1 to 10000"));
        }
        if u.max_field.0 == 0 || u.max_part_headers.0 < 64 {
            out.push(format!(
                "{at}.max_field: at least 1 byte; max_part_headers: at least 64 bytes"
            ));
        }
        let a = &u.archive;
        if a.max_entries == 0 || a.max_total.0 == 0 || a.max_ratio == 0 {
            out.push(format!(
                "{at}.archive: max_entries, max_total and max_ratio at least 1"
            ));
        }
        if a.max_depth == 0 || a.max_depth > 8 {
            out.push(format!("{at}.archive.max_depth: 1 to 8"));
        }
        if u.csv.max_rows == 0 {
            out.push(format!("{at}.csv.max_rows: at least 1"));
        }
        if u.json.max_depth == 0 || u.json.max_depth > 120 {
            out.push(format!("{at}.json.max_depth: 1 to 120"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RouteConfig};

    fn with(u: RouteUpload) -> Config {
        let mut c = Config::default();
        c.routes.push(RouteConfig {
            prefix: "/files".into(),
            upstream: Some("http://127.0.0.1:9".into()),
            upload: Some(u),
            ..Default::default()
        });
        c
    }

    #[test]
    fn config_check_refuses_what_the_gate_cannot_apply() {
        let good = RouteUpload {
            types: vec!["png".into(), "csv".into()],
            ..Default::default()
        };
        assert!(problems(&with(good.clone())).is_empty());
        let bad = RouteUpload {
            types: vec!["exe".into()],
            max_file: ByteSize(1 << 30),
            max_file_by_tier: BTreeMap::from([("free".to_string(), ByteSize(0))]),
            max_parts: 0,
            archive: ArchiveLimits {
                max_depth: 0,
                ..Default::default()
            },
            json: JsonLimits { max_depth: 500 },
            ..good
        };
        let p = problems(&with(bad)).join("\n");
        for needle in [
            "unknown type \"exe\"",
            "max_file: 1073741824 bytes is over the route's body limit",
            "max_file_by_tier.free: at least 1 byte",
            "max_parts: 1 to 10000",
            "archive.max_depth: 1 to 8",
            "json.max_depth: 1 to 120",
        ] {
            assert!(p.contains(needle), "{needle} in {p}");
        }
        let empty = RouteUpload::default();
        assert!(
            problems(&with(empty))
                .join("")
                .contains("list at least one type")
        );
        // Unknown keys are refused when the file is read.
        let toml = "types = [\"png\"]\nmax_files = \"1MB\"\n";
        assert!(toml::from_str::<RouteUpload>(toml).is_err());
        let toml = "types = [\"png\"]\nmax_file = \"1MB\"\narchive = { max_ratio = 50 }\n";
        let u: RouteUpload = toml::from_str(toml).unwrap();
        assert_eq!((u.max_file.0, u.archive.max_ratio), (1_000_000, 50));
    }

    #[test]
    fn the_example_file_documents_keys_that_parse() {
        #[derive(Deserialize)]
        struct Route {
            upload: RouteUpload,
        }
        let example = include_str!("../../../cli/src/palisade.example.toml");
        let at = example.find("# upload = {").expect("upload documented");
        let line: Vec<&str> = example[at..]
            .lines()
            .take(4)
            .map(|l| l.trim_start_matches('#').trim())
            .collect();
        let r: Route = toml::from_str(&line.join(" ")).unwrap();
        assert_eq!(r.upload.max_file_by_tier["pro"], ByteSize(50_000_000));
        // pro's 50 MB is over the default 8 MiB body limit until the route raises max_body.
        let mut c = with(r.upload);
        assert!(problems(&c).join("").contains("max_file_by_tier.pro"));
        c.routes[0].max_body = Some(ByteSize(64 << 20));
        assert!(problems(&c).is_empty(), "{:?}", problems(&c));
    }
}
