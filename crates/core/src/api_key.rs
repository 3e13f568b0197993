//! API keys: `pal_` followed by 64 lowercase hex characters (256 bits from the OS CSPRNG). The
//! store never holds a key, only its HMAC-SHA256 under a server pepper, and looks keys up by that
//! hash; a stolen database without the pepper yields nothing to present or to brute-force.

use std::fmt;

use aws_lc_rs::hmac;
use secrecy::SecretString;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Every Palisade API key starts with this.
pub const PREFIX: &str = "pal_";

const HEX_LEN: usize = 64;
const KEY_LEN: usize = PREFIX.len() + HEX_LEN;
/// `pal_` and the first 8 hex characters: enough to tell keys apart in a list, 32 of 256 bits.
const DISPLAY_LEN: usize = PREFIX.len() + 8;

/// The server-side secret every key hash is computed under.
pub struct Pepper(hmac::Key);

impl Pepper {
    /// A pepper over `secret` (32 random bytes, stored wrapped by the gateway).
    pub fn new(secret: &[u8]) -> Self {
        Pepper(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// A freshly generated key: the plaintext is shown to its owner once, the hash is stored.
#[derive(Debug)]
pub struct NewApiKey {
    /// The key as its owner types it (`pal_` + 64 hex); never stored, never logged.
    pub plaintext: SecretString,
    /// HMAC-SHA256 of the plaintext under the [`Pepper`]: what the store keeps and looks up.
    pub hash: [u8; 32],
    /// `pal_` + the first 8 hex characters, for display only.
    pub prefix: String,
}

/// A new random key.
///
/// # Panics
/// If the operating system's random source fails, which leaves nothing safe to do.
pub fn generate(pepper: &Pepper) -> NewApiKey {
    let mut random = Zeroizing::new([0u8; HEX_LEN / 2]);
    aws_lc_rs::rand::fill(random.as_mut()).expect("the OS random source failed");
    let mut key = String::with_capacity(KEY_LEN);
    key.push_str(PREFIX);
    for b in random.iter() {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    NewApiKey {
        hash: hash(pepper, &key),
        prefix: display_prefix(&key),
        plaintext: key.into(),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Exactly `pal_` + 64 lowercase hex characters.
pub fn looks_like_key(presented: &str) -> bool {
    presented.len() == KEY_LEN
        && presented.starts_with(PREFIX)
        && presented.as_bytes()[PREFIX.len()..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// HMAC-SHA256 of the presented key under the pepper: the value stored and looked up.
pub fn hash(pepper: &Pepper, presented: &str) -> [u8; 32] {
    let tag = hmac::sign(&pepper.0, presented.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// `pal_` + the first 8 hex characters of a well-formed key; empty for anything else, so a
/// malformed (perhaps short, perhaps mistyped password) value is never echoed.
pub fn display_prefix(presented: &str) -> String {
    if looks_like_key(presented) {
        presented[..DISPLAY_LEN].to_owned()
    } else {
        String::new()
    }
}

/// Compares two key hashes in constant time.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn pepper() -> Pepper {
        Pepper::new(b"a test pepper that is long enough")
    }

    #[test]
    fn generated_keys_are_well_formed_and_hash_to_their_hash() {
        let key = generate(&pepper());
        let plain = key.plaintext.expose_secret();
        assert!(looks_like_key(plain), "{}", key.prefix);
        assert_eq!(key.prefix, &plain[..12]);
        assert_eq!(key.hash, hash(&pepper(), plain));
        assert!(hashes_equal(&key.hash, &hash(&pepper(), plain)));
    }

    #[test]
    fn generated_keys_differ() {
        let a = generate(&pepper());
        let b = generate(&pepper());
        assert_ne!(a.plaintext.expose_secret(), b.plaintext.expose_secret());
        assert!(!hashes_equal(&a.hash, &b.hash));
    }

    #[test]
    fn the_pepper_changes_the_hash() {
        let key = generate(&pepper());
        let other = Pepper::new(b"another pepper");
        assert_ne!(hash(&other, key.plaintext.expose_secret()), key.hash);
    }

    #[test]
    fn hash_is_hmac_sha256_rfc4231_case_2() {
        let digest = hash(&Pepper::new(b"Jefe"), "what do ya want for nothing?");
        assert_eq!(digest[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        assert_eq!(digest[28..], [0x64, 0xec, 0x38, 0x43]);
    }

    #[test]
    fn shape_check_is_exact() {
        let good = format!("pal_{}", "0123456789abcdef".repeat(4));
        assert!(looks_like_key(&good));
        for bad in [
            format!("pal_{}", "0123456789ABCDEF".repeat(4)),
            format!("pal_{}", "0123456789abcdeg".repeat(4)),
            format!("pal_{}0", "0123456789abcdef".repeat(4)),
            format!("pal_{}", &"0123456789abcdef".repeat(4)[1..]),
            format!("PAL_{}", "0123456789abcdef".repeat(4)),
            format!("pak_{}", "0123456789abcdef".repeat(4)),
            format!("pal_{}é", &"0123456789abcdef".repeat(4)[2..]),
            String::new(),
            "pal_".into(),
        ] {
            assert!(!looks_like_key(&bad), "{bad}");
        }
    }

    #[test]
    fn display_prefix_never_echoes_malformed_input() {
        let good = format!("pal_{}", "0123456789abcdef".repeat(4));
        assert_eq!(display_prefix(&good), "pal_01234567");
        assert_eq!(display_prefix("pal_hunter2"), "");
        assert_eq!(display_prefix("my password"), "");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let key = generate(&pepper());
        let printed = format!("{key:?} {:?}", pepper());
        assert!(!printed.contains(key.plaintext.expose_secret()));
        assert!(!printed.contains("test pepper"));
    }
}

/// The properties the `api_key` fuzz target checks (`fuzz/fuzz_targets/api_key.rs`), replayed
/// over the committed corpus by this crate's tests. The input is a presented key (`X-Api-Key`,
/// or a bearer token that starts with `pal_`).
#[doc(hidden)]
pub mod fuzz_props {
    use super::*;

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        let Ok(presented) = std::str::from_utf8(data) else {
            return;
        };
        let well_formed = looks_like_key(presented);
        // The shape rule, spelled out independently.
        let spec = presented.len() == 68
            && presented.strip_prefix("pal_").is_some_and(|hex| {
                hex.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            });
        assert_eq!(well_formed, spec, "{presented:?}");
        // A malformed value is never echoed; a well-formed one shows `pal_` + 8 characters.
        let shown = display_prefix(presented);
        if well_formed {
            assert_eq!(shown.len(), DISPLAY_LEN);
            assert!(presented.starts_with(&shown));
        } else {
            assert!(shown.is_empty(), "{presented:?} shown as {shown:?}");
        }
        // The lookup hash is a function of the presented bytes under the pepper.
        let pepper = Pepper::new(b"fuzz pepper, long enough for the test");
        let h = hash(&pepper, presented);
        assert!(hashes_equal(&h, &hash(&pepper, presented)));
        let mut other = presented.to_owned();
        other.push('0');
        assert!(!hashes_equal(&h, &hash(&pepper, &other)));
    }
}
