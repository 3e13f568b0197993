//! Sealing of the trail's personal fields, so that erasure reaches the audit trail without
//! rewriting a record (`palisade_core::audit::sealed` has the format).
//!
//! What is sealed, by the writer before a record is linked (so the chain hashes the sealed
//! text): the client address, the user agent, an `email:` resource id, and every string in the
//! details that holds an e-mail address ([`Sealer::seal`], the one place). Under which key: the
//! record's subject — the account its actor names (an account id, `user:ID`, an API key's
//! owner for `key:ID`, a user's external id), else the account it is about (`user:ID`), else
//! the key of the UTC day (`day:YYYY-MM-DD`) for anonymous callers. Keys are 32 random bytes,
//! made on first use, stored wrapped under the master key (bound to their id) and cached
//! unwrapped in memory (bounded; a key another replica destroyed is forgotten here within
//! [`KEY_TTL`]). Each sealed value carries a blind index (HMAC under the master key's
//! blind-index sub-key, never the subject's key), so a client address is still found and
//! counted after its key is gone.
//!
//! Guarantees: a record is sealed whole or not at all (the key is fetched before any field
//! changes), and never stored with a personal field in the clear once sealing applies to it;
//! [`Sealer::open`] gives every sealed field its plaintext, [`ERASED`] when its key was
//! destroyed, or `[undecryptable]` when it does not open — never an error for either.

