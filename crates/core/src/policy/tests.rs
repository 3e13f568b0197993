//! The decision table: wildcards, inheritance, tenant membership, sub-tenant inheritance,
//! service-account narrowing, auth requirements, escalation, default deny.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// Memberships: tenant → role; parents: tenant → parent. Resolved through parents like the
/// gateway's tenant snapshot.
struct Dir {
    members: HashMap<&'static str, &'static str>,
    parents: HashMap<&'static str, &'static str>,
    grants: HashMap<&'static str, Vec<String>>,
}

impl TenantDirectory for Dir {
    fn roles_in(&self, tenant: &str) -> Option<Vec<String>> {
        let mut t = tenant;
        for _ in 0..8 {
            if let Some(role) = self.members.get(t) {
                return Some(vec![role.to_string()]);
            }
            t = self.parents.get(t)?;
        }
        None
    }
    fn resource_grants(&self, tenant: &str) -> Option<Vec<String>> {
        self.grants.get(tenant).cloned()
    }
}

fn policies() -> PolicySet {
    let route = |name: &str, prefix: &str| RoutePolicy {
        name: name.into(),
        prefix: prefix.into(),
        ..Default::default()
    };
    PolicySet::compile(
        vec![
            RoutePolicy {
                auth: AuthRequirement::None,
                ..route("public", "/public/")
            },
            RoutePolicy {
                auth: AuthRequirement::Any,
                ..route("me", "/me")
            },
            RoutePolicy {
                resource: Some("docs".into()),
                ..route("docs", "/docs/")
            },
            RoutePolicy {
                resource: Some("graphs".into()),
                pattern: Some("/graphs/{graph_id}/".into()),
                tenant_param: Some("graph_id".into()),
                ..route("graphs", "/graphs/")
            },
            RoutePolicy {
                permissions: vec!["tools.read_file.execute".into()],
                auth: AuthRequirement::ApiKey,
                ..route("tool", "/tools/read_file")
            },
            RoutePolicy {
                permissions: vec!["admin.config".into()],
                admin_only: true,
                ..route("admin", "/admin-api/")
            },
            RoutePolicy {
                roles: vec!["manager".into()],
                ..route("managers", "/reports/")
            },
            RoutePolicy {
                permissions: vec!["agents.run".into(), "agents.read".into()],
                ..route("agents", "/agents/")
            },
        ],
        &[
            default_roles(),
            vec![
                RoleDef {
                    name: "agent-operator".into(),
                    grants: vec!["agents.*".into()],
                    inherits: vec![],
                },
                RoleDef {
                    name: "tool-user".into(),
                    grants: vec!["tools.*".into()],
                    inherits: vec!["viewer".into()],
                },
            ],
        ]
        .concat(),
    )
    .unwrap()
}

/// The route decision over the policies' prefixes, then the policy decision, as the gateway
/// makes them.
fn decide(set: &PolicySet, method: &str, path: &str, subject: &Subject) -> Decision {
    let index = RouteIndex::new(
        set.routes()
            .iter()
            .map(|r| RouteKey {
                prefix: r.prefix.clone(),
                ..Default::default()
            })
            .collect(),
    );
    let route = match index.find(None, method, path) {
        RouteMatch::Found(id) => Some(id),
        _ => None,
    };
    set.decide(route, method, path, subject)
}

struct Case {
    who: Option<AuthRequirement>,
    roles: &'static [&'static str],
    scopes: &'static [&'static str],
    members: &'static [(&'static str, &'static str)],
    method: &'static str,
    path: &'static str,
    expect: &'static str,
}

const JWT: Option<AuthRequirement> = Some(AuthRequirement::Jwt);
const KEY: Option<AuthRequirement> = Some(AuthRequirement::ApiKey);

fn case(
    who: Option<AuthRequirement>,
    roles: &'static [&'static str],
    method: &'static str,
    path: &'static str,
    expect: &'static str,
) -> Case {
    Case {
        who,
        roles,
        scopes: &[],
        members: &[],
        method,
        path,
        expect,
    }
}

