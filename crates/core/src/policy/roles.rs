//! Roles: named sets of grants that may inherit other roles. Compiled once into a matrix with
//! inheritance flattened; unknown parents, cycles and malformed grants are refused at compile
//! time, each named.
//!
//! Default hierarchy (replaceable in config):
//!
//! | role    | own grants                                             | inherits |
//! | ------- | ------------------------------------------------------ | -------- |
//! | owner   | `*`                                                    | admin    |
//! | admin   | `admin.*`, `users.*`, `roles.*`, `tenants.*`, `keys.*`, `audit.*` | manager  |
//! | manager | `members.*`, `*.delete`                                | member   |
//! | member  | `*.write`, `*.execute`                                 | viewer   |
//! | viewer  | `*.read`                                               | —        |

use super::grant::valid_grant;
use std::collections::{HashMap, HashSet};

/// One `[[roles]]` entry: a role, its grants and the roles it includes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    /// The role's name, as tokens and memberships carry it.
    pub name: String,
    /// Permission grants (`graphs.read`, `admin.*`, `*`).
    #[serde(default)]
    pub grants: Vec<String>,
    /// Roles whose grants this one includes too.
    #[serde(default)]
    pub inherits: Vec<String>,
}

/// The `auditor` role: every read permission of Palisade's admin API (accounts, tenants, roles,
/// policy, IP blocks, the audit trail, incidents, the API document, the lockdown, compliance,
/// secrets metadata, the console) and nothing that changes state or reveals a secret value
/// (`secrets.data.read`, `admin.users.export`). Named one by one rather than `admin.*.read`, so
/// a read permission added later is not granted without a decision; it is no administrator role.
pub const AUDITOR_GRANTS: &[&str] = &[
    "admin.users.read",
    "admin.tenants.read",
    "admin.roles.read",
    "admin.policy.read",
    "admin.ip_blocks.read",
    "admin.audit.read",
    "admin.incidents.read",
    "admin.api.read",
    "admin.lockdown.read",
    "admin.compliance.read",
    "admin.secrets.read",
    "admin.console.read",
];

/// The roles a fresh installation has: owner → admin → manager → member, viewer, and auditor
/// ([`AUDITOR_GRANTS`]).
pub fn default_roles() -> Vec<RoleDef> {
    let role = |name: &str, grants: &[&str], inherits: &[&str]| RoleDef {
        name: name.into(),
        grants: grants.iter().map(|s| s.to_string()).collect(),
        inherits: inherits.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        role("owner", &["*"], &["admin"]),
        role(
            "admin",
            &[
                "admin.*",
                "users.*",
                "roles.*",
                "tenants.*",
                "keys.*",
                "audit.*",
            ],
            &["manager"],
        ),
        role("manager", &["members.*", "*.delete"], &["member"]),
        role("member", &["*.write", "*.execute"], &["viewer"]),
        role("viewer", &["*.read"], &[]),
        role("auditor", AUDITOR_GRANTS, &[]),
    ]
}

#[derive(Debug, Clone)]
struct Compiled {
    /// Own grants first, then inherited ones, each once.
    grants: Vec<String>,
    /// This role and every role it inherits, directly or not.
    includes: HashSet<String>,
}

/// Roles compiled to their transitive grants: what permission checks read.
#[derive(Debug, Clone, Default)]
pub struct RoleMatrix {
    roles: HashMap<String, Compiled>,
    order: Vec<String>,
}

