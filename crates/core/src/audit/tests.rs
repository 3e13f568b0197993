use super::*;
use std::collections::BTreeMap;

fn record(seq: u64) -> AuditRecord {
    AuditRecord {
        seq,
        id: format!("0193a5c2-7d1e-7c3a-9f00-{seq:012}"),
        ts_ms: 1_700_000_000_000 + seq as i64,
        event_type: "auth.login_failure".into(),
        risk: Risk::Medium,
        actor: None,
        action: Some("login".into()),
        resource_type: Some("account".into()),
        resource_id: Some(format!("user-{seq}")),
        tenant: None,
        result: Outcome::Failure,
        client_ip: Some("203.0.113.9".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some(format!("req-{seq}")),
        details: serde_json::json!({"reason": "wrong password", "attempt": seq}),
        source: Default::default(),
        prev_hash: [0; 32],
        hash: [0; 32],
    }
}

fn trail(n: u64) -> Vec<AuditRecord> {
    let mut prev = GENESIS;
    (1..=n)
        .map(|seq| {
            let mut r = record(seq);
            r.link(prev);
            prev = r.hash;
            r
        })
        .collect()
}

fn signer() -> (CheckpointSigner, BTreeMap<String, Vec<u8>>) {
    let (s, _) = CheckpointSigner::generate("audit-1").unwrap();
    let keys = BTreeMap::from([(s.kid().to_string(), s.public_key())]);
    (s, keys)
}

fn check(
    records: &[AuditRecord],
    cps: &[Checkpoint],
    keys: &BTreeMap<String, Vec<u8>>,
) -> Result<Verified, Broken> {
    verify(records, cps, keys, false)
}

#[test]
fn canonical_json_sorts_keys_at_every_depth() {
    let a = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "é\n"}], "c": null}});
    assert_eq!(
        canonical_json(&a),
        r#"{"a":{"c":null,"d":[1,{"y":"é\n","z":0}]},"b":1}"#
    );
}

#[test]
fn an_intact_trail_verifies_with_its_count() {
    let (s, keys) = signer();
    let t = trail(10);
    let cps = [s.sign(5, t[4].hash, 1), s.sign(10, t[9].hash, 2)];
    let ok = check(&t, &cps, &keys).unwrap();
    assert_eq!(
        (ok.count, ok.first_seq, ok.last_seq, ok.checkpoints),
        (10, Some(1), Some(10), 2)
    );
}

#[test]
fn changing_any_field_of_one_record_names_it() {
    let (_, keys) = signer();
    for field in 0..5 {
        let mut t = trail(10);
        match field {
            0 => t[6].details["reason"] = "nothing to see".into(),
            1 => t[6].result = Outcome::Success,
            2 => t[6].ts_ms += 1,
            3 => t[6].source = Source::App,
            _ => t[6].actor = Some("someone-else".into()),
        }
        assert_eq!(check(&t, &[], &keys).unwrap_err().seq, 7, "field {field}");
    }
}

#[test]
fn rewriting_a_record_and_rehashing_the_rest_is_caught_by_a_checkpoint() {
    let (s, keys) = signer();
    let original = trail(10);
    let cp = s.sign(10, original[9].hash, 1);
    let mut forged = original.clone();
    forged[3].result = Outcome::Success;
    let mut prev = forged[2].hash;
    for r in &mut forged[3..] {
        r.link(prev);
        prev = r.hash;
    }
    assert!(
        check(&forged, &[], &keys).is_ok(),
        "without a checkpoint a rehash is consistent"
    );
    assert_eq!(check(&forged, &[cp], &keys).unwrap_err().seq, 10);
}

