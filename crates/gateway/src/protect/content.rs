//! A route's content rules (issue 19 item 3): the media types its request bodies may have
//! (`content_types`) and the JSON Schema they must satisfy (`schema`), compiled once when the
//! route table is built; the inspect gate applies them (`layers::inspect`).
//!
//! Guarantees: a schema is a self-contained local file: `jsonschema` is built without remote
//! or file `$ref` resolution and given a retriever that refuses every URI, so a `$ref` to
//! anything outside the document fails when the schema is compiled (`config check` reports
//! it), never at request time and never over the network. `pattern` runs on the linear-time
//! `regex` engine (no backtracking; a pattern only a backtracking engine takes is refused at
//! compile time). A body is validated as sent, decoded first within the route's bounds
//! (`protect::decompress`), read by the inspector's strict JSON reader (duplicate keys, depth
//! and element bounds: `inspect_body::strict_json`); a non-UTF-8 charset is refused. A
//! [`SchemaError`] names the field by JSON pointer and the keyword it failed, never a value.

use super::decompress::Decompression;
use super::inspect_body::{BodyRefusal, media_type, strict_json};
use crate::config::{Config, RouteConfig};
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

/// Most schema errors one refusal names.
pub const MAX_ERRORS: usize = 10;

/// Longest JSON pointer named in a refusal; a longer one is cut to its nearest enclosing field.
const MAX_POINTER: usize = 256;

/// A route's compiled content rules.
pub struct ContentPolicy {
    /// Allowed media types, lowercase; empty: any (JSON only with a schema).
    types: Vec<String>,
    schema: Option<jsonschema::Validator>,
    /// How compressed bodies are decoded for validation.
    pub decompression: Decompression,
    max_depth: usize,
    max_elements: usize,
}

impl std::fmt::Debug for ContentPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentPolicy")
            .field("types", &self.types)
            .field("schema", &self.schema.is_some())
            .finish_non_exhaustive()
    }
}

/// One way a body failed the schema: where (a JSON pointer into the body; `""` is the whole
/// document) and which keyword (`type`, `required`, `additionalProperties`, `maximum`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaError {
    /// The field, as a JSON pointer (RFC 6901).
    pub pointer: String,
    /// The schema keyword it failed.
    pub keyword: String,
}

/// Why a request's body is refused by its route's content rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentRefusal {
    /// Its media type is not in the route's list (415).
    MediaType,
    /// It cannot be read within the bounds or is not JSON (400, 413 or 415).
    Body(BodyRefusal),
    /// A `POST`, `PUT` or `PATCH` without a body on a route with a schema (400).
    BodyRequired,
    /// Over the route's body limit (413).
    TooLarge,
    /// The body stopped arriving, or its framing broke (400).
    Unreadable,
    /// It does not satisfy the schema (422).
    Mismatch(Vec<SchemaError>),
}

