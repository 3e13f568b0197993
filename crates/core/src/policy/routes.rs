//! Route policies as configured, and the one route decision ([`RouteIndex`]): which configured
//! route serves a request, by host, method and canonical path. The gateway's boundary makes it
//! once per request; every gate and forward auth use the route it found, by id.

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
    /// A Palisade access token or a trusted issuer's token.
    Jwt,
    /// An API key.
    ApiKey,
    /// A browser session cookie.
    Session,
}

impl AuthRequirement {
    /// The configuration spelling (`none`, `any`, `jwt`, `api_key`, `session`).
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

/// One route's access policy, compiled from its `[[routes]]` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutePolicy {
    /// The route's name, as decisions and audit events name it.
    pub name: String,
    /// The route's prefix.
    pub prefix: String,
    /// Segment pattern naming parameters, e.g. `/graphs/{graph_id}/`.
    pub pattern: Option<String>,
    /// Which credentials may call it.
    pub auth: AuthRequirement,
    /// All required.
    pub permissions: Vec<String>,
    /// One suffices (a role inheriting a listed role counts).
    pub roles: Vec<String>,
    /// GET/HEAD/OPTIONS need `<resource>.read`, other methods `<resource>.write`.
    pub resource: Option<String>,
    /// The pattern parameter naming the tenant.
    pub tenant_param: Option<String>,
    /// The request header naming the tenant (instead of a pattern parameter); its value is
    /// handed to [`super::PolicySet::decide_in`].
    pub tenant_header: Option<String>,
    /// Only callers that administer Palisade pass (and need a credential whatever `auth` says);
    /// anyone else is refused as a privilege-escalation attempt.
    pub admin_only: bool,
    /// What the caller's sign-in must have proven (`mfa`, `max_auth_age`), checked by the
    /// gateway against the principal's assurance after the policy allowed the call.
    pub step_up: crate::mfa::assurance::Requirement,
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

/// What the one route decision looks at: a prefix matched at segment boundaries, optionally a
/// host and a set of methods. Built from `[[routes]]`; the route's id is its position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteKey {
    /// The path prefix, canonical; matched at segment boundaries.
    pub prefix: String,
    /// Lowercase host name; `None` serves any host.
    pub host: Option<String>,
    /// Uppercase methods; empty accepts any.
    pub methods: Vec<String>,
    /// The prefix is compared ignoring ASCII case (for upstreams that ignore case).
    pub case_insensitive: bool,
}

/// The outcome of looking a request up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMatch {
    /// The id (position in the configuration) of the route that serves the request.
    Found(usize),
    /// Some route covers the path and host, but none accepts the method.
    MethodNotAllowed,
    /// No route covers the path.
    NotFound,
}

/// The one route decision: (host, method, canonical path) → route id. The longest prefix wins;
/// among routes with the same prefix, one naming the request's host before one serving any host,
/// then configuration order. A prefix covers a path only at a segment boundary: `/api/admin` and
/// `/api/admin/` both cover `/api/admin` and `/api/admin/x`, neither covers `/api/administrators`.
/// One hash lookup per distinct prefix length, longest first.
#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    keys: Vec<RouteKey>,
    /// Distinct prefix lengths (without the trailing slash), longest first, each with the
    /// route ids per prefix; case-insensitive prefixes are stored lowercased in `folded`.
    by_length: Vec<Bucket>,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    len: usize,
    exact: HashMap<String, Vec<usize>>,
    folded: HashMap<String, Vec<usize>>,
}

/// A prefix as it is compared: without its trailing slash (the root `/` becomes empty).
fn stem(prefix: &str) -> &str {
    prefix.strip_suffix('/').unwrap_or(prefix)
}

impl RouteIndex {
    /// Indexes `keys` by prefix length; a key's id is its position.
    pub fn new(keys: Vec<RouteKey>) -> Self {
        let mut buckets: HashMap<usize, Bucket> = HashMap::new();
        for (id, key) in keys.iter().enumerate() {
            let stem = stem(&key.prefix);
            let bucket = buckets.entry(stem.len()).or_insert_with(|| Bucket {
                len: stem.len(),
                ..Bucket::default()
            });
            let ids = if key.case_insensitive {
                bucket.folded.entry(stem.to_ascii_lowercase()).or_default()
            } else {
                bucket.exact.entry(stem.to_string()).or_default()
            };
            ids.push(id);
        }
        let mut by_length: Vec<Bucket> = buckets.into_values().collect();
        by_length.sort_by_key(|b| std::cmp::Reverse(b.len));
        Self { keys, by_length }
    }

    /// The keys, by id.
    pub fn keys(&self) -> &[RouteKey] {
        &self.keys
    }