#[test]
fn decision_table() {
    let set = policies();
    let cases = [
        // default deny and auth requirements
        case(JWT, &["owner"], "GET", "/nowhere", "deny"),
        case(None, &[], "GET", "/public/x", "allow"),
        case(None, &[], "GET", "/me", "401"),
        case(KEY, &[], "GET", "/me", "allow"),
        case(None, &[], "GET", "/docs/a", "401"),
        // method rules and inheritance: viewer reads, member writes, owner everything
        case(JWT, &["viewer"], "GET", "/docs/a", "allow"),
        case(JWT, &["viewer"], "POST", "/docs/a", "deny"),
        case(JWT, &["member"], "POST", "/docs/a", "allow"),
        case(JWT, &["owner"], "DELETE", "/docs/a", "allow"),
        case(JWT, &["ghost"], "GET", "/docs/a", "deny"),
        // wildcards: agents.* covers agents.run and agents.read; viewer lacks agents.run
        case(JWT, &["agent-operator"], "POST", "/agents/1", "allow"),
        case(JWT, &["viewer"], "GET", "/agents/1", "deny"),
        // required roles: inherited roles count
        case(JWT, &["admin"], "GET", "/reports/q1", "allow"),
        case(JWT, &["member"], "GET", "/reports/q1", "deny"),
        // auth = api_key only
        case(JWT, &["owner"], "POST", "/tools/read_file", "401"),
        // admin-only routes: a non-admin's refusal is an escalation attempt
        case(JWT, &["member"], "POST", "/admin-api/reload", "escalation"),
        case(JWT, &["admin"], "POST", "/admin-api/reload", "allow"),
        // tenants: membership, other tenants, sub-tenant inheritance and override
        Case {
            members: &[("g1", "member")],
            ..case(JWT, &["viewer"], "POST", "/graphs/g1/nodes", "allow")
        },
        Case {
            members: &[("g1", "member")],
            ..case(JWT, &["member"], "GET", "/graphs/g2/nodes", "deny")
        },
        Case {
            members: &[("org", "member")],
            ..case(JWT, &[], "POST", "/graphs/team/nodes", "allow")
        },
        Case {
            members: &[("org", "member"), ("sub", "viewer")],
            ..case(JWT, &[], "POST", "/graphs/sub/nodes", "deny")
        },
        Case {
            members: &[("org", "member"), ("sub", "viewer")],
            ..case(JWT, &[], "GET", "/graphs/sub/nodes", "allow")
        },
        case(JWT, &["admin"], "POST", "/graphs/any/nodes", "allow"),
        case(JWT, &["member"], "GET", "/graphs/", "deny"),
        // resource-level grants when there is no membership
        case(JWT, &["member"], "GET", "/graphs/shared/nodes", "allow"),
        case(JWT, &["member"], "POST", "/graphs/shared/nodes", "deny"),
        // service accounts: scopes narrow, never widen
        Case {
            scopes: &["tools.read_file.execute"],
            ..case(KEY, &["tool-user"], "POST", "/tools/read_file", "allow")
        },
        Case {
            scopes: &["tools.write_file.execute"],
            ..case(KEY, &["tool-user"], "POST", "/tools/read_file", "deny")
        },
        case(KEY, &["tool-user"], "POST", "/tools/read_file", "allow"),
        case(KEY, &["member"], "POST", "/tools/read_file", "deny"),
        Case {
            scopes: &["tools.*"],
            ..case(KEY, &["viewer"], "POST", "/tools/read_file", "deny")
        },
        Case {
            scopes: &["*.read"],
            ..case(KEY, &["owner"], "POST", "/docs/a", "deny")
        },
    ];
    for c in cases {
        let dir = Dir {
            members: c.members.iter().copied().collect(),
            parents: [("team", "org"), ("sub", "team")].into_iter().collect(),
            grants: [("shared", vec!["graphs.read".to_string()])]
                .into_iter()
                .collect(),
        };
        let roles: Vec<String> = c.roles.iter().map(|s| s.to_string()).collect();
        let scopes: Vec<String> = c.scopes.iter().map(|s| s.to_string()).collect();
        let subject = Subject {
            authenticated_by: c.who,
            roles: &roles,
            scopes: &scopes,
            tenants: &dir,
        };
        let decision = decide(&set, c.method, c.path, &subject);
        let got = match &decision {
            Decision::Allow { .. } => "allow",
            Decision::Unauthenticated { .. } => "401",
            Decision::Deny {
                escalation: true, ..
            } => "escalation",
            Decision::Deny { .. } => "deny",
        };
        assert_eq!(
            got, c.expect,
            "{} {} as {:?} {:?}: {decision:?}",
            c.method, c.path, c.roles, c.members
        );
    }
}

