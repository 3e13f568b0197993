//! The field-encryption keyring as the gateway runs it: loaded from (or created in) the store
//! with the master key provider at start, rotated and retired there, and the re-encryption job
//! that moves every stored ciphertext to the primary key.
//!
//! Guarantees:
//! - Exactly one primary key in the store (its unique index); a rotation racing another replica
//!   fails with [`KeyringError::Raced`] and changes nothing.
//! - A ciphertext naming a key this process does not know (another replica rotated) makes it
//!   reload the keyring from the store once before failing.
//! - A key is retired only when no stored ciphertext uses it ([`KeyringError::InUse`] with the
//!   count otherwise); the count reads the key id in each ciphertext's text (`key_id_of`), so it
//!   needs no decryption. Retiring erases the wrapped key bytes.
//! - The re-encryption job decrypts each old ciphertext with its own path-and-version context
//!   and writes the new one with compare-and-swap, so a concurrent write is never overwritten;
//!   it logs progress per page and publishes `palisade_keyring_reencrypt_remaining` (gauge) and
//!   `palisade_keyring_reencrypt_done_total` (counter). A value that does not decrypt is logged
//!   (path and version, never the value) and counted as failed; it keeps its old key in use.
//! - No plaintext, key byte or ciphertext is logged or put in an error.
//! - Account e-mail addresses: [`KeyringService::protect_emails`] installs the keyring into the
//!   store as its [`FieldCrypto`] (through a weak reference, so store and keyring do not keep
//!   each other alive: the caller keeps the `Arc<KeyringService>`) and seals every plaintext
//!   address left from before, in batches, logging the count. The re-encryption job and the
//!   retire check cover `users.email_enc` exactly like secret versions.

use palisade_core::clock::SharedClock;
use palisade_core::crypto::{
    CryptoError, FieldContext, KeyInfo, KeyState, Keyring, MasterKeyProvider, key_id_of,
};
use palisade_store::field_crypto::{EMAIL_COLUMN, FieldCrypto, USERS_TABLE};
use palisade_store::secrets::SecretRef;
use palisade_store::{SharedStore, StoreError};
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

/// Versions the re-encryption job reads per page.
pub const REENCRYPT_PAGE: u32 = 200;

/// Why a keyring operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ciphertext or key did not open.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(
        "data key {id} still encrypts {count} stored value(s); run the re-encryption job first"
    )]
    /// The key still encrypts stored values.
    InUse {
        /// The key.
        id: String,
        /// Values still encrypted under it.
        count: u64,
    },
    /// No key has this id.
    #[error("no data key {id}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The primary key cannot be retired.
    #[error("data key {id} is the primary key: rotate before retiring it")]
    IsPrimary {
        /// The primary key's id.
        id: String,
    },
    /// Another replica or command changed the keyring meanwhile.
    #[error("the keyring changed meanwhile (another replica or command): {0}; retry")]
    Raced(String),
}

/// What one run of the re-encryption job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Ciphertexts moved to the primary key.
    pub done: u64,
    /// Ciphertexts that did not decrypt (left as they were).
    pub failed: u64,
    /// Ciphertexts still under a key other than the primary after the run.
    pub remaining: u64,
}

/// The field context of a secret version's value: the path and version are bound in, so a
/// ciphertext copied to another path or version does not decrypt.
pub fn secret_context(row_id: &str) -> FieldContext<'_> {
    FieldContext::new("secret_versions", "ciphertext", row_id)
}

/// The row id of a secret version in its field context (`path@vN`; paths hold no `@`).
pub fn secret_row_id(path: &str, version: u32) -> String {
    format!("{path}@v{version}")
}

/// The field-encryption keyring: data keys unwrapped under the master key, rotation,
/// re-encryption and retirement.
pub struct KeyringService {
    store: SharedStore,
    provider: Arc<dyn MasterKeyProvider>,
    clock: SharedClock,
    ring: RwLock<Arc<Keyring>>,
    job: tokio::sync::Mutex<()>,
    /// Reloads caused by unknown key ids, at most one per [`MISS_RELOAD_INTERVAL_MS`].
    miss_reload: palisade_core::clock::AtMostEvery,
}

