//! Sealed personal fields of audit records: how a client address, a user agent or an e-mail
//! address is stored in the trail so that destroying one key erases it without rewriting the
//! record (the chain hashes the sealed text, which never changes).
//!
//! Text format (ASCII, in the field's own column or JSON string):
//!
//! ```text
//! sealed = "sealed:v1:" index ":" key-id ":" payload
//! index  = 43 base64url characters: the blind index of the plaintext (HMAC-SHA256 under a key
//!          derived from the master key, never the sealing key), so equal values can still be
//!          found and counted after their key is gone
//! key-id = 1*64( ALPHA / DIGIT / "-" )                  ; the sealing key's id
//! payload = base64url, no padding, of nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
//! ```
//!
//! The associated data binds, length-prefixed, the label `palisade.audit-seal.v1`, the key id,
//! the field's name, the record's id and the index: a sealed value copied to another field or
//! record, or given another index, does not open. Every failure to open is one opaque error.
//!
//! Guarantees: [`SealKey::seal`] never fails (only the OS random source could, which panics as
//! everywhere in the crate); [`parse`] accepts exactly the format above and nothing else, so a
//! plaintext written before sealing existed is never mistaken for a sealed value.

use crate::crypto::CryptoError;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

/// What every sealed value starts with.
pub const PREFIX: &str = "sealed:v1:";
/// How a sealed value whose key was destroyed reads.
pub const ERASED: &str = "[erased]";
/// Length of the blind index in a sealed value.
pub const INDEX_LEN: usize = 43;
const AAD_LABEL: &str = "palisade.audit-seal.v1";
const TAG_LEN: usize = 16;

/// A sealed value's parts, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed<'a> {
    /// The blind index of the plaintext.
    pub index: &'a str,
    /// The id of the key it is sealed under.
    pub key_id: &'a str,
    payload: &'a str,
}

fn is_key_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The parts of `text` when it is a sealed value; `None` for anything else (a plaintext).
pub fn parse(text: &str) -> Option<Sealed<'_>> {
    let rest = text.strip_prefix(PREFIX)?;
    let (index, rest) = rest.split_at_checked(INDEX_LEN)?;
    let rest = rest.strip_prefix(':')?;
    let (key_id, payload) = rest.split_once(':')?;
    (is_base64url(index) && is_key_id(key_id) && !payload.is_empty() && is_base64url(payload))
        .then_some(Sealed {
            index,
            key_id,
            payload,
        })
}

/// The start every sealed value of a plaintext with blind index `index` shares (what a query
/// for that value compares the first [`match_prefix_len`] characters of a field with).
pub fn match_prefix(index: &str) -> String {
    format!("{PREFIX}{index}:")
}

/// The length of every [`match_prefix`].
pub const fn match_prefix_len() -> usize {
    PREFIX.len() + INDEX_LEN + 1
}

/// One sealing key: 32 random bytes under an id.
pub struct SealKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", self.id)
    }
}

fn aad(key_id: &str, field: &str, record_id: &str, index: &str) -> Vec<u8> {
    let parts = [AAD_LABEL, key_id, field, record_id, index];
    let mut out = Vec::with_capacity(parts.iter().map(|p| 8 + p.len()).sum());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

impl SealKey {
    /// A key from its id and bytes. `None` when the id is not in the format (letters, digits
    /// and `-`, at most 64).
    pub fn new(id: &str, bytes: &[u8; 32]) -> Option<Self> {
        is_key_id(id).then(|| Self {
            id: id.to_string(),
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key")),
        })
    }

    /// Fresh random key bytes.
    pub fn generate_bytes() -> Zeroizing<[u8; 32]> {
        Zeroizing::new(crate::crypto::random_bytes())
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plaintext` of `field` in record `record_id`, sealed, carrying `index` (a 43-character
    /// blind index of the plaintext).
    pub fn seal(&self, field: &str, record_id: &str, index: &str, plaintext: &str) -> String {
        debug_assert_eq!(index.len(), INDEX_LEN, "a blind index is 43 characters");
        let nonce: [u8; NONCE_LEN] = crate::crypto::random_bytes();
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext.as_bytes());
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(&self.id, field, record_id, index)),
                &mut sealed[NONCE_LEN..],
            )
            .expect("AES-GCM seals any field-sized input");
        sealed.extend_from_slice(tag.as_ref());
        let mut out = match_prefix(index);
        out.push_str(&self.id);
        out.push(':');
        URL_SAFE_NO_PAD.encode_string(&sealed, &mut out);
        out
    }

    /// The plaintext of `sealed` (sealed under this key for `field` of `record_id`).
    pub fn open(
        &self,
        field: &str,
        record_id: &str,
        sealed: &Sealed<'_>,
    ) -> Result<Zeroizing<String>, CryptoError> {
        if sealed.key_id != self.id {
            return Err(CryptoError::Decrypt);
        }
        let mut bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(sealed.payload)
                .map_err(|_| CryptoError::Malformed)?,
        );
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN])
            .map_err(|_| CryptoError::Malformed)?;
        let plain = self
            .key
            .open_in_place(
                nonce,
                Aad::from(aad(&self.id, field, record_id, sealed.index)),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn a_sealed_value_opens_only_where_it_was_sealed() {
        let key = SealKey::new("ak-1", &[7; 32]).unwrap();
        let text = key.seal("client_ip", "rec-1", INDEX, "203.0.113.9");
        assert!(!text.contains("203.0.113.9"), "{text}");
        assert!(text.starts_with(&match_prefix(INDEX)));
        assert_eq!(match_prefix(INDEX).len(), match_prefix_len());
        let sealed = parse(&text).unwrap();
        assert_eq!((sealed.index, sealed.key_id), (INDEX, "ak-1"));
        assert_eq!(
            key.open("client_ip", "rec-1", &sealed).unwrap().as_str(),
            "203.0.113.9"
        );
        assert!(key.open("user_agent", "rec-1", &sealed).is_err());
        assert!(key.open("client_ip", "rec-2", &sealed).is_err());
        let other = SealKey::new("ak-1", &[8; 32]).unwrap();
        assert!(other.open("client_ip", "rec-1", &sealed).is_err());
        let relabelled = text.replacen(INDEX, &"B".repeat(INDEX_LEN), 1);
        assert!(
            key.open("client_ip", "rec-1", &parse(&relabelled).unwrap())
                .is_err()
        );
        assert_eq!(format!("{key:?}"), "SealKey(ak-1)");
    }

    #[test]
    fn only_the_format_parses() {
        for plain in [
            "203.0.113.9",
            "sealed:v1:",
            "sealed:v1:short:ak-1:AAAA",
            &format!("sealed:v1:{INDEX}:ak-1:"),
            &format!("sealed:v1:{INDEX}:bad:id:AAAA"),
            &format!("sealed:v2:{INDEX}:ak-1:AAAA"),
        ] {
            assert_eq!(parse(plain), None, "{plain}");
        }
        assert!(SealKey::new("bad:id", &[0; 32]).is_none());
    }
}
