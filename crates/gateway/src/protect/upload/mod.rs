//! The rules of the `upload` gate: what a file must be to pass a route's `upload = {…}`.
//!
//! A file's type is decided by its content ([`sniff`]: magic bytes through `infer`, the ZIP
//! central directory for XLSX/DOCX, `PAR1` for Parquet, UTF-8 text for CSV/JSON), never by the
//! name or content type the client gave; a name or content type that claims another known type
//! is refused (`type-mismatch`). Then its size against the caller's cap (by tier), then its
//! structure ([`structure`] for CSV, JSON and Parquet, [`archive`] for ZIP, XLSX and DOCX:
//! bounded reading of the central directory and bounded inflation, nothing written to disk).
//! Multipart bodies are split by two parsers ([`multipart`]: a strict splitter of our own and
//! `multer`); where they disagree the body is refused.
//!
//! Guarantees: every check is bounded by the route's limits in time and memory (linear in the
//! body, inflation capped by the declared sizes and `archive.max_total`); a refusal names a
//! stable `reason`, a size, a row or part number, never the file's content.

pub mod archive;
pub mod multipart;
pub mod sniff;
pub mod structure;

use crate::config::upload::RouteUpload;
use http::StatusCode;
use sniff::Kind;

/// A route's upload rules, ready to apply.
#[derive(Debug, Clone)]
pub struct UploadPolicy {
    /// The route's configuration.
    pub config: RouteUpload,
    allowed: Vec<Kind>,
}

/// Why a body was refused: the `reason` of the `upload-refused` problem and event.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Stable reason slug (`type-not-allowed`, `too-large`, `csv-ragged-row`, …).
    pub reason: &'static str,
    /// 413 for sizes, 415 for types, 422 for structure.
    pub status: StatusCode,
    /// For a person: what is wrong and what to do; never the content.
    pub detail: String,
    /// Extra members of the problem and event (`row`, `part`, `limit`, …).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Refusal {
    /// A refusal with `reason`, `status` and `detail`.
    pub fn new(reason: &'static str, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            reason,
            status,
            detail: detail.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// 422 with `reason`.
    pub fn invalid(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(reason, StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 413 `too-large`: `size` over `limit` (bytes).
    pub fn too_large(what: &str, size: u64, limit: u64) -> Self {
        Self::new(
            "too-large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The {what} is larger than this route accepts ({limit} bytes)."),
        )
        .with("size", size)
        .with("limit", limit)
    }

    /// Adds a member.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// One file of a request: the raw body, or a file part of a multipart body.
#[derive(Debug, Clone, Copy)]
pub struct FileIn<'a> {
    /// Its bytes.
    pub bytes: &'a [u8],
    /// The file name the client gave, if any.
    pub file_name: Option<&'a str>,
    /// The content type the client gave, if any.
    pub content_type: Option<&'a str>,
}

impl UploadPolicy {
    /// The policy of `config` (names already checked by `config check`; unknown ones admit
    /// nothing).
    pub fn new(config: &RouteUpload) -> Self {
        Self {
            allowed: config.types.iter().filter_map(|t| Kind::named(t)).collect(),
            config: config.clone(),
        }
    }

    /// The largest file for a caller of `tier`.
    pub fn max_file(&self, tier: Option<&str>) -> u64 {
        tier.and_then(|t| self.config.max_file_by_tier.get(t))
            .unwrap_or(&self.config.max_file)
            .0
    }

    /// Checks one file against a cap of `max_file` bytes; `Ok` is the type it was found to be.
    pub fn check_file(&self, file: &FileIn<'_>, max_file: u64) -> Result<Kind, Refusal> {
        let size = file.bytes.len() as u64;
        if size > max_file {
            return Err(Refusal::too_large("file", size, max_file));
        }
        if file.bytes.is_empty() {
            return Err(Refusal::invalid("empty-file", "The file is empty."));
        }
        let found = sniff::sniff(file.bytes);
        let kind = match found {
            Kind::Zip => archive::office_kind(file.bytes).unwrap_or(Kind::Zip),
            k => k,
        };
        let with_types = |r: Refusal| r.with("file_type", kind.name()).with("size", size);
        if !self.allowed.contains(&kind) {
            return Err(with_types(Refusal::new(
                "type-not-allowed",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Files of this type are not accepted here (accepted: {}).",
                    self.config.types.join(", ")
                ),
            )));
        }
        for claim in [
            file.file_name.and_then(sniff::claimed_by_name),
            file.content_type.and_then(sniff::claimed_by_media_type),
        ]
        .into_iter()
        .flatten()
        {
            if !claim.admits(kind) {
                return Err(with_types(Refusal::new(
                    "type-mismatch",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "The file's name or content type says one type and its content is another.",
                ))
                .with("declared_type", claim.name()));
            }
        }
        match kind {
            Kind::Csv => structure::csv(file.bytes, &self.config.csv),
            Kind::Json => structure::json(file.bytes, &self.config.json),
            Kind::Parquet => structure::parquet(file.bytes),
            Kind::Zip | Kind::Xlsx | Kind::Docx => archive::check(file.bytes, &self.config.archive),
            _ => Ok(()),
        }
        .map_err(with_types)?;
        Ok(kind)
    }
}
