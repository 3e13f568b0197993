//! The evidence checks: one per mechanism Palisade can show (brute-force defense, HSTS, audit
//! retention, MFA for administrators, …), each judging the [`Facts`] into a [`Finding`]: a
//! status, the keys and state read, the tests of this repository that prove the mechanism, and
//! what to change when it falls short. The catalogues ([`super::asvs`], [`super::nist`],
//! [`super::soc2`]) only name which checks answer a control; a control is as good as its worst
//! check ([`Findings::control`]).

use super::facts::Facts;
use super::{Control, Evidence, Status};
use crate::config::inspect::InspectMode;
use palisade_core::policy::AuthRequirement;

/// Declares [`Check`] and [`Check::ALL`] from one list.
macro_rules! checks {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// A mechanism Palisade can show evidence for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Check {
            $($(#[$doc])* $name,)*
        }

        impl Check {
            /// Every check, in declaration order.
            pub const ALL: &[Check] = &[$(Check::$name,)*];
        }
    };
}

checks! {
    /// Sign-in delays and IP blocks (`[auth.brute_force]`).
    BruteForce,
    /// `Strict-Transport-Security` on answers.
    Hsts,
    /// TLS to clients: Palisade's own listener or a TLS proxy in front.
    Transport,
    /// How long security audit events are kept.
    AuditRetention,
    /// Audit checkpoints signed (Ed25519) over the hash chain.
    AuditSigned,
    /// Security events recorded durably before the answer.
    AuditLogging,
    /// A second factor required for the administering roles.
    AdminMfa,
    /// E-mail (and IPv4) addresses masked in logs and audit details.
    LogRedaction,
    /// The password policy's minimum length.
    PasswordLength,
    /// Long passwords permitted.
    PasswordMaxLength,
    /// Common passwords refused.
    PasswordCommon,
    /// Password hashing (argon2id) parameters.
    PasswordHashing,
    /// Routes anyone may call.
    OpenRoutes,
    /// Active API keys and their ages.
    KeyAges,
    /// Rate limits, with a stricter one on sign-in.
    RateLimits,
    /// Input inspection of proxied requests.
    InputInspection,
    /// Secret values and e-mail addresses encrypted under wrapped data keys.
    SecretEncryption,
    /// Upstream error bodies that reveal internals replaced.
    ErrorSanitize,
    /// Token and session lifetimes.
    SessionLifetime,
    /// Revocation of sessions and tokens, failing closed.
    SessionTermination,
    /// How Palisade's own tokens are signed and checked.
    TokenSigning,
    /// Permission checks per route and on the admin API.
    AccessEnforcement,
    /// Tenant isolation.
    Tenancy,
    /// Accounts administered through audited use cases.
    AccountManagement,
    /// Alert rules over the event stream.
    Alerting,
    /// Load shedding and circuit breaking.
    Resilience,
    /// Request paths made canonical once, before any decision.
    CanonicalPaths,
    /// Identity headers set by Palisade only.
    IdentityHeaders,
}

/// One check's verdict.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The verdict.
    pub status: Status,
    /// What was read.
    pub evidence: Vec<Evidence>,
    /// What to change, unless met.
    pub remediation: Option<String>,
    /// The tests that prove the mechanism (`path::name`).
    pub tests: &'static [&'static str],
}

/// Every check's finding for one set of facts.
pub struct Findings(Vec<(Check, Finding)>);

fn ev(key: &str, value: impl ToString) -> Evidence {
    Evidence {
        key: key.into(),
        value: value.to_string(),
    }
}

fn finding(
    status: Status,
    evidence: Vec<Evidence>,
    remediation: &str,
    tests: &'static [&'static str],
) -> Finding {
    Finding {
        status,
        evidence,
        remediation: matches!(status, Status::Partial | Status::NotMet)
            .then(|| remediation.to_string()),
        tests,
    }
}

/// Met when `ok`, else not met.
fn met_if(ok: bool) -> Status {
    if ok { Status::Met } else { Status::NotMet }
}

