//! `palisade config check` names what `palisade serve` would refuse in the same environment:
//! open routes in production, `admin_only` with `auth = "none"`, a master key file others can
//! read, unreadable references, a github provider asking for what GitHub cannot give,
//! and with `--online` a store or hot state it cannot reach.
//!
//! The `--online` cases against the real PostgreSQL and Redis use a schema and key prefix of
//! their own (the schema is dropped at the end); without `PALISADE_TEST_DATABASE_URL` /
//! `PALISADE_TEST_REDIS_URL` they say they were skipped.

use std::path::Path;
use std::process::{Command, Output};

fn palisade(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SIGNING: &str = "q2G7vN9xLpT4wZ8rK1mB6yH3cF5jA0sUq2G7vN9x";
const COOKIE: &str = "Zq2G7vN9xLpT4wZ8rK1mB6yH3cF5jA0sUq2G7vN9";

/// A configuration production accepts, but for the routes appended to it.
fn production_config(dir: &Path, routes: &str) -> std::path::PathBuf {
    let path = dir.join("palisade.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nbehind_tls_proxy = true\ndata_dir = \"data\"\n[secrets]\nsigning_key = \"{SIGNING}\"\ncookie_key = \"{COOKIE}\"\n{routes}"
        ),
    )
    .unwrap();
    path
}

fn master_key() -> String {
    palisade_core::crypto::MasterKey::generate()
        .export_base64()
        .to_string()
}

const CHECK_PRODUCTION: &[&str] = &[
    "config",
    "check",
    "--config",
    "palisade.toml",
    "--env",
    "production",
];

#[test]
fn production_refuses_open_routes_that_nobody_declared_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    let env = [("PALISADE_MASTER_KEY", key.as_str())];
    production_config(
        dir.path(),
        "[[routes]]\nname = \"unsaid\"\nprefix = \"/api/\"\nupstream = \"http://127.0.0.1:9\"\n\
         [[routes]]\nname = \"open\"\nprefix = \"/pub/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\n\
         [[routes]]\nname = \"signed\"\nprefix = \"/v/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"jwt\"\n",
    );
    let out = palisade(dir.path(), CHECK_PRODUCTION, &env);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("2 problem(s) for production"), "{err}");
    assert!(err.contains("routes[0] (unsaid): no `auth`"), "{err}");
    assert!(
        err.contains("routes[1] (open): auth = \"none\"") && err.contains("public = true"),
        "{err}"
    );
    assert!(!err.contains("(signed)"), "{err}");

    // serve refuses to start on the same configuration, naming the same routes.
    let out = palisade(
        dir.path(),
        &[
            "serve",
            "--config",
            "palisade.toml",
            "--env",
            "production",
            "--listen",
            "127.0.0.1:0",
        ],
        &env,
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("refusing to start") && err.contains("(unsaid)") && err.contains("(open)"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));

    // Dev only warns about them.
    let out = palisade(
        dir.path(),
        &["config", "check", "--config", "palisade.toml"],
        &env,
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: routes[0] (unsaid)") && err.contains("warning: routes[1] (open)"),
        "{err}"
    );

    // Written down, the open route is accepted.
    production_config(
        dir.path(),
        "[[routes]]\nname = \"open\"\nprefix = \"/pub/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\npublic = true\n",
    );
    let out = palisade(dir.path(), CHECK_PRODUCTION, &env);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn admin_only_with_auth_none_is_refused_in_every_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    production_config(
        dir.path(),
        "[[routes]]\nname = \"ops\"\nprefix = \"/ops/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\npublic = true\nadmin_only = true\n",
    );
    for env in ["dev", "production"] {
        let out = palisade(
            dir.path(),
            &["config", "check", "--config", "palisade.toml", "--env", env],
            &[("PALISADE_MASTER_KEY", key.as_str())],
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{env}: {err}");
        assert!(
            err.contains("routes[0] (ops): admin_only = true with auth = \"none\""),
            "{env}: {err}"
        );
    }
}

