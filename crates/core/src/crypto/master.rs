//! The master key: 32 bytes that never leave memory in the clear and never encrypt data
//! directly. Every job gets its own sub-key derived with HKDF-SHA256 (fixed salt
//! `palisade.master.v1`, the purpose label as `info`), so a key that wraps data keys can never
//! be used as a blind-index key and vice versa.
//!
//! Where the master key comes from is a [`MasterKeyProvider`]: the gateway has environment and
//! file providers; a KMS can be added later behind the same trait.

use super::CryptoError;
use aws_lc_rs::hkdf;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// HKDF label of the key that wraps data keys ([`crate::crypto::keyring`]).
pub const PURPOSE_DATAKEY_WRAP: &str = "palisade.datakey-wrap.v1";
/// HKDF label of the blind-index key ([`crate::crypto::blind_index`]).
pub const PURPOSE_BLIND_INDEX: &str = "palisade.blind-index.v1";

const HKDF_SALT: &[u8] = b"palisade.master.v1";

/// The 32-byte root key. `Debug` shows nothing of it; it is zeroized on drop.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Gives the master key on demand (environment, file, KMS). Implementations return
/// [`CryptoError::MasterKeyUnavailable`] or [`CryptoError::MasterKeyFormat`] with a message that
/// names the source but never the secret.
pub trait MasterKeyProvider: Send + Sync {
    /// The master key, or why it cannot be had (naming the source, never the secret).
    fn master_key(&self) -> Result<MasterKey, CryptoError>;
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl MasterKey {
    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses standard base64 (RFC 4648 §4, with padding) that decodes to exactly 32 bytes.
    /// Surrounding ASCII whitespace (a trailing newline in a file) is ignored.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim_ascii())
                .map_err(|_| CryptoError::MasterKeyFormat("not valid standard base64"))?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            CryptoError::MasterKeyFormat("must decode to exactly 32 bytes (44 base64 characters)")
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random master key.
    pub fn generate() -> Self {
        Self::from_bytes(super::random_bytes())
    }

    /// The key as standard base64, for `palisade init` to show once. Handle with care.
    pub fn export_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }

    /// The 32-byte sub-key for `purpose` (HKDF-SHA256, salt `palisade.master.v1`,
    /// info = the purpose label). Distinct labels give independent keys.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(self.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        prk.expand(&[purpose.as_bytes()], Len32)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

/// A provider that hands out a key it already holds (tests, or a key loaded once at start).
impl MasterKeyProvider for MasterKey {
    fn master_key(&self) -> Result<MasterKey, CryptoError> {
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_must_be_32_bytes_and_errors_hold_no_secret() {
        let good = STANDARD.encode([7u8; 32]);
        assert!(MasterKey::from_base64(&good).is_ok());
        assert!(MasterKey::from_base64(&format!(" {good}\n")).is_ok());
        let short = STANDARD.encode([7u8; 31]);
        let err = MasterKey::from_base64(&short).unwrap_err();
        assert!(matches!(err, CryptoError::MasterKeyFormat(_)));
        assert!(!err.to_string().contains(&short));
        assert!(MasterKey::from_base64(&STANDARD.encode([7u8; 33])).is_err());
        let bad = "not base64 at all!";
        let err = MasterKey::from_base64(bad).unwrap_err();
        assert!(!err.to_string().contains(bad));
        // url-safe alphabet is not standard base64
        let url = base64::engine::general_purpose::URL_SAFE.encode([0xfbu8; 32]);
        assert!(MasterKey::from_base64(&url).is_err());
    }

    #[test]
    fn export_round_trips_and_debug_hides_bytes() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.export_base64()).unwrap();
        assert_eq!(*key.derive("x"), *again.derive("x"));
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
    }

    #[test]
    fn purposes_and_keys_separate_sub_keys() {
        let a = MasterKey::from_bytes([1; 32]);
        let b = MasterKey::from_bytes([2; 32]);
        assert_ne!(
            *a.derive(PURPOSE_BLIND_INDEX),
            *a.derive(PURPOSE_DATAKEY_WRAP)
        );
        assert_ne!(
            *a.derive(PURPOSE_BLIND_INDEX),
            *b.derive(PURPOSE_BLIND_INDEX)
        );
        assert_eq!(*a.derive("p"), *a.derive("p"));
        assert_ne!(a.derive("p").as_ref(), &[1u8; 32]);
    }
}
