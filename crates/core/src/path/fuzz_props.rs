//! The properties the `path` fuzz target checks (`fuzz/fuzz_targets/path.rs`), replayed over the
//! committed corpus by this crate's tests. The input is a request path (any bytes; invalid UTF-8
//! is read lossily, as raw non-ASCII), canonicalized under every policy.

use std::borrow::Cow;

use super::{EncodedSlash, PathParams, PathPolicy, canonicalize, canonicalize_slow, is_unreserved};

const POLICIES: [PathPolicy; 6] = {
    use EncodedSlash as S;
    use PathParams as P;
    const fn p(encoded_slash: S, path_params: P) -> PathPolicy {
        PathPolicy {
            encoded_slash,
            path_params,
        }
    }
    [
        p(S::Reject, P::Reject),
        p(S::Decode, P::Reject),
        p(S::Keep, P::Reject),
        p(S::Reject, P::Keep),
        p(S::Decode, P::Keep),
        p(S::Keep, P::Keep),
    ]
};

/// Panics when a property fails.
pub fn check(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    for policy in &POLICIES {
        check_one(&input, policy);
    }
}

fn check_one(input: &str, policy: &PathPolicy) {
    let result = canonicalize(input, policy);
    // The fast path (borrowed) and the full rules agree.
    if input.starts_with('/') {
        let slow = canonicalize_slow(input, policy).map_err(|e| e.rule);
        match &result {
            Ok(Cow::Borrowed(s)) => assert_eq!(slow.as_deref(), Ok(*s), "{input:?} {policy:?}"),
            Ok(Cow::Owned(s)) => {
                assert_ne!(s, input, "needless copy of {input:?}");
                assert_eq!(slow.as_deref(), Ok(s.as_str()), "{input:?} {policy:?}");
            }
            Err(e) => assert_eq!(slow, Err(e.rule), "{input:?} {policy:?}"),
        }
    }
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            assert!(super::RULES.contains(&e.rule), "unnamed rule {:?}", e.rule);
            return;
        }
    };
    // Idempotent: the output is recognized as canonical (borrowed, unchanged).
    match canonicalize(&out, policy) {
        Ok(Cow::Borrowed(again)) => assert_eq!(again, &*out),
        other => panic!("{input:?} -> {out:?} -> {other:?} under {policy:?}"),
    }
    assert_canonical_shape(input, &out, policy);
    #[cfg(any(test, feature = "fuzz"))]
    agrees_with_the_url_crate(input, &out, policy);
}

/// No dot segment, no empty segment, no backslash, no encoded separator, no encoded unreserved
/// character, only printable ASCII, upper-case escapes.
fn assert_canonical_shape(input: &str, out: &str, policy: &PathPolicy) {
    assert!(out.starts_with('/'), "{input:?} -> {out:?}");
    assert!(
        !out.split('/').any(|seg| seg == "." || seg == ".."),
        "dot segment: {input:?} -> {out:?}"
    );
    assert!(!out.contains("//"), "empty segment: {input:?} -> {out:?}");
    assert!(!out.contains('\\'), "backslash: {input:?} -> {out:?}");
    assert!(
        out.bytes().all(|c| c.is_ascii_graphic()),
        "{input:?} -> {out:?}"
    );
    let b = out.as_bytes();
    for (i, _) in out.match_indices('%') {
        let digits = b.get(i + 1..i + 3).expect("an escape has two digits");
        let v = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| u8::from_str_radix(d, 16).ok())
            .unwrap_or_else(|| panic!("malformed escape: {input:?} -> {out:?}"));
        assert_eq!(
            digits,
            format!("{v:02X}").as_bytes(),
            "lower-case escape: {out:?}"
        );
        assert!(
            !is_unreserved(v),
            "encoded unreserved: {input:?} -> {out:?}"
        );
        assert_ne!(v, b'\\', "encoded backslash: {input:?} -> {out:?}");
        if policy.encoded_slash != EncodedSlash::Keep {
            assert_ne!(v, b'/', "encoded slash: {input:?} -> {out:?} {policy:?}");
        }
    }
    if policy.path_params == PathParams::Reject {
        assert!(!out.contains(';'), "{input:?} -> {out:?}");
    }
}

/// For inputs both accept, `url::Url::parse("http://h" + input)` (the WHATWG URL parser) reads
/// the same resource: its path, canonicalized, is our output.
#[cfg(any(test, feature = "fuzz"))]
fn agrees_with_the_url_crate(input: &str, out: &str, policy: &PathPolicy) {
    // A raw `?` or `#` starts the query or fragment for `url`; our input is a path only.
    if input.contains(['?', '#']) {
        return;
    }
    // Under `decode`, `url` keeps `%2F` inside its segment when it resolves `..`, which `decode`
    // deliberately does not.
    if policy.encoded_slash == EncodedSlash::Decode && input.to_ascii_uppercase().contains("%2F") {
        return;
    }
    if has_drive_letter_quirk(input) {
        return;
    }
    let Ok(parsed) = url::Url::parse(&format!("http://h{input}")) else {
        return;
    };
    let theirs = canonicalize(parsed.path(), policy).map_err(|e| e.rule);
    assert_eq!(
        theirs.as_deref(),
        Ok(out),
        "{input:?}: url reads {:?} under {policy:?}",
        parsed.path()
    );
}

/// The `url` crate (2.5) applies the WHATWG "Windows drive letter" rule when `..` meets a first
/// segment that looks like a drive letter (`/f:/%2e./` keeps `/f:/` where RFC 3986 and we
/// resolve to `/`), although that rule is only meant for `file:` URLs. Inputs with a segment that
/// looks like one (any segment: `..` can make a later one the first) are left out of the
/// agreement. (`fuzz/regressions/path/` holds the input that found this.)
#[cfg(any(test, feature = "fuzz"))]
fn has_drive_letter_quirk(input: &str) -> bool {
    input.split('/').any(|seg| {
        let seg = seg.as_bytes();
        seg.len() == 2 && seg[0].is_ascii_alphabetic() && matches!(seg[1], b':' | b'|')
            || seg.len() == 4
                && seg[0].is_ascii_alphabetic()
                && seg[1..].eq_ignore_ascii_case(b"%3A")
    })
}
