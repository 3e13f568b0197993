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

/// The conflict message of [`IdentityStore::user_insert`] when the e-mail is taken.
pub const CONFLICT_EMAIL: &str = "e-mail already registered";
/// The conflict message of [`IdentityStore::user_insert`] when the external id is taken.
pub const CONFLICT_EXTERNAL_ID: &str = "external id already present";

/// A person's or service account's account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// UUIDv7, stable: what keys, memberships and sessions name.
    pub id: Uuid,
    /// The account's id in the system it was imported from (`palisade user import`): unique
    /// when present, never changed once stored. Tokens and the trail name the account by it
    /// when `auth.subject = "external_id"`.
    pub external_id: Option<String>,
    /// Normalized (trimmed, lower-cased domain) and unique.
    pub email: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// PHC string (`$argon2id$…`, `$2b$…`); `None` for accounts that cannot log in by password.
    pub password_hash: Option<String>,
    /// Global roles (`[[roles]]` names).
    pub roles: Vec<String>,
    /// Subscription tier (`free`, `pro`, `enterprise`, …) read by the rate limiter.
    pub tier: String,
    /// Person or service account.
    pub kind: PrincipalKind,
    /// A disabled account cannot sign in, and its keys and sessions stop working.
    pub disabled: bool,
    /// Unix milliseconds of the last successful sign-in (written in batches, so up to one
    /// sync period late); `None` before the first one recorded.
    pub last_login_at: Option<i64>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
}

/// A person, or a service account (an agent, a CI job) that has no password and acts only
/// through its API keys. Service accounts are named `svc:NAME` in the e-mail column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrincipalKind {
    /// A person, who may sign in with a password.
    #[default]
    Human,
    /// A service account (`svc:NAME`): no password, acts only through its API keys.
    Service,
}

impl PrincipalKind {
    /// The stored spelling (`human`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::Service => "service",
        }
    }

    /// Reads the stored spelling; `None` for anything else.
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
    /// The stored spelling (`token`, `cookie`).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Token => "token",
            SessionKind::Cookie => "cookie",
        }
    }

    /// Reads the stored spelling; `None` for anything else.
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
    /// UUIDv7; the `sid` of its tokens.
    pub id: Uuid,
    /// Whose session it is.
    pub user_id: Uuid,
    /// Token or cookie session.
    pub kind: SessionKind,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last use (refresh or cookie).
    pub last_seen_at: i64,
    /// Absolute end of the session: no refresh extends it past this.
    pub expires_at: i64,
    /// The user agent it was opened with, for the account's session list.
    pub user_agent: Option<String>,
    /// Hex SHA-256 of the user agent and client hints (never the IP).
    pub fingerprint: String,
    /// Unix milliseconds of the revocation; `None` while active.
    pub revoked_at: Option<i64>,
    /// Why it was revoked (`None` while active, or revoked before reasons were recorded).
    pub revoked_reason: Option<RevocationReason>,
    /// How the sign-in that opened it was proven (RFC 8176 `amr` values); every token the
    /// session issues carries them, refreshes included.
    pub amr: Vec<String>,
    /// The assurance level reached (`aal1`, `aal2`); `None` for a session opened before
    /// assurance levels were recorded (it meets no step-up requirement).
    pub acr: Option<String>,
    /// Unix milliseconds of the authentication behind the session (sign-in or step-up).
    pub auth_time: Option<i64>,
}

/// One refresh token of a session, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The session (family) it belongs to.
    pub session_id: Uuid,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which it cannot be exchanged.
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
    AlreadyRotated {
        /// When it was rotated.
        rotated_at: i64,
        /// The session it belongs to (revoked on reuse).
        session_id: Uuid,
    },
    /// No such token.
    Unknown,
}

/// An API key, as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// UUIDv7: what revocations, audit events and `X-Palisade-*` name.
    pub id: Uuid,
    /// HMAC-SHA256 of the full key under the server pepper; unique.
    pub hash: TokenHash,
    /// The first characters of the key (`pal_1a2b3c4d`), safe to show in lists.
    pub prefix: String,
    /// The owner's label for it.
    pub name: String,
    /// The account it acts for.
    pub owner_id: Uuid,
    /// Roles the key acts with; never more than its owner holds (checked by the gateway).
    pub roles: Vec<String>,
    /// Permission grants narrowing the key (empty: the roles' permissions).
    pub scopes: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which it stops working; `None` never.
    pub expires_at: Option<i64>,
    /// Unix milliseconds of its last use, written in batches.
    pub last_used_at: Option<i64>,
    /// Unix milliseconds of its revocation; `None` while active.
    pub revoked_at: Option<i64>,
    /// Why it was revoked (`None` while active, or revoked before reasons were recorded).
    pub revoked_reason: Option<RevocationReason>,
}

