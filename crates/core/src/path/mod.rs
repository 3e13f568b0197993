//! One canonical request path: the only spelling of a path that Palisade routes, authorizes,
//! audits and forwards.
//!
//! Upstream stacks read a path differently: ASGI servers percent-decode it, servlet containers
//! drop `;` parameters, nginx and Go resolve dot segments and merge slashes, some servers take
//! `\` for `/`. A gateway that authorizes one spelling and forwards another can be walked around
//! (`/api/%61dmin`, `/api//admin`, `/api/x/../admin`, `/api/admin;/x`). [`canonicalize`] turns a
//! path into the one form that all of them read as the same resource, or refuses it with the
//! [`Ambiguous`] rule it breaks when no such form exists. The result is a valid origin-form path
//! and is what the upstream receives.
//!
//! # Rules
//!
//! Input is the path component of the request target (no query). In the order applied:
//!
//! 1. It must start with `/` (`not-origin-form`; `*`, an empty path and absolute forms included).
//! 2. Every `%` is followed by two hex digits (`malformed-percent-encoding`; IIS `%u0061` too).
//! 3. Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (RFC 3986
//!    §6.2.2.2); every other escape stays encoded with upper-case hex (`%2b` → `%2B`).
//! 4. Raw control characters and space are refused (`control-character`); encoded ones
//!    (`%00`-`%1F`, `%7F`) too (`encoded-control-character`).
//! 5. A backslash, raw or `%5C`, is refused (`backslash`).
//! 6. Encoded bytes of 0x80 and above must form valid UTF-8 (`invalid-utf8`): no stray
//!    continuation bytes, no truncated sequences, no overlong forms (`%C0%AE`, `%E0%80%AE`), no
//!    surrogates, nothing above U+10FFFF, never `%C0`, `%C1`, `%F5`-`%FF`. Valid non-ASCII stays
//!    encoded exactly as it is (never NFKC-folded: `/api/%EF%BD%81dmin/` is not `/api/admin/`);
//!    raw non-ASCII characters are emitted percent-encoded (their UTF-8 bytes, upper-case hex).
//! 7. Double encoding that a second decoding would turn into a separator, a dot, an escape or a
//!    control character is refused (`double-encoding`): `%25` followed by two hex digits (after
//!    rule 3, so `%25%32%46` counts) whose byte is `/`, `\`, `.`, `%`, `;` or a control
//!    character. Any other `%25` is a literal percent and stays (`/50%25off`, `%2520`).
//! 8. An encoded slash `%2F` follows [`EncodedSlash`], which mirrors Envoy's
//!    `path_with_escaped_slashes_action`: `reject` (default) refuses it (`encoded-slash`,
//!    Envoy's `REJECT_REQUEST`); `decode` makes it a `/` before dot segments and slashes are
//!    resolved (`UNESCAPE_AND_MERGE`); `keep` leaves `%2F` as data inside its segment
//!    (`KEEP_UNCHANGED`: only for upstreams that never decode it; ASGI servers do, so behind
//!    `keep` `/api%2Fadmin` is authorized as one segment and read by them as `/api/admin`).
//! 9. A raw `;` (a path parameter to servlet containers) follows [`PathParams`]: `reject`
//!    (default) refuses it (`path-parameter`); `keep` leaves it as data, but a dot segment with a
//!    parameter (`..;x`, `.;`), which servlet containers resolve as `..`/`.`, is still refused
//!    (`dot-segment-parameter`). `%3B` is ordinary encoded data under both policies.
//! 10. Raw characters outside RFC 3986 `pchar` and `/` (`"` `#` `<` `>` `?` `[` `]` `^` `` ` ``
//!     `{` `|` `}`) are emitted percent-encoded.
//! 11. Dot segments (`.` and `..`, after rule 3, so `%2e%2E` is `..`) are removed as RFC 3986
//!     §5.2.4 does (`..` at the root stays at the root; a path ending in a dot segment keeps a
//!     trailing slash), then repeated slashes are merged. An empty segment counts as a segment for
//!     `..`, as in RFC 3986 and the WHATWG URL standard: `/a//../b` is `/a/b` (nginx and Go, which
//!     merge first, would read `/b`; the upstream only ever receives the canonical form, so the
//!     difference cannot be used to reach another resource). `a..b` and `...` are ordinary.
//!     A trailing slash is kept.
//!
//! ASCII case is never folded: `/API/admin` is a different path from `/api/admin`, and a route
//! whose upstream ignores case says so (see [`prefix_matches`]).
//!
//! # Guarantees
//!
//! The output starts with `/`, is idempotent (canonicalizing it again returns it unchanged and
//! borrowed), and under `reject` and `decode` never contains a `.` or `..` segment, `//`, `%2F`,
//! `%5C` or `\`. An already canonical path costs one scan and no allocation. [`Ambiguous`] names
//! the rule and never echoes the input, so it can go into a problem+json answer and a log.

