//! The route table: which configured route serves a request, and its upstreams. The decision
//! itself is [`palisade_core::policy::RouteIndex`] (host, method, canonical path; prefixes at
//! segment boundaries); the boundary makes it once per request and every later step uses the
//! route it found, whose `id` is also its policy's id. Built once at start.

use crate::config::{Config, RouteConfig, SecurityHeadersConfig};
use crate::layers::respond::HeaderSet;
use crate::metrics::RouteMetrics;
use http::{Method, Uri};
use palisade_core::policy::{RouteIndex, RouteKey, RouteMatch as IndexMatch};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One configured route, ready to serve.
#[derive(Debug)]
pub struct Route {
    /// Position in the configuration: the id of its policy.
    pub id: usize,
    /// Name for metrics and logs; leaked once at start so labels cost no allocation.
    pub name: &'static str,
    /// The prefix, canonical.
    pub prefix: String,
    /// The host it serves (lowercase); `None` serves any.
    pub host: Option<String>,
    /// Methods it accepts; empty accepts any.
    pub methods: Vec<Method>,
    /// The prefix is matched ignoring ASCII case.
    pub case_insensitive: bool,
    /// Remove the prefix before forwarding.
    pub strip_prefix: bool,
    /// Largest request body.
    pub max_body: u64,
    /// Where it forwards, in turn.
    pub upstreams: Vec<Uri>,
    /// Security headers on its answers.
    pub headers: HeaderSet,
    /// Its request metrics.
    pub metrics: RouteMetrics,
    /// Rate-limit category; `None`: `read` or `write` by method.
    pub rate_limit: Option<String>,
    /// Never shed under load.
    pub critical: bool,
    /// `none` or `stale` while the upstream's circuit is open.
    pub fallback: crate::config::traffic::Fallback,
    /// Connect deadline.
    pub connect_timeout: std::time::Duration,
    /// Response-head deadline.
    pub response_timeout: std::time::Duration,
    /// Connect-failure retries for idempotent requests without a body.
    pub retries: u32,
    /// How it speaks to its upstreams.
    pub upstream_protocol: crate::config::traffic::UpstreamProtocol,
    /// Every request is an `api.request` audit event.
    pub audit: bool,
    /// The names identity is given to its upstream, and its `tenant_header`.
    pub identity: Arc<crate::identity::assertion::Names>,
    /// Its input inspection, if it has `inspect = {…}`.
    pub inspect: Option<Arc<crate::protect::inspect::InspectPolicy>>,
    /// Its CIDR allow and deny lists.
    pub firewall: crate::config::inspect::RouteFirewall,
    /// Its content rules (`content_types`, `schema`), if it has any.
    pub content: Option<Arc<crate::protect::content::ContentPolicy>>,
    /// Its query firewall, if it has `query = {…}`.
    pub query: Option<Arc<crate::protect::query::QueryPolicy>>,
    /// Its agent tools, if it has `tools = {…}`.
    pub tools: Option<Arc<crate::protect::tools::ToolPolicy>>,
    /// Its WebSocket relay's limits and live connections, if it has `websocket = {…}`.
    pub websocket: Option<Arc<crate::route::websocket::WsPolicy>>,
    /// Its upload checks, if it has `upload = {…}`.
    pub upload: Option<Arc<crate::protect::upload::UploadPolicy>>,
    next: AtomicUsize,
}

