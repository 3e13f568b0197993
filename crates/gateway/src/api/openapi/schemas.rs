//! The shapes of the answers the built-in API builds with `serde_json::json!` or takes from
//! other rooms (tokens, IP blocks, audit records), as OpenAPI schemas. They describe the wire
//! format and are never built: the handlers keep writing their bodies as they always did.
//! `scripts/api-fuzz` checks live answers against them (schemathesis'
//! `response_schema_conformance`), so a drift between a handler and its shape shows there.

// Documentation types: derived for their schema, never constructed.
#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// An RFC 9457 problem: every refusal of Palisade (`application/problem+json`). Some problems
/// carry more members (`permission`, `violations`, `problems`, `rule`).
#[derive(ToSchema)]
#[schema(example = json!({
    "type": "urn:palisade:problem:forbidden", "title": "Forbidden", "status": 403,
    "detail": "You are not allowed to do this.", "request_id": "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
    "permission": "admin.tenants.write"
}))]
pub(crate) struct Problem {
    /// `urn:palisade:problem:<slug>`.
    r#type: String,
    /// The status' reason phrase.
    title: String,
    status: u16,
    /// What went wrong and what to do; never internals.
    detail: String,
    request_id: String,
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: String,
}

/// `GET /readyz` when both stores answer.
#[derive(ToSchema)]
pub(crate) struct Ready {
    /// `ready`.
    status: String,
    /// The durable store's backend (`sqlite`, `postgres`, `memory`).
    store: String,
    /// The hot state's backend (`memory`, `redis`).
    hot_state: String,
}

/// A Palisade account.
#[derive(ToSchema)]
pub(crate) struct User {
    id: Uuid,
    email: String,
    name: Option<String>,
    roles: Vec<String>,
    tier: String,
    disabled: bool,
    /// Unix milliseconds.
    created_at: i64,
}

/// Tokens answered by login and refresh (OAuth 2 field names).
#[derive(ToSchema)]
pub(crate) struct Tokens {
    access_token: String,
    refresh_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds the access token lives.
    expires_in: u64,
}

/// `POST /auth/mfa/totp`: what an authenticator app enrolls from, shown once.
#[derive(ToSchema)]
pub(crate) struct TotpEnrollment {
    id: uuid::Uuid,
    name: String,
    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
    otpauth_uri: String,
    /// The URI as an SVG QR code (a standalone SVG document).
    qr_svg: String,
    /// The seed in base32, to type in by hand.
    secret: String,
}

/// One authenticator (never its seed).
#[derive(ToSchema)]
pub(crate) struct TotpInfo {
    id: uuid::Uuid,
    name: String,
    /// Unix milliseconds.
    created_at: i64,
    /// Unix milliseconds of the first valid code; `null` while unconfirmed.
    confirmed_at: Option<i64>,
}

/// `GET /auth/mfa/totp`.
#[derive(ToSchema)]
pub(crate) struct TotpList {
    authenticators: Vec<TotpInfo>,
    recovery_codes_remaining: u64,
}

/// `POST /auth/mfa/totp/{id}/confirm`.
#[derive(ToSchema)]
pub(crate) struct TotpConfirmed {
    id: uuid::Uuid,
    confirmed: bool,
    /// The account's ten recovery codes, with its first factor only; shown once.
    recovery_codes: Option<Vec<String>>,
}

/// Ten single-use recovery codes, shown once.
#[derive(ToSchema)]
pub(crate) struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// `DELETE /admin/users/{id}/mfa`.
#[derive(ToSchema)]
pub(crate) struct MfaReset {
    /// Authenticators and recovery codes removed.
    removed: u64,
}