/// Every test any check cites (`path::name`), for the test that proves they exist.
pub const CITED_TESTS: &[&[&str]] = &[
    BRUTE, HSTS, TLS, RETENTION, SIGNED, LOGGING, MFA, REDACT, PW_LEN, PW_MAX, PW_COMMON, PW_HASH,
    OPEN, KEYS, LIMITS, INSPECT, ENCRYPT, SANITIZE, LIFETIME, TERMINATE, TOKENS, ACCESS, TENANCY,
    ACCOUNTS, ALERTS, RESILIENCE, CANONICAL, IDENTITY,
];

const BRUTE: &[&str] = &[
    "crates/gateway/tests/it/identity.rs::every_ladder_step_is_enforced_with_retry_after",
    "crates/gateway/tests/it/identity.rs::ip_threat_levels_block_and_expire",
    "crates/core/src/brute_force.rs::threat_levels_and_blocks",
];
const HSTS: &[&str] = &[
    "crates/gateway/tests/it/proxy.rs::hsts_when_behind_a_tls_proxy",
    "crates/gateway/tests/it/listener.rs::tls_serves_http2_and_http1_with_hsts",
];
const TLS: &[&str] = &[
    "crates/gateway/tests/it/listener.rs::tls_min_version_13_refuses_tls_12_clients",
    "crates/gateway/tests/it/listener.rs::tls_serves_http2_and_http1_with_hsts",
];
const RETENTION: &[&str] = &[
    "crates/gateway/tests/it/audit.rs::retention_purges_the_expired_prefix_records_the_purge_and_the_rest_still_verifies",
];
const SIGNED: &[&str] = &[
    "crates/core/src/audit/tests.rs::a_forged_or_unknown_checkpoint_fails",
    "crates/core/src/audit/tests.rs::rewriting_a_record_and_rehashing_the_rest_is_caught_by_a_checkpoint",
    "crates/cli/tests/cli.rs::the_audit_trail_the_server_writes_verifies_against_a_pinned_key",
];
const LOGGING: &[&str] = &[
    "crates/gateway/tests/it/audit.rs::a_refusal_is_in_the_store_before_its_answer_arrives_and_the_trail_verifies",
    "crates/gateway/tests/it/authorization.rs::refusals_on_admin_routes_are_privilege_escalation_attempts",
];
const MFA: &[&str] =
    &["crates/gateway/tests/it/mfa.rs::required_roles_sign_in_within_the_grace_period_only"];
const REDACT: &[&str] = &[
    "crates/gateway/src/audit/mod.rs::details_are_redacted_like_the_logs",
    "crates/cli/tests/cli.rs::logs_never_carry_passwords_tokens_keys_or_emails",
];
const PW_LEN: &[&str] = &[
    "crates/core/src/password/policy.rs::length_bounds_are_inclusive",
    "crates/gateway/tests/it/identity.rs::register_refuses_bad_input_naming_the_problem",
];
const PW_MAX: &[&str] =
    &["crates/core/src/password/policy.rs::sixty_four_character_passphrase_accepted"];
const PW_COMMON: &[&str] =
    &["crates/core/src/password/policy.rs::common_and_weak_passwords_refused"];