/// Why a session (and with it its refresh tokens) or an API key was revoked; stored with the
/// revocation, shown in listings and in the audit event's `details.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// The holder signed out, or replaced it by signing in or stepping up again.
    Logout,
    /// An administrator, the owner through the API or the CLI, or a change of roles or tier.
    Admin,
    /// A rotated refresh token was presented again: the whole family is revoked.
    ReuseDetected,
    /// The account's password was reset.
    PasswordReset,
    /// The account was deleted.
    AccountDeleted,
    /// An alert action (`revoke_sessions`, `disable_api_key`) or incident response.
    Incident,
    /// A retention policy ended it (an account disabled for inactivity).
    Expired,
}

impl RevocationReason {
    /// Every reason, in the order above.
    pub const ALL: [RevocationReason; 7] = [
        RevocationReason::Logout,
        RevocationReason::Admin,
        RevocationReason::ReuseDetected,
        RevocationReason::PasswordReset,
        RevocationReason::AccountDeleted,
        RevocationReason::Incident,
        RevocationReason::Expired,
    ];

    /// The stored and shown spelling (`logout`, `reuse_detected`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Logout => "logout",
            RevocationReason::Admin => "admin",
            RevocationReason::ReuseDetected => "reuse_detected",
            RevocationReason::PasswordReset => "password_reset",
            RevocationReason::AccountDeleted => "account_deleted",
            RevocationReason::Incident => "incident",
            RevocationReason::Expired => "expired",
        }
    }

    /// Reads the stored spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A token-signing key, stored wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id tokens and the JWKS name.
    pub kid: String,
    /// `EdDSA`, `ES256`, `RS256` or `HS256`.
    pub alg: String,
    /// The private key, encrypted by the gateway (never plaintext).
    pub wrapped_private: Vec<u8>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When the key stopped signing; it stays published until every token it signed expired.
    pub retired_at: Option<i64>,
}

