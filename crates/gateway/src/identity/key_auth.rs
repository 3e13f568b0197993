//! How a request's API key is found and verified: where it may be presented
//! (`auth.api_keys.headers`), Palisade's own keys (one keyed hash and a cache lookup), and keys
//! imported by another system's hash (`palisade key import`).
//!
//! Guarantees for an imported key:
//! - at most ONE slow verification per presentation: lookup prefixes are unique and never a
//!   prefix of one another, so the store's one seek finds at most one candidate;
//! - the verification runs on the hash workers ([`Identity::hash_work`], the bounded pool
//!   argon2 uses), never on a proxy runtime thread; a full pool answers 503;
//! - a failure (no candidate, wrong key, a key remembered as failed) is counted against the
//!   client address on the brute-force ladder; while the address waits, unknown keys are refused
//!   with 429 without any lookup or verification, and are counted too, so a run of made-up keys
//!   ends in an IP block (the firewall gate's 403);
//! - failed keys are remembered by their keyed hash (bounded count and lifetime), so a repeat
//!   costs one HMAC;
//! - after the first success the key is stored under Palisade's keyed hash and its legacy hash
//!   deleted (`apikey.migrated`): from then on it is a native key (cache, revocation, expiry,
//!   disabled owner all as for a key Palisade made).

use super::api_keys::{KeyEntry, KeyError};
use super::{AuthFailure, Credential, Identity, Rejection, revoked_by};
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::config::auth::ApiKeysConfig;
use http::HeaderMap;
use palisade_core::legacy_key::{LegacyHash, pepper_id};
use palisade_core::principal::Principal;
use palisade_store::StoreError;
use palisade_store::identity::TokenHash;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// The store's meta key of an imported pepper (wrapped under the master key).
fn pepper_meta(id: &str) -> String {
    format!("apikey.legacy-pepper.{id}")
}

/// What the first verification of imported keys keeps: failed keys, the count of slow
/// verifications, and the peppers of HMAC hashes.
pub struct LegacyVerifier {
    negative: moka::sync::Cache<TokenHash, ()>,
    slow: AtomicU64,
    peppers: Mutex<HashMap<String, Arc<Zeroizing<Vec<u8>>>>>,
}

impl LegacyVerifier {
    /// The negative cache sized by `auth.api_keys.negative_cache_*`.
    pub fn new(config: &ApiKeysConfig) -> Self {
        Self {
            negative: moka::sync::Cache::builder()
                .max_capacity(config.negative_cache_capacity)
                .time_to_live(config.negative_cache_ttl.0)
                .build(),
            slow: AtomicU64::new(0),
            peppers: Mutex::new(HashMap::new()),
        }
    }

    /// Slow verifications run since start (also `palisade_api_key_legacy_verifications_total`).
    pub fn slow_verifications(&self) -> u64 {
        self.slow.load(Ordering::Relaxed)
    }
}

fn invalid(reason: &'static str) -> AuthFailure {
    AuthFailure::Invalid(Rejection::new(
        Credential::ApiKey,
        "invalid_api_key",
        reason,
    ))
}

fn unavailable(e: StoreError) -> AuthFailure {
    tracing::warn!(error = %e, "API key lookup failed");
    AuthFailure::Unavailable
}

impl Identity {
    /// The API key the request presents where `auth.api_keys.headers` allows one, if any.
    pub(super) fn presented_key<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h str>, AuthFailure> {
        let how = &self.api_keys.presentation;
        for name in &how.headers {
            if let Some(value) = headers.get(name) {
                return value.to_str().map(Some).map_err(|_| invalid("malformed"));
            }
        }
        if how.bearer
            && let Some(token) = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(super::bearer)
            && self.api_keys.is_key_like(token)
        {
            return Ok(Some(token));
        }
        Ok(None)
    }

    /// Verifies a presented key (native, else imported) and checks its revocation flag.
    pub(super) async fn authenticate_key(
        &self,
        key: &str,
        ip: IpAddr,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let now = self.now_ms() as i64;
        let entry = match self.api_keys.verify(key, now).await {
            Ok(entry) => entry,
            Err(KeyError::Invalid("unknown-key")) if self.api_keys.legacy_candidate(key) => {
                self.verify_legacy(key, ip).await?
            }
            Err(KeyError::Invalid(reason)) => return Err(invalid(reason)),
            Err(KeyError::Unavailable(e)) => return Err(unavailable(e)),
        };
        self.refuse_if_flagged(&super::api_keys::revocation_flag(entry.id))
            .await
            .map_err(|f| revoked_by(f, Credential::ApiKey, &entry.principal, Some(entry.id)))?;
        Ok(Arc::new(entry.principal.clone()))
    }

