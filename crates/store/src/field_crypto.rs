//! Field encryption of personal data inside the store: account e-mail addresses are kept
//! encrypted at rest and found by a blind index.
//!
//! The store holds no key. The gateway installs a [`FieldCrypto`] (its keyring) with
//! [`EmailStore::set_field_crypto`]; from then on every backend:
//! - writes a user's e-mail as `email_enc` (a field ciphertext bound to table `users`, column
//!   `email` and the user's id, so a ciphertext copied to another row does not decrypt) and
//!   `email_index` (the blind index of the normalized address in domain [`EMAIL_INDEX_DOMAIN`],
//!   UNIQUE: the uniqueness check and [`crate::identity::IdentityStore::user_by_email`] use
//!   it), and leaves the plaintext `email` column NULL;
//! - decrypts `email_enc` on every read, so callers keep receiving
//!   [`crate::identity::UserRecord`]s with the plaintext address and never see the difference.
//!
//! Service accounts' `svc:NAME` handles are treated exactly like addresses (encrypted and
//! indexed): one rule for every row, and no query ever carries a plaintext address.
//!
//! Rows written before crypto was installed (or by a store without it) keep their plaintext in
//! `email`; [`EmailStore::users_seal_emails`] encrypts them in batches (the gateway runs it at
//! start until nothing is left), idempotently: a row is sealed with a compare-and-swap on its
//! plaintext, and rows already sealed are never selected. Key rotation re-encrypts `email_enc`
//! with [`EmailStore::user_email_ciphertexts`] and [`EmailStore::user_email_replace_ciphertext`]
//! (compare-and-swap), and [`EmailStore::users_count_email_by_key`] counts the ciphertexts
//! still under a key (from the key id in the text, without decrypting).
//!
//! Without a [`FieldCrypto`] installed the store behaves as before (plaintext), so store unit
//! tests need no keyring; reading a sealed row then fails with [`StoreError::Query`] rather than
//! returning anything but the address.
//!
//! What the blind index leaks, by design: which rows share an address (none, as it is unique).

use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use std::sync::{Arc, RwLock};
use uuid::Uuid;
use zeroize::Zeroizing;

/// The table and column an e-mail ciphertext is bound to (with the user's id as row id).
pub const USERS_TABLE: &str = "users";
/// The column an e-mail ciphertext is bound to.
pub const EMAIL_COLUMN: &str = "email";
/// The blind-index domain of e-mail addresses.
pub const EMAIL_INDEX_DOMAIN: &str = "users.email";

/// Encryption and blind indexing as the store needs them; implemented by the gateway's keyring.
#[async_trait]
pub trait FieldCrypto: Send + Sync {
    /// A field ciphertext of `plaintext` bound to `table`, `column` and `row_id`.
    fn encrypt(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        plaintext: &str,
    ) -> StoreResult<String>;
    /// The plaintext of a value made by [`FieldCrypto::encrypt`] for the same place. Errors
    /// carry neither the plaintext nor the ciphertext.
    async fn decrypt(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        ciphertext: &str,
    ) -> StoreResult<Zeroizing<String>>;
    /// The blind index of `value` in `domain`.
    fn index(&self, domain: &str, value: &str) -> StoreResult<String>;
}

/// E-mail encryption operations every durable store offers (see the module docs); checked by
/// `conformance::email_encryption_suite`.
#[async_trait]
pub trait EmailStore: Send + Sync {
    /// Installs (or replaces) the crypto used for e-mail addresses from now on.
    fn set_field_crypto(&self, crypto: Arc<dyn FieldCrypto>);
    /// Encrypts and indexes up to `limit` rows whose e-mail is still plaintext and returns how
    /// many it sealed (0: none left). Fails when no crypto is installed.
    async fn users_seal_emails(&self, limit: u32) -> StoreResult<u64>;
    /// `(user id, email_enc)` of sealed rows, by id, after `after`, at most `limit`.
    async fn user_email_ciphertexts(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, String)>>;
    /// Replaces the user's `email_enc` if it is still `old`; false otherwise.
    async fn user_email_replace_ciphertext(
        &self,
        id: Uuid,
        old: &str,
        new: &str,
    ) -> StoreResult<bool>;
    /// How many e-mail ciphertexts name `key_id`.
    async fn users_count_email_by_key(&self, key_id: &str) -> StoreResult<u64>;
}

