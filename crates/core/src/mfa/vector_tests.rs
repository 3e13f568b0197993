//! RFC 6238 Appendix B and RFC 4226 Appendix D, read in place from
//! `../shared/vectors/rfc-vectors/rfc_vectors.json` (skipped, saying so, when it is absent).

use super::totp::{TotpAlgorithm, TotpParams, code_at, hotp, verify};
use serde_json::Value;
use std::path::PathBuf;

fn vectors() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/rfc-vectors/rfc_vectors.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("vector file is JSON")),
        Err(_) => {
            println!("skipped: {} absent", path.display());
            None
        }
    }
}

#[test]
fn rfc6238_appendix_b() {
    let Some(file) = vectors() else { return };
    let totp = &file["rfc6238_totp"];
    let digits = totp["digits"].as_u64().expect("digits") as u32;
    let step_secs = totp["step_seconds"].as_u64().expect("step");
    let cases = totp["cases"].as_array().expect("cases");
    for case in cases {
        let name = case["algorithm"].as_str().expect("algorithm");
        let algorithm = match name {
            "SHA1" => TotpAlgorithm::Sha1,
            "SHA256" => TotpAlgorithm::Sha256,
            "SHA512" => TotpAlgorithm::Sha512,
            other => panic!("unknown algorithm {other}"),
        };
        let seed = hex::decode(totp["seeds"][name]["hex"].as_str().expect("seed")).unwrap();
        let params = TotpParams {
            algorithm,
            digits,
            step_secs,
        };
        let time = case["unix_time"].as_u64().expect("time");
        let expected = case["totp"].as_str().expect("totp");
        assert_eq!(code_at(&seed, time, &params), expected, "{name} at {time}");
        // The verifier takes the vector at its own time, and once only.
        let step = verify(&seed, expected, time, 1, None, &params).expect("accepted");
        assert_eq!(verify(&seed, expected, time, 1, Some(step), &params), None);
    }
    assert_eq!(cases.len(), 18);
}

#[test]
fn rfc4226_appendix_d() {
    let Some(file) = vectors() else { return };
    let hotp_vectors = &file["rfc4226_hotp"];
    let seed = b"12345678901234567890";
    let cases = hotp_vectors["cases"].as_array().expect("cases");
    for case in cases {
        let counter = case["count"]
            .as_u64()
            .or_else(|| case["counter"].as_u64())
            .expect("counter");
        let expected = case["hotp"].as_str().expect("hotp");
        assert_eq!(hotp(seed, counter, TotpAlgorithm::Sha1, 6), expected);
    }
    assert!(!cases.is_empty());
}
