//! Password hashing and verification.
//!
//! New hashes are argon2id PHC strings with OWASP's parameters by default (m = 19 MiB, t = 2,
//! p = 1) and a fresh 16-byte salt from the OS. Verification also accepts hashes imported from
//! other stacks — bcrypt (`$2a$`, `$2b$`, `$2y$`), argon2id/argon2i/argon2d with other
//! parameters, and the PBKDF2 and scrypt formats of Django and passlib (`legacy`,
//! [`Format`]) — and says when they should be replaced by a hash with the current parameters.
//! Every format's cost is bounded when the string is parsed (`MAX_*`), since a stored hash
//! decides the work each sign-in against it does.
//!
//! Guarantees: passwords are NFKC-normalized before hashing (the form [`super::policy`] checks);
//! no stored string, however garbled, makes verification panic; errors never contain a password;
//! normalized copies are zeroized; [`PasswordHasher::verify_dummy`] costs what a real verify
//! costs, so an unknown account and a wrong password take the same time.

use super::format::{self, Format, FormatError};
use super::legacy::{Digest, Pbkdf2, Refusal, Scrypt};
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, PasswordHash, Version};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// OWASP's minimum argon2id memory (19 MiB) for t = 2, p = 1.
const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// bcrypt reads only this many bytes of a password.
const BCRYPT_MAX_BYTES: usize = 72;
/// bcrypt's cost is log2 of its rounds; cost 12 takes about 0.3 s on this project's reference
/// machine, so 16 is about 5 s — above any cost deployed (frameworks default to 10–12, OWASP asks
/// for at least 10) and far below what cost 31 does (a day and a half per sign-in).
pub const MAX_BCRYPT_COST: u32 = 16;
/// argon2 memory per verification: 256 MiB (argon2-cffi's and Bitwarden's defaults are 64 MiB,
/// Palisade's 19 MiB; RFC 9106's 2 GiB profile is refused: that much per hash worker is not a
/// sign-in a gateway can afford).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// argon2's work is memory × passes: at most 1 GiB of passes (t = 4 at 256 MiB, t = 16 at
/// 64 MiB), about as much as the scrypt and PBKDF2 bounds allow.
pub const MAX_ARGON2_WORK_KIB: u64 = 1024 * 1024;

/// argon2id cost parameters (the `hashing` configuration section).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HashParams {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: MIN_MEMORY_KIB,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    /// Every reason these parameters are too weak or invalid, each naming its key; empty when
    /// they are acceptable. [`PasswordHasher::new`] checks only what argon2 itself refuses, so
    /// that tests can hash with cheap parameters.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.memory_kib < MIN_MEMORY_KIB {
            problems.push(format!(
                "auth.hashing.memory_kib is {}; OWASP's minimum for argon2id is \
                 {MIN_MEMORY_KIB} (19 MiB)",
                self.memory_kib
            ));
        }
        if self.iterations == 0 {
            problems.push("auth.hashing.iterations must be at least 1".to_string());
        }
        if self.parallelism == 0 {
            problems.push("auth.hashing.parallelism must be at least 1".to_string());
        }
        if self.memory_kib > MAX_ARGON2_MEMORY_KIB
            || u64::from(self.memory_kib) * u64::from(self.iterations) > MAX_ARGON2_WORK_KIB
        {
            // Palisade's own hashes must stay within what verification accepts.
            problems.push(format!(
                "auth.hashing: memory_kib {} x iterations {} is above what Palisade verifies \
                 (memory at most {MAX_ARGON2_MEMORY_KIB} KiB, memory x iterations at most \
                 {MAX_ARGON2_WORK_KIB})",
                self.memory_kib, self.iterations
            ));
        }
        if problems.is_empty() {
            // What is left: argon2's own limits (e.g. parallelism above 2^24 - 1).
            if let Err(e) = self.argon2_params() {
                problems.push(format!("auth.hashing: invalid argon2id parameters: {e}"));
            }
        }
        problems
    }

    fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }
}

