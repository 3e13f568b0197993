//! API keys imported from another system by the hash it stored (`palisade key import`): the
//! formats Palisade verifies, parsed strictly before anything is stored, and their verification.
//!
//! Formats: bcrypt (`$2a$`, `$2b$`, `$2y$`, any cost up to the password module's bound),
//! `sha256:<64 hex>`, `sha512:<128 hex>` (the digest of the whole presented key) and
//! `hmac-sha256:<64 hex>` (HMAC-SHA256 of the key under the other system's pepper). An HMAC
//! hash is stored as `hmac-sha256:<pepper id>:<64 hex>`, naming the pepper it needs by a
//! fingerprint ([`pepper_id`]); the pepper itself is kept wrapped by the gateway.
//!
//! Guarantees: a garbled, over-costly or unknown string is refused when parsed (an import file
//! is input), never at a request; digests compare in constant time; bcrypt never matches a key
//! longer than the 72 bytes it reads. Nothing here stores or logs a key.

use crate::fingerprint::hex;
use aws_lc_rs::{digest, hmac};
use subtle::ConstantTimeEq;

/// The longest presented key Palisade looks at (bytes); longer values are malformed.
pub const MAX_KEY_LEN: usize = 256;
/// The shortest lookup prefix an imported key may have.
pub const MIN_PREFIX_LEN: usize = 8;
const BCRYPT_MAX_BYTES: usize = 72;

/// A stored hash of an imported key.
#[derive(Clone, PartialEq, Eq)]
pub enum LegacyHash {
    /// A bcrypt string (`$2a$`, `$2b$`, `$2y$`).
    Bcrypt(String),
    /// SHA-256 of the key.
    Sha256([u8; 32]),
    /// SHA-512 of the key.
    Sha512([u8; 64]),
    /// HMAC-SHA256 of the key under a pepper; `pepper` is its [`pepper_id`] once stored.
    HmacSha256 {
        /// The pepper's fingerprint (`None` in an import file, before the pepper is known).
        pepper: Option<String>,
        /// The MAC.
        mac: [u8; 32],
    },
}

impl std::fmt::Debug for LegacyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.format_name())
    }
}

fn hex_bytes<const N: usize>(text: &str) -> Result<[u8; N], String> {
    if text.len() != 2 * N {
        return Err(format!("expected {} hex characters", 2 * N));
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = hi << 4 | lo,
            _ => return Err("not hex".to_string()),
        }
    }
    Ok(out)
}

impl LegacyHash {
    /// Parses a hash as an import file or the store holds it; the error says what is wrong
    /// (never echoing the value).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = ["$2a$", "$2b$", "$2y$"]
            .iter()
            .find_map(|p| text.starts_with(p).then_some(text))
        {
            crate::password::hash::bcrypt_cost_checked(rest).map_err(|e| format!("bcrypt: {e}"))?;
            return Ok(Self::Bcrypt(text.to_string()));
        }
        if let Some(hex) = text.strip_prefix("sha256:") {
            return Ok(Self::Sha256(
                hex_bytes(hex).map_err(|e| format!("sha256: {e}"))?,
            ));
        }
        if let Some(hex) = text.strip_prefix("sha512:") {
            return Ok(Self::Sha512(
                hex_bytes(hex).map_err(|e| format!("sha512: {e}"))?,
            ));
        }
        if let Some(rest) = text.strip_prefix("hmac-sha256:") {
            let (pepper, hex) = match rest.split_once(':') {
                Some((id, hex)) if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    (Some(id.to_string()), hex)
                }
                Some(_) => return Err("hmac-sha256: malformed pepper id".into()),
                None => (None, rest),
            };
            let mac = hex_bytes(hex).map_err(|e| format!("hmac-sha256: {e}"))?;
            return Ok(Self::HmacSha256 { pepper, mac });
        }
        Err("unknown hash format (expected $2a$/$2b$/$2y$ bcrypt, sha256:, sha512: or hmac-sha256:)".into())
    }

    /// The text the store keeps (an HMAC hash names its pepper once known).
    pub fn to_stored(&self) -> String {
        match self {
            Self::Bcrypt(s) => s.clone(),
            Self::Sha256(d) => format!("sha256:{}", hex(d)),
            Self::Sha512(d) => format!("sha512:{}", hex(d)),
            Self::HmacSha256 { pepper, mac } => match pepper {
                Some(id) => format!("hmac-sha256:{id}:{}", hex(mac)),
                None => format!("hmac-sha256:{}", hex(mac)),
            },
        }
    }

    /// `bcrypt`, `sha256`, `sha512` or `hmac-sha256`.
    pub fn format_name(&self) -> &'static str {
        match self {
            Self::Bcrypt(_) => "bcrypt",
            Self::Sha256(_) => "sha256",
            Self::Sha512(_) => "sha512",
            Self::HmacSha256 { .. } => "hmac-sha256",
        }
    }

    /// Whether `presented` is the key this hash was made from. An HMAC hash needs its pepper
    /// (`None` never matches).
    pub fn verify(&self, presented: &str, pepper: Option<&[u8]>) -> bool {
        let key = presented.as_bytes();
        if key.len() > MAX_KEY_LEN {
            return false;
        }
        match self {
            Self::Bcrypt(stored) => {
                key.len() <= BCRYPT_MAX_BYTES && bcrypt::verify(key, stored).unwrap_or(false)
            }
            Self::Sha256(d) => digest::digest(&digest::SHA256, key)
                .as_ref()
                .ct_eq(d)
                .into(),
            Self::Sha512(d) => digest::digest(&digest::SHA512, key)
                .as_ref()
                .ct_eq(d)
                .into(),
            Self::HmacSha256 { mac, .. } => pepper.is_some_and(|p| {
                hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, p), key)
                    .as_ref()
                    .ct_eq(mac)
                    .into()
            }),
        }
    }
}

