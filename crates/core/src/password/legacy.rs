//! PBKDF2 and scrypt hashes imported from other stacks: Django's `pbkdf2_sha256$…`,
//! `pbkdf2_sha1$…`, `pbkdf2_sha512$…` and `scrypt$…`, passlib's `$pbkdf2-sha256$…`,
//! `$pbkdf2-sha512$…`, `$pbkdf2$…` and the PHC scrypt string `$scrypt$ln=…,r=…,p=…$…$…` that
//! passlib and the `scrypt` crate both write.
//!
//! Parsing refuses what verification should never be asked to do: fields that are not what the
//! format writes, derived keys shorter than 16 bytes (a 1-byte checksum would accept one wrong
//! password in 256) or longer than one digest block, and costs above the bounds below. PBKDF2 is
//! computed by aws-lc-rs (the crate's `pbkdf2::verify` compares in constant time); scrypt by
//! RustCrypto's `scrypt` (aws-lc-rs exposes none), compared with `subtle`.

use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use std::num::NonZeroU32;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// A stored hash decides how much work each sign-in against it costs, so an imported hash
/// (garbled, or crafted by whoever writes the import file) must not be able to hold a hash worker
/// for minutes. The bounds sit well above what any framework writes today — Django 6.0's
/// PBKDF2-SHA256 default is 1,200,000 iterations, OWASP's 2023 PBKDF2-HMAC-SHA1 advice 1,300,000
/// — and cost, on this project's reference machine (2 cores, measured with OpenSSL's PBKDF2),
/// about 13 s for SHA-256 and 19 s for SHA-512 at the bound: the worst one legitimate-looking row
/// can do, against 2^32 - 1 iterations (hours) unbounded.
pub const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;

/// scrypt's work and memory are 128·r·N bytes per lane, lanes run one after the other: the bound
/// is one pass at 256 MiB (128·r·N·p ≤ 256 MiB, about 3.6 s here). That admits every default we
/// know — passlib ln=16,r=8,p=1 (64 MiB), Django N=2^14,r=8,p=5 (80 MiB), the `scrypt` crate's
/// recommended ln=17,r=8,p=1 (128 MiB) — and refuses libsodium's "sensitive" 1 GiB and anything
/// that would let one sign-in allocate gigabytes per hash worker.
pub const MAX_SCRYPT_BYTES: u64 = 256 << 20;

/// Salts are read into memory as given; nothing real comes near this.
const MAX_SALT_BYTES: usize = 1024;
/// Shorter derived keys match a wrong password too often to be a password hash.
const MIN_KEY_BYTES: usize = 16;
/// scrypt's derived key costs one HMAC block per 32 bytes; Django writes 64.
const MAX_SCRYPT_KEY_BYTES: usize = 128;

/// Why a string in a recognized format cannot be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    Malformed(&'static str),
    TooCostly(String),
}

/// The PRF of a PBKDF2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Self::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Self::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// A PBKDF2 hash, whichever format it came in.
#[derive(Debug)]
pub(super) struct Pbkdf2 {
    digest: Digest,
    iterations: NonZeroU32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

impl Pbkdf2 {
    /// Django's `<algorithm>$<iterations>$<salt>$<base64 key>` after `<algorithm>$`: the salt
    /// is used as its UTF-8 bytes, the key is standard base64 with padding.
    pub(super) fn django(digest: Digest, rest: &str) -> Result<Self, Refusal> {
        let [iterations, salt, key] = fields(rest).ok_or(Refusal::Malformed(
            "expected <algorithm>$<iterations>$<salt>$<hash>",
        ))?;
        let key = STANDARD
            .decode(key)
            .map_err(|_| Refusal::Malformed("hash is not base64"))?;
        Self::new(digest, iterations, salt.as_bytes().to_vec(), key)
    }

    /// passlib's `$pbkdf2-<digest>$<rounds>$<salt>$<checksum>` after `$pbkdf2-<digest>$`: salt
    /// and checksum in passlib's adapted base64 (`.` for `+`, no padding).
    pub(super) fn passlib(digest: Digest, rest: &str) -> Result<Self, Refusal> {
        let [rounds, salt, key] = fields(rest).ok_or(Refusal::Malformed(
            "expected $pbkdf2-<digest>$<rounds>$<salt>$<checksum>",
        ))?;
        let salt = ab64(salt).ok_or(Refusal::Malformed("salt is not adapted base64"))?;
        let key = ab64(key).ok_or(Refusal::Malformed("checksum is not adapted base64"))?;
        Self::new(digest, rounds, salt, key)
    }

