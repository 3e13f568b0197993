//! Authorization: the compiled route policies and roles (`palisade_core::policy`) applied to a
//! caller, shared by the `authorize` gate and forward auth (`/auth/verify`). Refusals are
//! problem+json (401 with `WWW-Authenticate`, 403) and audit events; a refusal on an admin-only
//! route by a non-admin is recorded as a privilege-escalation attempt (HIGH).
//!
//! [`tenants`] is the in-memory snapshot of tenants and memberships that tenant routes are
//! decided against. Reloading the policies from a changed file is `crate::reload`.

use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::Config;
use crate::problem::refuse;
use crate::request::Res;
use http::StatusCode;
use palisade_core::policy::{AuthRequirement, Decision, PolicySet, RoutePolicy, Subject};
use palisade_core::principal::{AuthMethod, Principal};
use std::sync::{Arc, RwLock};
use tenants::{Snapshot, Tenants};

pub mod step_up;
pub mod tenants;

/// The label of the authorize gate's refusals.
pub const GATE: &str = "authorize";

/// Route policies, the role matrix and the tenant snapshot: what decides who may do what.
/// Policies are swapped whole on reload.
pub struct Authorizer {
    policies: RwLock<Arc<PolicySet>>,
    audit: Arc<AuditLog>,
    tenants: Arc<Tenants>,
    clock: palisade_core::clock::SharedClock,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

/// The route policies a configuration declares (one per `[[routes]]`).
pub fn compile(config: &Config) -> Result<PolicySet, Vec<String>> {
    let routes = config
        .routes
        .iter()
        .map(|r| RoutePolicy {
            name: r.display_name().to_string(),
            prefix: r.prefix.clone(),
            pattern: r.pattern.clone(),
            auth: r.auth.unwrap_or_default(),
            permissions: r.permission.clone(),
            roles: r.roles.clone(),
            resource: r.resource.clone(),
            tenant_param: r.tenant_param.clone(),
            tenant_header: r.tenant_header.clone(),
            admin_only: r.admin_only,
            step_up: palisade_core::mfa::assurance::Requirement {
                mfa: r.mfa,
                max_auth_age: r.max_auth_age.map(|d| d.0.as_secs()),
            },
        })
        .collect();
    let roles = if config.roles.is_empty() {
        palisade_core::policy::default_roles()
    } else {
        config.roles.clone()
    };
    PolicySet::compile(routes, &roles)
}

fn requirement(method: AuthMethod) -> AuthRequirement {
    match method {
        AuthMethod::Jwt | AuthMethod::External => AuthRequirement::Jwt,
        AuthMethod::ApiKey => AuthRequirement::ApiKey,
        AuthMethod::Session => AuthRequirement::Session,
    }
}

/// A caller's tenants: stored memberships (through parent tenants) for Palisade accounts and
/// their keys; for tokens from other issuers, the tenants their token names (their roles apply
/// there).
struct CallerTenants<'a> {
    principal: &'a Principal,
    snapshot: &'a Snapshot,
}

impl palisade_core::policy::TenantDirectory for CallerTenants<'_> {
    fn roles_in(&self, tenant: &str) -> Option<Vec<String>> {
        let p = self.principal;
        if p.method == AuthMethod::External {
            return p
                .tenants
                .iter()
                .any(|t| t == tenant)
                .then(|| p.roles.clone());
        }
        // Memberships name the account (its id), whatever `auth.subject` shows.
        let role = self.snapshot.role_in(tenant, &p.account_key())?;
        // A key never acts with more than the roles it was given.
        if p.method == AuthMethod::ApiKey && !p.roles.iter().any(|r| r == role) {
            return Some(p.roles.clone());
        }
        Some(vec![role.to_string()])
    }

    fn resource_grants(&self, tenant: &str) -> Option<Vec<String>> {
        let p = self.principal;
        if p.method == AuthMethod::External {
            return None;
        }
        self.snapshot
            .grants_in(tenant, &p.account_key())
            .map(<[String]>::to_vec)
    }
}

impl Authorizer {
    /// An authorizer over compiled `policies`, recording denials in `audit`.
    pub fn new(policies: PolicySet, audit: Arc<AuditLog>, tenants: Arc<Tenants>) -> Self {
        Self {
            policies: RwLock::new(Arc::new(policies)),
            audit,
            tenants,
            clock: Arc::new(palisade_core::clock::SystemClock),
        }
    }

