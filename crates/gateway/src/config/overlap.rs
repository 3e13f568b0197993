//! Routes that overlap Palisade's own endpoints. A built-in path never takes a configured route
//! (`route::builtin`), so a route whose every path is built in can never be reached — a problem
//! ([`unreachable()`]) — while a route of which only some paths are built in (prefix `/admin/` at
//! the root mount: `/admin` reaches it, `/admin/users` never does) is a warning
//! ([`overlap_warnings`]) printed by `config check`, with a hint to set `api.mount` when the
//! mount is the root. A route whose prefix lies above a non-root mount (`/` with
//! `api.mount = "/.palisade"`) is not warned about: the mount was chosen to take that namespace.

use super::Config;
use crate::route::builtin::Builtin;

/// One path of each built-in kind, below the mount.
fn builtin_samples(mount: &str) -> Vec<String> {
    [
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/jwks.json",
        "/auth/login",
        "/admin/users",
        "/v1/secrets",
        "/v1/transit/encrypt",
    ]
    .iter()
    .map(|p| format!("{mount}{p}"))
    .collect()
}

/// The prefix without its trailing slash (`""` for `/`): the route covers it and what is below.
fn stem(prefix: &str) -> &str {
    prefix.strip_suffix('/').unwrap_or(prefix)
}

fn covers(stem: &str, path: &str) -> bool {
    path == stem || path.strip_prefix(stem).is_some_and(|r| r.starts_with('/'))
}

/// Is every path `prefix` covers one of Palisade's own (so the route is never reached)?
pub fn unreachable(prefix: &str, mount: &str) -> bool {
    let stem = stem(prefix);
    !stem.is_empty()
        && Builtin::classify(stem, mount).is_some()
        && Builtin::classify(&format!("{stem}/x"), mount).is_some()
}

/// Routes of which some paths, not all, are Palisade's own, as warnings.
pub fn overlap_warnings(config: &Config) -> Vec<String> {
    let mount = config.api.mount();
    let samples = builtin_samples(mount);
    let mut out = Vec::new();
    for (i, route) in config.routes.iter().enumerate() {
        let stem = stem(&route.prefix);
        if !route.prefix.starts_with('/') || unreachable(&route.prefix, mount) {
            continue;
        }
        if !mount.is_empty() && covers(stem, mount) {
            continue;
        }
        let mut hits: Vec<&str> = samples
            .iter()
            .filter(|s| covers(stem, s))
            .map(String::as_str)
            .collect();
        if Builtin::classify(stem, mount).is_some() {
            hits.push(stem);
        }
        if hits.is_empty() {
            continue;
        }
        let hint = if mount.is_empty() {
            "; set api.mount (e.g. \"/.palisade\") to move Palisade's endpoints and give these paths to the upstream"
        } else {
            ""
        };
        out.push(format!(
            "routes[{i}] ({}): prefix {:?} overlaps Palisade's own endpoints (e.g. {}): those requests are answered by Palisade and never reach this route{hint}",
            route.display_name(),
            route.prefix,
            hits.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

    fn warned(prefix: &str, mount: Option<&str>) -> bool {
        let mut c = Config::default();
        c.api.mount = mount.map(String::from);
        c.routes.push(RouteConfig {
            prefix: prefix.into(),
            ..Default::default()
        });
        !overlap_warnings(&c).is_empty()
    }

    #[test]
    fn partly_reachable_routes_are_warned_about_unreachable_ones_are_problems() {
        for (prefix, mount, warn, dead) in [
            ("/admin/", None, true, false),
            ("/admin", None, true, false),
            ("/", None, true, false),
            ("/v1/", None, true, false),
            ("/metrics", None, true, false),
            ("/auth/login", None, false, true),
            ("/v1/secrets/", None, false, true),
            ("/api/", None, false, false),
            ("/administrators/", None, false, false),
            ("/admin/", Some("/.palisade"), false, false),
            ("/", Some("/.palisade"), false, false),
            ("/.palisade/admin/", Some("/.palisade"), true, false),
            ("/.palisade/auth/x/", Some("/.palisade"), false, true),
        ] {
            assert_eq!(warned(prefix, mount), warn, "{prefix} {mount:?}");
            assert_eq!(
                unreachable(prefix, mount.unwrap_or("")),
                dead,
                "{prefix} {mount:?}"
            );
        }
    }
}