/// Why a password could not be hashed. Never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The configured argon2id parameters are refused by argon2.
    #[error("invalid argon2id parameters: {0}")]
    InvalidParams(argon2::Error),
    /// argon2 failed while hashing.
    #[error("password hashing failed: {0}")]
    Hashing(argon2::password_hash::Error),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password does not match, or the stored hash is not one Palisade can read.
    Invalid,
    /// The password matches; when `needs_rehash`, store [`PasswordHasher::hash`] of it instead.
    Valid {
        /// The stored hash uses older parameters or another algorithm.
        needs_rehash: bool,
    },
}

/// Hashes with argon2id and the configured parameters; verifies every supported format.
/// Clones share the dummy hash.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: argon2::Params,
    dummy: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    /// Fails only on parameters argon2 itself refuses; [`HashParams::problems`] is where too-weak
    /// parameters are refused at start.
    pub fn new(params: HashParams) -> Result<Self, HashError> {
        Ok(Self {
            params: params.argon2_params().map_err(HashError::InvalidParams)?,
            dummy: Arc::default(),
        })
    }

    /// The argon2id PHC string of the NFKC form of `password`, with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let normalized = nfkc(password);
        let hash = self
            .argon2()
            .hash_password(normalized.as_bytes())
            .map_err(HashError::Hashing)?;
        Ok(hash.to_string())
    }

    /// Whether `stored` is a hash [`PasswordHasher::verify`] can check (an import takes only
    /// those: an account whose hash could never match could never sign in). Why not:
    /// [`super::hash_format`].
    pub fn can_verify(stored: &str) -> bool {
        Stored::parse(stored).is_ok()
    }

    /// Checks `password` against `stored`. An empty, garbled, unknown or over-cost `stored` is
    /// `Invalid`, and costs no hashing.
    pub fn verify(&self, password: &str, stored: &str) -> Verification {
        let Ok(stored) = Stored::parse(stored) else {
            return Verification::Invalid;
        };
        let normalized = nfkc(password);
        if stored.matches(&normalized) {
            Verification::Valid {
                needs_rehash: stored.is_outdated(&self.params),
            }
        } else if normalized.as_str() != password && stored.matches(password) {
            // Imported from a stack that did not normalize: store the normalized form instead.
            Verification::Valid { needs_rehash: true }
        } else {
            Verification::Invalid
        }
    }

    /// Does the work of [`Self::verify`] against an argon2id hash with the current parameters,
    /// and throws the result away: call it when the account does not exist.
    pub fn verify_dummy(&self, password: &str) {
        let dummy = self.dummy.get_or_init(|| {
            // A fixed salt keeps this infallible (the parameters were checked in `new`);
            // nothing is ever accepted against this hash, so its salt protects nothing.
            self.argon2()
                .hash_password_with_salt(b"palisade dummy password", b"palisade-dummy-salt")
                .map(|hash| hash.to_string())
                .unwrap_or_default()
        });
        std::hint::black_box(self.verify(password, dummy));
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

fn nfkc(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// A stored hash in one of the formats we verify, parsed and within the cost bounds.
pub(super) enum Stored<'a> {
    Argon2 {
        hash: Box<PasswordHash>,
        algorithm: Algorithm,
        params: argon2::Params,
    },
    Bcrypt(&'a str),
    Pbkdf2(Format, Pbkdf2),
    Scrypt(Format, Scrypt),
}

impl<'a> Stored<'a> {
    pub(super) fn parse(stored: &'a str) -> Result<Self, FormatError> {
        let refused = |format| {
            move |refusal| match refusal {
                Refusal::Malformed(reason) => FormatError::Malformed { format, reason },
                Refusal::TooCostly(reason) => FormatError::TooCostly { format, reason },
            }
        };
        if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|p| stored.starts_with(p))
        {
            return bcrypt_cost(stored)
                .map(|_| Self::Bcrypt(stored))
                .map_err(refused(Format::Bcrypt));
        }
        const PBKDF2: [(&str, Format, Digest, bool); 6] = [
            (
                "pbkdf2_sha256$",
                Format::DjangoPbkdf2Sha256,
                Digest::Sha256,
                true,
            ),
            (
                "pbkdf2_sha512$",
                Format::DjangoPbkdf2Sha512,
                Digest::Sha512,
                true,
            ),
            ("pbkdf2_sha1$", Format::DjangoPbkdf2Sha1, Digest::Sha1, true),
            (
                "$pbkdf2-sha256$",
                Format::PasslibPbkdf2Sha256,
                Digest::Sha256,
                false,
            ),
            (
                "$pbkdf2-sha512$",
                Format::PasslibPbkdf2Sha512,
                Digest::Sha512,
                false,
            ),
            ("$pbkdf2$", Format::PasslibPbkdf2Sha1, Digest::Sha1, false),
        ];
        for (prefix, format, digest, django) in PBKDF2 {
            if let Some(rest) = stored.strip_prefix(prefix) {
                let parsed = if django {
                    Pbkdf2::django(digest, rest)
                } else {
                    Pbkdf2::passlib(digest, rest)
                };
                return parsed
                    .map(|p| Self::Pbkdf2(format, p))
                    .map_err(refused(format));
            }
        }
        if let Some(rest) = stored.strip_prefix("$scrypt$") {
            return Scrypt::phc(rest)
                .map(|s| Self::Scrypt(Format::Scrypt, s))
                .map_err(refused(Format::Scrypt));
        }
        if let Some(rest) = stored.strip_prefix("scrypt$") {
            return Scrypt::django(rest)
                .map(|s| Self::Scrypt(Format::DjangoScrypt, s))
                .map_err(refused(Format::DjangoScrypt));
        }
        if !["$argon2id$", "$argon2i$", "$argon2d$"]
            .iter()
            .any(|p| stored.starts_with(p))
        {
            return Err(format::unsupported(stored));
        }
        let malformed = |reason| FormatError::Malformed {
            format: Format::Argon2,
            reason,
        };
        let hash =
            Box::new(PasswordHash::new(stored).map_err(|_| malformed("not a valid PHC string"))?);
        let algorithm = Algorithm::new(hash.algorithm.as_str())
            .map_err(|_| malformed("unknown argon2 variant"))?;
        let params =
            argon2::Params::try_from(&*hash).map_err(|_| malformed("parameters argon2 refuses"))?;
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err(malformed("salt or hash missing"));
        }
        if let Some(version) = hash.version {
            Version::try_from(version).map_err(|_| malformed("unknown argon2 version"))?;
        }
        let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
        if params.m_cost() > MAX_ARGON2_MEMORY_KIB || work > MAX_ARGON2_WORK_KIB {
            return Err(FormatError::TooCostly {
                format: Format::Argon2,
                reason: format!(
                    "m={},t={} (memory at most {MAX_ARGON2_MEMORY_KIB} KiB, memory x passes \
                     at most {MAX_ARGON2_WORK_KIB})",
                    params.m_cost(),
                    params.t_cost()
                ),
            });
        }
        Ok(Self::Argon2 {
            hash,
            algorithm,
            params,
        })
    }

    pub(super) fn format(&self) -> Format {
        match self {
            Self::Argon2 { .. } => Format::Argon2,
            Self::Bcrypt(_) => Format::Bcrypt,
            Self::Pbkdf2(format, _) | Self::Scrypt(format, _) => *format,
        }
    }

    fn matches(&self, password: &str) -> bool {
        match self {
            Self::Pbkdf2(_, hash) => hash.matches(password.as_bytes()),
            Self::Scrypt(_, hash) => hash.matches(password.as_bytes()),
            Self::Argon2 { hash, .. } => Argon2::default()
                .verify_password(password.as_bytes(), &**hash)
                .is_ok(),
            // bcrypt ignores bytes past the 72nd: a longer password would match any password
            // sharing its first 72 bytes. (The crate's `non_truncating_verify` also refuses
            // exactly 72 bytes, which bcrypt does read in full.)
            Self::Bcrypt(stored) => {
                password.len() <= BCRYPT_MAX_BYTES
                    && bcrypt::verify(password, stored).unwrap_or(false)
            }
        }
    }

    fn is_outdated(&self, current: &argon2::Params) -> bool {
        match self {
            Self::Argon2 {
                hash,
                algorithm,
                params,
            } => {
                *algorithm != Algorithm::Argon2id
                    || hash.version != Some(Version::V0x13.into())
                    || (params.m_cost(), params.t_cost(), params.p_cost())
                        != (current.m_cost(), current.t_cost(), current.p_cost())
            }
            Self::Bcrypt(_) | Self::Pbkdf2(..) | Self::Scrypt(..) => true,
        }
    }
}

