//! In-process backends: the embedded default for hot state, and a durable-store stand-in for
//! tests and `store.url = "memory:"` (nothing survives a restart; say so in the docs).

use crate::field_crypto::{
    EmailStore, FieldCrypto, StoredUser, key_id_matches, reveal_all, seal_email,
};
use crate::identity::{
    ApiKeyRecord, CONFLICT_EMAIL, CONFLICT_EXTERNAL_ID, IdentityStore, MembershipRecord,
    RefreshRecord, ResourceGrantRecord, RevocationReason, RotateOutcome, SessionRecord,
    SigningKeyRecord, TenantRecord, TenantStore, TokenHash, UserRecord,
};
use crate::{HotState, Store, StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::clock::SharedClock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

mod connections;
mod deletion;
mod device_grants;
mod email_flows;
mod federation;
mod imports;
mod legacy_keys;
mod mfa;
mod passkeys;
mod retention;
mod seal_keys;
mod secrets;

/// A `Store` held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    meta: Mutex<HashMap<String, String>>,
    identity: Mutex<Identity>,
    pub(crate) secrets: Mutex<secrets::Data>,
    /// E-mail encryption, once installed (see [`crate::field_crypto`]).
    crypto: crate::field_crypto::CryptoSlot,
    /// Revoked access tokens by jti, IP blocks by address.
    revocations: Mutex<(
        BTreeMap<String, crate::revocations::RevokedToken>,
        BTreeMap<String, crate::revocations::IpBlockRecord>,
    )>,
    /// Device authorization grants by device code hash.
    device_grants: Mutex<BTreeMap<String, crate::device_grants::DeviceGrant>>,
    /// Sealing keys of the audit trail by subject (sorted, so day keys go in order).
    seal_keys: Mutex<BTreeMap<String, crate::seal_keys::SealKeyRecord>>,
}

