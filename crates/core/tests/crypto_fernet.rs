//! Fernet against the spec's acceptance vectors (`generate.json`, `verify.json`,
//! `invalid.json`) and the supplementary cases generated with pyca/cryptography, read in place
//! from `../shared/vectors/fernet-spec/` (skipped when absent); plus the time rules at their
//! boundaries.

use palisade_core::crypto::{CryptoError, Fernet};
use serde_json::Value;
use std::path::PathBuf;

fn vectors(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/fernet-spec")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("vector file is JSON")),
        Err(_) => {
            println!("skipped: {} absent", path.display());
            None
        }
    }
}

/// Unix seconds of an RFC 3339 time with a numeric offset, e.g. `1985-10-26T01:20:00-07:00`.
fn rfc3339(text: &str) -> u64 {
    let num = |range: std::ops::Range<usize>| text[range].parse::<i64>().expect("digits");
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    let sign = if &text[19..20] == "-" { -1 } else { 1 };
    let offset = sign * (num(20..22) * 3600 + num(23..25) * 60);
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian), H. Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss - offset) as u64
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().expect("string field")
}

#[test]
fn rfc3339_helper() {
    assert_eq!(rfc3339("1970-01-01T00:00:00+00:00"), 0);
    assert_eq!(rfc3339("2023-11-14T22:13:20+00:00"), 1_700_000_000);
    assert_eq!(rfc3339("1985-10-26T01:20:00-07:00"), 499_162_800);
}

