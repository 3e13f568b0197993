//! Tenants and memberships as the authorize gate reads them: a snapshot held in memory (the hot
//! path never waits on SQL), rebuilt after every change through the admin API and by the
//! periodic sync (changes made with the CLI).
//!
//! Role resolution in a tenant: the user's membership in that tenant, else in the nearest
//! ancestor (members of a parent reach its children unless a child membership overrides).
//! Resource grants (permissions on a tenant's resources without a membership) resolve the same
//! way and are consulted only when there is no membership.

use palisade_store::{SharedStore, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Parent links deeper than this are treated as a cycle and end the walk.
const MAX_DEPTH: usize = 32;

/// Tenants, memberships and resource grants as one immutable picture, for decisions that
/// must not see half an update.
#[derive(Debug, Default)]
pub struct Snapshot {
    parents: HashMap<String, Option<String>>,
    roles: HashMap<(String, String), String>,
    grants: HashMap<(String, String), Vec<String>>,
}

impl Snapshot {
    /// Whether the tenant exists.
    pub fn exists(&self, tenant: &str) -> bool {
        self.parents.contains_key(tenant)
    }

    /// The user's role in `tenant`, directly or through the nearest ancestor.
    pub fn role_in(&self, tenant: &str, user: &str) -> Option<&str> {
        self.nearest(&self.roles, tenant, user).map(String::as_str)
    }

    /// The principal's grants on `tenant`'s resources, directly or through the nearest ancestor.
    pub fn grants_in(&self, tenant: &str, user: &str) -> Option<&[String]> {
        self.nearest(&self.grants, tenant, user).map(Vec::as_slice)
    }

    /// The tenants `user` is a direct member of, with its role in each, by tenant id.
    pub fn memberships_of(&self, user: &str) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .roles
            .iter()
            .filter(|((_, u), _)| u == user)
            .map(|((t, _), role)| (t.as_str(), role.as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    fn nearest<'a, V>(
        &self,
        map: &'a HashMap<(String, String), V>,
        tenant: &str,
        user: &str,
    ) -> Option<&'a V> {
        let mut current = Some(tenant);
        for _ in 0..MAX_DEPTH {
            let t = current?;
            if let Some(found) = map.get(&(t.to_string(), user.to_string())) {
                return Some(found);
            }
            current = self.parents.get(t).and_then(|p| p.as_deref());
        }
        None
    }
}

/// The tenant snapshot and where it is reloaded from (after admin changes, and by the sync).
#[derive(Debug)]
pub struct Tenants {
    store: SharedStore,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Tenants {
    /// Loads the first snapshot from `store`.
    pub async fn load(store: SharedStore) -> StoreResult<Self> {
        let tenants = Self {
            store,
            snapshot: RwLock::new(Arc::default()),
        };
        tenants.reload().await?;
        Ok(tenants)
    }

    /// The current snapshot (cheap: one `Arc`).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuilds the snapshot from the store.
    pub async fn reload(&self) -> StoreResult<()> {
        let parents = self
            .store
            .tenants_list()
            .await?
            .into_iter()
            .map(|t| (t.id, t.parent_id))
            .collect();
        let roles = self
            .store
            .memberships_list()
            .await?
            .into_iter()
            .map(|m| ((m.tenant_id, m.user_id.to_string()), m.role))
            .collect();
        let grants = self
            .store
            .resource_grants_list()
            .await?
            .into_iter()
            .map(|g| ((g.tenant_id, g.user_id.to_string()), g.grants))
            .collect();
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot {
            parents,
            roles,
            grants,
        });
        Ok(())
    }
}

/// A valid tenant id: 1-64 of `A-Z a-z 0-9 _ -` (it appears in paths).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(parents: &[(&str, Option<&str>)], roles: &[(&str, &str, &str)]) -> Snapshot {
        Snapshot {
            parents: parents
                .iter()
                .map(|(t, p)| (t.to_string(), p.map(String::from)))
                .collect(),
            roles: roles
                .iter()
                .map(|(t, u, r)| ((t.to_string(), u.to_string()), r.to_string()))
                .collect(),
            grants: HashMap::new(),
        }
    }

    #[test]
    fn resource_grants_resolve_through_parents() {
        let mut s = snapshot(&[("org", None), ("team", Some("org"))], &[]);
        s.grants
            .insert(("org".into(), "bot".into()), vec!["graphs.read".into()]);
        assert_eq!(
            s.grants_in("team", "bot"),
            Some(&["graphs.read".to_string()][..])
        );
        assert_eq!(s.grants_in("team", "ann"), None);
    }

    #[test]
    fn members_of_a_parent_reach_children_unless_overridden() {
        let s = snapshot(
            &[
                ("org", None),
                ("team", Some("org")),
                ("sub", Some("team")),
                ("other", None),
            ],
            &[("org", "ann", "member"), ("sub", "ann", "viewer")],
        );
        assert_eq!(s.role_in("org", "ann"), Some("member"));
        assert_eq!(s.role_in("team", "ann"), Some("member"), "inherited");
        assert_eq!(s.role_in("sub", "ann"), Some("viewer"), "child overrides");
        assert_eq!(s.role_in("other", "ann"), None);
        assert_eq!(s.role_in("org", "bob"), None);
        assert_eq!(s.role_in("unknown", "ann"), None);
    }

    #[test]
    fn a_parent_cycle_ends_the_walk() {
        let s = snapshot(&[("a", Some("b")), ("b", Some("a"))], &[]);
        assert_eq!(s.role_in("a", "ann"), None);
    }

    #[test]
    fn tenant_ids_are_path_safe() {
        assert!(valid_id("g1") && valid_id("acme-eu_2"));
        for bad in ["", "a/b", "a b", "../x", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
