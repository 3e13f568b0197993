//! Authorization decisions: permissions (`resource.action`), grants with wildcards, roles with
//! inheritance, route policies, tenants, and API-key narrowing — compiled once, decided per
//! request without allocation-heavy work or I/O.
//!
//! Guarantees: default deny (a request no route allows is refused, and a route that names
//! permissions allows only callers whose effective roles grant every one of them); a key's scopes
//! can only narrow its roles; every decision names the rule and grant (or the missing permission)
//! that decided it.

mod decide;
mod grant;
mod roles;
mod routes;

pub use decide::{Decision, PolicySet, Subject, TenantDirectory};
pub use grant::{grant_covers, grant_matches, valid_grant, valid_permission};
pub use roles::{AUDITOR_GRANTS, RoleDef, RoleMatrix, default_roles};
pub use routes::{AuthRequirement, RouteIndex, RouteKey, RouteMatch, RoutePolicy};

#[cfg(test)]
mod tests;