use std::borrow::Cow;

#[doc(hidden)]
pub mod fuzz_props;
#[doc(hidden)]
pub mod spellings;
#[cfg(test)]
mod tests;

/// What to do with an encoded slash `%2F` (Envoy's `path_with_escaped_slashes_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodedSlash {
    /// Refuse the request (`encoded-slash`).
    #[default]
    Reject,
    /// Read `%2F` as `/` before resolving dot segments and merging slashes.
    Decode,
    /// Forward `%2F` as data inside its segment. Only for upstreams that never decode it
    /// (ASGI servers do: they would read `/api%2Fadmin` as `/api/admin`).
    Keep,
}

/// What to do with a raw `;` (a path parameter to servlet containers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathParams {
    /// Refuse the request (`path-parameter`).
    #[default]
    Reject,
    /// Forward `;` as data (dot segments with a parameter are still refused).
    Keep,
}

/// The policies a deployment chose for the spellings that have no safe default reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathPolicy {
    /// What `%2F` becomes: refused, decoded to `/`, or kept as data.
    pub encoded_slash: EncodedSlash,
    /// What a `;` path parameter becomes: refused or kept.
    pub path_params: PathParams,
}

/// Why a path cannot be made unambiguous. `rule` is a stable kebab-case name; Display explains
/// the rule in one sentence without echoing any of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous {
    /// The rule's stable kebab-case name (the problem's `rule` member, the audit reason).
    pub rule: &'static str,
}

const NOT_ORIGIN_FORM: &str = "not-origin-form";
const MALFORMED: &str = "malformed-percent-encoding";
const ENCODED_CONTROL: &str = "encoded-control-character";
const CONTROL: &str = "control-character";
const BACKSLASH: &str = "backslash";
const INVALID_UTF8: &str = "invalid-utf8";
const DOUBLE_ENCODING: &str = "double-encoding";
const ENCODED_SLASH: &str = "encoded-slash";
const PATH_PARAMETER: &str = "path-parameter";
const DOT_SEGMENT_PARAMETER: &str = "dot-segment-parameter";

/// Every rule name an [`Ambiguous`] can carry.
pub const RULES: &[&str] = &[
    NOT_ORIGIN_FORM,
    MALFORMED,
    ENCODED_CONTROL,
    CONTROL,
    BACKSLASH,
    INVALID_UTF8,
    DOUBLE_ENCODING,
    ENCODED_SLASH,
    PATH_PARAMETER,
    DOT_SEGMENT_PARAMETER,
];

impl Ambiguous {
    fn explanation(&self) -> &'static str {
        match self.rule {
            NOT_ORIGIN_FORM => "the request path does not start with '/'",
            MALFORMED => "a '%' in the path is not followed by two hexadecimal digits",
            ENCODED_CONTROL => {
                "the path contains a percent-encoded control character (%00-%1F or %7F)"
            }
            CONTROL => "the path contains a raw control character or space",
            BACKSLASH => {
                "the path contains a backslash, raw or as %5C, which some servers read as '/'"
            }
            INVALID_UTF8 => {
                "percent-encoded bytes in the path are not valid UTF-8 (or are an overlong form)"
            }
            DOUBLE_ENCODING => {
                "the path contains a double-encoded separator, dot, percent, semicolon or \
                 control character (%25 followed by its hex digits)"
            }
            ENCODED_SLASH => "the path contains an encoded slash (%2F), which this gateway refuses",
            PATH_PARAMETER => "the path contains a ';' path parameter, which this gateway refuses",
            DOT_SEGMENT_PARAMETER => {
                "the path contains a dot segment with a ';' parameter, which servlet containers \
                 resolve as a dot segment"
            }
            _ => "the path has no unambiguous canonical form",
        }
    }
}