const PW_HASH: &[&str] = &[
    "crates/core/src/password/hash.rs::default_params_round_trip",
    "crates/core/src/password/hash.rs::other_params_need_rehash",
];
const OPEN: &[&str] = &[
    "crates/gateway/src/config/checks.rs::production_refuses_routes_open_without_a_written_decision",
    "crates/gateway/tests/it/authorization.rs::a_viewer_can_read_but_not_write_and_anonymous_callers_must_sign_in",
];
const KEYS: &[&str] = &[
    "crates/gateway/tests/it/keys.rs::keys_expired_or_disabled_owner_refused_as_native_keys",
    "crates/gateway/tests/it/identity.rs::api_keys_are_shown_once_verified_rotated_and_revoked",
];
const LIMITS: &[&str] = &[
    "crates/gateway/tests/it/ratelimit.rs::login_has_its_own_stricter_category_and_ops_and_allow_listed_networks_are_not_limited",
    "crates/gateway/tests/it/ratelimit.rs::answers_carry_limit_headers_and_a_refusal_says_when_to_retry",
];
const INSPECT: &[&str] = &[
    "crates/gateway/tests/it/inspect.rs::block_mode_refuses_naming_the_location_and_records_a_redacted_excerpt",
    "crates/core/tests/inspect_corpus.rs::libinjection_detection_at_paranoia_2",
];
const ENCRYPT: &[&str] = &[
    "crates/gateway/src/protect/keyring.rs::rotation_end_to_end_reencrypts_everything_then_retires_the_old_key",
    "crates/gateway/src/protect/keyring.rs::a_ciphertext_copied_to_another_secret_does_not_decrypt",
    "crates/cli/tests/cli.rs::a_registered_address_is_nowhere_in_the_database_file_yet_login_and_listing_work",
];
const SANITIZE: &[&str] =
    &["crates/gateway/tests/it/proxy.rs::upstream_stack_traces_are_replaced_by_a_generic_problem"];
const LIFETIME: &[&str] = &[
    "crates/gateway/tests/it/identity.rs::access_tokens_expire_with_the_clock",
    "crates/gateway/tests/it/identity.rs::refresh_reuse_inside_the_grace_window_serves_both_outside_kills_the_family",
];
const TERMINATE: &[&str] = &[
    "crates/gateway/tests/it/identity.rs::sessions_are_listed_and_revoked_one_or_all",
    "crates/gateway/tests/it/identity.rs::disabling_a_user_revokes_their_sessions",
    "crates/gateway/tests/it/identity.rs::revocation_and_block_lookups_that_cannot_be_answered_refuse",
];
const TOKENS: &[&str] = &[
    "crates/gateway/tests/it/identity.rs::jwt_attacks_on_our_own_tokens_are_refused",
    "crates/core/src/jwt/token.rs::header_must_name_an_allowed_algorithm",
];
const ACCESS: &[&str] = &[
    "crates/gateway/tests/it/authorization.rs::a_viewer_can_read_but_not_write_and_anonymous_callers_must_sign_in",
    "crates/gateway/tests/it/principals.rs::the_admin_api_needs_admin_permissions_not_ordinary_write_grants",
];
const TENANCY: &[&str] = &[
    "crates/gateway/tests/it/authorization.rs::tenant_members_reach_their_tenant_and_its_children_only",
    "crates/gateway/tests/it/secrets.rs::tenant_secrets_are_versioned_and_only_their_tenant_reaches_them",
];
const ACCOUNTS: &[&str] = &[
    "crates/cli/tests/cli.rs::cli_user_key_and_tenant_commands_leave_their_audit_events_in_a_trail_that_verifies",
    "crates/gateway/tests/it/identity.rs::disabling_a_user_revokes_their_sessions",
];
const ALERTS: &[&str] = &[
    "crates/gateway/tests/it/alerts.rs::repeated_failed_logins_open_an_incident_that_signs_a_webhook_and_blocks_the_ip",
];
const RESILIENCE: &[&str] = &[
    "crates/gateway/tests/it/resilience.rs::a_failing_upstream_opens_the_circuit_serves_stale_then_recovers_through_half_open",
    "crates/gateway/tests/it/resilience.rs::excess_requests_are_shed_at_once_while_ops_and_critical_routes_still_answer",
];
const CANONICAL: &[&str] = &[
    "crates/gateway/tests/it/hardening/spellings.rs::every_spelling_over_http1_is_refused_or_forwarded_canonically",
];
const IDENTITY: &[&str] = &[
    "crates/gateway/tests/it/proxy.rs::spoofed_identity_headers_never_reach_the_upstream",
    "crates/gateway/tests/it/hardening/smuggled_headers.rs::identity_headers_in_any_spelling_never_reach_the_upstream",
];

/// The password length Palisade calls met (ASVS asks at least 8 and recommends 15).
pub const MIN_PASSWORD_LENGTH: usize = 12;
/// A year of `Strict-Transport-Security`.
const HSTS_MIN_AGE: u64 = 31_536_000;

