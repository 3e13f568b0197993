//! The committed fuzz corpus of this crate's targets (`fuzz/corpus/TARGET/`, with the crash
//! regressions in `fuzz/regressions/TARGET/`), replayed through the same property checks the
//! fuzz targets run.

use palisade_core::fuzz_support::replay;

#[test]
fn cookie() {
    assert!(
        replay(
            env!("CARGO_MANIFEST_DIR"),
            "cookie",
            crate::identity::cookie::fuzz_props::check
        ) > 0
    );
}

#[test]
fn config() {
    assert!(
        replay(
            env!("CARGO_MANIFEST_DIR"),
            "config",
            crate::config::fuzz_props::check
        ) > 0
    );
}

/// Writes the `cookie` seed corpus (cookies sealed with the fixed test key): run by hand with
/// `cargo test -p palisade-gateway --lib fuzz_replay::write_cookie_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/cookie"]
fn write_cookie_seeds() {
    use crate::identity::cookie::fuzz_props::{NOW, keys, sealed_raw};
    use crate::identity::cookie::{COOKIE_NAME, CookieSession};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/cookie");
    std::fs::create_dir_all(&dir).unwrap();
    let session = |exp| CookieSession {
        sid: "s1".into(),
        sub: "u1".into(),
        uid: None,
        roles: vec!["member".into()],
        tier: Some("gold".into()),
        exp,
        amr: Vec::new(),
        acr: None,
        auth_time: None,
    };
    let valid = keys().seal(&session(NOW + 600));
    let expired = keys().seal(&session(NOW));
    let (payload, tag) = valid.split_once('.').unwrap();
    let write = |name: &str, mode: u8, body: &[u8]| {
        std::fs::write(dir.join(name), [&[mode][..], body].concat()).unwrap();
    };
    write(
        "header-valid",
        0,
        format!("a=1; {COOKIE_NAME}={valid}; b=2").as_bytes(),
    );
    write(
        "header-expired",
        0,
        format!("{COOKIE_NAME}={expired}").as_bytes(),
    );
    write(
        "header-tampered",
        0,
        format!("{COOKIE_NAME}=e30.{tag}").as_bytes(),
    );
    write(
        "header-no-tag",
        0,
        format!("{COOKIE_NAME}={payload}").as_bytes(),
    );
    write(
        "header-other-name",
        0,
        format!("palisade={valid}").as_bytes(),
    );
    write(
        "header-twice",
        0,
        format!("{COOKIE_NAME}=x.y; {COOKIE_NAME}={valid}").as_bytes(),
    );
    write(
        "header-spaces",
        0,
        format!(" ;; {COOKIE_NAME} = {valid} ;").as_bytes(),
    );
    write("header-garbage", 0, b"\xff;=;==;");
    for (name, json) in [
        (
            "payload-valid",
            r#"{"sid":"s","sub":"u","roles":["admin"],"exp":1800000900}"#,
        ),
        (
            "payload-expired",
            r#"{"sid":"s","sub":"u","roles":[],"exp":1}"#,
        ),
        (
            "payload-no-tier",
            r#"{"sid":"s","sub":"u","roles":[],"tier":null,"exp":1800000001}"#,
        ),
        ("payload-missing-exp", r#"{"sid":"s","sub":"u","roles":[]}"#),
        (
            "payload-big-exp",
            r#"{"sid":"s","sub":"u","roles":[],"exp":1e300}"#,
        ),
        (
            "payload-extra",
            r#"{"sid":"s","sub":"u","roles":[],"exp":1800000900,"admin":true}"#,
        ),
        ("payload-not-json", "not json"),
    ] {
        write(name, 1, json.as_bytes());
    }
    let _ = sealed_raw(b"");
    write(
        "csrf-valid",
        2,
        format!("s1\n{}", keys().csrf_token("s1")).as_bytes(),
    );
    write(
        "csrf-other-sid",
        2,
        format!("s2\n{}", keys().csrf_token("s1")).as_bytes(),
    );
    write("csrf-empty", 2, b"s1\n");
}