/// At most one reload per this many milliseconds is triggered by unknown key ids, so a caller
/// sending ciphertexts with made-up key ids cannot turn each request into a store read.
pub const MISS_RELOAD_INTERVAL_MS: u64 = 1000;

impl std::fmt::Debug for KeyringService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringService")
            .field("ring", &*self.current())
            .finish_non_exhaustive()
    }
}

impl KeyringService {
    /// Loads the keyring from the store, or creates it (one primary key) when the store has
    /// none. A replica creating it at the same moment wins or loses cleanly: the loser loads.
    pub async fn open(
        store: SharedStore,
        provider: Arc<dyn MasterKeyProvider>,
        clock: SharedClock,
    ) -> Result<Self, KeyringError> {
        let ring = Self::load_or_create(&store, provider.as_ref(), &clock).await?;
        Ok(Self {
            store,
            provider,
            clock,
            ring: RwLock::new(Arc::new(ring)),
            job: tokio::sync::Mutex::new(()),
            miss_reload: palisade_core::clock::AtMostEvery::new(MISS_RELOAD_INTERVAL_MS),
        })
    }

    /// What [`KeyringService::open`] would refuse, creating nothing (`config check --online`):
    /// the stored data keys must unwrap under `provider`. None stored is fine: the first start
    /// creates them.
    pub async fn check(
        store: &SharedStore,
        provider: &dyn MasterKeyProvider,
    ) -> Result<(), KeyringError> {
        let stored = store.data_keys_list().await?;
        if !stored.is_empty() {
            Keyring::load(provider, &stored)?;
        }
        Ok(())
    }

