//! The decision: route → authentication requirement → effective roles (tenant membership, then
//! resource-level grants, then the caller's own roles; on a tenant route a caller with no
//! membership keeps only administrator roles) → every required permission granted by those roles
//! and allowed by the key's scopes → any required role held. Anything else is denied.
//!
//! `admin_only` restricts, it does not only label: such a route needs a credential whatever its
//! `auth`, and only a caller that administers Palisade (its own roles grant `*` or `admin.*`, see
//! [`RoleMatrix::is_admin_role`], and a key's scopes still cover `admin.*`) gets past it; anyone
//! else is refused as a privilege-escalation attempt before the route's other rules are read.

use super::roles::{RoleDef, RoleMatrix};
use super::routes::{AuthRequirement, RoutePolicy};
use super::{grant_covers, grant_matches, valid_grant, valid_permission};

/// Where tenant roles come from (memberships resolved through parent tenants by the caller).
pub trait TenantDirectory {
    /// The caller's roles in the tenant, if a membership (direct or inherited) exists.
    fn roles_in(&self, tenant: &str) -> Option<Vec<String>>;
    /// Grants given to the caller on this tenant's resources directly, if any.
    fn resource_grants(&self, tenant: &str) -> Option<Vec<String>>;
}

/// The caller, as the decision needs it.
pub struct Subject<'a> {
    /// How the caller proved who it is; `None` for anonymous. External tokens count as `Jwt`.
    pub authenticated_by: Option<AuthRequirement>,
    /// The caller's global roles (inherited roles are the matrix's business).
    pub roles: &'a [String],
    /// An API key's grants; empty means the key (or credential) is not narrowed.
    pub scopes: &'a [String],
    /// The caller's tenant memberships, asked on tenant routes.
    pub tenants: &'a dyn TenantDirectory,
}

/// What the policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request may pass.
    Allow {
        /// The policy rule that decided (route name, or `builtin`).
        rule: String,
        /// Why, in words for `policy explain` and the trail.
        reason: String,
        /// The tenant the request was authorized in.
        tenant: Option<String>,
    },
    /// No (acceptable) credential: 401.
    Unauthenticated {
        /// The policy rule that decided.
        rule: String,
        /// Why, in words.
        reason: String,
    },
    /// 403; `escalation` when a non-admin was refused on an admin-only route.
    Deny {
        /// The policy rule that decided.
        rule: String,
        /// Why, in words.
        reason: String,
        /// Whether this is a privilege-escalation attempt (recorded as such).
        escalation: bool,
    },
}

/// Every route's compiled policy and the role matrix: what the authorize gate asks.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// One per configured route, by route id (its position in the configuration).
    routes: Vec<RoutePolicy>,
    matrix: RoleMatrix,
}

/// Roles that apply, and where they came from (for the explanation).
enum Effective {
    Roles(Vec<String>, String),
    Grants(Vec<String>, String),
}

fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

