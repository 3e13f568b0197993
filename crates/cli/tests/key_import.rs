//! `palisade key import` as an operator runs it: owners found by an imported account's external
//! id and by `svc:NAME`, bcrypt and SHA-256 hashes, a dry run that writes nothing, a re-run that
//! skips, refused rows named by line (exit 1), the ambiguity check against the file and against
//! the store, and one `apikey.imported` event per key in the trail.

use std::path::Path;
use std::process::{Command, Output};

fn palisade(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).args(["--config", "p.toml"]).current_dir(dir);
    // The test must not pick up the developer's environment.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = palisade(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Runs an import that refuses some rows: exit 1, the summary line, the refusals on stderr.
fn refusing_import(dir: &Path, args: &[&str], summary: &str) -> String {
    let out = palisade(dir, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    assert!(stdout(&out).contains(summary), "{args:?}: {}", stdout(&out));
    stderr(&out)
}

/// The `apikey.imported` events in the trail, one JSON object a line.
fn imported_events(dir: &Path) -> Vec<serde_json::Value> {
    ok(dir, &["audit", "query", "--type", "apikey.imported"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn key_import_finds_owners_checks_prefixes_skips_on_rerun_and_records_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("p.toml"),
        "[server]\ndata_dir = \"data\"\n[auth.api_keys]\nprefixes = [\"acme_\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("users.jsonl"),
        "{\"external_id\":\"1001\",\"email\":\"ada@example.com\"}\n",
    )
    .unwrap();
    ok(d, &["user", "import", "users.jsonl", "--format", "jsonl"]);
    ok(
        d,
        &[
            "user",
            "add-service",
            "--name",
            "ci-bot",
            "--role",
            "member",
        ],
    );

    let bcrypt = bcrypt::hash("acme_b0000001_secret", 4).unwrap();
    // The SHA-256 of "acme_s0000001_0123456789abcdef0123456789abcdef".
    let sha256 = "sha256:cb35401d9c8e3cdc2e7b4441bcabafb58c325dd2543e9549818b793d3c3a1c8b";
    let line = |owner: &str, name: &str, prefix: &str, hash: &str| {
        serde_json::json!({"owner": owner, "name": name, "prefix": prefix, "hash": hash})
            .to_string()
    };
    std::fs::write(
        d.join("keys.jsonl"),
        [
            line("1001", "ada-ci", "acme_b0000001", &bcrypt),
            line("svc:ci-bot", "deploy", "acme_s0000001", sha256),
            line("9999", "nobody", "acme_n0000001", sha256),
            String::new(),
            line("1001", "shorter", "acme_b000000", sha256),
        ]
        .join("\n"),
    )
    .unwrap();

    // A dry run checks everything and writes nothing: no key, no event.
    let dry = refusing_import(
        d,
        &["key", "import", "keys.jsonl", "--dry-run"],
        "would import 2 key(s), skipped 0 already imported, refused 2",
    );
    assert!(dry.contains("line 3: no account for this owner"), "{dry}");
    assert!(
        dry.contains("line 5: prefix clashes with \"acme_b0000001\" earlier in the file"),
        "{dry}"
    );
    assert!(
        !ok(d, &["key", "list"]).contains("acme_"),
        "the dry run wrote"
    );
    assert!(imported_events(d).is_empty(), "the dry run recorded");

    let real = refusing_import(
        d,
        &["key", "import", "keys.jsonl"],
        "imported 2 key(s), skipped 0 already imported, refused 2",
    );
    assert!(real.contains("line 3: no account for this owner"), "{real}");
    assert!(real.contains("line 5: prefix clashes with"), "{real}");
    assert!(
        !real.contains(&bcrypt) && !real.contains("cb35401d"),
        "{real}"
    );
    let listed = ok(d, &["key", "list"]);
    for name in ["ada-ci", "deploy"] {
        assert!(listed.contains(name), "{name} in {listed}");
    }
    assert!(!listed.contains("nobody") && !listed.contains("shorter"));

    // A re-run skips what is stored; the refusals stay refusals.
    refusing_import(
        d,
        &["key", "import", "keys.jsonl"],
        "imported 0 key(s), skipped 2 already imported, refused 2",
    );

    // Against the store: a prefix starting with a stored one, or a stored prefix for another
    // owner, is refused; a free one beside them is imported.
    std::fs::write(
        d.join("more.jsonl"),
        [
            line("1001", "longer", "acme_b00000011", sha256),
            line("ada@example.com", "taken", "acme_s0000001", sha256),
            line("svc:ci-bot", "fresh", "acme_s0000002", sha256),
        ]
        .join("\n"),
    )
    .unwrap();
    let more = refusing_import(
        d,
        &["key", "import", "more.jsonl"],
        "imported 1 key(s), skipped 0 already imported, refused 2",
    );
    assert!(
        more.contains("line 1: prefix clashes with the stored prefix \"acme_b0000001\""),
        "{more}"
    );
    assert!(
        more.contains("line 2: prefix clashes with the stored prefix \"acme_s0000001\""),
        "{more}"
    );

    // One event per imported key, none for skips or refusals, with its prefix and format.
    let events = imported_events(d);
    let mut seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let details = &e["details"];
            (
                details["prefix"].as_str().unwrap().to_string(),
                details["format"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("acme_b0000001".to_string(), "bcrypt".to_string()),
            ("acme_s0000001".to_string(), "sha256".to_string()),
            ("acme_s0000002".to_string(), "sha256".to_string()),
        ],
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e["actor"] == "cli"),
        "recorded as the CLI: {events:?}"
    );
    // Every refused row is on record too, each time it is refused (two in the first run, the
    // same two in the re-run, two against the store), with its reason and never a hash.
    let refused = ok(d, &["audit", "query", "--type", "apikey.import_refused"]);
    assert_eq!(refused.lines().count(), 6, "{refused}");
    assert!(!refused.contains("$2b$"), "{refused}");
    assert!(ok(d, &["audit", "verify"]).starts_with("OK: "));
}
