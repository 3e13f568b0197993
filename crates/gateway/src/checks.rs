//! Start-up checks: every problem in a configuration, listed at once.
//!
//! Some problems make any environment refuse to start (a route without an upstream, CORS `*`
//! with credentials). `production` adds the rules that protect a real deployment: strong secrets,
//! TLS, no debug logging.

use crate::config::{self, Config, Environment};
use palisade_core::secret_strength;

/// Lists what is wrong with `config` for `env`. Empty means it may start.
pub fn problems(config: &Config, env: Environment) -> Vec<String> {
    let mut out = Vec::new();
    check_routes(config, &mut out);
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
    out.extend(config.auth.problems());
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
    out.extend(config.secret_store.problems());
    out.extend(config.audit.alerts.problems(env == Environment::Production));
    if let Err(policy) = crate::authz::compile(config) {
        out.extend(policy);
    }
    out.extend(config.password.problems());
    if env == Environment::Production {
        check_production(config, &mut out);
    }
    out
}

fn check_production(config: &Config, out: &mut Vec<String>) {
    for (name, value) in config.secrets.named() {
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
            if crate::builtin::Builtin::classify(&route.prefix).is_some() {
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
        if urls.is_empty() {
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

fn check_tls(config: &Config, out: &mut Vec<String>) {
    let tls = &config.tls;
    match (&tls.cert, &tls.key) {
        (Some(_), None) | (None, Some(_)) => {
            out.push("tls: set both tls.cert and tls.key, or neither".into())
        }
        (Some(cert), Some(key)) => {
            if let Err(e) = crate::tls::server_config(cert, key, tls.min_version) {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

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
}
