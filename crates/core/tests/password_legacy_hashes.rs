//! Known answers for every stored-hash format Palisade verifies: hashes made by the reference
//! implementations (Python's bcrypt, argon2-cffi, passlib, Django's own hashers) by
//! `scripts/gen-hash-fixtures`, committed in `fixtures/legacy_hashes.json`. Plus: what the
//! `scrypt` crate writes, garbage that must be refused with a named format and never panic, and
//! costs above the bounds refused at parse.

use palisade_core::password::{
    Format, FormatError, HashParams, MAX_PBKDF2_ITERATIONS, PasswordHasher, Verification,
    hash_format,
};
use serde_json::Value;

const FIXTURES: &str = include_str!("fixtures/legacy_hashes.json");

fn hasher() -> PasswordHasher {
    PasswordHasher::new(HashParams::default()).unwrap()
}

fn fixtures() -> Vec<(String, String, String)> {
    let doc: Value = serde_json::from_str(FIXTURES).unwrap();
    doc["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let field = |k: &str| row[k].as_str().unwrap().to_string();
            (field("format"), field("password"), field("hash"))
        })
        .collect()
}

/// The same password with its last character changed.
fn last_char_changed(password: &str) -> String {
    let mut chars: Vec<char> = password.chars().collect();
    let last = chars.pop().unwrap();
    chars.push(if last == 'z' { 'y' } else { 'z' });
    chars.into_iter().collect()
}

#[test]
fn every_fixture_verifies_and_refuses_wrong_passwords() {
    let hasher = hasher();
    let rows = fixtures();
    let mut formats = std::collections::BTreeSet::new();
    for (format, password, stored) in &rows {
        let parsed = hash_format(stored).unwrap_or_else(|e| panic!("{stored}: {e}"));
        assert_eq!(parsed.name(), format, "{stored}");
        formats.insert(parsed.name());
        assert!(PasswordHasher::can_verify(stored), "{stored}");

        // Palisade's own parameters are the only hash not to be replaced.
        let current = stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$");
        assert_eq!(parsed.is_legacy(), format != "argon2");
        assert_eq!(
            hasher.verify(password, stored),
            Verification::Valid {
                needs_rehash: !current
            },
            "{format} {stored}"
        );
        for wrong in [
            last_char_changed(password),
            password
                .chars()
                .take(password.chars().count() - 1)
                .collect(),
        ] {
            assert_eq!(
                hasher.verify(&wrong, stored),
                Verification::Invalid,
                "{format} {stored} accepted {wrong:?}"
            );
        }
    }
    // Every format, from its reference implementation.
    let expected = [
        "argon2",
        "bcrypt",
        "django-pbkdf2-sha1",
        "django-pbkdf2-sha256",
        "django-pbkdf2-sha512",
        "django-scrypt",
        "passlib-pbkdf2-sha1",
        "passlib-pbkdf2-sha256",
        "passlib-pbkdf2-sha512",
        "scrypt",
    ];
    assert_eq!(formats.into_iter().collect::<Vec<_>>(), expected);
    assert!(rows.len() >= 2 * expected.len());
}

#[test]
fn a_changed_hash_byte_refuses_the_right_password() {
    let hasher = hasher();
    // One row per format is enough: flip one character of the hash's last field.
    let mut seen = std::collections::HashSet::new();
    for (format, password, stored) in fixtures() {
        if !seen.insert(format.clone()) {
            continue;
        }
        let field_start = stored.rfind('$').unwrap() + 1;
        let i = field_start + 2;
        let mut bytes = stored.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            hasher.verify(&password, &tampered),
            Verification::Invalid,
            "{format} {tampered}"
        );
    }
}

#[test]
fn what_the_scrypt_crate_writes_verifies() {
    use scrypt::password_hash::PasswordHasher as _;
    let params = scrypt::Params::new(10, 8, 1).unwrap();
    let stored = scrypt::Scrypt::new_with_params(params)
        .hash_password_with_salt(b"from the scrypt crate", b"sixteen byte slt")
        .unwrap()
        .to_string();
    assert!(stored.starts_with("$scrypt$ln=10,r=8,p=1$"), "{stored}");
    assert_eq!(hash_format(&stored), Ok(Format::Scrypt));
    assert_eq!(
        hasher().verify("from the scrypt crate", &stored),
        Verification::Valid { needs_rehash: true }
    );
    assert_eq!(
        hasher().verify("from the scrypt crats", &stored),
        Verification::Invalid
    );
}

