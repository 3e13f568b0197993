//! Importing API keys by the hash another system stored (`palisade key import`): the use case
//! the CLI (and any later HTTP endpoint) calls, one batch of rows at a time.
//!
//! Guarantees: every row is checked before anything is written (owner found, name, a lookup
//! prefix of at least 8 printable characters that starts with one of `auth.api_keys.prefixes`,
//! unique and never a prefix of another prefix in the batch or the store, a hash Palisade can
//! verify, an HMAC hash only with a pepper, valid scopes); a row whose prefix is already stored
//! for the same owner is skipped (a re-run imports nothing twice); the accepted rows of a batch
//! are stored in one transaction and each is recorded once (`apikey.imported`); a dry run
//! checks the same and writes nothing (no key, no pepper, no event).
//!
//! Cost per batch: one owner lookup per owner not seen before in the file, one query for the
//! stored neighbours of all the batch's prefixes (checked in memory, row by row in file order,
//! with the same outcome as a seek per row), and one transaction of multi-row inserts.

use super::{By, Refused};
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::Identity;
use palisade_core::legacy_key::{self, LegacyHash};
use palisade_store::identity::{ApiKeyRecord, UserRecord};
use palisade_store::legacy_keys::LegacyKeyRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use uuid::Uuid;

/// One key to import, as the file names it.
#[derive(Debug, Clone)]
pub struct KeyImport {
    /// The owner: a Palisade user id or e-mail address (the account's external id once stored).
    pub owner: String,
    /// The key's label.
    pub name: String,
    /// The key's visible leading characters, as clients present them.
    pub prefix: String,
    /// The hash the other system stored.
    pub hash: String,
    /// Permission grants narrowing the key (empty: the owner's roles).
    pub scopes: Vec<String>,
    /// Unix milliseconds after which it stops working.
    pub expires_at: Option<i64>,
    /// Unix milliseconds of its last use in the other system.
    pub last_used_at: Option<i64>,
}

/// What became of one row.
#[derive(Debug)]
pub enum KeyImported {
    /// Stored (or, in a dry run, would be) under this id.
    Imported(Uuid),
    /// Already stored for the same owner: nothing written.
    Skipped,
}

fn invalid(slug: &'static str, detail: impl Into<String>) -> Refused {
    Refused::Invalid {
        slug,
        detail: detail.into(),
    }
}

/// Prefixes of one batch, for the ambiguity check within the file.
#[derive(Default)]
pub struct ImportBatch {
    seen: BTreeSet<String>,
    owners: HashMap<String, Option<UserRecord>>,
}

impl ImportBatch {
    /// A prefix of the batch equal to `prefix`, a prefix of it, or starting with it.
    fn clash(&self, prefix: &str) -> Option<&String> {
        let below = self
            .seen
            .range::<str, _>((Bound::Unbounded, Bound::Included(prefix)))
            .next_back()
            .filter(|p| prefix.starts_with(p.as_str()));
        let above = self
            .seen
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .next()
            .filter(|p| p.starts_with(prefix));
        below.or(above)
    }

    /// Places a checked row's prefix against the file so far and the stored prefixes
    /// neighbouring the batch (`stored`: prefix → owner, from one
    /// `legacy_prefix_neighbours` query; it holds each prefix's stored neighbours, so its own
    /// neighbours of a prefix are the store's). The same prefix stored for the same owner is
    /// [`Placed::Stored`]; equal, a prefix of, or starting with another one is refused.
    fn place(
        &mut self,
        row: &LegacyKeyRecord,
        stored: &BTreeMap<String, Uuid>,
    ) -> Result<Placed, Refused> {
        let prefix = row.lookup_prefix.as_str();
        if let Some(other) = self.clash(prefix) {
            return Err(Refused::Conflict {
                slug: "ambiguous-prefix",
                detail: format!("prefix clashes with {other:?} earlier in the file"),
            });
        }
        let below = stored
            .range::<str, _>((Bound::Unbounded, Bound::Included(prefix)))
            .next_back();
        let above = stored
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .next();
        for (other, owner) in below.into_iter().chain(above) {
            if other == prefix && *owner == row.key.owner_id {
                self.seen.insert(prefix.to_string());
                return Ok(Placed::Stored);
            }
            if other.starts_with(prefix) || prefix.starts_with(other.as_str()) {
                return Err(Refused::Conflict {
                    slug: "ambiguous-prefix",
                    detail: format!(
                        "prefix clashes with the stored prefix {other:?} (equal, or one starts with the other)"
                    ),
                });
            }
        }
        self.seen.insert(prefix.to_string());
        Ok(Placed::New)
    }
}

/// Where a checked row's prefix stands.
enum Placed {
    /// Free: the row is stored.
    New,
    /// Already stored for the same owner: skipped.
    Stored,
}

impl Identity {
    /// The account an import row names, tried in this order: an imported account's external
    /// id, a Palisade user id, a service account's `svc:NAME`, an e-mail address.
    pub async fn resolve_key_owner(
        &self,
        owner: &str,
    ) -> Result<Option<UserRecord>, palisade_store::StoreError> {
        if let Some(user) = self.store.user_by_external_id(owner).await? {
            return Ok(Some(user));
        }
        if let Ok(id) = owner.parse::<Uuid>() {
            return self.store.user_by_id(id).await;
        }
        if let Some(handle) = palisade_core::principal::service_account_handle(owner)
            .filter(|_| owner.starts_with("svc:"))
        {
            return self.store.user_by_email(&handle).await;
        }
        match palisade_core::email::normalize(owner) {
            Some(email) => self.store.user_by_email(&email).await,
            None => Ok(None),
        }
    }

