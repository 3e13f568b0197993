//! `/admin`: Palisade's administration API, one file per area: [`tenants`] (tenants, members,
//! resource grants), [`policy`] (roles, explanations, config reload), [`service_accounts`],
//! [`blocks`] (IP blocks), [`audit`] (the trail, its export, the security summary,
//! incidents), [`audit_events`] (an application's own events into the trail),
//! [`command_policy`] (how a command policy of agent tools decides a command),
//! [`compliance`] (the compliance evidence report) and [`incident`] (the lockdown,
//! disabling and enabling accounts), [`users`] (people's accounts: list, search, create,
//! roles, tier), [`user_access`] (their sessions, API keys and factors) and [`secrets`] (the
//! secrets store's metadata, never a value) and [`dashboard`] (the console's series).
//! Invitations are
//! `/auth/invites` ([`crate::api::auth`]).
//!
//! Every endpoint needs one of the [`perm`] permissions, checked with
//! `api::extract::require`: a refusal is a 403 and an `authz.denied` event
//! (plus `authz.privilege_escalation_attempt` for a caller who administers nothing). Every
//! change is an audit event.

pub mod audit;
pub mod audit_events;
pub mod blocks;
pub mod command_policy;
pub mod compliance;
pub mod dashboard;
pub mod incident;
pub mod policy;
pub mod secrets;
pub mod service_accounts;
pub mod tenants;
pub mod user_access;
pub mod users;

use crate::state::AppState;
use std::sync::Arc;

/// Permissions of Palisade's own admin API. Three segments, so that an ordinary role's `*.read`
/// or `*.write` never reaches them; the default `admin` role holds them all through `admin.*`.
pub mod perm {
    /// Listing tenants, their members and resource grants.
    pub const TENANTS_READ: &str = "admin.tenants.read";
    /// Creating and deleting tenants, setting members and resource grants.
    pub const TENANTS_WRITE: &str = "admin.tenants.write";
    /// Reading the role matrix.
    pub const ROLES_READ: &str = "admin.roles.read";
    /// Reading the route policies and explaining a decision.
    pub const POLICY_READ: &str = "admin.policy.read";
    /// Reloading the configuration.
    pub const CONFIG_WRITE: &str = "admin.config.write";
    /// Listing blocked addresses.
    pub const IP_BLOCKS_READ: &str = "admin.ip_blocks.read";
    /// Lifting an address's block.
    pub const IP_BLOCKS_WRITE: &str = "admin.ip_blocks.write";
    /// Inviting people to sign up.
    pub const INVITES_WRITE: &str = "admin.invites.write";
    /// Issuing and revoking API keys for other principals.
    pub const KEYS_WRITE: &str = "admin.keys.write";
    /// Creating service accounts.
    pub const SERVICE_ACCOUNTS_WRITE: &str = "admin.service_accounts.write";
    /// Querying and verifying the audit trail.
    pub const AUDIT_READ: &str = "admin.audit.read";
    /// Listing incidents the alert rules opened.
    pub const INCIDENTS_READ: &str = "admin.incidents.read";
    /// Reading the OpenAPI document of this API (`GET /admin/openapi.json`).
    pub const API_READ: &str = "admin.api.read";
    /// Posting application events into the trail (`POST /admin/audit/events`). Not an
    /// `admin.` permission: it is meant for service accounts, through a role that grants it;
    /// the default `admin` role holds it through `audit.*`, no role below it does.
    pub const AUDIT_EVENTS_WRITE: &str = "audit.events.write";
    /// Reset a user's second factors.
    pub const MFA_WRITE: &str = "admin.mfa.write";
    /// Exporting everything Palisade holds about an account (`GET /admin/users/{id}/export`).
    pub const USERS_EXPORT: &str = "admin.users.export";
    /// Drawing the compliance evidence report (`GET /admin/compliance/report`).
    pub const COMPLIANCE_READ: &str = "admin.compliance.read";
    /// Listing and reading people's accounts, their sessions, API keys and factors.
    pub const USERS_READ: &str = "admin.users.read";
    /// Creating accounts, disabling and enabling them, setting their roles and tier, ending
    /// their sessions.
    pub const USERS_WRITE: &str = "admin.users.write";
    /// Reading the secrets store's metadata (paths, versions, times; never a value).
    pub const SECRETS_READ: &str = "admin.secrets.read";
    /// Opening the admin console (`/admin/console/`; each page also needs its own read
    /// permission) and reading its dashboard (`GET /admin/dashboard/series`).
    pub const CONSOLE_READ: &str = "admin.console.read";
    /// Deleting accounts and restoring them within the grace period
    /// (`DELETE /admin/users/{id}`, `POST /admin/users/{id}/restore`).
    pub const USERS_DELETE: &str = "admin.users.delete";
    /// Reading the lockdown state.
    pub const LOCKDOWN_READ: &str = "admin.lockdown.read";
    /// Locking the gateway down and lifting it.
    pub const LOCKDOWN_WRITE: &str = "admin.lockdown.write";
}

/// Every `/admin` endpoint.
pub fn router() -> axum::Router<Arc<AppState>> {
    tenants::router()
        .merge(policy::router())
        .merge(service_accounts::router())
        .merge(blocks::router())
        .merge(audit::router())
        .merge(audit_events::router())
        .merge(command_policy::router())
        .merge(compliance::router())
        .merge(incident::router())
        .merge(users::router())
        .merge(user_access::router())
        .merge(secrets::router())
        .merge(dashboard::router())
}