#[derive(Debug, Default)]
struct Identity {
    /// A sealed user's record has an empty `email`; its address is in `sealed`.
    users: BTreeMap<Uuid, UserRecord>,
    /// Sealed e-mails by user: (blind index, ciphertext).
    sealed: BTreeMap<Uuid, (String, String)>,
    /// Users by external id (unique; never changed once stored).
    external: HashMap<String, Uuid>,
    sessions: HashMap<Uuid, SessionRecord>,
    refresh: HashMap<TokenHash, RefreshRecord>,
    keys: HashMap<Uuid, ApiKeyRecord>,
    /// Imported keys: lookup prefix → (key id, legacy hash while not migrated).
    legacy: BTreeMap<String, (Uuid, Option<String>)>,
    /// Linked provider identities by link id.
    federated: BTreeMap<Uuid, crate::federation::FederatedIdentityRecord>,
    /// OAuth connections by id.
    connections: BTreeMap<Uuid, crate::connections::ConnectionRecord>,
    /// Passkeys by id.
    passkeys: HashMap<Uuid, crate::passkeys::PasskeyRecord>,
    signing: Vec<SigningKeyRecord>,
    tenants: BTreeMap<String, TenantRecord>,
    members: BTreeMap<(String, Uuid), MembershipRecord>,
    grants: BTreeMap<(String, Uuid), ResourceGrantRecord>,
    audit: Vec<palisade_core::audit::AuditRecord>,
    checkpoints: BTreeMap<u64, palisade_core::audit::Checkpoint>,
    /// TOTP credentials by id.
    totp: BTreeMap<Uuid, crate::mfa::TotpRecord>,
    /// Recovery codes: (user, hash) → used at.
    recovery: BTreeMap<(Uuid, TokenHash), Option<i64>>,
    /// Pending second-factor sign-ins by token hash.
    mfa_tokens: HashMap<TokenHash, crate::mfa::MfaTokenRecord>,
    /// Idempotency keys of app events: (principal, key) → (event id, stored at ms).
    app_keys: HashMap<(String, String), (String, i64)>,
    /// E-mailed tokens (verification, reset) by SHA-256 hex.
    email_tokens: BTreeMap<String, crate::email_flows::EmailToken>,
    /// When each user's current address was verified.
    email_verified: HashMap<Uuid, i64>,
    /// When each account marked deleted was (see [`crate::deletion`]).
    deleted: HashMap<Uuid, i64>,
    /// Tombstones of purged accounts.
    erasures: BTreeMap<Uuid, i64>,
    /// The deletion webhooks: each message with when it was delivered.
    outbox: Vec<(crate::deletion::OutboxMessage, Option<i64>)>,
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(lock(&self.meta).get(key).cloned())
    }

    async fn meta_put(&self, key: &str, value: &str) -> StoreResult<()> {
        lock(&self.meta).insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn meta_put_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        Ok(lock(&self.meta)
            .entry(key.to_string())
            .or_insert_with(|| value.to_string())
            .clone())
    }
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn user_insert(&self, user: &UserRecord) -> StoreResult<()> {
        let crypto = self.crypto.get();
        let email = seal_email(crypto.as_deref(), user.id, &user.email)?;
        let mut id = lock(&self.identity);
        let taken = match (&email.plain, &email.index) {
            (Some(plain), _) => id.users.values().any(|u| &u.email == plain),
            (None, Some(index)) => id.sealed.values().any(|(i, _)| i == index),
            (None, None) => false,
        };
        if let Some(ext) = &user.external_id
            && id.external.contains_key(ext)
        {
            return Err(StoreError::Conflict(CONFLICT_EXTERNAL_ID.into()));
        }
        if taken || id.users.contains_key(&user.id) {
            return Err(StoreError::Conflict(CONFLICT_EMAIL.into()));
        }
        if let Some(ext) = &user.external_id {
            id.external.insert(ext.clone(), user.id);
        }
        let mut record = user.clone();
        record.email = email.plain.unwrap_or_default();
        if let (Some(index), Some(enc)) = (email.index, email.enc) {
            id.sealed.insert(user.id, (index, enc));
        }
        id.users.insert(user.id, record);
        Ok(())
    }

    async fn user_by_id(&self, user_id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = lock(&self.identity).stored_user(user_id);
        match row {
            Some(row) => Ok(Some(row.reveal(self.crypto.get().as_deref()).await?)),
            None => Ok(None),
        }
    }

    async fn user_by_external_id(&self, external_id: &str) -> StoreResult<Option<UserRecord>> {
        let row = {
            let id = lock(&self.identity);
            id.external
                .get(external_id)
                .and_then(|k| id.stored_user(*k))
        };
        match row {
            Some(row) => Ok(Some(row.reveal(self.crypto.get().as_deref()).await?)),
            None => Ok(None),
        }
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let crypto = self.crypto.get();
        let row = {
            let id = lock(&self.identity);
            let found = match &crypto {
                Some(c) => {
                    let index = c.index(crate::field_crypto::EMAIL_INDEX_DOMAIN, email)?;
                    id.sealed
                        .iter()
                        .find(|(_, (i, _))| *i == index)
                        .map(|(k, _)| *k)
                }
                None => id.users.values().find(|u| u.email == email).map(|u| u.id),
            };
            found.and_then(|k| id.stored_user(k))
        };
        match row {
            Some(row) => Ok(Some(row.reveal(crypto.as_deref()).await?)),
            None => Ok(None),
        }
    }

    async fn users_list(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserRecord>> {
        let rows: Vec<_> = {
            let id = lock(&self.identity);
            let range = match after {
                Some(a) => id
                    .users
                    .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
                None => id.users.range(..),
            };
            range
                .take(limit as usize)
                .filter_map(|(k, _)| id.stored_user(*k))
                .collect()
        };
        reveal_all(rows, self.crypto.get().as_deref()).await
    }

    async fn users_page(
        &self,
        after: Option<Uuid>,
        limit: u32,
        contains: Option<&str>,
    ) -> StoreResult<Vec<UserRecord>> {
        let needle = contains.map(str::to_lowercase);
        let rows: Vec<_> = {
            let id = lock(&self.identity);
            let from = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
            id.users
                .range((from, std::ops::Bound::Unbounded))
                .filter(|(k, u)| {
                    u.kind == crate::identity::PrincipalKind::Human
                        && needle.as_deref().is_none_or(|n| {
                            u.name.as_deref().unwrap_or("").to_lowercase().contains(n)
                                || k.to_string().contains(n)
                        })
                })
                .take(limit as usize)
                .filter_map(|(k, _)| id.stored_user(*k))
                .collect()
        };
        reveal_all(rows, self.crypto.get().as_deref()).await
    }

    async fn user_set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(self.update_user(user_id, now, |u| u.password_hash = Some(hash.to_string())))
    }

    async fn user_set_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
        now: i64,
    ) -> StoreResult<bool> {
        if lock(&self.identity).deleted.contains_key(&user_id) {
            return Ok(false);
        }
        Ok(self.update_user(user_id, now, |u| u.disabled = disabled))
    }

    async fn user_set_roles(&self, user_id: Uuid, roles: &[String], now: i64) -> StoreResult<bool> {
        Ok(self.update_user(user_id, now, |u| u.roles = roles.to_vec()))
    }

    async fn user_set_tier(&self, user_id: Uuid, tier: &str, now: i64) -> StoreResult<bool> {
        Ok(self.update_user(user_id, now, |u| u.tier = tier.to_string()))
    }

    async fn users_touch_login(&self, logins: &[(Uuid, i64)]) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        for (user, at) in logins {
            if let Some(u) = id.users.get_mut(user) {
                u.last_login_at = Some(u.last_login_at.map_or(*at, |t| t.max(*at)));
            }
        }
        Ok(())
    }

    async fn session_insert(&self, session: &SessionRecord) -> StoreResult<()> {
        lock(&self.identity)
            .sessions
            .insert(session.id, session.clone());
        Ok(())
    }

    async fn session_get(&self, sid: Uuid) -> StoreResult<Option<SessionRecord>> {
        Ok(lock(&self.identity).sessions.get(&sid).cloned())
    }

    async fn sessions_for_user(
        &self,
        user_id: Uuid,
        include_revoked: bool,
    ) -> StoreResult<Vec<SessionRecord>> {
        let mut out: Vec<SessionRecord> = lock(&self.identity)
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && (include_revoked || s.revoked_at.is_none()))
            .cloned()
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(out)
    }

    async fn session_touch(&self, sid: Uuid, now: i64) -> StoreResult<()> {
        if let Some(s) = lock(&self.identity).sessions.get_mut(&sid) {
            s.last_seen_at = s.last_seen_at.max(now);
        }
        Ok(())
    }

    async fn session_revoke(
        &self,
        sid: Uuid,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<bool> {
        Ok(match lock(&self.identity).sessions.get_mut(&sid) {
            Some(s) if s.revoked_at.is_none() => {
                s.revoked_at = Some(now);
                s.revoked_reason = Some(reason);
                true
            }
            _ => false,
        })
    }

    async fn sessions_revoke_for_user(
        &self,
        user_id: Uuid,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Vec<Uuid>> {
        let mut id = lock(&self.identity);
        let mut revoked = Vec::new();
        for s in id.sessions.values_mut() {
            if s.user_id == user_id && s.revoked_at.is_none() {
                s.revoked_at = Some(now);
                s.revoked_reason = Some(reason);
                revoked.push(s.id);
            }
        }
        Ok(revoked)
    }

    async fn refresh_insert(&self, token: &RefreshRecord) -> StoreResult<()> {
        lock(&self.identity)
            .refresh
            .insert(token.hash, token.clone());
        Ok(())
    }

    async fn refresh_get(&self, hash: &TokenHash) -> StoreResult<Option<RefreshRecord>> {
        Ok(lock(&self.identity).refresh.get(hash).cloned())
    }

    async fn refresh_rotate(
        &self,
        hash: &TokenHash,
        now: i64,
        successor: &RefreshRecord,
    ) -> StoreResult<RotateOutcome> {
        let mut id = lock(&self.identity);
        let outcome = match id.refresh.get_mut(hash) {
            None => return Ok(RotateOutcome::Unknown),
            Some(current) => match current.rotated_at {
                Some(rotated_at) => RotateOutcome::AlreadyRotated {
                    rotated_at,
                    session_id: current.session_id,
                },
                None => {
                    current.rotated_at = Some(now);
                    RotateOutcome::Rotated
                }
            },
        };
        if outcome == RotateOutcome::Rotated {
            id.refresh.insert(successor.hash, successor.clone());
        }
        Ok(outcome)
    }

    async fn api_key_insert(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id.keys.values().any(|k| k.hash == key.hash) {
            return Err(StoreError::Conflict("API key hash already stored".into()));
        }
        id.keys.insert(key.id, key.clone());
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(lock(&self.identity)
            .keys
            .values()
            .find(|k| &k.hash == hash)
            .cloned())
    }

    async fn api_key_get(&self, key_id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(lock(&self.identity).keys.get(&key_id).cloned())
    }

    async fn api_keys_list(&self, owner: Option<Uuid>) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut out: Vec<ApiKeyRecord> = lock(&self.identity)
            .keys
            .values()
            .filter(|k| owner.is_none_or(|o| k.owner_id == o))
            .cloned()
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(out)
    }

    async fn api_key_revoke(
        &self,
        key_id: Uuid,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<bool> {
        Ok(match lock(&self.identity).keys.get_mut(&key_id) {
            Some(k) if k.revoked_at.is_none() => {
                k.revoked_at = Some(now);
                k.revoked_reason = Some(reason);
                true
            }
            _ => false,
        })
    }

    async fn api_key_set_expiry(&self, key_id: Uuid, expires_at: Option<i64>) -> StoreResult<bool> {
        Ok(match lock(&self.identity).keys.get_mut(&key_id) {
            Some(k) => {
                k.expires_at = expires_at;
                true
            }
            None => false,
        })
    }

    async fn api_keys_touch(&self, used: &[(Uuid, i64)]) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        for (key_id, at) in used {
            if let Some(k) = id.keys.get_mut(key_id) {
                k.last_used_at = Some(k.last_used_at.unwrap_or(0).max(*at));
            }
        }
        Ok(())
    }

    async fn signing_key_insert(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id.signing.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(format!(
                "signing key {} exists",
                key.kid
            )));
        }
        id.signing.push(key.clone());
        id.signing
            .sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(())
    }

    async fn signing_keys_list(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Ok(lock(&self.identity).signing.clone())
    }

    async fn signing_key_retire(&self, kid: &str, now: i64) -> StoreResult<bool> {
        Ok(
            match lock(&self.identity)
                .signing
                .iter_mut()
                .find(|k| k.kid == kid)
            {
                Some(k) if k.retired_at.is_none() => {
                    k.retired_at = Some(now);
                    true
                }
                _ => false,
            },
        )
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn tenant_insert(&self, tenant: &TenantRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id.tenants.contains_key(&tenant.id) {
            return Err(StoreError::Conflict("tenant id exists".into()));
        }
        id.tenants.insert(tenant.id.clone(), tenant.clone());
        Ok(())
    }

    async fn tenant_get(&self, tenant_id: &str) -> StoreResult<Option<TenantRecord>> {
        Ok(lock(&self.identity).tenants.get(tenant_id).cloned())
    }

    async fn tenants_list(&self) -> StoreResult<Vec<TenantRecord>> {
        Ok(lock(&self.identity).tenants.values().cloned().collect())
    }

    async fn tenant_delete(&self, tenant_id: &str) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        id.members.retain(|(t, _), _| t != tenant_id);
        id.grants.retain(|(t, _), _| t != tenant_id);
        for t in id.tenants.values_mut() {
            if t.parent_id.as_deref() == Some(tenant_id) {
                t.parent_id = None;
            }
        }
        Ok(id.tenants.remove(tenant_id).is_some())
    }

    async fn member_put(&self, member: &MembershipRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        let key = (member.tenant_id.clone(), member.user_id);
        match id.members.get_mut(&key) {
            Some(existing) => existing.role = member.role.clone(),
            None => {
                id.members.insert(key, member.clone());
            }
        }
        Ok(())
    }

    async fn member_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool> {
        Ok(lock(&self.identity)
            .members
            .remove(&(tenant_id.to_string(), user_id))
            .is_some())
    }

    async fn memberships_list(&self) -> StoreResult<Vec<MembershipRecord>> {
        Ok(lock(&self.identity).members.values().cloned().collect())
    }

    async fn resource_grant_put(&self, grant: &ResourceGrantRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        let key = (grant.tenant_id.clone(), grant.user_id);
        match id.grants.get_mut(&key) {
            Some(existing) => existing.grants = grant.grants.clone(),
            None => {
                id.grants.insert(key, grant.clone());
            }
        }
        Ok(())
    }

    async fn resource_grant_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool> {
        Ok(lock(&self.identity)
            .grants
            .remove(&(tenant_id.to_string(), user_id))
            .is_some())
    }

    async fn resource_grants_list(&self) -> StoreResult<Vec<ResourceGrantRecord>> {
        Ok(lock(&self.identity).grants.values().cloned().collect())
    }
}