impl RoleMatrix {
    /// Compiles `defs`, listing every problem at once (duplicates, unknown or cyclic inheritance,
    /// invalid grants).
    pub fn compile(defs: &[RoleDef]) -> Result<RoleMatrix, Vec<String>> {
        let mut problems = Vec::new();
        let by_name: HashMap<&str, &RoleDef> = defs.iter().map(|d| (d.name.as_str(), d)).collect();
        if by_name.len() != defs.len() {
            problems.push("roles: a role name is declared twice".to_string());
        }
        for d in defs {
            for g in d.grants.iter().filter(|g| !valid_grant(g)) {
                problems.push(format!("roles.{}: {g:?} is not a grant like \"graphs.write\", \"graphs.*\", \"*.read\" or \"*\"", d.name));
            }
            for p in d
                .inherits
                .iter()
                .filter(|p| !by_name.contains_key(p.as_str()))
            {
                problems.push(format!("roles.{} inherits unknown role {p:?}", d.name));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut roles = HashMap::new();
        for d in defs {
            let mut includes = HashSet::new();
            let mut grants = Vec::new();
            let mut stack = vec![d.name.as_str()];
            while let Some(name) = stack.pop() {
                if !includes.insert(name.to_string()) {
                    continue;
                }
                let def = by_name[name];
                for g in &def.grants {
                    if !grants.contains(g) {
                        grants.push(g.clone());
                    }
                }
                stack.extend(def.inherits.iter().rev().map(String::as_str));
            }
            if d.inherits.iter().any(|p| inherits(&by_name, p, &d.name)) {
                problems.push(format!("roles.{}: inheritance forms a cycle", d.name));
            }
            roles.insert(d.name.clone(), Compiled { grants, includes });
        }
        if !problems.is_empty() {
            problems.dedup();
            return Err(problems);
        }
        Ok(RoleMatrix {
            roles,
            order: defs.iter().map(|d| d.name.clone()).collect(),
        })
    }

    /// Role names in configuration order.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// Whether a role of this name is defined.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// Every grant the role holds, its own and inherited.
    pub fn grants_of(&self, role: &str) -> Option<&[String]> {
        self.roles.get(role).map(|c| c.grants.as_slice())
    }

    /// The first (role, grant) among `roles` that grants `permission`.
    pub fn allows<'a>(&'a self, roles: &[String], permission: &str) -> Option<(&'a str, &'a str)> {
        roles.iter().find_map(|r| {
            let (name, compiled) = self.roles.get_key_value(r.as_str())?;
            compiled
                .grants
                .iter()
                .find(|g| super::grant_matches(g, permission))
                .map(|g| (name.as_str(), g.as_str()))
        })
    }

    /// True when `role` is `wanted` or inherits it.
    pub fn includes(&self, role: &str, wanted: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|c| c.includes.contains(wanted))
    }

    /// Roles that administer Palisade (they grant `admin.*`, or everything).
    pub fn is_admin_role(&self, role: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|c| c.grants.iter().any(|g| g == "*" || g == "admin.*"))
    }
}

/// Does `from` (transitively) inherit `target`?
fn inherits(by_name: &HashMap<&str, &RoleDef>, from: &str, target: &str) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    while let Some(name) = stack.pop() {
        if name == target {
            return true;
        }
        if seen.insert(name) {
            stack.extend(by_name[name].inherits.iter().map(String::as_str));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_default_hierarchy_inherits_downwards() {
        let m = RoleMatrix::compile(&default_roles()).unwrap();
        assert!(m.includes("owner", "viewer") && m.includes("admin", "member"));
        assert!(!m.includes("viewer", "member"));
        assert_eq!(
            m.allows(&roles(&["viewer"]), "graphs.read"),
            Some(("viewer", "*.read"))
        );
        assert_eq!(m.allows(&roles(&["viewer"]), "graphs.write"), None);
        assert_eq!(
            m.allows(&roles(&["member"]), "graphs.write"),
            Some(("member", "*.write"))
        );
        assert_eq!(m.allows(&roles(&["member"]), "graphs.delete"), None);
        assert!(m.allows(&roles(&["manager"]), "graphs.delete").is_some());
        assert!(m.allows(&roles(&["admin"]), "tenants.create").is_some());
        assert!(m.allows(&roles(&["manager"]), "tenants.create").is_none());
        assert_eq!(
            m.allows(&roles(&["owner"]), "anything.at.all"),
            Some(("owner", "*"))
        );
        assert_eq!(
            m.allows(&roles(&["ghost"]), "graphs.read"),
            None,
            "unknown roles grant nothing"
        );
        assert!(
            m.is_admin_role("owner") && m.is_admin_role("admin") && !m.is_admin_role("manager")
        );
        assert!(m.allows(&roles(&["auditor"]), "admin.audit.read").is_some());
        for denied in [
            "admin.audit.write",
            "admin.users.write",
            "admin.users.export",
            "secrets.data.read",
            "graphs.read",
            "admin.lockdown.write",
        ] {
            assert_eq!(m.allows(&roles(&["auditor"]), denied), None, "{denied}");
        }
        assert!(!m.is_admin_role("auditor"));
    }

    #[test]
    fn compile_errors_are_named() {
        let bad = vec![RoleDef {
            name: "a".into(),
            grants: vec!["Graphs.write".into()],
            inherits: vec!["staff".into()],
        }];
        let errs = RoleMatrix::compile(&bad).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("roles.a") && e.contains("Graphs.write")),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("unknown role \"staff\"")),
            "{errs:?}"
        );
        let cycle = vec![
            RoleDef {
                name: "a".into(),
                grants: vec![],
                inherits: vec!["b".into()],
            },
            RoleDef {
                name: "b".into(),
                grants: vec![],
                inherits: vec!["a".into()],
            },
        ];
        let errs = RoleMatrix::compile(&cycle).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("cycle")), "{errs:?}");
    }
}
