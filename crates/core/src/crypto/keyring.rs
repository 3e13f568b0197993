//! Data keys: the AES-256 keys that encrypt fields, each with an id (`dk-<uuidv7>`), a creation
//! time and a state. Exactly one key is primary (encrypts new values); older keys are
//! decrypt-only until a re-encryption job has moved their values to the primary, then retired
//! (they can no longer decrypt).
//!
//! Stored form: [`WrappedDataKey`], the key bytes sealed with AES-256-GCM under the master key's
//! [`PURPOSE_DATAKEY_WRAP`] sub-key. `wrapped = nonce (12 bytes) ‖ ciphertext (32) ‖ tag (16)`,
//! associated data `"palisade.datakey.v1" ‖ key id` (the label has a fixed length, so the
//! concatenation is unambiguous), so a wrapped key copied under another id does not unwrap.
//! The state and creation time are not authenticated: whoever can write the key table can
//! already delete keys; they can at worst make a decrypt-only key primary again.
//!
//! Guarantees: the master key is not kept (only its wrapping and blind-index sub-keys are);
//! retired keys are never unwrapped; `Debug` shows ids and states, never key bytes.

use super::master::{PURPOSE_BLIND_INDEX, PURPOSE_DATAKEY_WRAP};
use super::{BlindIndex, CryptoError, MasterKeyProvider};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const WRAP_AAD_LABEL: &[u8] = b"palisade.datakey.v1";
const KEY_ID_PREFIX: &str = "dk-";
const MAX_KEY_ID_LEN: usize = 64;

/// What a data key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Encrypts new values (exactly one key) and decrypts.
    Primary,
    /// Decrypts old values only.
    DecryptOnly,
    /// Can no longer decrypt.
    Retired,
}

/// A data key as persisted: its bytes only in wrapped form.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedDataKey {
    /// The key's id, named in every ciphertext it makes.
    pub id: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at: u64,
    /// Primary, decrypt-only or retired.
    pub state: KeyState,
    /// `nonce ‖ ciphertext ‖ tag`, see the module documentation.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Public facts about a data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id.
    pub id: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at: u64,
    /// Primary, decrypt-only or retired.
    pub state: KeyState,
}

struct Entry {
    record: WrappedDataKey,
    /// `None` exactly when the key is retired.
    key: Option<LessSafeKey>,
}

/// The data keys in memory, ready to encrypt and decrypt fields ([`crate::crypto::field`]).
pub struct Keyring {
    wrap: LessSafeKey,
    blind: BlindIndex,
    entries: Vec<Entry>,
    primary: usize,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<(&str, KeyState)> = self
            .entries
            .iter()
            .map(|e| (e.record.id.as_str(), e.record.state))
            .collect();
        f.debug_struct("Keyring").field("keys", &keys).finish()
    }
}

/// Whether `id` may be a data key id: 1 to 64 characters of `A-Z a-z 0-9 - _` (so it never
/// contains the `.` that separates the parts of a field ciphertext).
pub fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn aes_key(bytes: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key"))
}

fn wrap_aad(id: &str) -> Vec<u8> {
    [WRAP_AAD_LABEL, id.as_bytes()].concat()
}

impl Keyring {
    /// A new keyring with one fresh primary key created at `now_ms`. Persist
    /// [`Keyring::wrapped_keys`] afterwards.
    pub fn create(provider: &dyn MasterKeyProvider, now_ms: u64) -> Result<Self, CryptoError> {
        let (wrap, blind) = Self::sub_keys(provider)?;
        let mut ring = Self {
            wrap,
            blind,
            entries: Vec::new(),
            primary: 0,
        };
        ring.add_primary(now_ms);
        Ok(ring)
    }

    /// Loads stored keys: unwraps every non-retired key and checks that ids are well formed and
    /// unique and that exactly one key is primary.
    pub fn load(
        provider: &dyn MasterKeyProvider,
        stored: &[WrappedDataKey],
    ) -> Result<Self, CryptoError> {
        let (wrap, blind) = Self::sub_keys(provider)?;
        let mut entries = Vec::with_capacity(stored.len());
        let mut primary = None;
        for (i, record) in stored.iter().enumerate() {
            if !is_valid_key_id(&record.id) {
                return Err(CryptoError::InvalidKeyring(format!(
                    "key id {:?} is not 1-64 characters of A-Z a-z 0-9 - _",
                    record.id
                )));
            }
            if stored[..i].iter().any(|r| r.id == record.id) {
                return Err(CryptoError::InvalidKeyring(format!(
                    "key id {} appears twice",
                    record.id
                )));
            }
            if record.state == KeyState::Primary && primary.replace(i).is_some() {
                return Err(CryptoError::InvalidKeyring(
                    "more than one primary key".to_string(),
                ));
            }
            let key = match record.state {
                KeyState::Retired => None,
                _ => Some(aes_key(&unwrap(&wrap, record)?[..])),
            };
            entries.push(Entry {
                record: record.clone(),
                key,
            });
        }
        let primary =
            primary.ok_or_else(|| CryptoError::InvalidKeyring("no primary key".to_string()))?;
        Ok(Self {
            wrap,
            blind,
            entries,
            primary,
        })
    }

