//! Start-up checks: every problem in a configuration, listed at once.
//!
//! Some problems make any environment refuse to start (a route without an upstream, CORS `*`
//! with credentials, `admin_only` with `auth = "none"`). `production` adds the rules that protect
//! a real deployment: strong secrets, TLS, no debug logging, and every route saying who may call
//! it (an explicit `auth`; `auth = "none"` only with `public = true`), which dev only warns about.
//!
//! `server::prepare` (serve), a policy reload and `config check` (through [`crate::config::preflight`])
//! all call [`problems`].

use crate::config::{self, Config, Environment};
use palisade_core::secret_strength;

/// Lists what is wrong with `config` for `env`. Empty means it may start.
pub fn problems(config: &Config, env: Environment) -> Vec<String> {
    let mut out = Vec::new();
    check_mount(config, &mut out);
    check_routes(config, &mut out);
    check_access(config, env, &mut out);
    check_gates(config, &mut out);
    config::identity_names::check(config, &mut out);
    check_tls(config, &mut out);
    check_cors(config, &mut out);
    check_log(config, &mut out);
    for p in &config.sanitize.patterns {
        if let Err(e) = regex::Regex::new(p) {
            out.push(format!(
                "sanitize.patterns: {p:?} is not a valid regular expression: {e}"
            ));
        }
    }
    if config.server.workers > 1024 {
        out.push("server.workers: at most 1024".into());
    }
    if config.limits.max_header_bytes.0 < 1024 {
        out.push("limits.max_header_bytes: at least 1KiB".into());
    }
    out.extend(config.server.http2.problems(config.limits.max_header_bytes));
    out.extend(config.auth.problems(env == Environment::Production));
    out.extend(config.smtp.problems());
    out.extend(config::mfa::problems(
        &config.auth.totp,
        &config.auth.mfa,
        &config.role_names(),
    ));
    out.extend(config.rate_limit.problems());
    let hot = config.hot_state_url();
    if hot.starts_with("redis://") || hot.starts_with("rediss://") {
        out.extend(config.rate_limit.shared_problems());
    } else if hot != "memory:" {
        out.push(format!(
            "hot_state.url {hot:?}: expected \"memory:\", \"redis://…\" or \"rediss://…\""
        ));
    }
    if !config
        .hot_state
        .prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
        || config.hot_state.prefix.is_empty()
    {
        out.push("hot_state.prefix: letters, digits and _ - . : only".into());
    }
    out.extend(config.admission.problems());
    out.extend(config.circuit_breaker.problems());
    out.extend(config.audit.problems());
    out.extend(config.retention.problems(&config.audit));
    if let Some(log) = &config.retention.erasure_log
        && log.starts_with(&config.server.data_dir)
    {
        out.push(format!(
            "retention.erasure_log {}: keep it outside server.data_dir (a restore replaces the \
             data dir, and the log must survive it)",
            log.display()
        ));
    }
    out.extend(config.secret_store.problems());
    out.extend(config.compliance.problems());
    out.extend(config.inspect.problems(&config.routes));
    out.extend(config.firewall.problems(&config.routes));
    out.extend(super::query::problems(config));
    out.extend(super::tools::problems(&config.tools, &config.routes));
    out.extend(super::websocket::problems(&config.routes));
    out.extend(crate::config::upload::problems(config));
    let (alerts, production) = (&config.audit.alerts, env == Environment::Production);
    out.extend(alerts.problems(production, &config.audit.app_events));
    if production {
        out.extend(config.retention.production_problems());
    }
    out.extend(config.review.problems());
    out.extend(config.console.problems());
    if !config.smtp.enabled()
        && alerts.rules.iter().any(|r| {
            alerts
                .actions_of(r)
                .contains(&crate::config::alerts::Action::Email)
        })
    {
        out.push("audit.alerts: the email action needs [smtp] (smtp.host)".into());
    }
    if let Err(policy) = crate::authz::compile(config) {
        out.extend(policy);
    }
    out.extend(config.password.problems());
    out.extend(crate::protect::content::problems(config));
    if env == Environment::Production {
        check_production(config, &mut out);
    }
    out
}