    /// The first use of an imported key (see the module docs).
    async fn verify_legacy(&self, key: &str, ip: IpAddr) -> Result<Arc<KeyEntry>, AuthFailure> {
        let keyed = self.api_keys.keyed_hash(key);
        if self.legacy.negative.contains_key(&keyed) {
            return Err(self.legacy_failed(ip, keyed, "unknown-key").await);
        }
        match self.brute.ip_wait_left(ip).await {
            Ok(None) => {}
            Ok(Some(wait)) => {
                self.legacy_failed(ip, keyed, "delayed").await;
                return Err(AuthFailure::Delayed(wait));
            }
            Err(e) => return Err(unavailable(e)),
        }
        let found = self.store.legacy_key_for(key).await.map_err(unavailable)?;
        let Some((record, stored)) = found.and_then(|r| r.legacy_hash.clone().map(|h| (r, h)))
        else {
            return Err(self.legacy_failed(ip, keyed, "unknown-key").await);
        };
        let hash = match LegacyHash::parse(&stored) {
            Ok(hash) => hash,
            Err(why) => {
                tracing::warn!(key = %record.key.id, %why, "stored legacy API key hash does not parse");
                return Err(self.legacy_failed(ip, keyed, "unknown-key").await);
            }
        };
        let pepper = match &hash {
            LegacyHash::HmacSha256 {
                pepper: Some(id), ..
            } => self.legacy_pepper(id).await.map_err(unavailable)?,
            _ => None,
        };
        let presented = Zeroizing::new(key.to_string());
        self.legacy.slow.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("palisade_api_key_legacy_verifications_total").increment(1);
        let ok = self
            .hash_work(move |_| hash.verify(&presented, pepper.as_ref().map(|p| p.as_slice())))
            .await
            .ok_or(AuthFailure::Unavailable)?;
        if !ok {
            return Err(self.legacy_failed(ip, keyed, "wrong-key").await);
        }
        let migrated = self
            .store
            .legacy_key_migrate(record.key.id, &keyed)
            .await
            .map_err(unavailable)?;
        if migrated {
            self.audit.record(
                AuditEvent::new("apikey.migrated", Risk::Low, Outcome::Success)
                    .actor(record.key.owner_id.to_string())
                    .resource(format!("api_key:{}", record.key.id))
                    .details(serde_json::json!({ "format": stored_format(&stored) })),
            );
        }
        // Now a native key: the ordinary path checks revocation, expiry and the owner.
        self.api_keys
            .verify(key, self.now_ms() as i64)
            .await
            .map_err(|e| match e {
                KeyError::Invalid(reason) => invalid(reason),
                KeyError::Unavailable(e) => unavailable(e),
            })
    }

    /// Remembers a failed key, counts the failure against `ip` (recording a block it placed)
    /// and returns the refusal.
    async fn legacy_failed(
        &self,
        ip: IpAddr,
        keyed: TokenHash,
        reason: &'static str,
    ) -> AuthFailure {
        self.legacy.negative.insert(keyed, ());
        match self.brute.record_ip_failure(ip).await {
            Ok(outcome) => {
                if let Some(block) = outcome.blocked_for {
                    self.audit.record(
                        AuditEvent::new("ip.blocked", Risk::High, Outcome::Success)
                            .resource(format!("ip:{ip}"))
                            .details(serde_json::json!({
                                "threat_level": outcome.level.as_str(),
                                "seconds": block.as_secs(),
                                "cause": "api_key",
                            })),
                    );
                }
                invalid(reason)
            }
            Err(e) => unavailable(e),
        }
    }

    /// The pepper an imported HMAC hash names, unwrapped (cached); `None` when none is stored.
    async fn legacy_pepper(&self, id: &str) -> Result<Option<Arc<Zeroizing<Vec<u8>>>>, StoreError> {
        if let Some(p) = self
            .legacy
            .peppers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            return Ok(Some(p.clone()));
        }
        let Some(stored) = self.store.meta_get(&pepper_meta(id)).await? else {
            tracing::warn!(
                pepper = id,
                "an imported API key names a pepper that is not stored"
            );
            return Ok(None);
        };
        let Some(pepper) = crate::audit::trail::hex_decode(&stored)
            .and_then(|w| self.key_wrap.unwrap(&pepper_meta(id), &w).ok())
        else {
            tracing::warn!(
                pepper = id,
                "an imported API key's pepper cannot be unwrapped"
            );
            return Ok(None);
        };
        let pepper = Arc::new(pepper);
        self.legacy
            .peppers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), pepper.clone());
        Ok(Some(pepper))
    }

    /// Stores the pepper of imported HMAC hashes, wrapped under the master key (once per
    /// pepper); returns the id the hashes name it by.
    pub async fn store_legacy_pepper(&self, pepper: &[u8]) -> Result<String, StoreError> {
        let id = pepper_id(pepper);
        let wrapped =
            crate::audit::trail::hex_encode(&self.key_wrap.wrap(&pepper_meta(&id), pepper));
        self.store
            .meta_put_if_absent(&pepper_meta(&id), &wrapped)
            .await?;
        Ok(id)
    }
}

/// The format name of a stored hash, for the audit trail (never the hash).
fn stored_format(stored: &str) -> &'static str {
    LegacyHash::parse(stored).map_or("unknown", |h| h.format_name())
}