#[test]
fn passlib_documented_scrypt_vector() {
    // passlib's documentation example (ln=16: 64 MiB, within the bound).
    let stored =
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
    assert_eq!(
        hasher().verify("password", stored),
        Verification::Valid { needs_rehash: true }
    );
    assert_eq!(hasher().verify("passwore", stored), Verification::Invalid);
}

fn unsupported(stored: &str) -> String {
    match hash_format(stored) {
        Err(FormatError::Unsupported(name)) => name,
        other => panic!("{stored:?}: {other:?}"),
    }
}

#[test]
fn unknown_formats_are_named() {
    let table = [
        ("", "empty"),
        ("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "md5-crypt ($1$)"),
        (
            "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
            "Apache md5-crypt ($apr1$)",
        ),
        (
            "$5$rounds=5000$salt$Gbt/HbmsmRZjUs5ruCp4tNEfkVF7Ov4hwTWaOnNqV00",
            "sha256-crypt ($5$)",
        ),
        (
            "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
            "sha512-crypt ($6$)",
        ),
        (
            "$2x$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK",
            "bcrypt with the pre-2011 crypt_blowfish bug ($2x$)",
        ),
        (
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
            "yescrypt ($y$)",
        ),
        (
            "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D",
            "scrypt in libsodium's format ($7$)",
        ),
        ("$P$984478476IagS59wHZvyQMArzfx58u.", "phpass ($P$)"),
        (
            "$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2",
            "passlib bcrypt-sha256 ($bcrypt-sha256$)",
        ),
        (
            "$pbkdf2-sha384$1000$c2FsdA$aGFzaA",
            "PBKDF2 with an unsupported digest",
        ),
        (
            "bcrypt_sha256$$2b$12$LZSJchsWGZaS8/a6dQy6ouf9ZDE5E.8QOYO6PzPTHdgCO8RPX6HMO",
            "Django bcrypt_sha256",
        ),
        (
            "bcrypt$$2b$12$LZSJchsWGZaS8/a6dQy6ouf9ZDE5E.8QOYO6PzPTHdgCO8RPX6HMO",
            "Django bcrypt",
        ),
        (
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA",
            "Django argon2",
        ),
        (
            "pbkdf2_sha384$1000$salt$aGFzaA==",
            "Django-style PBKDF2 with an unsupported digest",
        ),
        (
            "sha1$salt$0123456789abcdef0123456789abcdef01234567",
            "Django salted sha1",
        ),
        (
            "md5$salt$0123456789abcdef0123456789abcdef",
            "Django salted md5",
        ),
        ("!XyZ", "Django unusable password (!)"),
        ("{SSHA}abcdefghijklmnopqrstuvwxyz01", "LDAP {SSHA}"),
        ("{ssha512}abc", "LDAP {SSHA512}"),
        (
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "plain hex digest (32 digits, MD5?)",
        ),
        (
            "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
            "plain hex digest (40 digits, SHA-1?)",
        ),
        (
            "5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8",
            "plain hex digest (64 digits, SHA-256?)",
        ),
        ("abc123", "plain hex digest (6 digits)"),
        (
            "$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$YHcz6ynqVzf1OqO64QHmm4Kl3Mo5Wbh/O6Y7pVaiI8k",
            "argon2 of an unknown variant",
        ),
        ("$custom$abc", "unknown modular crypt format ($custom$)"),
        ("hunter2", "unrecognized"),
        ("$", "unrecognized"),
        ("$$$$", "unrecognized"),
        (
            " $2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK",
            "surrounded by whitespace",
        ),
    ];
    for (stored, name) in table {
        assert_eq!(unsupported(stored), name, "{stored:?}");
        assert!(!PasswordHasher::can_verify(stored), "{stored:?}");
        assert_eq!(hasher().verify("pw", stored), Verification::Invalid);
        // The report names the format and never repeats the string.
        let text = hash_format(stored).unwrap_err().to_string();
        assert!(
            text.starts_with("unsupported password hash format: "),
            "{text}"
        );
        if stored.len() > 8 {
            assert!(!text.contains(stored), "{text}");
        }
    }
}

/// A format that was recognized but cannot be verified, and its reason.
fn refusal(stored: &str) -> (Format, bool) {
    match hash_format(stored) {
        Err(FormatError::Malformed { format, .. }) => (format, false),
        Err(FormatError::TooCostly { format, .. }) => (format, true),
        other => panic!("{stored:?}: {other:?}"),
    }
}

#[test]
fn garbled_hashes_are_malformed_and_never_panic() {
    let huge = format!("pbkdf2_sha256$1000${}$aGFzaA==", "s".repeat(1 << 20));
    let huge_b64 = format!("$scrypt$ln=4,r=8,p=1${}$aGFzaA", "A".repeat(1 << 20));
    let table: Vec<(&str, Format)> = vec![
        // Django PBKDF2: missing fields, non-numeric or zero iterations, base64 errors, lengths.
        ("pbkdf2_sha256$", Format::DjangoPbkdf2Sha256),
        ("pbkdf2_sha256$$$", Format::DjangoPbkdf2Sha256),
        ("pbkdf2_sha256$36000$salt", Format::DjangoPbkdf2Sha256),
        ("pbkdf2_sha256$36000$salt$", Format::DjangoPbkdf2Sha256),
        (
            "pbkdf2_sha256$abc$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha256$-1$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha256$+1000$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha256$0$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha256$1e6$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha256$36000$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha256$36000$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=$",
            Format::DjangoPbkdf2Sha256,
        ),
        ("pbkdf2_sha256$36000$salt$!!!!", Format::DjangoPbkdf2Sha256),
        (
            "pbkdf2_sha256$36000$salt$aGFzaA==",
            Format::DjangoPbkdf2Sha256,
        ),
        (
            "pbkdf2_sha1$36000$salt$hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=",
            Format::DjangoPbkdf2Sha1,
        ),
        ("pbkdf2_sha512$", Format::DjangoPbkdf2Sha512),
        (&huge, Format::DjangoPbkdf2Sha256),
        // passlib PBKDF2.
        ("$pbkdf2-sha256$", Format::PasslibPbkdf2Sha256),
        (
            "$pbkdf2-sha256$29000$irG2dg6BEEIo5XxvTSml9A",
            Format::PasslibPbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha256$29000$irG2dg6BEEIo5XxvTSml9A$",
            Format::PasslibPbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha256$x$irG2dg6BEEIo5XxvTSml9A$zVYp.vN1Yu23vt9uvkLhQJWO6Dzry5HjNHS92GZJ2sI",
            Format::PasslibPbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha256$29000$irG2dg6BEEIo5XxvTSml9A=$zVYp.vN1Yu23vt9uvkLhQJWO6Dzry5HjNHS92GZJ2sI",
            Format::PasslibPbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha256$29000$irG2dg6BEEIo5XxvTSml9A$zVYp.vN1Yu23vt9uvkLhQJWO6Dzry5HjNHS92GZJ2s",
            Format::PasslibPbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha256$29000$ir*2dg6BEEIo5XxvTSml9A$zVYp.vN1Yu23vt9uvkLhQJWO6Dzry5HjNHS92GZJ2sI",
            Format::PasslibPbkdf2Sha256,
        ),
        (
            "$pbkdf2-sha512$25000$bW0t5dybs9ZaC2EM4ZwzJg$zVYp.vN1Yu23vt9uvkLhQJWO6Dzry5HjNHS92GZJ2sI$",
            Format::PasslibPbkdf2Sha512,
        ),
        ("$pbkdf2$", Format::PasslibPbkdf2Sha1),
        // scrypt, PHC and Django.
        ("$scrypt$", Format::Scrypt),
        (
            "$scrypt$ln=14,r=8$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=14,r=8,p=1,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=14,r=8,p=1,x=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=14,r=8,p$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=0,r=8,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=14,r=0,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=a,r=8,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        (
            "$scrypt$ln=14,r=8,p=1$c2FsdA==$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ",
            Format::Scrypt,
        ),
        ("$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA", Format::Scrypt),
        (
            "$scrypt$ln=14,r=8,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ$",
            Format::Scrypt,
        ),
        (&huge_b64, Format::Scrypt),
        ("scrypt$", Format::DjangoScrypt),
        ("scrypt$16384$salt$8$1", Format::DjangoScrypt),
        (
            "scrypt$16383$salt$8$1$8dSCwdfoQiB3Mb4s1QzD0nzMsLALpCzRFgCFrgAuFMeZ4cEstruoEkAig0BFREY85JsUqDtcw96kFjJ69uOF6g==",
            Format::DjangoScrypt,
        ),
        (
            "scrypt$1$salt$8$1$8dSCwdfoQiB3Mb4s1QzD0nzMsLALpCzRFgCFrgAuFMeZ4cEstruoEkAig0BFREY85JsUqDtcw96kFjJ69uOF6g==",
            Format::DjangoScrypt,
        ),
        (
            "scrypt$16384$salt$8$x$8dSCwdfoQiB3Mb4s1QzD0nzMsLALpCzRFgCFrgAuFMeZ4cEstruoEkAig0BFREY85JsUqDtcw96kFjJ69uOF6g==",
            Format::DjangoScrypt,
        ),
        // bcrypt and argon2: truncated, bad cost, non-ASCII.
        ("$2b$", Format::Bcrypt),
        ("$2b$04$short", Format::Bcrypt),
        (
            "$2b$99$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK",
            Format::Bcrypt,
        ),
        (
            "$2b$03$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK",
            Format::Bcrypt,
        ),
        (
            "$2b$4$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNKx",
            Format::Bcrypt,
        ),
        (
            "$2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBN\u{e9}",
            Format::Bcrypt,
        ),
        (
            "$2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwB",
            Format::Bcrypt,
        ),
        ("$argon2id$", Format::Argon2),
        ("$argon2id$v=19$m=64,t=1,p=1$", Format::Argon2),
        (
            "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            Format::Argon2,
        ),
        (
            "$argon2id$v=99$m=64,t=1,p=1$c2FsdHNhbHQ$YHcz6ynqVzf1OqO64QHmm4Kl3Mo5Wbh/O6Y7pVaiI8k",
            Format::Argon2,
        ),
    ];
    for (stored, format) in table {
        assert_eq!(refusal(stored), (format, false), "{:.120}", stored);
        assert!(!PasswordHasher::can_verify(stored));
        assert_eq!(hasher().verify("pw", stored), Verification::Invalid);
    }
}

#[test]
fn fuzz_like_garbage_never_panics() {
    let hasher = hasher();
    let prefixes = [
        "",
        "$",
        "$2b$",
        "$2b$04$",
        "$argon2id$",
        "$argon2id$v=19$",
        "pbkdf2_sha256$",
        "pbkdf2_sha512$1$",
        "$pbkdf2-sha256$1$",
        "$pbkdf2$1$$",
        "$scrypt$",
        "$scrypt$ln=1,r=1,p=1$",
        "scrypt$",
        "scrypt$2$$1$1$",
        "{SSHA}",
        "!",
    ];
    let tails = [
        "",
        "$",
        "$$",
        "$$$$$$$$",
        "\0",
        "\u{fffd}\u{fffd}",
        "é$é$é",
        "=",
        "====",
        "..",
        "/+",
        "4294967296$a$b",
        "18446744073709551616$$",
        "99999999999999999999$x$y",
        "ln=99999999999,r=1,p=1$$",
        "ln=63,r=4294967295,p=4294967295$YQ$YWFhYWFhYWFhYWFhYWFhYQ",
        "1$$YWFhYWFhYWFhYWFhYWFhYQ",
        "1$YQ$YWFhYWFhYWFhYWFhYWFhYQ",
        "9223372036854775808$s$8$1$YWFhYWFhYWFhYWFhYWFhYQ==",
    ];
    for prefix in prefixes {
        for tail in tails {
            let stored = format!("{prefix}{tail}");
            let _ = hash_format(&stored);
            let _ = PasswordHasher::can_verify(&stored);
            let _ = hasher.verify("pw", &stored);
        }
    }
    // Huge inputs: parsed without hashing anything.
    for stored in [
        "$".repeat(1 << 16),
        "A".repeat(1 << 20),
        "\u{1F600}".repeat(1 << 14),
    ] {
        assert!(hash_format(&stored).is_err());
        assert_eq!(hasher.verify("pw", &stored), Verification::Invalid);
    }
}

#[test]
fn costs_above_the_bounds_are_refused_at_parse() {
    let over = MAX_PBKDF2_ITERATIONS + 1;
    let at = MAX_PBKDF2_ITERATIONS;
    let django_key = "hmfUKpZeON9NPHoFP6P/6o3Gs6oUqA6HiMK3SkH/a6k=";
    let passlib_key = "zVYp.vN1Yu23vt9uvkLhQJWO6Dzry5HjNHS92GZJ2sI";
    let refused = [
        (format!("pbkdf2_sha256${over}$salt${django_key}"), Format::DjangoPbkdf2Sha256),
        (format!("pbkdf2_sha256$4294967295$salt${django_key}"), Format::DjangoPbkdf2Sha256),
        (format!("pbkdf2_sha256$9999999999$salt${django_key}"), Format::DjangoPbkdf2Sha256),
        (format!("$pbkdf2-sha256${over}$c2FsdA${passlib_key}"), Format::PasslibPbkdf2Sha256),
        // 512 MiB of scrypt work in each spelling: ln one above, p = 2, r = 16.
        ("$scrypt$ln=19,r=8,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ".into(), Format::Scrypt),
        ("$scrypt$ln=18,r=8,p=2$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ".into(), Format::Scrypt),
        ("$scrypt$ln=18,r=16,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ".into(), Format::Scrypt),
        ("$scrypt$ln=63,r=4294967295,p=4294967295$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ".into(), Format::Scrypt),
        ("scrypt$1048576$salt$8$1$8dSCwdfoQiB3Mb4s1QzD0nzMsLALpCzRFgCFrgAuFMeZ4cEstruoEkAig0BFREY85JsUqDtcw96kFjJ69uOF6g==".into(), Format::DjangoScrypt),
        ("$2b$17$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK".into(), Format::Bcrypt),
        ("$2b$31$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK".into(), Format::Bcrypt),
        ("$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$YHcz6ynqVzf1OqO64QHmm4Kl3Mo5Wbh/O6Y7pVaiI8k".into(), Format::Argon2),
        ("$argon2id$v=19$m=65536,t=17,p=1$c2FsdHNhbHQ$YHcz6ynqVzf1OqO64QHmm4Kl3Mo5Wbh/O6Y7pVaiI8k".into(), Format::Argon2),
    ];
    let hasher = hasher();
    for (stored, format) in &refused {
        assert_eq!(refusal(stored), (*format, true), "{stored}");
        assert!(!PasswordHasher::can_verify(stored));
        // Refused before any hashing: verification is as cheap as for garbage.
        assert_eq!(hasher.verify("pw", stored), Verification::Invalid);
        let text = hash_format(stored).unwrap_err().to_string();
        assert!(text.contains("costs more than Palisade verifies"), "{text}");
    }
    // At the bound they parse (no hashing is done here).
    let accepted = [
        (format!("pbkdf2_sha256${at}$salt${django_key}"), Format::DjangoPbkdf2Sha256),
        (format!("$pbkdf2-sha256${at}$c2FsdA${passlib_key}"), Format::PasslibPbkdf2Sha256),
        ("$scrypt$ln=18,r=8,p=1$c2FsdA$pLzhNkO+nfkv2oL8pROjFPSyBX110gC3ed+A2mWXzKQ".into(), Format::Scrypt),
        ("$2b$16$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK".into(), Format::Bcrypt),
        ("$argon2id$v=19$m=262144,t=4,p=1$c2FsdHNhbHQ$YHcz6ynqVzf1OqO64QHmm4Kl3Mo5Wbh/O6Y7pVaiI8k".into(), Format::Argon2),
    ];
    for (stored, format) in &accepted {
        assert_eq!(hash_format(stored), Ok(*format), "{stored}");
    }
}