fn check_production(config: &Config, out: &mut Vec<String>) {
    for (name, value) in config.secrets.named() {
        // A reference is judged once resolved: `serve` and `config check` resolve first, and a
        // reference that cannot be read is a problem of its own (`config_refs`).
        if crate::config::refs::is_reference(value) {
            continue;
        }
        if let Some(why) = secret_strength::weakness(value) {
            out.push(format!("{name} {why} (generate one with `palisade init`)"));
        }
    }
    if !config.tls.enabled() && !config.server.behind_tls_proxy {
        out.push(format!(
            "server.listen {} is plaintext: set tls.cert and tls.key, or server.behind_tls_proxy = true when a TLS proxy fronts Palisade",
            config.server.listen
        ));
    }
    let level = config.log.level.to_ascii_lowercase();
    if level.contains("debug") || level.contains("trace") {
        out.push(format!(
            "log.level {:?} logs request details; use \"info\" or quieter in production",
            config.log.level
        ));
    }
}

/// `api.mount`: a canonical path prefix below the root, without a trailing slash.
fn check_mount(config: &Config, out: &mut Vec<String>) {
    if config.api.jwks_at_root && config.api.mount().is_empty() {
        out.push("api.jwks_at_root needs api.mount: at the root the JWKS is there already".into());
    }
    let Some(mount) = &config.api.mount else {
        return;
    };
    if !mount.starts_with('/') {
        out.push(format!("api.mount {mount:?} must start with '/'"));
    } else if mount == "/" {
        out.push("api.mount \"/\" is the root: leave api.mount unset for that".into());
    } else if mount.ends_with('/') {
        out.push(format!(
            "api.mount {mount:?} must not end with '/'; write {:?}",
            mount.trim_end_matches('/')
        ));
    } else {
        check_canonical("api", "mount", mount, &config.server.path_policy(), out);
    }
}

/// A route's prefix or pattern must be written as the canonical path it is compared with;
/// anything else could never match, or would match a spelling no request has.
fn check_canonical(
    at: &str,
    what: &str,
    path: &str,
    policy: &palisade_core::path::PathPolicy,
    out: &mut Vec<String>,
) {
    match palisade_core::path::canonicalize(path, policy) {
        Ok(c) if c == path => {}
        Ok(c) => out.push(format!(
            "{at}: {what} {path:?} is not a canonical path; write it as {c:?}"
        )),
        Err(e) => out.push(format!(
            "{at}: {what} {path:?} can never match a request: {e}"
        )),
    }
}

fn check_routes(config: &Config, out: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    let path_policy = config.server.path_policy();
    for (i, route) in config.routes.iter().enumerate() {
        let at = format!("routes[{i}] ({})", route.display_name());
        if !route.prefix.starts_with('/') {
            out.push(format!("{at}: prefix must start with '/'"));
        } else {
            check_canonical(&at, "prefix", &route.prefix, &path_policy, out);
            // Partly reachable routes are warnings (`overlap::overlap_warnings`).
            if config::overlap::unreachable(&route.prefix, config.api.mount()) {
                out.push(format!(
                    "{at}: prefix {:?} is one of Palisade's own endpoints; requests there never reach this route",
                    route.prefix
                ));
            }
        }
        if let Some(pattern) = &route.pattern {
            // Parameters stand for one segment of any canonical value.
            let literal: Vec<&str> = pattern
                .split('/')
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        "p"
                    } else {
                        s
                    }
                })
                .collect();
            check_canonical(&at, "pattern", &literal.join("/"), &path_policy, out);
        }
        let stem = route.prefix.strip_suffix('/').unwrap_or(&route.prefix);
        let mut methods: Vec<String> = route
            .methods
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        methods.sort();
        if !seen.insert((
            if route.case_insensitive {
                stem.to_ascii_lowercase()
            } else {
                stem.to_string()
            },
            route.host.as_ref().map(|h| h.to_ascii_lowercase()),
            methods,
        )) {
            out.push(format!(
                "{at}: another route has the same prefix, host and methods"
            ));
        }
        let urls = route.upstream_urls();
        if config.api.in_process() {
            if !urls.is_empty() {
                out.push(format!(
                    "{at}: in library mode the wrapped service answers every route; remove `upstream`/`upstreams`"
                ));
            }
        } else if urls.is_empty() {
            out.push(format!("{at}: needs `upstream` or `upstreams`"));
        }
        for url in urls {
            match url.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() =>
                {
                    if uri.query().is_some() {
                        out.push(format!("{at}: upstream {url:?} must not carry a query"));
                    }
                    if let Some(scheme) = route.upstream_protocol.required_scheme()
                        && uri.scheme_str() != Some(scheme)
                    {
                        out.push(format!(
                            "{at}: upstream_protocol = {:?} needs {scheme}:// upstreams, not {url:?}",
                            route.upstream_protocol.name()
                        ));
                    }
                }
                _ => out.push(format!(
                    "{at}: upstream {url:?} is not an http:// or https:// URL"
                )),
            }
        }
        for m in &route.methods {
            if config::method(m).is_none() {
                out.push(format!("{at}: method {m:?} is not an HTTP method"));
            }
        }
        if let Some(category) = &route.rate_limit
            && !config.rate_limit.rules.contains_key(category)
        {
            out.push(format!(
                "{at}: rate_limit {category:?} names no rule in rate_limit.rules"
            ));
        }
        if route.retries.is_some_and(|r| r > 10) || config.proxy.retries > 10 {
            out.push(format!("{at}: at most 10 retries"));
        }
    }
}