    /// Checks one row on its own (everything but the prefix ambiguity, which
    /// [`ImportBatch::place`] checks): the record it would store.
    async fn check_key_import(
        &self,
        row: &KeyImport,
        pepper_id: Option<&str>,
        batch: &mut ImportBatch,
    ) -> Result<LegacyKeyRecord, Refused> {
        if let Some(why) = legacy_key::prefix_problem(&row.prefix) {
            return Err(invalid("invalid-prefix", why));
        }
        let configured = &self.config.api_keys.prefixes;
        if !configured
            .iter()
            .any(|p| row.prefix.starts_with(p.as_str()))
        {
            return Err(invalid(
                "invalid-prefix",
                format!(
                    "prefix does not start with any of auth.api_keys.prefixes {configured:?}: such a key would never be looked up"
                ),
            ));
        }
        if palisade_core::api_key::looks_like_key(&row.prefix) {
            return Err(invalid("invalid-prefix", "prefix is a whole Palisade key"));
        }
        let name = row.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("invalid-name", "name must be 1-200 characters"));
        }
        let mut hash = LegacyHash::parse(&row.hash).map_err(|e| invalid("invalid-hash", e))?;
        if let LegacyHash::HmacSha256 { pepper, .. } = &mut hash {
            let id = pepper_id
                .ok_or_else(|| invalid("pepper-required", "an hmac-sha256 hash needs --pepper"))?;
            *pepper = Some(id.to_string());
        }
        if !row.scopes.is_empty() {
            super::check_grants(&row.scopes)?;
        }
        let owner = match batch.owners.get(&row.owner) {
            Some(known) => known.clone(),
            None => {
                let found = self.resolve_key_owner(&row.owner).await?;
                batch.owners.insert(row.owner.clone(), found.clone());
                found
            }
        }
        .ok_or_else(|| invalid("unknown-owner", "no account for this owner"))?;
        let now = self.now_ms() as i64;
        Ok(LegacyKeyRecord {
            key: ApiKeyRecord {
                id: Uuid::now_v7(),
                hash: legacy_key::placeholder_hash(),
                prefix: row.prefix.clone(),
                name: name.to_string(),
                owner_id: owner.id,
                roles: owner.roles.clone(),
                scopes: row.scopes.clone(),
                created_at: now,
                expires_at: row.expires_at,
                last_used_at: row.last_used_at,
                revoked_at: None,
                revoked_reason: None,
            },
            lookup_prefix: row.prefix.clone(),
            legacy_hash: Some(hash.to_stored()),
        })
    }

    /// Imports a batch of keys (see the module docs): one outcome per row, in order. `pepper`
    /// is the other system's HMAC key (stored wrapped, unless `dry_run`). An error of the store
    /// while writing fails the whole batch.
    pub async fn import_api_keys(
        &self,
        rows: &[KeyImport],
        pepper: Option<&[u8]>,
        dry_run: bool,
        batch: &mut ImportBatch,
        by: &By<'_>,
    ) -> Result<Vec<Result<KeyImported, Refused>>, Refused> {
        let pepper_id = match (pepper, dry_run) {
            (Some(p), false) => Some(self.store_legacy_pepper(p).await?),
            (Some(p), true) => Some(legacy_key::pepper_id(p)),
            (None, _) => None,
        };
        let mut checked = Vec::with_capacity(rows.len());
        for row in rows {
            checked.push(
                self.check_key_import(row, pepper_id.as_deref(), batch)
                    .await,
            );
        }
        // One query for the stored neighbours of every prefix the rows would take.
        let candidates: Vec<String> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok().map(|r| r.lookup_prefix.clone()))
            .collect();
        let stored: BTreeMap<String, Uuid> = if candidates.is_empty() {
            BTreeMap::new()
        } else {
            self.store
                .legacy_prefix_neighbours(&candidates)
                .await?
                .into_iter()
                .map(|s| (s.lookup_prefix, s.owner_id))
                .collect()
        };
        let mut out = Vec::with_capacity(rows.len());
        let mut accepted = Vec::new();
        for c in checked {
            out.push(c.and_then(|record| match batch.place(&record, &stored)? {
                Placed::New => {
                    let id = record.key.id;
                    accepted.push(record);
                    Ok(KeyImported::Imported(id))
                }
                Placed::Stored => Ok(KeyImported::Skipped),
            }));
        }
        if dry_run {
            return Ok(out);
        }
        for (index, refused) in out.iter().enumerate() {
            if let Err(why) = refused {
                self.audit.record(
                    AuditEvent::new("apikey.import_refused", Risk::Low, Outcome::Failure)
                        .origin(by.origin)
                        .actor(by.actor.clone())
                        .details(serde_json::json!({"index": index, "reason": why.to_string()})),
                );
            }
        }
        if accepted.is_empty() {
            return Ok(out);
        }
        self.store.legacy_keys_insert(&accepted).await?;
        for r in &accepted {
            let format = LegacyHash::parse(r.legacy_hash.as_deref().unwrap_or_default())
                .map_or("unknown", |h| h.format_name());
            self.audit.record(
                by.event(
                    "apikey.imported",
                    Risk::Medium,
                    format!("api_key:{}", r.key.id),
                )
                .details(serde_json::json!({
                    "owner": r.key.owner_id.to_string(),
                    "prefix": r.lookup_prefix,
                    "format": format,
                })),
            );
        }
        Ok(out)
    }
}
