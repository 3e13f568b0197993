//! Blind indexes: a keyed HMAC-SHA256 of a field's plaintext, stored next to its ciphertext so
//! that equality lookups (`WHERE email_bidx = ?`) work without decrypting every row.
//!
//! `index = base64url-nopad( HMAC-SHA256(key, u64be(len(domain)) ‖ domain ‖ value) )`, 43
//! characters. The domain (e.g. `"users.email"`) separates columns: the same e-mail in two
//! columns gives unrelated indexes. The key is its own (by default the master key's
//! `palisade.blind-index.v1` sub-key), never a data key. Callers normalise values first (e.g.
//! lowercase an e-mail); the index is exact on bytes.
//!
//! What it leaks, by design: which rows share a value within one domain.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Computes blind indexes under one key. `Debug` shows nothing of the key.
pub struct BlindIndex(hmac::Key);

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex(..)")
    }
}

impl BlindIndex {
    /// A blind index keyed by 32 secret bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The index of `value` in `domain` (base64url without padding, 43 characters).
    pub fn index(&self, domain: &str, value: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(&(domain.len() as u64).to_be_bytes());
        ctx.update(domain.as_bytes());
        ctx.update(value);
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_keys_and_values_separate_indexes() {
        let a = BlindIndex::new(&[1; 32]);
        let b = BlindIndex::new(&[2; 32]);
        let i = a.index("users.email", b"ann@example.com");
        assert_eq!(i.len(), 43);
        assert_eq!(i, a.index("users.email", b"ann@example.com"));
        assert_ne!(i, a.index("staff.email", b"ann@example.com"));
        assert_ne!(i, a.index("users.email", b"bob@example.com"));
        assert_ne!(i, b.index("users.email", b"ann@example.com"));
        // the length prefix keeps the domain/value boundary: ("ab", "c") != ("a", "bc")
        assert_ne!(a.index("ab", b"c"), a.index("a", b"bc"));
        assert_eq!(format!("{a:?}"), "BlindIndex(..)");
    }
}
