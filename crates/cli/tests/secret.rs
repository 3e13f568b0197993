//! `palisade secret …`, `palisade keys *-data` and the master key checks of `palisade serve`, as
//! a user runs them.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// 32 bytes of 0x07, base64: a fixed master key for the test.
const MASTER: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const OTHER_MASTER: &str = "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=";

fn palisade(dir: &Path, master: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    if let Some(m) = master {
        cmd.env("PALISADE_MASTER_KEY", m);
    }
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    palisade(dir, Some(MASTER), args).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn put(dir: &Path, path: &str, value: &str) {
    put_with(dir, &["secret", "put", path], &format!("{value}\n"));
}

/// Runs `args` with `input` on standard input; it must succeed.
fn put_with(dir: &Path, args: &[&str], input: &str) {
    let mut child = palisade(dir, Some(MASTER), args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_refuses_a_master_key_file_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, format!("{MASTER}\n")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = palisade(
        dir.path(),
        None,
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"],
    )
    .env("PALISADE_MASTER_KEY_FILE", &key)
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mode 0644"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(
        err.contains(key.to_str().unwrap()),
        "the file is named: {err}"
    );
    assert!(!err.contains(MASTER), "the key is never echoed: {err}");
    // The same file readable by its owner only is accepted by the keyring commands.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = palisade(
        dir.path(),
        None,
        &["keys", "list-data", "--data-dir", "data"],
    )
    .env("PALISADE_MASTER_KEY_FILE", &key)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("primary"));
}

#[test]
fn secrets_rotate_reencrypt_and_retire_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    put(d, "tenants/acme/oauth/google", "tok-1");
    put(d, "tenants/acme/oauth/google", "tok-2");
    put(d, "global/db", "pw");
    assert_eq!(
        ok(d, &["secret", "get", "tenants/acme/oauth/google"]),
        "tok-2\n"
    );
    assert_eq!(
        ok(
            d,
            &[
                "secret",
                "get",
                "tenants/acme/oauth/google",
                "--version",
                "1"
            ]
        ),
        "tok-1\n"
    );
    assert_eq!(
        ok(d, &["secret", "list", "--prefix", "tenants/"]),
        "tenants/acme/oauth/google\n"
    );
    ok(d, &["secret", "delete", "global/db"]);
    assert!(!run(d, &["secret", "get", "global/db"]).status.success());
    ok(d, &["secret", "undelete", "global/db", "--version", "1"]);
    assert_eq!(ok(d, &["secret", "get", "global/db"]), "pw\n");

    // Another master key cannot unwrap the keyring: a clear refusal, no value.
    let out = palisade(d, Some(OTHER_MASTER), &["secret", "get", "global/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pw"));
    let err = String::from_utf8_lossy(&out.stderr);
    // The first key the CLI opens (a token signing key, or the keyring) names the master key.
    assert!(
        err.contains("cannot be") && err.contains("master key"),
        "{err}"
    );

    let list = ok(d, &["keys", "list-data"]);
    let old = list.split_whitespace().next().unwrap().to_string();
    assert!(
        list.contains("primary") && list.contains("3 value(s)"),
        "{list}"
    );
    let rotated = ok(d, &["keys", "rotate-data"]);
    assert!(rotated.contains("new primary data key dk-"), "{rotated}");
    let out = run(d, &["keys", "retire-data", &old]);
    assert!(!out.status.success(), "retiring a key in use is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("still encrypts 3 stored value(s)"), "{err}");
    let done = ok(d, &["keys", "reencrypt-data"]);
    assert!(
        done.contains("re-encrypted 3 value(s); 0 failed; 0 left"),
        "{done}"
    );
    ok(d, &["keys", "retire-data", &old]);
    let list = ok(d, &["keys", "list-data"]);
    assert!(list.contains(&format!("{old}  retired")), "{list}");
    assert_eq!(
        ok(d, &["secret", "get", "tenants/acme/oauth/google"]),
        "tok-2\n"
    );
    assert_eq!(
        ok(
            d,
            &[
                "secret",
                "get",
                "tenants/acme/oauth/google",
                "--version",
                "1"
            ]
        ),
        "tok-1\n"
    );
    assert_eq!(ok(d, &["secret", "get", "global/db"]), "pw\n");

    // Every step is in the trail, which verifies; values never are.
    ok(d, &["audit", "verify"]);
    let trail = ok(d, &["audit", "query", "--limit", "1000"]);
    for event in [
        "credential.access",
        "secret.write",
        "keyring.rotated",
        "keyring.retired",
        "keyring.reencrypted",
    ] {
        assert!(trail.contains(event), "{event} missing from\n{trail}");
    }
    for value in ["tok-1", "tok-2", "\"pw\""] {
        assert!(!trail.contains(value), "{value} reached the trail");
    }
}