impl PolicySet {
    /// Compiles route policies and role definitions, listing every problem at once (unknown roles,
    /// invalid permissions, patterns without the tenant parameter, …).
    pub fn compile(routes: Vec<RoutePolicy>, roles: &[RoleDef]) -> Result<PolicySet, Vec<String>> {
        let matrix = RoleMatrix::compile(roles);
        let mut problems = matrix.as_ref().err().cloned().unwrap_or_default();
        for r in &routes {
            let at = format!("routes {}", r.name);
            for p in r.permissions.iter().filter(|p| !valid_permission(p)) {
                problems.push(format!(
                    "{at}: permission {p:?} is not like \"graphs.write\""
                ));
            }
            if let Ok(m) = &matrix {
                for role in r.roles.iter().filter(|role| !m.has_role(role)) {
                    problems.push(format!("{at}: unknown role {role:?}"));
                }
            }
            if let Some(res) = &r.resource
                && !valid_permission(&format!("{res}.read"))
            {
                problems.push(format!("{at}: resource {res:?} is not like \"graphs\""));
            }
            if r.step_up.is_any() && r.auth == AuthRequirement::None && !r.admin_only {
                problems.push(format!(
                    "{at}: mfa and max_auth_age need a signed-in caller; set auth"
                ));
            }
            if r.tenant_param.is_some() && r.tenant_header.is_some() {
                problems.push(format!(
                    "{at}: tenant_param and tenant_header both name the tenant; keep one"
                ));
            }
            if let Some(param) = &r.tenant_param {
                let named = r
                    .pattern
                    .as_deref()
                    .is_some_and(|p| p.split('/').any(|s| s == format!("{{{param}}}")));
                if !named {
                    problems.push(format!(
                        "{at}: tenant_param {param:?} is not a {{parameter}} of its pattern"
                    ));
                }
            }
            if let Some(pattern) = &r.pattern
                && !pattern.starts_with(r.prefix.split('{').next().unwrap_or(""))
            {
                problems.push(format!(
                    "{at}: pattern {pattern:?} does not extend prefix {:?}",
                    r.prefix
                ));
            }
        }
        match matrix {
            Ok(matrix) if problems.is_empty() => Ok(PolicySet { routes, matrix }),
            _ => Err(problems),
        }
    }

    /// The compiled roles, for grant checks outside a route.
    pub fn matrix(&self) -> &RoleMatrix {
        &self.matrix
    }

    /// The policies, by route id.
    pub fn routes(&self) -> &[RoutePolicy] {
        &self.routes
    }

    /// Decides a request the route decision ([`super::RouteIndex`]) gave to route `route`
    /// (`None`: no route serves it, so it is denied).
    pub fn decide(
        &self,
        route: Option<usize>,
        method: &str,
        path: &str,
        subject: &Subject,
    ) -> Decision {
        self.decide_in(route, method, path, None, subject)
    }

    /// [`PolicySet::decide`] for a request that names its tenant in a header: on a route with
    /// `tenant_header`, `header_tenant` is the tenant decided in (`None`: the request names
    /// none, denied); other routes ignore it.
    pub fn decide_in(
        &self,
        route: Option<usize>,
        method: &str,
        path: &str,
        header_tenant: Option<&str>,
        subject: &Subject,
    ) -> Decision {
        let Some(route) = route.and_then(|i| self.routes.get(i)) else {
            return Decision::Deny {
                rule: "default".into(),
                reason: format!("no route allows {method} {path}"),
                escalation: false,
            };
        };
        let rule = route.name.clone();
        if let Some(why) = self.unauthenticated(route, subject) {
            return Decision::Unauthenticated { rule, reason: why };
        }
        if route.admin_only && !self.administers(subject) {
            return self.deny(
                route,
                subject,
                "the route is for administrators only".into(),
            );
        }
        let mut required: Vec<String> = route.permissions.clone();
        if let Some(res) = &route.resource {
            required.push(format!(
                "{res}.{}",
                if is_safe(method) { "read" } else { "write" }
            ));
        }
        if required.is_empty() && route.roles.is_empty() {
            return Decision::Allow {
                rule,
                reason: if route.admin_only {
                    "an administrator on an admin-only route".into()
                } else {
                    "the route requires no permission".into()
                },
                tenant: None,
            };
        }
        let tenant = if route.tenant_header.is_some() {
            header_tenant
        } else {
            route
                .tenant_param
                .as_deref()
                .and_then(|p| route.param(path, p))
        };
        if route.tenant_param.is_some() && tenant.is_none() {
            return self.deny(route, subject, "the path names no tenant".into());
        }
        if let (Some(h), None) = (&route.tenant_header, tenant) {
            return self.deny(
                route,
                subject,
                format!("the request names no tenant in {h}"),
            );
        }
        let effective = self.effective(subject, tenant);
        let mut reasons = Vec::new();
        for permission in &required {
            match self.grant_for(&effective, permission) {
                Some(why) => reasons.push(why),
                None => {
                    return self.deny(
                        route,
                        subject,
                        format!("{permission} is not granted{}", in_tenant(tenant)),
                    );
                }
            }
            if !subject.scopes.is_empty()
                && !subject.scopes.iter().any(|s| grant_matches(s, permission))
            {
                return self.deny(
                    route,
                    subject,
                    format!("{permission} is outside the key's scopes"),
                );
            }
        }
        if !route.roles.is_empty() {
            let held = match &effective {
                Effective::Roles(roles, _) => route
                    .roles
                    .iter()
                    .find(|want| roles.iter().any(|r| self.matrix.includes(r, want))),
                Effective::Grants(..) => None,
            };
            match held {
                Some(role) => reasons.push(format!("role {role} held")),
                None => {
                    return self.deny(
                        route,
                        subject,
                        format!(
                            "one of the roles {:?} is required{}",
                            route.roles,
                            in_tenant(tenant)
                        ),
                    );
                }
            }
        }
        Decision::Allow {
            rule,
            reason: reasons.join("; "),
            tenant: tenant.map(String::from),
        }
    }

