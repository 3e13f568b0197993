//! Strict HTTP: the request-level framing and target rules, checked by the boundary before
//! anything else looks at a request.
//!
//! hyper parses the request line and headers; what it lets through, and what a proxy must still
//! refuse because two parsers (Palisade's and the upstream's) could read it differently, is
//! refused here with problem+json (400 unless said otherwise):
//!
//! - `missing-host`: an HTTP/1.1 request without `Host`, or an HTTP/2 request with neither
//!   `:authority` nor `Host` (RFC 9112 §3.2, RFC 9113 §8.3.1). HTTP/1.0 may omit it.
//! - `duplicate-host`: more than one `Host` field (RFC 9112 §3.2).
//! - `bad-host`: a `Host` that is not `host[:port]` (userinfo, spaces, bad port).
//! - `host-mismatch`: the target's own authority (HTTP/1 absolute-form, HTTP/2 `:authority`)
//!   names another host or port than `Host`. For HTTP/2 that is RFC 9113 §8.3.1's "MUST NOT
//!   differ"; for HTTP/1 it is **a deliberate hardening beyond RFC 9112 §3.2.2**, which tells a
//!   server to ignore `Host` and use the absolute-form authority: an upstream or a log reader that
//!   follows `Host` would otherwise see a different host than the one Palisade routed and
//!   authorized, so Palisade refuses the disagreement instead of picking a side.
//! - `conflicting-framing` (and the connection is closed): `Content-Length` together with
//!   `Transfer-Encoding` (RFC 9112 §6.3 calls it a likely smuggling attempt). hyper would drop
//!   `Content-Length` silently, so the listener's framing watch (`crate::server::framing`) renames it to
//!   [`CL_TE_MARKER`] first, and this check refuses the marker.
//! - `bad-transfer-encoding` (and the connection is closed): a `Transfer-Encoding` other than one
//!   single `chunked` (`gzip, chunked`, `chunked, chunked`, two fields, any in HTTP/1.0): Palisade
//!   does not decode other transfer codings, and an upstream that did would frame the body
//!   differently. The framing watch renames such a field to [`TE_MARKER`] so that hyper does not
//!   answer it with its own bare 400.
//!
//! - `header-too-large` (431, and the connection is closed): a head longer than hyper's buffer,
//!   which the framing watch replaced with a stand-in request marked [`OVERSIZED_MARKER`].
//!
//! A refusal that must end the connection carries `Connection: close`; hyper then closes after
//! writing it (HTTP/1), and the listener's lingering close lets the client read it.

use crate::problem::refuse;
use crate::request::Req;
use http::{HeaderValue, StatusCode, Version, header};

use crate::request::{CL_TE_MARKER, OVERSIZED_MARKER, TE_MARKER};

/// Why a request breaks the rules, before it becomes a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The answer's status.
    pub status: StatusCode,
    /// The problem slug.
    pub slug: &'static str,
    /// The problem's detail sentence.
    pub detail: &'static str,
    /// The connection cannot be trusted after this request (its framing is in doubt).
    pub close: bool,
}

impl Violation {
    const fn keep(slug: &'static str, detail: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            slug,
            detail,
            close: false,
        }
    }

    const fn close(slug: &'static str, detail: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            slug,
            detail,
            close: true,
        }
    }
}

const HEAD_TOO_LARGE: Violation = Violation {
    status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    slug: "header-too-large",
    detail: "The request headers are far over the limit; send fewer or smaller headers.",
    close: true,
};
const MISSING_HOST: Violation = Violation::keep(
    "missing-host",
    "The request has no Host header; HTTP/1.1 requires one.",
);
const DUPLICATE_HOST: Violation = Violation::keep(
    "duplicate-host",
    "The request has more than one Host header; send exactly one.",
);
const BAD_HOST: Violation = Violation::keep(
    "bad-host",
    "The Host header is not a host name with an optional port.",
);
const HOST_MISMATCH: Violation = Violation::keep(
    "host-mismatch",
    "The request target names another host than the Host header; send one host.",
);
const CONFLICTING_FRAMING: Violation = Violation::close(
    "conflicting-framing",
    "The request has both Content-Length and Transfer-Encoding; send one of them.",
);
const BAD_TRANSFER_ENCODING: Violation = Violation::close(
    "bad-transfer-encoding",
    "Only `Transfer-Encoding: chunked`, alone and once, is accepted.",
);

/// The first rule `req` breaks, if any. `framing_fields`: a head on this connection may have
/// carried framing fields or markers; `false` only where the listener's framing watch vouches
/// that none did (see [`crate::request::FramingMarks`]).
pub fn check(req: &Req, framing_fields: bool) -> Result<(), Violation> {
    let headers = req.headers();
    if req.version() <= Version::HTTP_11 && framing_fields {
        markers(req)?;
        framing(req)?;
    }
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(DUPLICATE_HOST);
    }
    let target = req.uri().authority();
    let Some(host) = host else {
        return match req.version() {
            Version::HTTP_11 => Err(MISSING_HOST),
            Version::HTTP_2 | Version::HTTP_3 if target.is_none() => Err(MISSING_HOST),
            _ => Ok(()),
        };
    };
    valid_host(host, target, req.uri().scheme_str())
}

