//! Configuration: one TOML file, every key overridable by `PALISADE_SECTION__KEY` environment
//! variables, checked at start with every problem listed at once.
//!
//! Unknown keys are an error naming the key, so a typo never silently leaves a default in force.
//!
//! The room: [`Config`] and the small sections here; one file per larger section ([`auth`],
//! [`traffic`], [`audit`] with its [`alerts`], [`secret_store`], [`stores`], [`routes`],
//! [`http2`]) and the [`units`] they are written in; [`refs`] resolves secret references at
//! start, [`dev_secrets`] fills a dev gateway's missing secrets; [`checks`] lists every problem
//! of a configuration, and [`preflight`] runs what `serve` would refuse without starting it
//! (`palisade config check`).

pub mod alerts;
pub mod app_events;
pub mod audit;
pub mod auth;
pub mod checks;
pub mod compliance;
pub mod console;
pub mod dev_secrets;
pub mod device;
pub mod email;
pub mod http2;
pub mod identity_names;
pub mod inspect;
pub mod mfa;
pub mod overlap;
pub mod pages;
pub mod preflight;
pub mod providers;
pub mod query;
pub mod redact;
pub mod refs;
pub mod retention;
pub mod review;
pub mod routes;
pub mod secret_store;
pub mod stores;
pub mod tools;
pub mod traffic;
pub mod units;
pub mod upload;
pub mod websocket;

pub use routes::RouteConfig;
pub use stores::{HotStateConfig, StoreConfig};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use units::{ByteSize, HumanDuration};

/// Which rules apply at start: `dev` warns, `production` refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Generates missing secrets into the data dir and warns about weak settings.
    #[default]
    Dev,
    /// Refuses weak or default secrets, plaintext listeners and routes that do not say who may call.
    Production,
}

/// The whole configuration: one TOML file (`palisade.toml`), every key overridable by a
/// `PALISADE_SECTION__KEY` variable. Unknown keys are errors. Library mode
/// ([`crate::Palisade`]) reads the same file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listener, data dir, workers, trusted proxies, path policies.
    pub server: ServerConfig,
    /// `[tls]`: certificate and key when Palisade terminates TLS itself.
    pub tls: TlsConfig,
    /// `[limits]`: body, header and time limits.
    pub limits: LimitsConfig,
    /// `[proxy]`: the upstream client.
    pub proxy: ProxyConfig,
    /// `[headers]`: security headers on answers.
    pub headers: SecurityHeadersConfig,
    /// `[cors]`: cross-origin requests.
    pub cors: CorsConfig,
    /// `[sanitize]`: replacing revealing upstream 5xx bodies.
    pub sanitize: SanitizeConfig,
    /// `[log]`: level, format, access log and redaction.
    pub log: LogConfig,
    /// `[ops]`: who may read `/metrics`.
    pub ops: OpsConfig,
    /// `[api]`: where Palisade's own endpoints live.
    pub api: ApiConfig,
    /// `[store]`: the durable store.
    pub store: StoreConfig,
    /// `[hot_state]`: counters, revocations, blocks.
    pub hot_state: HotStateConfig,
    /// `[secrets]`: signing and cookie secrets.
    pub secrets: SecretsConfig,
    /// `[auth]`: tokens, sessions, passwords, credential defenses.
    pub auth: auth::AuthConfig,
    /// `[password]`: the password policy.
    pub password: palisade_core::password::PasswordPolicyConfig,
    /// Roles and their grants; the defaults are owner → admin → manager → member, viewer, and
    /// auditor (the admin API's read permissions only).
    pub roles: Vec<palisade_core::policy::RoleDef>,
    /// `[rate_limit]`: rules, tiers, the shared limiter.
    pub rate_limit: traffic::RateLimitConfig,
    /// `[admission]`: load shedding.
    pub admission: traffic::AdmissionConfig,
    /// `[circuit_breaker]`: per-upstream breakers and the stale fallback.
    pub circuit_breaker: traffic::CircuitBreakerConfig,
    /// `[audit]`: the trail, alerts.
    pub audit: audit::AuditConfig,
    /// `[retention]`: how long each kind of record is kept, and the daily retention job.
    pub retention: retention::RetentionConfig,
    /// `[secret_store]`: `/v1/secrets` and the data keys.
    pub secret_store: secret_store::SecretStoreConfig,
    /// `[smtp]`: the mail relay of the e-mail flows and notices (off while `host` is empty).
    pub smtp: email::SmtpConfig,
    /// `[inspect]`: the defaults of the routes' input inspection (the `inspect` gate).
    pub inspect: inspect::InspectConfig,
    /// `[firewall]`: CIDR allow and deny lists of the `firewall` gate.
    pub firewall: inspect::FirewallConfig,
    /// `[[routes]]`: what is routed where, and who may call it.
    pub routes: Vec<RouteConfig>,
    /// `[tools]`: the command policies of agent tools (`[tools.commands.<name>]`).
    pub tools: tools::ToolsConfig,
    /// `[compliance]`: the ASVS catalogue and the bars of the compliance evidence report.
    pub compliance: compliance::ComplianceConfig,
    /// `[review]`: the scheduled access review.
    pub review: review::ReviewConfig,
    /// `[console]`: the admin console's address allow-list and idle timeout.
    pub console: console::ConsoleConfig,
}