    fn sub_keys(
        provider: &dyn MasterKeyProvider,
    ) -> Result<(LessSafeKey, BlindIndex), CryptoError> {
        let master = provider.master_key()?;
        let wrap = aes_key(master.derive(PURPOSE_DATAKEY_WRAP).as_ref());
        let blind = BlindIndex::new(&master.derive(PURPOSE_BLIND_INDEX));
        Ok((wrap, blind))
    }

    /// Generates a key, wraps it and makes it primary (the previous primary, if any, becomes
    /// decrypt-only). Returns the new key's id.
    fn add_primary(&mut self, now_ms: u64) -> &str {
        let id = new_key_id(now_ms);
        let bytes = Zeroizing::new(super::random_bytes::<32>());
        let nonce = super::random_bytes::<NONCE_LEN>();
        let mut sealed = Vec::with_capacity(NONCE_LEN + 32 + AES_256_GCM.tag_len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(bytes.as_ref());
        let tag = self
            .wrap
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(&id)),
                &mut sealed[NONCE_LEN..],
            )
            .expect("sealing 32 bytes succeeds");
        sealed.extend_from_slice(tag.as_ref());
        if let Some(old) = self.entries.get_mut(self.primary) {
            old.record.state = KeyState::DecryptOnly;
        }
        self.entries.push(Entry {
            record: WrappedDataKey {
                id,
                created_at: now_ms,
                state: KeyState::Primary,
                wrapped: sealed,
            },
            key: Some(aes_key(bytes.as_ref())),
        });
        self.primary = self.entries.len() - 1;
        &self.entries[self.primary].record.id
    }

    /// A new primary key; the old primary becomes decrypt-only. Returns the new key's id.
    /// Persist [`Keyring::wrapped_keys`] afterwards.
    pub fn rotate(&mut self, now_ms: u64) -> &str {
        self.add_primary(now_ms)
    }

    /// Retires a decrypt-only key: values still encrypted under it can no longer be read.
    /// Refuses the primary key. Retiring a retired key does nothing.
    pub fn retire(&mut self, id: &str) -> Result<(), CryptoError> {
        let index = self.index_of(id)?;
        if index == self.primary {
            return Err(CryptoError::RetirePrimary { id: id.to_string() });
        }
        let entry = &mut self.entries[index];
        entry.record.state = KeyState::Retired;
        entry.key = None;
        Ok(())
    }

    /// The id new values are encrypted under.
    pub fn primary_id(&self) -> &str {
        &self.entries[self.primary].record.id
    }

    /// Every key's id, creation time and state, oldest first.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.entries
            .iter()
            .map(|e| KeyInfo {
                id: e.record.id.clone(),
                created_at: e.record.created_at,
                state: e.record.state,
            })
            .collect()
    }

    /// The keys in their stored form, oldest first.
    pub fn wrapped_keys(&self) -> Vec<WrappedDataKey> {
        self.entries.iter().map(|e| e.record.clone()).collect()
    }

    /// The blind index keyed by the master key's [`PURPOSE_BLIND_INDEX`] sub-key.
    pub fn blind_index(&self) -> &BlindIndex {
        &self.blind
    }

    fn index_of(&self, id: &str) -> Result<usize, CryptoError> {
        self.entries
            .iter()
            .position(|e| e.record.id == id)
            .ok_or_else(|| CryptoError::UnknownKey { id: id.to_string() })
    }

    /// The primary key and its id.
    pub(super) fn primary_key(&self) -> (&str, &LessSafeKey) {
        let entry = &self.entries[self.primary];
        let key = entry
            .key
            .as_ref()
            .expect("the primary key is never retired");
        (&entry.record.id, key)
    }

    /// The key with `id`, if it may decrypt.
    pub(super) fn decrypting_key(&self, id: &str) -> Result<&LessSafeKey, CryptoError> {
        let entry = &self.entries[self.index_of(id)?];
        entry
            .key
            .as_ref()
            .ok_or_else(|| CryptoError::KeyRetired { id: id.to_string() })
    }
}

fn new_key_id(now_ms: u64) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        now_ms / 1000,
        ((now_ms % 1000) * 1_000_000) as u32,
    );
    format!("{KEY_ID_PREFIX}{}", uuid::Uuid::new_v7(ts))
}

fn unwrap(wrap: &LessSafeKey, record: &WrappedDataKey) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let fail = || CryptoError::Unwrap {
        id: record.id.clone(),
    };
    if record.wrapped.len() != NONCE_LEN + 32 + AES_256_GCM.tag_len() {
        return Err(fail());
    }
    let (nonce, sealed) = record.wrapped.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    let len = wrap
        .open_in_place(nonce, Aad::from(wrap_aad(&record.id)), buf.as_mut_slice())
        .map_err(|_| fail())?
        .len();
    buf.truncate(len);
    Ok(buf)
}