impl Findings {
    /// Judges every check on `f`.
    pub fn judge(f: &Facts<'_>) -> Findings {
        Findings(Check::ALL.iter().map(|c| (*c, judge(*c, f))).collect())
    }

    /// The finding of one check.
    pub fn get(&self, check: Check) -> &Finding {
        &self
            .0
            .iter()
            .find(|(c, _)| *c == check)
            .expect("every check is judged")
            .1
    }

    /// A control answered by `checks`: as good as the worst of them, with all their evidence,
    /// tests and remediations. No checks: `not_assessed`, with `outside` as what to do.
    pub fn control(&self, id: &str, title: &str, checks: &[Check], outside: &str) -> Control {
        if checks.is_empty() {
            return Control {
                id: id.into(),
                title: title.into(),
                status: Status::NotAssessed,
                evidence: vec![],
                tests: vec![],
                remediation: Some(outside.into()),
            };
        }
        let found: Vec<&Finding> = checks.iter().map(|c| self.get(*c)).collect();
        // Met < Partial < NotMet: the worst judged finding; only not-applicable ones: that.
        let status = found
            .iter()
            .map(|f| f.status)
            .filter(|s| *s != Status::NotApplicable)
            .max()
            .unwrap_or(Status::NotApplicable);
        let mut tests: Vec<String> = Vec::new();
        for t in found.iter().flat_map(|f| f.tests.iter()) {
            if !tests.iter().any(|x| x == t) {
                tests.push(t.to_string());
            }
        }
        let remediation: Vec<&str> = found
            .iter()
            .filter_map(|f| f.remediation.as_deref())
            .collect();
        Control {
            id: id.into(),
            title: title.into(),
            status,
            evidence: found.iter().flat_map(|f| f.evidence.clone()).collect(),
            tests,
            remediation: (!remediation.is_empty() && status != Status::Met)
                .then(|| remediation.join(" ")),
        }
    }
}