    async fn load_or_create(
        store: &SharedStore,
        provider: &dyn MasterKeyProvider,
        clock: &SharedClock,
    ) -> Result<Keyring, KeyringError> {
        let stored = store.data_keys_list().await?;
        if !stored.is_empty() {
            return Ok(Keyring::load(provider, &stored)?);
        }
        let ring = Keyring::create(provider, clock.now_millis())?;
        match store.data_key_insert_first(&ring.wrapped_keys()[0]).await {
            Ok(()) => {
                tracing::info!(key_id = ring.primary_id(), "created the data keyring");
                Ok(ring)
            }
            Err(StoreError::Conflict(_)) => {
                Ok(Keyring::load(provider, &store.data_keys_list().await?)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The keyring in use now.
    pub fn current(&self) -> Arc<Keyring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reloads the keys from the store (another replica or the CLI rotated or retired).
    pub async fn reload(&self) -> Result<(), KeyringError> {
        let ring = Keyring::load(self.provider.as_ref(), &self.store.data_keys_list().await?)?;
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(())
    }

    /// Encrypts under the primary key.
    pub fn encrypt(&self, ctx: &FieldContext<'_>, plaintext: &[u8]) -> String {
        self.current().encrypt_field(ctx, plaintext)
    }

    /// Decrypts; a key id this process does not hold yet makes it reload once and try again
    /// (at most one such reload per [`MISS_RELOAD_INTERVAL_MS`]).
    pub async fn decrypt(
        &self,
        ctx: &FieldContext<'_>,
        text: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        match self.current().decrypt_field(ctx, text) {
            Err(e @ CryptoError::UnknownKey { .. }) => {
                if !self.miss_reload.try_pass(self.clock.now_millis()) {
                    return Err(e.into());
                }
                self.reload().await?;
                Ok(self.current().decrypt_field(ctx, text)?)
            }
            other => Ok(other?),
        }
    }

    /// Every key's id, creation time and state (from the store, so other replicas' changes show).
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, KeyringError> {
        self.reload().await?;
        Ok(self.current().keys())
    }

    /// Makes a new primary key and persists it; the old primary becomes decrypt-only. Returns the
    /// new key's id. Run the re-encryption job afterwards.
    pub async fn rotate(&self) -> Result<String, KeyringError> {
        let mut ring = Keyring::load(self.provider.as_ref(), &self.store.data_keys_list().await?)?;
        let previous = ring.primary_id().to_string();
        let id = ring.rotate(self.clock.now_millis()).to_string();
        let new = ring
            .wrapped_keys()
            .into_iter()
            .find(|k| k.id == id)
            .expect("the new key is in the keyring");
        match self.store.data_key_rotate(&previous, &new).await {
            Ok(()) => {}
            Err(StoreError::Conflict(why)) => {
                let _ = self.reload().await;
                return Err(KeyringError::Raced(why));
            }
            Err(e) => return Err(e.into()),
        }
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        tracing::info!(key_id = %id, previous = %previous, "rotated the data key");
        Ok(id)
    }

    /// Retires a decrypt-only key, refused while any stored ciphertext still uses it.
    pub async fn retire(&self, id: &str) -> Result<(), KeyringError> {
        self.reload().await?;
        let info = self
            .current()
            .keys()
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| KeyringError::NotFound { id: id.to_string() })?;
        match info.state {
            KeyState::Retired => return Ok(()),
            KeyState::Primary => return Err(KeyringError::IsPrimary { id: id.to_string() }),
            KeyState::DecryptOnly => {}
        }
        let count = self.count_by_key(id).await?;
        if count > 0 {
            return Err(KeyringError::InUse {
                id: id.to_string(),
                count,
            });
        }
        if !self.store.data_key_retire(id).await? {
            return Err(KeyringError::Raced(format!("data key {id} changed state")));
        }
        self.reload().await?;
        tracing::info!(key_id = %id, "retired the data key");
        Ok(())
    }

    /// Stored ciphertexts (secret versions and e-mail addresses) under `key_id`.
    async fn count_by_key(&self, key_id: &str) -> Result<u64, KeyringError> {
        Ok(self.store.secrets_count_by_key(key_id).await?
            + self.store.users_count_email_by_key(key_id).await?)
    }

    /// Installs this keyring as the store's e-mail crypto and seals every address still stored
    /// in plaintext (batches of [`REENCRYPT_PAGE`]); returns how many it sealed. Idempotent.
    /// Keep the `Arc` alive as long as the store is used: the store holds a weak reference.
    pub async fn protect_emails(self: &Arc<Self>) -> Result<u64, KeyringError> {
        self.store
            .set_field_crypto(Arc::new(EmailCrypto(Arc::downgrade(self))));
        let mut sealed = 0;
        loop {
            let n = self.store.users_seal_emails(REENCRYPT_PAGE).await?;
            if n == 0 {
                break;
            }
            sealed += n;
            tracing::info!(sealed, "e-mail encryption: sealing plaintext addresses");
        }
        if sealed > 0 {
            tracing::info!(sealed, "e-mail encryption: every stored address is sealed");
        }
        Ok(sealed)
    }

    /// Stored ciphertexts under a key that is neither primary nor retired.
    pub async fn remaining(&self) -> Result<u64, KeyringError> {
        let mut total = 0;
        for k in self.current().keys() {
            if k.state == KeyState::DecryptOnly {
                total += self.count_by_key(&k.id).await?;
            }
        }
        Ok(total)
    }

    /// The re-encryption job: walks every stored secret version and e-mail address and
    /// re-encrypts under the primary key each one that is not. One run at a time per process.
    pub async fn reencrypt_all(&self) -> Result<ReencryptReport, KeyringError> {
        let _running = self.job.lock().await;
        self.reload().await?;
        let ring = self.current();
        let mut job = Job::new(&ring, self.remaining().await?);
        if job.report.remaining == 0 {
            return Ok(job.report);
        }
        tracing::info!(remaining = job.report.remaining, primary = %job.primary, "re-encryption started");
        let mut after: Option<SecretRef> = None;
        loop {
            let page = self
                .store
                .secret_ciphertexts(after.as_ref(), REENCRYPT_PAGE)
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (at, old) in &page {
                let row_id = secret_row_id(&at.path, at.version);
                let Some(new) = job.reseal(&secret_context(&row_id), old, &row_id) else {
                    continue;
                };
                // A false answer: the value changed meanwhile (it was re-encrypted elsewhere).
                let replaced = self.store.secret_replace_ciphertext(at, old, &new).await?;
                job.moved(replaced);
            }
            job.log("secrets");
        }
        let mut after = None;
        loop {
            let page = self
                .store
                .user_email_ciphertexts(after, REENCRYPT_PAGE)
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (user_id, old) in &page {
                let row_id = user_id.to_string();
                let ctx = FieldContext::new(USERS_TABLE, EMAIL_COLUMN, &row_id);
                let Some(new) = job.reseal(&ctx, old, &row_id) else {
                    continue;
                };
                let replaced = self
                    .store
                    .user_email_replace_ciphertext(*user_id, old, &new)
                    .await?;
                job.moved(replaced);
            }
            job.log("e-mails");
        }
        job.report.remaining = self.remaining().await?;
        job.gauge.set(job.report.remaining as f64);
        tracing::info!(
            done = job.report.done,
            failed = job.report.failed,
            remaining = job.report.remaining,
            "re-encryption finished"
        );
        Ok(job.report)
    }
}

/// One run of the re-encryption job: the keyring it uses, its counts and their metrics.
struct Job {
    ring: Arc<Keyring>,
    primary: String,
    report: ReencryptReport,
    gauge: metrics::Gauge,
    done_total: metrics::Counter,
}

impl Job {
    fn new(ring: &Arc<Keyring>, remaining: u64) -> Self {
        let job = Self {
            ring: ring.clone(),
            primary: ring.primary_id().to_string(),
            report: ReencryptReport {
                remaining,
                ..Default::default()
            },
            gauge: metrics::gauge!("palisade_keyring_reencrypt_remaining"),
            done_total: metrics::counter!("palisade_keyring_reencrypt_done_total"),
        };
        job.gauge.set(remaining as f64);
        job
    }

    /// `old` encrypted again under the primary key; `None` when it already is, or when it does
    /// not decrypt (counted as failed and left as it is).
    fn reseal(&mut self, ctx: &FieldContext<'_>, old: &str, row: &str) -> Option<String> {
        if key_id_of(old) == Some(self.primary.as_str()) {
            return None;
        }
        match self.ring.decrypt_field(ctx, old) {
            Ok(plain) => Some(self.ring.encrypt_field(ctx, &plain)),
            Err(e) => {
                tracing::warn!(table = ctx.table, row, error = %e,
                    "re-encryption: a stored value does not decrypt; left as it is");
                self.report.failed += 1;
                None
            }
        }
    }

    /// Counts a value written back (`replaced`), or skipped because it changed meanwhile.
    fn moved(&mut self, replaced: bool) {
        if replaced {
            self.report.done += 1;
            self.done_total.increment(1);
            self.report.remaining = self.report.remaining.saturating_sub(1);
            self.gauge.set(self.report.remaining as f64);
        }
    }

    fn log(&self, what: &str) {
        tracing::info!(
            what,
            done = self.report.done,
            failed = self.report.failed,
            remaining = self.report.remaining,
            "re-encryption progress"
        );
    }
}

/// The keyring as the store's [`FieldCrypto`] for e-mail addresses (see
/// [`KeyringService::protect_emails`]).
struct EmailCrypto(std::sync::Weak<KeyringService>);

impl EmailCrypto {
    fn keyring(&self) -> Result<Arc<KeyringService>, StoreError> {
        self.0
            .upgrade()
            .ok_or_else(|| StoreError::Unavailable("the keyring has been dropped".into()))
    }
}

#[async_trait::async_trait]
impl FieldCrypto for EmailCrypto {
    fn encrypt(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        plaintext: &str,
    ) -> Result<String, StoreError> {
        let ctx = FieldContext::new(table, column, row_id);
        Ok(self.keyring()?.encrypt(&ctx, plaintext.as_bytes()))
    }

    async fn decrypt(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        ciphertext: &str,
    ) -> Result<Zeroizing<String>, StoreError> {
        let ctx = FieldContext::new(table, column, row_id);
        let bytes = self
            .keyring()?
            .decrypt(&ctx, ciphertext)
            .await
            .map_err(|e| StoreError::Query(e.to_string()))?;
        std::str::from_utf8(&bytes)
            .map(|s| Zeroizing::new(s.to_string()))
            .map_err(|_| StoreError::Query("a decrypted field is not UTF-8".into()))
    }

    fn index(&self, domain: &str, value: &str) -> Result<String, StoreError> {
        Ok(self
            .keyring()?
            .current()
            .blind_index()
            .index(domain, value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::vault::{Vault, VaultError};
    use palisade_core::clock::ManualClock;
    use palisade_core::crypto::MasterKey;
    use secrecy::{ExposeSecret, SecretString};
    use std::time::Duration;

    struct Fixed(MasterKey);
    impl MasterKeyProvider for Fixed {
        fn master_key(&self) -> Result<MasterKey, CryptoError> {
            Ok(self.0.clone())
        }
    }

    async fn sqlite(dir: &std::path::Path) -> SharedStore {
        Arc::new(
            palisade_store::sqlite::SqliteStore::open(&dir.join("p.db"))
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn rotation_end_to_end_reencrypts_everything_then_retires_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let clock: SharedClock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
        let provider: Arc<dyn MasterKeyProvider> = Arc::new(Fixed(MasterKey::generate()));
        let ring = Arc::new(
            KeyringService::open(store.clone(), provider.clone(), clock.clone())
                .await
                .unwrap(),
        );
        let vault = Vault::new(store.clone(), ring.clone(), clock.clone(), Duration::ZERO);
        let n = REENCRYPT_PAGE as usize + 7; // more than one page
        for i in 0..n {
            let path = format!("tenants/t{}/db/{i}", i % 3);
            vault
                .put(
                    &path,
                    &SecretString::from(format!("value-{i}")),
                    serde_json::Value::Null,
                    None,
                )
                .await
                .unwrap();
        }
        // A second version, and a deleted one: the job moves those too.
        vault
            .put(
                "tenants/t0/db/0",
                &SecretString::from("v2"),
                serde_json::Value::Null,
                None,
            )
            .await
            .unwrap();
        vault.delete("tenants/t1/db/1", None).await.unwrap();

        let old = ring.current().primary_id().to_string();
        let new = ring.rotate().await.unwrap();
        assert_ne!(old, new);
        assert_eq!(ring.remaining().await.unwrap(), n as u64 + 1);
        match ring.retire(&old).await {
            Err(KeyringError::InUse { count, .. }) => assert_eq!(count, n as u64 + 1),
            other => panic!("retiring a key in use must be refused: {other:?}"),
        }
        assert!(matches!(
            ring.retire(&new).await,
            Err(KeyringError::IsPrimary { .. })
        ));
        // A second replica (same store, same master key) still reads every value.
        let replica = Arc::new(
            KeyringService::open(store.clone(), provider.clone(), clock.clone())
                .await
                .unwrap(),
        );
        let report = ring.reencrypt_all().await.unwrap();
        assert_eq!(
            report,
            ReencryptReport {
                done: n as u64 + 1,
                failed: 0,
                remaining: 0
            }
        );
        assert_eq!(store.secrets_count_by_key(&old).await.unwrap(), 0);
        assert_eq!(
            store.secrets_count_by_key(&new).await.unwrap(),
            n as u64 + 1
        );
        ring.retire(&old).await.unwrap();
        // Both keys were made in the same millisecond: their order is the ids' (random) one.
        let mut states: Vec<_> = ring
            .keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.id == new, k.state))
            .collect();
        states.sort_by_key(|(is_new, _)| *is_new);
        assert_eq!(
            states,
            [(false, KeyState::Retired), (true, KeyState::Primary)]
        );

        let replica_vault = Vault::new(store.clone(), replica, clock.clone(), Duration::ZERO);
        assert!(matches!(
            vault.get("tenants/t1/db/1", None).await,
            Err(VaultError::NotFound)
        ));
        assert!(matches!(
            vault.get("tenants/t1/db/1", Some(1)).await,
            Err(VaultError::Deleted)
        ));
        vault.undelete("tenants/t1/db/1", 1).await.unwrap();
        for v in [&vault, &replica_vault] {
            for i in 0..n {
                let path = format!("tenants/t{}/db/{i}", i % 3);
                let got = v.get(&path, Some(1)).await.unwrap();
                assert_eq!(got.value.expose_secret(), format!("value-{i}"));
                assert_eq!(got.key_id, new);
            }
            assert_eq!(
                v.get("tenants/t0/db/0", None)
                    .await
                    .unwrap()
                    .value
                    .expose_secret(),
                "v2"
            );
        }
        // Nothing left to do: a second run is a no-op.
        assert_eq!(
            ring.reencrypt_all().await.unwrap(),
            ReencryptReport::default()
        );
    }

    fn user(email: &str) -> palisade_store::identity::UserRecord {
        palisade_store::identity::UserRecord {
            id: uuid::Uuid::now_v7(),
            external_id: None,
            email: email.into(),
            name: None,
            password_hash: None,
            roles: vec![],
            tier: "free".into(),
            kind: Default::default(),
            disabled: false,
            last_login_at: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[tokio::test]
    async fn emails_are_sealed_at_start_and_follow_key_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let clock: SharedClock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
        let provider: Arc<dyn MasterKeyProvider> = Arc::new(Fixed(MasterKey::generate()));
        // Written by an older gateway: plaintext.
        let n = REENCRYPT_PAGE as usize + 3;
        let users: Vec<_> = (0..n).map(|i| user(&format!("u{i}@example.com"))).collect();
        for u in &users {
            store.user_insert(u).await.unwrap();
        }
        let ring = Arc::new(
            KeyringService::open(store.clone(), provider.clone(), clock.clone())
                .await
                .unwrap(),
        );
        assert_eq!(ring.protect_emails().await.unwrap(), n as u64);
        assert_eq!(ring.protect_emails().await.unwrap(), 0, "idempotent");
        let old = ring.current().primary_id().to_string();
        assert_eq!(
            store.users_count_email_by_key(&old).await.unwrap(),
            n as u64
        );
        let new = ring.rotate().await.unwrap();
        assert_eq!(ring.remaining().await.unwrap(), n as u64);
        match ring.retire(&old).await {
            Err(KeyringError::InUse { count, .. }) => assert_eq!(count, n as u64),
            other => panic!("a key still encrypting e-mails must not retire: {other:?}"),
        }
        let report = ring.reencrypt_all().await.unwrap();
        assert_eq!(
            (report.done, report.failed, report.remaining),
            (n as u64, 0, 0)
        );
        assert_eq!(
            store.users_count_email_by_key(&new).await.unwrap(),
            n as u64
        );
        ring.retire(&old).await.unwrap();
        for u in &users {
            assert_eq!(
                store.user_by_email(&u.email).await.unwrap().as_ref(),
                Some(u)
            );
        }
        // A second process (same store, same master key) reads them after its own start.
        let other_store = sqlite(dir.path()).await;
        let other = Arc::new(
            KeyringService::open(other_store.clone(), provider, clock)
                .await
                .unwrap(),
        );
        assert_eq!(other.protect_emails().await.unwrap(), 0);
        assert_eq!(other_store.users_list(None, 1000).await.unwrap().len(), n);
        // The store holds the keyring weakly: once it is dropped, reads fail, never leak.
        drop(other);
        assert!(other_store.user_by_email("u1@example.com").await.is_err());
    }

    #[tokio::test]
    async fn a_ciphertext_copied_to_another_secret_does_not_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let clock: SharedClock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
        let provider: Arc<dyn MasterKeyProvider> = Arc::new(Fixed(MasterKey::generate()));
        let ring = Arc::new(
            KeyringService::open(store.clone(), provider, clock.clone())
                .await
                .unwrap(),
        );
        let vault = Vault::new(store.clone(), ring, clock, Duration::ZERO);
        let none = serde_json::Value::Null;
        vault
            .put("a/one", &SecretString::from("alpha"), none.clone(), None)
            .await
            .unwrap();
        vault
            .put("a/two", &SecretString::from("beta"), none.clone(), None)
            .await
            .unwrap();
        vault
            .put("a/two", &SecretString::from("gamma"), none, None)
            .await
            .unwrap();
        let one = store.secret_get("a/one", Some(1)).await.unwrap().unwrap();
        let two_v1 = store.secret_get("a/two", Some(1)).await.unwrap().unwrap();
        // Another path, same version: copy a/one's value over a/two v1.
        let at = palisade_store::secrets::SecretRef {
            path: "a/two".into(),
            version: 1,
        };
        assert!(
            store
                .secret_replace_ciphertext(&at, &two_v1.ciphertext, &one.ciphertext)
                .await
                .unwrap()
        );
        let err = vault.get("a/two", Some(1)).await.unwrap_err();
        assert!(matches!(err, VaultError::Undecryptable(_)), "{err}");
        assert!(!err.to_string().contains("alpha"), "{err}");
        // Same path, another version: copy v1's (original) value over v2.
        let two_v2 = store.secret_get("a/two", Some(2)).await.unwrap().unwrap();
        let at2 = palisade_store::secrets::SecretRef {
            path: "a/two".into(),
            version: 2,
        };
        assert!(
            store
                .secret_replace_ciphertext(&at2, &two_v2.ciphertext, &two_v1.ciphertext)
                .await
                .unwrap()
        );
        assert!(matches!(
            vault.get("a/two", None).await,
            Err(VaultError::Undecryptable(_))
        ));
        // The untouched value still reads.
        assert_eq!(
            vault
                .get("a/one", None)
                .await
                .unwrap()
                .value
                .expose_secret(),
            "alpha"
        );
    }

    #[tokio::test]
    async fn an_unknown_key_id_reloads_the_keyring_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path()).await;
        let manual = Arc::new(ManualClock::starting_at(1_700_000_000_000));
        let clock: SharedClock = manual.clone();
        let provider: Arc<dyn MasterKeyProvider> = Arc::new(Fixed(MasterKey::generate()));
        let a = Arc::new(
            KeyringService::open(store.clone(), provider.clone(), clock.clone())
                .await
                .unwrap(),
        );
        let b = Arc::new(
            KeyringService::open(store.clone(), provider.clone(), clock.clone())
                .await
                .unwrap(),
        );
        assert_eq!(
            a.current().primary_id(),
            b.current().primary_id(),
            "one keyring, created once"
        );
        let rotated = b.rotate().await.unwrap();
        // Replica b writes under its new key; replica a has never heard of it.
        let vb = Vault::new(store.clone(), b, clock.clone(), Duration::ZERO);
        vb.put(
            "x/y",
            &SecretString::from("s"),
            serde_json::Value::Null,
            None,
        )
        .await
        .unwrap();
        let va = Vault::new(store.clone(), a.clone(), clock.clone(), Duration::ZERO);
        assert_eq!(
            va.get("x/y", None).await.unwrap().value.expose_secret(),
            "s"
        );
        assert_eq!(a.current().primary_id(), rotated);
        // Made-up key ids reload at most once per interval: the next miss waits its turn.
        let bogus = "pal1.dk-made-up.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let ctx = secret_context("x/y@v1");
        manual.advance(std::time::Duration::from_secs(2));
        assert!(matches!(
            a.decrypt(&ctx, bogus).await,
            Err(KeyringError::Crypto(CryptoError::UnknownKey { .. }))
        ));
        let newer = Arc::new(
            KeyringService::open(store.clone(), provider, clock.clone())
                .await
                .unwrap(),
        );
        newer.rotate().await.unwrap();
        let vn = Vault::new(store.clone(), newer, clock.clone(), Duration::ZERO);
        vn.put(
            "x/z",
            &SecretString::from("t"),
            serde_json::Value::Null,
            None,
        )
        .await
        .unwrap();
        assert!(
            matches!(va.get("x/z", None).await, Err(VaultError::Undecryptable(_))),
            "within the interval: no second reload"
        );
        manual.advance(std::time::Duration::from_millis(MISS_RELOAD_INTERVAL_MS));
        assert_eq!(
            va.get("x/z", None).await.unwrap().value.expose_secret(),
            "t"
        );
    }
}
