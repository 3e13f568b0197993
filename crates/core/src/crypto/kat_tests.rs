//! Known-answer tests of the primitives under the field format and the blind index, against
//! published vectors read in place from `../shared/vectors/` (skipped when that folder is
//! absent): Wycheproof AES-GCM through the field format's own seal/open with explicit key,
//! nonce and associated data, and RFC 4231 HMAC-SHA256.

use super::CryptoError;
use super::field::raw;
use serde_json::Value;
use std::path::PathBuf;

fn vectors(relative: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors")
        .join(relative);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("vector file is JSON")),
        Err(_) => {
            println!("skipped: {} absent", path.display());
            None
        }
    }
}

fn hex_of(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().expect("hex string")).expect("valid hex")
}

#[test]
fn wycheproof_aes_256_gcm_through_field_seal_and_open() {
    let Some(file) = vectors("wycheproof/aes_gcm_test.json") else {
        return;
    };
    let (mut valid, mut invalid) = (0, 0);
    for group in file["testGroups"].as_array().expect("groups") {
        // The field format uses 256-bit keys, 96-bit nonces and 128-bit tags only.
        if group["keySize"] != 256 || group["ivSize"] != 96 || group["tagSize"] != 128 {
            continue;
        }
        for case in group["tests"].as_array().expect("tests") {
            let id = &case["tcId"];
            let key: [u8; 32] = hex_of(case, "key").try_into().expect("32-byte key");
            let nonce: [u8; 12] = hex_of(case, "iv").try_into().expect("12-byte iv");
            let (aad, msg) = (hex_of(case, "aad"), hex_of(case, "msg"));
            let mut sealed = nonce.to_vec();
            sealed.extend(hex_of(case, "ct"));
            sealed.extend(hex_of(case, "tag"));
            let opened = raw::open(&key, &aad, &sealed);
            match case["result"].as_str() {
                Some("valid") => {
                    assert_eq!(raw::seal(&key, nonce, &aad, &msg), sealed, "tcId {id}");
                    assert_eq!(opened.as_deref(), Ok(&msg[..]), "tcId {id}");
                    valid += 1;
                }
                Some("invalid") => {
                    assert_eq!(opened, Err(CryptoError::Decrypt), "tcId {id}");
                    invalid += 1;
                }
                other => panic!("tcId {id}: unexpected result {other:?}"),
            }
        }
    }
    println!("wycheproof AES-256-GCM: {valid} valid, {invalid} invalid cases checked");
    assert!(
        valid >= 30 && invalid >= 20,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn rfc4231_hmac_sha256() {
    use aws_lc_rs::hmac;
    let Some(file) = vectors("rfc-vectors/rfc_vectors.json") else {
        return;
    };
    let cases = file["rfc4231_hmac"]["cases"].as_array().expect("cases");
    for case in cases {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &hex_of(case, "key_hex"));
        let data = hex_of(case, "data_hex");
        // Case 5 publishes a tag truncated to 128 bits: compare that prefix.
        let expected = hex_of(case, "hmac_sha256");
        let tag = hmac::sign(&key, &data);
        assert_eq!(
            &tag.as_ref()[..expected.len()],
            &expected[..],
            "case {}",
            case["test_case"]
        );
        if expected.len() == 32 {
            assert!(hmac::verify(&key, &data, &expected).is_ok());
        }
    }
    assert_eq!(cases.len(), 7);
}

#[test]
fn field_aad_layout_is_length_prefixed() {
    use super::FieldContext;
    let aad = raw::aad(&FieldContext::new("users", "email", "42"), "dk-1");
    let mut expected = Vec::new();
    for part in ["palisade.field.v1", "dk-1", "users", "email", "42"] {
        expected.extend((part.len() as u64).to_be_bytes());
        expected.extend(part.as_bytes());
    }
    assert_eq!(aad, expected);
    assert_ne!(
        raw::aad(&FieldContext::new("ab", "c", "1"), "k"),
        raw::aad(&FieldContext::new("a", "bc", "1"), "k")
    );
}