impl Identity {
    /// A user as stored (the address in `sealed` when sealed).
    fn stored_user(&self, user_id: Uuid) -> Option<StoredUser> {
        let user = self.users.get(&user_id)?.clone();
        let enc = self.sealed.get(&user_id).map(|(_, enc)| enc.clone());
        let plain = (enc.is_none()).then(|| user.email.clone());
        Some(StoredUser { user, plain, enc })
    }
}

#[async_trait]
impl EmailStore for MemoryStore {
    fn set_field_crypto(&self, crypto: std::sync::Arc<dyn FieldCrypto>) {
        self.crypto.set(crypto);
    }

    async fn users_seal_emails(&self, limit: u32) -> StoreResult<u64> {
        let crypto = self.crypto.required()?;
        let mut id = lock(&self.identity);
        let open: Vec<Uuid> = id
            .users
            .keys()
            .filter(|k| !id.sealed.contains_key(k))
            .take(limit as usize)
            .copied()
            .collect();
        for user_id in &open {
            let user = id.users.get_mut(user_id).expect("listed above");
            let plain = zeroize::Zeroizing::new(std::mem::take(&mut user.email));
            let email = seal_email(Some(crypto.as_ref()), *user_id, &plain)?;
            if let (Some(index), Some(enc)) = (email.index, email.enc) {
                id.sealed.insert(*user_id, (index, enc));
            }
        }
        Ok(open.len() as u64)
    }

