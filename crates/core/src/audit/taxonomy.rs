//! The documented event types, each with its retention class and default risk.

use super::Risk;

/// Retention classes (days kept by default: 365, 365, 180, 90).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Sign-ins, refusals, blocks, role changes, policy and key administration.
    Security,
    /// Reading or issuing secrets and credentials (secret reads, API keys, transit).
    CredentialAccess,
    /// Actions taken on someone's behalf by tools and jobs.
    ToolExecution,
    /// Ordinary requests on audited routes (`api.request`); high volume, shortest retention.
    ApiCall,
}

impl Class {
    /// The configuration spelling (`security`, `credential_access`, …), as in `audit.retention_days`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Security => "security",
            Class::CredentialAccess => "credential_access",
            Class::ToolExecution => "tool_execution",
            Class::ApiCall => "api_call",
        }
    }

    /// Days a record of this class is kept unless `audit.retention_days` says otherwise.
    pub fn default_retention_days(self) -> u32 {
        match self {
            Class::Security | Class::CredentialAccess => 365,
            Class::ToolExecution => 180,
            Class::ApiCall => 90,
        }
    }
}

/// One known event type: what the trail, the docs and `config check` agree an event means.
pub struct EventType {
    /// `area.verb`, as recorded.
    pub name: &'static str,
    /// Its retention class.
    pub class: Class,
    /// The risk it is recorded with.
    pub risk: Risk,
    /// One line for people reading the trail.
    pub description: &'static str,
    /// A caller without credentials can cause an event of this type (a failed sign-in under any
    /// e-mail, a refusal, a registration, traffic on an open route). `config check` refuses
    /// alert actions that lock someone out or shut the gateway on rules over such events: an
    /// attacker must not be able to trigger them against a victim.
    pub anonymous: bool,
}

const fn t(name: &'static str, class: Class, risk: Risk, description: &'static str) -> EventType {
    EventType {
        name,
        class,
        risk,
        description,
        anonymous: false,
    }
}

/// `e`, marked as causable by an unauthenticated caller.
const fn anon(e: EventType) -> EventType {
    EventType {
        anonymous: true,
        ..e
    }
}

use Class::*;
use Risk::*;