fn judge(check: Check, f: &Facts<'_>) -> Finding {
    let c = f.config;
    match check {
        Check::BruteForce => {
            let b = &c.auth.brute_force;
            finding(
                met_if(b.enabled && !b.ladder.is_empty()),
                vec![
                    ev("auth.brute_force.enabled", b.enabled),
                    ev(
                        "auth.brute_force.ladder",
                        b.ladder.len().to_string() + " steps",
                    ),
                    ev("auth.brute_force.medium_failures", b.medium_failures),
                ],
                "Set auth.brute_force.enabled = true with a non-empty ladder.",
                BRUTE,
            )
        }
        Check::Hsts => {
            let value = &c.headers.strict_transport_security;
            let age = value
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("max-age="))
                .find_map(|a| a.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let over_tls = c.tls.enabled() || c.server.behind_tls_proxy;
            let routes_off: Vec<&str> = c
                .routes
                .iter()
                .filter(|r| r.headers.strict_transport_security.as_deref() == Some(""))
                .map(|r| r.prefix.as_str())
                .collect();
            let status = if value.is_empty() || age == 0 {
                Status::NotMet
            } else if age < HSTS_MIN_AGE || !over_tls || !routes_off.is_empty() {
                Status::Partial
            } else {
                Status::Met
            };
            finding(
                status,
                vec![
                    ev("headers.strict_transport_security", format!("{value:?}")),
                    ev("https to clients", over_tls),
                    ev("routes turning it off", format!("{routes_off:?}")),
                ],
                "Set headers.strict_transport_security to \"max-age=31536000; includeSubDomains\" \
                 (no route overriding it with \"\") and serve HTTPS (tls.cert and tls.key, or \
                 server.behind_tls_proxy = true behind a TLS proxy); HSTS is sent over HTTPS only.",
                HSTS,
            )
        }
        Check::Transport => {
            let own = c.tls.enabled();
            let status = if own || c.server.behind_tls_proxy {
                Status::Met
            } else {
                Status::NotMet
            };
            finding(
                status,
                vec![
                    ev("tls.cert and tls.key set", own),
                    ev("tls.min_version", spelled(&c.tls.min_version)),
                    ev("server.behind_tls_proxy", c.server.behind_tls_proxy),
                ],
                "Terminate TLS: set tls.cert and tls.key (tls.min_version \"1.2\" or \"1.3\"), or \
                 put a TLS proxy in front and set server.behind_tls_proxy = true.",
                TLS,
            )
        }
        Check::AuditRetention => {
            // The effective periods: `[retention.audit]`, or the older `[audit.retention_days]`
            // it replaces (named as the issue and existing files name them).
            let periods = c.retention.audit_periods(&c.audit);
            let days = |class: &str| {
                periods
                    .for_class(class)
                    .map_or(0, |d| (d.as_secs() / 86_400) as u32)
            };
            let (security, credential_access) = (days("security"), days("credential_access"));
            let bar = c.compliance.min_security_retention_days;
            let status = if security >= bar && credential_access >= bar {
                Status::Met
            } else if security >= bar / 4 && credential_access >= bar / 4 {
                Status::Partial
            } else {
                Status::NotMet
            };
            finding(
                status,
                vec![
                    ev("audit.retention_days.security", security),
                    ev("audit.retention_days.credential_access", credential_access),
                    ev("audit.retention_days.api_call", days("api_call")),
                    ev("compliance.min_security_retention_days", bar),
                ],
                &format!(
                    "Keep security and credential-access audit events at least {bar} days \
                     ([retention.audit] security and credential_access, or the older \
                     audit.retention_days.security and .credential_access)."
                ),
                RETENTION,
            )
        }
        Check::AuditSigned => {
            let cp = &f.checkpoints;
            let status = if cp.count == 0 {
                Status::Partial
            } else {
                met_if(cp.signed == cp.count)
            };
            finding(
                status,
                vec![
                    ev("store.audit_checkpoints", cp.count),
                    ev("store.audit_checkpoints.signed", cp.signed),
                    ev(
                        "store.audit_checkpoints.latest_kid",
                        cp.latest_kid.as_deref().unwrap_or("none"),
                    ),
                    ev("audit.checkpoint_every", c.audit.checkpoint_every),
                ],
                "No signed checkpoint covers the trail yet: start the gateway (it signs one every \
                 audit.checkpoint_every events, at shutdown and at each purge), then run \
                 palisade audit verify --public-key with the key from palisade audit key.",
                SIGNED,
            )
        }
        Check::AuditLogging => {
            let durable = !c.audit.async_classes.iter().any(|x| x == "security");
            finding(
                met_if(durable),
                vec![
                    ev(
                        "audit.async_classes",
                        format!("{:?}", c.audit.async_classes),
                    ),
                    ev(
                        "audit.durable_timeout",
                        humantime_of(c.audit.durable_timeout.0),
                    ),
                ],
                "Remove \"security\" from audit.async_classes, so a security event is stored \
                 before its answer leaves.",
                LOGGING,
            )
        }
        Check::AdminMfa => {
            let required = &c.auth.mfa.required_roles;
            let covered = f
                .admin_roles
                .iter()
                .filter(|r| required.contains(r))
                .count();
            let status = if f.admin_roles.is_empty() {
                Status::NotApplicable
            } else if covered == f.admin_roles.len() {
                Status::Met
            } else if covered > 0 {
                Status::Partial
            } else {
                Status::NotMet
            };
            finding(
                status,
                vec![
                    ev("auth.mfa.required_roles", format!("{required:?}")),
                    ev("administering roles", format!("{:?}", f.admin_roles)),
                    ev(
                        "auth.mfa.enrollment_grace",
                        humantime_of(c.auth.mfa.enrollment_grace.0),
                    ),
                    ev("store.users.administrators", f.accounts.administrators),
                ],
                &format!(
                    "List every administering role in auth.mfa.required_roles: {:?}.",
                    f.admin_roles
                ),
                MFA,
            )
        }
        Check::LogRedaction => finding(
            met_if(c.log.redact_emails),
            vec![
                ev("log.redact_emails", c.log.redact_emails),
                ev("log.redact_ipv4", c.log.redact_ipv4),
            ],
            "Set log.redact_emails = true (and log.redact_ipv4 = true where addresses count as \
             personal data).",
            REDACT,
        ),
        Check::PasswordLength => {
            let p = &c.password;
            finding(
                met_if(p.min_length >= MIN_PASSWORD_LENGTH),
                vec![ev("password.min_length", p.min_length)],
                &format!(
                    "Set password.min_length to at least {MIN_PASSWORD_LENGTH} (ASVS recommends 15)."
                ),
                PW_LEN,
            )
        }
        Check::PasswordMaxLength => finding(
            met_if(c.password.max_length >= 64),
            vec![ev("password.max_length", c.password.max_length)],
            "Set password.max_length to at least 64.",
            PW_MAX,
        ),
        Check::PasswordCommon => {
            let p = &c.password;
            finding(
                met_if(p.reject_common),
                vec![
                    ev("password.reject_common", p.reject_common),
                    ev("password.min_strength", p.min_strength),
                    ev("password.reject_personal", p.reject_personal),
                ],
                "Set password.reject_common = true.",
                PW_COMMON,
            )
        }
        Check::PasswordHashing => {
            let h = &c.auth.hashing;
            finding(
                met_if(h.memory_kib >= 19_456 && h.iterations >= 2 && h.parallelism >= 1),
                vec![
                    ev("password hash", "argon2id"),
                    ev("auth.hashing.memory_kib", h.memory_kib),
                    ev("auth.hashing.iterations", h.iterations),
                    ev("auth.hashing.parallelism", h.parallelism),
                ],
                "Use at least OWASP's argon2id parameters: auth.hashing.memory_kib = 19456, \
                 iterations = 2, parallelism = 1.",
                PW_HASH,
            )
        }
        Check::OpenRoutes => {
            let open: Vec<&crate::config::RouteConfig> = c
                .routes
                .iter()
                .filter(|r| r.auth.unwrap_or_default() == AuthRequirement::None)
                .collect();
            let undecided: Vec<&str> = open
                .iter()
                .filter(|r| !r.public)
                .map(|r| r.prefix.as_str())
                .collect();
            let public: Vec<&str> = open
                .iter()
                .filter(|r| r.public)
                .map(|r| r.prefix.as_str())
                .collect();
            finding(
                met_if(undecided.is_empty()),
                vec![
                    ev("routes", c.routes.len()),
                    ev(
                        "routes open by decision (public = true)",
                        format!("{public:?}"),
                    ),
                    ev("routes open without auth", format!("{undecided:?}")),
                ],
                &format!(
                    "Give these routes an auth requirement, or write public = true where anyone \
                     may call them: {undecided:?}."
                ),
                OPEN,
            )
        }
        Check::KeyAges => {
            let k = &f.keys;
            let max = humantime_of(c.compliance.max_key_age.0);
            let status = if k.active == 0 {
                Status::NotApplicable
            } else if k.older_than_max > 0 {
                Status::NotMet
            } else if k.without_expiry > 0 {
                Status::Partial
            } else {
                Status::Met
            };
            finding(
                status,
                vec![
                    ev("store.api_keys.active", k.active),
                    ev("store.api_keys.older_than_max_age", k.older_than_max),
                    ev("store.api_keys.without_expiry", k.without_expiry),
                    ev(
                        "store.api_keys.oldest_days",
                        k.oldest_days.map_or("none".into(), |d| d.to_string()),
                    ),
                    ev("compliance.max_key_age", &max),
                ],
                &format!(
                    "Rotate (palisade key rotate / POST /auth/api-keys/{{id}}/rotate) or revoke the \
                     active keys older than {max}, and give keys an expiry."
                ),
                KEYS,
            )
        }
        Check::RateLimits => {
            let r = &c.rate_limit;
            let login = r.rules.get("auth_login");
            finding(
                met_if(r.enabled && login.is_some()),
                vec![
                    ev("rate_limit.enabled", r.enabled),
                    ev(
                        "rate_limit.rules.auth_login",
                        login.map_or("none".into(), |l| {
                            format!("{} per {}", l.limit, humantime_of(l.period.0))
                        }),
                    ),
                    ev("rate_limit.on_backend_error", spelled(&r.on_backend_error)),
                ],
                "Set rate_limit.enabled = true with a rate_limit.rules.auth_login rule.",
                LIMITS,
            )
        }
        Check::InputInspection => {
            let proxied = c.routes.len();
            let blocking = c
                .routes
                .iter()
                .filter(|r| {
                    r.inspect
                        .as_ref()
                        .is_some_and(|i| i.mode.unwrap_or(c.inspect.mode) == InspectMode::Block)
                })
                .count();
            let status = if proxied == 0 {
                Status::NotApplicable
            } else if blocking == proxied {
                Status::Met
            } else if blocking > 0 {
                Status::Partial
            } else {
                Status::NotMet
            };
            finding(
                status,
                vec![
                    ev("routes", proxied),
                    ev("routes inspected in block mode", blocking),
                    ev("inspect.paranoia", c.inspect.paranoia),
                    ev("inspect.threshold", c.inspect.threshold),
                ],
                "Give every route inspect = {} (block mode), or a JSON schema, so injection \
                 payloads are refused before the upstream.",
                INSPECT,
            )
        }
        Check::SecretEncryption => {
            let (primary, total) = f.data_keys;
            finding(
                if primary {
                    Status::Met
                } else {
                    Status::Partial
                },
                vec![
                    ev("store.data_keys", total),
                    ev("store.data_keys.primary", primary),
                    ev(
                        "cipher",
                        "AES-256-GCM under data keys wrapped by the master key",
                    ),
                    ev(
                        "secret_store.reencrypt_interval",
                        humantime_of(c.secret_store.reencrypt_interval.0),
                    ),
                ],
                "No data key yet: start the gateway once with its master key \
                 (PALISADE_MASTER_KEY or PALISADE_MASTER_KEY_FILE) so the keyring is made.",
                ENCRYPT,
            )
        }
        Check::ErrorSanitize => finding(
            met_if(c.sanitize.enabled),
            vec![
                ev("sanitize.enabled", c.sanitize.enabled),
                ev("sanitize.patterns", c.sanitize.patterns.len()),
            ],
            "Set sanitize.enabled = true.",
            SANITIZE,
        ),
        Check::SessionLifetime => {
            let a = &c.auth;
            let hour = std::time::Duration::from_secs(3600);
            let ok = a.access_token_ttl.0 <= hour
                && a.session_lifetime.0 <= 30 * 24 * hour
                && a.cookie_session_ttl.0 <= 24 * hour;
            finding(
                if ok { Status::Met } else { Status::Partial },
                vec![
                    ev("auth.access_token_ttl", humantime_of(a.access_token_ttl.0)),
                    ev(
                        "auth.refresh_token_ttl",
                        humantime_of(a.refresh_token_ttl.0),
                    ),
                    ev("auth.session_lifetime", humantime_of(a.session_lifetime.0)),
                    ev(
                        "auth.cookie_session_ttl",
                        humantime_of(a.cookie_session_ttl.0),
                    ),
                ],
                "Keep auth.access_token_ttl at most 1h, auth.cookie_session_ttl at most 24h and \
                 auth.session_lifetime at most 30d.",
                LIFETIME,
            )
        }
        Check::SessionTermination => finding(
            Status::Met,
            vec![
                ev("hot_state.url", scheme(c.hot_state_url())),
                ev(
                    "revocation lookups that cannot be answered",
                    "refused (fail closed)",
                ),
            ],
            "",
            TERMINATE,
        ),
        Check::TokenSigning => {
            let alg = spelled(&c.auth.algorithm);
            finding(
                if alg == "HS256" {
                    Status::Partial
                } else {
                    Status::Met
                },
                vec![
                    ev("auth.algorithm", &alg),
                    ev("auth.audience", &c.auth.audience),
                    ev("auth.trusted_issuers", c.auth.trusted_issuers.len()),
                ],
                "Sign with an asymmetric algorithm (auth.algorithm = \"EdDSA\", \"ES256\" or \
                 \"RS256\"), so verifiers never hold the signing secret.",
                TOKENS,
            )
        }
        Check::AccessEnforcement => finding(
            Status::Met,
            vec![
                ev("roles", f.roles.role_names().count()),
                ev(
                    "routes requiring a permission, role or resource",
                    c.routes
                        .iter()
                        .filter(|r| {
                            !r.permission.is_empty() || !r.roles.is_empty() || r.resource.is_some()
                        })
                        .count(),
                ),
            ],
            "",
            ACCESS,
        ),
        Check::Tenancy => finding(
            Status::Met,
            vec![ev("store.tenants", f.tenants)],
            "",
            TENANCY,
        ),
        Check::AccountManagement => finding(
            Status::Met,
            vec![
                ev("store.users", f.accounts.total),
                ev("store.users.disabled", f.accounts.disabled),
                ev("store.users.administrators", f.accounts.administrators),
                ev("auth.registration", spelled(&c.auth.registration)),
            ],
            "",
            ACCOUNTS,
        ),
        Check::Alerting => {
            let a = &c.audit.alerts;
            let status = if !a.enabled {
                Status::NotMet
            } else if a.webhook_url.is_none() {
                Status::Partial
            } else {
                Status::Met
            };
            finding(
                status,
                vec![
                    ev("audit.alerts.enabled", a.enabled),
                    ev("audit.alerts.webhook_url set", a.webhook_url.is_some()),
                ],
                "Set audit.alerts.enabled = true and an audit.alerts.webhook_url, so incidents \
                 reach someone.",
                ALERTS,
            )
        }
        Check::Resilience => finding(
            met_if(c.admission.enabled && c.circuit_breaker.enabled),
            vec![
                ev("admission.enabled", c.admission.enabled),
                ev("circuit_breaker.enabled", c.circuit_breaker.enabled),
            ],
            "Set admission.enabled = true and circuit_breaker.enabled = true.",
            RESILIENCE,
        ),
        Check::CanonicalPaths => finding(
            Status::Met,
            vec![
                ev("server.encoded_slash", spelled(&c.server.encoded_slash)),
                ev("server.path_parameters", spelled(&c.server.path_parameters)),
            ],
            "",
            CANONICAL,
        ),
        Check::IdentityHeaders => finding(
            Status::Met,
            vec![ev(
                "server.trusted_proxies",
                format!("{} networks", c.server.trusted_proxies.len()),
            )],
            "",
            IDENTITY,
        ),
    }
}