/// Where a backend keeps its installed crypto (shared by clones of the store).
#[derive(Clone, Default)]
pub(crate) struct CryptoSlot(Arc<RwLock<Option<Arc<dyn FieldCrypto>>>>);

impl std::fmt::Debug for CryptoSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CryptoSlot(installed: {})", self.get().is_some())
    }
}

impl CryptoSlot {
    pub(crate) fn get(&self) -> Option<Arc<dyn FieldCrypto>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, crypto: Arc<dyn FieldCrypto>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(crypto);
    }

    /// The installed crypto, or the error saying sealing needs one.
    pub(crate) fn required(&self) -> StoreResult<Arc<dyn FieldCrypto>> {
        self.get().ok_or_else(|| {
            StoreError::Query("no field crypto installed: e-mails cannot be sealed".into())
        })
    }
}

/// How a user's e-mail is written: plaintext without crypto, else index and ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedEmail {
    pub(crate) plain: Option<String>,
    pub(crate) index: Option<String>,
    pub(crate) enc: Option<String>,
}

pub(crate) fn seal_email(
    crypto: Option<&dyn FieldCrypto>,
    id: Uuid,
    email: &str,
) -> StoreResult<SealedEmail> {
    Ok(match crypto {
        None => SealedEmail {
            plain: Some(email.to_string()),
            index: None,
            enc: None,
        },
        Some(c) => SealedEmail {
            plain: None,
            index: Some(c.index(EMAIL_INDEX_DOMAIN, email)?),
            enc: Some(c.encrypt(USERS_TABLE, EMAIL_COLUMN, &id.to_string(), email)?),
        },
    })
}

/// The address a stored row holds: the decrypted `email_enc` when sealed, else `email`.
pub(crate) async fn open_email(
    crypto: Option<&dyn FieldCrypto>,
    id: Uuid,
    plain: Option<String>,
    enc: Option<String>,
) -> StoreResult<String> {
    match (enc, crypto) {
        (Some(enc), Some(c)) => {
            let plain = c
                .decrypt(USERS_TABLE, EMAIL_COLUMN, &id.to_string(), &enc)
                .await
                .map_err(|e| {
                    StoreError::Query(format!("the e-mail of user {id} does not decrypt: {e}"))
                })?;
            Ok(plain.as_str().to_string())
        }
        (Some(_), None) => Err(StoreError::Query(format!(
            "the e-mail of user {id} is encrypted and no field crypto is installed"
        ))),
        (None, _) => {
            plain.ok_or_else(|| StoreError::Query(format!("user {id} has no e-mail stored")))
        }
    }
}

/// A user row as stored: the record (its `email` not yet filled) and the e-mail columns.
pub(crate) struct StoredUser {
    pub(crate) user: crate::identity::UserRecord,
    pub(crate) plain: Option<String>,
    pub(crate) enc: Option<String>,
}

impl StoredUser {
    /// The record with its plaintext address (decrypted when the row is sealed).
    pub(crate) async fn reveal(
        self,
        crypto: Option<&dyn FieldCrypto>,
    ) -> StoreResult<crate::identity::UserRecord> {
        let mut user = self.user;
        user.email = open_email(crypto, user.id, self.plain, self.enc).await?;
        Ok(user)
    }
}

/// Reveals each stored row in turn.
pub(crate) async fn reveal_all(
    rows: Vec<StoredUser>,
    crypto: Option<&dyn FieldCrypto>,
) -> StoreResult<Vec<crate::identity::UserRecord>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(row.reveal(crypto).await?);
    }
    Ok(out)
}

/// True when the field ciphertext `text` names `key_id`.
pub(crate) fn key_id_matches(text: &str, key_id: &str) -> bool {
    text.starts_with(&crate::secrets::key_prefix(key_id))
}
