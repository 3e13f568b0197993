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