impl std::fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ambiguous path ({}): {}", self.rule, self.explanation())
    }
}

impl std::error::Error for Ambiguous {}

fn refuse<T>(rule: &'static str) -> Result<T, Ambiguous> {
    Err(Ambiguous { rule })
}

/// The canonical form of a request path (path component only, no query). Borrowed when the input
/// is already canonical. The rules are in the module documentation.
pub fn canonicalize<'a>(path: &'a str, policy: &PathPolicy) -> Result<Cow<'a, str>, Ambiguous> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return refuse(NOT_ORIGIN_FORM);
    }
    if is_canonical(b, policy) {
        return Ok(Cow::Borrowed(path));
    }
    canonicalize_slow(path, policy).map(Cow::Owned)
}

/// Route prefix matching at segment boundaries: prefix `/api/admin/` matches `/api/admin`,
/// `/api/admin/` and `/api/admin/x`; prefix `/api/admin` matches `/api/admin` and `/api/admin/x`
/// but not `/api/administrators`; `/` matches every path. `case_insensitive` compares ASCII
/// case-insensitively. Both sides are expected in canonical form.
pub fn prefix_matches(prefix: &str, path: &str, case_insensitive: bool) -> bool {
    let p = prefix.as_bytes();
    let p = p.strip_suffix(b"/").unwrap_or(p);
    let q = path.as_bytes();
    if q.len() < p.len() {
        return false;
    }
    let (head, rest) = q.split_at(p.len());
    let same = if case_insensitive {
        head.eq_ignore_ascii_case(p)
    } else {
        head == p
    };
    same && (rest.is_empty() || rest[0] == b'/')
}

// ---------------------------------------------------------------------------------------------
// Byte classes.

/// A raw byte that a canonical path carries as is: unreserved, sub-delims but `;`, `:`, `@`.
const RAW_PCHAR: u8 = 0;
const RAW_SLASH: u8 = 1;
const RAW_PERCENT: u8 = 2;
const RAW_SEMICOLON: u8 = 3;
/// Control characters and space.
const RAW_CONTROL: u8 = 4;
const RAW_BACKSLASH: u8 = 5;
/// Printable ASCII outside `pchar` and `/`: emitted percent-encoded.
const RAW_ENCODE: u8 = 6;
/// Bytes of a non-ASCII character: emitted percent-encoded.
const RAW_NON_ASCII: u8 = 7;

const fn raw_class(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => RAW_PCHAR,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' => {
            RAW_PCHAR
        }
        b'/' => RAW_SLASH,
        b'%' => RAW_PERCENT,
        b';' => RAW_SEMICOLON,
        0..=0x20 | 0x7f => RAW_CONTROL,
        b'\\' => RAW_BACKSLASH,
        0x80..=0xff => RAW_NON_ASCII,
        _ => RAW_ENCODE,
    }
}

static RAW: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = raw_class(i as u8);
        i += 1;
    }
    t
};

fn is_unreserved(v: u8) -> bool {
    v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_upper_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'A'..=b'F').contains(&c)
}

/// The byte of the escape at `b[i]` (a `%`), and whether both digits were canonical
/// (upper case); `None` when it is not `%` and two hex digits.
fn escape_at(b: &[u8], i: usize) -> Option<(u8, bool)> {
    let (h, l) = (*b.get(i + 1)?, *b.get(i + 2)?);
    let v = hex_val(h)? << 4 | hex_val(l)?;
    Some((v, is_upper_hex(h) && is_upper_hex(l)))
}

/// Bytes that `%25` followed by their two hex digits would become on a second decoding, and
/// that make that second decoding change the path's structure.
fn double_decodes_dangerously(v: u8) -> bool {
    matches!(v, b'/' | b'\\' | b'.' | b'%' | b';') || v < 0x20 || v == 0x7f
}

/// The length of the UTF-8 sequence a lead byte starts; 0 when it starts none (continuation
/// bytes, the overlong leads 0xC0/0xC1, 0xF5 and above).
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

