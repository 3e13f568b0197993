//! The `palisade` binary as a user runs it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn palisade(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    // The test must not pick up the developer's environment.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    palisade(dir, args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn init_writes_a_private_config_with_fresh_secrets_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["init", "--dir", "conf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.path().join("conf/palisade.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("@SIGNING_KEY@"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = run(dir.path(), &["init", "--dir", "conf"]);
    assert!(!again.status.success(), "init must not overwrite secrets");
    assert!(stderr(&again).contains("already exists"));

    let other = tempfile::tempdir().unwrap();
    run(other.path(), &["init"]);
    assert_ne!(
        text,
        std::fs::read_to_string(other.path().join("palisade.toml")).unwrap(),
        "secrets are fresh each time"
    );
}

#[test]
fn production_check_names_each_problem_of_a_dev_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dev.toml"),
        "[secrets]\nsigning_key = \"dev-signing\"\ncookie_key = \"change-me-change-me-change-me-change-me\"\n[log]\nlevel = \"debug\"\n[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "dev.toml",
            "--env",
            "production",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    for needle in [
        "secrets.signing_key is 11 bytes",
        "secrets.cookie_key contains the placeholder word \"change-me\"",
        "plaintext",
        "log.level",
        "allow_credentials",
        "no master key",
    ] {
        assert!(err.contains(needle), "{needle} not named:\n{err}");
    }
    assert!(err.contains("6 problem(s)"), "{err}");

    let out = run(dir.path(), &["config", "check", "--env", "production"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("secrets.signing_key is missing")
            && err.contains("secrets.cookie_key is missing"),
        "{err}"
    );
}

#[test]
fn production_check_passes_a_proper_production_config() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["init"]).status.success());
    let path = dir.path().join("palisade.toml");
    let out = run(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "palisade.toml",
            "--env",
            "production",
        ],
    );
    assert!(
        !out.status.success(),
        "the generated config listens in plaintext"
    );
    assert!(stderr(&out).contains("plaintext"), "{}", stderr(&out));

    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("behind_tls_proxy = false", "behind_tls_proxy = true");
    std::fs::write(&path, text).unwrap();
    let check = [
        "config",
        "check",
        "--config",
        "palisade.toml",
        "--env",
        "production",
    ];
    let out = run(dir.path(), &check);
    assert!(!out.status.success(), "production needs a master key");
    assert!(
        stderr(&out).contains("PALISADE_MASTER_KEY"),
        "{}",
        stderr(&out)
    );
    let master = palisade_core::crypto::MasterKey::generate()
        .export_base64()
        .to_string();
    let out = palisade(dir.path(), &check)
        .env("PALISADE_MASTER_KEY", &master)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK for production"));

    let out = palisade(dir.path(), &["config", "check", "--env", "production"])
        .env("PALISADE_CONFIG", &path)
        .env("PALISADE_MASTER_KEY", &master)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PALISADE_CONFIG names the file: {}",
        stderr(&out)
    );
}

#[test]
fn serve_in_production_refuses_and_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["serve", "--env", "production", "--listen", "127.0.0.1:0"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("refusing to start")
            && err.contains("signing_key")
            && err.contains("cookie_key")
            && err.contains("plaintext"),
        "{err}"
    );
}

#[test]
fn unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[server]\nlisten_adress = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check", "--config", "p.toml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("listen_adress"), "{}", stderr(&out));
}

#[test]
fn config_check_warns_about_routes_partly_under_builtin_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let write = |extra: &str| {
        std::fs::write(
            dir.path().join("p.toml"),
            format!(
                "{extra}[[routes]]\nprefix = \"/admin/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"none\"\npublic = true\n"
            ),
        )
        .unwrap();
    };
    write("");
    let out = run(dir.path(), &["config", "check", "--config", "p.toml"]);
    assert!(
        out.status.success(),
        "a warning, not a problem: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("warning: routes[0] (/admin/): prefix \"/admin/\" overlaps Palisade's own endpoints (e.g. /admin/users)")
            && err.contains("set api.mount"),
        "{err}"
    );
    // With a mount the route is the upstream's alone: no warning.
    write("[api]\nmount = \"/.palisade\"\n");
    let out = run(dir.path(), &["config", "check", "--config", "p.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("overlaps"), "{}", stderr(&out));
    // A route every path of which is built in is still a problem.
    std::fs::write(
        dir.path().join("p.toml"),
        "[[routes]]\nprefix = \"/auth/login\"\nupstream = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check", "--config", "p.toml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("never reach this route"),
        "{}",
        stderr(&out)
    );
}

struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut cmd = palisade(dir, args);
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("palisade printed its address").unwrap();
            if let Some(rest) = line.strip_prefix("Palisade is listening on ") {
                break rest.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Served { child, base }
    }

    /// SIGTERM, then everything it wrote to stderr.
    fn stop(mut self) -> (bool, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = self.child.wait().unwrap();
        (status.success(), err)
    }
}

