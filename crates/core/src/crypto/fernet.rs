//! Fernet tokens (<https://github.com/fernet/spec/blob/master/Spec.md>), readable and writable
//! by Python's `cryptography.fernet` and other implementations.
//!
//! ```text
//! token = base64url-with-padding( 0x80 ‖ timestamp (u64 BE, Unix seconds) ‖ IV (16)
//!                                 ‖ AES-128-CBC-PKCS7(plaintext) ‖ HMAC-SHA256 (32) )
//! key   = base64url( signing key (16) ‖ encryption key (16) )
//! ```
//!
//! The HMAC covers everything before it. Decryption checks, in this order: base64 and
//! structure (version byte, length), the HMAC in constant time, then (with a TTL) that the
//! token is not older than the TTL and not stamped more than 60 s in the future, and only then
//! decrypts. (Python's `cryptography` checks the time before the HMAC; the set of accepted
//! tokens is the same, but here an unauthenticated timestamp is never looked at.) Without a TTL
//! the timestamp is not checked at all, as in Python.
//!
//! All primitives are aws-lc-rs (`cipher` AES-128-CBC with PKCS#7 padding, `hmac`).

use super::CryptoError;
use aws_lc_rs::cipher::{
    AES_128, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const MAC_LEN: usize = 32;
const BLOCK: usize = 16;
/// How far in the future a token's timestamp may be (the spec's tests imply 60 s).
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// Keys may come with or without `=` padding.
const KEY_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One Fernet key, ready to make and open tokens. `Debug` shows nothing of it.
pub struct Fernet {
    signing: hmac::Key,
    encrypting: PaddedBlockEncryptingKey,
    decrypting: PaddedBlockDecryptingKey,
}

impl std::fmt::Debug for Fernet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fernet(..)")
    }
}

impl Fernet {
    /// Parses a key: url-safe base64 of 32 bytes (padding optional, surrounding whitespace
    /// ignored).
    pub fn new(key: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            KEY_B64
                .decode(key.trim_ascii())
                .map_err(|_| CryptoError::FernetKey)?,
        );
        let bytes: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::FernetKey)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from its 32 raw bytes (signing key first, then encryption key).
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        let (signing, encryption) = key.split_at(16);
        let cipher = || UnboundCipherKey::new(&AES_128, encryption).expect("a 16-byte AES key");
        Self {
            signing: hmac::Key::new(hmac::HMAC_SHA256, signing),
            encrypting: PaddedBlockEncryptingKey::cbc_pkcs7(cipher()).expect("AES-128-CBC"),
            decrypting: PaddedBlockDecryptingKey::cbc_pkcs7(cipher()).expect("AES-128-CBC"),
        }
    }

    /// A fresh random key in the usual text form (url-safe base64 with padding).
    pub fn generate_key() -> Zeroizing<String> {
        let bytes = Zeroizing::new(super::random_bytes::<32>());
        Zeroizing::new(URL_SAFE.encode(bytes.as_ref()))
    }

    /// A token for `plaintext` stamped `now_unix` (seconds), with a random IV.
    ///
    /// # Panics
    /// Only if the operating system's random generator fails.
    pub fn encrypt(&self, plaintext: &[u8], now_unix: u64) -> String {
        self.encrypt_at(plaintext, now_unix, super::random_bytes())
    }

    /// A token with a given timestamp and IV. The IV must be unpredictable and never reused
    /// for real data: this exists for tests against fixed vectors; use [`Fernet::encrypt`].
    pub fn encrypt_at(&self, plaintext: &[u8], now_unix: u64, iv: [u8; 16]) -> String {
        let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
        // Room for the padding up front: the plaintext is never copied by a reallocation.
        let mut body = Zeroizing::new(Vec::with_capacity(padded_len));
        body.extend_from_slice(plaintext);
        self.encrypting
            .less_safe_encrypt(&mut *body, EncryptionContext::Iv128(iv.into()))
            .expect("AES-CBC encrypts any input with a 16-byte IV");
        let mut token = Vec::with_capacity(HEADER_LEN + body.len() + MAC_LEN);
        token.push(VERSION);
        token.extend_from_slice(&now_unix.to_be_bytes());
        token.extend_from_slice(&iv);
        token.extend_from_slice(&body);
        let mac = hmac::sign(&self.signing, &token);
        token.extend_from_slice(mac.as_ref());
        URL_SAFE.encode(token)
    }

    /// Opens a token: see the module documentation for the checks and their order. `now_unix`
    /// is the current time in seconds; `ttl` the maximum age in seconds, if any.
    pub fn decrypt(
        &self,
        token: &str,
        now_unix: u64,
        ttl: Option<u64>,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let data = URL_SAFE.decode(token).map_err(|_| CryptoError::Malformed)?;
        let body_len = data
            .len()
            .checked_sub(HEADER_LEN + MAC_LEN)
            .ok_or(CryptoError::Malformed)?;
        if data[0] != VERSION || body_len == 0 || body_len % BLOCK != 0 {
            return Err(CryptoError::Malformed);
        }
        let (signed, mac) = data.split_at(data.len() - MAC_LEN);
        hmac::verify(&self.signing, signed, mac).map_err(|_| CryptoError::Decrypt)?;

        let timestamp = u64::from_be_bytes(signed[1..9].try_into().expect("8 bytes"));
        if let Some(ttl) = ttl {
            if timestamp.saturating_add(ttl) < now_unix {
                return Err(CryptoError::TokenExpired);
            }
            if now_unix.saturating_add(MAX_CLOCK_SKEW_SECS) < timestamp {
                return Err(CryptoError::TokenFromFuture);
            }
        }
        let iv: [u8; 16] = signed[9..HEADER_LEN].try_into().expect("16 bytes");
        let mut plain = Zeroizing::new(signed[HEADER_LEN..].to_vec());
        let len = self
            .decrypting
            .decrypt(&mut plain, DecryptionContext::Iv128(iv.into()))
            .map_err(|_| CryptoError::Decrypt)?
            .len();
        plain.truncate(len);
        Ok(plain)
    }
}