    fn new(digest: Digest, iterations: &str, salt: Vec<u8>, key: Vec<u8>) -> Result<Self, Refusal> {
        let iterations =
            decimal(iterations).ok_or(Refusal::Malformed("iterations is not a decimal number"))?;
        if iterations > u64::from(MAX_PBKDF2_ITERATIONS) {
            return Err(Refusal::TooCostly(format!(
                "{iterations} iterations, more than {MAX_PBKDF2_ITERATIONS}"
            )));
        }
        let iterations = u32::try_from(iterations)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or(Refusal::Malformed("iterations is 0"))?;
        check_salt(&salt)?;
        if !(MIN_KEY_BYTES..=digest.output_len()).contains(&key.len()) {
            return Err(Refusal::Malformed("hash length does not fit the digest"));
        }
        Ok(Self {
            digest,
            iterations,
            salt,
            key,
        })
    }

    pub(super) fn matches(&self, password: &[u8]) -> bool {
        // `verify` derives a key of the stored key's length (1..=digest length, checked in
        // `new`, so its length assertion cannot fire) and compares in constant time.
        pbkdf2::verify(
            self.digest.algorithm(),
            self.iterations,
            &self.salt,
            password,
            &self.key,
        )
        .is_ok()
    }
}

/// An scrypt hash, whichever format it came in.
#[derive(Debug)]
pub(super) struct Scrypt {
    params: scrypt::Params,
    salt: Vec<u8>,
    key: Vec<u8>,
}

impl Scrypt {
    /// The PHC string `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>` after `$scrypt$`, as
    /// passlib and the `scrypt` crate write it: standard base64 without padding, the salt used
    /// as the decoded bytes; the parameters in any order, each once.
    pub(super) fn phc(rest: &str) -> Result<Self, Refusal> {
        let [params, salt, key] = fields(rest).ok_or(Refusal::Malformed(
            "expected $scrypt$ln=<n>,r=<r>,p=<p>$<salt>$<hash>",
        ))?;
        let (mut ln, mut r, mut p) = (None, None, None);
        for param in params.split(',') {
            let (name, value) = param
                .split_once('=')
                .ok_or(Refusal::Malformed("parameter without a value"))?;
            let slot = match name {
                "ln" => &mut ln,
                "r" => &mut r,
                "p" => &mut p,
                _ => return Err(Refusal::Malformed("unknown parameter")),
            };
            if slot.is_some() {
                return Err(Refusal::Malformed("repeated parameter"));
            }
            *slot = Some(decimal(value).ok_or(Refusal::Malformed("parameter is not a number"))?);
        }
        let (Some(ln), Some(r), Some(p)) = (ln, r, p) else {
            return Err(Refusal::Malformed("ln, r and p are all needed"));
        };
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| Refusal::Malformed("salt is not base64"))?;
        let key = STANDARD_NO_PAD
            .decode(key)
            .map_err(|_| Refusal::Malformed("hash is not base64"))?;
        Self::new(ln, r, p, salt, key)
    }

    /// Django's `scrypt$<N>$<salt>$<r>$<p>$<base64 key>` after `scrypt$`: N itself (a power of
    /// two), the salt as its UTF-8 bytes, the key in standard base64 with padding.
    pub(super) fn django(rest: &str) -> Result<Self, Refusal> {
        let [n, salt, r, p, key] = fields(rest).ok_or(Refusal::Malformed(
            "expected scrypt$<N>$<salt>$<r>$<p>$<hash>",
        ))?;
        let n = decimal(n).ok_or(Refusal::Malformed("N is not a decimal number"))?;
        if !n.is_power_of_two() || n < 2 {
            return Err(Refusal::Malformed("N is not a power of two above 1"));
        }
        let r = decimal(r).ok_or(Refusal::Malformed("r is not a decimal number"))?;
        let p = decimal(p).ok_or(Refusal::Malformed("p is not a decimal number"))?;
        let key = STANDARD
            .decode(key)
            .map_err(|_| Refusal::Malformed("hash is not base64"))?;
        Self::new(
            u64::from(n.trailing_zeros()),
            r,
            p,
            salt.as_bytes().to_vec(),
            key,
        )
    }