#[test]
fn deleting_inserting_or_reordering_names_the_place() {
    let (_, keys) = signer();
    let mut deleted = trail(10);
    deleted.remove(4);
    assert_eq!(check(&deleted, &[], &keys).unwrap_err().seq, 5);

    let mut inserted = trail(10);
    let mut extra = record(5);
    extra.link(inserted[3].hash);
    inserted.insert(4, extra);
    assert_eq!(check(&inserted, &[], &keys).unwrap_err().seq, 5);

    let mut reordered = trail(10);
    reordered.swap(2, 3);
    assert_eq!(check(&reordered, &[], &keys).unwrap_err().seq, 3);

    let mut renumbered = trail(10);
    renumbered.swap(2, 3);
    renumbered[2].seq = 3;
    renumbered[3].seq = 4;
    assert_eq!(check(&renumbered, &[], &keys).unwrap_err().seq, 3);

    let mut first_gone = trail(10);
    first_gone.remove(0);
    assert_eq!(check(&first_gone, &[], &keys).unwrap_err().seq, 1);
}

#[test]
fn truncating_the_tail_is_caught_by_a_later_checkpoint() {
    let (s, keys) = signer();
    let t = trail(10);
    let cp = s.sign(10, t[9].hash, 1);
    let err = check(&t[..7], std::slice::from_ref(&cp), &keys).unwrap_err();
    assert_eq!(err.seq, 8);
    assert!(err.reason.contains("10"), "{err}");
    assert_eq!(
        check(&[], &[cp], &keys).unwrap_err().seq,
        1,
        "an emptied trail too"
    );
}

#[test]
fn a_forged_or_unknown_checkpoint_fails() {
    let (s, keys) = signer();
    let t = trail(4);
    let mut cp = s.sign(4, t[3].hash, 1);
    cp.seq = 3;
    assert_eq!(check(&t, &[cp], &keys).unwrap_err().seq, 3);
    let (other, _) = CheckpointSigner::generate("audit-2").unwrap();
    let stranger = other.sign(4, t[3].hash, 1);
    assert!(
        check(&t, &[stranger], &keys).is_err(),
        "a key we do not know vouches for nothing"
    );
}

#[test]
fn a_purged_prefix_verifies_only_when_a_checkpoint_vouches_for_the_cut() {
    let (s, keys) = signer();
    let t = trail(10);
    let at_cut = s.sign(4, t[3].hash, 1);
    let ok = check(&t[4..], &[at_cut], &keys).unwrap();
    assert_eq!((ok.count, ok.first_seq), (6, Some(5)));
    assert_eq!(check(&t[4..], &[], &keys).unwrap_err().seq, 1);
    let elsewhere = s.sign(2, t[1].hash, 1);
    assert_eq!(check(&t[4..], &[elsewhere], &keys).unwrap_err().seq, 3);
    assert!(
        verify(&t[4..], &[], &keys, true).is_ok(),
        "--from trusts the starting point"
    );
}

#[test]
fn records_round_trip_through_json_and_the_taxonomy_is_documented() {
    let t = trail(2);
    let json = serde_json::to_string(&t[1]).unwrap();
    let back: AuditRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t[1]);
    assert!(taxonomy::EVENT_TYPES.len() >= 30);
    let mut names: Vec<_> = taxonomy::EVENT_TYPES.iter().map(|t| t.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), taxonomy::EVENT_TYPES.len(), "no type twice");
    assert_eq!(
        taxonomy::find("audit.purged").unwrap().class,
        taxonomy::Class::Security
    );
}

#[test]
fn the_source_is_hashed_only_when_it_is_not_palisade() {
    let r = record(1);
    let text = String::from_utf8(r.canonical()).unwrap();
    assert!(!text.contains("\"source\""), "{text}");
    let mut app = record(1);
    app.source = Source::App;
    let text = String::from_utf8(app.canonical()).unwrap();
    assert!(text.contains("\"source\":\"app\""), "{text}");
    // A record stored before the field existed reads back as Palisade's.
    let mut old = serde_json::to_value(&r).unwrap();
    old.as_object_mut().unwrap().remove("source");
    let back: AuditRecord = serde_json::from_value(old).unwrap();
    assert_eq!(back.source, Source::Palisade);
    assert_eq!(back.canonical(), r.canonical());
}