#[test]
fn a_master_key_file_others_can_read_is_named_in_dev_and_production() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    production_config(dir.path(), "");
    let file = dir.path().join("master.b64");
    std::fs::write(&file, master_key()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = [("PALISADE_MASTER_KEY_FILE", file.to_str().unwrap())];
    for check_env in ["dev", "production"] {
        let out = palisade(
            dir.path(),
            &[
                "config",
                "check",
                "--config",
                "palisade.toml",
                "--env",
                check_env,
            ],
            &env,
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{check_env}: {err}");
        assert!(
            err.contains(&format!("master key file {} has mode 0644", file.display())),
            "{check_env}: {err}"
        );
    }
    // serve (dev) refuses it too: the same rule.
    let out = palisade(
        dir.path(),
        &[
            "serve",
            "--config",
            "palisade.toml",
            "--listen",
            "127.0.0.1:0",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mode 0644"), "{}", stderr(&out));

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = palisade(dir.path(), CHECK_PRODUCTION, &env);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn unreadable_references_are_named_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    let path = dir.path().join("palisade.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nbehind_tls_proxy = true\n[secrets]\nsigning_key = \"file:{}\"\ncookie_key = \"{COOKIE}\"\n",
            dir.path().join("absent").display()
        ),
    )
    .unwrap();
    let out = palisade(
        dir.path(),
        CHECK_PRODUCTION,
        &[("PALISADE_MASTER_KEY", key.as_str())],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("secrets.signing_key: file:"), "{err}");
    assert!(err.contains("1 problem(s)"), "only the reference: {err}");
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn online_names_a_store_and_a_hot_state_it_cannot_reach() {
    let dir = tempfile::tempdir().unwrap();
    let pg = format!("postgres://postgres@127.0.0.1:{}/none", closed_port());
    let redis = format!("redis://127.0.0.1:{}", closed_port());
    let check = ["config", "check", "--online"];
    let out = palisade(
        dir.path(),
        &check,
        &[
            ("PALISADE_STORE__URL", pg.as_str()),
            ("PALISADE_STORE__CONNECT_TIMEOUT", "2s"),
            ("PALISADE_HOT_STATE__URL", redis.as_str()),
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(
        err.contains("store: ") && err.contains("PostgreSQL 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("hot state redis://127.0.0.1:"), "{err}");

    // Without --online nothing is reached, and the check says so.
    let out = palisade(
        dir.path(),
        &["config", "check"],
        &[
            ("PALISADE_STORE__URL", pg.as_str()),
            ("PALISADE_HOT_STATE__URL", redis.as_str()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("--online"), "{}", stderr(&out));

    // The embedded default: the SQLite file is opened read-only, and a missing one is created
    // by the first start, not by the check.
    let out = palisade(dir.path(), &check, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not exist yet"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("palisade-data").exists(),
        "the check wrote nothing"
    );
}

#[test]
fn online_passes_for_this_machines_postgres_and_redis_and_reads_secret_references() {
    let (Ok(pg), Ok(redis)) = (
        std::env::var("PALISADE_TEST_DATABASE_URL"),
        std::env::var("PALISADE_TEST_REDIS_URL"),
    ) else {
        println!(
            "skipped: PALISADE_TEST_DATABASE_URL and PALISADE_TEST_REDIS_URL are not both set"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let schema = format!("pal_check_{id}");
    let prefix = format!("check{id}");
    let key = master_key();
    let env = [
        ("PALISADE_STORE__URL", pg.as_str()),
        ("PALISADE_STORE__SCHEMA", schema.as_str()),
        ("PALISADE_HOT_STATE__URL", redis.as_str()),
        ("PALISADE_HOT_STATE__PREFIX", prefix.as_str()),
        ("PALISADE_MASTER_KEY", key.as_str()),
    ];
    let _drop = DropSchema(pg.clone(), schema.clone());
    let check = ["config", "check", "--online"];

    // A schema that does not exist yet: reachable, and the check neither creates nor migrates it.
    let out = palisade(dir.path(), &check, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("schema \"{schema}\" does not exist")),
        "{}",
        stderr(&out)
    );
    assert!(!schema_exists(&pg, &schema), "the check created nothing");

    // Once a start (here the CLI) has migrated it and stored a secret, the check passes and
    // reads the secret:// reference.
    let value = dir.path().join("value");
    std::fs::write(&value, "s".repeat(48)).unwrap();
    let put = palisade(
        dir.path(),
        &[
            "secret",
            "put",
            "gateway/signing",
            "--value-file",
            value.to_str().unwrap(),
        ],
        &env,
    );
    assert!(put.status.success(), "{}", stderr(&put));
    let with_ref = [
        env.as_slice(),
        &[("PALISADE_SECRETS__SIGNING_KEY", "secret://gateway/signing")],
    ]
    .concat();
    let out = palisade(dir.path(), &check, &with_ref);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK for dev (online)"));

    // Offline, the reference is left for --online, said so.
    let out = palisade(dir.path(), &["config", "check"], &with_ref);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secrets.signing_key: secret:// references are read from the store"),
        "{}",
        stderr(&out)
    );

    // An absent secret, and a master key that does not unwrap the keyring, are problems.
    let absent = [
        env.as_slice(),
        &[("PALISADE_SECRETS__SIGNING_KEY", "secret://gateway/absent")],
    ]
    .concat();
    let out = palisade(dir.path(), &check, &absent);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("secrets.signing_key: secret://gateway/absent"),
        "{}",
        stderr(&out)
    );
    let other = master_key();
    let wrong: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| {
            (
                *k,
                if *k == "PALISADE_MASTER_KEY" {
                    other.as_str()
                } else {
                    *v
                },
            )
        })
        .collect();
    let out = palisade(dir.path(), &check, &wrong);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("keyring: "), "{}", stderr(&out));
}

fn schema_exists(pg: &str, schema: &str) -> bool {
    let (pg, schema) = (pg.to_string(), schema.to_string());
    block_on(async move {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&pg).await.unwrap();
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
        )
        .bind(schema)
        .fetch_one(&mut c)
        .await
        .unwrap()
    })
}

fn block_on<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}

/// Drops the test's schema when the test ends, passed or not.
struct DropSchema(String, String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (pg, schema) = (self.0.clone(), self.1.clone());
        block_on(async move {
            use sqlx::{Connection, Executor};
            if let Ok(mut c) = sqlx::PgConnection::connect(&pg).await {
                let _ = c
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .await;
            }
        });
    }
}

/// A shared-secret migration window: production names the window and its end; the rules of
/// such an issuer (an end, HS256 only, a long secret, no JWKS) are each refused by name.
#[test]
fn a_migration_window_is_reported_with_its_end_and_its_rules_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    let env = [("PALISADE_MASTER_KEY", key.as_str())];
    std::fs::write(dir.path().join("legacy.secret"), "s".repeat(40) + "\n").unwrap();
    let issuer = |extra: &str| {
        format!(
            "[[auth.trusted_issuers]]\nissuer = \"legacy-app\"\naudiences = [\"legacy-app\"]\n\
             algorithms = [\"HS256\"]\n{extra}\n"
        )
    };
    production_config(
        dir.path(),
        &issuer("shared_secret = \"file:legacy.secret\"\naccept_until = \"2999-01-31\""),
    );
    let out = palisade(dir.path(), CHECK_PRODUCTION, &env);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("auth.trusted_issuers[0] (legacy-app): HS256 tokens signed with a shared secret are accepted until 2999-01-31T00:00:00Z"),
        "{err}"
    );

    for (extra, want) in [
        (
            "shared_secret = \"file:legacy.secret\"",
            "auth.trusted_issuers[0].accept_until is required with a shared_secret",
        ),
        (
            "",
            "HS256 is accepted from another issuer only with shared_secret and accept_until",
        ),
        (
            "shared_secret = \"too short\"\naccept_until = \"2999-01-31\"",
            "auth.trusted_issuers[0].shared_secret must be at least 32 bytes in production",
        ),
        (
            "shared_secret = \"file:legacy.secret\"\naccept_until = \"soon\"",
            "auth.trusted_issuers[0].accept_until: \"soon\" is not an RFC 3339 time",
        ),
        (
            "shared_secret = \"file:legacy.secret\"\naccept_until = \"2999-01-31\"\njwks_file = \"jwks.json\"",
            "a shared_secret issuer takes no jwks_file or jwks_url",
        ),
        (
            "jwks_file = \"jwks.json\"\naccept_until = \"2999-01-31\"",
            "accept_until and match_missing_iss belong to a shared_secret migration window",
        ),
    ] {
        production_config(dir.path(), &issuer(extra));
        let out = palisade(dir.path(), CHECK_PRODUCTION, &env);
        let err = stderr(&out);
        assert!(!out.status.success(), "{extra}: {err}");
        assert!(err.contains(want), "{extra}: want {want:?} in {err}");
    }
}

