//! Field encryption and the keyring from the outside: round trips, the text format, binding to
//! table/column/row/key id, tampering, rotation and retirement, persistence under the master
//! key, and the blind index.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::crypto::{
    CryptoError, FieldContext, KeyState, Keyring, MasterKey, MasterKeyProvider, WrappedDataKey,
    key_id_of,
};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000;

fn master() -> MasterKey {
    MasterKey::from_bytes([1; 32])
}

fn ctx() -> FieldContext<'static> {
    FieldContext::new("users", "ssn", "42")
}

fn payload(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.rsplit_once('.').unwrap().1)
        .unwrap()
}

fn with_payload(text: &str, bytes: &[u8]) -> String {
    let (head, _) = text.rsplit_once('.').unwrap();
    format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[test]
fn round_trip_and_text_format() {
    let ring = Keyring::create(&master(), T0).unwrap();
    let text = ring.encrypt_field(&ctx(), b"078-05-1120");
    let id = ring.primary_id();
    assert!(id.starts_with("dk-") && id.len() == 39, "{id}");
    let uuid = uuid::Uuid::parse_str(&id[3..]).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
    let (secs, _) = uuid.get_timestamp().unwrap().to_unix();
    assert_eq!(secs, T0 / 1000);

    assert!(text.starts_with(&format!("pal1.{id}.")), "{text}");
    assert_eq!(key_id_of(&text), Some(id));
    assert_eq!(payload(&text).len(), 12 + 11 + 16);
    assert!(!text.contains('='));
    assert_eq!(
        &ring.decrypt_field(&ctx(), &text).unwrap()[..],
        b"078-05-1120"
    );

    let empty = ring.encrypt_field(&ctx(), b"");
    assert!(ring.decrypt_field(&ctx(), &empty).unwrap().is_empty());
}

#[test]
fn every_encryption_uses_a_fresh_nonce() {
    let ring = Keyring::create(&master(), T0).unwrap();
    let nonces: std::collections::HashSet<Vec<u8>> = (0..200)
        .map(|_| payload(&ring.encrypt_field(&ctx(), b"same"))[..12].to_vec())
        .collect();
    assert_eq!(nonces.len(), 200);
}

#[test]
fn a_value_moved_to_another_place_does_not_decrypt() {
    let ring = Keyring::create(&master(), T0).unwrap();
    let text = ring.encrypt_field(&FieldContext::new("ab", "c", "1"), b"secret");
    for other in [
        FieldContext::new("ab", "c", "2"),
        FieldContext::new("ab", "d", "1"),
        FieldContext::new("ax", "c", "1"),
        FieldContext::new("a", "bc", "1"),
        FieldContext::new("abc", "", "1"),
        FieldContext::new("ab", "c1", ""),
    ] {
        assert_eq!(
            ring.decrypt_field(&other, &text),
            Err(CryptoError::Decrypt),
            "{other:?}"
        );
    }
}

#[test]
fn any_flipped_byte_fails() {
    let ring = Keyring::create(&master(), T0).unwrap();
    let text = ring.encrypt_field(&ctx(), b"0123456789abcdef0123");
    let bytes = payload(&text);
    // Every byte of nonce, body and tag, every bit position.
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            let result = ring.decrypt_field(&ctx(), &with_payload(&text, &bad));
            assert_eq!(result, Err(CryptoError::Decrypt), "byte {i} bit {bit}");
        }
    }
    // Truncated or extended payloads.
    for len in [0, 11, 12, 27, 28, bytes.len() - 1] {
        let result = ring.decrypt_field(&ctx(), &with_payload(&text, &bytes[..len]));
        assert!(result.is_err(), "length {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        ring.decrypt_field(&ctx(), &with_payload(&text, &longer))
            .is_err()
    );
    // Every character of the text, replaced by any other printable ASCII character.
    for i in 0..text.len() {
        for c in b' '..=b'~' {
            if c == text.as_bytes()[i] {
                continue;
            }
            let mut bad = text.clone().into_bytes();
            bad[i] = c;
            let bad = String::from_utf8(bad).unwrap();
            assert!(ring.decrypt_field(&ctx(), &bad).is_err(), "{bad}");
        }
    }
}

#[test]
fn malformed_texts_are_refused() {
    let ring = Keyring::create(&master(), T0).unwrap();
    let id = ring.primary_id().to_string();
    for text in [
        String::new(),
        "pal1.".into(),
        format!("pal1.{id}"),
        format!("pal1.{id}."),
        format!("pal2.{id}.AAAA"),
        format!("pal1.{id}.!!!!"),
        format!("pal1.{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="),
        format!("pal1.{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x"),
        "pal1.a.b.c".into(),
    ] {
        assert!(ring.decrypt_field(&ctx(), &text).is_err(), "{text:?}");
    }
    assert_eq!(key_id_of("pal1.has.dot.x"), Some("has"));
    assert_eq!(key_id_of("pal1..x"), None);
    assert_eq!(key_id_of("pal1.a b.x"), None);
    assert_eq!(key_id_of(&format!("pal1.{}.x", "k".repeat(65))), None);
    assert_eq!(key_id_of("plain text"), None);
}

