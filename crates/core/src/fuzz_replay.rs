//! The committed fuzz corpus of this crate's targets (`fuzz/corpus/TARGET/`, with the crash
//! regressions in `fuzz/regressions/TARGET/`), replayed through the same property checks the
//! fuzz targets run.

use crate::fuzz_support::replay;

fn run(target: &str, check: fn(&[u8])) {
    let n = replay(env!("CARGO_MANIFEST_DIR"), target, check);
    assert!(n > 0);
}

#[test]
fn path() {
    run("path", crate::path::fuzz_props::check);
}

#[test]
fn jwt() {
    run("jwt", crate::jwt::fuzz_props::check);
}

#[test]
fn api_key() {
    run("api_key", crate::api_key::fuzz_props::check);
}

#[test]
fn request_id() {
    run("request_id", crate::request_id::fuzz_props::check);
}

#[test]
fn client_ip() {
    run("client_ip", crate::client_ip::fuzz_props::check);
}

/// Writes the `jwt` seed corpus (tokens signed with the fixed test keys): run by hand with
/// `cargo test -p palisade-core --lib fuzz_replay::write_jwt_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/jwt"]
fn write_jwt_seeds() {
    use crate::jwt::fuzz_props::{
        IDP_AUDIENCE, IDP_ISSUER, NOW, OWN_AUDIENCE, OWN_ISSUER, fixture, signed,
    };
    use serde_json::json;
    let f = fixture();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/jwt");
    std::fs::create_dir_all(&dir).unwrap();
    let own = json!({
        "sub": "user-1", "iss": OWN_ISSUER, "aud": OWN_AUDIENCE, "exp": NOW + 900, "iat": NOW,
        "nbf": NOW, "jti": "j1", "sid": "s1", "roles": ["admin"], "tenants": ["acme"]
    });
    let idp = json!({
        "sub": "ext-1", "iss": IDP_ISSUER, "aud": [IDP_AUDIENCE, "x"], "exp": NOW + 900,
        "nbf": NOW - 5, "roles": ["member"], "tenant": "acme", "jti": "e1"
    });
    let mut expired = own.clone();
    expired["exp"] = json!(NOW - 60);
    let mut wrong_aud = idp.clone();
    wrong_aud["aud"] = json!("other");
    let mut no_sid = own.clone();
    no_sid.as_object_mut().unwrap().remove("sid");
    let header = |alg: &str, kid: &str| json!({"typ": "JWT", "alg": alg, "kid": kid});
    // (name, signer index, header, claims): signers are own-ed, own-hs, idp-ed, then strangers.
    let cases = [
        ("own-ed", 0, header("EdDSA", "own-ed"), &own),
        ("own-hs", 1, header("HS256", "own-hs"), &own),
        ("idp-ed", 2, header("EdDSA", "idp-ed"), &idp),
        ("idp-no-kid", 2, json!({"alg": "EdDSA"}), &idp),
        ("alg-none", 0, header("none", "own-ed"), &own),
        ("alg-confusion", 1, header("HS256", "own-ed"), &own),
        (
            "jku",
            0,
            json!({"alg": "EdDSA", "kid": "own-ed", "jku": "https://evil"}),
            &own,
        ),
        (
            "crit",
            2,
            json!({"alg": "EdDSA", "kid": "idp-ed", "crit": ["exp"]}),
            &idp,
        ),
        ("stranger", 3, header("EdDSA", "own-ed"), &own),
        ("stranger-hs", 4, header("HS256", "own-hs"), &own),
        ("expired", 0, header("EdDSA", "own-ed"), &expired),
        ("wrong-aud", 2, header("EdDSA", "idp-ed"), &wrong_aud),
        ("missing-sid", 0, header("EdDSA", "own-ed"), &no_sid),
        ("unknown-kid", 0, header("EdDSA", "nope"), &own),
    ];
    for (name, signer, header, claims) in cases {
        let (h, c) = (header.to_string(), claims.to_string());
        // Mode 0: the finished token.
        let token = signed(&f.signers[signer], h.as_bytes(), c.as_bytes());
        std::fs::write(
            dir.join(format!("token-{name}")),
            [b"\0", token.as_bytes()].concat(),
        )
        .unwrap();
        // Odd mode: header and claims, signed by the harness.
        let mode = 1 + 2 * signer as u8;
        let raw = [&[mode][..], h.as_bytes(), &[0xff], c.as_bytes()].concat();
        std::fs::write(dir.join(format!("signed-{name}")), raw).unwrap();
    }
    for (name, raw) in [
        ("garbage", "\0not a token"),
        ("empty-parts", "\0.."),
        ("four-parts", "\0a.b.c.d"),
        ("bad-base64", "\0!!.b.c"),
    ] {
        std::fs::write(dir.join(format!("token-{name}")), raw).unwrap();
    }
}