#[test]
fn decisions_explain_themselves() {
    let set = policies();
    let dir = Dir {
        members: [("g1", "member")].into(),
        parents: HashMap::new(),
        grants: HashMap::new(),
    };
    let roles = vec!["viewer".to_string()];
    let subject = Subject {
        authenticated_by: JWT,
        roles: &roles,
        scopes: &[],
        tenants: &dir,
    };
    match decide(&set, "POST", "/graphs/g1/x", &subject) {
        Decision::Allow {
            rule,
            reason,
            tenant,
        } => {
            assert_eq!(rule, "graphs");
            assert_eq!(
                reason,
                "graphs.write granted by role member (grant *.write) in tenant g1"
            );
            assert_eq!(tenant.as_deref(), Some("g1"));
        }
        other => panic!("{other:?}"),
    }
    match decide(&set, "POST", "/docs/x", &subject) {
        Decision::Deny { rule, reason, .. } => {
            assert_eq!(rule, "docs");
            assert_eq!(reason, "docs.write is not granted");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn configuration_mistakes_are_named() {
    let bad = RoutePolicy {
        name: "x".into(),
        prefix: "/x/".into(),
        permissions: vec!["Bad Perm".into()],
        roles: vec!["nobody".into()],
        tenant_param: Some("id".into()),
        ..Default::default()
    };
    let errs = PolicySet::compile(vec![bad], &default_roles()).unwrap_err();
    for want in ["Bad Perm", "unknown role \"nobody\"", "tenant_param \"id\""] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

proptest! {
    /// A request that matches no route is denied, whoever asks.
    #[test]
    fn a_request_matching_no_rule_is_always_denied(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
        segments in proptest::collection::vec("[a-z0-9_-]{1,8}", 0..5),
        role in prop::sample::select(vec!["owner", "admin", "manager", "member", "viewer", "agent-operator"]),
        authenticated in any::<bool>(),
    ) {
        let set = policies();
        let path = format!("/zz-{}", segments.join("/"));
        let dir = Dir { members: HashMap::new(), parents: HashMap::new(), grants: HashMap::new() };
        let roles = vec![role.to_string()];
        let subject = Subject {
            authenticated_by: authenticated.then_some(AuthRequirement::Jwt),
            roles: &roles,
            scopes: &[],
            tenants: &dir,
        };
        let decision = decide(&set, method, &path, &subject);
        let denied = matches!(decision, Decision::Deny { .. });
        prop_assert!(denied, "{:?}", decision);
    }
}

/// `admin_only` restricts: on a route naming no permission, only callers whose own roles
/// administer Palisade (and whose key scopes still cover `admin.*`) pass; everyone else is
/// refused as an escalation attempt, a tenant membership does not count, anonymous gets 401.
#[test]
fn admin_only_admits_administrators_only() {
    let route = |name: &str, prefix: &str| RoutePolicy {
        name: name.into(),
        prefix: prefix.into(),
        admin_only: true,
        ..Default::default()
    };
    let set = PolicySet::compile(
        vec![
            route("console", "/console/"),
            RoutePolicy {
                pattern: Some("/t/{tenant}/".into()),
                tenant_param: Some("tenant".into()),
                resource: Some("things".into()),
                ..route("tenant-console", "/t/")
            },
            RoutePolicy {
                permissions: vec!["reports.read".into()],
                ..route("reports", "/reports/")
            },
        ],
        &[
            default_roles(),
            vec![
                RoleDef {
                    name: "ops".into(),
                    grants: vec![],
                    inherits: vec!["admin".into()],
                },
                RoleDef {
                    name: "janitor".into(),
                    grants: vec!["admin.*".into()],
                    inherits: vec![],
                },
            ],
        ]
        .concat(),
    )
    .unwrap();
    let cases = [
        case(None, &[], "GET", "/console/x", "401"),
        case(JWT, &["member"], "GET", "/console/x", "escalation"),
        case(JWT, &["manager"], "DELETE", "/console/x", "escalation"),
        case(
            JWT,
            &["viewer", "member"],
            "GET",
            "/console/x",
            "escalation",
        ),
        case(JWT, &["admin"], "GET", "/console/x", "allow"),
        case(JWT, &["owner"], "POST", "/console/x", "allow"),
        case(JWT, &["ops"], "GET", "/console/x", "allow"),
        case(JWT, &["janitor"], "GET", "/console/x", "allow"),
        case(KEY, &["admin"], "GET", "/console/x", "allow"),
        Case {
            scopes: &["graphs.read"],
            ..case(KEY, &["owner"], "GET", "/console/x", "escalation")
        },
        Case {
            scopes: &["admin.*"],
            ..case(KEY, &["admin"], "GET", "/console/x", "allow")
        },
        Case {
            scopes: &["*"],
            ..case(KEY, &["owner"], "GET", "/console/x", "allow")
        },
        // A tenant membership as admin is not administering Palisade.
        Case {
            members: &[("t1", "admin")],
            ..case(JWT, &["member"], "GET", "/t/t1/x", "escalation")
        },
        case(JWT, &["admin"], "POST", "/t/t1/x", "allow"),
        // The route's own rules still apply to administrators.
        case(JWT, &["admin"], "GET", "/reports/q", "allow"),
        case(JWT, &["janitor"], "GET", "/reports/q", "deny"),
        case(JWT, &["member"], "GET", "/reports/q", "escalation"),
    ];
    for c in cases {
        let dir = Dir {
            members: c.members.iter().copied().collect(),
            parents: HashMap::new(),
            grants: HashMap::new(),
        };
        let roles: Vec<String> = c.roles.iter().map(|s| s.to_string()).collect();
        let scopes: Vec<String> = c.scopes.iter().map(|s| s.to_string()).collect();
        let subject = Subject {
            authenticated_by: c.who,
            roles: &roles,
            scopes: &scopes,
            tenants: &dir,
        };
        let decision = decide(&set, c.method, c.path, &subject);
        let got = match &decision {
            Decision::Allow { .. } => "allow",
            Decision::Unauthenticated { .. } => "401",
            Decision::Deny {
                escalation: true, ..
            } => "escalation",
            Decision::Deny { .. } => "deny",
        };
        assert_eq!(
            got, c.expect,
            "{} {} as {:?} {:?} {:?}: {decision:?}",
            c.method, c.path, c.roles, c.scopes, c.members
        );
    }
}

/// A route naming its tenant in a header decides in the tenant the header gave, exactly as a
/// pattern parameter would; no header is a denial; other routes ignore the header's tenant.
#[test]
fn a_header_tenant_is_decided_like_a_path_tenant() {
    let route = |name: &str, prefix: &str| RoutePolicy {
        name: name.into(),
        prefix: prefix.into(),
        ..Default::default()
    };
    let routes = vec![
        RoutePolicy {
            resource: Some("graphs".into()),
            tenant_header: Some("X-Graph-Id".into()),
            ..route("by-header", "/h/")
        },
        RoutePolicy {
            resource: Some("docs".into()),
            ..route("docs", "/docs/")
        },
    ];
    let set = PolicySet::compile(routes, &default_roles()).unwrap();
    let dir = Dir {
        members: [("g1", "member")].into(),
        parents: HashMap::new(),
        grants: HashMap::new(),
    };
    let subject = Subject {
        authenticated_by: JWT,
        roles: &[],
        scopes: &[],
        tenants: &dir,
    };
    match set.decide_in(Some(0), "POST", "/h/x", Some("g1"), &subject) {
        Decision::Allow { tenant, .. } => assert_eq!(tenant.as_deref(), Some("g1")),
        other => panic!("{other:?}"),
    }
    match set.decide_in(Some(0), "GET", "/h/x", Some("g2"), &subject) {
        Decision::Deny { reason, .. } => {
            assert_eq!(reason, "graphs.read is not granted in tenant g2")
        }
        other => panic!("{other:?}"),
    }
    match set.decide_in(Some(0), "GET", "/h/x", None, &subject) {
        Decision::Deny { reason, .. } => {
            assert_eq!(reason, "the request names no tenant in X-Graph-Id")
        }
        other => panic!("{other:?}"),
    }
    // Another route's decision never takes the header's tenant.
    assert!(matches!(
        set.decide_in(Some(1), "GET", "/docs/x", Some("g1"), &subject),
        Decision::Deny { .. }
    ));
    let both = RoutePolicy {
        pattern: Some("/b/{id}/".into()),
        tenant_param: Some("id".into()),
        tenant_header: Some("X-T".into()),
        ..route("both", "/b/")
    };
    let problems = PolicySet::compile(vec![both], &default_roles()).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("keep one")),
        "{problems:?}"
    );
}