/// The response headers of the gates and of each route, built by the functions start-up uses,
/// so a value start-up would refuse is named here first (CORS: [`check_cors`] covers
/// `cors::layer`'s rules).
fn check_gates(config: &Config, out: &mut Vec<String>) {
    if let Err(e) = crate::layers::respond::RespondLayer::new(&config.headers, config.log.access) {
        out.push(format!("headers: {e}"));
    }
    for (i, route) in config.routes.iter().enumerate() {
        if let Err(e) =
            crate::layers::respond::HeaderSet::proxied(&config.headers.with(&route.headers))
        {
            out.push(format!(
                "routes[{i}] ({}): headers: {e}",
                route.display_name()
            ));
        }
    }
    for h in &config.proxy.strip_headers {
        if config::header_name(h).is_none() {
            out.push(format!("proxy.strip_headers: {h:?} is not a header name"));
        }
    }
}

/// Who may call each route, as its block says. Contradictions are problems in every
/// environment; a route left open without a written decision ([`unstated_openness`]) is a
/// problem in production and a warning in dev ([`open_route_warnings`]).
fn check_access(config: &Config, env: Environment, out: &mut Vec<String>) {
    for (i, route) in config.routes.iter().enumerate() {
        let at = format!("routes[{i}] ({})", route.display_name());
        out.extend(access_contradictions(route).map(|p| format!("{at}: {p}")));
        if env == Environment::Production
            && let Some(why) = unstated_openness(route)
        {
            out.push(format!("{at}: {why}"));
        }
    }
}

/// Why a route is open to anyone without its block saying so: no `auth` at all, or
/// `auth = "none"` without `public = true`. `None` when the route states who may call it.
pub fn unstated_openness(route: &config::RouteConfig) -> Option<String> {
    use palisade_core::policy::AuthRequirement;
    match route.auth {
        None => Some(
            "no `auth`: every route must say who may call it (auth = \"any\", \"jwt\", \"api_key\", \"session\", or auth = \"none\" with public = true)".into(),
        ),
        Some(AuthRequirement::None) if !route.public => Some(
            "auth = \"none\" lets anyone call it: add public = true if the route is meant to be open".into(),
        ),
        Some(_) => None,
    }
}