/// The boundary's refusal for the first rule `req` breaks, or `None`.
pub fn refusal(
    req: &Req,
    framing_fields: bool,
    gate: &'static str,
    request_id: &str,
) -> Option<crate::request::Res> {
    let violation = check(req, framing_fields).err()?;
    let mut res = refuse(
        gate,
        violation.slug,
        violation.status,
        violation.detail,
        request_id,
    );
    if violation.close {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Some(res)
}

/// The heads the framing watch marked.
fn markers(req: &Req) -> Result<(), Violation> {
    let headers = req.headers();
    if headers.contains_key(OVERSIZED_MARKER) {
        return Err(HEAD_TOO_LARGE);
    }
    if headers.contains_key(CL_TE_MARKER) {
        return Err(CONFLICTING_FRAMING);
    }
    if headers.contains_key(TE_MARKER) {
        return Err(BAD_TRANSFER_ENCODING);
    }
    Ok(())
}

fn framing(req: &Req) -> Result<(), Violation> {
    let headers = req.headers();
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    let Some(first) = te.next() else {
        return Ok(());
    };
    if headers.contains_key(header::CONTENT_LENGTH) {
        return Err(CONFLICTING_FRAMING);
    }
    if te.next().is_some()
        || !first
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"chunked")
    {
        return Err(BAD_TRANSFER_ENCODING);
    }
    Ok(())
}

/// `Host` is `host[:port]`, no userinfo, no path; parsed as an authority only when there is a
/// target authority to compare it with. A plain DNS name or IPv4 address with an optional port
/// (the common case) is checked without parsing.
fn valid_host(
    value: &HeaderValue,
    target: Option<&http::uri::Authority>,
    scheme: Option<&str>,
) -> Result<(), Violation> {
    if target.is_none() && is_plain_host(value.as_bytes()) {
        return Ok(());
    }
    let host = parse_host(value).ok_or(BAD_HOST)?;
    match target {
        Some(target) if !same_authority(scheme, target, &host) => Err(HOST_MISMATCH),
        _ => Ok(()),
    }
}

/// `name[:port]` with a name of letters, digits, `-` and `.` and a port that fits in 16 bits
/// (or is empty, as `Authority` allows): what [`parse_host`] accepts, without allocating.
fn is_plain_host(bytes: &[u8]) -> bool {
    let (name, port) = match memchr::memchr(b':', bytes) {
        Some(colon) => (&bytes[..colon], Some(&bytes[colon + 1..])),
        None => (bytes, None),
    };
    let name_ok = !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.');
    let port_ok = port.is_none_or(|p| {
        p.len() <= 5
            && p.iter()
                .try_fold(0u32, |n, b| {
                    b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
                })
                .is_some_and(|n| n <= u32::from(u16::MAX))
    });
    name_ok && port_ok
}

/// `Host` as an authority: `host[:port]`, no userinfo, no path.
fn parse_host(value: &HeaderValue) -> Option<http::uri::Authority> {
    let text = value.to_str().ok()?;
    if text.contains('@') {
        return None;
    }
    let authority: http::uri::Authority = text.parse().ok()?;
    // `Authority` keeps a port it cannot read as u16 but reports none; refuse it instead.
    let port = &authority.as_str()[authority.host().len()..];
    let bad_port = match port.strip_prefix(':') {
        Some("") => false,
        Some(digits) => digits.parse::<u16>().is_err(),
        None => !port.is_empty(),
    };
    if authority.host().is_empty() || bad_port {
        return None;
    }
    Some(authority)
}