    /// The clock `max_auth_age` is counted on (the system clock unless a test gives its own).
    pub fn with_clock(mut self, clock: palisade_core::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    fn policies(&self) -> Arc<PolicySet> {
        self.policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Does the caller's own role set grant `permission` (and its key's scopes allow it)?
    /// Used by Palisade's own API, whose permissions have three segments (`admin.tenants.write`)
    /// so that the `*.read` / `*.write` grants of ordinary roles never reach them.
    pub fn permits(&self, principal: &Principal, permission: &str) -> bool {
        let in_scope = principal.scopes.is_empty()
            || principal
                .scopes
                .iter()
                .any(|s| palisade_core::policy::grant_matches(s, permission));
        in_scope
            && self
                .policies()
                .matrix()
                .allows(&principal.roles, permission)
                .is_some()
    }

    /// Does the caller hold `permission` in `tenant`, as a route policy with a tenant parameter
    /// would decide: its roles there (membership, through parents), else its resource grants on
    /// the tenant, else only its administrator roles. Without a tenant, its own roles
    /// ([`Authorizer::permits`]). A key's scopes bound both.
    pub fn permits_in(
        &self,
        principal: &Principal,
        tenant: Option<&str>,
        permission: &str,
    ) -> bool {
        let Some(tenant) = tenant else {
            return self.permits(principal, permission);
        };
        let in_scope = principal.scopes.is_empty()
            || principal
                .scopes
                .iter()
                .any(|s| palisade_core::policy::grant_matches(s, permission));
        if !in_scope {
            return false;
        }
        use palisade_core::policy::TenantDirectory as _;
        let snapshot = self.tenants.snapshot();
        let directory = CallerTenants {
            principal,
            snapshot: &snapshot,
        };
        let policies = self.policies();
        let matrix = policies.matrix();
        if let Some(roles) = directory.roles_in(tenant) {
            return matrix.allows(&roles, permission).is_some();
        }
        if let Some(grants) = directory.resource_grants(tenant) {
            return grants.iter().any(|g| {
                palisade_core::policy::valid_grant(g)
                    && palisade_core::policy::grant_matches(g, permission)
            });
        }
        let admins: Vec<String> = principal
            .roles
            .iter()
            .filter(|r| matrix.is_admin_role(r))
            .cloned()
            .collect();
        matrix.allows(&admins, permission).is_some()
    }

    /// Records a refusal of Palisade's own admin API: a denial, and a privilege-escalation
    /// attempt (HIGH) when the caller holds no administrator role at all.
    pub fn record_admin_denial(
        &self,
        principal: &Principal,
        permission: &str,
        origin: &RequestOrigin,
    ) {
        let event = AuditEvent::new("authz.denied", Risk::Medium, Outcome::Denied)
            .actor(principal.subject.clone())
            .resource(format!("permission:{permission}"))
            .origin(origin)
            .details(serde_json::json!({ "reason": format!("{permission} is not granted") }));
        self.audit.record(event.clone());
        if !self.is_admin(&principal.roles) {
            let mut esc = event;
            esc.event_type = "authz.privilege_escalation_attempt";
            esc.risk = Risk::High;
            self.audit.record(esc);
        }
    }

    /// Does any of `roles` administer Palisade?
    pub fn is_admin(&self, roles: &[String]) -> bool {
        let policies = self.policies();
        roles.iter().any(|r| policies.matrix().is_admin_role(r))
    }

    /// May a holder of `roles` give the role `wanted`: is every grant of `wanted` (inherited ones
    /// included) covered by one of theirs? Nobody hands out more than they hold.
    pub fn may_give_role(&self, roles: &[String], wanted: &str) -> bool {
        let policies = self.policies();
        policies
            .matrix()
            .grants_of(wanted)
            .is_some_and(|theirs| self.covers(roles, theirs))
    }

    /// Is every grant in `theirs` covered by a grant of `roles`?
    pub fn covers(&self, roles: &[String], theirs: &[String]) -> bool {
        let policies = self.policies();
        let m = policies.matrix();
        let mine: Vec<&String> = roles
            .iter()
            .filter_map(|r| m.grants_of(r))
            .flatten()
            .collect();
        theirs.iter().all(|t| {
            mine.iter()
                .any(|g| palisade_core::policy::grant_covers(g, t))
        })
    }

    /// Whether a role of this name is configured.
    pub fn matrix_has_role(&self, role: &str) -> bool {
        self.policies().matrix().has_role(role)
    }

    /// Every role with its grants, inherited ones included (`GET /admin/roles`).
    pub fn roles_json(&self) -> serde_json::Value {
        let policies = self.policies();
        let m = policies.matrix();
        let roles: Vec<_> = m
            .role_names()
            .map(|name| {
                serde_json::json!({
                    "name": name,
                    "grants": m.grants_of(name).unwrap_or_default(),
                    "admin": m.is_admin_role(name),
                })
            })
            .collect();
        serde_json::json!({ "roles": roles })
    }

    /// Swaps in a new policy set (config reload); the old one keeps serving in-flight requests.
    pub fn replace(&self, policies: PolicySet) {
        *self.policies.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policies);
    }