/// Settings of one route that cannot all hold.
fn access_contradictions(route: &config::RouteConfig) -> impl Iterator<Item = String> {
    use palisade_core::policy::AuthRequirement;
    let open = route.auth == Some(AuthRequirement::None);
    let mut out = Vec::new();
    if (route.mfa || route.max_auth_age.is_some())
        && route.auth.unwrap_or_default() == AuthRequirement::None
        && !route.admin_only
    {
        out.push("mfa / max_auth_age with auth = \"none\": step-up needs a signed-in caller (auth = \"any\" or a method)".to_string());
    }
    if route.admin_only && open {
        out.push("admin_only = true with auth = \"none\": an admin-only route needs a credential (auth = \"any\" or a method)".to_string());
    }
    if route.public {
        if let Some(auth) = route.auth.filter(|a| *a != AuthRequirement::None) {
            out.push(format!(
                "public = true contradicts auth = \"{}\"",
                auth.as_str()
            ));
        }
        let asks: Vec<&str> = [
            ("permission", !route.permission.is_empty()),
            ("roles", !route.roles.is_empty()),
            ("resource", route.resource.is_some()),
            ("tenant_param", route.tenant_param.is_some()),
            ("admin_only", route.admin_only),
            ("mfa", route.mfa),
            ("max_auth_age", route.max_auth_age.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        if !asks.is_empty() {
            out.push(format!(
                "public = true, but {} ask(s) for a credential: a public route asks nothing of its callers",
                asks.join(", ")
            ));
        }
    }
    out.into_iter()
}

/// Routes left open without a written decision, as warnings (dev; production refuses them).
pub fn open_route_warnings(config: &Config) -> Vec<String> {
    config
        .routes
        .iter()
        .enumerate()
        .filter_map(|(i, route)| {
            unstated_openness(route).map(|why| {
                format!(
                    "routes[{i}] ({}): {why}; production refuses this",
                    route.display_name()
                )
            })
        })
        .collect()
}

fn check_tls(config: &Config, out: &mut Vec<String>) {
    let tls = &config.tls;
    match (&tls.cert, &tls.key) {
        (Some(_), None) | (None, Some(_)) => {
            out.push("tls: set both tls.cert and tls.key, or neither".into())
        }
        (Some(cert), Some(key)) => {
            if let Err(e) = crate::server::tls::server_config(cert, key, tls.min_version) {
                out.push(format!("tls: {e}"));
            }
        }
        (None, None) => {
            if config.server.redirect_http_listen.is_some() && !config.server.behind_tls_proxy {
                out.push(
                    "server.redirect_http_listen redirects to HTTPS, but TLS is not configured"
                        .into(),
                );
            }
        }
    }
}

fn check_cors(config: &Config, out: &mut Vec<String>) {
    let cors = &config.cors;
    let wildcard = cors.allowed_origins.iter().any(|o| o == "*");
    if wildcard && cors.allow_credentials {
        out.push(
            "cors: allowed_origins \"*\" together with allow_credentials = true lets any site act as the user; list exact origins".into(),
        );
    }
    for origin in cors.allowed_origins.iter().filter(|o| *o != "*") {
        let ok = origin.parse::<http::Uri>().ok().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some()
                && u.path() == "/"
                && !origin.ends_with('/')
        });
        if !ok || origin.contains('*') {
            out.push(format!("cors.allowed_origins: {origin:?} is not an exact origin like \"https://app.example.com\""));
        }
    }
    for m in &cors.allowed_methods {
        if config::method(m).is_none() {
            out.push(format!("cors.allowed_methods: {m:?} is not an HTTP method"));
        }
    }
    for h in cors.allowed_headers.iter().chain(&cors.expose_headers) {
        if config::header_name(h).is_none() {
            out.push(format!("cors: {h:?} is not a header name"));
        }
    }
}

fn check_log(config: &Config, out: &mut Vec<String>) {
    if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
        out.push(format!(
            "log.level: {:?} is not a level or filter",
            config.log.level
        ));
    }
}

