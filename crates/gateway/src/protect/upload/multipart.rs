//! `multipart/form-data` bodies, split twice: by a strict splitter of our own (no preamble or
//! epilogue, CRLF line ends only, no header folding, one `Content-Disposition` of `form-data`
//! with a `name`, no `filename*`/`name*` or backslash-escaped parameters, a closing delimiter)
//! and by `multer`. Both must find the same parts (names, file names, bytes); where they
//! disagree the body is refused, since the upstream's parser might read it either way.
//!
//! Guarantees: bounded by the body (already bounded by the gate), `max_parts` and
//! `max_part_headers`; a part's bytes are a range of the body, never copied by the splitter.

use super::Refusal;
use bytes::Bytes;
use http::StatusCode;
use std::ops::Range;

/// Bounds of a multipart body.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most parts.
    pub max_parts: usize,
    /// Largest header block of a part.
    pub max_part_headers: usize,
    /// Largest non-file field.
    pub max_field: u64,
    /// Largest file part.
    pub max_file: u64,
}

/// One part, as both parsers found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `name` parameter.
    pub name: String,
    /// The `filename` parameter, if any.
    pub file_name: Option<String>,
    /// The part's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Where its bytes are in the body.
    pub data: Range<usize>,
}

impl Part {
    /// A file part: it has a file name, or a content type other than `text/plain`.
    pub fn is_file(&self) -> bool {
        self.file_name.is_some()
            || self
                .content_type
                .as_deref()
                .is_some_and(|t| !t.to_ascii_lowercase().starts_with("text/plain"))
    }
}

fn malformed(why: &str) -> Refusal {
    Refusal::invalid(
        "multipart-malformed",
        format!("The multipart body is malformed: {why}."),
    )
}

/// The boundary of a `multipart/form-data` content type, checked against RFC 2046's
/// characters and length.
pub fn boundary(content_type: &str) -> Result<String, Refusal> {
    let b = multer::parse_boundary(content_type).map_err(|_| malformed("no boundary"))?;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    if b.is_empty() || b.len() > 70 || !b.chars().all(ok_char) || b.ends_with(' ') {
        return Err(malformed("the boundary is not a valid RFC 2046 boundary"));
    }
    Ok(b)
}

/// The parts of `body`, split by both parsers, bounded by `limits`.
pub async fn parts(
    body: &Bytes,
    content_type: &str,
    limits: &Limits,
) -> Result<Vec<Part>, Refusal> {
    let boundary = boundary(content_type)?;
    let strict = split(body, &boundary, limits)?;
    let other = with_multer(body, &boundary, limits).await?;
    let agree = strict.len() == other.len()
        && strict.iter().zip(&other).all(|(a, (name, file, data))| {
            Some(&a.name) == name.as_ref()
                && a.file_name == *file
                && body[a.data.clone()] == data[..]
        });
    if !agree {
        return Err(Refusal::invalid(
            "multipart-ambiguous",
            "The multipart body can be read more than one way; send it in the plain RFC 7578 form.",
        ));
    }
    for (i, p) in strict.iter().enumerate() {
        let size = p.data.len() as u64;
        if !p.is_file() && size > limits.max_field {
            let mut r = Refusal::too_large("form field", size, limits.max_field);
            r.reason = "field-too-large";
            return Err(r.with("part", i as u64 + 1));
        }
    }
    Ok(strict)
}

/// `multer`'s reading: (name, file name, bytes) per part.
async fn with_multer(
    body: &Bytes,
    boundary: &str,
    limits: &Limits,
) -> Result<Vec<(Option<String>, Option<String>, Bytes)>, Refusal> {
    let chunk = body.clone();
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(chunk) });
    let size = multer::SizeLimit::new()
        .whole_stream(body.len() as u64 + 1)
        .per_field(limits.max_file.max(limits.max_field));
    let mut mp = multer::Multipart::with_constraints(
        stream,
        boundary,
        multer::Constraints::new().size_limit(size),
    );
    let mut out = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(disagree()),
        };
        if out.len() >= limits.max_parts {
            return Err(disagree());
        }
        let name = field.name().map(str::to_owned);
        let file = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(|_| disagree())?;
        out.push((name, file, data));
    }
    Ok(out)
}

fn disagree() -> Refusal {
    Refusal::invalid(
        "multipart-ambiguous",
        "The multipart body can be read more than one way; send it in the plain RFC 7578 form.",
    )
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|i| i + from)
}