    /// Decides a request the route decision gave to route id `route` (`None`: no route).
    pub fn decide(
        &self,
        route: Option<usize>,
        method: &str,
        path: &str,
        principal: Option<&Principal>,
    ) -> Decision {
        self.decide_in(route, method, path, None, principal)
    }

    /// [`Authorizer::decide`] with the tenant a request named in its route's `tenant_header`.
    pub fn decide_in(
        &self,
        route: Option<usize>,
        method: &str,
        path: &str,
        header_tenant: Option<&str>,
        principal: Option<&Principal>,
    ) -> Decision {
        let policies = self.policies();
        let snapshot = self.tenants.snapshot();
        let none: Vec<String> = Vec::new();
        let anonymous = Principal {
            subject: String::new(),
            account: None,
            method: AuthMethod::Jwt,
            issuer: String::new(),
            roles: Vec::new(),
            tenants: Vec::new(),
            tier: None,
            scopes: Vec::new(),
            session_id: None,
            token_id: None,
            key_id: None,
            expires_at: 0,
            assurance: None,
        };
        let who = principal.unwrap_or(&anonymous);
        let directory = CallerTenants {
            principal: who,
            snapshot: &snapshot,
        };
        let subject = Subject {
            authenticated_by: principal.map(|p| requirement(p.method)),
            roles: principal.map_or(&none, |p| &p.roles),
            scopes: principal.map_or(&none, |p| &p.scopes),
            tenants: &directory,
        };
        policies.decide_in(route, method, path, header_tenant, &subject)
    }

    /// The decision for a request described by hand (`GET /admin/policy/explain`, `palisade
    /// policy check`): the same canonical path and route decision a live request gets.
    pub fn explain(
        &self,
        routes: &crate::route::table::RouteTable,
        path_policy: &palisade_core::path::PathPolicy,
        host: Option<&str>,
        method: &str,
        path: &str,
        principal: Option<&Principal>,
    ) -> Decision {
        let path = match palisade_core::path::canonicalize(path, path_policy) {
            Ok(p) => p,
            Err(e) => {
                return Decision::Deny {
                    rule: "ambiguous-path".into(),
                    reason: format!("the path is refused before any route: {e}"),
                    escalation: false,
                };
            }
        };
        if routes.builtin(&path).is_some() {
            return Decision::Deny {
                rule: "builtin".into(),
                reason: "one of Palisade's own endpoints: it checks its own permissions".into(),
                escalation: false,
            };
        }
        let route = http::Method::from_bytes(method.as_bytes())
            .ok()
            .and_then(|m| routes.find(host, &path, &m).route().map(|r| r.id));
        self.decide(route, method, &path, principal)
    }

    /// 400 for a request that did not name one valid tenant in its route's `tenant_header`, on
    /// record as `authz.denied` (with the rule of `decision`, which denied it for want of one).
    pub fn tenant_header_refusal(
        &self,
        sent: &crate::request::TenantHeader,
        decision: &Decision,
        principal: Option<&Principal>,
        origin: &RequestOrigin,
    ) -> Res {
        let request_id = origin.request_id.as_deref().unwrap_or("-");
        let (slug, detail, reason) = match sent {
            crate::request::TenantHeader::Missing => (
                "tenant-header-missing",
                "This route needs the tenant in its tenant header.",
                "the request names no tenant",
            ),
            _ => (
                "tenant-header-invalid",
                "The tenant header must hold exactly one tenant id (1-64 of A-Z a-z 0-9 _ -).",
                "the tenant header is not one tenant id",
            ),
        };
        let rule = match decision {
            Decision::Allow { rule, .. }
            | Decision::Deny { rule, .. }
            | Decision::Unauthenticated { rule, .. } => rule.as_str(),
        };
        let mut event = AuditEvent::new("authz.denied", Risk::Medium, Outcome::Denied)
            .resource(format!("route:{rule}"))
            .origin(origin)
            .details(serde_json::json!({ "reason": reason }));
        if let Some(p) = principal {
            event = event.actor(p.subject.clone());
        }
        self.audit.record(event);
        refuse(GATE, slug, StatusCode::BAD_REQUEST, detail, request_id)
    }