    fn new(ln: u64, r: u64, p: u64, salt: Vec<u8>, key: Vec<u8>) -> Result<Self, Refusal> {
        if ln == 0 || r == 0 || p == 0 {
            return Err(Refusal::Malformed("ln, r and p must be at least 1"));
        }
        // Checked before anything is built from them, without overflow for any input.
        let work = (ln < 64)
            .then(|| {
                128u128
                    .checked_mul(u128::from(r))?
                    .checked_mul(1u128 << ln)?
                    .checked_mul(u128::from(p))
            })
            .flatten();
        if work.is_none_or(|work| work > u128::from(MAX_SCRYPT_BYTES)) {
            return Err(Refusal::TooCostly(format!(
                "ln={ln},r={r},p={p} needs more than {} MiB of work (128·r·2^ln·p)",
                MAX_SCRYPT_BYTES >> 20
            )));
        }
        // Within the bound every value fits: ln < 22, r and p < 2^21.
        let params = scrypt::Params::new(ln as u8, r as u32, p as u32)
            .map_err(|_| Refusal::Malformed("parameters scrypt refuses"))?;
        check_salt(&salt)?;
        if !(MIN_KEY_BYTES..=MAX_SCRYPT_KEY_BYTES).contains(&key.len()) {
            return Err(Refusal::Malformed("hash length out of range"));
        }
        Ok(Self { params, salt, key })
    }

    pub(super) fn matches(&self, password: &[u8]) -> bool {
        let mut derived = Zeroizing::new(vec![0u8; self.key.len()]);
        // The key length was checked in `new`; an error is a mismatch, never a panic.
        scrypt::scrypt(password, &self.salt, &self.params, &mut derived).is_ok()
            && bool::from(derived.ct_eq(&self.key))
    }
}

/// Exactly `N` `$`-separated fields, none of them containing `$`.
fn fields<const N: usize>(rest: &str) -> Option<[&str; N]> {
    let mut parts = rest.split('$');
    let mut out = [""; N];
    for slot in &mut out {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

/// 1 to 10 ASCII digits (no sign, no spaces): every count a format writes fits, and the value
/// cannot overflow what the bounds compute with.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// passlib's adapted base64: the standard alphabet with `.` for `+`, without padding (passlib
/// itself also reads `+`).
fn ab64(s: &str) -> Option<Vec<u8>> {
    if s.contains('+') && s.contains('.') {
        return None;
    }
    STANDARD_NO_PAD.decode(s.replace('.', "+")).ok()
}

fn check_salt(salt: &[u8]) -> Result<(), Refusal> {
    if salt.len() > MAX_SALT_BYTES {
        return Err(Refusal::Malformed("salt longer than 1024 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_exact() {
        assert_eq!(fields::<3>("a$b$c"), Some(["a", "b", "c"]));
        assert_eq!(fields::<3>("a$$c"), Some(["a", "", "c"]));
        assert_eq!(fields::<3>("a$b"), None);
        assert_eq!(fields::<3>("a$b$c$d"), None);
        assert_eq!(fields::<3>(""), None);
        assert_eq!(fields::<1>(""), Some([""]));
    }

    #[test]
    fn decimals_are_plain_digits() {
        assert_eq!(decimal("29000"), Some(29000));
        assert_eq!(decimal("9999999999"), Some(9_999_999_999));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e6",
            "0x10",
            "12345678901",
            "١٢",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn adapted_base64() {
        assert_eq!(ab64("Lw"), Some(b"/".to_vec()));
        assert_eq!(ab64("..8"), Some(vec![0xfb, 0xef]));
        assert_eq!(ab64("++8"), Some(vec![0xfb, 0xef]));
        assert_eq!(ab64("+.8"), None);
        assert_eq!(ab64("Lw=="), None);
        assert_eq!(ab64("L"), None);
    }

    #[test]
    fn scrypt_bound_is_on_total_work() {
        let salt = || b"salt".to_vec();
        let key = || vec![0u8; 32];
        // 128·8·2^18·1 = 256 MiB: the bound itself is accepted (nothing is computed here).
        assert!(Scrypt::new(18, 8, 1, salt(), key()).is_ok());
        assert!(Scrypt::new(17, 8, 2, salt(), key()).is_ok());
        for (ln, r, p) in [
            (19, 8, 1),
            (18, 8, 2),
            (14, 8, 17),
            (63, 9_999_999_999, 9_999_999_999),
            (64, 1, 1),
            (9_999_999_999, 1, 1),
        ] {
            assert!(
                matches!(
                    Scrypt::new(ln, r, p, salt(), key()),
                    Err(Refusal::TooCostly(_))
                ),
                "{ln} {r} {p}"
            );
        }
        assert!(matches!(
            Scrypt::new(0, 8, 1, salt(), key()),
            Err(Refusal::Malformed(_))
        ));
    }
}