/// Host names compare without case; an absent port is the scheme's default.
fn same_authority(
    scheme: Option<&str>,
    target: &http::uri::Authority,
    host: &http::uri::Authority,
) -> bool {
    if target.as_str().contains('@') || !target.host().eq_ignore_ascii_case(host.host()) {
        return false;
    }
    let default = match scheme {
        Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
        Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
        _ => None,
    };
    let port = |a: &http::uri::Authority| a.port_u16().or(default);
    port(target) == port(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Version;

    const HTTP_10: Version = Version::HTTP_10;
    const HTTP_11: Version = Version::HTTP_11;
    const HTTP_2: Version = Version::HTTP_2;

    fn req(version: Version, target: &str, headers: &[(&str, &str)]) -> Req {
        let mut b = http::Request::builder().version(version).uri(target);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    fn slug(r: &Req) -> Option<&'static str> {
        check(r, true).err().map(|v| v.slug)
    }

    #[test]
    fn host_rules() {
        assert_eq!(slug(&req(HTTP_11, "/x", &[("host", "a")])), None);
        assert_eq!(slug(&req(HTTP_11, "/x", &[])), Some("missing-host"));
        assert_eq!(
            slug(&req(HTTP_10, "/x", &[])),
            None,
            "HTTP/1.0 may omit Host"
        );
        assert_eq!(
            slug(&req(HTTP_11, "/x", &[("host", "a"), ("host", "a")])),
            Some("duplicate-host")
        );
        for bad in ["u@a", "a b", "a:99999", "a/b", ""] {
            assert_eq!(
                slug(&req(HTTP_11, "/x", &[("host", bad)])),
                Some("bad-host"),
                "{bad:?}"
            );
        }
        assert_eq!(slug(&req(HTTP_2, "http://a/x", &[])), None);
        assert_eq!(slug(&req(HTTP_2, "/x", &[])), Some("missing-host"));
    }

    #[test]
    fn the_plain_host_check_accepts_only_what_the_full_parse_accepts() {
        let samples = [
            "a",
            "a.example",
            "A-1.example.com",
            "127.0.0.1",
            "a:80",
            "a:",
            "a:0",
            "a:65535",
            "a:65536",
            "a:00080",
            "a:+80",
            "a:8a",
            ":80",
            "",
            "-",
            "a..b",
            "a:1:2",
            "[::1]",
            "[::1]:80",
            "a_b",
            "a b",
            "u@a",
            "a/b",
            "a%20",
            "ａ",
            "a:99999999999",
        ];
        for sample in samples {
            let value = HeaderValue::from_str(sample).unwrap();
            if is_plain_host(sample.as_bytes()) {
                assert!(parse_host(&value).is_some(), "{sample:?}");
            }
        }
        assert!(is_plain_host(b"api.example.com:8443"));
    }

    #[test]
    fn framing_fields_are_looked_for_unless_the_watch_vouches() {
        let marked = req(HTTP_11, "/x", &[("host", "a"), (OVERSIZED_MARKER, "1")]);
        assert_eq!(slug(&marked), Some("header-too-large"));
        assert_eq!(
            check(&marked, false),
            Ok(()),
            "a client's own header of that name"
        );
    }

    #[test]
    fn target_authority_must_match_host() {
        let ok = [
            ("http://a.example/x", "a.example"),
            ("http://A.Example/x", "a.example:80"),
            ("https://a.example:443/x", "a.example"),
            ("http://[::1]:8080/x", "[::1]:8080"),
        ];
        for (target, host) in ok {
            assert_eq!(
                slug(&req(HTTP_11, target, &[("host", host)])),
                None,
                "{target} {host}"
            );
            assert_eq!(
                slug(&req(HTTP_2, target, &[("host", host)])),
                None,
                "{target} {host}"
            );
        }
        let bad = [
            ("http://admin.example/x", "a.example"),
            ("http://a.example:8080/x", "a.example"),
            ("https://a.example/x", "a.example:80"),
            ("http://u@a.example/x", "a.example"),
        ];
        for (target, host) in bad {
            assert_eq!(
                slug(&req(HTTP_11, target, &[("host", host)])),
                Some("host-mismatch"),
                "{target} {host}"
            );
            assert_eq!(
                slug(&req(HTTP_2, target, &[("host", host)])),
                Some("host-mismatch"),
                "{target} {host}"
            );
        }
    }

    #[test]
    fn framing_rules() {
        let h = |te: &[&str], cl: bool| {
            let mut v = vec![("host", "a")];
            v.extend(te.iter().map(|t| ("transfer-encoding", *t)));
            if cl {
                v.push(("content-length", "5"));
            }
            slug(&req(HTTP_11, "/x", &v))
        };
        assert_eq!(h(&["chunked"], false), None);
        assert_eq!(h(&[" Chunked "], false), None);
        assert_eq!(h(&["chunked"], true), Some("conflicting-framing"));
        assert_eq!(h(&["gzip, chunked"], false), Some("bad-transfer-encoding"));
        assert_eq!(
            h(&["chunked, chunked"], false),
            Some("bad-transfer-encoding")
        );
        assert_eq!(
            h(&["chunked", "chunked"], false),
            Some("bad-transfer-encoding")
        );
        assert_eq!(h(&["identity"], false), Some("bad-transfer-encoding"));
        assert_eq!(
            slug(&req(HTTP_11, "/x", &[("host", "a"), (CL_TE_MARKER, "5")])),
            Some("conflicting-framing")
        );
        assert_eq!(
            slug(&req(HTTP_11, "/x", &[("host", "a"), (TE_MARKER, "gzip")])),
            Some("bad-transfer-encoding")
        );
        let closing = check(
            &req(HTTP_11, "/x", &[("host", "a"), (CL_TE_MARKER, "5")]),
            true,
        );
        assert!(closing.unwrap_err().close);
    }
}
