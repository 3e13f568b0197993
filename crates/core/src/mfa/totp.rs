//! TOTP (RFC 6238 over RFC 4226 HOTP, HMAC from aws-lc-rs). A code is accepted for the current
//! 30-second step or up to `skew_steps` steps before it (never a future step), and only for a
//! step later than the last one the credential used, so each code works once per credential
//! (ASVS 5.0 V6.5.1).

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// The HMAC a TOTP credential uses (authenticator apps: SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1, what authenticator apps implement.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl TotpAlgorithm {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            TotpAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            TotpAlgorithm::Sha256 => hmac::HMAC_SHA256,
            TotpAlgorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// The `algorithm` parameter of an `otpauth://` URI.
    pub fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

/// How codes are computed: HMAC, digits and step length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC.
    pub algorithm: TotpAlgorithm,
    /// Digits per code (6 for authenticator apps, 8 in the RFC's vectors).
    pub digits: u32,
    /// Seconds per step (30).
    pub step_secs: u64,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            step_secs: 30,
        }
    }
}

/// Bytes of a new seed: 160 bits, RFC 4226's recommended length for HMAC-SHA-1.
pub const SEED_BYTES: usize = 20;

/// A fresh random seed from the OS CSPRNG.
pub fn new_seed() -> Vec<u8> {
    use aws_lc_rs::rand::SecureRandom;
    let mut seed = vec![0u8; SEED_BYTES];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut seed)
        .expect("the OS random generator is available");
    seed
}

/// RFC 4226 HOTP: the code for `counter`, zero-padded to `digits`.
pub fn hotp(seed: &[u8], counter: u64, algorithm: TotpAlgorithm, digits: u32) -> String {
    let key = hmac::Key::new(algorithm.hmac(), seed);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let code = u64::from(binary) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The step `unix_secs` falls in (T0 = 0).
pub fn step_at(unix_secs: u64, params: &TotpParams) -> u64 {
    unix_secs / params.step_secs.max(1)
}

/// The code valid during the step of `unix_secs`.
pub fn code_at(seed: &[u8], unix_secs: u64, params: &TotpParams) -> String {
    hotp(
        seed,
        step_at(unix_secs, params),
        params.algorithm,
        params.digits,
    )
}

/// The step `presented` belongs to when it is the code of the current step or of one of the
/// `skew_steps` steps before it, and that step is later than `last_used_step`; else `None`.
/// The caller stores the returned step as the credential's new last used step.
pub fn verify(
    seed: &[u8],
    presented: &str,
    now_unix: u64,
    skew_steps: u64,
    last_used_step: Option<u64>,
    params: &TotpParams,
) -> Option<u64> {
    let presented = presented.trim();
    if presented.len() != params.digits as usize || !presented.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now_unix, params);
    let mut accepted = None;
    // Every candidate is computed and compared, so the time taken does not tell which matched.
    for back in 0..=skew_steps.min(current) {
        let step = current - back;
        let code = hotp(seed, step, params.algorithm, params.digits);
        let equal: bool = code.as_bytes().ct_eq(presented.as_bytes()).into();
        if equal && accepted.is_none() && last_used_step.is_none_or(|last| step > last) {
            accepted = Some(step);
        }
    }
    accepted
}

/// The `otpauth://totp/…` URI an authenticator app enrolls from (Key Uri Format): label
/// `issuer:account`, the seed in base32, and the parameters.
pub fn otpauth_uri(issuer: &str, account: &str, seed: &[u8], params: &TotpParams) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
        percent_encode(issuer),
        percent_encode(account),
        super::base32::encode(seed),
        percent_encode(issuer),
        params.algorithm.as_str(),
        params.digits,
        params.step_secs,
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = b"12345678901234567890";

    fn six() -> TotpParams {
        TotpParams::default()
    }

    #[test]
    fn rfc4226_appendix_d_hotp() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(SEED, counter as u64, TotpAlgorithm::Sha1, 6), *code);
        }
    }

    #[test]
    fn current_and_previous_step_accepted_never_the_next() {
        let now = 1_800_000_015;
        let current = code_at(SEED, now, &six());
        let previous = code_at(SEED, now - 30, &six());
        let next = code_at(SEED, now + 30, &six());
        assert_eq!(verify(SEED, &current, now, 1, None, &six()), Some(now / 30));
        assert_eq!(
            verify(SEED, &previous, now, 1, None, &six()),
            Some(now / 30 - 1)
        );
        assert_eq!(verify(SEED, &next, now, 1, None, &six()), None);
        assert_eq!(verify(SEED, &previous, now, 0, None, &six()), None);
    }

    #[test]
    fn a_code_two_steps_old_is_refused() {
        let now = 1_800_000_015;
        let old = code_at(SEED, now - 60, &six());
        assert_eq!(verify(SEED, &old, now, 1, None, &six()), None);
    }

    #[test]
    fn a_code_is_refused_the_second_time() {
        let now = 1_800_000_015;
        let code = code_at(SEED, now, &six());
        let step = verify(SEED, &code, now, 1, None, &six()).unwrap();
        assert_eq!(verify(SEED, &code, now, 1, Some(step), &six()), None);
        // Nor is the previous step's code once a later step was used.
        let previous = code_at(SEED, now - 30, &six());
        assert_eq!(verify(SEED, &previous, now, 1, Some(step), &six()), None);
        // The next step's code works when its time comes.
        let next = code_at(SEED, now + 30, &six());
        assert_eq!(
            verify(SEED, &next, now + 30, 1, Some(step), &six()),
            Some(step + 1)
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        let now = 1_800_000_015;
        for bad in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦"] {
            assert_eq!(verify(SEED, bad, now, 1, None, &six()), None, "{bad:?}");
        }
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Acme Corp", "ann@example.com", SEED, &six());
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn seeds_are_random_and_160_bits() {
        let (a, b) = (new_seed(), new_seed());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