/// [`bcrypt_cost`] for imported API-key hashes (`crate::legacy_key`): the same shape and cost
/// bound, the refusal as a sentence.
pub(crate) fn bcrypt_cost_checked(stored: &str) -> Result<u32, String> {
    bcrypt_cost(stored).map_err(|e| match e {
        Refusal::Malformed(why) => why.to_string(),
        Refusal::TooCostly(why) => format!("too costly: {why}"),
    })
}

/// The cost of a `$2?$NN$` + 53-character bcrypt string: the shape the bcrypt crate reads, so a
/// truncated or garbled one is refused at import rather than never matching.
fn bcrypt_cost(stored: &str) -> Result<u32, Refusal> {
    let b = stored.as_bytes();
    let well_formed = b.len() == 60
        && b[6] == b'$'
        && b[4..6].iter().all(u8::is_ascii_digit)
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/');
    if !well_formed {
        return Err(Refusal::Malformed(
            "expected $2b$<two-digit cost>$ and 53 characters of bcrypt's base64",
        ));
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    if !(4..=31).contains(&cost) {
        return Err(Refusal::Malformed("cost outside 4..=31"));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(Refusal::TooCostly(format!(
            "cost {cost}, more than {MAX_BCRYPT_COST}"
        )));
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(CHEAP).unwrap()
    }

    const VALID_CURRENT: Verification = Verification::Valid {
        needs_rehash: false,
    };
    const VALID_OUTDATED: Verification = Verification::Valid { needs_rehash: true };

    #[test]
    fn default_params_round_trip() {
        let hasher = PasswordHasher::new(HashParams::default()).unwrap();
        let stored = hasher.hash("correct horse battery staple").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            hasher.verify("correct horse battery staple", &stored),
            VALID_CURRENT
        );
        assert_eq!(
            hasher.verify("correct horse battery stapler", &stored),
            Verification::Invalid
        );
        // The dummy costs the same as the verify above and never panics.
        hasher.verify_dummy("correct horse battery staple");
        hasher.verify_dummy("");
    }

    #[test]
    fn salts_are_fresh() {
        let hasher = cheap();
        assert_ne!(hasher.hash("same").unwrap(), hasher.hash("same").unwrap());
    }

    #[test]
    fn other_params_need_rehash() {
        let weak = PasswordHasher::new(HashParams {
            memory_kib: 4096,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let stored = weak.hash("hunter2hunter2").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"),
            "{stored}"
        );
        assert_eq!(weak.verify("hunter2hunter2", &stored), VALID_CURRENT);
        assert_eq!(cheap().verify("hunter2hunter2", &stored), VALID_OUTDATED);
        assert_eq!(
            cheap().verify("hunter2hunter", &stored),
            Verification::Invalid
        );
    }

    #[test]
    fn argon2i_and_argon2d_verify_and_need_rehash() {
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let params = argon2::Params::new(64, 1, 1, None).unwrap();
            let stored = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"legacy password")
                .unwrap()
                .to_string();
            assert!(stored.starts_with(&format!("${}$", algorithm.as_str())));
            assert_eq!(cheap().verify("legacy password", &stored), VALID_OUTDATED);
            assert_eq!(
                cheap().verify("legacy passwort", &stored),
                Verification::Invalid
            );
        }
        // Version 0x10 with otherwise current parameters.
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x10, params)
            .hash_password(b"old version")
            .unwrap()
            .to_string();
        assert_eq!(cheap().verify("old version", &stored), VALID_OUTDATED);
    }

    #[test]
    fn bcrypt_2b_verifies_and_needs_rehash() {
        let stored = bcrypt::hash("hunter2hunter2", 4).unwrap();
        assert!(stored.starts_with("$2b$04$"));
        assert_eq!(cheap().verify("hunter2hunter2", &stored), VALID_OUTDATED);
        assert_eq!(
            cheap().verify("hunter2hunter3", &stored),
            Verification::Invalid
        );
    }

    #[test]
    fn bcrypt_2a_and_2y_vectors_verify() {
        // Computed with the bcrypt crate 0.19 at cost 4 (`hash_with_result` +
        // `format_for_version`).
        let vectors = [
            "$2a$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK",
            "$2y$04$KU7l25RsQt7pcEA4api8Cuq1mgwXfStbEe88h1nLjdYh.MHAQyn.m",
        ];
        for stored in vectors {
            assert_eq!(
                cheap().verify("Tr0ub4dor&3", stored),
                VALID_OUTDATED,
                "{stored}"
            );
            assert_eq!(cheap().verify("Tr0ub4dor&4", stored), Verification::Invalid);
        }
        // $2x$ (hashes from the buggy pre-2011 crypt_blowfish) is not accepted.
        let two_x = vectors[0].replacen("$2a$", "$2x$", 1);
        assert_eq!(cheap().verify("Tr0ub4dor&3", &two_x), Verification::Invalid);
    }

    #[test]
    fn bcrypt_does_not_truncate() {
        let first_72 = "x".repeat(72);
        let stored = bcrypt::hash(&first_72, 4).unwrap();
        assert_eq!(cheap().verify(&first_72, &stored), VALID_OUTDATED);
        // bcrypt itself would accept this one: it reads only 72 bytes.
        let longer = format!("{first_72}y");
        assert!(bcrypt::verify(&longer, &stored).unwrap());
        assert_eq!(cheap().verify(&longer, &stored), Verification::Invalid);
    }

    #[test]
    fn nfkc_applied_and_raw_form_accepted_for_imports() {
        let hasher = cheap();
        let full_width = "ｐａｓｓｗｏｒｄ";
        let stored = hasher.hash(full_width).unwrap();
        assert_eq!(hasher.verify("password", &stored), VALID_CURRENT);
        assert_eq!(hasher.verify(full_width, &stored), VALID_CURRENT);
        // A hash of the raw form, made by a stack that did not normalize.
        let raw = Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone())
            .hash_password(full_width.as_bytes())
            .unwrap()
            .to_string();
        assert_eq!(hasher.verify(full_width, &raw), VALID_OUTDATED);
        assert_eq!(hasher.verify("password", &raw), Verification::Invalid);
    }

    #[test]
    fn garbled_stored_strings_are_invalid() {
        let hasher = cheap();
        let good = hasher.hash("pw").unwrap();
        let garbled = [
            "",
            "$",
            "plaintext",
            "pw",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "$argon2id$v=99$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            "$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            "$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA",
            "$2b$04$short",
            "$2b$99$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK",
            "$2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNé",
            &good[..good.len() - 4],
            &good.replace("argon2id", "argon2i"),
        ];
        for stored in garbled {
            assert_eq!(
                hasher.verify("pw", stored),
                Verification::Invalid,
                "{stored}"
            );
        }
    }

    #[test]
    fn params_problems_name_their_keys() {
        assert!(HashParams::default().problems().is_empty());
        let problems = HashParams {
            memory_kib: 19455,
            iterations: 0,
            parallelism: 1,
        }
        .problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("auth.hashing.memory_kib"));
        assert!(problems[1].starts_with("auth.hashing.iterations"));
        let no_lanes = HashParams {
            parallelism: 0,
            ..HashParams::default()
        };
        assert_eq!(no_lanes.problems().len(), 1);
        assert!(PasswordHasher::new(no_lanes).is_err());
        assert!(CHEAP.problems()[0].contains("19456"));
        // Palisade's own hashes must stay within what verification accepts.
        for (memory_kib, iterations) in [(MAX_ARGON2_MEMORY_KIB + 1, 1), (65536, 17)] {
            let costly = HashParams {
                memory_kib,
                iterations,
                parallelism: 1,
            };
            assert_eq!(costly.problems().len(), 1, "{costly:?}");
            assert!(costly.problems()[0].contains("above what Palisade verifies"));
        }
    }

    #[test]
    fn params_parse_strictly() {
        let params: HashParams = serde_json::from_str(r#"{"memory_kib":47104}"#).unwrap();
        assert_eq!(params.iterations, 2);
        assert!(serde_json::from_str::<HashParams>(r#"{"memory":47104}"#).is_err());
    }

    #[test]
    fn dummy_is_computed_once_and_shared_by_clones() {
        let hasher = cheap();
        let clone = hasher.clone();
        hasher.verify_dummy("whatever");
        let dummy = clone
            .dummy
            .get()
            .expect("computed by the first call")
            .clone();
        assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        clone.verify_dummy("whatever");
        assert_eq!(hasher.dummy.get(), Some(&dummy));
    }
}