/// The fingerprint an HMAC hash names its pepper by: 16 hex characters of SHA-256 over a label
/// and the pepper (identifies, never reveals, the pepper).
pub fn pepper_id(pepper: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"palisade.legacy-key-pepper.v1\0");
    ctx.update(pepper);
    hex(&ctx.finish().as_ref()[..8])
}

/// Why a lookup prefix cannot identify an imported key, if it cannot: shorter than
/// [`MIN_PREFIX_LEN`], longer than [`MAX_KEY_LEN`], or holding anything but printable ASCII
/// without spaces (what a header carries unchanged).
pub fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.len() < MIN_PREFIX_LEN {
        return Some(format!(
            "prefix shorter than {MIN_PREFIX_LEN} characters cannot identify a key"
        ));
    }
    if prefix.len() > MAX_KEY_LEN {
        return Some(format!("prefix longer than {MAX_KEY_LEN} characters"));
    }
    if !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("prefix must be printable ASCII without spaces".into());
    }
    None
}

/// 32 random bytes standing in for an imported key's native hash until its first use: no
/// presented key's HMAC finds them (a 2^-256 chance).
///
/// # Panics
/// If the operating system's random source fails.
pub fn placeholder_hash() -> [u8; 32] {
    let mut out = [0u8; 32];
    aws_lc_rs::rand::fill(&mut out).expect("the OS random source failed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "acme_3f9a1c2e_0123456789abcdef";

    fn hex_of(alg: &'static digest::Algorithm, s: &str) -> String {
        hex(digest::digest(alg, s.as_bytes()).as_ref())
    }

    fn each_format(key: &str) -> Vec<(LegacyHash, Option<Vec<u8>>)> {
        let pepper = b"their pepper".to_vec();
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &pepper), key.as_bytes());
        let mut out = vec![];
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let h = bcrypt::hash(key, 4).unwrap();
            out.push((
                LegacyHash::parse(&format!("{prefix}{}", &h[4..])).unwrap(),
                None,
            ));
        }
        out.push((
            LegacyHash::parse(&format!("sha256:{}", hex_of(&digest::SHA256, key))).unwrap(),
            None,
        ));
        out.push((
            LegacyHash::parse(&format!("sha512:{}", hex_of(&digest::SHA512, key))).unwrap(),
            None,
        ));
        out.push((
            LegacyHash::parse(&format!("hmac-sha256:{}", hex(mac.as_ref()))).unwrap(),
            Some(pepper),
        ));
        out
    }

    #[test]
    fn every_format_accepts_the_key_and_refuses_another() {
        for (hash, pepper) in each_format(KEY) {
            let p = pepper.as_deref();
            assert!(hash.verify(KEY, p), "{hash:?}");
            assert!(
                !hash.verify("acme_3f9a1c2e_0123456789abcdee", p),
                "{hash:?}"
            );
            assert!(!hash.verify("", p), "{hash:?}");
            // Stored and parsed again, it is the same hash.
            assert_eq!(LegacyHash::parse(&hash.to_stored()).unwrap(), hash);
        }
    }

    #[test]
    fn hmac_needs_the_right_pepper() {
        let (hash, pepper) = each_format(KEY).pop().unwrap();
        assert!(!hash.verify(KEY, None));
        assert!(!hash.verify(KEY, Some(b"another pepper")));
        assert!(hash.verify(KEY, pepper.as_deref()));
        let id = pepper_id(pepper.as_deref().unwrap());
        let LegacyHash::HmacSha256 { mac, .. } = hash else {
            unreachable!()
        };
        let stored = LegacyHash::HmacSha256 {
            pepper: Some(id.clone()),
            mac,
        };
        let text = stored.to_stored();
        assert!(text.starts_with(&format!("hmac-sha256:{id}:")));
        assert_eq!(LegacyHash::parse(&text).unwrap(), stored);
    }

    #[test]
    fn garbled_or_costly_hashes_are_refused() {
        for bad in [
            "",
            "md5:0123",
            "sha256:xyz",
            &format!("sha256:{}", "a".repeat(63)),
            &format!("sha512:{}", "a".repeat(64)),
            &format!("hmac-sha256:zz:{}", "a".repeat(64)),
            "$2b$12$short",
            "$2b$17$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzA",
            "$1$abc$def",
        ] {
            let err = LegacyHash::parse(bad).unwrap_err();
            assert!(!err.is_empty());
        }
    }

    #[test]
    fn bcrypt_never_matches_past_72_bytes() {
        let long = "k".repeat(72);
        let hash = LegacyHash::parse(&bcrypt::hash(&long, 4).unwrap()).unwrap();
        assert!(hash.verify(&long, None));
        assert!(!hash.verify(&format!("{long}x"), None));
    }

    #[test]
    fn prefixes_must_identify() {
        assert!(prefix_problem("acme_3f9a1c2e").is_none());
        assert!(prefix_problem("acme_3f").is_some());
        assert!(prefix_problem("acme 3f9a1c2e").is_some());
        assert!(prefix_problem("acmé_3f9a1c2e").is_some());
    }

    #[test]
    fn debug_shows_the_format_only() {
        let (hash, _) = each_format(KEY).remove(3);
        assert_eq!(format!("{hash:?}"), "sha256");
    }
}