#[test]
fn a_rule_over_app_events_that_would_act_is_refused_naming_the_rule_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    let env = [("PALISADE_MASTER_KEY", key.as_str())];
    let config = |actions: &str| {
        production_config(
            dir.path(),
            &format!(
                "[retention.audit]\ntool_runs = \"30d\"\n\
                 [[audit.app_events]]\ntype = \"app.tool.executed\"\nrisk = \"medium\"\nretention = \"tool_runs\"\n\
                 [[audit.alerts.rules]]\nname = \"tool_storm\"\nevent_types = [\"app.tool.executed\"]\n\
                 sources = [\"app\"]\ngroup_by = \"actor\"\nseverity = \"high\"\nactions = {actions}\n"
            ),
        )
    };
    config("[\"webhook\", \"block_ip\"]");
    let check = ["config", "check", "--config", "palisade.toml"];
    let out = palisade(dir.path(), &check, &env);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("audit.alerts.rules \"tool_storm\": action block_ip is refused"),
        "{err}"
    );
    config("[\"webhook\"]");
    let out = palisade(dir.path(), &check, &env);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// An attacker must not be able to shut the gateway: a rule that lets anonymous sign-in
/// failures trigger a lockdown is refused, even with `auto_lockdown`; over an authenticated
/// event type it passes.
#[test]
fn a_rule_letting_anonymous_failures_trigger_lockdown_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    let env = [("PALISADE_MASTER_KEY", key.as_str())];
    let config = |event: &str| {
        production_config(
            dir.path(),
            &format!(
                "[audit.alerts]\nauto_lockdown = true\n\
                 [[audit.alerts.rules]]\nname = \"shut\"\nevent_types = [\"{event}\"]\n\
                 group_by = \"client_ip\"\nmin_count = 100\nseverity = \"critical\"\n\
                 actions = [\"lockdown\"]\n"
            ),
        )
    };
    config("auth.login_failure");
    let check = ["config", "check", "--config", "palisade.toml"];
    let out = palisade(dir.path(), &check, &env);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "audit.alerts.rules \"shut\": action lockdown is refused on auth.login_failure"
        ),
        "{err}"
    );
    config("authz.privilege_escalation_attempt");
    let out = palisade(dir.path(), &check, &env);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn plain_smtp_is_refused_off_loopback_and_unknown_smtp_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    let smtp = |body: &str| {
        production_config(dir.path(), &format!("[smtp]\n{body}"));
        palisade(
            dir.path(),
            &[
                "config",
                "check",
                "--config",
                "palisade.toml",
                "--env",
                "dev",
            ],
            &[("PALISADE_MASTER_KEY", key.as_str())],
        )
    };
    let out = smtp(
        "host = \"mail.example.com\"\ntls = \"none\"\nfrom = \"Palisade <no-reply@example.com>\"\n",
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("smtp.tls = \"none\" is allowed only for a loopback host"),
        "{err}"
    );
    let out = smtp(
        "host = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\nfrom = \"Palisade <no-reply@example.com>\"\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = smtp(
        "host = \"mail.example.com\"\nfrom = \"Palisade <no-reply@example.com>\"\nstarttls = true\n",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("starttls"), "{}", stderr(&out));
}

