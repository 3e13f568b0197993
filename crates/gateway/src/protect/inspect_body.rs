//! The values of a request body for inspection: JSON (strings and keys, `\u` escapes decoded by
//! the parser; a duplicate key, nesting past the depth bound or more values than the element
//! bound refuse), `application/x-www-form-urlencoded` (decoded), `multipart/form-data` (text
//! fields and text files), and any other text body as one value. A `charset` other than UTF-8
//! refuses before any parsing. The body is already decoded (`protect::decompress`, called by
//! `InspectPolicy::inspect`). The same strict JSON reading serves schema validation
//! ([`strict_json`], [`media_type`]).

use super::inspect::InspectPolicy;
use palisade_core::inspect::decode::url_decode;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;

/// Why a body cannot be inspected (and so is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Compressed (`Content-Encoding`).
    Compressed,
    /// A charset other than UTF-8, or bytes that are not UTF-8.
    Charset,
    /// A JSON object with the same key twice.
    DuplicateKey,
    /// Nested deeper than the bound.
    TooDeep,
    /// More values than the bound.
    TooMany,
    /// Not parseable as its content type says.
    Malformed,
    /// Compressed, and inflating past `max_decompressed` or `max_ratio`.
    DecompressedTooLarge,
}

impl BodyRefusal {
    /// The problem slug (the `reason` of the refusal and its audit record).
    pub fn reason(self) -> &'static str {
        match self {
            BodyRefusal::Compressed => "compressed-body",
            BodyRefusal::Charset => "charset-not-utf8",
            BodyRefusal::DuplicateKey => "duplicate-json-key",
            BodyRefusal::TooDeep => "body-too-deep",
            BodyRefusal::TooMany => "body-too-many-values",
            BodyRefusal::Malformed => "malformed-body",
            BodyRefusal::DecompressedTooLarge => "decompressed-too-large",
        }
    }

    /// The answer's status: 415 for an encoding or charset not taken, 413 past the
    /// decompression bounds, else 400.
    pub fn status(self) -> http::StatusCode {
        match self {
            BodyRefusal::Compressed | BodyRefusal::Charset => {
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            BodyRefusal::DecompressedTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }

    /// What went wrong, for a person.
    pub fn detail(self) -> &'static str {
        match self {
            BodyRefusal::Compressed => {
                "Compressed request bodies (or this Content-Encoding) are not accepted on this route."
            }
            BodyRefusal::Charset => "Only UTF-8 request bodies are accepted on this route.",
            BodyRefusal::DuplicateKey => "The JSON body has an object with the same key twice.",
            BodyRefusal::TooDeep => "The JSON body is nested too deeply.",
            BodyRefusal::TooMany => "The request body has too many values.",
            BodyRefusal::Malformed => "The request body cannot be read as its content type says.",
            BodyRefusal::DecompressedTooLarge => {
                "The compressed request body inflates past this route's limits (size or ratio)."
            }
        }
    }
}

/// Receives each value read from a request as it is read: the part of the request it was found in
/// (`query`, `json`, …), the parameter's name, and the value. Nothing is collected: a value is
/// judged while the body is walked, and copied only if a detector finds something in it.
pub type Sink<'s> = dyn FnMut(&'static str, &str, &str) + 's;

/// Gives the inspectable values of `body` to `out`.
pub fn body_values(
    parts: &http::request::Parts,
    body: &[u8],
    policy: &InspectPolicy,
    out: &mut Sink<'_>,
) -> Result<(), BodyRefusal> {
    let ctype = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut params = ctype.split(';').map(str::trim);
    let mime = params.next().unwrap_or("");
    let mut boundary = None;
    for p in params {
        if let Some(cs) = p.strip_prefix("charset=") {
            let cs = cs.trim_matches('"');
            if cs != "utf-8" && cs != "utf8" {
                return Err(BodyRefusal::Charset);
            }
        }
        if let Some(b) = p.strip_prefix("boundary=") {
            boundary = Some(b.trim_matches('"').to_owned());
        }
    }
    if mime == "multipart/form-data" {
        // The boundary keeps its case: read it again from the raw header.
        let raw = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let b = raw
            .split(';')
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("boundary=")
                    .or_else(|| p.trim().strip_prefix("BOUNDARY="))
            })
            .next()
            .map(|b| b.trim_matches('"').to_owned())
            .or(boundary)
            .ok_or(BodyRefusal::Malformed)?;
        return multipart(body, &b, policy, out);
    }
    let text = std::str::from_utf8(body).map_err(|_| BodyRefusal::Charset)?;
    if mime == "application/json" || mime.ends_with("+json") {
        json(text, policy.max_depth, policy.max_elements, out)
    } else if mime == "application/x-www-form-urlencoded" {
        for (n, pair) in text.split('&').filter(|p| !p.is_empty()).enumerate() {
            if 2 * (n + 1) > policy.max_elements {
                return Err(BodyRefusal::TooMany);
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = url_decode(k, true);
            out("form", &name, &name);
            out("form", &name, &url_decode(v, true));
        }
        Ok(())
    } else {
        out("body", "", text);
        Ok(())
    }
}