/// `[server]`: how Palisade listens and reads requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `dev` or `production` (set by `palisade serve --env`).
    pub env: Environment,
    /// Where `palisade serve` listens.
    pub listen: SocketAddr,
    /// SQLite file, dev secrets, master key (dev), kept owner-only.
    pub data_dir: PathBuf,
    /// Serving threads, each with its own single-threaded runtime and listener; 0 = one per core.
    pub workers: usize,
    /// Set when a TLS-terminating proxy in front of Palisade speaks HTTPS to clients.
    pub behind_tls_proxy: bool,
    /// CIDRs of proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Host names accepted in `Host` (exact, or `*.example.com`); empty accepts any.
    pub allowed_hosts: Vec<String>,
    /// How long in-flight requests may run after SIGTERM/SIGINT before connections are closed.
    pub shutdown_grace: HumanDuration,
    /// Optional plaintext listener that answers every request with a redirect to HTTPS.
    pub redirect_http_listen: Option<SocketAddr>,
    /// Start the built-in echo upstream behind `/demo/`. Also on when no routes are configured.
    pub demo: bool,
    /// HTTP/2 connection limits (streams, header lists, resets).
    pub http2: http2::Http2Config,
    /// An encoded slash `%2F` in a path: `reject` (400 `ambiguous-path`), `decode` (to `/`), or
    /// `keep` (data inside its segment, for upstreams that never decode it).
    pub encoded_slash: palisade_core::path::EncodedSlash,
    /// A `;` path parameter: `reject` (400 `ambiguous-path`) or `keep`.
    pub path_parameters: palisade_core::path::PathParams,
    /// Request header names with `_` (other than identity headers, always removed): `drop`,
    /// `reject` (400) or `keep`.
    pub underscore_headers: UnderscoreHeaders,
}

/// What to do with a request header whose name contains `_` (WSGI/CGI servers read `X-A_B` as
/// `HTTP_X_A_B`, the same as `X-A-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnderscoreHeaders {
    /// Removed before anything reads the request (the default).
    #[default]
    Drop,
    /// Refused with 400 `underscore-header`.
    Reject,
    /// Kept as sent.
    Keep,
}

impl ServerConfig {
    /// How request paths are made canonical.
    pub fn path_policy(&self) -> palisade_core::path::PathPolicy {
        palisade_core::path::PathPolicy {
            encoded_slash: self.encoded_slash,
            path_params: self.path_parameters,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            env: Environment::Dev,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./palisade-data"),
            workers: 0,
            behind_tls_proxy: false,
            trusted_proxies: Vec::new(),
            allowed_hosts: Vec::new(),
            shutdown_grace: HumanDuration(Duration::from_secs(30)),
            redirect_http_listen: None,
            demo: false,
            http2: Default::default(),
            encoded_slash: Default::default(),
            path_parameters: Default::default(),
            underscore_headers: UnderscoreHeaders::Drop,
        }
    }
}

