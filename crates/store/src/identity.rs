//! Durable identity records: users, sessions (refresh-token families), refresh tokens, API keys
//! and token signing keys.
//!
//! Times are Unix milliseconds (UTC) supplied by the caller, so tests drive them with a clock.
//! Secrets are never stored: refresh tokens and API keys are kept as 32-byte hashes, signing keys
//! as ciphertext wrapped by the gateway before they reach the store.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// A 32-byte digest of a secret token (SHA-256 of a refresh token, HMAC of an API key).
pub type TokenHash = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    /// Normalized (trimmed, lower-cased domain) and unique.
    pub email: String,
    pub name: Option<String>,
    /// PHC string (`$argon2id$…`, `$2b$…`); `None` for accounts that cannot log in by password.
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    /// Subscription tier (`free`, `pro`, `enterprise`, …) read by the rate limiter.
    pub tier: String,
    pub kind: PrincipalKind,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person, or a service account (an agent, a CI job) that has no password and acts only
/// through its API keys. Service accounts are named `svc:NAME` in the e-mail column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrincipalKind {
    #[default]
    Human,
    Service,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "human" => Some(PrincipalKind::Human),
            "service" => Some(PrincipalKind::Service),
            _ => None,
        }
    }
}

/// What a session was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Bearer access tokens renewed with refresh tokens.
    Token,
    /// A browser session held in the `__Host-palisade` cookie.
    Cookie,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Token => "token",
            SessionKind::Cookie => "cookie",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(SessionKind::Token),
            "cookie" => Some(SessionKind::Cookie),
            _ => None,
        }
    }
}

/// One login: the family every refresh token issued from it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: SessionKind,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Absolute end of the session: no refresh extends it past this.
    pub expires_at: i64,
    pub user_agent: Option<String>,
    /// Hex SHA-256 of the user agent and client hints (never the IP).
    pub fingerprint: String,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub hash: TokenHash,
    pub session_id: Uuid,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set once the token has been exchanged for a successor.
    pub rotated_at: Option<i64>,
}

/// Result of trying to rotate a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was current; it is now marked rotated and the successor stored.
    Rotated,
    /// The token had already been rotated at this time; nothing was written.
    AlreadyRotated { rotated_at: i64, session_id: Uuid },
    /// No such token.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    /// HMAC-SHA256 of the full key under the server pepper; unique.
    pub hash: TokenHash,
    /// The first characters of the key (`pal_1a2b3c4d`), safe to show in lists.
    pub prefix: String,
    pub name: String,
    pub owner_id: Uuid,
    /// Roles the key acts with; never more than its owner holds (checked by the gateway).
    pub roles: Vec<String>,
    /// Permission grants narrowing the key (empty: the roles' permissions).
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `EdDSA`, `ES256`, `RS256` or `HS256`.
    pub alg: String,
    /// The private key, encrypted by the gateway (never plaintext).
    pub wrapped_private: Vec<u8>,
    pub created_at: i64,
    /// When the key stopped signing; it stays published until every token it signed expired.
    pub retired_at: Option<i64>,
}