/// Every event type Palisade records; an event of another type is refused by the trail.
pub const EVENT_TYPES: &[EventType] = &[
    t("auth.login_success", Security, Low, "a sign-in succeeded"),
    anon(t(
        "auth.login_failure",
        Security,
        Medium,
        "a sign-in failed (unknown account, wrong password, disabled)",
    )),
    t("auth.logout", Security, Low, "a session ended by its owner"),
    t(
        "auth.refresh",
        Security,
        Low,
        "a refresh token was exchanged",
    ),
    anon(t(
        "auth.refresh_reuse_detected",
        Security,
        High,
        "a rotated refresh token came back: its session is revoked",
    )),
    t(
        "auth.token_revoked",
        Security,
        Medium,
        "an access token was revoked",
    ),
    t(
        "auth.session_revoked",
        Security,
        Medium,
        "a session was revoked",
    ),
    t(
        "auth.sessions_revoked_all",
        Security,
        Medium,
        "every session of an account was revoked",
    ),
    anon(t(
        "auth.credential_rejected",
        Security,
        Medium,
        "a presented bearer token, API key or session cookie was refused (details.credential, \
         details.reason; sampled: details.count refusals per stored event)",
    )),
    anon(t(
        "auth.login_refused",
        Security,
        Medium,
        "a sign-in was refused before its password was checked: the delay ladder or a missing \
         CAPTCHA (sampled: details.count refusals per stored event)",
    )),
    t(
        "console.idle_timeout",
        Security,
        Low,
        "a console session went unused longer than console.idle_timeout: the session is ended \
         and the browser sent to sign in again",
    ),
    anon(t(
        "auth.page_refused",
        Security,
        Medium,
        "a hosted page or the console refused a request: a form token not bound to the browser \
         (csrf), a return_to outside the allow-list, a malformed form, an address outside \
         console.allow_cidrs (details.reason; sampled)",
    )),
    t(
        "auth.passkey_registered",
        Security,
        Medium,
        "a passkey was added to an account (resource passkey:<id>, details.name)",
    ),
    t(
        "auth.passkey_deleted",
        Security,
        Medium,
        "a passkey was removed from an account",
    ),
    anon(t(
        "auth.passkey_refused",
        Security,
        Medium,
        "a passkey registration or sign-in was refused: unknown or expired ceremony, unknown \
         credential, failed verification, replayed counter (details.reason; sampled)",
    )),
    anon(t(
        "auth.device_mismatch",
        Security,
        High,
        "a device-bound token came from another device",
    )),
    anon(t(
        "auth.device_requested",
        Security,
        Low,
        "a device asked for sign-in by the device authorization grant (RFC 8628)",
    )),
    t(
        "auth.device_approved",
        Security,
        Medium,
        "a signed-in user approved a device's sign-in by its user code",
    ),
    t(
        "auth.device_denied",
        Security,
        Low,
        "a signed-in user denied a device's sign-in by its user code",
    ),
    t(
        "auth.device_token_issued",
        Security,
        Low,
        "an approved device redeemed its device code for tokens",
    ),
    anon(t(
        "auth.device_code_refused",
        Security,
        Medium,
        "a user code was refused (unknown, malformed, expired, already decided, or too many \
         wrong entries) (sampled: details.count refusals per stored event)",
    )),
    anon(t(
        "auth.device_token_refused",
        Security,
        Medium,
        "a device-code token request was refused (invalid grant or client, slow_down, \
         expired_token, access_denied) (sampled: details.count refusals per stored event)",
    )),
    anon(t(
        "auth.federated_login",
        Security,
        Medium,
        "a sign-in through an identity provider succeeded, or was refused (details.reason: \
         state, issuer mix-up, code, ID token, account rules, second factor) \
         (refusals sampled: details.count refusals per stored event)",
    )),
    anon(t(
        "auth.federated_link",
        Security,
        Medium,
        "a provider identity was linked to an account (details.via: signed-in, \
         verified-email, provisioned)",
    )),
    t(
        "connection.created",
        Security,
        Medium,
        "an account connected a provider: its tokens are stored sealed",
    ),
    t(
        "connection.token_read",
        CredentialAccess,
        Medium,
        "a connection's access token was handed out (to its owner or a granted service account)",
    ),
    t(
        "connection.refreshed",
        CredentialAccess,
        Low,
        "a connection's access token was refreshed at its provider",
    ),
    t(
        "connection.revoked",
        Security,
        Medium,
        "an account deleted one of its connections and its tokens",
    ),
    t(
        "mfa.enrollment_started",
        Security,
        Low,
        "a TOTP authenticator was created, unconfirmed until its first code",
    ),
    t(
        "mfa.enrolled",
        Security,
        Medium,
        "a second factor was added (its first valid code)",
    ),
    t(
        "mfa.removed",
        Security,
        Medium,
        "a user removed one of their second factors",
    ),
    anon(t(
        "mfa.challenged",
        Security,
        Low,
        "a valid password of an account with a second factor: an mfa_token was issued",
    )),
    t(
        "mfa.verified",
        Security,
        Low,
        "a second factor was proven (sign-in or step-up)",
    ),
    anon(t(
        "mfa.failed",
        Security,
        Medium,
        "a second-factor check failed (wrong code, unknown mfa_token, or a wait in force)",
    )),
    t(
        "mfa.recovery_used",
        Security,
        Medium,
        "a recovery code was used (the user is notified)",
    ),
    t(
        "mfa.recovery_regenerated",
        Security,
        Medium,
        "a new set of recovery codes replaced the old one",
    ),
    t(
        "mfa.step_up",
        Security,
        Low,
        "a signed-in user proved a second factor: a new aal2 session replaced theirs",
    ),
    t(
        "mfa.step_up_required",
        Security,
        Low,
        "a route needing mfa or a recent sign-in refused a credential below it (RFC 9470)",
    ),
    t(
        "mfa.enrollment_overdue",
        Security,
        Medium,
        "a sign-in was refused: the role requires a second factor and the grace period is over",
    ),
    t(
        "mfa.reset",
        Security,
        High,
        "an administrator removed every second factor of a user",
    ),
    t(
        "apikey.created",
        CredentialAccess,
        Medium,
        "an API key was created",
    ),
    t(
        "apikey.rotated",
        CredentialAccess,
        Medium,
        "an API key was replaced by a new one",
    ),
    t(
        "apikey.revoked",
        CredentialAccess,
        Medium,
        "an API key was revoked",
    ),
    t(
        "apikey.imported",
        CredentialAccess,
        Medium,
        "an API key was imported with the hash another system stored",
    ),
    t(
        "apikey.import_refused",
        Security,
        Low,
        "a row of an API-key import was refused (the reason, never a hash)",
    ),
    t(
        "apikey.migrated",
        CredentialAccess,
        Low,
        "an imported API key was used and re-stored under Palisade's keyed hash (legacy hash deleted)",
    ),
    anon(t(
        "authz.denied",
        Security,
        Medium,
        "a request was refused by policy (403)",
    )),
    t(
        "authz.privilege_escalation_attempt",
        Security,
        High,
        "a non-administrator tried an administrator action",
    ),
    anon(t(
        "ratelimit.exceeded",
        Security,
        Low,
        "a caller passed a rate limit (sampled: details.count refusals per stored event)",
    )),
    t("ip.blocked", Security, High, "an IP was blocked"),
    anon(t(
        "firewall.refused",
        Security,
        Low,
        "a request from a blocked address was refused (sampled: details.count refusals per \
         stored event)",
    )),
    anon(t(
        "request.ambiguous_path",
        Security,
        Medium,
        "the boundary refused a path it cannot make unambiguous (sampled: details.count \
         refusals per stored event)",
    )),
    t("ip.unblocked", Security, Medium, "an IP block was lifted"),
    anon(t(
        "inspect.injection_attempt",
        Security,
        High,
        "input matched an injection or traversal pattern: details name the detector, the \
         location and a redacted excerpt, never the value (sampled: details.count per stored \
         event)",
    )),
    anon(t(
        "inspect.refused",
        Security,
        Medium,
        "the inspect gate refused a body it cannot inspect: over the inspection limit, \
         compressed, not UTF-8, a duplicate JSON key, too deep or too many values (sampled)",
    )),
    t(
        "credential.access",
        CredentialAccess,
        Medium,
        "a stored credential or secret was read",
    ),
    t(
        "transit.encrypt",
        CredentialAccess,
        Low,
        "a value was encrypted with a transit key",
    ),
    t(
        "transit.decrypt",
        CredentialAccess,
        Low,
        "a value was decrypted with a transit key",
    ),
    t(
        "transit.rewrap",
        CredentialAccess,
        Low,
        "a ciphertext was re-encrypted under the primary data key",
    ),
    t(
        "keyring.rotated",
        Security,
        Medium,
        "a new primary data key was made",
    ),
    t(
        "keyring.retired",
        Security,
        Medium,
        "a data key was retired",
    ),
    t(
        "keyring.reencrypted",
        Security,
        Medium,
        "stored values were re-encrypted under the primary data key",
    ),
    t(
        "secret.write",
        CredentialAccess,
        Medium,
        "a secret was written, deleted or restored",
    ),
    anon(t("user.created", Security, Low, "an account was created")),
    t("user.invited", Security, Low, "an invitation was issued"),
    t(
        "user.notified",
        Security,
        Low,
        "a user was told about a security change on their account (notice kind in details)",
    ),
    t(
        "user.email_changed",
        Security,
        Medium,
        "an account's e-mail address was changed by its holder (the old address was notified; \
         the new one starts unverified)",
    ),
    anon(t(
        "auth.email_verification_requested",
        Security,
        Low,
        "a verification mail was queued for an account's address",
    )),
    t(
        "auth.email_verified",
        Security,
        Low,
        "an account's address was verified with an e-mailed token",
    ),
    anon(t(
        "auth.password_reset_requested",
        Security,
        Low,
        "a password reset was asked for an address (details.sent: whether a mail was queued: \
         false for an unknown address or one over its limit; the caller is told the same)",
    )),
    t(
        "auth.password_reset",
        Security,
        Medium,
        "a password was reset with an e-mailed token: every session revoked, factors kept",
    ),
    anon(t(
        "auth.email_token_refused",
        Security,
        Medium,
        "an e-mailed token was refused (details.purpose: verify or reset; details.reason: \
         unknown, expired, used, weak-password)",
    )),
    anon(t(
        "auth.email_rate_limited",
        Security,
        Medium,
        "an e-mail flow request was refused: too many from one client address",
    )),
    anon(t(
        "mail.send_failed",
        Security,
        Medium,
        "a mail could not be delivered to the relay (details.reason; queue-full when dropped)",
    )),
    t("user.disabled", Security, Medium, "an account was disabled"),
    t(
        "user.deletion_requested",
        Security,
        High,
        "an account was deleted: disabled, its sessions and keys revoked, erased after the grace",
    ),
    t(
        "user.restored",
        Security,
        High,
        "a deleted account was restored within the grace period",
    ),
    t(
        "user.deleted",
        Security,
        High,
        "a deleted account was erased through every table that held it",
    ),
    t(
        "user.enabled",
        Security,
        Medium,
        "a disabled account was enabled again",
    ),
    t(
        "user.roles_changed",
        Security,
        High,
        "an account's roles changed",
    ),
    t(
        "user.tier_changed",
        Security,
        Medium,
        "an account's subscription tier changed",
    ),
    t(
        "user.imported",
        Security,
        Low,
        "an account was imported with its password hash from another system",
    ),
    t(
        "user.import_refused",
        Security,
        Low,
        "a row of an account import was refused (the field and the reason, never a hash)",
    ),
    t(
        "service_account.created",
        Security,
        Medium,
        "a service account was created",
    ),
    t("tenant.created", Security, Medium, "a tenant was created"),
    t("tenant.deleted", Security, Medium, "a tenant was deleted"),
    t(
        "tenant.member_set",
        Security,
        Medium,
        "a member's role in a tenant was set",
    ),
    t(
        "tenant.member_removed",
        Security,
        Medium,
        "a member left a tenant",
    ),
    t(
        "tenant.grant_set",
        Security,
        Medium,
        "resource grants in a tenant were set",
    ),
    t(
        "tenant.grant_removed",
        Security,
        Medium,
        "resource grants in a tenant were removed",
    ),
    t(
        "config.reloaded",
        Security,
        Medium,
        "roles and route policies were reloaded",
    ),
    t(
        "config.reload_failed",
        Security,
        Medium,
        "a reload was refused; the old policy stays",
    ),
    t(
        "identity.handoff",
        Security,
        Low,
        "the gateway applied a change queued by the CLI",
    ),
    anon(t(
        "circuit.opened",
        Security,
        High,
        "an upstream's circuit opened",
    )),
    anon(t(
        "circuit.half_open",
        Security,
        Low,
        "an upstream's circuit lets probes through",
    )),
    anon(t(
        "circuit.closed",
        Security,
        Low,
        "an upstream's circuit closed",
    )),
    t(
        "data.exported",
        CredentialAccess,
        High,
        "data was exported (including the audit trail)",
    ),
    t(
        "data.deleted",
        Security,
        High,
        "data was deleted on request",
    ),
    t(
        "audit.purged",
        Security,
        Medium,
        "expired audit records were purged (with a signed checkpoint)",
    ),
    t(
        "audit.subject_forgotten",
        Security,
        Medium,
        "the key sealing a subject's personal fields in the trail was destroyed (resource \
         user:ID: erasure of an account; audit_day:YYYY-MM-DD: anonymous callers' fields of a \
         day past retention); those fields now read [erased], the records are unchanged",
    ),
    t(
        "audit.app_events_refused",
        Security,
        Medium,
        "a batch of application events was refused (details.reason: batch-too-large, \
         invalid-event, quota, busy; details.index names the event); the events posted are \
         recorded with their own app.* types and source app",
    ),
    t(
        "incident.opened",
        Security,
        High,
        "an alert rule fired: an incident with its severity and the actions taken",
    ),
    t(
        "incident.updated",
        Security,
        Medium,
        "an incident's severity was raised, or a webhook or e-mail delivery (of an incident, or of \
         an access review: details.review_id) finished",
    ),
    anon(t(
        "tool.executed",
        ToolExecution,
        Low,
        "an agent tool call passed the gateway",
    )),
    anon(t(
        "api.request",
        ApiCall,
        Low,
        "an API request passed the gateway (per-request audit)",
    )),
    anon(t(
        "schema.refused",
        Security,
        Medium,
        "a request body failed its route's content rules: media type not allowed, not \
         readable as JSON within the bounds, or not matching the route's JSON Schema (details \
         name the fields by JSON pointer and the keywords, never a value; sampled)",
    )),
    anon(t(
        "query.refused",
        Security,
        Medium,
        "the query firewall refused a query: its class above the caller's roles, or the reason",
    )),
    anon(t(
        "tool.allowed",
        ToolExecution,
        Low,
        "an agent tool call passed its permission and command policy",
    )),
    anon(t(
        "tool.denied",
        Security,
        Medium,
        "an agent tool call was refused: invalid name, permission, or command policy, with the reason",
    )),
    t(
        "policy.command_checked",
        Security,
        Low,
        "an administrator asked how a command policy decides a command (POST /admin/policy/command)",
    ),
    t(
        "compliance.report_generated",
        Security,
        Low,
        "a compliance evidence report was drawn (palisade compliance report or GET \
         /admin/compliance/report): the standard and its summary score",
    ),
    anon(t(
        "websocket.refused",
        Security,
        Medium,
        "a WebSocket upgrade was refused before it reached the upstream: a cross-site Origin \
         on a cookie sign-in, the caller's connection cap, or an upgrade to another protocol \
         on a relayed route (details.reason; sampled)",
    )),
    anon(t(
        "websocket.throttled",
        Security,
        Low,
        "a WebSocket client sent over its message rate; reading paused until the rate allows \
         (sampled: details.count per stored event)",
    )),
    anon(t(
        "websocket.closed",
        Security,
        Medium,
        "Palisade closed a relayed WebSocket connection: details.reason too-big (1009), \
         message-rate, revoked or inspect (1008)",
    )),
    anon(t(
        "upload.refused",
        Security,
        Medium,
        "the upload gate refused a file: details.reason (type-not-allowed, type-mismatch, \
         too-large, too-many-parts, archive-*, csv-*, json-*, parquet-malformed, multipart-*), \
         the type found and declared, sizes and limits, the part or row; never the content \
         (sampled: details.count per stored event)",
    )),
    t(
        "gateway.lockdown_on",
        Security,
        Critical,
        "the gateway was locked down: every request refused but administrators' sign-in, the \
         admin API and the ops endpoints (details.reason, details.by: admin, cli or alert)",
    ),
    t(
        "gateway.lockdown_off",
        Security,
        High,
        "a lockdown was lifted: traffic flows again",
    ),
    anon(t(
        "lockdown.refused",
        Security,
        Low,
        "a request was refused with 503 while the gateway is locked down (sampled: \
         details.count refusals per stored event)",
    )),
    t(
        "review.access",
        Security,
        Medium,
        "the scheduled access review ran: accounts and API keys unused for too long, keys past \
         their maximum age, administrators without a second factor (counts and ids in details)",
    ),
];