/// The strict splitter.
pub fn split(body: &[u8], boundary: &str, limits: &Limits) -> Result<Vec<Part>, Refusal> {
    let dash = format!("--{boundary}");
    let delim = format!("\r\n--{boundary}");
    if !body.starts_with(dash.as_bytes()) {
        return Err(malformed("it must open with its boundary (no preamble)"));
    }
    let mut pos = dash.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            if !matches!(&rest[2..], b"" | b"\r\n") {
                return Err(malformed("nothing may follow the closing boundary"));
            }
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(malformed("a boundary line must end with CRLF"));
        }
        pos += 2;
        if parts.len() >= limits.max_parts {
            return Err(Refusal::new(
                "too-many-parts",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The multipart body has more than {} parts.",
                    limits.max_parts
                ),
            )
            .with("limit", limits.max_parts as u64));
        }
        let window = body.len().min(pos + limits.max_part_headers + 4);
        let head_end = match find(&body[..window], b"\r\n\r\n", pos) {
            Some(i) => i,
            None if window < body.len() => {
                return Err(Refusal::too_large(
                    "part's header block",
                    (body.len() - pos) as u64,
                    limits.max_part_headers as u64,
                )
                .with("part", parts.len() as u64 + 1));
            }
            None => return Err(malformed("a part's headers never end")),
        };
        let mut part = headers(&body[pos..head_end])?;
        let start = head_end + 4;
        let end = find(body, delim.as_bytes(), start)
            .ok_or_else(|| malformed("the closing boundary is missing"))?;
        part.data = start..end;
        parts.push(part);
        pos = end + delim.len();
    }
}

/// A part's header block (without the blank line).
fn headers(block: &[u8]) -> Result<Part, Refusal> {
    let text = std::str::from_utf8(block).map_err(|_| malformed("a part header is not UTF-8"))?;
    let mut disposition = None;
    let mut content_type = None;
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            return Err(malformed("folded part headers are not accepted"));
        }
        if line.contains(['\r', '\n']) {
            return Err(malformed("part headers must end with CRLF"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("a part header has no colon"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(malformed("a part header name is not a token"));
        }
        let value = value.trim_matches([' ', '\t']);
        let slot = match name.to_ascii_lowercase().as_str() {
            "content-disposition" => &mut disposition,
            "content-type" => &mut content_type,
            "content-transfer-encoding" => {
                if !["binary", "8bit", "7bit"].contains(&value.to_ascii_lowercase().as_str()) {
                    return Err(malformed("encoded parts are not accepted"));
                }
                continue;
            }
            _ => continue,
        };
        if slot.replace(value.to_string()).is_some() {
            return Err(malformed("a part repeats a header"));
        }
    }
    let disposition = disposition.ok_or_else(|| malformed("a part has no Content-Disposition"))?;
    let (name, file_name) = disposition_params(&disposition)?;
    Ok(Part {
        name,
        file_name,
        content_type,
        data: 0..0,
    })
}

/// `form-data; name="…"; filename="…"`: the name and file name; anything parsers may read
/// differently (`filename*`, escapes, repeats, another disposition) is refused.
fn disposition_params(value: &str) -> Result<(String, Option<String>), Refusal> {
    let mut rest = value;
    let kind_end = rest.find(';').unwrap_or(rest.len());
    if !rest[..kind_end].trim().eq_ignore_ascii_case("form-data") {
        return Err(malformed("a part's disposition must be form-data"));
    }
    rest = &rest[kind_end..];
    let (mut name, mut file_name) = (None, None);
    while let Some(r) = rest.strip_prefix(';') {
        let r = r.trim_start_matches([' ', '\t']);
        let eq = r
            .find('=')
            .ok_or_else(|| malformed("a parameter has no value"))?;
        let key = r[..eq].trim().to_ascii_lowercase();
        let after = &r[eq + 1..];
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            let close = q.find('"').ok_or_else(|| malformed("an unclosed quote"))?;
            let val = &q[..close];
            if val.contains('\\') {
                return Err(malformed("escaped parameter values are not accepted"));
            }
            (val, q[close + 1..].trim_start_matches([' ', '\t']))
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        let slot = match key.as_str() {
            "name" => &mut name,
            "filename" => &mut file_name,
            _ => {
                return Err(malformed(
                    "unexpected disposition parameters (filename* and others)",
                ));
            }
        };
        if slot.replace(val.to_string()).is_some() {
            return Err(malformed("a disposition parameter is repeated"));
        }
        if !next.is_empty() && !next.starts_with(';') {
            return Err(malformed("text after a parameter value"));
        }
        rest = next;
    }
    if !rest.trim().is_empty() {
        return Err(malformed("text after the disposition"));
    }
    let name = name.ok_or_else(|| malformed("a part has no name"))?;
    Ok((name, file_name))
}