#[test]
fn rotation_keeps_old_values_readable_and_relabelling_fails() {
    let mut ring = Keyring::create(&master(), T0).unwrap();
    let old_id = ring.primary_id().to_string();
    let old = ring.encrypt_field(&ctx(), b"v1");
    let new_id = ring.rotate(T0 + 1_000).to_string();
    assert_ne!(old_id, new_id);
    assert_eq!(ring.primary_id(), new_id);
    let new = ring.encrypt_field(&ctx(), b"v2");
    assert_eq!(key_id_of(&new), Some(new_id.as_str()));
    assert_eq!(&ring.decrypt_field(&ctx(), &old).unwrap()[..], b"v1");
    assert_eq!(&ring.decrypt_field(&ctx(), &new).unwrap()[..], b"v2");
    let states: Vec<KeyState> = ring.keys().iter().map(|k| k.state).collect();
    assert_eq!(states, [KeyState::DecryptOnly, KeyState::Primary]);

    // The old ciphertext relabelled with the new key id, and the reverse.
    let relabelled = old.replacen(&old_id, &new_id, 1);
    assert_eq!(
        ring.decrypt_field(&ctx(), &relabelled),
        Err(CryptoError::Decrypt)
    );
    let relabelled = new.replacen(&new_id, &old_id, 1);
    assert_eq!(
        ring.decrypt_field(&ctx(), &relabelled),
        Err(CryptoError::Decrypt)
    );
    let unknown = old.replacen(&old_id, "dk-unknown", 1);
    assert!(matches!(
        ring.decrypt_field(&ctx(), &unknown),
        Err(CryptoError::UnknownKey { id }) if id == "dk-unknown"
    ));
}

#[test]
fn a_retired_key_cannot_decrypt_and_the_primary_cannot_be_retired() {
    let mut ring = Keyring::create(&master(), T0).unwrap();
    let old_id = ring.primary_id().to_string();
    let old = ring.encrypt_field(&ctx(), b"v1");
    assert!(matches!(
        ring.retire(&old_id),
        Err(CryptoError::RetirePrimary { .. })
    ));
    ring.rotate(T0 + 1);
    ring.retire(&old_id).unwrap();
    assert!(matches!(
        ring.decrypt_field(&ctx(), &old),
        Err(CryptoError::KeyRetired { id }) if id == old_id
    ));
    assert!(matches!(
        ring.retire("dk-nope"),
        Err(CryptoError::UnknownKey { .. })
    ));
    // Persisted and loaded again, it stays retired.
    let loaded = Keyring::load(&master(), &ring.wrapped_keys()).unwrap();
    assert!(matches!(
        loaded.decrypt_field(&ctx(), &old),
        Err(CryptoError::KeyRetired { .. })
    ));
}

#[test]
fn stored_keys_reload_only_under_the_same_master_key() {
    let mut ring = Keyring::create(&master(), T0).unwrap();
    let a = ring.encrypt_field(&ctx(), b"under the first key");
    ring.rotate(T0 + 1);
    let b = ring.encrypt_field(&ctx(), b"under the second key");
    let json = serde_json::to_string(&ring.wrapped_keys()).unwrap();
    assert!(json.contains("\"decrypt_only\"") && json.contains("\"primary\""));
    let stored: Vec<WrappedDataKey> = serde_json::from_str(&json).unwrap();
    assert!(stored.iter().all(|k| k.wrapped.len() == 60));

    let loaded = Keyring::load(&master(), &stored).unwrap();
    assert_eq!(loaded.primary_id(), ring.primary_id());
    assert_eq!(loaded.keys(), ring.keys());
    assert_eq!(
        &loaded.decrypt_field(&ctx(), &a).unwrap()[..],
        b"under the first key"
    );
    assert_eq!(
        &loaded.decrypt_field(&ctx(), &b).unwrap()[..],
        b"under the second key"
    );
    assert_eq!(
        loaded.blind_index().index("d", b"v"),
        ring.blind_index().index("d", b"v")
    );

    let other = MasterKey::from_bytes([2; 32]);
    assert!(matches!(
        Keyring::load(&other, &stored),
        Err(CryptoError::Unwrap { id }) if id == stored[0].id
    ));
    // A wrapped key moved under another id does not unwrap.
    let mut moved = stored.clone();
    moved[0].id = "dk-other".into();
    assert!(matches!(
        Keyring::load(&master(), &moved),
        Err(CryptoError::Unwrap { id }) if id == "dk-other"
    ));
    let mut flipped = stored.clone();
    flipped[1].wrapped[20] ^= 1;
    assert!(matches!(
        Keyring::load(&master(), &flipped),
        Err(CryptoError::Unwrap { .. })
    ));
    assert!(
        serde_json::from_str::<Vec<WrappedDataKey>>(&json.replacen(
            "\"state\"",
            "\"x\":1,\"state\"",
            1
        ))
        .is_err()
    );
}