/// The known event type called `name`.
pub fn find(name: &str) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which events a caller without credentials can cause, as `config check` relies on.
    #[test]
    fn anonymous_causes_are_classified() {
        for (name, anonymous) in [
            ("auth.login_failure", true),
            ("auth.credential_rejected", true),
            ("auth.login_refused", true),
            ("auth.password_reset_requested", true),
            ("ratelimit.exceeded", true),
            ("firewall.refused", true),
            ("inspect.injection_attempt", true),
            ("inspect.refused", true),
            ("schema.refused", true),
            ("upload.refused", true),
            ("authz.denied", true),
            ("user.created", true),
            ("api.request", true),
            ("lockdown.refused", true),
            ("mfa.failed", true),
            ("auth.login_success", false),
            ("authz.privilege_escalation_attempt", false),
            ("credential.access", false),
            ("secret.write", false),
            ("apikey.created", false),
            ("user.roles_changed", false),
            ("mfa.reset", false),
            ("gateway.lockdown_on", false),
        ] {
            let t = find(name).unwrap_or_else(|| panic!("{name} is not a type"));
            assert_eq!(t.anonymous, anonymous, "{name}");
        }
    }

    #[test]
    fn every_refusal_is_anonymous() {
        for t in EVENT_TYPES.iter().filter(|t| t.name.ends_with("refused")) {
            let by_admins = [
                "apikey.import_refused",
                "user.import_refused",
                "audit.app_events_refused",
            ];
            if !by_admins.contains(&t.name) {
                assert!(t.anonymous, "{} is a refusal anyone can cause", t.name);
            }
        }
    }
}