/// Durable identity operations. Every backend implements them with the same behaviour, checked by
/// `conformance::identity_suite`.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Fails with [`crate::StoreError::Conflict`] when the e-mail or the external id is taken
    /// (the message says which: [`CONFLICT_EMAIL`], [`CONFLICT_EXTERNAL_ID`]).
    async fn user_insert(&self, user: &UserRecord) -> StoreResult<()>;
    /// The user with this id.
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// The user with this external id (exact, byte for byte).
    async fn user_by_external_id(&self, external_id: &str) -> StoreResult<Option<UserRecord>>;
    /// The user with this (normalized) e-mail address.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Users ordered by id, starting after `after`, at most `limit`.
    async fn users_list(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserRecord>>;
    /// People's accounts (service accounts left out) ordered by id, starting after `after`, at
    /// most `limit`; with `contains`, only those whose name or id contains it, ignoring case
    /// (ASCII case only on SQLite). Keyset paging on the primary key: a page costs the rows it
    /// reads, whatever the page number.
    async fn users_page(
        &self,
        after: Option<Uuid>,
        limit: u32,
        contains: Option<&str>,
    ) -> StoreResult<Vec<UserRecord>>;
    /// Each setter returns false when the user does not exist.
    async fn user_set_password_hash(&self, id: Uuid, hash: &str, now: i64) -> StoreResult<bool>;
    /// Disables or re-enables the account.
    async fn user_set_disabled(&self, id: Uuid, disabled: bool, now: i64) -> StoreResult<bool>;
    /// Replaces the account's global roles.
    async fn user_set_roles(&self, id: Uuid, roles: &[String], now: i64) -> StoreResult<bool>;
    /// Sets the account's subscription tier.
    async fn user_set_tier(&self, id: Uuid, tier: &str, now: i64) -> StoreResult<bool>;
    /// Batched `last_login_at` updates; a later time never goes backwards, unknown ids are
    /// skipped.
    async fn users_touch_login(&self, logins: &[(Uuid, i64)]) -> StoreResult<()>;

    /// Stores a new session.
    async fn session_insert(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The session with this id, revoked or not.
    async fn session_get(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// The user's sessions, newest first; revoked ones only when asked.
    async fn sessions_for_user(
        &self,
        user_id: Uuid,
        include_revoked: bool,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Moves the session's `last_seen_at` to `now`.
    async fn session_touch(&self, id: Uuid, now: i64) -> StoreResult<()>;
    /// Returns true when the session was active and is now revoked (for `reason`).
    async fn session_revoke(
        &self,
        id: Uuid,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<bool>;
    /// Revokes every active session of the user (for `reason`) and returns their ids.
    async fn sessions_revoke_for_user(
        &self,
        user_id: Uuid,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<Vec<Uuid>>;

    /// Stores a new refresh token.
    async fn refresh_insert(&self, token: &RefreshRecord) -> StoreResult<()>;
    /// The refresh token with this hash.
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
    /// The key with this hash (the lookup of a presented key).
    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>>;
    /// The key with this id.
    async fn api_key_get(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>>;
    /// Keys of one owner (or all keys when `None`), newest first, revoked ones included.
    async fn api_keys_list(&self, owner: Option<Uuid>) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Returns true when the key was active and is now revoked (for `reason`).
    async fn api_key_revoke(
        &self,
        id: Uuid,
        now: i64,
        reason: RevocationReason,
    ) -> StoreResult<bool>;
    /// Sets or moves the key's expiry (rotation overlap); false when unknown.
    async fn api_key_set_expiry(&self, id: Uuid, expires_at: Option<i64>) -> StoreResult<bool>;
    /// Batched `last_used_at` updates; a later time never goes backwards.
    async fn api_keys_touch(&self, used: &[(Uuid, i64)]) -> StoreResult<()>;

    /// Stores a new signing key.
    async fn signing_key_insert(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// All signing keys, oldest first.
    async fn signing_keys_list(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Marks the key retired at `now`; false when unknown or already retired.
    async fn signing_key_retire(&self, kid: &str, now: i64) -> StoreResult<bool>;
}

/// A tenant (organisation, workspace, graph): an id chosen by the administrator (it appears in
/// paths such as `/graphs/{graph_id}/`), a name, and an optional parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Chosen by the administrator; appears in paths.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The parent tenant, whose members' roles reach down to this one.
    pub parent_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A user's role in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    /// The tenant.
    pub tenant_id: String,
    /// The member.
    pub user_id: Uuid,
    /// Its role in the tenant (a `[[roles]]` name).
    pub role: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Permission grants on one tenant's resources given to a principal directly, without a
/// membership (consulted when the principal has no role in the tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGrantRecord {
    /// The tenant.
    pub tenant_id: String,
    /// The principal granted.
    pub user_id: Uuid,
    /// Permission grants on the tenant's resources.
    pub grants: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Durable tenants, memberships and resource grants; checked by `conformance::tenant_suite`.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Fails with [`crate::StoreError::Conflict`] when the id is taken.
    async fn tenant_insert(&self, tenant: &TenantRecord) -> StoreResult<()>;
    /// The tenant with this id.
    async fn tenant_get(&self, id: &str) -> StoreResult<Option<TenantRecord>>;
    /// All tenants, by id.
    async fn tenants_list(&self) -> StoreResult<Vec<TenantRecord>>;
    /// Deletes a tenant, its memberships and resource grants; false when unknown. Children keep existing and
    /// lose their parent.
    async fn tenant_delete(&self, id: &str) -> StoreResult<bool>;
    /// Adds or replaces the user's role in the tenant.
    async fn member_put(&self, member: &MembershipRecord) -> StoreResult<()>;
    /// Removes the user's membership; false when it had none.
    async fn member_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool>;
    /// Every membership, by tenant then user (the gateway keeps them in memory).
    async fn memberships_list(&self) -> StoreResult<Vec<MembershipRecord>>;
    /// Adds or replaces the principal's grants on the tenant's resources.
    async fn resource_grant_put(&self, grant: &ResourceGrantRecord) -> StoreResult<()>;
    /// Removes the principal's grants on the tenant; false when it had none.
    async fn resource_grant_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool>;
    /// Every resource grant, by tenant then principal.
    async fn resource_grants_list(&self) -> StoreResult<Vec<ResourceGrantRecord>>;
}