#[test]
fn a_keyring_needs_one_primary_and_unique_well_formed_ids() {
    let mut ring = Keyring::create(&master(), T0).unwrap();
    ring.rotate(T0 + 1);
    let stored = ring.wrapped_keys();
    let invalid = |keys: Vec<WrappedDataKey>| {
        matches!(
            Keyring::load(&master(), &keys),
            Err(CryptoError::InvalidKeyring(_))
        )
    };
    let mut none = stored.clone();
    none[1].state = KeyState::DecryptOnly;
    assert!(invalid(none));
    let mut two = stored.clone();
    two[0].state = KeyState::Primary;
    assert!(invalid(two));
    assert!(invalid(vec![stored[1].clone(), stored[1].clone()]));
    let mut bad_id = stored.clone();
    bad_id[0].id = "dk.1".into();
    assert!(invalid(bad_id));
    assert!(invalid(Vec::new()));
}

#[derive(Debug)]
struct Unavailable;

impl MasterKeyProvider for Unavailable {
    fn master_key(&self) -> Result<MasterKey, CryptoError> {
        Err(CryptoError::MasterKeyUnavailable("kms unreachable".into()))
    }
}

#[test]
fn a_failing_provider_fails_the_keyring() {
    assert!(matches!(
        Keyring::create(&Unavailable, T0),
        Err(CryptoError::MasterKeyUnavailable(_))
    ));
    assert!(matches!(
        Keyring::load(&Unavailable, &[]),
        Err(CryptoError::MasterKeyUnavailable(_))
    ));
}

#[test]
fn debug_and_errors_show_no_secrets() {
    let ring = Keyring::create(&master(), T0).unwrap();
    let stored = ring.wrapped_keys();
    let debug = format!("{ring:?} {:?} {:?}", stored[0], master());
    assert!(debug.contains(ring.primary_id()));
    assert!(!debug.contains("wrapped:"), "{debug}");
    assert!(!debug.contains(&format!("{:?}", &stored[0].wrapped[..8])));
    let text = ring.encrypt_field(&ctx(), b"PLAINTEXT-MARKER");
    let err = ring
        .decrypt_field(&FieldContext::new("users", "ssn", "43"), &text)
        .unwrap_err();
    assert_eq!(err.to_string(), "decryption failed");
    assert_eq!(format!("{err:?}"), "Decrypt");
}

#[test]
fn blind_index_known_answer_from_the_master_key() {
    // Computed independently with Python's hmac/hashlib: HKDF-SHA256(salt "palisade.master.v1",
    // ikm = 32 bytes of 0x01, info "palisade.blind-index.v1") as the key, then
    // HMAC-SHA256(key, u64be(11) || "users.email" || "ann@example.com"), base64url no padding.
    let ring = Keyring::create(&master(), T0).unwrap();
    assert_eq!(
        ring.blind_index().index("users.email", b"ann@example.com"),
        "m2Wlnv6jMkTEkhArIIETMMaibqotF3jvEO7EOZyRWOg"
    );
    let other = Keyring::create(&MasterKey::from_bytes([2; 32]), T0).unwrap();
    assert_ne!(
        other.blind_index().index("users.email", b"ann@example.com"),
        "m2Wlnv6jMkTEkhArIIETMMaibqotF3jvEO7EOZyRWOg"
    );
}

#[test]
fn keyring_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Keyring>();
    assert_send_sync::<palisade_core::crypto::Fernet>();
}

proptest! {
    #[test]
    fn any_value_round_trips_only_in_its_own_place(
        value in proptest::collection::vec(any::<u8>(), 0..2048),
        table in "\\PC{0,12}",
        column in "\\PC{0,12}",
        row in "\\PC{0,24}",
        other_row in "\\PC{0,24}",
    ) {
        let ring = Keyring::create(&master(), T0).unwrap();
        let here = FieldContext::new(&table, &column, &row);
        let text = ring.encrypt_field(&here, &value);
        prop_assert_eq!(&ring.decrypt_field(&here, &text).unwrap()[..], &value[..]);
        prop_assert_eq!(key_id_of(&text), Some(ring.primary_id()));
        if other_row != row {
            let there = FieldContext::new(&table, &column, &other_row);
            prop_assert_eq!(ring.decrypt_field(&there, &text), Err(CryptoError::Decrypt));
        }
    }
}