/// The percent-encoded UTF-8 sequence starting at `b[i]` (whose lead byte is `lead`): its
/// bytes, its length in bytes, and whether every escape was upper case.
fn encoded_utf8_at(b: &[u8], i: usize, lead: u8) -> Result<([u8; 4], usize, bool), Ambiguous> {
    let width = utf8_width(lead);
    if width == 0 {
        return refuse(INVALID_UTF8);
    }
    let mut bytes = [lead, 0, 0, 0];
    let mut upper = true;
    for (k, slot) in bytes.iter_mut().enumerate().take(width).skip(1) {
        let j = i + 3 * k;
        if b.get(j) != Some(&b'%') {
            return refuse(INVALID_UTF8);
        }
        let Some((v, up)) = escape_at(b, j) else {
            return refuse(MALFORMED);
        };
        *slot = v;
        upper &= up;
    }
    if std::str::from_utf8(&bytes[..width]).is_err() {
        return refuse(INVALID_UTF8);
    }
    Ok((bytes, width, upper))
}

// ---------------------------------------------------------------------------------------------
// Fast path: is the path already canonical? One scan, no allocation.

fn is_canonical(b: &[u8], policy: &PathPolicy) -> bool {
    let keep_params = policy.path_params == PathParams::Keep;
    let keep_slash = policy.encoded_slash == EncodedSlash::Keep;
    let mut seg_start = 1;
    let mut i = 1;
    loop {
        // The common case: a run of bytes a canonical path carries as they are.
        while let Some(&c) = b.get(i) {
            if RAW[c as usize] != RAW_PCHAR {
                break;
            }
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            // The last segment may be empty (a trailing slash), never a dot segment.
            return seg_start == i || segment_is_canonical(&b[seg_start..i]);
        };
        match c {
            b'/' => {
                if !segment_is_canonical(&b[seg_start..i]) {
                    return false;
                }
                i += 1;
                seg_start = i;
            }
            b';' if keep_params => i += 1,
            b'%' => {
                let Some((v, true)) = escape_at(b, i) else {
                    return false;
                };
                if v >= 0x80 {
                    match encoded_utf8_at(b, i, v) {
                        Ok((_, width, true)) => i += 3 * width,
                        _ => return false,
                    }
                    continue;
                }
                let stays_encoded = match RAW[v as usize] {
                    // Unreserved: decoded. Sub-delims, `:`, `@`: stay encoded.
                    RAW_PCHAR => !is_unreserved(v),
                    RAW_SLASH => keep_slash,
                    RAW_PERCENT => !double_encoding_at(b, i + 3),
                    RAW_SEMICOLON | RAW_ENCODE => true,
                    RAW_CONTROL => v == b' ',
                    _ => false,
                };
                if !stays_encoded {
                    return false;
                }
                i += 3;
            }
            _ => return false,
        }
    }
}

/// A non-final segment of a canonical path: not empty, not a dot segment, not a dot segment
/// with a parameter.
fn segment_is_canonical(seg: &[u8]) -> bool {
    match seg {
        [c, ..] if *c != b'.' => true,
        [] | [b'.'] | [b'.', b'.'] => false,
        [b'.', b';', ..] | [b'.', b'.', b';', ..] => false,
        _ => true,
    }
}

/// Whether the two characters at `b[j..]`, read after rule 3 (an encoded hex digit is a hex
/// digit), are hex digits of a byte that a second decoding must not produce.
fn double_encoding_at(b: &[u8], j: usize) -> bool {
    let Some((h, j)) = decoded_hex_digit(b, j) else {
        return false;
    };
    let Some((l, _)) = decoded_hex_digit(b, j) else {
        return false;
    };
    double_decodes_dangerously(h << 4 | l)
}

/// The hex digit at `b[j]`, raw or percent-encoded, and the index after it.
fn decoded_hex_digit(b: &[u8], j: usize) -> Option<(u8, usize)> {
    match *b.get(j)? {
        b'%' => {
            let (v, _) = escape_at(b, j)?;
            Some((hex_val(v)?, j + 3))
        }
        c => Some((hex_val(c)?, j + 1)),
    }
}