/// `[tls]`: TLS terminated by Palisade.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; TLS is on when both `cert` and `key` are set.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// Lowest TLS version accepted.
    pub min_version: TlsVersion,
}

impl TlsConfig {
    /// Whether both `cert` and `key` are set.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

/// The lowest TLS version Palisade accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// `[limits]`: what one request may take.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body (413 beyond); a route may override it.
    pub max_body: ByteSize,
    /// Largest header block (431 beyond).
    pub max_header_bytes: ByteSize,
    /// Whole-request deadline: 408 while the body is still arriving, 504 after.
    pub request_timeout: HumanDuration,
    /// Deadline for a client to send its request head (slow-loris defense).
    pub header_read_timeout: HumanDuration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body: ByteSize(8 << 20),
            max_header_bytes: ByteSize(8 << 10),
            request_timeout: HumanDuration(Duration::from_secs(60)),
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
        }
    }
}

/// `[proxy]`: the pooled upstream client and what it forwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Deadline for connecting to an upstream.
    pub connect_timeout: HumanDuration,
    /// Deadline for the upstream's response head.
    pub response_timeout: HumanDuration,
    /// How long an idle upstream connection is kept.
    pub pool_idle_timeout: HumanDuration,
    /// Idle connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
    /// Extra request headers removed before forwarding (besides `X-Palisade-*` and `X-User-Id`).
    pub strip_headers: Vec<String>,
    /// Retries of a request that could not connect: only idempotent methods without a body,
    /// each after a jittered backoff, on the next upstream of the route.
    pub retries: u32,
    /// Base of the backoff: attempt n waits a random time up to `retry_backoff × 2^n`.
    pub retry_backoff: HumanDuration,
    /// The headers naming the caller to upstreams (`identity_names`); a route may override.
    pub identity_headers: identity_names::IdentityNames,
    /// The claims of the signed identity assertion (`identity_names`).
    pub assertion_claims: identity_names::IdentityNames,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            connect_timeout: HumanDuration(Duration::from_secs(5)),
            response_timeout: HumanDuration(Duration::from_secs(30)),
            pool_idle_timeout: HumanDuration(Duration::from_secs(90)),
            pool_max_idle_per_host: 256,
            strip_headers: Vec::new(),
            retries: 2,
            retry_backoff: HumanDuration(Duration::from_millis(25)),
            identity_headers: Default::default(),
            assertion_claims: Default::default(),
        }
    }
}

/// Security headers set on responses. An empty string turns a header off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityHeadersConfig {
    /// Sent only over TLS (or behind a TLS proxy).
    pub strict_transport_security: String,
    /// `X-Content-Type-Options`.
    pub content_type_options: String,
    /// `X-Frame-Options`.
    pub frame_options: String,
    /// `Referrer-Policy`.
    pub referrer_policy: String,
    /// `Permissions-Policy`.
    pub permissions_policy: String,
    /// CSP for proxied responses; empty leaves the upstream's own. Palisade's pages always get
    /// a strict CSP.
    pub content_security_policy: String,
}

impl Default for SecurityHeadersConfig {
    fn default() -> Self {
        Self {
            strict_transport_security: "max-age=31536000; includeSubDomains".into(),
            content_type_options: "nosniff".into(),
            frame_options: "DENY".into(),
            referrer_policy: "no-referrer".into(),
            permissions_policy: "camera=(), microphone=(), geolocation=(), payment=()".into(),
            content_security_policy: String::new(),
        }
    }
}