    /// The route serving `method` on `path` (canonical, starting with `/`) for `host` (without
    /// port; compared ignoring case).
    pub fn find(&self, host: Option<&str>, method: &str, path: &str) -> RouteMatch {
        let mut method_refused = false;
        for bucket in &self.by_length {
            let Some(head) = path.get(..bucket.len) else {
                continue;
            };
            if path.len() > bucket.len && path.as_bytes()[bucket.len] != b'/' {
                continue;
            }
            let exact = bucket.exact.get(head);
            let folded = if bucket.folded.is_empty() {
                None
            } else {
                bucket.folded.get(&head.to_ascii_lowercase())
            };
            // Routes naming a host before routes serving any host, each in configuration order.
            for host_specific in [true, false] {
                let candidates = exact.into_iter().chain(folded).flatten();
                for &id in candidates {
                    let key = &self.keys[id];
                    match &key.host {
                        Some(want) if host_specific => {
                            if !host.is_some_and(|h| h.eq_ignore_ascii_case(want)) {
                                continue;
                            }
                        }
                        None if !host_specific => {}
                        _ => continue,
                    }
                    if !key.methods.is_empty() && !key.methods.iter().any(|m| m == method) {
                        method_refused = true;
                        continue;
                    }
                    return RouteMatch::Found(id);
                }
            }
        }
        if method_refused {
            RouteMatch::MethodNotAllowed
        } else {
            RouteMatch::NotFound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(keys: &[(&str, Option<&str>, &[&str], bool)]) -> RouteIndex {
        RouteIndex::new(
            keys.iter()
                .map(|(prefix, host, methods, ci)| RouteKey {
                    prefix: prefix.to_string(),
                    host: host.map(String::from),
                    methods: methods.iter().map(|m| m.to_string()).collect(),
                    case_insensitive: *ci,
                })
                .collect(),
        )
    }

    #[test]
    fn longest_prefix_at_a_segment_boundary_wins() {
        let idx = index(&[
            ("/", None, &[], false),
            ("/api/", None, &[], false),
            ("/api/admin/", None, &[], false),
            ("/api/", None, &[], false),
            ("/apix", None, &[], false),
            ("/api/reports", None, &[], false),
        ]);
        let found = |p| idx.find(None, "GET", p);
        assert_eq!(found("/api/admin/users"), RouteMatch::Found(2));
        assert_eq!(
            found("/api/admin"),
            RouteMatch::Found(2),
            "the slash is optional"
        );
        assert_eq!(found("/api/admin/"), RouteMatch::Found(2));
        assert_eq!(found("/api/administrators"), RouteMatch::Found(1));
        assert_eq!(found("/api/x"), RouteMatch::Found(1), "ties keep the first");
        assert_eq!(found("/api"), RouteMatch::Found(1));
        assert_eq!(
            found("/apixel"),
            RouteMatch::Found(0),
            "not a segment boundary"
        );
        assert_eq!(found("/apix/y"), RouteMatch::Found(4));
        assert_eq!(found("/api/reports"), RouteMatch::Found(5));
        assert_eq!(found("/api/reportsx"), RouteMatch::Found(1));
        assert_eq!(found("/other"), RouteMatch::Found(0));
        assert_eq!(
            index(&[("/api/", None, &[], false)]).find(None, "GET", "/ap"),
            RouteMatch::NotFound
        );
        assert_eq!(
            index(&[("/é/", None, &[], false)]).find(None, "GET", "/\u{e9}x"),
            RouteMatch::NotFound,
            "no panic mid-character"
        );
    }

    #[test]
    fn hosts_and_methods_narrow_a_route() {
        let idx = index(&[
            ("/api/", None, &["GET"], false),
            ("/api/", Some("admin.example.com"), &[], false),
            ("/api/", None, &["POST"], false),
        ]);
        assert_eq!(
            idx.find(Some("ADMIN.example.com"), "POST", "/api/x"),
            RouteMatch::Found(1)
        );
        assert_eq!(
            idx.find(Some("admin.example.com"), "GET", "/api/x"),
            RouteMatch::Found(1)
        );
        assert_eq!(
            idx.find(Some("other"), "GET", "/api/x"),
            RouteMatch::Found(0)
        );
        assert_eq!(idx.find(None, "POST", "/api/x"), RouteMatch::Found(2));
        assert_eq!(
            idx.find(None, "DELETE", "/api/x"),
            RouteMatch::MethodNotAllowed
        );
        assert_eq!(idx.find(None, "GET", "/nope"), RouteMatch::NotFound);
    }

    #[test]
    fn case_insensitive_prefixes_match_any_case() {
        let idx = index(&[
            ("/", None, &[], false),
            ("/api/admin/", None, &[], true),
            ("/api/Exact/", None, &[], false),
        ]);
        assert_eq!(
            idx.find(None, "GET", "/API/Admin/users"),
            RouteMatch::Found(1)
        );
        assert_eq!(idx.find(None, "GET", "/api/admin"), RouteMatch::Found(1));
        assert_eq!(idx.find(None, "GET", "/api/exact/x"), RouteMatch::Found(0));
        assert_eq!(idx.find(None, "GET", "/api/Exact/x"), RouteMatch::Found(2));
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