    /// The answer for a decision that is not `Allow`, with its audit events.
    pub fn refusal(
        &self,
        decision: &Decision,
        principal: Option<&Principal>,
        origin: &RequestOrigin,
    ) -> Option<Res> {
        let request_id = origin.request_id.as_deref().unwrap_or("-");
        match decision {
            Decision::Allow { .. } => None,
            Decision::Unauthenticated { .. } => Some(crate::problem::unauthorized(
                "missing",
                "Sign in: this route needs credentials.",
                request_id,
            )),
            Decision::Deny {
                rule,
                reason,
                escalation,
            } => {
                let actor = principal.map(|p| p.subject.clone());
                let mut event = AuditEvent::new("authz.denied", Risk::Medium, Outcome::Denied)
                    .resource(format!("route:{rule}"))
                    .origin(origin)
                    .details(serde_json::json!({ "reason": reason }));
                if let Some(a) = &actor {
                    event = event.actor(a.clone());
                }
                self.audit.record(event.clone());
                if *escalation {
                    let mut esc = event;
                    esc.event_type = "authz.privilege_escalation_attempt";
                    esc.risk = Risk::High;
                    self.audit.record(esc);
                }
                Some(refuse(
                    GATE,
                    "forbidden",
                    StatusCode::FORBIDDEN,
                    "You are not allowed to do this.",
                    request_id,
                ))
            }
        }
    }

    /// Does the caller hold `role` (itself or a role inheriting it) where it acts: in `tenant`,
    /// its roles there as [`Authorizer::permits_in`] reads them (membership through parents,
    /// else only its administrator roles); without one, its own roles. The query firewall's
    /// per-role ceiling asks this.
    pub fn holds_role(&self, principal: &Principal, tenant: Option<&str>, role: &str) -> bool {
        let policies = self.policies();
        let matrix = policies.matrix();
        let roles = match tenant {
            None => principal.roles.clone(),
            Some(tenant) => {
                use palisade_core::policy::TenantDirectory as _;
                let snapshot = self.tenants.snapshot();
                let directory = CallerTenants {
                    principal,
                    snapshot: &snapshot,
                };
                directory.roles_in(tenant).unwrap_or_else(|| {
                    principal
                        .roles
                        .iter()
                        .filter(|r| matrix.is_admin_role(r))
                        .cloned()
                        .collect()
                })
            }
        };
        roles.iter().any(|r| matrix.includes(r, role))
    }
}

/// The principal an account (by e-mail), a service account (`svc:NAME`, as if through an
/// unscoped key) or an API key (by id) acts as, for explanations.
pub async fn principal_for(
    store: &dyn palisade_store::Store,
    who: &str,
) -> palisade_store::StoreResult<Option<Principal>> {
    let base = |subject: String, method, roles, tier| Principal {
        account: subject.parse().ok(),
        subject,
        method,
        issuer: String::new(),
        roles,
        tenants: Vec::new(),
        tier: Some(tier),
        scopes: Vec::new(),
        session_id: None,
        token_id: None,
        key_id: None,
        expires_at: 0,
        assurance: None,
    };
    if let Some(handle) = who
        .strip_prefix("svc:")
        .and_then(palisade_core::principal::service_account_handle)
    {
        return Ok(store
            .user_by_email(&handle)
            .await?
            .map(|u| base(u.id.to_string(), AuthMethod::ApiKey, u.roles, u.tier)));
    }
    if who.contains('@') {
        let Some(email) = palisade_core::email::normalize(who) else {
            return Ok(None);
        };
        return Ok(store
            .user_by_email(&email)
            .await?
            .map(|u| base(u.id.to_string(), AuthMethod::Jwt, u.roles, u.tier)));
    }
    let Ok(key_id) = who.parse::<uuid::Uuid>() else {
        return Ok(None);
    };
    let Some(key) = store.api_key_get(key_id).await? else {
        return Ok(None);
    };
    let Some(owner) = store.user_by_id(key.owner_id).await? else {
        return Ok(None);
    };
    let roles = key
        .roles
        .iter()
        .filter(|r| owner.roles.contains(r))
        .cloned()
        .collect();
    let mut p = base(owner.id.to_string(), AuthMethod::ApiKey, roles, owner.tier);
    p.scopes = key.scopes;
    p.key_id = Some(key.id.to_string());
    Ok(Some(p))
}

/// A decision as JSON: `decision` (`allow`, `unauthenticated`, `deny`), `rule`, `reason`.
pub fn decision_json(decision: &Decision) -> serde_json::Value {
    match decision {
        Decision::Allow {
            rule,
            reason,
            tenant,
        } => {
            serde_json::json!({"decision": "allow", "rule": rule, "reason": reason, "tenant": tenant})
        }
        Decision::Unauthenticated { rule, reason } => {
            serde_json::json!({"decision": "unauthenticated", "rule": rule, "reason": reason})
        }
        Decision::Deny {
            rule,
            reason,
            escalation,
        } => {
            serde_json::json!({"decision": "deny", "rule": rule, "reason": reason, "privilege_escalation": escalation})
        }
    }
}