/// python3 with `cryptography` (installed with pip when missing); `None` without python3.
fn python_ready() -> Option<()> {
    let imports = || {
        Command::new("python3")
            .args(["-c", "import cryptography.fernet"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if Command::new("python3").arg("--version").output().is_err() {
        println!("skipped: python3 absent");
        return None;
    }
    if !imports() {
        let pip = |extra: &[&str]| {
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "cryptography"])
                .args(extra)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !pip(&[]) {
            pip(&["--break-system-packages"]);
        }
        assert!(
            imports(),
            "python3 is present but `cryptography` could not be installed"
        );
    }
    Some(())
}

#[test]
fn import_fernet_reads_tokens_made_by_python_cryptography() {
    if python_ready().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = r##"
import json, sys
from cryptography.fernet import Fernet
key = Fernet.generate_key()
f = Fernet(key)
open(sys.argv[1], "wb").write(key + b"\n")
with open(sys.argv[2], "w") as out:
    out.write("# exported from the billing service\n")
    out.write("oauth/google\t" + f.encrypt(b"ya29.token-one").decode() + "\n")
    out.write(json.dumps({"path": "db/password", "token": f.encrypt("pässwörd".encode()).decode()}) + "\n")
"##;
    let key = d.join("fernet.key");
    let input = d.join("tokens.txt");
    let out = Command::new("python3")
        .args(["-c", script, key.to_str().unwrap(), input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = [
        "secret",
        "import-fernet",
        "--key-file",
        key.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--prefix",
        "tenants/billing",
    ];
    // A key file others can read is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = run(d, &args);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("mode 0644"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(d, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("imported 2 secret(s)"));
    assert_eq!(
        ok(d, &["secret", "get", "tenants/billing/oauth/google"]),
        "ya29.token-one\n"
    );
    assert_eq!(
        ok(d, &["secret", "get", "tenants/billing/db/password"]),
        "pässwörd\n"
    );
    // A token under another key fails by line number, and nothing of that file is imported.
    let bad = d.join("bad.txt");
    let other = Command::new("python3")
        .args([
            "-c",
            "from cryptography.fernet import Fernet; print(Fernet(Fernet.generate_key()).encrypt(b'x').decode())",
        ])
        .output()
        .unwrap();
    let token = String::from_utf8(other.stdout).unwrap();
    std::fs::write(
        &bad,
        format!("ok/one\t{}\nok/two\t{}", "gAAAAA", token.trim()),
    )
    .unwrap();
    let out = run(
        d,
        &[
            "secret",
            "import-fernet",
            "--key-file",
            key.to_str().unwrap(),
            "--input",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1"), "{err}");
    assert_eq!(ok(d, &["secret", "list", "--prefix", "ok/"]), "");
}

#[test]
fn serve_reads_secret_references_and_refuses_missing_ones() {
    const SIGNING: &str = "a-signing-key-kept-in-the-secrets-store-0123";
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("cookie.txt"),
        "cookie-from-a-container-secret-file\n",
    )
    .unwrap();
    std::fs::write(
        d.join("p.toml"),
        "[secrets]\nsigning_key = \"secret://gateway/signing\"\ncookie_key = \"file:cookie.txt\"\n",
    )
    .unwrap();
    let serve = ["serve", "--config", "p.toml", "--listen", "127.0.0.1:0"];
    let out = run(d, &serve);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secrets.signing_key: secret://gateway/signing: no such secret"),
        "{err}"
    );
    // Bootstrap: the CLI's own audit events are signed with the same key, given literally once.
    std::fs::write(
        d.join("boot.toml"),
        format!("[secrets]\nsigning_key = \"{SIGNING}\"\ncookie_key = \"file:cookie.txt\"\n"),
    )
    .unwrap();
    put_with(
        d,
        &["secret", "put", "gateway/signing", "--config", "boot.toml"],
        SIGNING,
    );
    let mut child = palisade(d, Some(MASTER), &serve)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines.any(|l| l.unwrap().starts_with("Palisade is listening on "));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "serve started with the referenced secrets");
}