/// Route-level overrides of [`SecurityHeadersConfig`]; unset keys inherit the global value.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityHeadersOverride {
    /// Overrides `strict_transport_security`.
    pub strict_transport_security: Option<String>,
    /// Overrides `content_type_options`.
    pub content_type_options: Option<String>,
    /// Overrides `frame_options`.
    pub frame_options: Option<String>,
    /// Overrides `referrer_policy`.
    pub referrer_policy: Option<String>,
    /// Overrides `permissions_policy`.
    pub permissions_policy: Option<String>,
    /// Overrides `content_security_policy`.
    pub content_security_policy: Option<String>,
}

impl SecurityHeadersConfig {
    /// These headers with the route's overrides applied.
    pub fn with(&self, o: &SecurityHeadersOverride) -> Self {
        let pick =
            |over: &Option<String>, base: &String| over.clone().unwrap_or_else(|| base.clone());
        Self {
            strict_transport_security: pick(
                &o.strict_transport_security,
                &self.strict_transport_security,
            ),
            content_type_options: pick(&o.content_type_options, &self.content_type_options),
            frame_options: pick(&o.frame_options, &self.frame_options),
            referrer_policy: pick(&o.referrer_policy, &self.referrer_policy),
            permissions_policy: pick(&o.permissions_policy, &self.permissions_policy),
            content_security_policy: pick(
                &o.content_security_policy,
                &self.content_security_policy,
            ),
        }
    }
}

/// `[cors]`: which browser origins may call, and with what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`); empty turns CORS off. `*` is refused together
    /// with `allow_credentials`.
    pub allowed_origins: Vec<String>,
    /// Let browsers send cookies and credentials (never with `*`).
    pub allow_credentials: bool,
    /// Methods allowed in preflights.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed in preflights.
    pub allowed_headers: Vec<String>,
    /// Response headers browsers may read.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer.
    pub max_age: HumanDuration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allow_credentials: false,
            allowed_methods: ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: ["authorization", "content-type", "x-api-key", "x-request-id"]
                .map(String::from)
                .to_vec(),
            expose_headers: vec!["x-request-id".into()],
            max_age: HumanDuration(Duration::from_secs(600)),
        }
    }
}

/// `[sanitize]`: upstream 5xx bodies that reveal internals are replaced by a problem+json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SanitizeConfig {
    /// Turns the check on.
    pub enabled: bool,
    /// Case-insensitive regular expressions; an upstream 5xx body matching any is replaced.
    pub patterns: Vec<String>,
    /// 5xx bodies longer than this are replaced without being read further.
    pub max_scan_bytes: ByteSize,
}