#[tokio::test]
async fn logs_never_carry_passwords_tokens_keys_or_emails() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        "hunter2-correct-horse",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz",
        "pk_live_51HxAbCdEf",
        "alice.smith@example.com",
        "sid=s3ss10n",
    ];
    for format in ["text", "json"] {
        let served = Served::start(
            dir.path(),
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
            &[
                ("PALISADE_LOG__LEVEL", "debug"),
                ("PALISADE_LOG__FORMAT", format),
            ],
        );
        let res = reqwest::Client::new()
            .post(format!(
                "{}/demo/login?email={}&password={}",
                served.base, secrets[3], secrets[0]
            ))
            .header("authorization", format!("Bearer {}", secrets[1]))
            .header("x-api-key", secrets[2])
            .header("cookie", secrets[4])
            .header("x-request-id", "redaction-test-1")
            .json(&serde_json::json!({"email": secrets[3], "password": secrets[0]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "the made-up API key is refused");
        let (ok, logs) = served.stop();
        assert!(ok, "graceful exit on SIGTERM:\n{logs}");
        assert!(
            logs.contains("redaction-test-1"),
            "the request was logged ({format}):\n{logs}"
        );
        assert!(logs.contains("[REDACTED]"), "{logs}");
        for secret in secrets {
            assert!(
                !logs.contains(secret),
                "{secret} leaked into {format} logs:\n{logs}"
            );
        }
    }
}

/// Access-log lines wait in each worker's buffer (written every 100 ms); SIGTERM writes what is
/// left before `serve` exits, so every answered request has its line.
#[tokio::test]
async fn every_answered_request_has_its_access_log_line_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
        &[
            ("PALISADE_LOG__ACCESS", "true"),
            ("PALISADE_LOG__FORMAT", "text"),
        ],
    );
    let client = reqwest::Client::new();
    const N: usize = 300;
    for i in 0..N {
        let res = client
            .get(format!("{}/healthz", served.base))
            .header("x-request-id", format!("access-line-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let (ok, logs) = served.stop();
    assert!(ok, "graceful exit on SIGTERM:\n{logs}");
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("palisade::access"))
        .collect();
    for i in 0..N {
        let id = format!("request_id=access-line-{i} ");
        assert_eq!(
            lines.iter().filter(|l| l.contains(&id)).count(),
            1,
            "the line of request {i}:\n{logs}"
        );
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `palisade key create ARGS…`: the key it prints once.
fn new_api_key(dir: &Path, args: &[&str]) -> String {
    let created = ok(dir, &[&["key", "create"], args].concat());
    created
        .lines()
        .find_map(|l| l.strip_prefix("key (shown once): "))
        .unwrap_or_else(|| panic!("a key in {created}"))
        .to_string()
}

#[tokio::test]
async fn user_key_and_signing_commands_work_on_the_store_the_server_uses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = ["--data-dir", "data"];
    let with =
        |args: &[&'static str]| -> Vec<&'static str> { args.iter().copied().chain(data).collect() };

    // user add reads the password from stdin and applies the policy.
    let add = |email: &'static str, password: &[u8]| {
        let args = with(&[
            "user",
            "add",
            "--email",
            email,
            "--role",
            "admin",
            "--password-stdin",
        ]);
        let mut child = palisade(d, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(password).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add("Root@Example.com", b"correct horse battery staple 42\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("root@example.com"));
    let out = add("weak@example.com", b"password123\n");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("policy"), "{}", stderr(&out));

    let generated = ok(d, &with(&["user", "add", "--email", "gen@example.com"]));
    assert!(generated.contains("password (shown once): "), "{generated}");

    // Import a bcrypt hash from another stack.
    let legacy = bcrypt::hash("an imported passphrase 77", 4).unwrap();
    std::fs::write(
        d.join("users.csv"),
        format!("email,password_hash,roles\nlegacy@example.com,{legacy},member;viewer\nbad-line\n"),
    )
    .unwrap();
    // The older CSV keeps working: a refused row is reported and makes the command fail.
    let imported = run(d, &with(&["user", "import", "--csv", "users.csv"]));
    assert!(!imported.status.success(), "a refused row fails the import");
    assert!(
        stdout(&imported).contains("imported 1, updated 0, skipped 0 (already present), refused 1"),
        "{}",
        stdout(&imported)
    );
    assert!(
        stderr(&imported).contains("row 3: password_hash: missing"),
        "{}",
        stderr(&imported)
    );
    let again = run(d, &with(&["user", "import", "users.csv"]));
    assert!(
        stdout(&again).contains("imported 0, updated 0, skipped 1 (already present), refused 1"),
        "a re-run skips what it imported: {}",
        stdout(&again)
    );
    let recorded = ok(d, &with(&["audit", "query", "--type", "user.imported"]));
    assert_eq!(
        recorded.matches(r#""actor":"cli""#).count(),
        1,
        "one import, on the record: {recorded}"
    );

    // JSON lines: a dry run writes nothing; the run imports; a re-run skips; hashes never shown.
    let md5 = "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/";
    std::fs::write(
        d.join("users.jsonl"),
        format!(
            "{}\n{}\n{}\n",
            serde_json::json!({"external_id": "1001", "email": "ada@example.com", "name": "Ada",
                   "roles": ["member"], "tenants": [{"tenant": "graph-1", "role": "member"}],
                   "tier": "pro", "password_hash": legacy}),
            serde_json::json!({"external_id": "1002", "email": "bob@example.com", "password_hash": md5}),
            serde_json::json!({"external_id": "1003", "email": "cy@example.com", "admin": true}),
        ),
    )
    .unwrap();
    let dry = run(d, &with(&["user", "import", "users.jsonl", "--dry-run"]));
    let dry_err = stderr(&dry);
    assert!(
        stdout(&dry).contains("imported 1, updated 0, skipped 0 (already present), refused 2"),
        "{}",
        stdout(&dry)
    );
    assert!(
        dry_err.contains("row 2: password_hash: unsupported format 'md5-crypt ($1$)'"),
        "{dry_err}"
    );
    assert!(dry_err.contains("row 3: admin: unknown field"), "{dry_err}");
    assert!(
        !dry_err.contains("qjXMvbEw8oaL") && !dry_err.contains(&legacy),
        "{dry_err}"
    );
    assert!(
        !ok(d, &with(&["user", "list"])).contains("ada@example.com"),
        "dry run wrote"
    );
    let real = run(
        d,
        &with(&["user", "import", "users.jsonl", "--format", "jsonl"]),
    );
    assert!(!real.status.success());
    assert!(
        stdout(&real).contains("imported 1, updated 0, skipped 0 (already present), refused 2")
    );
    let rerun = run(d, &with(&["user", "import", "users.jsonl"]));
    assert!(
        stdout(&rerun).contains("imported 0, updated 0, skipped 1 (already present), refused 2"),
        "{}",
        stdout(&rerun)
    );
    assert!(ok(d, &with(&["tenant", "list"])).contains("graph-1"));
    let refusals = ok(
        d,
        &with(&["audit", "query", "--type", "user.import_refused"]),
    );
    assert_eq!(
        refusals.lines().count(),
        6,
        "each refusal of each run (not the dry run) on record: {refusals}"
    );

    let listed = ok(d, &with(&["user", "list"]));
    for email in ["root@example.com", "gen@example.com", "legacy@example.com"] {
        assert!(listed.contains(email), "{listed}");
    }
    ok(
        d,
        &with(&[
            "user",
            "set-role",
            "--email",
            "gen@example.com",
            "--role",
            "viewer",
        ]),
    );
    let typo = run(
        d,
        &with(&[
            "user",
            "set-role",
            "--email",
            "gen@example.com",
            "--role",
            "veiwer",
        ]),
    );
    assert!(
        !typo.status.success() && String::from_utf8_lossy(&typo.stderr).contains("no such role"),
        "a role the configuration lacks is refused: {typo:?}"
    );
    ok(d, &with(&["user", "disable", "--email", "gen@example.com"]));
    let listed = ok(d, &with(&["user", "list"]));
    let gen_line = listed
        .lines()
        .find(|l| l.contains("gen@example.com"))
        .unwrap();
    assert!(
        gen_line.contains("viewer") && gen_line.contains("disabled"),
        "{gen_line}"
    );

    let api_key = new_api_key(d, &with(&["--email", "root@example.com", "--name", "ci"]));
    assert!(api_key.starts_with("pal_") && api_key.len() == 68);
    let refused = run(
        d,
        &with(&[
            "key",
            "create",
            "--email",
            "legacy@example.com",
            "--name",
            "x",
            "--role",
            "admin",
        ]),
    );
    assert!(
        !refused.status.success(),
        "a key cannot hold a role its owner lacks"
    );
    assert!(ok(d, &with(&["key", "list"])).contains("ci"));

    let rotated = ok(d, &with(&["keys", "rotate-signing"]));
    assert!(rotated.contains("new signing key"), "{rotated}");

    // The server on the same data dir sees all of it.
    let served = Served::start(
        d,
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
        &[],
    );
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/auth/login", served.base))
        .json(&serde_json::json!({"email": "legacy@example.com", "password": "an imported passphrase 77"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the imported bcrypt account signs in");
    let res = http
        .get(format!("{}/auth/me", served.base))
        .header("x-api-key", &api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the CLI-made key works");
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["admin"]));
    let jwks: serde_json::Value = http
        .get(format!("{}/.well-known/jwks.json", served.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "rotated key and its predecessor"
    );
    let (clean, _) = served.stop();
    assert!(clean);
}

#[test]
fn policy_check_explains_a_decision_and_exits_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("p.toml"),
        "[server]\ndata_dir = \"data\"\n[[routes]]\nname = \"docs\"\nprefix = \"/docs/\"\nupstream = \"http://127.0.0.1:9\"\nresource = \"docs\"\n",
    )
    .unwrap();
    let cfg = ["--config", "p.toml"];
    let with =
        |args: &[&'static str]| -> Vec<&'static str> { args.iter().copied().chain(cfg).collect() };
    ok(
        d,
        &with(&[
            "user",
            "add",
            "--email",
            "vi@example.com",
            "--role",
            "viewer",
        ]),
    );
    let read = run(
        d,
        &with(&[
            "policy",
            "check",
            "--as",
            "vi@example.com",
            "--method",
            "GET",
            "--path",
            "/docs/1",
        ]),
    );
    assert!(read.status.success(), "{}", stderr(&read));
    assert!(
        stdout(&read)
            .contains("allow (rule docs): docs.read granted by role viewer (grant *.read)"),
        "{}",
        stdout(&read)
    );
    let write = run(
        d,
        &with(&[
            "policy",
            "check",
            "--as",
            "vi@example.com",
            "--method",
            "POST",
            "--path",
            "/docs/1",
        ]),
    );
    assert!(!write.status.success());
    assert!(
        stdout(&write).contains("deny (rule docs): docs.write is not granted"),
        "{}",
        stdout(&write)
    );
}

#[test]
fn a_service_account_acts_through_scoped_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("p.toml"),
        "[server]\ndata_dir = \"data\"\n[[routes]]\nname = \"docs\"\nprefix = \"/docs/\"\nupstream = \"http://127.0.0.1:9\"\nresource = \"docs\"\n",
    )
    .unwrap();
    let cfg = ["--config", "p.toml"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(cfg.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let ok_with = |args: &[&str]| {
        let args = with(args);
        ok(d, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let created = ok_with(&[
        "user",
        "add-service",
        "--name",
        "ci-bot",
        "--role",
        "member",
    ]);
    assert!(created.contains("svc:ci-bot"), "{created}");
    assert!(ok_with(&["user", "list"]).contains("service"));
    let key = ok_with(&[
        "key",
        "create",
        "--email",
        "svc:ci-bot",
        "--name",
        "reader",
        "--scope",
        "docs.read",
    ]);
    let key_id = key
        .split_whitespace()
        .nth(2)
        .expect("created key ID (prefix) for …")
        .to_string();
    let check = |method: &str| {
        let args = with(&[
            "policy", "check", "--as", &key_id, "--method", method, "--path", "/docs/1",
        ]);
        run(d, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert!(check("GET").status.success());
    let write = check("POST");
    assert!(
        !write.status.success(),
        "the member role could, the key's scope does not"
    );
    assert!(
        stdout(&write).contains("outside the key's scopes"),
        "{}",
        stdout(&write)
    );
    let bad = run(
        d,
        &with(&[
            "key",
            "create",
            "--email",
            "svc:ci-bot",
            "--name",
            "x",
            "--scope",
            "Docs",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(!bad.status.success());
}

#[tokio::test]
async fn the_audit_trail_the_server_writes_verifies_against_a_pinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let served = Served::start(
        d,
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
        &[],
    );
    let http = reqwest::Client::new();
    let mut failed_logins = 0;
    for _ in 0..3 {
        let res = http
            .post(format!("{}/auth/login", served.base))
            .json(&serde_json::json!({"email": "nobody@example.com", "password": "not the password 1"}))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(res.status().as_u16(), 401 | 429),
            "{}",
            res.status()
        );
        failed_logins += usize::from(res.status() == 401);
    }
    let (ok_exit, logs) = served.stop();
    assert!(ok_exit, "{logs}");

    let data = ["--data-dir", "data"];
    let verified = ok(d, &["audit", "verify", data[0], data[1]]);
    let last: u64 = verified
        .split("..")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("OK with a range: {verified}"));
    assert!(
        verified.starts_with(&format!(
            "OK: {last} records (sequence 1..{last}), 1 signed checkpoints"
        )),
        "{verified}"
    );
    let key = ok(d, &["audit", "key", data[0], data[1]]);
    std::fs::write(d.join("audit.pub"), &key).unwrap();
    let pinned = ok(
        d,
        &[
            "audit",
            "verify",
            "--public-key",
            "audit.pub",
            data[0],
            data[1],
        ],
    );
    assert_eq!(pinned, verified);
    // `audit purge` is an alias of `retention run`: every type, the trail included.
    let dry = ok(d, &["retention", "run", "--dry-run", data[0], data[1]]);
    for line in [
        "sessions             0 would go",
        "audit                0 would go",
        "dry run: nothing was changed",
    ] {
        assert!(dry.contains(line), "{line} missing from {dry}");
    }
    assert_eq!(
        ok(d, &["audit", "purge", "--dry-run", data[0], data[1]]),
        dry
    );
    let purge = ok(d, &["audit", "purge", data[0], data[1]]);
    assert!(
        purge.contains("audit                0 purged in 0 batches"),
        "{purge}"
    );
    assert!(ok(d, &["audit", "verify", data[0], data[1]]).starts_with("OK: "));

    // Query and export read the same trail; the export is itself recorded and still verifies.
    let failures = ok(
        d,
        &[
            "audit",
            "query",
            "--type",
            "auth.login_failure",
            data[0],
            data[1],
        ],
    );
    let lines: Vec<serde_json::Value> = failures
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), failed_logins, "{failures}");
    assert!(
        lines
            .iter()
            .all(|e| e["event_type"] == "auth.login_failure")
    );
    let page = run(d, &["audit", "query", "--limit", "1", data[0], data[1]]);
    assert_eq!(stdout(&page).lines().count(), 1);
    assert!(stderr(&page).contains("--after 1"), "{}", stderr(&page));
    let next = run(d, &["audit", "query", "--after", "1", data[0], data[1]]);
    assert!(!stdout(&next).contains("\"seq\":1,"), "{}", stdout(&next));
    let bad = run(d, &["audit", "query", "--risk", "SEVERE", data[0], data[1]]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("risk is LOW"), "{}", stderr(&bad));
    // Palisade's own events are source "palisade"; no application posted any here.
    let own = ok(
        d,
        &["audit", "query", "--source", "palisade", data[0], data[1]],
    );
    assert!(own.lines().count() > 1, "{own}");
    assert!(
        own.lines().all(|l| l.contains("\"source\":\"palisade\"")),
        "{own}"
    );
    assert_eq!(
        ok(d, &["audit", "query", "--source", "app", data[0], data[1]]),
        ""
    );
    let bad = run(
        d,
        &["audit", "query", "--source", "elsewhere", data[0], data[1]],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("source is palisade or app"),
        "{}",
        stderr(&bad)
    );
    ok(
        d,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--risk",
            "MEDIUM",
            "--output",
            "trail.csv",
            data[0],
            data[1],
        ],
    );
    let csv = std::fs::read_to_string(d.join("trail.csv")).unwrap();
    assert!(csv.starts_with("seq,id,ts_ms,event_type"), "{csv}");
    assert_eq!(
        csv.matches("auth.login_failure").count(),
        failed_logins,
        "{csv}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("trail.csv"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let exported = ok(
        d,
        &[
            "audit",
            "query",
            "--type",
            "data.exported",
            data[0],
            data[1],
        ],
    );
    assert!(exported.contains("\"via\":\"cli\""), "{exported}");
    assert!(ok(d, &["audit", "verify", data[0], data[1]]).starts_with("OK: "));

    // A key that did not sign the checkpoints vouches for nothing.
    let (other, _) = palisade_core::audit::CheckpointSigner::generate("x").unwrap();
    let hex: String = other
        .public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(d.join("other.pub"), hex).unwrap();
    let wrong = run(
        d,
        &[
            "audit",
            "verify",
            "--public-key",
            "other.pub",
            data[0],
            data[1],
        ],
    );
    assert!(!wrong.status.success());
    assert!(
        stdout(&wrong).contains(&format!("BROKEN at sequence {last}")),
        "{}",
        stdout(&wrong)
    );
}

#[tokio::test]
async fn after_kill_9_under_load_every_answered_event_is_in_a_trail_that_verifies() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut served = Served::start(
        d,
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
        &[
            // Every attempt must be a real failed login, not a rate-limit, brute-force or
            // alert-rule (block_ip) refusal.
            ("PALISADE_RATE_LIMIT__ENABLED", "false"),
            ("PALISADE_AUTH__BRUTE_FORCE__ENABLED", "false"),
            ("PALISADE_AUDIT__ALERTS__ENABLED", "false"),
        ],
    );
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|t| {
            let (base, answered, stop) = (served.base.clone(), answered.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let res = http
                        .post(format!("{base}/auth/login"))
                        .json(&serde_json::json!({
                            "email": format!("load{t}-{i}@example.com"),
                            "password": "not the password 1"
                        }))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 401 => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while answered.load(Ordering::SeqCst) < 40 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the gateway answers under load");
    served.child.kill().unwrap(); // SIGKILL: no shutdown, no final checkpoint
    served.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    let acknowledged = answered.load(Ordering::SeqCst) as u64;

    let out = ok(d, &["audit", "verify", "--data-dir", "data"]);
    let stored: u64 = out
        .strip_prefix("OK: ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("verifies: {out}"));
    assert!(
        stored >= acknowledged,
        "{acknowledged} failed logins were answered but only {stored} events are stored"
    );
}

/// The audit record count in an `audit verify` / `backup verify` line ("… N records …").
fn audit_records(line: &str) -> u64 {
    let before = line
        .split(" records")
        .next()
        .unwrap_or_else(|| panic!("a record count in {line}"));
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a record count in {line}"))
}

#[tokio::test]
async fn backup_wipe_restore_gives_back_users_keys_and_the_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = palisade_core::crypto::MasterKey::generate()
        .export_base64()
        .to_string();
    let with_key = |args: &[&str], key: &str| -> Output {
        palisade(d, args)
            .env("PALISADE_MASTER_KEY", key)
            .output()
            .unwrap()
    };
    let data = ["--data-dir", "data"];
    let with = |args: &[&'static str]| -> Vec<&'static str> { [args, &data].concat() };
    // The CLI steps below find this key as the data dir's dev master key; the server and the
    // backup commands get it through PALISADE_MASTER_KEY: one master key wraps every stored key.
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(d.join("data"))
            .unwrap();
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(d.join("data/master.key"))
            .unwrap()
            .write_all(master.as_bytes())
            .unwrap();
    }
    let passwords = [
        ("ann@example.com", "correct horse battery staple 42"),
        ("carol@example.com", "violet lanterns drift over harbor 7"),
    ];
    for (email, password) in passwords {
        let mut child = palisade(
            d,
            &with(&["user", "add", "--email", email, "--password-stdin"]),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let api_key = new_api_key(d, &with(&["--email", "ann@example.com", "--name", "ci"]));
    let serve = with(&["serve", "--listen", "127.0.0.1:0"]);
    let served = Served::start(d, &serve, &[("PALISADE_MASTER_KEY", &master)]);
    let http = reqwest::Client::new();
    let login = |base: String, email: &'static str, password: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("{base}/auth/login"))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for (email, password) in passwords {
        assert_eq!(login(served.base.clone(), email, password).await, 200);
    }
    assert_eq!(
        login(
            served.base.clone(),
            "ann@example.com",
            "not her password 123"
        )
        .await,
        401
    );
    let me = |base: String| {
        let http = http.clone();
        let api_key = api_key.clone();
        async move {
            http.get(format!("{base}/auth/me"))
                .header("x-api-key", api_key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(served.base.clone()).await, 200);

    // Backed up while the gateway runs and writes audit events.
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let traffic = tokio::spawn({
        let (busy, url, http) = (
            busy.clone(),
            format!("{}/auth/login", served.base),
            http.clone(),
        );
        async move {
            // Bounded: the server's stderr is a pipe read only at stop, and every refused
            // login writes a log line to it.
            let mut sent = 0u32;
            while sent < 40 && busy.load(std::sync::atomic::Ordering::Relaxed) {
                let body = serde_json::json!({"email": "nobody@example.com", "password": "wrong password 123"});
                http.post(&url).json(&body).send().await.unwrap();
                sent += 1;
            }
            sent
        }
    });
    let out = tokio::task::spawn_blocking({
        let (d, master) = (d.to_path_buf(), master.clone());
        move || {
            palisade(&d, &["backup", "create", "b.pal", "--data-dir", "data"])
                .env("PALISADE_MASTER_KEY", master)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = traffic.await.unwrap();
    assert!(sent > 0);
    assert!(out.status.success(), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("b.pal"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = with_key(&with(&["backup", "create", "b.pal"]), &master);
    assert!(!again.status.success() && stderr(&again).contains("never overwrites"));
    let (clean, logs) = served.stop();
    assert!(clean, "{logs}");

    let verified = with_key(&["backup", "verify", "b.pal"], &master);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let report = stdout(&verified);
    let ok_line = report.lines().find(|l| l.starts_with("OK: ")).unwrap();
    assert!(
        ok_line.contains("2 users, 1 API keys") && ok_line.contains("audit chain OK"),
        "{report}"
    );
    let records = audit_records(ok_line);
    assert!(records >= 3, "logins were audited: {report}");

    let recorded = ok(d, &with(&["audit", "query", "--type", "data.exported"]));
    assert!(
        recorded.contains(r#""resource_id":"backup""#) && recorded.contains("master_key_id"),
        "the backup is on the record: {recorded}"
    );
    let users_before = ok(d, &with(&["user", "list"]));
    let keys_before = ok(d, &with(&["key", "list"]));
    let refused = with_key(&with(&["backup", "restore", "b.pal"]), &master);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not empty"),
        "{}",
        stderr(&refused)
    );

    // Wipe, restore, and the gateway starts on it with everything there. The restored data
    // dir has no dev master key (backups never hold it): every step gets it from the
    // environment.
    let ok_key = |args: &[&str]| -> String {
        let out = with_key(args, &master);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    std::fs::remove_dir_all(d.join("data")).unwrap();
    let restored = with_key(&with(&["backup", "restore", "b.pal"]), &master);
    assert!(restored.status.success(), "{}", stderr(&restored));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("data"), 0o700);
        assert_eq!(mode("data/palisade.db"), 0o600);
        assert_eq!(mode("data/secrets.toml"), 0o600);
    }
    let audit = ok_key(&with(&["audit", "verify"]));
    assert!(audit.starts_with("OK: "), "{audit}");
    assert_eq!(audit_records(&audit), records, "{audit}");
    let served = Served::start(d, &serve, &[("PALISADE_MASTER_KEY", &master)]);
    for (email, password) in passwords {
        assert_eq!(login(served.base.clone(), email, password).await, 200);
    }
    assert_eq!(
        me(served.base.clone()).await,
        200,
        "the API key still works"
    );
    let (clean, logs) = served.stop();
    assert!(clean, "{logs}");
    // The accounts are the same; their last sign-in is the one just made.
    let accounts = |list: &str| -> Vec<String> {
        let strip = |l: &str| l.split(" last sign-in ").next().unwrap_or(l).to_string();
        list.lines().map(strip).collect()
    };
    let users_after = ok_key(&with(&["user", "list"]));
    assert_eq!(accounts(&users_after), accounts(&users_before));
    assert_ne!(users_after, users_before, "the sign-ins above are recorded");
    assert_eq!(ok_key(&with(&["key", "list"])), keys_before);
    let audit = ok_key(&with(&["audit", "verify"]));
    assert!(
        audit.starts_with("OK: ") && audit_records(&audit) > records,
        "{audit}"
    );

    // Every kind of damage is refused with a reason, never a panic.
    let original = std::fs::read(d.join("b.pal")).unwrap();
    let header = 70 + "palisade.backup.v1".len();
    let record = 64 * 1024 + 16;
    assert!(original.len() > header + 2 * record, "several chunks");
    let mut damaged: Vec<(String, Vec<u8>, &str)> = Vec::new();
    for at in [
        header,
        header + record - 1,
        header + record + 5_000,
        original.len() / 2,
        original.len() - 1,
    ] {
        let mut b = original.clone();
        b[at] ^= 0x01;
        damaged.push((format!("body byte {at}"), b, "failed authentication"));
    }
    for at in [9, 12, 20, 40, 65, header - 1] {
        let mut b = original.clone();
        b[at] ^= 0x01;
        damaged.push((format!("header byte {at}"), b, ""));
    }
    for cut in [
        header + record,
        header + 2 * record,
        original.len() - 1,
        header + 10,
        header,
        5,
    ] {
        damaged.push((
            format!("cut at {cut}"),
            original[..cut].to_vec(),
            if cut % record == header % record && cut > header {
                "truncated"
            } else {
                ""
            },
        ));
    }
    for (what, bytes, needle) in damaged {
        std::fs::write(d.join("bad.pal"), &bytes).unwrap();
        let out = with_key(&["backup", "verify", "bad.pal"], &master);
        let err = stderr(&out);
        assert!(!out.status.success(), "{what} went unnoticed");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        let target = format!("fresh-{}", what.replace(' ', "-"));
        let out = with_key(
            &["backup", "restore", "bad.pal", "--data-dir", &target],
            &master,
        );
        assert!(!out.status.success(), "{what} restored");
        assert!(!d.join(&target).exists(), "{what}: nothing is left behind");
    }
    let other = palisade_core::crypto::MasterKey::generate()
        .export_base64()
        .to_string();
    let out = with_key(&["backup", "verify", "b.pal"], &other);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("wrong master key"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_registered_address_is_nowhere_in_the_database_file_yet_login_and_listing_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let email = "zelda.qx81@example.com";
    let password = "quiet meadows hum at dusk 93";
    let served = Served::start(
        d,
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
        &[],
    );
    let http = reqwest::Client::new();
    let body = serde_json::json!({"email": email, "password": password});
    let registered = http
        .post(format!("{}/auth/register", served.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let login = http
        .post(format!("{}/auth/login", served.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "login by e-mail works");
    let (clean, logs) = served.stop();
    assert!(clean, "{logs}");

    // Every file of the data dir (database, WAL, shared memory, keys), byte for byte.
    let mut files = 0;
    for entry in std::fs::read_dir(d.join("data")).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for needle in [email, "zelda.qx81"] {
            assert!(
                !bytes
                    .windows(needle.len())
                    .any(|w| w.eq_ignore_ascii_case(needle.as_bytes())),
                "{needle} is in {}",
                path.display()
            );
        }
    }
    assert!(files >= 2, "the database and the dev master key are there");
    // The row is there, sealed: read with plain SQL, no store code.
    let db = sealed_user_columns(&d.join("data/palisade.db")).await;
    assert!(
        db.iter()
            .any(|(e, i, c)| e.is_none() && i.len() == 43 && c.starts_with("pal1."))
    );

    let listed = ok(d, &["user", "list", "--data-dir", "data"]);
    assert!(listed.contains(email), "{listed}");
}

/// `(email, email_index, email_enc)` of every `users` row, read with plain SQL.
async fn sealed_user_columns(path: &Path) -> Vec<(Option<String>, String, String)> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("SELECT email, email_index, email_enc FROM users")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The CLI's user, key and tenant commands go through the same use cases as the HTTP API: each
/// leaves its audit event in the trail (actor `cli`), readable with `audit query`, and the
/// trail verifies.
#[test]
fn cli_user_key_and_tenant_commands_leave_their_audit_events_in_a_trail_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = ["--data-dir", "data"];
    ok(
        d,
        &[
            "user",
            "add-service",
            "--name",
            "ci-bot",
            "--role",
            "member",
            data[0],
            data[1],
        ],
    );
    let created = ok(
        d,
        &[
            "key",
            "create",
            "--email",
            "svc:ci-bot",
            "--name",
            "deploy",
            data[0],
            data[1],
        ],
    );
    let key_id = created
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("a key id in {created}"))
        .to_string();
    ok(d, &["key", "revoke", &key_id, data[0], data[1]]);
    let added = run(
        d,
        &[
            "user",
            "add",
            "--email",
            "Ann@Example.com",
            "--role",
            "member",
            data[0],
            data[1],
        ],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let user = ok(
        d,
        &["audit", "query", "--type", "user.created", data[0], data[1]],
    );
    assert!(user.contains(r#""actor":"cli""#), "{user}");
    let again = run(
        d,
        &[
            "user",
            "add",
            "--email",
            "ann@example.com",
            "--role",
            "member",
            data[0],
            data[1],
        ],
    );
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    ok(
        d,
        &[
            "user",
            "set-role",
            "--email",
            "ann@example.com",
            "--role",
            "admin",
            data[0],
            data[1],
        ],
    );
    ok(
        d,
        &[
            "user",
            "disable",
            "--email",
            "ann@example.com",
            data[0],
            data[1],
        ],
    );
    ok(
        d,
        &[
            "user",
            "enable",
            "--email",
            "ann@example.com",
            data[0],
            data[1],
        ],
    );
    ok(
        d,
        &[
            "user",
            "set-tier",
            "--email",
            "ann@example.com",
            "--tier",
            "pro",
            data[0],
            data[1],
        ],
    );
    let tier = ok(
        d,
        &[
            "audit",
            "query",
            "--type",
            "user.tier_changed",
            data[0],
            data[1],
        ],
    );
    assert!(tier.contains(r#""tier":"pro""#), "{tier}");
    for event in ["user.disabled", "user.enabled"] {
        let found = ok(d, &["audit", "query", "--type", event, data[0], data[1]]);
        assert!(found.contains(r#""actor":"cli""#), "{event}: {found}");
    }
    let roles = ok(
        d,
        &[
            "audit",
            "query",
            "--type",
            "user.roles_changed",
            data[0],
            data[1],
        ],
    );
    assert!(
        roles.contains(r#""actor":"cli""#) && roles.contains(r#""roles":["admin"]"#),
        "{roles}"
    );
    ok(
        d,
        &[
            "tenant", "add", "--id", "acme", "--name", "Acme", data[0], data[1],
        ],
    );
    let tenant = ok(
        d,
        &[
            "audit",
            "query",
            "--type",
            "tenant.created",
            data[0],
            data[1],
        ],
    );
    assert!(
        tenant.contains(r#""actor":"cli""#) && tenant.contains(r#""resource_id":"acme""#),
        "{tenant}"
    );
    let taken = run(
        d,
        &[
            "tenant", "add", "--id", "acme", "--name", "Again", data[0], data[1],
        ],
    );
    ok(
        d,
        &[
            "tenant",
            "set-member",
            "--id",
            "acme",
            "--email",
            "ann@example.com",
            "--role",
            "admin",
            data[0],
            data[1],
        ],
    );
    ok(
        d,
        &[
            "tenant",
            "remove-member",
            "--id",
            "acme",
            "--email",
            "ann@example.com",
            data[0],
            data[1],
        ],
    );
    ok(d, &["tenant", "delete", "acme", data[0], data[1]]);
    for event in [
        "tenant.member_set",
        "tenant.member_removed",
        "tenant.deleted",
    ] {
        let found = ok(d, &["audit", "query", "--type", event, data[0], data[1]]);
        assert!(
            found.contains(r#""actor":"cli""#) && found.contains(r#""tenant":"acme""#),
            "{event}: {found}"
        );
    }
    assert!(stderr(&taken).contains("taken"), "{}", stderr(&taken));
    let service = ok(
        d,
        &[
            "audit",
            "query",
            "--type",
            "service_account.created",
            data[0],
            data[1],
        ],
    );
    assert!(service.contains(r#""actor":"cli""#), "{service}");
    for event in ["apikey.created", "apikey.revoked"] {
        let found = ok(d, &["audit", "query", "--type", event, data[0], data[1]]);
        let records: Vec<serde_json::Value> = found
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(records.len(), 1, "{event}: {found}");
        assert_eq!(records[0]["actor"], "cli", "{found}");
        assert_eq!(records[0]["resource_type"], "api_key", "{found}");
        assert_eq!(records[0]["resource_id"], key_id.as_str(), "{found}");
    }
    let bad = run(
        d,
        &[
            "key",
            "create",
            "--email",
            "svc:ci-bot",
            "--name",
            " ",
            data[0],
            data[1],
        ],
    );
    assert!(
        !bad.status.success(),
        "a blank name is refused as over HTTP"
    );
    assert!(
        stderr(&bad).contains("1 to 100 characters"),
        "{}",
        stderr(&bad)
    );
    assert!(ok(d, &["audit", "verify", data[0], data[1]]).starts_with("OK: "));
}

/// Every file under `dir` (recursively) whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn a_restored_older_backup_does_not_bring_an_erased_account_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let master = palisade_core::crypto::MasterKey::generate()
        .export_base64()
        .to_string();
    let keyed = |args: &[&str]| -> Output {
        palisade(d, &[args, &["--data-dir", "data"]].concat())
            .env("PALISADE_MASTER_KEY", &master)
            .output()
            .unwrap()
    };
    let ok_keyed = |args: &[&str]| -> String {
        let out = keyed(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let erased = "qx-erased-4@example.com";
    for email in [erased, "kept@example.com"] {
        let mut child = palisade(
            d,
            &[
                "user",
                "add",
                "--email",
                email,
                "--password-stdin",
                "--data-dir",
                "data",
            ],
        )
        .env("PALISADE_MASTER_KEY", &master)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        use std::io::Write;
        writeln!(
            child.stdin.take().unwrap(),
            "correct horse battery staple 42"
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    ok_keyed(&["backup", "create", "older.pal"]);

    // Erased after the backup: its tombstone goes to the log beside the data dir.
    let out = ok_keyed(&["user", "delete", erased, "--purge"]);
    assert!(out.starts_with("erased "), "{out}");
    let log = std::fs::read_to_string(d.join("data.erasures.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
    assert!(!log.contains(erased), "a tombstone holds no address: {log}");
    assert!(!ok_keyed(&["user", "list"]).contains(erased));

    // The data dir lost, the older backup restored: the erasure is re-applied.
    std::fs::remove_dir_all(d.join("data")).unwrap();
    let restored = ok_keyed(&["backup", "restore", "older.pal"]);
    assert!(
        restored.contains("re-applied 1 erasures: 1 restored account(s) erased again"),
        "{restored}"
    );
    let users = ok_keyed(&["user", "list"]);
    assert!(
        !users.contains(erased) && users.contains("kept@example.com"),
        "{users}"
    );
    let found = files_holding(&d.join("data"), erased.as_bytes());
    assert!(found.is_empty(), "the erased address is in {found:?}");
    let audit = ok_keyed(&["audit", "verify"]);
    assert!(audit.starts_with("OK: "), "{audit}");
    // Restoring again re-applies nothing new and still succeeds.
    std::fs::remove_dir_all(d.join("data")).unwrap();
    let again = ok_keyed(&["backup", "restore", "older.pal"]);
    assert!(
        again.contains("1 restored account(s) erased again"),
        "{again}"
    );
}