    async fn user_email_ciphertexts(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, String)>> {
        let id = lock(&self.identity);
        let range = match after {
            Some(a) => id
                .sealed
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => id.sealed.range(..),
        };
        Ok(range
            .take(limit as usize)
            .map(|(k, (_, enc))| (*k, enc.clone()))
            .collect())
    }

    async fn user_email_replace_ciphertext(
        &self,
        user_id: Uuid,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        match lock(&self.identity).sealed.get_mut(&user_id) {
            Some((_, enc)) if enc == old => {
                *enc = new.to_string();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn users_count_email_by_key(&self, key_id: &str) -> StoreResult<u64> {
        Ok(lock(&self.identity)
            .sealed
            .values()
            .filter(|(_, enc)| key_id_matches(enc, key_id))
            .count() as u64)
    }
}

impl MemoryStore {
    /// Everything the store holds about one user, as text (what a dump of the row would show):
    /// lets tests check that no address is kept in the clear.
    pub fn raw_user_row(&self, user_id: Uuid) -> Option<String> {
        let id = lock(&self.identity);
        let user = id.users.get(&user_id)?;
        Some(format!("{user:?} {:?}", id.sealed.get(&user_id)))
    }

    fn update_user(&self, user_id: Uuid, now: i64, change: impl FnOnce(&mut UserRecord)) -> bool {
        match lock(&self.identity).users.get_mut(&user_id) {
            Some(u) => {
                change(u);
                u.updated_at = now;
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl crate::revocations::RevocationStore for MemoryStore {
    async fn token_revoke(&self, token: &crate::revocations::RevokedToken) -> StoreResult<()> {
        let mut r = lock(&self.revocations);
        let slot =
            r.0.entry(token.jti.clone())
                .or_insert_with(|| token.clone());
        slot.expires_at = slot.expires_at.max(token.expires_at);
        Ok(())
    }

    async fn revoked_tokens_active(
        &self,
        now: i64,
    ) -> StoreResult<Vec<crate::revocations::RevokedToken>> {
        Ok(lock(&self.revocations)
            .0
            .values()
            .filter(|t| t.expires_at > now)
            .cloned()
            .collect())
    }

    async fn sessions_revoked_since(
        &self,
        since: i64,
    ) -> StoreResult<Vec<crate::revocations::Revoked>> {
        let id = lock(&self.identity);
        let mut out: Vec<_> = id
            .sessions
            .values()
            .filter_map(|s| {
                let at = s.revoked_at.filter(|at| *at >= since)?;
                Some(crate::revocations::Revoked {
                    id: s.id,
                    revoked_at: at,
                })
            })
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn api_keys_revoked_since(
        &self,
        since: i64,
    ) -> StoreResult<Vec<crate::revocations::Revoked>> {
        let id = lock(&self.identity);
        let mut out: Vec<_> = id
            .keys
            .values()
            .filter_map(|k| {
                let at = k.revoked_at.filter(|at| *at >= since)?;
                Some(crate::revocations::Revoked {
                    id: k.id,
                    revoked_at: at,
                })
            })
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    async fn ip_block_put(&self, block: &crate::revocations::IpBlockRecord) -> StoreResult<()> {
        let mut r = lock(&self.revocations);
        match r.1.get_mut(&block.ip) {
            Some(current) if current.until >= block.until => {}
            Some(current) => *current = block.clone(),
            None => {
                r.1.insert(block.ip.clone(), block.clone());
            }
        }
        Ok(())
    }

    async fn ip_block_remove(&self, ip: &str) -> StoreResult<bool> {
        Ok(lock(&self.revocations).1.remove(ip).is_some())
    }

    async fn ip_blocks_active(
        &self,
        now: i64,
    ) -> StoreResult<Vec<crate::revocations::IpBlockRecord>> {
        Ok(lock(&self.revocations)
            .1
            .values()
            .filter(|b| b.until > now)
            .cloned()
            .collect())
    }

    async fn revocations_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
        let mut r = lock(&self.revocations);
        let tokens: Vec<String> =
            r.0.iter()
                .filter(|(_, t)| t.expires_at <= now)
                .map(|(k, _)| k.clone())
                .take(limit as usize)
                .collect();
        let blocks: Vec<String> =
            r.1.iter()
                .filter(|(_, b)| b.until <= now)
                .map(|(k, _)| k.clone())
                .take(limit as usize)
                .collect();
        for k in &tokens {
            r.0.remove(k);
        }
        for k in &blocks {
            r.1.remove(k);
        }
        Ok((tokens.len() + blocks.len()) as u64)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    value: u64,
    expires_ms: u64,
    /// Made by `set_flag` (listed by `flags_with_prefix`), not by `incr`.
    flag: bool,
}

/// A `HotState` held in memory, with expiry read from the injected clock.
#[derive(Debug)]
pub struct MemoryHotState {
    clock: SharedClock,
    entries: Mutex<HashMap<String, Entry>>,
    writes: std::sync::atomic::AtomicUsize,
    /// `publish`/`subscribe` within this process.
    notices: tokio::sync::broadcast::Sender<crate::Notice>,
}

/// Messages a slow subscriber may fall behind before it gets `Notice::Missed`.
const NOTICE_BUFFER: usize = 1024;

/// Expired entries are swept once the map has grown by this many inserts.
const SWEEP_EVERY: usize = 4096;

impl MemoryHotState {
    /// An empty hot state in this process's memory, with expiries read from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
            writes: Default::default(),
            notices: tokio::sync::broadcast::channel(NOTICE_BUFFER).0,
        }
    }

    fn live(&self, key: &str) -> Option<Entry> {
        let now = self.clock.now_millis();
        lock(&self.entries)
            .get(key)
            .copied()
            .filter(|e| e.expires_ms > now)
    }

    /// Locks the map for a write, first dropping expired entries every `SWEEP_EVERY` writes so
    /// that keys nobody reads again cannot grow the map without bound.
    fn write_lock(&self, now: u64) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        let mut entries = lock(&self.entries);
        let writes = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if writes % SWEEP_EVERY == SWEEP_EVERY - 1 {
            entries.retain(|_, e| e.expires_ms > now);
        }
        entries
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl HotState for MemoryHotState {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
        self.incr_by(key, 1, ttl).await
    }

    async fn incr_by(&self, key: &str, by: u64, ttl: Duration) -> StoreResult<u64> {
        let now = self.clock.now_millis();
        let mut entries = self.write_lock(now);
        let entry = entries
            .entry(key.to_string())
            .and_modify(|e| {
                if e.expires_ms <= now {
                    *e = Entry {
                        value: 0,
                        expires_ms: now.saturating_add(ttl_ms(ttl)),
                        flag: false,
                    };
                }
            })
            .or_insert(Entry {
                value: 0,
                expires_ms: now.saturating_add(ttl_ms(ttl)),
                flag: false,
            });
        entry.value = entry.value.saturating_add(by);
        Ok(entry.value)
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        Ok(self.live(key).map_or(0, |e| e.value))
    }

    async fn set_flag(&self, key: &str, ttl: Duration) -> StoreResult<()> {
        let now = self.clock.now_millis();
        let expires_ms = now.saturating_add(ttl_ms(ttl));
        self.write_lock(now).insert(
            key.to_string(),
            Entry {
                value: 1,
                expires_ms,
                flag: true,
            },
        );
        Ok(())
    }

    async fn has_flag(&self, key: &str) -> StoreResult<bool> {
        Ok(self.live(key).is_some())
    }

    async fn flag_ttl(&self, key: &str) -> StoreResult<Option<Duration>> {
        let now = self.clock.now_millis();
        Ok(self
            .live(key)
            .map(|e| Duration::from_millis(e.expires_ms - now)))
    }

    async fn flags_with_prefix(&self, prefix: &str) -> StoreResult<Vec<(String, Duration)>> {
        let now = self.clock.now_millis();
        Ok(lock(&self.entries)
            .iter()
            .filter(|(k, e)| e.flag && e.expires_ms > now && k.starts_with(prefix))
            .map(|(k, e)| (k.clone(), Duration::from_millis(e.expires_ms - now)))
            .collect())
    }

    async fn remove(&self, key: &str) -> StoreResult<()> {
        lock(&self.entries).remove(key);
        Ok(())
    }

    async fn publish(&self, topic: &str, body: &str) -> StoreResult<u64> {
        // No subscriber is not an error: nobody had anything cached.
        let reached = self.notices.send(crate::Notice::Message {
            topic: topic.to_string(),
            body: body.to_string(),
        });
        Ok(reached.map_or(0, |n| n as u64))
    }

    async fn subscribe(&self) -> StoreResult<crate::Subscription> {
        Ok(crate::Subscription::new(self.notices.subscribe()))
    }
}

/// A poisoned lock only means another thread panicked mid-update of a plain map; the map itself
/// is still usable, so keep serving rather than cascading the panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl crate::audit::AuditStore for MemoryStore {
    async fn audit_query(
        &self,
        filter: &crate::audit::AuditFilter,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<palisade_core::audit::AuditRecord>> {
        Ok(lock(&self.identity)
            .audit
            .iter()
            .filter(|r| r.seq > after && filter.matches(r))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn audit_append_keyed(
        &self,
        records: &[palisade_core::audit::AuditRecord],
        keys: &[crate::audit::AppEventKey],
    ) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if let (Some(last), Some(first)) = (id.audit.last(), records.first())
            && last.seq + 1 != first.seq
        {
            return Err(StoreError::Conflict(format!(
                "audit record {} does not follow the stored head {}",
                first.seq, last.seq
            )));
        }
        id.audit.extend_from_slice(records);
        for k in keys {
            id.app_keys.insert(
                (k.principal.clone(), k.key.clone()),
                (k.event_id.clone(), k.created_ms),
            );
        }
        Ok(())
    }

    async fn audit_app_seen(
        &self,
        principal: &str,
        keys: &[String],
        since_ms: i64,
    ) -> StoreResult<Vec<String>> {
        let id = lock(&self.identity);
        Ok(keys
            .iter()
            .filter(|k| {
                id.app_keys
                    .get(&(principal.to_string(), (*k).clone()))
                    .is_some_and(|(_, at)| *at >= since_ms)
            })
            .cloned()
            .collect())
    }

    async fn audit_app_keys_expire(&self, before_ms: i64) -> StoreResult<u64> {
        let mut id = lock(&self.identity);
        let before = id.app_keys.len();
        id.app_keys.retain(|_, (_, at)| *at >= before_ms);
        Ok((before - id.app_keys.len()) as u64)
    }

    async fn audit_head(&self) -> StoreResult<Option<(u64, [u8; 32])>> {
        Ok(lock(&self.identity).audit.last().map(|r| (r.seq, r.hash)))
    }

    async fn audit_range(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<palisade_core::audit::AuditRecord>> {
        Ok(lock(&self.identity)
            .audit
            .iter()
            .filter(|r| r.seq >= from_seq)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn audit_checkpoint_put(&self, cp: &palisade_core::audit::Checkpoint) -> StoreResult<()> {
        lock(&self.identity)
            .checkpoints
            .entry(cp.seq)
            .or_insert_with(|| cp.clone());
        Ok(())
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<palisade_core::audit::Checkpoint>> {
        Ok(lock(&self.identity).checkpoints.values().cloned().collect())
    }

    async fn audit_purge_through(&self, through: u64) -> StoreResult<u64> {
        let mut id = lock(&self.identity);
        let before = id.audit.len();
        id.audit.retain(|r| r.seq > through);
        Ok((before - id.audit.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;
    use palisade_core::clock::ManualClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::store_suite(&MemoryStore::default()).await;
        conformance::identity_suite(&MemoryStore::default()).await;
        conformance::tenant_suite(&MemoryStore::default()).await;
        conformance::revocation_suite(&MemoryStore::default()).await;
        conformance::device_grant_suite(&MemoryStore::default()).await;
        conformance::email_flow_suite(&MemoryStore::default()).await;
        conformance::legacy_key_suite(&MemoryStore::default()).await;
        conformance::mfa_suite(&MemoryStore::default()).await;
        conformance::federation_suite(&MemoryStore::default()).await;
        conformance::connections_suite(&MemoryStore::default()).await;
        conformance::passkey_suite(&MemoryStore::default()).await;
        conformance::retention_suite(&MemoryStore::default()).await;
        conformance::seal_key_suite(&MemoryStore::default()).await;
        conformance::deletion_suite(&MemoryStore::default()).await;
        conformance::audit_suite(&MemoryStore::default()).await;
        conformance::refresh_race(Arc::new(MemoryStore::default())).await;
        conformance::secrets_suite(&MemoryStore::default()).await;
        conformance::identity_suite_encrypted(&MemoryStore::default()).await;
    }

    #[tokio::test]
    async fn memory_store_encrypts_emails() {
        let store = Arc::new(MemoryStore::default());
        let raw = store.clone();
        conformance::email_encryption_suite(store.as_ref(), &move |id| {
            let row = raw.raw_user_row(id).unwrap_or_default();
            Box::pin(async move { row })
        })
        .await;
    }

    #[tokio::test]
    async fn memory_hot_state_conforms() {
        let clock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
        let hot = MemoryHotState::new(clock.clone());
        conformance::hot_state_suite(&hot, &|d| clock.advance(d)).await;
        conformance::broadcast_suite(&hot, &hot).await;
    }
}