impl Default for SanitizeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            patterns: [
                r"Traceback \(most recent call last\)",
                r"\bat [\w$.]+\([\w]+\.(java|kt|scala):\d+\)",
                r"\bat .+ \(.+\.(js|ts):\d+:\d+\)",
                r"panicked at ",
                r"goroutine \d+ \[",
                r"Exception in thread",
                r"\w+(Exception|Error): ",
                r"stack ?trace",
                r"password",
                r"secret",
                r"token",
                r"api[_-]?key",
                r"BEGIN [A-Z ]*PRIVATE KEY",
                r"SQLSTATE",
                r"syntax error at or near",
                r"You have an error in your SQL syntax",
                r"ORA-\d{5}",
                r"SQLITE_ERROR|sqlite3\.",
                r"pg_query|psycopg2|PG::",
                r"Fatal error: .* on line \d+",
            ]
            .map(String::from)
            .to_vec(),
            max_scan_bytes: ByteSize(64 << 10),
        }
    }
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`: what is logged and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// One line per request at info level, target `palisade::access`.
    pub access: bool,
    /// Mask e-mail addresses in logs and audit details.
    pub redact_emails: bool,
    /// Mask IPv4 addresses in logs and audit details.
    pub redact_ipv4: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
            access: true,
            redact_emails: true,
            redact_ipv4: false,
        }
    }
}

/// `[ops]`: the operational endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsConfig {
    /// CIDRs allowed to read `/metrics`; empty allows everyone.
    pub metrics_allow: Vec<IpNet>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            metrics_allow: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        }
    }
}

/// `[api]`: where Palisade's own endpoints (auth, admin, secrets, transit, ops, JWKS) live.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// A path prefix every built-in endpoint moves under (`"/.palisade"` puts sign-in at
    /// `/.palisade/auth/login`), so the upstream's or the app's own `/auth`, `/admin`, `/v1/…`
    /// and `/metrics` stay its own. Unset: the root for `palisade serve`, `/.palisade` in
    /// library mode ([`crate::Palisade`]). Must start with `/`, be canonical, not be `/` and not
    /// end with `/`.
    pub mount: Option<String>,
    /// With a mount, also answer `/.well-known/jwks.json` at the root, for verifiers that look
    /// only there. Off by default: under a mount that path stays the upstream's.
    pub jwks_at_root: bool,
    /// Set by [`crate::Palisade::builder`], never read from a file: the wrapped service answers
    /// every route, so routes name no upstream.
    #[serde(skip)]
    pub(crate) in_process: bool,
}

impl ApiConfig {
    /// The mount in force: `api.mount`, else the mode's default (root for the server,
    /// [`LIBRARY_MOUNT`] in library mode).
    pub fn mount(&self) -> &str {
        match &self.mount {
            Some(m) => m,
            None if self.in_process => LIBRARY_MOUNT,
            None => "",
        }
    }

    /// Whether this configuration drives an in-process gate ([`crate::Palisade`]) rather than
    /// `palisade serve`.
    pub fn in_process(&self) -> bool {
        self.in_process
    }
}

/// Where library mode puts Palisade's own endpoints unless `api.mount` says otherwise.
pub const LIBRARY_MOUNT: &str = "/.palisade";

/// Secrets Palisade signs and encrypts with. In dev they are generated into the data dir when
/// missing; in production they must be given and strong.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// Signs tokens and identity assertions.
    pub signing_key: String,
    /// Signs and encrypts cookies.
    pub cookie_key: String,
    /// The master key, resolved at start from `PALISADE_MASTER_KEY` /
    /// `PALISADE_MASTER_KEY_FILE` (never from the file): it wraps the stored keys.
    #[serde(skip)]
    pub master: Option<palisade_core::crypto::MasterKey>,
}

impl SecretsConfig {
    /// The secrets by config key, for checks that name the key at fault.
    pub fn named(&self) -> [(&'static str, &str); 2] {
        [
            ("secrets.signing_key", &self.signing_key),
            ("secrets.cookie_key", &self.cookie_key),
        ]
    }
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsConfig { .. }")
    }
}

/// An HTTP method as config names it (any case), or `None` if it is not one.
pub fn method(name: &str) -> Option<http::Method> {
    http::Method::from_bytes(name.to_ascii_uppercase().as_bytes()).ok()
}

/// A header name as config names it (any case), or `None` if it is not one.
pub fn header_name(name: &str) -> Option<http::HeaderName> {
    http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()
}

/// Where configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The TOML file; when `None`, `PALISADE_CONFIG` may name one.
    pub file: Option<PathBuf>,
    /// Environment variables to read (normally the process's).
    pub env: Vec<(String, String)>,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The roles this configuration defines: `[[roles]]`, or the default roles without any.
    pub fn role_names(&self) -> Vec<String> {
        if self.roles.is_empty() {
            palisade_core::policy::default_roles()
                .into_iter()
                .map(|r| r.name)
                .collect()
        } else {
            self.roles.iter().map(|r| r.name.clone()).collect()
        }
    }

    /// Where erased accounts' tombstones are appended (`retention.erasure_log`, else
    /// `<server.data_dir>.erasures.jsonl`: see `crate::erasures`).
    pub fn erasure_log(&self) -> PathBuf {
        self.retention
            .erasure_log
            .clone()
            .unwrap_or_else(|| crate::erasures::default_path(&self.server.data_dir))
    }

    /// Loads defaults, then the file, then `PALISADE_*` variables (`PALISADE_STORE__URL` →
    /// `store.url`; `PALISADE_ROUTES` may hold the whole routes array).
    pub fn load(source: &ConfigSource) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let file = source.file.clone().or_else(|| {
            source
                .env
                .iter()
                .find(|(k, _)| k == "PALISADE_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        for (var, raw) in source.env.iter().filter(|(k, _)| is_config_var(k)) {
            let path = var["PALISADE_".len()..]
                .to_ascii_lowercase()
                .replace("__", ".");
            let value: figment::value::Value = raw.parse().unwrap_or_else(|_| raw.clone().into());
            figment = figment.merge(Serialized::global(&path, value));
        }
        let mut config: Config = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        if let Some(dir) = file.as_deref().and_then(Path::parent) {
            for route in &mut config.routes {
                route.resolve_paths(dir);
            }
        }
        Ok((config, file))
    }

    /// Reads TOML text over the defaults, as [`Config::load`] reads a file (without the
    /// environment). What `serve` then refuses is [`crate::config::checks::problems`] (route policies
    /// compiled by [`crate::authz::compile`] included), and the route table
    /// ([`crate::route::table::RouteTable::from_config`]) is built from what passed.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError(describe(e)))
    }

    /// Reads `path` over the defaults, without the environment.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        Self::load(&ConfigSource {
            file: Some(path.to_path_buf()),
            env: Vec::new(),
        })
        .map(|(c, _)| c)
    }

    /// True when Palisade itself serves TLS or sits behind a TLS-terminating proxy.
    pub fn served_over_tls(&self) -> bool {
        self.tls.enabled() || self.server.behind_tls_proxy
    }

    /// The built-in demo upstream runs when asked for, or when no route is configured.
    pub fn demo_enabled(&self) -> bool {
        self.server.demo || self.routes.is_empty()
    }
}

/// Variables that are ours but not config keys (`PALISADE_CONFIG`, test URLs, master key) are
/// left out; config keys always have a section, except the `routes` array.
fn is_config_var(key: &str) -> bool {
    key.strip_prefix("PALISADE_")
        .is_some_and(|rest| (rest.contains("__") && !rest.starts_with("TEST_")) || rest == "ROUTES")
}

fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let origin = err
                .metadata
                .as_ref()
                .map(|m| {
                    format!(
                        " (from {})",
                        m.source
                            .as_ref()
                            .map_or_else(|| m.name.to_string(), |s| s.to_string())
                    )
                })
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{origin}", err.kind)
            } else {
                format!("{key}: {}{origin}", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The properties the `config` fuzz target checks (`fuzz/fuzz_targets/config.rs`), replayed over
/// the committed corpus by this crate's tests. The input is a `palisade.toml`.
///
/// Properties: reading it never panics (a bad file is an `Err` naming what is wrong); the
/// start-up checks, policy compilation and the route table never panic, in either environment;
/// and a configuration the checks accept compiles its policies and builds its route table (so
/// `config check` and `serve` never find a problem the checks missed).
#[doc(hidden)]
pub mod fuzz_props {
    use super::{Config, Environment};

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let config = match Config::from_toml(text) {
            Ok(config) => config,
            Err(e) => {
                assert!(!e.0.is_empty(), "an error without a message for {text:?}");
                return;
            }
        };
        let production = crate::config::checks::problems(&config, Environment::Production);
        let dev = crate::config::checks::problems(&config, Environment::Dev);
        let policies = crate::authz::compile(&config);
        if dev.is_empty() || production.is_empty() {
            if let Err(e) = policies {
                panic!("the checks passed but the policies do not compile: {e:?}\n{text}");
            }
            // Only for accepted configurations: building a route leaks its name (routes live
            // as long as the process).
            if let Err(e) = crate::route::table::RouteTable::from_config(&config) {
                panic!("the checks passed but the route table is refused: {e}\n{text}");
            }
        }
    }
}
