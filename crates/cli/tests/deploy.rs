//! What `deploy/` ships, checked against the binary built from this tree:
//!
//! - the systemd unit passes `systemd-analyze verify` (with ExecStart pointing at this binary and
//!   its `man:palisade(1)` reference served from the generated page) and `systemd-analyze
//!   security --offline` stays at exposure 2.0 or below;
//! - the Kubernetes manifests validate with `kubernetes-validate --strict` against a pinned
//!   schema, and the ConfigMap's palisade.toml passes `palisade config check --env production`
//!   with the Deployment's variables, and serves its probes;
//! - the sample production config passes the same check once its key files exist;
//! - completions and manual pages come from the CLI definition.
//!
//! The tools come from `scripts/ensure-deploy-tools` (Debian's systemd and man-db, PyPI's
//! kubernetes-validate in a venv), which installs what is missing. A test whose tool cannot be
//! installed prints `SKIPPED:` and why; `scripts/check-deploy` sets
//! `PALISADE_DEPLOY_CHECKS=required`, which turns that into a failure.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The pinned Kubernetes schema the manifests are written for.
const KUBERNETES_VERSION: &str = "1.32.0";
/// Highest `systemd-analyze security` exposure accepted, ×10 (2.0: "OK").
const MAX_EXPOSURE: &str = "20";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn palisade(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a check's command, printing it and what it said (scripts/check-deploy shows these).
fn shown(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    eprintln!("$ {cmd:?}\n{}(exit {:?})", text(&out), out.status.code());
    out
}

/// The tools `scripts/ensure-deploy-tools` installed, by name; `None` (after a `SKIPPED:` line)
/// when it could not, unless the checks are required.
fn tool(name: &str) -> Option<PathBuf> {
    static TOOLS: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    let tools = TOOLS.get_or_init(|| {
        let out = Command::new(repo().join("scripts/ensure-deploy-tools"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("scripts/ensure-deploy-tools: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/ensure-deploy-tools failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
            .collect())
    });
    let found = match tools {
        Ok(map) => map
            .get(name)
            .cloned()
            .ok_or_else(|| format!("scripts/ensure-deploy-tools named no {name}")),
        Err(e) => Err(e.clone()),
    };
    match found {
        Ok(path) => Some(path),
        Err(why) if std::env::var("PALISADE_DEPLOY_CHECKS").as_deref() == Ok("required") => {
            panic!("{name} is required: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: the {name} check: {why}");
            None
        }
    }
}

/// The value of `key=` lines in a unit file, in order.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn grace(config: &str) -> Duration {
    palisade_gateway::config::Config::from_toml(config)
        .expect("the config parses")
        .server
        .shutdown_grace
        .0
}

/// Writes `content` to `dir/name`, readable by its owner only.
fn private_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn random_key() -> String {
    palisade_core::crypto::MasterKey::generate()
        .export_base64()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Completions and manual pages

#[test]
fn completions_come_from_the_cli_definition() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = palisade(dir.path(), &["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["serve", "user", "import", "completions"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let out = palisade(dir.path(), &["completions", "tcsh"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("possible values"), "{}", text(&out));

    // bash completes `palisade us` to `user`, and `palisade user ` to its subcommands.
    let script = dir.path().join("palisade.bash");
    std::fs::write(
        &script,
        palisade(dir.path(), &["completions", "bash"], &[]).stdout,
    )
    .unwrap();
    let Ok(out) = Command::new("bash")
        .arg("-c")
        .arg(
            r#"set -e; source "$1"
               COMP_WORDS=(palisade us); COMP_CWORD=1; _palisade palisade us palisade
               echo "first: ${COMPREPLY[*]}"
               COMP_WORDS=(palisade user ""); COMP_CWORD=2; _palisade palisade "" user
               echo "user: ${COMPREPLY[*]}""#,
        )
        .arg("bash")
        .arg(&script)
        .output()
    else {
        eprintln!("SKIPPED: completing in bash: no bash");
        return;
    };
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("first: user\n"), "{said}");
    let user_line = said.lines().find(|l| l.starts_with("user: ")).unwrap();
    for sub in ["add", "list", "disable", "import"] {
        assert!(
            user_line.split(' ').any(|w| w == sub),
            "`palisade user ` does not offer {sub}: {said}"
        );
    }
}

#[test]
fn the_manual_pages_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade(dir.path(), &["man"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH palisade 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    assert!(page.contains("palisade\\-serve(1)"), "{page}");

    // --dir writes every page the SUBCOMMANDS sections name.
    let out = palisade(dir.path(), &["man", "--dir", "man1"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let man1 = dir.path().join("man1");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert_eq!(
        std::fs::read_to_string(man1.join("palisade.1")).unwrap(),
        page
    );
    for name in [
        "palisade-serve.1",
        "palisade-config-check.1",
        "palisade-user-import.1",
        "palisade-completions.1",
    ] {
        assert!(man1.join(name).is_file(), "no {name} in {pages:?}");
    }
    for p in &pages {
        let roff = std::fs::read_to_string(p).unwrap();
        for named in roff
            .lines()
            .filter(|l| l.starts_with("palisade"))
            .filter_map(|l| l.strip_suffix("(1)"))
        {
            let file = format!("{}.1", named.replace("\\-", "-"));
            assert!(
                man1.join(&file).is_file(),
                "{} names {file}, not written",
                p.display()
            );
        }
    }

    let Some(man) = tool("man") else { return };
    for p in &pages {
        let out = Command::new(&man)
            .args(["--warnings", "-l"])
            .arg(p)
            .env("MANWIDTH", "100")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.trim().is_empty(),
            "man -l {}: {warnings}",
            p.display()
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("NAME"));
    }
    // The warnings are looked at: a page with an unknown macro does not pass.
    let bad = dir.path().join("bad.1");
    std::fs::write(&bad, ".TH bad 1\n.SH NAME\nbad \\- x\n.XX nope\n").unwrap();
    let out = Command::new(&man)
        .args(["--warnings", "-l"])
        .arg(&bad)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        text(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// systemd

/// `systemd-analyze verify` on a copy of the unit whose ExecStart is this build's binary; its
/// `man:palisade(1)` is looked up in a MANPATH holding the generated page. Every line it prints
/// (an unknown key is only a warning, exit 0) is a failure.
fn verify_unit(analyze: &Path, dir: &Path, unit: &str) -> Output {
    let man1 = dir.join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    let page = palisade(dir, &["man"], &[]);
    std::fs::write(man1.join("palisade.1"), page.stdout).unwrap();
    let path = dir.join("palisade.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/bin/palisade ",
            &format!("{} ", env!("CARGO_BIN_EXE_palisade")),
        ),
    )
    .unwrap();
    shown(
        Command::new(analyze)
            .arg("verify")
            .arg(&path)
            .env("MANPATH", dir.join("man"))
            .env("SYSTEMD_LOG_COLOR", "0"),
    )
}

#[test]
fn the_systemd_unit_verifies_against_the_built_binary() {
    let unit = read("deploy/systemd/palisade.service");
    let config = read("deploy/palisade.production.toml");

    // What the unit says agrees with the config and the user it runs as.
    assert_eq!(
        unit_values(&unit, "ExecStart"),
        ["/usr/bin/palisade serve --config /etc/palisade/palisade.toml --env production"]
    );
    assert_eq!(
        unit_values(&unit, "ExecReload"),
        ["/bin/kill -HUP $MAINPID"]
    );
    let stop = humantime::parse_duration(unit_values(&unit, "TimeoutStopSec")[0]).unwrap();
    let grace = grace(&config);
    assert!(
        stop > grace && stop <= grace + Duration::from_secs(30),
        "TimeoutStopSec {stop:?} must give shutdown_grace {grace:?} and the audit flush time"
    );
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("User", "palisade"),
        ("ReadWritePaths", "/var/lib/palisade"),
        ("StateDirectory", "palisade"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
    ] {
        assert_eq!(unit_values(&unit, key), [value], "{key}");
    }
    let data_dir = palisade_gateway::config::Config::from_toml(&config)
        .unwrap()
        .server
        .data_dir;
    assert_eq!(data_dir, Path::new("/var/lib/palisade"));
    assert!(
        read("deploy/systemd/palisade.sysusers").contains("\nu palisade - "),
        "sysusers.d creates the unit's user"
    );
    // Every credential file the config reads is one the unit loads.
    let loaded: Vec<&str> = unit_values(&unit, "LoadCredential")
        .iter()
        .map(|c| c.split_once(':').unwrap().0)
        .collect();
    let referenced: Vec<&str> = config
        .lines()
        .filter_map(|l| {
            l.split('#')
                .next()?
                .split_once("/run/credentials/palisade.service/")
        })
        .map(|(_, rest)| rest.split('"').next().unwrap())
        .collect();
    assert!(referenced.len() >= 4, "{referenced:?}");
    for name in &referenced {
        assert!(loaded.contains(name), "the unit does not load {name}");
    }
    assert!(loaded.contains(&"master_key"));
    assert_eq!(
        unit_values(&unit, "Environment"),
        ["PALISADE_MASTER_KEY_FILE=%d/master_key"]
    );

    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = verify_unit(&analyze, dir.path(), &unit);
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify: {}",
        text(&out)
    );
    let out = shown(
        Command::new(&analyze)
            .args(["security", "--offline=yes"])
            .arg(format!("--threshold={MAX_EXPOSURE}"))
            .arg(dir.path().join("palisade.service"))
            .env("SYSTEMD_LOG_COLOR", "0"),
    );
    assert!(out.status.success(), "exposure above 2.0: {}", text(&out));
    assert!(text(&out).contains("Overall exposure level for palisade.service"));

    // The verification can fail: a misspelt key, and a missing binary.
    let out = verify_unit(
        &analyze,
        dir.path(),
        &unit.replace("ProtectSystem=strict", "ProtectSytem=strict"),
    );
    assert!(text(&out).contains("Unknown key"), "{}", text(&out));
    let out = verify_unit(
        &analyze,
        dir.path(),
        &unit.replace("/usr/bin/palisade ", "/nonexistent/palisade "),
    );
    assert!(!out.status.success(), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// The sample production config

#[test]
fn the_sample_production_config_passes_the_production_check() {
    let config = read("deploy/palisade.production.toml");
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let master = private_file(&creds, "master_key", &random_key());
    private_file(&creds, "signing_key", &format!("{}\n", random_key()));
    private_file(&creds, "cookie_key", &format!("{}\n", random_key()));
    let cert = rcgen::generate_simple_self_signed(vec!["api.example.com".into()]).unwrap();
    private_file(&creds, "tls_cert", &cert.cert.pem());
    private_file(&creds, "tls_key", &cert.signing_key.serialize_pem());
    let local = config
        .replace(
            "/run/credentials/palisade.service/",
            &format!("{}/", creds.display()),
        )
        .replace(
            "\"/var/lib/palisade\"",
            &format!("\"{}\"", dir.path().join("data").display()),
        );
    assert!(!local.contains("/run/") && !local.contains("/var/lib/"));
    std::fs::write(dir.path().join("palisade.toml"), &local).unwrap();
    let master_env = master.display().to_string();
    let env = [("PALISADE_MASTER_KEY_FILE", master_env.as_str())];
    let check = [
        "config",
        "check",
        "--env",
        "production",
        "--config",
        "palisade.toml",
    ];
    let out = palisade(dir.path(), &check, &env);
    eprintln!(
        "$ PALISADE_MASTER_KEY_FILE=… palisade {}\n{}",
        check.join(" "),
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("palisade.toml: OK for production"),
        "{}",
        text(&out)
    );

    // The check reads what the config references: a missing key file, a world-readable master
    // key and a weak signing key are each refused.
    std::fs::remove_file(creds.join("cookie_key")).unwrap();
    let out = palisade(dir.path(), &check, &env);
    assert!(!out.status.success());
    assert!(text(&out).contains("secrets.cookie_key"), "{}", text(&out));
    private_file(&creds, "cookie_key", &random_key());
    private_file(&creds, "signing_key", "change-me");
    let out = palisade(dir.path(), &check, &env);
    assert!(text(&out).contains("secrets.signing_key"), "{}", text(&out));
    private_file(&creds, "signing_key", &random_key());
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = palisade(dir.path(), &check, &env);
    assert!(text(&out).contains("mode 0644"), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/// The palisade.toml block of the ConfigMap (a `|` literal indented by four spaces).
fn configmap_toml() -> String {
    let yaml = read("deploy/kubernetes/configmap.yaml");
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "palisade.toml: |");
    lines.next().expect("the ConfigMap holds palisade.toml");
    let mut toml = String::new();
    for line in lines {
        match line.strip_prefix("    ") {
            Some(l) => toml.push_str(l),
            None if line.trim().is_empty() => {}
            None => break,
        }
        toml.push('\n');
    }
    toml
}

/// The numbers after `key:` in a manifest.
fn yaml_numbers(yaml: &str, key: &str) -> Vec<u64> {
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.split('#').next().unwrap().trim().parse().unwrap())
        .collect()
}

/// The ConfigMap's config, its key files in `dir`, and the Deployment's variables with test
/// values (the URLs name closed loopback ports: the offline check connects to nothing).
fn kubernetes_setup(dir: &Path) -> Vec<(String, String)> {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    private_file(&keys, "signing_key", &random_key());
    private_file(&keys, "cookie_key", &random_key());
    let toml = configmap_toml()
        .replace("/run/secrets/palisade", &keys.display().to_string())
        .replace(
            "\"/var/lib/palisade\"",
            &format!("\"{}\"", dir.join("data").display()),
        );
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    let deployment = read("deploy/kubernetes/deployment.yaml");
    let names: Vec<&str> = deployment
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- name: PALISADE_"))
        .collect();
    assert_eq!(
        names,
        ["MASTER_KEY", "STORE__URL", "HOT_STATE__URL"],
        "a new variable in the Deployment needs a value here"
    );
    vec![
        ("PALISADE_MASTER_KEY".into(), random_key()),
        (
            "PALISADE_STORE__URL".into(),
            "postgres://palisade:pw@127.0.0.1:9/palisade?sslmode=require".into(),
        ),
        (
            "PALISADE_HOT_STATE__URL".into(),
            "redis://:pw@127.0.0.1:9/0".into(),
        ),
    ]
}

#[test]
fn the_configmap_config_passes_the_production_check_with_the_deployments_variables() {
    let dir = tempfile::tempdir().unwrap();
    let env = kubernetes_setup(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let check = [
        "config",
        "check",
        "--env",
        "production",
        "--config",
        "palisade.toml",
    ];
    let out = palisade(dir.path(), &check, &env);
    eprintln!(
        "$ PALISADE_MASTER_KEY=… PALISADE_STORE__URL=postgres://… PALISADE_HOT_STATE__URL=redis://… palisade {}\n{}",
        check.join(" "),
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("OK for production"), "{}", text(&out));

    // Without the Secret's master key it does not pass.
    let out = palisade(dir.path(), &check, &env[1..]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no master key"), "{}", text(&out));
}

/// A line of the served gateway's stdout: its address.
fn listening(child: &mut std::process::Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("palisade printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("Palisade is listening on ") {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    base
}

#[tokio::test]
async fn the_probes_pass_on_the_configmap_config_and_need_their_host_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = kubernetes_setup(dir.path());
    // In-process stores stand in for PostgreSQL and Redis; the rest is the pod's config.
    for (k, v) in env.iter_mut() {
        if k != "PALISADE_MASTER_KEY" {
            *v = "memory:".into();
        }
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .args([
            "serve",
            "--env",
            "production",
            "--config",
            "palisade.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = listening(&mut child);
    let deployment = read("deploy/kubernetes/deployment.yaml");
    let host = deployment
        .lines()
        .skip_while(|l| l.trim() != "- name: Host")
        .nth(1)
        .and_then(|l| l.trim().strip_prefix("value: "))
        .expect("the probes send a Host");
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        assert!(
            deployment.contains(&format!("path: {path}")),
            "a probe on {path}"
        );
        let res = client
            .get(format!("{base}{path}"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path} with Host: {host}");
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            res.status(),
            400,
            "{path} with the pod's address as Host is refused (why the probes name one)"
        );
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_kubernetes_manifests_validate_against_the_pinned_schema() {
    let deployment = read("deploy/kubernetes/deployment.yaml");
    // Termination grace: the preStop sleep, then shutdown_grace, then time to flush the trail.
    let grace = grace(&configmap_toml()).as_secs();
    let pre_stop = yaml_numbers(&deployment, "seconds");
    let termination = yaml_numbers(&deployment, "terminationGracePeriodSeconds");
    assert_eq!(pre_stop.len(), 1);
    assert_eq!(termination.len(), 1);
    assert!(
        termination[0] > pre_stop[0] + grace && termination[0] <= pre_stop[0] + grace + 30,
        "terminationGracePeriodSeconds {} for preStop {} + shutdown_grace {grace}",
        termination[0],
        pre_stop[0]
    );
    for needed in [
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
        "path: /healthz",
        "path: /readyz",
    ] {
        assert!(deployment.contains(needed), "the Deployment lacks {needed}");
    }

    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    let manifests = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let out = shown(
        Command::new(&validate)
            .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
            .args(&files),
    );
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    for kind in ["deployment/", "configmap/", "secret/", "service/"] {
        assert!(
            said.contains(&format!("passed for resource {kind}")),
            "{said}"
        );
    }
    // The validation can fail: an unknown field under --strict.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("deployment.yaml");
    std::fs::write(
        &bad,
        deployment.replace("terminationGracePeriodSeconds", "terminationGracePeriod"),
    )
    .unwrap();
    let out = Command::new(&validate)
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
}