/// Warnings printed at start in dev.
pub fn dev_warnings(config: &Config) -> Vec<String> {
    let mut out = vec![
        "DEV MODE: secrets come from the data dir, plaintext HTTP is allowed; never expose this instance. Use --env production for real deployments.".to_string(),
    ];
    if config.server.listen.ip().is_unspecified() && !config.served_over_tls() {
        out.push(format!("listening on {} without TLS", config.server.listen));
    }
    out.extend(open_route_warnings(config));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;
    use palisade_core::policy::AuthRequirement;

    fn strong() -> Config {
        let mut c = Config::default();
        c.secrets.signing_key = "q2G7vN9xLpT4wZ8rK1mB6yH3cF5jA0sUq2G7vN9x".into();
        c.secrets.cookie_key = "Zq2G7vN9xLpT4wZ8rK1mB6yH3cF5jA0sUq2G7vN9".into();
        c.server.behind_tls_proxy = true;
        c
    }

    #[test]
    fn production_lists_every_problem_at_once() {
        let mut c = Config::default();
        c.secrets.cookie_key = "change-me".into();
        c.log.level = "debug".into();
        c.cors.allowed_origins = vec!["*".into()];
        c.cors.allow_credentials = true;
        let p = problems(&c, Environment::Production);
        let all = p.join("\n");
        for needle in [
            "secrets.signing_key is missing",
            "secrets.cookie_key",
            "plaintext",
            "log.level",
            "cors",
        ] {
            assert!(all.contains(needle), "{needle} not named in:\n{all}");
        }
        assert_eq!(p.len(), 5, "{all}");
    }

    #[test]
    fn the_device_grant_needs_its_approval_page() {
        let mut c = Config::default();
        c.auth.device.clients = vec!["tv-app".into()];
        let p = problems(&c, Environment::Dev).join("\n");
        assert!(p.contains("auth.device.verification_uri"), "{p}");
        c.auth.device.verification_uri = "https://id.example.com/auth/device".into();
        let p = problems(&c, Environment::Dev).join("\n");
        assert!(!p.contains("auth.device"), "{p}");
    }

    #[test]
    fn the_api_mount_is_a_canonical_prefix_below_the_root() {
        for (mount, ok) in [
            ("/.palisade", true),
            ("/x/y", true),
            ("", false),
            (".palisade", false),
            ("/", false),
            ("/.palisade/", false),
            ("/a//b", false),
            ("/a/./b", false),
        ] {
            let mut c = Config::default();
            c.api.mount = Some(mount.into());
            let found = problems(&c, Environment::Dev);
            assert_eq!(
                found.iter().any(|p| p.starts_with("api")),
                !ok,
                "{mount:?}: {found:?}"
            );
        }
    }

    #[test]
    fn with_a_mount_a_route_may_take_the_roots_builtin_paths() {
        let mut c = Config::default();
        c.routes.push(RouteConfig {
            prefix: "/admin".into(),
            upstream: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        });
        assert!(problems(&c, Environment::Dev).is_empty());
        c.routes[0].prefix = "/admin/users/".into();
        assert!(
            !problems(&c, Environment::Dev).is_empty(),
            "at the root, /admin/users/ is Palisade's"
        );
        c.api.mount = Some("/.palisade".into());
        assert!(problems(&c, Environment::Dev).is_empty());
        c.routes[0].prefix = "/.palisade/admin/users/".into();
        assert!(!problems(&c, Environment::Dev).is_empty());
    }

    #[test]
    fn strong_production_config_passes() {
        assert_eq!(
            problems(&strong(), Environment::Production),
            Vec::<String>::new()
        );
    }

    #[test]
    fn dev_is_lenient_but_not_about_broken_routes() {
        assert!(problems(&Config::default(), Environment::Dev).is_empty());
        let mut c = Config::default();
        c.routes.push(RouteConfig {
            prefix: "api".into(),
            upstream: Some("ftp://x".into()),
            ..Default::default()
        });
        c.routes.push(RouteConfig {
            prefix: "/b/".into(),
            ..Default::default()
        });
        let all = problems(&c, Environment::Dev).join("\n");
        assert!(
            all.contains("must start with '/'")
                && all.contains("ftp://x")
                && all.contains("needs `upstream`"),
            "{all}"
        );
    }

    #[test]
    fn upstream_protocol_must_fit_the_upstream_scheme() {
        use crate::config::traffic::UpstreamProtocol;
        let mut c = Config::default();
        c.routes.push(route("plain", None, true));
        for (protocol, ok) in [
            (UpstreamProtocol::Http1, true),
            (UpstreamProtocol::H2c, true),
            (UpstreamProtocol::H2, false),
        ] {
            c.routes[0].upstream_protocol = protocol;
            let all = problems(&c, Environment::Dev).join("\n");
            assert_eq!(all.is_empty(), ok, "{protocol:?}: {all}");
        }
        assert!(
            problems(&c, Environment::Dev)
                .join("\n")
                .contains("upstream_protocol = \"h2\" needs https:// upstreams")
        );
        c.routes[0].upstream = Some("https://api.example".into());
        assert!(problems(&c, Environment::Dev).is_empty());
        c.routes[0].upstream_protocol = UpstreamProtocol::H2c;
        assert!(!problems(&c, Environment::Dev).is_empty());
    }

    fn route(name: &str, auth: Option<AuthRequirement>, public: bool) -> RouteConfig {
        RouteConfig {
            name: Some(name.into()),
            prefix: format!("/{name}/"),
            upstream: Some("http://127.0.0.1:9".into()),
            auth,
            public,
            ..Default::default()
        }
    }

    #[test]
    fn production_refuses_routes_open_without_a_written_decision() {
        let mut c = strong();
        c.routes = vec![
            route("unsaid", None, false),
            route("open", Some(AuthRequirement::None), false),
            route("meant", Some(AuthRequirement::None), true),
            route("signed", Some(AuthRequirement::Jwt), false),
        ];
        let p = problems(&c, Environment::Production);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("routes[0] (unsaid): no `auth`"), "{p:?}");
        assert!(
            p[1].starts_with("routes[1] (open): auth = \"none\"") && p[1].contains("public = true"),
            "{p:?}"
        );
        // Dev starts, and warns about the same two routes.
        assert_eq!(problems(&c, Environment::Dev), Vec::<String>::new());
        let warnings = open_route_warnings(&c);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            dev_warnings(&c)
                .iter()
                .any(|w| w.contains("routes[1] (open)"))
        );
    }

    #[test]
    fn step_up_settings_need_a_caller_and_mfa_settings_are_checked() {
        let mut c = strong();
        c.routes = vec![
            RouteConfig {
                mfa: true,
                ..route("mfa-open", Some(AuthRequirement::None), false)
            },
            RouteConfig {
                max_auth_age: Some(crate::config::units::HumanDuration(
                    std::time::Duration::from_secs(900),
                )),
                ..route("fresh-public", Some(AuthRequirement::None), true)
            },
            RouteConfig {
                mfa: true,
                ..route("mfa-any", Some(AuthRequirement::Any), false)
            },
        ];
        c.auth.totp.skew_steps = 3;
        c.auth.mfa.required_roles = vec!["admin".into(), "nobody".into()];
        for env in [Environment::Dev, Environment::Production] {
            let all = problems(&c, env).join("\n");
            for needle in [
                "routes[0] (mfa-open): mfa / max_auth_age with auth = \"none\"",
                "routes[1] (fresh-public): public = true, but max_auth_age ask(s)",
                "auth.totp.skew_steps: at most 1",
                "auth.mfa.required_roles: unknown role \"nobody\"",
            ] {
                assert!(all.contains(needle), "{env:?}: {needle} not in\n{all}");
            }
            assert!(!all.contains("mfa-any"), "{all}");
            assert!(!all.contains("\"admin\""), "{all}");
        }
    }

    #[test]
    fn contradictory_access_settings_are_refused_everywhere() {
        let mut c = strong();
        c.routes = vec![
            RouteConfig {
                admin_only: true,
                ..route("admin-open", Some(AuthRequirement::None), true)
            },
            route("public-jwt", Some(AuthRequirement::Jwt), true),
            RouteConfig {
                permission: vec!["docs.read".into()],
                ..route("public-perm", Some(AuthRequirement::None), true)
            },
            RouteConfig {
                admin_only: true,
                ..route("admin-none", Some(AuthRequirement::None), false)
            },
            // admin_only without auth needs a credential all the same: accepted in dev.
            RouteConfig {
                admin_only: true,
                ..route("admin-unsaid", None, false)
            },
        ];
        for env in [Environment::Dev, Environment::Production] {
            let all = problems(&c, env).join("\n");
            for needle in [
                "routes[0] (admin-open): admin_only = true with auth = \"none\"",
                "routes[0] (admin-open): public = true, but admin_only ask(s)",
                "routes[1] (public-jwt): public = true contradicts auth = \"jwt\"",
                "routes[2] (public-perm): public = true, but permission ask(s)",
                "routes[3] (admin-none): admin_only = true with auth = \"none\"",
            ] {
                assert!(all.contains(needle), "{env:?}: {needle} not in\n{all}");
            }
            assert_eq!(
                all.contains("admin-unsaid"),
                env == Environment::Production,
                "{all}"
            );
        }
    }

    #[test]
    fn cors_origins_must_be_exact() {
        let mut c = strong();
        c.cors.allowed_origins = vec![
            "https://app.example.com".into(),
            "https://*.example.com".into(),
            "app.example.com".into(),
        ];
        let p = problems(&c, Environment::Production);
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn config_check_takes_a_github_provider_and_refuses_what_github_cannot_give() {
        let block = |extra: &str| {
            format!(
                r#"
                [[auth.providers]]
                id = "github"
                kind = "github"
                client_id = "Iv1.8a61f9b3a7aba766"
                client_secret = "file:/run/secrets/github"
                redirect_uri = "https://id.example.com/auth/federated/github/callback"
                {extra}
                "#
            )
        };
        let c = Config::from_toml(&block("")).unwrap();
        assert!(
            problems(&c, Environment::Dev).is_empty(),
            "{:?}",
            problems(&c, Environment::Dev)
        );
        let c = Config::from_toml(&block("mfa_claims_trusted = true")).unwrap();
        let p = problems(&c, Environment::Dev).join("\n");
        assert!(p.contains("auth.providers[0].mfa_claims_trusted"), "{p}");
        let c = Config::from_toml(&block(r#"issuer = "https://accounts.example.com""#)).unwrap();
        let p = problems(&c, Environment::Dev).join("\n");
        assert!(p.contains("auth.providers[0].issuer must be unset"), "{p}");
        assert!(Config::from_toml(&block(r#"api = "https://api.github.com""#)).is_err());
    }
}