#[test]
fn inspect_and_firewall_settings_the_gates_cannot_apply_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = master_key();
    production_config(
        dir.path(),
        "[inspect]\nparanoia = 5\n[[routes]]\nname = \"api\"\nprefix = \"/api/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\npublic = true\ninspect = { threshold = 0, exclude = [\"sqlx\"], exclude_params = { q = [\"all\", \"xs\"] } }\nfirewall = { deny = [\"10.0.0.0/8\", \"2001:db8::/32\"] }\n",
    );
    let out = palisade(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "palisade.toml",
            "--env",
            "dev",
        ],
        &[("PALISADE_MASTER_KEY", key.as_str())],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    for want in [
        "inspect.paranoia: 1 to 4",
        "route api: inspect.threshold: at least 1",
        "route api: inspect: unknown detector \"sqlx\"",
        "route api: inspect: unknown detector \"xs\"",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // A CIDR that is not one is a parse error naming the key; an unknown key is refused.
    production_config(dir.path(), "[firewall]\ndeny = [\"10.0.0.0/33\"]\n");
    let out = palisade(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "palisade.toml",
            "--env",
            "dev",
        ],
        &[],
    );
    assert!(!out.status.success(), "{}", stderr(&out));
    production_config(dir.path(), "[inspect]\nparanioa = 2\n");
    let out = palisade(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "palisade.toml",
            "--env",
            "dev",
        ],
        &[],
    );
    assert!(
        !out.status.success() && stderr(&out).contains("paranioa"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_github_provider_passes_and_what_github_cannot_give_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("github_secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef01234567").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = master_key();
    let check = |extra: &str| {
        production_config(
            dir.path(),
            &format!(
                "[[auth.providers]]\nid = \"github\"\nkind = \"github\"\nclient_id = \"Iv1.8a61f9b3a7aba766\"\nclient_secret = \"file:{}\"\nredirect_uri = \"https://id.example.com/auth/federated/github/callback\"\n{extra}",
                secret.display()
            ),
        );
        palisade(
            dir.path(),
            &[
                "config",
                "check",
                "--config",
                "palisade.toml",
                "--env",
                "dev",
            ],
            &[("PALISADE_MASTER_KEY", key.as_str())],
        )
    };
    let out = check("");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = check(
        "mfa_claims_trusted = true\nissuer = \"https://idp.example.com\"\n[[auth.providers.claim_rules]]\nclaim = \"org\"\nvalue = \"acme\"\nroles = [\"staff\"]\n",
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    for needle in [
        "auth.providers[0].mfa_claims_trusted",
        "auth.providers[0].issuer must be unset",
        "auth.providers[0].claim_rules[0].claim \"org\"",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let out = check("api_url = \"https://api.github.com\"\n");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("api_url"), "{}", stderr(&out));
}