    fn unauthenticated(&self, route: &RoutePolicy, subject: &Subject) -> Option<String> {
        let needs_someone = route.auth != AuthRequirement::None
            || route.admin_only
            || !route.permissions.is_empty()
            || route.resource.is_some()
            || !route.roles.is_empty();
        match (route.auth, subject.authenticated_by) {
            (_, None) if needs_someone => Some("the route needs a credential".into()),
            (AuthRequirement::None | AuthRequirement::Any, _) => None,
            (want, Some(got)) if want != got => Some(format!(
                "the route accepts {} only, not {}",
                want.as_str(),
                got.as_str()
            )),
            _ => None,
        }
    }

    /// Roles in the tenant (membership, through parents), else resource-level grants, else the
    /// caller's own roles — on a tenant route only those that administer every tenant.
    fn effective(&self, subject: &Subject, tenant: Option<&str>) -> Effective {
        let Some(t) = tenant else {
            return Effective::Roles(subject.roles.to_vec(), String::new());
        };
        if let Some(roles) = subject.tenants.roles_in(t) {
            return Effective::Roles(roles, format!(" in tenant {t}"));
        }
        if let Some(grants) = subject.tenants.resource_grants(t) {
            return Effective::Grants(
                grants.into_iter().filter(|g| valid_grant(g)).collect(),
                format!(" on tenant {t}'s resources"),
            );
        }
        let admins = subject
            .roles
            .iter()
            .filter(|r| self.matrix.is_admin_role(r))
            .cloned()
            .collect();
        Effective::Roles(admins, format!(" (administrator, not a member of {t})"))
    }

    fn grant_for(&self, effective: &Effective, permission: &str) -> Option<String> {
        match effective {
            Effective::Roles(roles, whence) => {
                self.matrix.allows(roles, permission).map(|(role, grant)| {
                    format!("{permission} granted by role {role} (grant {grant}){whence}")
                })
            }
            Effective::Grants(grants, whence) => grants
                .iter()
                .find(|g| grant_matches(g, permission))
                .map(|g| format!("{permission} granted directly (grant {g}){whence}")),
        }
    }

    /// Does the caller administer Palisade: one of its own roles (not a tenant membership)
    /// grants `*` or `admin.*`, and its key's scopes, if any, still cover `admin.*`.
    fn administers(&self, subject: &Subject) -> bool {
        subject.roles.iter().any(|r| self.matrix.is_admin_role(r))
            && (subject.scopes.is_empty()
                || subject.scopes.iter().any(|s| grant_covers(s, "admin.*")))
    }

    fn deny(&self, route: &RoutePolicy, subject: &Subject, reason: String) -> Decision {
        Decision::Deny {
            rule: route.name.clone(),
            reason,
            escalation: route.admin_only && !self.administers(subject),
        }
    }
}

fn in_tenant(tenant: Option<&str>) -> String {
    tenant
        .map(|t| format!(" in tenant {t}"))
        .unwrap_or_default()
}
