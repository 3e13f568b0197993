//! Field encryption: one column value sealed with AES-256-GCM under the keyring's primary data
//! key, with a fresh random 96-bit nonce per value, and bound to where it belongs.
//!
//! Text format (ASCII, safe in any text column):
//!
//! ```text
//! field-ciphertext = "pal1." key-id "." payload
//! key-id           = 1*64( ALPHA / DIGIT / "-" / "_" )       ; e.g. dk-<uuidv7>
//! payload          = base64url, no padding (RFC 4648 §5, canonical trailing bits)
//!                    of nonce (12 bytes) ‖ ciphertext (len(plaintext) bytes) ‖ tag (16 bytes)
//! ```
//!
//! Associated data (authenticated, not stored), every part length-prefixed so that
//! ("ab", "c") and ("a", "bc") differ:
//!
//! ```text
//! aad     = part("palisade.field.v1") ‖ part(key-id) ‖ part(table) ‖ part(column) ‖ part(row-id)
//! part(x) = u64 big-endian byte length of x ‖ the UTF-8 bytes of x
//! ```
//!
//! So a ciphertext copied to another row, column or table, or relabelled with another key id,
//! fails to decrypt. Every authentication failure is the same opaque [`CryptoError::Decrypt`];
//! a text that is not in the format is [`CryptoError::Malformed`]. Decrypted values come back
//! in [`Zeroizing`] buffers.

use super::keyring::is_valid_key_id;
use super::{CryptoError, Keyring};
use aws_lc_rs::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

const PREFIX: &str = "pal1.";
const AAD_LABEL: &str = "palisade.field.v1";
const TAG_LEN: usize = 16;

/// Where a value lives. All three parts are bound into the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldContext<'a> {
    /// The table the value is stored in.
    pub table: &'a str,
    /// The column the value is stored in.
    pub column: &'a str,
    /// The row's stable identifier (primary key) as text.
    pub row_id: &'a str,
}

impl<'a> FieldContext<'a> {
    /// The context of a value at (`table`, `column`, `row_id`).
    pub fn new(table: &'a str, column: &'a str, row_id: &'a str) -> Self {
        Self {
            table,
            column,
            row_id,
        }
    }

    /// The associated data for this context under `key_id`, as documented above.
    fn aad(&self, key_id: &str) -> Vec<u8> {
        let parts = [AAD_LABEL, key_id, self.table, self.column, self.row_id];
        let mut out = Vec::with_capacity(parts.iter().map(|p| 8 + p.len()).sum());
        for part in parts {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The key id of a field ciphertext, without decrypting it (for the re-encryption job: values
/// whose key id is not the primary's need re-encrypting). `None` when `text` is not in the
/// format.
pub fn key_id_of(text: &str) -> Option<&str> {
    let (key_id, _) = text.strip_prefix(PREFIX)?.split_once('.')?;
    is_valid_key_id(key_id).then_some(key_id)
}

/// Seals `plaintext` with an explicit nonce and returns `nonce ‖ ciphertext ‖ tag`.
fn seal(key: &LessSafeKey, nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..],
        )
        .expect("AES-GCM seals any field-sized input");
    out.extend_from_slice(tag.as_ref());
    out
}

/// Opens `nonce ‖ ciphertext ‖ tag` in place; the plaintext is returned at the buffer's start.
fn open(
    key: &LessSafeKey,
    aad: &[u8],
    mut sealed: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])
        .map_err(|_| CryptoError::Malformed)?;
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut sealed[NONCE_LEN..])
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    sealed.copy_within(NONCE_LEN..NONCE_LEN + len, 0);
    sealed.truncate(len);
    Ok(sealed)
}

impl Keyring {
    /// Encrypts `plaintext` for `ctx` under the primary key, with a fresh random nonce.
    ///
    /// # Panics
    /// Only if the operating system's random generator fails.
    pub fn encrypt_field(&self, ctx: &FieldContext<'_>, plaintext: &[u8]) -> String {
        let (key_id, key) = self.primary_key();
        let sealed = seal(key, super::random_bytes(), &ctx.aad(key_id), plaintext);
        let mut out = String::with_capacity(
            PREFIX.len() + key_id.len() + 1 + base64::encoded_len(sealed.len(), false).unwrap_or(0),
        );
        out.push_str(PREFIX);
        out.push_str(key_id);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sealed, &mut out);
        out
    }

    /// Decrypts a value produced by [`Keyring::encrypt_field`] for the same `ctx`, under the key
    /// named in the text if the keyring holds it and it is not retired.
    pub fn decrypt_field(
        &self,
        ctx: &FieldContext<'_>,
        text: &str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key_id = key_id_of(text).ok_or(CryptoError::Malformed)?;
        let payload = &text[PREFIX.len() + key_id.len() + 1..];
        let key = self.decrypting_key(key_id)?;
        let sealed = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| CryptoError::Malformed)?,
        );
        open(key, &ctx.aad(key_id), sealed)
    }
}

/// The AEAD the field format is built on, taking key, nonce and associated data explicitly:
/// lets tests check [`seal`] and [`open`] against published vectors.
#[cfg(test)]
pub(crate) mod raw {
    use super::*;
    use aws_lc_rs::aead::{AES_256_GCM, UnboundKey};

    fn key(bytes: &[u8; 32]) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes"))
    }

    pub(crate) fn seal(k: &[u8; 32], nonce: [u8; NONCE_LEN], aad: &[u8], pt: &[u8]) -> Vec<u8> {
        super::seal(&key(k), nonce, aad, pt)
    }

    pub(crate) fn open(k: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        super::open(&key(k), aad, Zeroizing::new(sealed.to_vec())).map(|p| p.to_vec())
    }

    pub(crate) fn aad(ctx: &FieldContext<'_>, key_id: &str) -> Vec<u8> {
        ctx.aad(key_id)
    }
}
