//! Spelling tables shared by the canonicalizer's unit tests and the gateway's regression suite
//! (HTTP/1, HTTP/2, forward auth): attack spellings of the protected path `/api/admin/users`
//! and legitimate spellings, each with what [`canonicalize`](super::canonicalize) must make of
//! it under the default [`PathPolicy`](super::PathPolicy) (encoded slash and `;` refused).
//!
//! An attack is either refused (the rule) or forwarded in exactly one canonical form; when that
//! form is `/api/admin/users` (or under `/api/admin/`), the admin route's policy applies to it.

/// What the default policy makes of a spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Refused with this [`Ambiguous::rule`](super::Ambiguous::rule).
    Refused(&'static str),
    /// Forwarded as exactly this canonical path.
    Forwarded(&'static str),
}

use Expected::{Forwarded, Refused};

/// The protected path every attack spells.
pub const PROTECTED: &str = "/api/admin/users";

/// Spellings of [`PROTECTED`] an attacker would try, with their expected outcome.
pub const ATTACKS: &[(&str, Expected)] = &[
    // The path itself.
    ("/api/admin/users", Forwarded(PROTECTED)),
    // Percent-encoded unreserved characters, hex case mixed: decoded.
    ("/api/%61dmin/users", Forwarded(PROTECTED)),
    ("/api/adm%69n/users", Forwarded(PROTECTED)),
    ("/api/admi%6e/users", Forwarded(PROTECTED)),
    ("/api/admi%6E/users", Forwarded(PROTECTED)),
    ("/api/admin/user%73", Forwarded(PROTECTED)),
    (
        "/%61%70%69/%61%64%6d%69%6e/%75%73%65%72%73",
        Forwarded(PROTECTED),
    ),
    (
        "/%61%70%69/%61%64%6D%69%6E/%75%73%65%72%73",
        Forwarded(PROTECTED),
    ),
    ("/%61pi/admin/users", Forwarded(PROTECTED)),
    ("/api/%7Eadmin/users", Forwarded("/api/~admin/users")),
    ("/api/admin%2d/users", Forwarded("/api/admin-/users")),
    ("/api/admin%5f/users", Forwarded("/api/admin_/users")),
    // Encoded slashes: refused under the default policy.
    ("/api%2Fadmin/users", Refused("encoded-slash")),
    ("/api%2fadmin/users", Refused("encoded-slash")),
    ("/api/admin%2Fusers", Refused("encoded-slash")),
    ("/api/admin%2fusers", Refused("encoded-slash")),
    ("/api%2Fadmin%2Fusers", Refused("encoded-slash")),
    ("%2Fapi/admin/users", Refused("not-origin-form")),
    ("/api/admin/users%2F..", Refused("encoded-slash")),
    // Dot segments, plain.
    ("/api/./admin/users", Forwarded(PROTECTED)),
    ("/api/admin/./users", Forwarded(PROTECTED)),
    ("/./api/admin/users", Forwarded(PROTECTED)),
    ("/api/x/../admin/users", Forwarded(PROTECTED)),
    ("/api/admin/x/../users", Forwarded(PROTECTED)),
    ("/x/../api/admin/users", Forwarded(PROTECTED)),
    ("/api/admin/users/x/..", Forwarded("/api/admin/users/")),
    ("/api/admin/users/.", Forwarded("/api/admin/users/")),
    ("/../api/admin/users", Forwarded(PROTECTED)),
    ("/../../api/admin/users", Forwarded(PROTECTED)),
    ("/api/admin/../admin/users", Forwarded(PROTECTED)),
    ("/api/x/y/../../admin/users", Forwarded(PROTECTED)),
    ("/api/admin/users/..", Forwarded("/api/admin/")),
    // Dot segments, percent-encoded in every case mix.
    ("/api/%2e/admin/users", Forwarded(PROTECTED)),
    ("/api/%2E/admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2e%2e/admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2E%2E/admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2e%2E/admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2E%2e/admin/users", Forwarded(PROTECTED)),
    ("/api/x/.%2e/admin/users", Forwarded(PROTECTED)),
    ("/api/x/.%2E/admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2e./admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2E./admin/users", Forwarded(PROTECTED)),
    ("/%2e%2e/api/admin/users", Forwarded(PROTECTED)),
    ("/api/admin/%2e%2e/admin/users", Forwarded(PROTECTED)),
    ("/api/x/%2e%2e%2fadmin/users", Refused("encoded-slash")),
    ("/api/x/..%2fadmin/users", Refused("encoded-slash")),
    ("/api/x/..%2Fadmin/users", Refused("encoded-slash")),
    ("/api/x/%2E%2E%2Fadmin/users", Refused("encoded-slash")),
    // More dots than a dot segment: an ordinary segment (a different resource).
    ("/api/admin/.../users", Forwarded("/api/admin/.../users")),
    (
        "/api/admin/%2e%2e%2e/users",
        Forwarded("/api/admin/.../users"),
    ),
    (
        "/api/admin/%2e%2e./users",
        Forwarded("/api/admin/.../users"),
    ),
    ("/api/admin./users", Forwarded("/api/admin./users")),
    ("/api/admin%2e/users", Forwarded("/api/admin./users")),
    // Repeated slashes: merged.
    ("//api/admin/users", Forwarded(PROTECTED)),
    ("///api/admin/users", Forwarded(PROTECTED)),
    ("/api//admin/users", Forwarded(PROTECTED)),
    ("/api/admin//users", Forwarded(PROTECTED)),
    ("/api///admin///users", Forwarded(PROTECTED)),
    ("/api/admin/users//", Forwarded("/api/admin/users/")),
    ("//api//admin//users//", Forwarded("/api/admin/users/")),
    // `..` removes an empty segment before slashes are merged (RFC 3986, WHATWG URL).
    ("/api/x//../admin/users", Forwarded("/api/x/admin/users")),
    ("/api/admin/x//..//users", Forwarded("/api/admin/x/users")),
    ("/api/admin//../users", Forwarded(PROTECTED)),
    // `;` path parameters (servlet containers drop them): refused under the default policy.
    ("/api/admin;/users", Refused("path-parameter")),
    ("/api;x=1/admin/users", Refused("path-parameter")),
    ("/api/admin;jsessionid=1/users", Refused("path-parameter")),
    ("/api/..;/api/admin/users", Refused("path-parameter")),
    ("/api/x/..;/admin/users", Refused("path-parameter")),
    ("/api/admin/users;", Refused("path-parameter")),
    ("/;/api/admin/users", Refused("path-parameter")),
    ("/api/admin/users;.css", Refused("path-parameter")),
    // An encoded `;` is data: a different segment, forwarded encoded.
    ("/api/admin%3B/users", Forwarded("/api/admin%3B/users")),
    ("/api/admin%3b/users", Forwarded("/api/admin%3B/users")),
    // Case is not folded: these are different paths.
    ("/API/admin/users", Forwarded("/API/admin/users")),
    ("/api/ADMIN/users", Forwarded("/api/ADMIN/users")),
    ("/Api/Admin/Users", Forwarded("/Api/Admin/Users")),
    ("/api/AdMiN/users", Forwarded("/api/AdMiN/users")),
    ("/api/%41dmin/users", Forwarded("/api/Admin/users")),
    ("/api/%41%44%4D%49%4E/users", Forwarded("/api/ADMIN/users")),
    // Backslashes, raw and encoded.
    ("/api\\admin\\users", Refused("backslash")),
    ("/api/admin\\users", Refused("backslash")),
    ("/api/x/..\\admin/users", Refused("backslash")),
    ("/api%5Cadmin/users", Refused("backslash")),
    ("/api%5cadmin/users", Refused("backslash")),
    ("/api/x/..%5Cadmin/users", Refused("backslash")),
    ("/api/x/%2e%2e%5cadmin/users", Refused("backslash")),
    ("\\api\\admin\\users", Refused("not-origin-form")),
    // NUL and other control characters, encoded and raw.
    ("/api/admin%00/users", Refused("encoded-control-character")),
    ("/api/admin/users%00", Refused("encoded-control-character")),
    (
        "/api/admin/users%00.json",
        Refused("encoded-control-character"),
    ),
    ("/api/admin%0a/users", Refused("encoded-control-character")),
    (
        "/api/admin%0D%0A/users",
        Refused("encoded-control-character"),
    ),
    ("/api/admin%09/users", Refused("encoded-control-character")),
    ("/api/admin%1f/users", Refused("encoded-control-character")),
    ("/api/admin%7f/users", Refused("encoded-control-character")),
    ("/api/admin\0/users", Refused("control-character")),
    ("/api/admin\n/users", Refused("control-character")),
    ("/api/admin\r/users", Refused("control-character")),
    ("/api/admin\t/users", Refused("control-character")),
    ("/api/admin\x7f/users", Refused("control-character")),
    ("/api/admin /users", Refused("control-character")),
    // An encoded space is data: a different segment.
    ("/api/admin%20/users", Forwarded("/api/admin%20/users")),
    // Overlong and otherwise invalid UTF-8.
    ("/api/x/%c0%ae%c0%ae/admin/users", Refused("invalid-utf8")),
    ("/api/x/%C0%AE%C0%AE/admin/users", Refused("invalid-utf8")),
    ("/api%c0%afadmin/users", Refused("invalid-utf8")),
    ("/api%C0%AFadmin/users", Refused("invalid-utf8")),
    ("/api%c1%9cadmin/users", Refused("invalid-utf8")),
    (
        "/api/x/%e0%80%ae%e0%80%ae/admin/users",
        Refused("invalid-utf8"),
    ),
    ("/api%e0%80%afadmin/users", Refused("invalid-utf8")),
    ("/api/x/%f0%80%80%ae/admin/users", Refused("invalid-utf8")),
    ("/api%f8%80%80%80%afadmin/users", Refused("invalid-utf8")),
    ("/api/admin%ff/users", Refused("invalid-utf8")),
    ("/api/admin%80/users", Refused("invalid-utf8")),
    ("/api/admin%c3/users", Refused("invalid-utf8")),
    ("/api/admin%c3%28/users", Refused("invalid-utf8")),
    ("/api/admin%ed%a0%80/users", Refused("invalid-utf8")),
    ("/api/admin%f4%90%80%80/users", Refused("invalid-utf8")),
    ("/api/admin%C3\u{e9}/users", Refused("invalid-utf8")),
    // Malformed escapes, IIS `%u` included.
    (
        "/api/%u0061dmin/users",
        Refused("malformed-percent-encoding"),
    ),
    ("/api/admin%/users", Refused("malformed-percent-encoding")),
    ("/api/admin%2/users", Refused("malformed-percent-encoding")),
    ("/api/admin%zz/users", Refused("malformed-percent-encoding")),
    ("/api/admin/users%", Refused("malformed-percent-encoding")),
    ("/api/admin/users%6", Refused("malformed-percent-encoding")),
    (
        "/api/admin%c3%g9/users",
        Refused("malformed-percent-encoding"),
    ),
    // Double encoding of a separator, dot, escape, `;` or control character.
    ("/api%252Fadmin/users", Refused("double-encoding")),
    ("/api%252fadmin/users", Refused("double-encoding")),
    ("/api/x/%252e%252e/admin/users", Refused("double-encoding")),
    ("/api/x/%252E%252E/admin/users", Refused("double-encoding")),
    ("/api%255Cadmin/users", Refused("double-encoding")),
    ("/api/admin%253B/users", Refused("double-encoding")),
    ("/api/admin%2500/users", Refused("double-encoding")),
    (
        "/api/x/%25252e%25252e/admin/users",
        Refused("double-encoding"),
    ),
    ("/api%25%32%46admin/users", Refused("double-encoding")),
    ("/api%25%32%66admin/users", Refused("double-encoding")),
    ("/api%252%46admin/users", Refused("double-encoding")),
    // A double-encoded letter or a lone `%25` is a literal percent: a different resource.
    ("/api/%2561dmin/users", Forwarded("/api/%2561dmin/users")),
    ("/api%25/admin/users", Forwarded("/api%25/admin/users")),
    // Fullwidth and other look-alikes: never folded, forwarded percent-encoded.
    (
        "/api/\u{ff41}dmin/users",
        Forwarded("/api/%EF%BD%81dmin/users"),
    ),
    (
        "/api/%ef%bd%81dmin/users",
        Forwarded("/api/%EF%BD%81dmin/users"),
    ),
    (
        "/api/\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}/users",
        Forwarded("/api/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E/users"),
    ),
    ("/api/\u{430}dmin/users", Forwarded("/api/%D0%B0dmin/users")),
    ("/api/adm\u{131}n/users", Forwarded("/api/adm%C4%B1n/users")),
    (
        "/api/ad\u{200b}min/users",
        Forwarded("/api/ad%E2%80%8Bmin/users"),
    ),
    (
        "/api/admin\u{a0}/users",
        Forwarded("/api/admin%C2%A0/users"),
    ),
    (
        "/api\u{ff0f}admin/users",
        Forwarded("/api%EF%BC%8Fadmin/users"),
    ),
    (
        "/api\u{2215}admin/users",
        Forwarded("/api%E2%88%95admin/users"),
    ),
    (
        "/api\u{ff3c}admin/users",
        Forwarded("/api%EF%BC%BCadmin/users"),
    ),
    (
        "/api/x/\u{2025}/admin/users",
        Forwarded("/api/x/%E2%80%A5/admin/users"),
    ),
    (
        "/api/x/\u{ff0e}\u{ff0e}/admin/users",
        Forwarded("/api/x/%EF%BC%8E%EF%BC%8E/admin/users"),
    ),
    ("/api/admin/user\u{17f}", Forwarded("/api/admin/user%C5%BF")),
    // Characters outside pchar: forwarded encoded, never raw.
    ("/api/admin#/users", Forwarded("/api/admin%23/users")),
    ("/api/admin%23/users", Forwarded("/api/admin%23/users")),
    ("/api/admin|/users", Forwarded("/api/admin%7C/users")),
    // Not origin form at all.
    ("", Refused("not-origin-form")),
    ("*", Refused("not-origin-form")),
    ("api/admin/users", Refused("not-origin-form")),
    ("http://h/api/admin/users", Refused("not-origin-form")),
    ("./api/admin/users", Refused("not-origin-form")),
];

/// Legitimate spellings and the exact path forwarded for each.
pub const LEGIT: &[(&str, &str)] = &[
    ("/", "/"),
    ("/api/v1/users/42", "/api/v1/users/42"),
    ("/api/v1/users/", "/api/v1/users/"),
    ("/files/a%20b", "/files/a%20b"),
    ("/files/caf%C3%A9", "/files/caf%C3%A9"),
    ("/files/caf%c3%a9", "/files/caf%C3%A9"),
    ("/files/caf\u{e9}", "/files/caf%C3%A9"),
    ("/search/a%2Bb", "/search/a%2Bb"),
    ("/search/a%2bb", "/search/a%2Bb"),
    ("/v1.2/items", "/v1.2/items"),
    ("/files/a..b", "/files/a..b"),
    ("/files/.hidden", "/files/.hidden"),
    ("/files/..hidden", "/files/..hidden"),
    ("/files/...", "/files/..."),
    ("/~user/page", "/~user/page"),
    ("/%7Euser/page", "/~user/page"),
    ("/%7euser/page", "/~user/page"),
    ("/users/me@example.com", "/users/me@example.com"),
    ("/time/12:30", "/time/12:30"),
    ("/a+b", "/a+b"),
    ("/k=v", "/k=v"),
    ("/a,b", "/a,b"),
    ("/!$&'()*+,=:@", "/!$&'()*+,=:@"),
    ("/a%2Cb", "/a%2Cb"),
    ("/a%3Ab/%40c", "/a%3Ab/%40c"),
    ("/50%25off", "/50%25off"),
    ("/a%2520b", "/a%2520b"),
    ("/a%3Bb", "/a%3Bb"),
    ("/emoji/%F0%9F%98%80", "/emoji/%F0%9F%98%80"),
    ("/emoji/\u{1f600}", "/emoji/%F0%9F%98%80"),
    ("/\u{65e5}\u{672c}", "/%E6%97%A5%E6%9C%AC"),
    ("/v1/%E4%B8%AD%E6%96%87", "/v1/%E4%B8%AD%E6%96%87"),
    ("/a-b_c.d~e", "/a-b_c.d~e"),
    ("/%41%42%43", "/ABC"),
    ("/%2D%2E%5F%7E", "/-._~"),
    ("/a[0]", "/a%5B0%5D"),
    ("/a%5B0%5D", "/a%5B0%5D"),
    ("/q/\"x\"", "/q/%22x%22"),
    ("/a|b^c`d{e}<f>", "/a%7Cb%5Ec%60d%7Be%7D%3Cf%3E"),
    ("/a%7c", "/a%7C"),
    ("/static/app.min.js", "/static/app.min.js"),
    ("/a/b/c/d/e/f/", "/a/b/c/d/e/f/"),
];