impl ContentRefusal {
    /// The problem slug, also the `reason` on record.
    pub fn reason(&self) -> &'static str {
        match self {
            ContentRefusal::MediaType => "unsupported-media-type",
            ContentRefusal::Body(r) => r.reason(),
            ContentRefusal::BodyRequired => "body-required",
            ContentRefusal::TooLarge => "body-too-large",
            ContentRefusal::Unreadable => "bad-request-body",
            ContentRefusal::Mismatch(_) => "schema-mismatch",
        }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        match self {
            ContentRefusal::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ContentRefusal::Body(r) => r.status(),
            ContentRefusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ContentRefusal::BodyRequired | ContentRefusal::Unreadable => StatusCode::BAD_REQUEST,
            ContentRefusal::Mismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// What went wrong, for a person (never a value from the body).
    pub fn detail(&self) -> String {
        match self {
            ContentRefusal::MediaType => {
                "This route does not accept request bodies of this media type.".into()
            }
            ContentRefusal::Body(r) => r.detail().into(),
            ContentRefusal::BodyRequired => "This route takes a JSON request body.".into(),
            ContentRefusal::TooLarge => {
                "The request body is larger than this route accepts.".into()
            }
            ContentRefusal::Unreadable => "The request body was cut off or malformed.".into(),
            ContentRefusal::Mismatch(errors) => format!(
                "The JSON body does not match this route's schema: {}.",
                errors
                    .iter()
                    .map(|e| format!("{} ({})", display_pointer(&e.pointer), e.keyword))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn display_pointer(p: &str) -> &str {
    if p.is_empty() { "the document" } else { p }
}

/// Refuses every `$ref` outside the schema document.
struct NoRemote;

impl jsonschema::Retrieve for NoRemote {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!(
            "{} is not fetched: a schema must be self-contained (no remote or file $ref)",
            uri.as_str()
        )
        .into())
    }
}

/// Compiles a JSON Schema document as routes do: no retrieval, linear-time `pattern`.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_retriever(NoRemote)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(schema)
        .map_err(|e| e.to_string())
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn valid_media_type(t: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    t.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}

impl ContentPolicy {
    /// The content rules of route `rc` (`None` without `schema` and `content_types`); the
    /// schema file is read and compiled here. The error names the route and what is wrong.
    pub fn new(rc: &RouteConfig, config: &Config) -> Result<Option<Self>, String> {
        if rc.schema.is_none() && rc.content_types.is_empty() {
            return Ok(None);
        }
        let name = rc.display_name();
        let mut types = Vec::new();
        for t in &rc.content_types {
            let t = t.trim().to_ascii_lowercase();
            if !valid_media_type(&t) {
                return Err(format!(
                    "route {name}: content_types: {t:?} is not a media type like \"application/json\" (no parameters)"
                ));
            }
            if rc.schema.is_some() && !is_json(&t) {
                return Err(format!(
                    "route {name}: content_types: {t:?} is not JSON, and the route's schema validates JSON bodies"
                ));
            }
            types.push(t);
        }
        let schema = match &rc.schema {
            None => None,
            Some(path) => {
                let at = |e: String| format!("route {name}: schema {}: {e}", path.display());
                let text = std::fs::read(path).map_err(|e| at(e.to_string()))?;
                let doc: Value =
                    serde_json::from_slice(&text).map_err(|e| at(format!("not JSON: {e}")))?;
                Some(compile(&doc).map_err(at)?)
            }
        };
        Ok(Some(Self {
            types,
            schema,
            decompression: Decompression::new(&config.inspect, rc.inspect.as_ref()),
            max_depth: config.inspect.max_depth,
            max_elements: config.inspect.max_elements,
        }))
    }

    /// This route validates bodies against a schema (and so reads them whole).
    pub fn has_schema(&self) -> bool {
        self.schema.is_some()
    }

    /// Whether a body of the media type `headers` name may pass (compared without
    /// parameters, any case; a body naming none does not pass a list).
    pub fn admits(&self, headers: &http::HeaderMap) -> bool {
        if self.types.is_empty() && self.schema.is_none() {
            return true;
        }
        let raw = headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
            .unwrap_or_default();
        let mime = raw.split(';').next().unwrap_or("").trim();
        if self.types.is_empty() {
            is_json(mime)
        } else {
            self.types.iter().any(|t| t == mime)
        }
    }

    /// Validates `body` (as received: decoded here) against the schema, if the route has one.
    pub fn validate(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), ContentRefusal> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        media_type(headers).map_err(ContentRefusal::Body)?;
        let body = self
            .decompression
            .decode(headers, body)
            .map_err(ContentRefusal::Body)?;
        let text =
            std::str::from_utf8(&body).map_err(|_| ContentRefusal::Body(BodyRefusal::Charset))?;
        strict_json(text, self.max_depth, self.max_elements).map_err(ContentRefusal::Body)?;
        let value: Value =
            serde_json::from_str(text).map_err(|_| ContentRefusal::Body(BodyRefusal::Malformed))?;
        if schema.is_valid(&value) {
            return Ok(());
        }
        let mut errors: Vec<SchemaError> = Vec::new();
        for e in schema.iter_errors(&value) {
            for err in describe(&e) {
                if errors.len() < MAX_ERRORS && !errors.contains(&err) {
                    errors.push(err);
                }
            }
        }
        Err(ContentRefusal::Mismatch(errors))
    }
}

/// The fields one validation error is about: the missing property of `required`, each
/// unexpected one of `additionalProperties`, else where the failing value is.
fn describe(e: &jsonschema::ValidationError<'_>) -> Vec<SchemaError> {
    use jsonschema::error::ValidationErrorKind as K;
    let at = e.instance_path().as_str();
    let keyword = e.kind().keyword().to_owned();
    let one = |pointer: String| SchemaError {
        pointer: capped(pointer),
        keyword: keyword.clone(),
    };
    match e.kind() {
        K::Required { property } => vec![one(child(at, property.as_str().unwrap_or("")))],
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            unexpected.iter().map(|k| one(child(at, k))).collect()
        }
        _ => vec![one(at.to_owned())],
    }
}

/// `parent` + `/` + `key` escaped as RFC 6901 says.
fn child(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// `p`, or when longer than [`MAX_POINTER`] the longest enclosing pointer that fits.
fn capped(p: String) -> String {
    if p.len() <= MAX_POINTER {
        return p;
    }
    let cut = p.as_bytes()[..=MAX_POINTER]
        .iter()
        .rposition(|&b| b == b'/')
        .unwrap_or(0);
    p[..cut].to_owned()
}

/// What is wrong with the routes' content rules (`config check` and start): a schema file that
/// cannot be read, is not JSON, is not a valid schema or refers outside itself; a media type
/// that is not one.
pub fn problems(config: &Config) -> Vec<String> {
    config
        .routes
        .iter()
        .filter_map(|rc| ContentPolicy::new(rc, config).err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remote_and_file_refs_fail_at_compile_time() {
        for r in [
            "https://example.com/s.json",
            "http://127.0.0.1:1/s.json",
            "file:///etc/passwd",
        ] {
            let err = compile(&json!({"$ref": r})).unwrap_err();
            assert!(err.contains("not fetched") || err.contains(r), "{r}: {err}");
        }
        // A local $ref is fine.
        let v =
            compile(&json!({"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"})).unwrap();
        assert!(v.is_valid(&json!(3)) && !v.is_valid(&json!("3")));
    }

    #[test]
    fn pattern_is_linear_time() {
        // The classic catastrophic-backtracking shape over "aaaa…!": a backtracking engine
        // takes exponential time; the automaton answers in one pass.
        let v = compile(&json!({"type": "string", "pattern": "^(a+)+$"})).unwrap();
        let evil = format!("{}!", "a".repeat(100_000));
        assert!(!v.is_valid(&json!(evil)));
        assert!(v.is_valid(&json!("aaaa")));
        // The same shape behind a look-ahead or a backreference would force fancy-regex (the
        // crate's default engine) onto its backtracking VM: with the linear engine such a
        // pattern is refused when the schema is compiled, never run.
        for p in ["^(?=a)(a+)+$", "^(a+)+\\1$"] {
            let err = compile(&json!({"type": "string", "pattern": p})).unwrap_err();
            assert!(!err.is_empty(), "{p}");
        }
    }

    #[test]
    fn pointers_are_escaped_and_capped() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
        let long = format!("/a/{}", "x".repeat(300));
        assert_eq!(capped(long), "/a");
        assert_eq!(capped("/a/b".into()), "/a/b");
    }
}