use crate::audit::trail::Draft;
use crate::identity::signing::KeyWrap;
use palisade_core::audit::AuditRecord;
use palisade_core::audit::sealed::{self, ERASED, SealKey, Sealed};
use palisade_core::crypto::BlindIndex;
use palisade_store::audit::SealedMatch;
use palisade_store::seal_keys::{DAY_PREFIX, SealKeyRecord};
use palisade_store::{SharedStore, StoreError, StoreResult};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long an unwrapped key is used from memory before the store is asked again (how late a
/// replica notices another one's erasure, at most).
pub const KEY_TTL: Duration = Duration::from_secs(60);
/// Unwrapped keys (and actor resolutions) kept in memory, at most, per cache.
const CACHE_ENTRIES: u64 = 10_000;
/// How a sealed field that does not open (a damaged value) reads.
pub const UNDECRYPTABLE: &str = "[undecryptable]";

const CLIENT_IP: &str = "client_ip";
const USER_AGENT: &str = "user_agent";
const RESOURCE_ID: &str = "resource_id";
const DETAILS: &str = "details";
/// Blind-index domains, one per kind of value.
const INDEX_CLIENT_IP: &str = "audit.client_ip";
const INDEX_USER_AGENT: &str = "audit.user_agent";
const INDEX_EMAIL: &str = "audit.email";

/// Seals and opens the trail's personal fields; one per process, shared by the writer and the
/// readers.
pub struct Sealer {
    store: SharedStore,
    wrap: KeyWrap,
    index: BlindIndex,
    /// Unwrapped keys by subject (writing) and by key id (reading).
    by_subject: moka::sync::Cache<String, Arc<SealKey>>,
    by_id: moka::sync::Cache<String, Arc<SealKey>>,
    /// Key ids known destroyed (they never come back).
    destroyed: moka::sync::Cache<String, ()>,
    /// Actor names that are neither an account id nor `user:ID` → their account, if any.
    accounts: moka::sync::Cache<String, Option<Uuid>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// The UTC day of `ts_ms`, `YYYY-MM-DD`.
pub fn day_of(ts_ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ts_ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()[..10].to_string()
}

fn cache<V: Clone + Send + Sync + 'static>(ttl: bool) -> moka::sync::Cache<String, V> {
    let builder = moka::sync::Cache::builder().max_capacity(CACHE_ENTRIES);
    if ttl {
        builder.time_to_live(KEY_TTL).build()
    } else {
        builder.build()
    }
}

impl Sealer {
    /// A sealer over `store`'s keys, wrapping under the master key (else, without one, under a
    /// key derived from `secrets.signing_key`, as the audit signing key is).
    pub fn new(store: SharedStore, secrets: &crate::config::SecretsConfig) -> Self {
        let index_key = match secrets.master.as_ref() {
            Some(m) => m.derive(palisade_core::crypto::master::PURPOSE_BLIND_INDEX),
            None => crate::identity::derive::derive_key(&secrets.signing_key, "audit-blind-index"),
        };
        Self {
            store,
            wrap: KeyWrap::for_secrets(secrets.master.as_ref(), &secrets.signing_key),
            index: BlindIndex::new(&index_key),
            by_subject: cache(true),
            by_id: cache(true),
            destroyed: cache(false),
            accounts: cache(true),
        }
    }

    /// What a query for records from client address `ip` matches (in the clear or sealed).
    pub fn client_ip_match(&self, ip: &str) -> SealedMatch {
        SealedMatch {
            plain: ip.to_string(),
            sealed_prefix: sealed::match_prefix(&self.index.index(INDEX_CLIENT_IP, ip.as_bytes())),
        }
    }

    /// Makes sure the keys of every subject among `drafts` (with their times) are in memory:
    /// one read for those not cached and one transaction for those without a key yet, so a
    /// batch of events by many new subjects costs two round trips, not two per subject.
    pub async fn prepare(&self, drafts: &[(&Draft, i64)]) -> StoreResult<()> {
        let mut wanted: HashMap<String, i64> = HashMap::new();
        for &(draft, ts_ms) in drafts {
            if has_personal(draft) {
                let subject = self.subject_of(draft, ts_ms).await?;
                if !self.by_subject.contains_key(&subject) {
                    wanted.entry(subject).or_insert(ts_ms);
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let subjects: Vec<String> = wanted.keys().cloned().collect();
        let mut records = self.store.seal_keys_of(&subjects).await?;
        for record in &records {
            wanted.remove(&record.subject);
        }
        if !wanted.is_empty() {
            let fresh: Vec<SealKeyRecord> = wanted
                .into_iter()
                .map(|(subject, now_ms)| self.new_key(subject, now_ms))
                .collect();
            records.extend(self.store.seal_keys_create(&fresh).await?);
        }
        for record in records {
            self.remember(&record)?;
        }
        Ok(())
    }

    fn new_key(&self, subject: String, now_ms: i64) -> SealKeyRecord {
        let key_id = format!("ak-{}", Uuid::now_v7().simple());
        let bytes = SealKey::generate_bytes();
        let wrapped = self.wrap.wrap(&key_id, bytes.as_ref());
        SealKeyRecord {
            key_id,
            subject,
            created_ms: now_ms,
            wrapped,
        }
    }

    /// Unwraps a stored key into the caches.
    fn remember(&self, record: &SealKeyRecord) -> StoreResult<Arc<SealKey>> {
        let key = Arc::new(self.unwrap(record)?);
        self.by_subject.insert(record.subject.clone(), key.clone());
        self.by_id.insert(record.key_id.clone(), key.clone());
        Ok(key)
    }

    /// Seals `draft`'s personal fields for the record `record_id` written at `ts_ms`; nothing
    /// to do (and no key made) when it has none. Fails only when the subject's key cannot be
    /// read or stored, before anything changed.
    pub async fn seal(&self, draft: &mut Draft, record_id: &str, ts_ms: i64) -> StoreResult<()> {
        if !has_personal(draft) {
            return Ok(());
        }
        let email_resource = draft.resource_type.as_deref() == Some("email");
        let subject = self.subject_of(draft, ts_ms).await?;
        let key = self.key_for(&subject, ts_ms).await?;
        let seal = |field: &str, domain: &str, slot: &mut Option<String>| {
            if let Some(plain) = slot.as_deref()
                && sealed::parse(plain).is_none()
            {
                let index = self.index.index(domain, plain.as_bytes());
                *slot = Some(key.seal(field, record_id, &index, plain));
            }
        };
        seal(CLIENT_IP, INDEX_CLIENT_IP, &mut draft.client_ip);
        seal(USER_AGENT, INDEX_USER_AGENT, &mut draft.user_agent);
        if email_resource {
            seal(RESOURCE_ID, INDEX_EMAIL, &mut draft.resource_id);
        }
        self.seal_emails(&key, record_id, &mut draft.details);
        Ok(())
    }

    fn seal_emails(&self, key: &SealKey, record_id: &str, value: &mut Value) {
        match value {
            Value::String(s) if palisade_core::redact::contains_email(s) => {
                let index = self.index.index(INDEX_EMAIL, s.as_bytes());
                *s = key.seal(DETAILS, record_id, &index, s);
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.seal_emails(key, record_id, v)),
            Value::Object(map) => map
                .values_mut()
                .for_each(|v| self.seal_emails(key, record_id, v)),
            _ => {}
        }
    }

    /// The subject whose key seals `draft` (see the module docs).
    async fn subject_of(&self, draft: &Draft, ts_ms: i64) -> StoreResult<String> {
        if let Some(actor) = draft.actor.as_deref()
            && let Some(account) = self.account_of(actor).await?
        {
            return Ok(account.to_string());
        }
        if draft.resource_type.as_deref() == Some("user")
            && let Some(id) = draft
                .resource_id
                .as_deref()
                .and_then(|r| r.parse::<Uuid>().ok())
        {
            return Ok(id.to_string());
        }
        Ok(format!("{DAY_PREFIX}{}", day_of(ts_ms)))
    }

    /// The account an actor name stands for, if any.
    async fn account_of(&self, actor: &str) -> StoreResult<Option<Uuid>> {
        if let Ok(id) = actor.strip_prefix("user:").unwrap_or(actor).parse::<Uuid>() {
            return Ok(Some(id));
        }
        if let Some(known) = self.accounts.get(actor) {
            return Ok(known);
        }
        let account = if let Some(key) = actor.strip_prefix("key:") {
            match key.parse::<Uuid>() {
                Ok(id) => self.store.api_key_get(id).await?.map(|k| k.owner_id),
                Err(_) => None,
            }
        } else if actor.contains(':') || actor == "cli" {
            // Palisade's own actors (`palisade:alerts`) and caller keys by address.
            None
        } else {
            self.store.user_by_external_id(actor).await?.map(|u| u.id)
        };
        self.accounts.insert(actor.to_string(), account);
        Ok(account)
    }

    /// `subject`'s key, made and stored on first use.
    async fn key_for(&self, subject: &str, now_ms: i64) -> StoreResult<Arc<SealKey>> {
        if let Some(key) = self.by_subject.get(subject) {
            return Ok(key);
        }
        let record = match self.store.seal_key_of(subject).await? {
            Some(record) => record,
            None => {
                self.store
                    .seal_key_create(&self.new_key(subject.to_string(), now_ms))
                    .await?
            }
        };
        self.remember(&record)
    }

    fn unwrap(&self, record: &SealKeyRecord) -> StoreResult<SealKey> {
        let bad =
            |why: String| StoreError::Query(format!("audit seal key {}: {why}", record.key_id));
        let bytes = self
            .wrap
            .unwrap(&record.key_id, &record.wrapped)
            .map_err(bad)?;
        let bytes: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad("not 32 bytes".into()))?;
        SealKey::new(&record.key_id, bytes).ok_or_else(|| bad("malformed id".into()))
    }

    /// The key named `key_id`, `None` when it was destroyed.
    async fn key_by_id(&self, key_id: &str) -> StoreResult<Option<Arc<SealKey>>> {
        if let Some(key) = self.by_id.get(key_id) {
            return Ok(Some(key));
        }
        if self.destroyed.contains_key(key_id) {
            return Ok(None);
        }
        match self.store.seal_key_by_id(key_id).await? {
            Some(record) => {
                let key = Arc::new(self.unwrap(&record)?);
                self.by_id.insert(key_id.to_string(), key.clone());
                Ok(Some(key))
            }
            None => {
                self.destroyed.insert(key_id.to_string(), ());
                Ok(None)
            }
        }
    }

    /// Opens every sealed field of `records` in place (see the module docs). Fails only when
    /// the store cannot say whether a key exists.
    pub async fn open(&self, records: &mut [AuditRecord]) -> StoreResult<()> {
        let mut keys: HashMap<String, Option<Arc<SealKey>>> = HashMap::new();
        for r in records.iter() {
            let mut ids = Vec::new();
            for field in [&r.client_ip, &r.user_agent, &r.resource_id] {
                if let Some(s) = field.as_deref().and_then(sealed::parse) {
                    ids.push(s.key_id.to_string());
                }
            }
            sealed_ids(&r.details, &mut ids);
            for id in ids {
                if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(id) {
                    let key = self.key_by_id(slot.key()).await?;
                    slot.insert(key);
                }
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        for r in records.iter_mut() {
            let id = r.id.clone();
            let open = |field: &str, s: &mut String| {
                if let Some(sealed) = sealed::parse(s) {
                    *s = open_with(&keys, field, &id, &sealed);
                }
            };
            for (field, slot) in [
                (CLIENT_IP, &mut r.client_ip),
                (USER_AGENT, &mut r.user_agent),
                (RESOURCE_ID, &mut r.resource_id),
            ] {
                if let Some(s) = slot.as_mut() {
                    open(field, s);
                }
            }
            walk_strings(&mut r.details, &mut |s| open(DETAILS, s));
        }
        Ok(())
    }

    /// Destroys `subject`'s key (the writer calls it in order with the events it seals);
    /// returns whether there was one.
    pub(crate) async fn forget(&self, subject: &str) -> StoreResult<bool> {
        let gone = self.store.seal_key_destroy(subject).await?;
        self.by_subject.invalidate(subject);
        if let Some(key_id) = &gone {
            self.by_id.invalidate(key_id);
            self.destroyed.insert(key_id.clone(), ());
        }
        Ok(gone.is_some())
    }

    /// Destroys the keys of anonymous callers' days up to and including `last_day`; returns
    /// those days (`YYYY-MM-DD`).
    pub(crate) async fn forget_days_through(&self, last_day: &str) -> StoreResult<Vec<String>> {
        let gone = self.store.seal_keys_destroy_days_through(last_day).await?;
        if !gone.is_empty() {
            for subject in &gone {
                self.by_subject.invalidate(subject);
            }
            // Their ids are not returned: drop every key held for reading (rare: once a day).
            self.by_id.invalidate_all();
        }
        Ok(gone
            .iter()
            .map(|s| s.trim_start_matches(DAY_PREFIX).to_string())
            .collect())
    }
}

fn open_with(
    keys: &HashMap<String, Option<Arc<SealKey>>>,
    field: &str,
    record_id: &str,
    sealed: &Sealed<'_>,
) -> String {
    match keys.get(sealed.key_id) {
        Some(Some(key)) => key
            .open(field, record_id, sealed)
            .map(|plain| plain.as_str().to_string())
            .unwrap_or_else(|_| UNDECRYPTABLE.to_string()),
        _ => ERASED.to_string(),
    }
}

fn walk_strings(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

fn sealed_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(sealed) = sealed::parse(s) {
                out.push(sealed.key_id.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| sealed_ids(v, out)),
        Value::Object(map) => map.values().for_each(|v| sealed_ids(v, out)),
        _ => {}
    }
}

/// Whether `draft` has a field [`Sealer::seal`] seals.
fn has_personal(draft: &Draft) -> bool {
    draft.client_ip.is_some()
        || draft.user_agent.is_some()
        || draft.resource_type.as_deref() == Some("email")
        || holds_email(&draft.details)
}

fn holds_email(value: &Value) -> bool {
    match value {
        Value::String(s) => palisade_core::redact::contains_email(s),
        Value::Array(items) => items.iter().any(holds_email),
        Value::Object(map) => map.values().any(holds_email),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::audit::{Outcome, Risk};

    fn sealer() -> (Sealer, SharedStore) {
        let store: SharedStore = Arc::new(palisade_store::memory::MemoryStore::default());
        let secrets = crate::config::SecretsConfig {
            signing_key: "a test secret that is long enough for key derivation".into(),
            ..Default::default()
        };
        (Sealer::new(store.clone(), &secrets), store)
    }

    fn draft(actor: Option<&str>, resource: Option<(&str, &str)>) -> Draft {
        Draft {
            event_type: "auth.login_failure".into(),
            risk: Risk::Medium,
            result: Outcome::Failure,
            actor: actor.map(Into::into),
            action: None,
            resource_type: resource.map(|(t, _)| t.into()),
            resource_id: resource.map(|(_, id)| id.into()),
            tenant: None,
            client_ip: Some("203.0.113.9".into()),
            user_agent: Some("Agent/1.0".into()),
            request_id: None,
            details: serde_json::json!({"by": ["ann@example.com"], "n": 1, "note": "no address"}),
            source: Default::default(),
        }
    }

    fn record_of(d: Draft, id: &str) -> AuditRecord {
        d.into_record(1, id.into(), 0)
    }

    #[tokio::test]
    async fn personal_fields_are_sealed_under_the_subject_and_read_erased_once_forgotten() {
        let (sealer, store) = sealer();
        let ann = Uuid::now_v7();
        let mut d = draft(Some(&format!("user:{ann}")), None);
        sealer.seal(&mut d, "r1", 0).await.unwrap();
        let stored = serde_json::to_string(&record_of(d.clone(), "r1")).unwrap();
        for plain in ["203.0.113.9", "Agent/1.0", "ann@example.com"] {
            assert!(!stored.contains(plain), "{plain} in {stored}");
        }
        assert_eq!(d.details["note"], "no address", "other details stay");
        assert!(store.seal_key_of(&ann.to_string()).await.unwrap().is_some());
        assert!(
            sealer
                .client_ip_match("203.0.113.9")
                .matches(d.client_ip.as_ref())
        );

        let mut read = vec![record_of(d.clone(), "r1")];
        sealer.open(&mut read).await.unwrap();
        assert_eq!(read[0].client_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(read[0].user_agent.as_deref(), Some("Agent/1.0"));
        assert_eq!(read[0].details["by"][0], "ann@example.com");

        let mut moved = vec![record_of(d.clone(), "r2")];
        sealer.open(&mut moved).await.unwrap();
        assert_eq!(moved[0].client_ip.as_deref(), Some(UNDECRYPTABLE));

        assert!(sealer.forget(&ann.to_string()).await.unwrap());
        let mut gone = vec![record_of(d, "r1")];
        sealer.open(&mut gone).await.unwrap();
        assert_eq!(gone[0].client_ip.as_deref(), Some(ERASED));
        assert_eq!(gone[0].user_agent.as_deref(), Some(ERASED));
        assert_eq!(gone[0].details["by"][0], ERASED);
    }

    #[tokio::test]
    async fn a_batch_gets_its_keys_at_once_and_seals_with_them() {
        let (sealer, store) = sealer();
        let ids: Vec<String> = (0..3).map(|_| Uuid::now_v7().to_string()).collect();
        let mut drafts: Vec<Draft> = ids.iter().map(|id| draft(Some(id), None)).collect();
        drafts.push(Draft {
            client_ip: None,
            user_agent: None,
            details: Value::Null,
            ..draft(Some("nothing-to-seal"), None)
        });
        let batch: Vec<(&Draft, i64)> = drafts.iter().map(|d| (d, 0)).collect();
        sealer.prepare(&batch).await.unwrap();
        let stored = store.seal_keys_of(&ids).await.unwrap();
        assert_eq!(stored.len(), 3);
        assert!(
            store
                .seal_key_of("nothing-to-seal")
                .await
                .unwrap()
                .is_none()
        );
        let mut first = drafts.remove(0);
        sealer.seal(&mut first, "r", 0).await.unwrap();
        let key_id = sealed::parse(first.client_ip.as_deref().unwrap())
            .unwrap()
            .key_id
            .to_string();
        assert!(
            stored
                .iter()
                .any(|k| k.key_id == key_id && k.subject == ids[0])
        );
    }

    #[tokio::test]
    async fn the_subject_is_the_actor_then_the_user_acted_on_then_the_day() {
        let (sealer, store) = sealer();
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let day = 86_400_000 * 20_000 + 5;
        for (d, subject) in [
            (
                draft(Some(&ann.to_string()), Some(("user", &bob.to_string()))),
                ann.to_string(),
            ),
            (
                draft(None, Some(("user", &bob.to_string()))),
                bob.to_string(),
            ),
            (
                draft(Some("palisade:alerts"), None),
                format!("day:{}", day_of(day)),
            ),
            (
                draft(None, Some(("email", "eve@example.com"))),
                format!("day:{}", day_of(day)),
            ),
        ] {
            let mut d = d;
            sealer.seal(&mut d, "r", day).await.unwrap();
            let key = store.seal_key_of(&subject).await.unwrap().unwrap();
            let sealed = d.client_ip.unwrap();
            assert_eq!(
                sealed::parse(&sealed).unwrap().key_id,
                key.key_id,
                "{subject}"
            );
            if d.resource_type.as_deref() == Some("email") {
                assert!(sealed::parse(d.resource_id.as_deref().unwrap()).is_some());
            }
        }
        assert_eq!(day_of(day), "2024-10-04");
        let mut none = Draft {
            client_ip: None,
            user_agent: None,
            details: serde_json::json!({"n": 1}),
            ..draft(Some("someone-else"), None)
        };
        sealer.seal(&mut none, "r", day).await.unwrap();
        assert!(store.seal_key_of("someone-else").await.unwrap().is_none());
    }
}
