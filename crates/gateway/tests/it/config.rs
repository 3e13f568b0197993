//! Configuration loading: file, environment overrides, strictness.

use palisade_gateway::config::{Config, ConfigSource, Environment};
use std::time::Duration;

fn write(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("palisade.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn file_then_environment_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "[server]\nlisten = \"0.0.0.0:9000\"\nshutdown_grace = \"5m\"\n[store]\nurl = \"sqlite:\"\n[[routes]]\nprefix = \"/api/\"\nupstream = \"http://127.0.0.1:3000\"\n",
    );
    let (c, used) = Config::load(&ConfigSource {
        file: None,
        env: vars(&[
            ("PALISADE_CONFIG", file.to_str().unwrap()),
            ("PALISADE_STORE__URL", "memory:"),
            ("PALISADE_LIMITS__MAX_BODY", "1MiB"),
            ("PALISADE_SERVER__ENV", "production"),
            ("PALISADE_TEST_DATABASE_URL", "postgres://ignored"),
            ("PALISADE_MASTER_KEY", "ignored-by-config"),
        ]),
    })
    .unwrap();
    assert_eq!(used.as_deref(), Some(file.as_path()));
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.server.shutdown_grace.0, Duration::from_secs(300));
    assert_eq!(c.store.url, "memory:", "env beats file");
    assert_eq!(c.limits.max_body.0, 1 << 20);
    assert_eq!(c.server.env, Environment::Production);
    assert_eq!(c.routes.len(), 1);
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:1\"\nlisen_typo = 1\n",
    );
    let err = Config::load_file(&file).unwrap_err().to_string();
    assert!(err.contains("lisen_typo"), "{err}");

    let err = Config::load(&ConfigSource {
        file: None,
        env: vars(&[("PALISADE_STORE__URLL", "x")]),
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("urll"), "{err}");
}

#[test]
fn durations_and_sizes_must_be_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "[limits]\nrequest_timeout = \"soon\"\n");
    let err = Config::load_file(&file).unwrap_err().to_string();
    assert!(
        err.contains("limits.request_timeout") && err.contains("\"soon\" is not a duration"),
        "{err}"
    );
    let file = write(dir.path(), "[limits]\nmax_body = \"8 parsecs\"\n");
    let err = Config::load_file(&file).unwrap_err().to_string();
    assert!(
        err.contains("limits.max_body") && err.contains("unknown size unit"),
        "{err}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = Config::load_file(std::path::Path::new("/nonexistent/palisade.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn routes_can_come_from_the_environment() {
    let (c, _) = Config::load(&ConfigSource {
        file: None,
        env: vars(&[(
            "PALISADE_ROUTES",
            r#"[{prefix = "/x/", upstream = "http://127.0.0.1:1"}]"#,
        )]),
    })
    .unwrap();
    assert_eq!(c.routes[0].prefix, "/x/");
}

#[test]
fn auth_rehash_legacy_defaults_on_and_can_be_turned_off() {
    assert!(Config::from_toml("").unwrap().auth.rehash_legacy);
    let off = Config::from_toml("[auth]\nrehash_legacy = false\n").unwrap();
    assert!(!off.auth.rehash_legacy);
    let (env, _) = Config::load(&ConfigSource {
        file: None,
        env: vars(&[("PALISADE_AUTH__REHASH_LEGACY", "false")]),
    })
    .unwrap();
    assert!(!env.auth.rehash_legacy);
    let err = Config::from_toml("[auth]\nrehash_legacy = \"no\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rehash_legacy"), "{err}");
    let err = Config::from_toml("[auth]\nrehash_legacyy = false\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rehash_legacyy"), "{err}");
}