fn multipart(
    body: &[u8],
    boundary: &str,
    policy: &InspectPolicy,
    out: &mut Sink<'_>,
) -> Result<(), BodyRefusal> {
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut parts = text.split(delim.as_str());
    parts.next(); // the preamble
    for (n, part) in parts.enumerate() {
        if part.starts_with("--") {
            return Ok(());
        }
        if n >= policy.max_elements {
            return Err(BodyRefusal::TooMany);
        }
        let part = part.strip_prefix("\r\n").ok_or(BodyRefusal::Malformed)?;
        let (head, value) = part.split_once("\r\n\r\n").ok_or(BodyRefusal::Malformed)?;
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let head_l = head.to_ascii_lowercase();
        let name = head
            .split(['\r', '\n'])
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .and_then(|l| l.split(';').find_map(|p| p.trim().strip_prefix("name=")))
            .map(|n| n.trim_matches('"'))
            .unwrap_or_default();
        let text_part = !head_l.contains("content-type:")
            || head_l.contains("content-type: text/")
            || head_l.contains("json");
        if text_part {
            if head_l.contains("charset=")
                && !head_l.contains("charset=utf-8")
                && !head_l.contains("charset=\"utf-8\"")
            {
                return Err(BodyRefusal::Charset);
            }
            out("multipart", name, value);
        }
    }
    Err(BodyRefusal::Malformed)
}

struct Ctx<'a, 's> {
    out: &'a mut Sink<'s>,
    max_depth: usize,
    max_elements: usize,
    count: usize,
    refusal: Option<BodyRefusal>,
}

/// The media type of a request (lowercase, without parameters; empty when it names none), or
/// [`BodyRefusal::Charset`] when its `charset` is not UTF-8.
pub fn media_type(headers: &http::HeaderMap) -> Result<String, BodyRefusal> {
    let ctype = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .unwrap_or_default();
    let mut params = ctype.split(';').map(str::trim);
    let mime = params.next().unwrap_or("").to_owned();
    for p in params {
        if let Some(cs) = p.strip_prefix("charset=")
            && !matches!(cs.trim_matches('"'), "utf-8" | "utf8")
        {
            return Err(BodyRefusal::Charset);
        }
    }
    Ok(mime)
}

/// Reads `text` as one JSON document as the inspector does, without looking at its values: a
/// duplicate key, nesting past `max_depth`, more than `max_elements` values or trailing bytes
/// refuse.
pub fn strict_json(text: &str, max_depth: usize, max_elements: usize) -> Result<(), BodyRefusal> {
    json(text, max_depth, max_elements, &mut |_, _, _| {})
}

fn json(
    text: &str,
    max_depth: usize,
    max_elements: usize,
    out: &mut Sink<'_>,
) -> Result<(), BodyRefusal> {
    let ctx = RefCell::new(Ctx {
        out,
        max_depth,
        max_elements,
        count: 0,
        refusal: None,
    });
    let mut de = serde_json::Deserializer::from_str(text);
    let res = Node {
        ctx: &ctx,
        depth: 0,
        key: "",
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    let refusal = ctx.borrow().refusal;
    match (res, refusal) {
        (_, Some(r)) => Err(r),
        (Err(_), None) => Err(BodyRefusal::Malformed),
        (Ok(()), None) => Ok(()),
    }
}

struct Node<'c, 'a, 's> {
    ctx: &'c RefCell<Ctx<'a, 's>>,
    depth: usize,
    key: &'c str,
}

impl Node<'_, '_, '_> {
    fn fail<E: serde::de::Error>(&self, r: BodyRefusal) -> E {
        self.ctx.borrow_mut().refusal = Some(r);
        E::custom(r.reason())
    }

    fn count<E: serde::de::Error>(&self) -> Result<(), E> {
        let mut c = self.ctx.borrow_mut();
        c.count += 1;
        if c.count > c.max_elements {
            drop(c);
            return Err(self.fail(BodyRefusal::TooMany));
        }
        Ok(())
    }

    fn push<E: serde::de::Error>(&self, v: &str) -> Result<(), E> {
        self.count()?;
        (self.ctx.borrow_mut().out)("json", self.key, v);
        Ok(())
    }

    fn deeper<E: serde::de::Error>(&self) -> Result<usize, E> {
        let d = self.depth + 1;
        if d > self.ctx.borrow().max_depth {
            return Err(self.fail(BodyRefusal::TooDeep));
        }
        Ok(d)
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.push(v)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.count()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.count()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.count()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.count()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.count()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.deeper()?;
        self.count()?;
        while seq
            .next_element_seed(Node {
                ctx: self.ctx,
                depth,
                key: self.key,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = self.deeper()?;
        self.count()?;
        let mut seen = Keys::default();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            if seen.contains(&k) {
                return Err(self.fail(BodyRefusal::DuplicateKey));
            }
            Node {
                ctx: self.ctx,
                depth,
                key: &k,
            }
            .push::<A::Error>(&k)?;
            map.next_value_seed(Node {
                ctx: self.ctx,
                depth,
                key: &k,
            })?;
            seen.insert(k);
        }
        Ok(())
    }
}

/// How many keys of an object [`Keys`] keeps inline.
const FEW_KEYS: usize = 8;

/// The keys of one JSON object so far: the first [`FEW_KEYS`] in an array on the stack, searched
/// in order (most objects have a few keys; no allocation), the rest in a hash set (so a large
/// object costs linear time, not quadratic).
#[derive(Default)]
struct Keys<'de> {
    few: [Cow<'de, str>; FEW_KEYS],
    len: usize,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Keys<'de> {
    fn contains(&self, k: &str) -> bool {
        self.few[..self.len].iter().any(|s| s == k) || self.many.contains(k)
    }

    fn insert(&mut self, k: Cow<'de, str>) {
        if self.len < FEW_KEYS {
            self.few[self.len] = k;
            self.len += 1;
        } else {
            self.many.insert(k);
        }
    }
}

/// Reads an object key without copying it unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}
