//! Request ids: a caller-supplied `X-Request-Id` is kept only if it is well-formed, so that a
//! request id can never smuggle log-injection characters or unbounded data into our logs.

/// Longest request id accepted from a caller.
pub const MAX_LEN: usize = 128;

/// True when `id` is 1..=128 characters of `[A-Za-z0-9._:-]`.
pub fn is_well_formed(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_simple_tokens() {
        assert!(is_well_formed(b"0193a5c2-7d1e-7c3a-9f00-1234567890ab"));
        assert!(is_well_formed(b"req_42.a:b"));
    }

    #[test]
    fn refuses_empty_long_and_odd_characters() {
        assert!(!is_well_formed(b""));
        assert!(!is_well_formed(&[b'a'; MAX_LEN + 1]));
        assert!(is_well_formed(&[b'a'; MAX_LEN]));
        assert!(!is_well_formed(b"abc\ndef"));
        assert!(!is_well_formed(b"a b"));
        assert!(!is_well_formed(b"<script>"));
        assert!(!is_well_formed("é".as_bytes()));
    }
}

/// The properties the `request_id` fuzz target checks (`fuzz/fuzz_targets/request_id.rs`),
/// replayed over the committed corpus by this crate's tests. The input is an `X-Request-Id`
/// value as it arrives (any bytes a header value can hold, and more).
#[doc(hidden)]
pub mod fuzz_props {
    use super::*;

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        if !is_well_formed(data) {
            return;
        }
        // Kept ids are bounded, non-empty, and only characters that are inert in a log line,
        // a JSON string, a header value and a CSV cell.
        assert!(!data.is_empty() && data.len() <= MAX_LEN);
        for &b in data {
            assert!(b.is_ascii_graphic(), "{data:?}");
            assert!(
                !matches!(
                    b,
                    b'"' | b'\\' | b',' | b';' | b'=' | b'<' | b'>' | b'\'' | b'%'
                ),
                "{data:?}"
            );
        }
        let text = std::str::from_utf8(data).expect("ASCII");
        assert_eq!(serde_json::to_string(text).unwrap(), format!("\"{text}\""));
    }
}
