//! Route policies as configured, and the index that finds a path's route: the longest prefix
//! wins (plain `starts_with`, as the proxy's route table), found by one hash lookup per distinct
//! prefix length, longest first, instead of a scan over every route.

use std::collections::HashMap;

/// Who may call a route at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthRequirement {
    /// Anyone, signed in or not.
    #[default]
    None,
    /// Any credential.
    Any,
    Jwt,
    ApiKey,
    Session,
}

impl AuthRequirement {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthRequirement::None => "none",
            AuthRequirement::Any => "any",
            AuthRequirement::Jwt => "jwt",
            AuthRequirement::ApiKey => "api_key",
            AuthRequirement::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutePolicy {
    pub name: String,
    pub prefix: String,
    /// Segment pattern naming parameters, e.g. `/graphs/{graph_id}/`.
    pub pattern: Option<String>,
    pub auth: AuthRequirement,
    /// All required.
    pub permissions: Vec<String>,
    /// One suffices (a role inheriting a listed role counts).
    pub roles: Vec<String>,
    /// GET/HEAD/OPTIONS need `<resource>.read`, other methods `<resource>.write`.
    pub resource: Option<String>,
    /// The pattern parameter naming the tenant.
    pub tenant_param: Option<String>,
    /// Only callers that administer Palisade pass (and need a credential whatever `auth` says);
    /// anyone else is refused as a privilege-escalation attempt.
    pub admin_only: bool,
}

impl RoutePolicy {
    /// The value of pattern parameter `name` in `path`.
    pub fn param<'p>(&self, path: &'p str, name: &str) -> Option<&'p str> {
        let pattern = self.pattern.as_deref()?;
        let wanted = format!("{{{name}}}");
        let position = pattern.split('/').position(|s| s == wanted)?;
        path.split('/').nth(position).filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    /// Distinct prefix lengths, longest first, each with its prefixes.
    by_length: Vec<(usize, HashMap<String, usize>)>,
}

impl RouteIndex {
    pub fn new<'a>(prefixes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut groups: HashMap<usize, HashMap<String, usize>> = HashMap::new();
        for (i, p) in prefixes.into_iter().enumerate() {
            groups
                .entry(p.len())
                .or_default()
                .entry(p.to_string())
                .or_insert(i);
        }
        let mut by_length: Vec<_> = groups.into_iter().collect();
        by_length.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        Self { by_length }
    }

    /// The index (in insertion order) of the longest prefix of `path`.
    pub fn find(&self, path: &str) -> Option<usize> {
        self.by_length.iter().find_map(|(len, prefixes)| {
            path.get(..*len)
                .and_then(|head| prefixes.get(head))
                .copied()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_ties_keep_the_first() {
        let idx = RouteIndex::new(["/", "/api/", "/api/admin/", "/api/", "/apix"]);
        assert_eq!(idx.find("/api/admin/users"), Some(2));
        assert_eq!(idx.find("/api/x"), Some(1));
        assert_eq!(idx.find("/apixel"), Some(4));
        assert_eq!(idx.find("/other"), Some(0));
        assert_eq!(RouteIndex::new(["/api/"]).find("/ap"), None);
        assert_eq!(
            RouteIndex::new(["/é/"]).find("/\u{e9}x"),
            None,
            "no panic mid-character"
        );
    }

    #[test]
    fn pattern_parameters() {
        let r = RoutePolicy {
            pattern: Some("/graphs/{graph_id}/".into()),
            ..Default::default()
        };
        assert_eq!(r.param("/graphs/g1/nodes", "graph_id"), Some("g1"));
        assert_eq!(r.param("/graphs//nodes", "graph_id"), None);
        assert_eq!(r.param("/graphs/g1", "other"), None);
    }
}
