//! Purpose-bound keys derived from the configured secrets with HKDF-SHA256, so one secret never
//! serves two jobs directly (a token-wrapping key cannot be used as the API-key pepper).

use aws_lc_rs::hkdf;

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// A 32-byte key for `purpose`, derived from `secret`.
pub fn derive_key(secret: &str, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"palisade-derive-v1");
    let prk = salt.extract(secret.as_bytes());
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    prk.expand(&[purpose.as_bytes()], Len32)
        .and_then(|okm| okm.fill(out.as_mut()))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_secrets_separate_keys() {
        let a = derive_key("s", "one");
        assert_eq!(*a, *derive_key("s", "one"));
        assert_ne!(*a, *derive_key("s", "two"));
        assert_ne!(*a, *derive_key("t", "one"));
    }
}