/// `GET /auth/me`: the caller as the gates see it, and its account when it has one.
#[derive(ToSchema)]
pub(crate) struct Me {
    subject: String,
    /// `password`, `api_key`, `session`, `external`, …
    method: String,
    issuer: Option<String>,
    roles: Vec<String>,
    tenants: Vec<String>,
    tier: Option<String>,
    scopes: Vec<String>,
    session_id: Option<String>,
    key_id: Option<String>,
    /// The assurance level of the sign-in behind the credential: `aal1` or `aal2` (`null` for
    /// an API key).
    acr: Option<String>,
    /// How it was proven (RFC 8176 values: `pwd`, `otp`, `mfa`, …).
    amr: Option<Vec<String>>,
    /// Unix seconds of the last authentication (sign-in or step-up).
    auth_time: Option<u64>,
    #[schema(value_type = Option<User>)]
    user: Option<Value>,
}

/// `POST /auth/invites`: the invite to hand to the invited person.
#[derive(ToSchema)]
pub(crate) struct Invite {
    email: String,
    invite: String,
    /// Seconds it stays valid.
    expires_in: u64,
}

/// The JSON Web Key Set of Palisade's token-signing keys.
#[derive(ToSchema)]
pub(crate) struct Jwks {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Value>,
}

/// One of the caller's sessions.
#[derive(ToSchema)]
pub(crate) struct Session {
    id: Uuid,
    /// `token` or `cookie`.
    kind: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    user_agent: Option<String>,
    /// The first characters of the device fingerprint.
    device: String,
    /// The session this request belongs to.
    current: bool,
    /// When it was revoked (listed only with `include_revoked=true`).
    revoked_at: Option<i64>,
    /// Why: `logout`, `admin`, `reuse_detected`, `password_reset`, `account_deleted`,
    /// `incident` or `expired`.
    revoked_reason: Option<String>,
}

/// `GET /auth/sessions`.
#[derive(ToSchema)]
pub(crate) struct SessionList {
    sessions: Vec<Session>,
}

/// `POST /auth/sessions/revoke-all`.
#[derive(ToSchema)]
pub(crate) struct Revoked {
    /// Sessions ended.
    revoked: u64,
}

/// `POST /auth/browser-session`: the CSRF token to send as `X-CSRF-Token` with the cookie.
#[derive(ToSchema)]
pub(crate) struct BrowserSession {
    csrf_token: String,
    /// Seconds the cookie session lives.
    expires_in: u64,
}

/// An API key as listed (never its secret).
#[derive(ToSchema)]
pub(crate) struct ApiKey {
    id: Uuid,
    name: String,
    /// The first characters of the key (`pal_1a2b3c4d`).
    prefix: String,
    owner_id: Uuid,
    roles: Vec<String>,
    scopes: Vec<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    /// Why it was revoked: `logout`, `admin`, `reuse_detected`, `password_reset`,
    /// `account_deleted`, `incident` or `expired`.
    revoked_reason: Option<String>,
}

/// A new or rotated API key: the record and, this once, the key itself.
#[derive(ToSchema)]
pub(crate) struct ApiKeyIssued {
    id: Uuid,
    name: String,
    prefix: String,
    owner_id: Uuid,
    roles: Vec<String>,
    scopes: Vec<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    /// Always null for a new key.
    revoked_reason: Option<String>,
    /// The key (`pal_…`), shown only in this answer.
    key: String,
}

/// `GET /auth/api-keys`.
#[derive(ToSchema)]
pub(crate) struct ApiKeyList {
    api_keys: Vec<ApiKey>,
}

/// A tenant.
#[derive(ToSchema)]
pub(crate) struct Tenant {
    id: String,
    name: String,
    parent_id: Option<String>,
    created_at: i64,
}

/// `GET /admin/tenants`.
#[derive(ToSchema)]
pub(crate) struct TenantList {
    tenants: Vec<Tenant>,
}

/// A member of a tenant.
#[derive(ToSchema)]
pub(crate) struct Member {
    user_id: Uuid,
    role: String,
    created_at: i64,
}

/// `GET /admin/tenants/{id}/members`.
#[derive(ToSchema)]
pub(crate) struct MemberList {
    members: Vec<Member>,
}