impl Route {
    /// The route at position `id` of the configuration.
    pub fn from_config(id: usize, rc: &RouteConfig, config: &Config) -> Result<Self, String> {
        let upstreams = rc
            .upstream_urls()
            .into_iter()
            .map(|u| {
                u.parse::<Uri>()
                    .map_err(|e| format!("route {}: upstream {u:?}: {e}", rc.display_name()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if upstreams.is_empty() && !config.api.in_process() {
            return Err(format!(
                "route {}: needs `upstream` or `upstreams`",
                rc.display_name()
            ));
        }
        let headers: SecurityHeadersConfig = config.headers.with(&rc.headers);
        let name: &'static str = Box::leak(rc.display_name().to_string().into_boxed_str());
        Ok(Self {
            id,
            name,
            metrics: RouteMetrics::new(name),
            prefix: rc.prefix.clone(),
            host: rc.host.as_ref().map(|h| h.to_ascii_lowercase()),
            methods: rc
                .methods
                .iter()
                .filter_map(|m| crate::config::method(m))
                .collect(),
            case_insensitive: rc.case_insensitive,
            strip_prefix: rc.strip_prefix,
            max_body: rc.max_body.unwrap_or(config.limits.max_body).0,
            upstreams,
            headers: HeaderSet::proxied(&headers)?,
            rate_limit: rc.rate_limit.clone(),
            critical: rc.critical,
            fallback: rc.fallback,
            connect_timeout: rc.connect_timeout.unwrap_or(config.proxy.connect_timeout).0,
            response_timeout: rc
                .response_timeout
                .unwrap_or(config.proxy.response_timeout)
                .0,
            retries: rc.retries.unwrap_or(config.proxy.retries),
            upstream_protocol: rc.upstream_protocol,
            audit: rc.audit,
            identity: Arc::new(
                crate::identity::assertion::Names::new(
                    &rc.identity_headers.over(&config.proxy.identity_headers),
                    rc.tenant_header.as_deref(),
                )
                .map_err(|e| format!("route {}: identity headers: {e}", rc.display_name()))?,
            ),
            inspect: rc
                .inspect
                .as_ref()
                .map(|i| {
                    crate::protect::inspect::InspectPolicy::new(&config.inspect, i).map(Arc::new)
                })
                .transpose()
                .map_err(|e| format!("route {}: inspect: {e}", rc.display_name()))?,
            firewall: rc.firewall.clone(),
            content: crate::protect::content::ContentPolicy::new(rc, config)?.map(Arc::new),
            query: rc
                .query
                .as_ref()
                .map(|q| crate::protect::query::QueryPolicy::new(q).map(Arc::new))
                .transpose()
                .map_err(|e| format!("route {}: query: {e}", rc.display_name()))?,
            tools: rc
                .tools
                .as_ref()
                .map(|t| crate::protect::tools::ToolPolicy::new(t, &config.tools).map(Arc::new))
                .transpose()
                .map_err(|e| format!("route {}: tools: {e}", rc.display_name()))?,
            websocket: rc
                .websocket
                .as_ref()
                .map(|w| Arc::new(crate::route::websocket::WsPolicy::new(w))),
            upload: rc
                .upload
                .as_ref()
                .map(|u| Arc::new(crate::protect::upload::UploadPolicy::new(u))),
            next: AtomicUsize::new(0),
        })
    }

    /// What the transport needs to know about this route.
    pub fn hop(&self) -> crate::route::upstream::Hop {
        crate::route::upstream::Hop {
            connect_timeout: self.connect_timeout,
            protocol: self.upstream_protocol,
        }
    }

    /// The next upstream, in turn.
    pub fn pick_upstream(&self) -> &Uri {
        let i = if self.upstreams.len() == 1 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed) % self.upstreams.len()
        };
        &self.upstreams[i]
    }
}

/// The outcome of looking a request up.
#[derive(Debug, Clone)]
pub enum RouteMatch {
    /// The route that serves the request.
    Found(Arc<Route>),
    /// Some route has this prefix, but none accepts the method.
    MethodNotAllowed,
    /// No route covers the path.
    NotFound,
}

impl RouteMatch {
    /// The route, if one was found.
    pub fn route(&self) -> Option<&Arc<Route>> {
        match self {
            RouteMatch::Found(r) => Some(r),
            _ => None,
        }
    }
}

/// Every configured route, the one route decision over them, and the mount of Palisade's own
/// endpoints.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// By id.
    routes: Vec<Arc<Route>>,
    index: RouteIndex,
    /// Where Palisade's own endpoints live (`api.mount`): `""` is the root.
    mount: Box<str>,
    /// `api.jwks_at_root`: the JWKS also at the root beside a mount.
    jwks_at_root: bool,
}

impl RouteTable {
    /// Every `[[routes]]` of `config`, with ids in configuration order.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(id, rc)| Route::from_config(id, rc, config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(routes)
            .under_mount(config.api.mount())
            .with_jwks_at_root(config.api.jwks_at_root))
    }

    /// Routes whose ids are their positions.
    pub fn new(routes: Vec<Route>) -> Self {
        debug_assert!(routes.iter().enumerate().all(|(i, r)| r.id == i));
        let index = RouteIndex::new(routes.iter().map(Route::key).collect());
        Self {
            routes: routes.into_iter().map(Arc::new).collect(),
            index,
            mount: "".into(),
            jwks_at_root: false,
        }
    }

    /// The same table also answering `/.well-known/jwks.json` at the root beside a mount
    /// (`api.jwks_at_root`).
    pub fn with_jwks_at_root(mut self, yes: bool) -> Self {
        self.jwks_at_root = yes;
        self
    }

    /// Whether the JWKS is also answered at the root beside a mount.
    pub fn jwks_at_root(&self) -> bool {
        self.jwks_at_root && !self.mount.is_empty()
    }

    /// The same table with Palisade's own endpoints under `mount` (see [`Self::builtin`]).
    pub fn under_mount(mut self, mount: &str) -> Self {
        self.mount = mount.into();
        self
    }

    /// Where Palisade's own endpoints live: `""` (the root) or a prefix such as `/.palisade`.
    pub fn mount(&self) -> &str {
        &self.mount
    }

    /// The one built-in classification of a canonical path, under this table's mount
    /// ([`Builtin::classify`](super::builtin::Builtin::classify)): a path it names is never
    /// looked up by [`Self::find`].
    #[inline]
    pub fn builtin(&self, path: &str) -> Option<super::builtin::Builtin> {
        use super::builtin::{Builtin, JWKS_PATH};
        match Builtin::classify(path, &self.mount) {
            None if self.jwks_at_root && path == JWKS_PATH => Some(Builtin::WellKnown),
            found => found,
        }
    }

    /// The one route decision for a request: `host` without port, `path` canonical.
    pub fn find(&self, host: Option<&str>, path: &str, method: &Method) -> RouteMatch {
        match self.index.find(host, method.as_str(), path) {
            IndexMatch::Found(id) => RouteMatch::Found(self.routes[id].clone()),
            IndexMatch::MethodNotAllowed => RouteMatch::MethodNotAllowed,
            IndexMatch::NotFound => RouteMatch::NotFound,
        }
    }

    /// The routes, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    /// The keys the route decision looks at, by id: a configuration reload may change route
    /// policies but not these (the table is built once at start).
    pub fn keys(&self) -> &[RouteKey] {
        self.index.keys()
    }
}

