//! `[[routes]]`: what each configured route matches (prefix, host, methods), where it forwards,
//! who may call it and its per-route limits. The route table (`route::table`) and the policy
//! set (`authz::compile`) are built from these at start.

use super::SecurityHeadersOverride;
use super::units::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};

/// One `[[routes]]` block.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// Name in metrics and logs; defaults to the prefix.
    pub name: Option<String>,
    /// The path prefix, canonical, matched at segment boundaries.
    pub prefix: String,
    /// Where requests are forwarded (`http://host:port`); library mode names none.
    pub upstream: Option<String>,
    /// Several upstreams, used in turn (round-robin).
    pub upstreams: Vec<String>,
    /// Methods this route accepts; empty accepts any.
    pub methods: Vec<String>,
    /// Host this route serves; empty serves any.
    pub host: Option<String>,
    /// Match the prefix ignoring ASCII case, for upstreams that ignore case (`/API/Admin` is then
    /// this route too). The upstream still receives the path as sent, canonicalized.
    pub case_insensitive: bool,
    /// Remove the prefix before forwarding (`/api/x` → `/x`).
    pub strip_prefix: bool,
    /// Overrides `limits.max_body` for this route.
    pub max_body: Option<ByteSize>,
    /// Security-header overrides for this route's answers.
    pub headers: SecurityHeadersOverride,
    /// Who may call: `none` (anyone, the default), `any` credential, or only `jwt`, `api_key`,
    /// `session`. Production refuses a route that does not say (see [`RouteConfig::public`]).
    pub auth: Option<palisade_core::policy::AuthRequirement>,
    /// Says that `auth = "none"` is meant: anyone may call. Production refuses `auth = "none"`
    /// without it; it contradicts any other `auth`, permission, role, resource or `admin_only`.
    pub public: bool,
    /// Permission(s) required, all of them: `"graphs.write"` or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub permission: Vec<String>,
    /// Roles of which the caller must hold one (inherited roles count).
    pub roles: Vec<String>,
    /// Method-derived permission: GET/HEAD/OPTIONS need `<resource>.read`, others `<resource>.write`.
    pub resource: Option<String>,
    /// Path pattern naming parameters, e.g. `/graphs/{graph_id}/`.
    pub pattern: Option<String>,
    /// The pattern parameter holding the tenant the caller must have access to.
    pub tenant_param: Option<String>,
    /// The request header holding the tenant (instead of `tenant_param`): authorized like it;
    /// missing or malformed is 400. Stripped from client requests on every other route.
    pub tenant_header: Option<String>,
    /// This route's identity header names, over `proxy.identity_headers` key by key.
    pub identity_headers: super::identity_names::IdentityNames,
    /// Only callers whose roles administer Palisade (granting `*` or `admin.*`) pass; others get
    /// 403, recorded as a privilege-escalation attempt. Needs a credential: `auth = "none"` is
    /// refused.
    pub admin_only: bool,
    /// Rate-limit category (a key of `rate_limit.rules`); default `read` or `write` by method.
    pub rate_limit: Option<String>,
    /// Never shed under load.
    pub critical: bool,
    /// What to serve while the upstream's circuit is open: `none` (503) or `stale`.
    pub fallback: super::traffic::Fallback,
    /// Override `proxy.connect_timeout`, `proxy.response_timeout`, `proxy.retries`.
    pub connect_timeout: Option<HumanDuration>,
    /// Overrides `proxy.response_timeout`.
    pub response_timeout: Option<HumanDuration>,
    /// Overrides `proxy.retries`.
    pub retries: Option<u32>,
    /// `http1` (default), `h2` (HTTP/2 over TLS by ALPN, `https://` upstreams) or `h2c`
    /// (HTTP/2 with prior knowledge, `http://` upstreams).
    pub upstream_protocol: super::traffic::UpstreamProtocol,
    /// Callers must have signed in with a second factor (`acr = aal2`); below it: 401 with the
    /// RFC 9470 challenge. API keys pass only where `auth = "api_key"`.
    pub mfa: bool,
    /// The caller's last authentication (`auth_time`) at most this long ago (`"15m"`); older:
    /// 401 with the RFC 9470 challenge carrying `max_age`.
    pub max_auth_age: Option<HumanDuration>,
    /// Record every request as an `api.request` audit event (written asynchronously by default:
    /// `audit.async_classes`).
    pub audit: bool,
    /// Inspect this route's requests for injection (`inspect = { mode = "block", … }`; keys
    /// unset take `[inspect]`'s). Absent: not inspected.
    pub inspect: Option<super::inspect::RouteInspect>,
    /// This route's CIDR allow and deny lists, after `[firewall]`'s.
    pub firewall: super::inspect::RouteFirewall,
    /// A JSON Schema file (relative to the config file's directory) every request body must
    /// satisfy before the upstream sees it: 422 `schema-mismatch` naming the fields.
    pub schema: Option<std::path::PathBuf>,
    /// Media types a request body may have (compared without parameters, any case): others get
    /// 415 `unsupported-media-type`. Empty: any, or with a `schema` JSON only.
    pub content_types: Vec<String>,
    /// The query firewall (`query = { dialect = "postgres", field = "query", roles = {…} }`):
    /// each statement of the query is classified and held to the caller's roles. Absent: off.
    pub query: Option<super::query::RouteQuery>,
    /// Agent tools (`tools = { field = "tool", policy = "git" }`): the body names a tool, which
    /// needs `tools.<name>.execute`; a command policy checks its command. Absent: off.
    pub tools: Option<super::tools::RouteTools>,
    /// Relay WebSocket frames under limits after an upgrade (`websocket = {…}`). Absent:
    /// upgrades are spliced as they are.
    pub websocket: Option<super::websocket::RouteWebSocket>,
    /// Check this route's request bodies as uploaded files (`upload = { types = [...], … }`):
    /// types by content, size caps, multipart and archive bounds. Absent: not checked.
    pub upload: Option<super::upload::RouteUpload>,
}

/// A string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl RouteConfig {
    /// `upstream` and `upstreams`, in that order.
    pub fn upstream_urls(&self) -> Vec<&str> {
        self.upstream
            .iter()
            .map(String::as_str)
            .chain(self.upstreams.iter().map(String::as_str))
            .collect()
    }

    /// `name`, else the prefix.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.prefix)
    }

    /// Makes a relative `schema` path relative to `dir`, the config file's directory.
    pub fn resolve_paths(&mut self, dir: &std::path::Path) {
        if let Some(p) = self.schema.as_mut().filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
    }
}