/// Permissions on one tenant's resources held without a membership.
#[derive(ToSchema)]
pub(crate) struct ResourceGrant {
    user_id: Uuid,
    grants: Vec<String>,
    created_at: i64,
}

/// `GET /admin/tenants/{id}/grants`.
#[derive(ToSchema)]
pub(crate) struct ResourceGrantList {
    grants: Vec<ResourceGrant>,
}

/// A compiled role.
#[derive(ToSchema)]
pub(crate) struct Role {
    name: String,
    /// Its own grants, then inherited ones.
    grants: Vec<String>,
    /// Whether it administers Palisade (grants `*` or `admin.*`).
    admin: bool,
}

/// `GET /admin/roles`.
#[derive(ToSchema)]
pub(crate) struct RoleList {
    roles: Vec<Role>,
}

/// `GET /admin/policy/explain`: the decision and the rule that made it.
#[derive(ToSchema)]
pub(crate) struct Explanation {
    /// `allow`, `unauthenticated` or `deny`.
    decision: String,
    rule: Option<String>,
    reason: String,
    /// The tenant an allow was decided in.
    tenant: Option<String>,
    /// A deny that was a privilege-escalation attempt.
    privilege_escalation: Option<bool>,
}

/// `POST /admin/config/reload`.
#[derive(ToSchema)]
pub(crate) struct Reloaded {
    /// `reloaded`.
    status: String,
    applied: String,
}

/// A service account.
#[derive(ToSchema)]
pub(crate) struct ServiceAccount {
    id: Uuid,
    name: String,
    roles: Vec<String>,
    tier: String,
    disabled: bool,
    created_at: i64,
}

/// `GET /admin/service-accounts`.
#[derive(ToSchema)]
pub(crate) struct ServiceAccountList {
    service_accounts: Vec<ServiceAccount>,
}

/// An IP block in force.
#[derive(ToSchema)]
pub(crate) struct IpBlock {
    ip: String,
    /// The threat level of the address' failures.
    level: String,
    failures_24h: u64,
    remaining_seconds: u64,
}

/// `GET /admin/ip-blocks`.
#[derive(ToSchema)]
pub(crate) struct IpBlockList {
    blocks: Vec<IpBlock>,
}

/// `GET /admin/audit`: one page of the trail, oldest first.
#[derive(ToSchema)]
pub(crate) struct AuditPage {
    /// Audit records (`seq`, `id`, `ts_ms`, `event_type`, `risk`, `actor`, …, `prev_hash`,
    /// `hash`).
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
    /// Pass as `after` for the next page; none on the last.
    next_after: Option<u64>,
}

/// A `{key, count}` pair of a summary's top lists.
#[derive(ToSchema)]
pub(crate) struct Count {
    key: String,
    count: u64,
}

/// `GET /admin/security/summary`.
#[derive(ToSchema)]
pub(crate) struct SecuritySummary {
    window_seconds: u64,
    /// Events read.
    events: u64,
    /// More events than one summary reads.
    truncated: bool,
    failed_logins_by_ip: Vec<Count>,
    failed_logins_by_account: Vec<Count>,
    denials: u64,
    rate_limit_hits: u64,
    #[schema(value_type = Vec<Object>)]
    privilege_escalation_attempts: Vec<Value>,
    top_risky_actors: Vec<Count>,
    current_blocks: Vec<IpBlock>,
}

/// `GET /admin/incidents`.
#[derive(ToSchema)]
pub(crate) struct IncidentList {
    window_seconds: u64,
    /// Newest first: the alert engine's `incident.opened` details with `seq`, the current
    /// severity and count, and the webhook's delivery.
    #[schema(value_type = Vec<Object>)]
    incidents: Vec<Value>,
}

/// `POST /admin/audit/events`.
#[derive(ToSchema)]
pub(crate) struct AppEventsPosted {
    /// Events stored by this call.
    stored: u64,
    /// Events whose idempotency key this principal had used already (stored before).
    duplicates: u64,
    /// Per event, in the order posted.
    results: Vec<AppEventResult>,
}