/// A duration as the configuration spells it (`90d`, `12h`, `5m`, `30s`).
fn humantime_of(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s > 0 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s > 0 && s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        _ if s > 0 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// A configuration value as the configuration spells it (`"1.2"`, `open`, `EdDSA`).
fn spelled(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The scheme of a store URL, never its credentials.
fn scheme(url: &str) -> String {
    url.split(':').next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test a finding cites exists in this repository: its file, and a function of that
    /// name in it (read from the sources now, so a renamed test fails here).
    #[test]
    fn every_cited_test_exists_in_the_tree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seen = 0;
        for cited in CITED_TESTS.iter().flat_map(|t| t.iter()) {
            let (path, name) = cited.split_once("::").expect("path::name");
            let text = std::fs::read_to_string(root.join(path))
                .unwrap_or_else(|e| panic!("{cited}: {path}: {e}"));
            let at = text
                .find(&format!("fn {name}("))
                .unwrap_or_else(|| panic!("{cited}: no function {name} in {path}"));
            let before = String::from_utf8_lossy(&text.as_bytes()[at.saturating_sub(200)..at]);
            assert!(
                before.contains("#[test]") || before.contains("::test"),
                "{cited}: {name} is not a test"
            );
            seen += 1;
        }
        assert!(seen >= 40, "{seen}");
    }
}