#[test]
fn spec_generate() {
    let Some(cases) = vectors("generate.json") else {
        return;
    };
    for case in cases.as_array().unwrap() {
        let fernet = Fernet::new(str_of(case, "secret")).unwrap();
        let iv: Vec<u8> = case["iv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        let now = rfc3339(str_of(case, "now"));
        let token = fernet.encrypt_at(str_of(case, "src").as_bytes(), now, iv.try_into().unwrap());
        assert_eq!(token, str_of(case, "token"));
    }
}

#[test]
fn spec_verify() {
    let Some(cases) = vectors("verify.json") else {
        return;
    };
    for case in cases.as_array().unwrap() {
        let fernet = Fernet::new(str_of(case, "secret")).unwrap();
        let plain = fernet
            .decrypt(
                str_of(case, "token"),
                rfc3339(str_of(case, "now")),
                case["ttl_sec"].as_u64(),
            )
            .unwrap();
        assert_eq!(&plain[..], str_of(case, "src").as_bytes());
    }
}

fn expected_error(desc: &str) -> Option<CryptoError> {
    let desc = desc.to_lowercase();
    if desc.contains("expired") {
        Some(CryptoError::TokenExpired)
    } else if desc.contains("future") {
        Some(CryptoError::TokenFromFuture)
    } else if ["incorrect mac", "wrong key", "flipped", "without re-mac"]
        .iter()
        .any(|d| desc.contains(d))
    {
        Some(CryptoError::Decrypt)
    } else {
        None
    }
}

#[test]
fn spec_invalid() {
    let Some(cases) = vectors("invalid.json") else {
        return;
    };
    let cases = cases.as_array().unwrap();
    for case in cases {
        let fernet = Fernet::new(str_of(case, "secret")).unwrap();
        let desc = str_of(case, "desc");
        let result = fernet.decrypt(
            str_of(case, "token"),
            rfc3339(str_of(case, "now")),
            case["ttl_sec"].as_u64(),
        );
        let err = result.expect_err(desc);
        if let Some(expected) = expected_error(desc) {
            assert_eq!(err, expected, "{desc}");
        }
    }
    assert_eq!(cases.len(), 8);
}

fn hex_of(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(str_of(v, field)).unwrap()
}

#[test]
fn supplementary_generate_and_invalid() {
    let Some(file) = vectors("supplementary_generated.json") else {
        return;
    };
    for case in file["generate"].as_array().unwrap() {
        let fernet = Fernet::new(str_of(case, "secret")).unwrap();
        let now = case["now_unix"].as_u64().unwrap();
        let src = hex_of(case, "src_hex");
        let iv: [u8; 16] = hex_of(case, "iv_hex").try_into().unwrap();
        assert_eq!(
            fernet.encrypt_at(&src, now, iv),
            str_of(case, "token"),
            "{}",
            case["name"]
        );
        let plain = fernet
            .decrypt(str_of(case, "token"), now, Some(60))
            .unwrap();
        assert_eq!(&plain[..], &src[..]);
    }
    for case in file["invalid"].as_array().unwrap() {
        let desc = str_of(case, "desc");
        let fernet = Fernet::new(str_of(case, "secret")).unwrap();
        let result = fernet.decrypt(
            str_of(case, "token"),
            case["now_unix"].as_u64().unwrap(),
            case["ttl_sec"].as_u64(),
        );
        let err = result.expect_err(desc);
        if let Some(expected) = expected_error(desc) {
            assert_eq!(err, expected, "{desc}");
        }
    }
    let rotation = &file["rotation"];
    let token = str_of(rotation, "token_under_old_key");
    let now = rotation["now_unix"].as_u64().unwrap();
    let primary = Fernet::new(str_of(rotation, "primary_key")).unwrap();
    let old = Fernet::new(str_of(rotation, "old_key")).unwrap();
    assert_eq!(primary.decrypt(token, now, None), Err(CryptoError::Decrypt));
    let plain = old.decrypt(token, now, None).unwrap();
    assert_eq!(&plain[..], &hex_of(rotation, "src_hex")[..]);
}

#[test]
fn time_rules_at_their_boundaries() {
    let fernet = Fernet::new(&Fernet::generate_key()).unwrap();
    let t = 1_700_000_000;
    let token = fernet.encrypt(b"hello", t);
    assert!(fernet.decrypt(&token, t + 60, Some(60)).is_ok());
    assert_eq!(
        fernet.decrypt(&token, t + 61, Some(60)),
        Err(CryptoError::TokenExpired)
    );
    assert!(fernet.decrypt(&token, t - 60, Some(60)).is_ok());
    assert_eq!(
        fernet.decrypt(&token, t - 61, Some(60)),
        Err(CryptoError::TokenFromFuture)
    );
    // Without a TTL the timestamp is not checked (as in Python's cryptography).
    assert!(fernet.decrypt(&token, t + 1_000_000, None).is_ok());
    assert!(fernet.decrypt(&token, 0, None).is_ok());
    // Huge values do not overflow.
    assert!(fernet.decrypt(&token, u64::MAX, Some(u64::MAX)).is_ok());
    let far = fernet.encrypt(b"x", u64::MAX);
    assert_eq!(
        fernet.decrypt(&far, t, Some(60)),
        Err(CryptoError::TokenFromFuture)
    );
}

#[test]
fn keys_and_tokens_are_checked() {
    assert_eq!(Fernet::new("short").unwrap_err(), CryptoError::FernetKey);
    assert!(Fernet::new("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4").is_ok());
    assert!(Fernet::new("cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4=").is_err());
    let fernet = Fernet::from_bytes(&[4; 32]);
    assert_eq!(format!("{fernet:?}"), "Fernet(..)");
    let token = fernet.encrypt(b"", 5);
    assert_eq!(&fernet.decrypt(&token, 5, Some(1)).unwrap()[..], b"");
    // Every bit of the decoded token matters.
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(&token)
        .unwrap();
    for i in 0..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let bad = base64::engine::general_purpose::URL_SAFE.encode(&bad);
        assert!(fernet.decrypt(&bad, 5, None).is_err(), "byte {i}");
    }
    // Two tokens of the same value differ (random IV).
    assert_ne!(fernet.encrypt(b"v", 5), fernet.encrypt(b"v", 5));
}