// ---------------------------------------------------------------------------------------------
// Slow path: build the canonical form.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escape(out: &mut Vec<u8>, v: u8) {
    out.extend_from_slice(&[b'%', HEX[(v >> 4) as usize], HEX[(v & 15) as usize]]);
}

fn canonicalize_slow(path: &str, policy: &PathPolicy) -> Result<String, Ambiguous> {
    let b = path.as_bytes();
    // `out` is '/' then every kept segment followed by '/'. An empty segment is kept too (as
    // "//"), so that `..` removes it as RFC 3986 §5.2.4 does; slashes are merged at the end.
    // Only ASCII is ever written to it.
    let mut out: Vec<u8> = Vec::with_capacity(b.len() + 8);
    out.push(b'/');
    let mut empty_kept = false;
    let mut i = 1;
    loop {
        let start = out.len();
        let (next, at_end) = write_segment(path, i, policy, &mut out)?;
        let seg = &out[start..];
        let trailing_slash = match seg {
            [b'.'] => {
                out.truncate(start);
                true
            }
            [b'.', b'.'] => {
                // Drop this segment and the kept one before it (if any): back to the '/'
                // that precedes the previous segment.
                let prev = out[..start - 1]
                    .iter()
                    .rposition(|&c| c == b'/')
                    .map_or(start, |k| k + 1);
                out.truncate(prev);
                true
            }
            [b'.', b';', ..] | [b'.', b'.', b';', ..] => return refuse(DOT_SEGMENT_PARAMETER),
            [] => {
                empty_kept = true;
                out.push(b'/');
                true
            }
            _ => {
                out.push(b'/');
                false
            }
        };
        if at_end {
            if !trailing_slash {
                out.pop();
            }
            if empty_kept {
                out.dedup_by(|a, b| *a == b'/' && *b == b'/');
            }
            // Every byte written is ASCII, so this never refuses.
            return String::from_utf8(out).or(refuse(INVALID_UTF8));
        }
        i = next;
    }
}

/// Writes the canonical form of the segment starting at `path[i]` to `out`; returns the index
/// after its separator and whether the path ended there.
fn write_segment(
    path: &str,
    mut i: usize,
    policy: &PathPolicy,
    out: &mut Vec<u8>,
) -> Result<(usize, bool), Ambiguous> {
    let b = path.as_bytes();
    while i < b.len() {
        let c = b[i];
        match RAW[c as usize] {
            RAW_PCHAR => {
                let run = b[i..].iter().take_while(|&&c| RAW[c as usize] == RAW_PCHAR);
                let end = i + run.count();
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            RAW_SLASH => return Ok((i + 1, false)),
            RAW_SEMICOLON => match policy.path_params {
                PathParams::Reject => return refuse(PATH_PARAMETER),
                PathParams::Keep => {
                    out.push(b';');
                    i += 1;
                }
            },
            RAW_CONTROL => return refuse(CONTROL),
            RAW_BACKSLASH => return refuse(BACKSLASH),
            RAW_ENCODE | RAW_NON_ASCII => {
                push_escape(out, c);
                i += 1;
            }
            _ => {
                // RAW_PERCENT
                let Some((v, _)) = escape_at(b, i) else {
                    return refuse(MALFORMED);
                };
                if v >= 0x80 {
                    let (bytes, width, _) = encoded_utf8_at(b, i, v)?;
                    for &byte in &bytes[..width] {
                        push_escape(out, byte);
                    }
                    i += 3 * width;
                    continue;
                }
                match v {
                    b'/' => match policy.encoded_slash {
                        EncodedSlash::Reject => return refuse(ENCODED_SLASH),
                        EncodedSlash::Decode => return Ok((i + 3, false)),
                        EncodedSlash::Keep => push_escape(out, v),
                    },
                    b'\\' => return refuse(BACKSLASH),
                    0..=0x1f | 0x7f => return refuse(ENCODED_CONTROL),
                    b'%' if double_encoding_at(b, i + 3) => return refuse(DOUBLE_ENCODING),
                    _ if is_unreserved(v) => out.push(v),
                    _ => push_escape(out, v),
                }
                i += 3;
            }
        }
    }
    Ok((i, true))
}