/// Durable identity operations. Every backend implements them with the same behaviour, checked by
/// `conformance::identity_suite`.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Fails with [`crate::StoreError::Conflict`] when the e-mail is taken.
    async fn user_insert(&self, user: &UserRecord) -> StoreResult<()>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Users ordered by id, starting after `after`, at most `limit`.
    async fn users_list(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserRecord>>;
    /// Each setter returns false when the user does not exist.
    async fn user_set_password_hash(&self, id: Uuid, hash: &str, now: i64) -> StoreResult<bool>;
    async fn user_set_disabled(&self, id: Uuid, disabled: bool, now: i64) -> StoreResult<bool>;
    async fn user_set_roles(&self, id: Uuid, roles: &[String], now: i64) -> StoreResult<bool>;
    async fn user_set_tier(&self, id: Uuid, tier: &str, now: i64) -> StoreResult<bool>;

    async fn session_insert(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn session_get(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// The user's sessions, newest first; revoked ones only when asked.
    async fn sessions_for_user(
        &self,
        user_id: Uuid,
        include_revoked: bool,
    ) -> StoreResult<Vec<SessionRecord>>;
    async fn session_touch(&self, id: Uuid, now: i64) -> StoreResult<()>;
    /// Returns true when the session was active and is now revoked.
    async fn session_revoke(&self, id: Uuid, now: i64) -> StoreResult<bool>;
    /// Revokes every active session of the user and returns their ids.
    async fn sessions_revoke_for_user(&self, user_id: Uuid, now: i64) -> StoreResult<Vec<Uuid>>;

    async fn refresh_insert(&self, token: &RefreshRecord) -> StoreResult<()>;
    async fn refresh_get(&self, hash: &TokenHash) -> StoreResult<Option<RefreshRecord>>;
    /// Atomically: if `hash` is current (not rotated), mark it rotated at `now` and store
    /// `successor`. Two concurrent callers with the same token: exactly one gets `Rotated`.
    async fn refresh_rotate(
        &self,
        hash: &TokenHash,
        now: i64,
        successor: &RefreshRecord,
    ) -> StoreResult<RotateOutcome>;

    /// Fails with [`crate::StoreError::Conflict`] when the hash exists.
    async fn api_key_insert(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>>;
    async fn api_key_get(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>>;
    /// Keys of one owner (or all keys when `None`), newest first, revoked ones included.
    async fn api_keys_list(&self, owner: Option<Uuid>) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Returns true when the key was active and is now revoked.
    async fn api_key_revoke(&self, id: Uuid, now: i64) -> StoreResult<bool>;
    /// Sets or moves the key's expiry (rotation overlap); false when unknown.
    async fn api_key_set_expiry(&self, id: Uuid, expires_at: Option<i64>) -> StoreResult<bool>;
    /// Batched `last_used_at` updates; a later time never goes backwards.
    async fn api_keys_touch(&self, used: &[(Uuid, i64)]) -> StoreResult<()>;

    async fn signing_key_insert(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// All signing keys, oldest first.
    async fn signing_keys_list(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn signing_key_retire(&self, kid: &str, now: i64) -> StoreResult<bool>;
}

/// A tenant (organisation, workspace, graph): an id chosen by the administrator (it appears in
/// paths such as `/graphs/{graph_id}/`), a name, and an optional parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub created_at: i64,
}

/// A user's role in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub tenant_id: String,
    pub user_id: Uuid,
    pub role: String,
    pub created_at: i64,
}

/// Permission grants on one tenant's resources given to a principal directly, without a
/// membership (consulted when the principal has no role in the tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGrantRecord {
    pub tenant_id: String,
    pub user_id: Uuid,
    pub grants: Vec<String>,
    pub created_at: i64,
}

/// Durable tenants, memberships and resource grants; checked by `conformance::tenant_suite`.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Fails with [`crate::StoreError::Conflict`] when the id is taken.
    async fn tenant_insert(&self, tenant: &TenantRecord) -> StoreResult<()>;
    async fn tenant_get(&self, id: &str) -> StoreResult<Option<TenantRecord>>;
    /// All tenants, by id.
    async fn tenants_list(&self) -> StoreResult<Vec<TenantRecord>>;
    /// Deletes a tenant, its memberships and resource grants; false when unknown. Children keep existing and
    /// lose their parent.
    async fn tenant_delete(&self, id: &str) -> StoreResult<bool>;
    /// Adds or replaces the user's role in the tenant.
    async fn member_put(&self, member: &MembershipRecord) -> StoreResult<()>;
    async fn member_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool>;
    /// Every membership, by tenant then user (the gateway keeps them in memory).
    async fn memberships_list(&self) -> StoreResult<Vec<MembershipRecord>>;
    /// Adds or replaces the principal's grants on the tenant's resources.
    async fn resource_grant_put(&self, grant: &ResourceGrantRecord) -> StoreResult<()>;
    async fn resource_grant_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool>;
    /// Every resource grant, by tenant then principal.
    async fn resource_grants_list(&self) -> StoreResult<Vec<ResourceGrantRecord>>;
}