impl Route {
    fn key(&self) -> RouteKey {
        RouteKey {
            prefix: self.prefix.clone(),
            host: self.host.clone(),
            methods: self.methods.iter().map(|m| m.as_str().to_owned()).collect(),
            case_insensitive: self.case_insensitive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, Option<&str>, &[&str], &str)]) -> RouteTable {
        let config = Config::default();
        RouteTable::new(
            routes
                .iter()
                .enumerate()
                .map(|(id, (prefix, host, methods, up))| {
                    let rc = RouteConfig {
                        prefix: prefix.to_string(),
                        host: host.map(String::from),
                        methods: methods.iter().map(|m| m.to_string()).collect(),
                        upstream: Some(up.to_string()),
                        ..Default::default()
                    };
                    Route::from_config(id, &rc, &config).unwrap()
                })
                .collect(),
        )
    }

    fn upstream_of(m: RouteMatch) -> String {
        match m {
            RouteMatch::Found(r) => r.upstreams[0].to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&[
            ("/", None, &[], "http://root"),
            ("/api/", None, &[], "http://api"),
            ("/api/admin/", None, &[], "http://admin"),
        ]);
        assert_eq!(
            upstream_of(t.find(None, "/api/admin/x", &Method::GET)),
            "http://admin/"
        );
        assert_eq!(
            upstream_of(t.find(None, "/api/x", &Method::GET)),
            "http://api/"
        );
        assert_eq!(
            upstream_of(t.find(None, "/other", &Method::GET)),
            "http://root/"
        );
    }

    #[test]
    fn methods_and_hosts_narrow_a_route() {
        let t = table(&[
            ("/api/", None, &["GET"], "http://read"),
            ("/api/", Some("admin.example.com"), &[], "http://admin"),
        ]);
        assert_eq!(
            upstream_of(t.find(Some("ADMIN.example.com"), "/api/x", &Method::POST)),
            "http://admin/"
        );
        assert_eq!(
            upstream_of(t.find(None, "/api/x", &Method::GET)),
            "http://read/"
        );
        assert!(matches!(
            t.find(None, "/api/x", &Method::POST),
            RouteMatch::MethodNotAllowed
        ));
        assert!(matches!(
            t.find(None, "/nope", &Method::GET),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn round_robin_over_upstreams() {
        let config = Config::default();
        let rc = RouteConfig {
            prefix: "/".into(),
            upstreams: vec!["http://a".into(), "http://b".into()],
            ..Default::default()
        };
        let r = Route::from_config(0, &rc, &config).unwrap();
        let picks: Vec<String> = (0..4).map(|_| r.pick_upstream().to_string()).collect();
        assert_eq!(picks, ["http://a/", "http://b/", "http://a/", "http://b/"]);
    }
}