/// One posted event's fate.
#[derive(ToSchema)]
pub(crate) struct AppEventResult {
    /// Its position in the batch, from 0.
    index: u64,
    /// The key it was posted with.
    idempotency_key: String,
    /// `stored` or `duplicate`.
    #[schema(example = "stored")]
    status: String,
}

/// `GET /v1/secrets`: paths the caller may read.
#[derive(ToSchema)]
pub(crate) struct SecretList {
    paths: Vec<String>,
    /// Pass as `after` for the next page; none on the last.
    next: Option<String>,
}

/// A secret's version, with its value.
#[derive(ToSchema)]
pub(crate) struct Secret {
    path: String,
    version: u32,
    value: String,
    #[schema(value_type = Object)]
    metadata: Value,
    created_at: i64,
    created_by: Option<String>,
}

/// `PUT /v1/secrets/{path}`: the version written.
#[derive(ToSchema)]
pub(crate) struct SecretWritten {
    path: String,
    version: u32,
}

/// A delete or undelete done.
#[derive(ToSchema)]
pub(crate) struct SecretChanged {
    path: String,
    version: u32,
    /// `delete` or `undelete`.
    action: String,
}

/// A transit ciphertext and the data key it is under.
#[derive(ToSchema)]
pub(crate) struct TransitCiphertext {
    /// `pal1.<data key id>.<base64>`.
    ciphertext: String,
    key_version: String,
}

/// A transit plaintext.
#[derive(ToSchema)]
pub(crate) struct TransitPlaintext {
    /// Standard base64.
    plaintext: String,
}

/// `POST /admin/policy/command`.
#[derive(ToSchema)]
pub(crate) struct CommandDecision {
    /// `allow` or `deny`.
    decision: String,
    /// `allow-rule`, or why it is denied (`no-matching-rule`, `rm-root`, `fork-bomb`,
    /// `privilege-escalation`, `shell-metacharacter`, …).
    reason: String,
    /// The allow rule that matched, as written.
    rule: Option<String>,
    /// The policy's name (`inline` for a rule set sent with the request).
    policy: String,
    /// The command as split into argv (empty when refused before splitting).
    argv: Vec<String>,
}

/// `GET /admin/compliance/report` (`format=json`): see DESIGN.md "Compliance evidence report".
#[derive(ToSchema)]
pub(crate) struct ComplianceReport {
    /// `asvs-5.0-l2`, `nist-800-53-moderate` or `soc2-tsc`.
    standard: String,
    /// The standard's full name.
    title: String,
    /// RFC 3339, UTC.
    generated_at: String,
    /// What the document is: an evidence map, never an attestation.
    notice: String,
    /// The catalogue's source and licence (ASVS); null for catalogues in Palisade's words.
    attribution: Option<String>,
    /// Counts of met, partial, not_met, not_applicable, not_assessed, and percent.
    #[schema(value_type = Object)]
    summary: Value,
    /// Chapters, families or criterion groups: id, title, score, and controls (id, title,
    /// status, evidence [{key, value}], tests, remediation).
    #[schema(value_type = Vec<Object>)]
    groups: Vec<Value>,
    /// ASVS chapters the catalogue does not hold: id, title, note.
    #[schema(value_type = Vec<Object>)]
    not_in_catalogue: Vec<Value>,
}

/// `DELETE /auth/me`, `DELETE /admin/users/{id}`: the deletion as scheduled.
#[derive(ToSchema)]
#[schema(example = json!({
    "user_id": "0192f1c4-1b2a-7c3d-8e4f-5a6b7c8d9e0f",
    "deleted_at": 1_767_225_600_000_i64, "purge_after": 1_769_817_600_000_i64
}))]
pub(crate) struct DeletionScheduled {
    user_id: Uuid,
    /// When deletion was asked (Unix ms): the account is disabled from then on.
    deleted_at: i64,
    /// From when the retention job erases the account (Unix ms); until then
    /// `POST /admin/users/{id}/restore` undoes the deletion.
    purge_after: i64,
}
