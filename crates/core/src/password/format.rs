//! The formats of stored password hashes: which one a string is ([`hash_format`]), and for one
//! Palisade cannot verify, what it looks like, so an import can say why it refused a row.
//!
//! Naming never echoes the string: it may be a hash, or a password someone stored in plain text.

use super::hash::Stored;
use std::fmt;

/// A stored-hash format [`super::PasswordHasher::verify`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `$argon2id$`, `$argon2i$`, `$argon2d$` PHC strings: Palisade's own format.
    Argon2,
    /// `$2a$`, `$2b$`, `$2y$`.
    Bcrypt,
    /// Django's `pbkdf2_sha1$<iterations>$<salt>$<base64>`.
    DjangoPbkdf2Sha1,
    /// Django's `pbkdf2_sha256$<iterations>$<salt>$<base64>`.
    DjangoPbkdf2Sha256,
    /// `pbkdf2_sha512$…`: Django has no such hasher built in; this is the format its
    /// `PBKDF2PasswordHasher` writes when subclassed with SHA-512, as third-party packages do.
    DjangoPbkdf2Sha512,
    /// Django's `scrypt$<N>$<salt>$<r>$<p>$<base64>`.
    DjangoScrypt,
    /// passlib's `$pbkdf2$<rounds>$<salt>$<checksum>` (PBKDF2-SHA1).
    PasslibPbkdf2Sha1,
    /// passlib's `$pbkdf2-sha256$<rounds>$<salt>$<checksum>`.
    PasslibPbkdf2Sha256,
    /// passlib's `$pbkdf2-sha512$<rounds>$<salt>$<checksum>`.
    PasslibPbkdf2Sha512,
    /// The PHC string `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` (passlib, the `scrypt` crate).
    Scrypt,
}

impl Format {
    /// A short stable name (`"django-pbkdf2-sha256"`), as in the known-answer fixtures.
    pub fn name(self) -> &'static str {
        match self {
            Self::Argon2 => "argon2",
            Self::Bcrypt => "bcrypt",
            Self::DjangoPbkdf2Sha1 => "django-pbkdf2-sha1",
            Self::DjangoPbkdf2Sha256 => "django-pbkdf2-sha256",
            Self::DjangoPbkdf2Sha512 => "django-pbkdf2-sha512",
            Self::DjangoScrypt => "django-scrypt",
            Self::PasslibPbkdf2Sha1 => "passlib-pbkdf2-sha1",
            Self::PasslibPbkdf2Sha256 => "passlib-pbkdf2-sha256",
            Self::PasslibPbkdf2Sha512 => "passlib-pbkdf2-sha512",
            Self::Scrypt => "scrypt",
        }
    }

    /// A format Palisade does not write: a hash in it is replaced at the next sign-in (unless
    /// `auth.rehash_legacy = false`). Only argon2 is not legacy.
    pub fn is_legacy(self) -> bool {
        self != Self::Argon2
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a stored string is not a hash Palisade can verify; the text names what was seen and never
/// contains the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not one of the [`Format`]s: `"sha512-crypt ($6$)"`, `"plain hex digest (64 digits,
    /// SHA-256?)"`, `"unrecognized"`.
    #[error("unsupported password hash format: {0}")]
    Unsupported(String),
    /// One of the formats, with a field that is not what the format writes.
    #[error("malformed {format} hash: {reason}")]
    Malformed {
        /// The format the string claims.
        format: Format,
        /// Which field is wrong.
        reason: &'static str,
    },
    /// One of the formats, with a cost above Palisade's bound (see `MAX_*` in this module).
    #[error("{format} hash costs more than Palisade verifies: {reason}")]
    TooCostly {
        /// The format the string claims.
        format: Format,
        /// Which parameter is over its bound.
        reason: String,
    },
}

/// The format of `stored`, or why it cannot be verified: what an import reports per row.
/// `Ok` exactly when [`super::PasswordHasher::can_verify`] is true.
pub fn hash_format(stored: &str) -> Result<Format, FormatError> {
    Stored::parse(stored).map(|s| s.format())
}

/// What an unsupported `stored` looks like.
pub(super) fn unsupported(stored: &str) -> FormatError {
    FormatError::Unsupported(describe(stored))
}

fn describe(stored: &str) -> String {
    const MCF: &[(&str, &str)] = &[
        ("$1$", "md5-crypt ($1$)"),
        ("$apr1$", "Apache md5-crypt ($apr1$)"),
        ("$md5", "Sun md5-crypt ($md5$)"),
        ("$5$", "sha256-crypt ($5$)"),
        ("$6$", "sha512-crypt ($6$)"),
        ("$2x$", "bcrypt with the pre-2011 crypt_blowfish bug ($2x$)"),
        ("$2$", "original bcrypt ($2$)"),
        ("$y$", "yescrypt ($y$)"),
        ("$gy$", "gost-yescrypt ($gy$)"),
        ("$7$", "scrypt in libsodium's format ($7$)"),
        ("$sha1$", "NetBSD sha1-crypt ($sha1$)"),
        ("$P$", "phpass ($P$)"),
        ("$H$", "phpass ($H$)"),
        ("$bcrypt-sha256$", "passlib bcrypt-sha256 ($bcrypt-sha256$)"),
        (
            "$pbkdf2-sha1$",
            "passlib-style pbkdf2-sha1 (passlib writes $pbkdf2$)",
        ),
        ("$pbkdf2-", "PBKDF2 with an unsupported digest"),
        ("$argon2", "argon2 of an unknown variant"),
        ("$scram", "SCRAM credentials"),
        ("$sha", "unsupported sha-crypt variant"),
        ("$balloon", "balloon hashing"),
    ];
    const DJANGO: &[(&str, &str)] = &[
        ("bcrypt_sha256$", "Django bcrypt_sha256"),
        ("bcrypt$", "Django bcrypt"),
        ("argon2$", "Django argon2"),
        ("pbkdf2_", "Django-style PBKDF2 with an unsupported digest"),
        ("sha1$", "Django salted sha1"),
        ("md5$", "Django salted md5"),
        ("unsalted_sha1$", "Django unsalted_sha1"),
        ("unsalted_md5$", "Django unsalted_md5"),
        ("crypt$", "Django crypt"),
        ("!", "Django unusable password (!)"),
    ];
    const LDAP: &[(&str, &str)] = &[
        ("{SSHA512}", "LDAP {SSHA512}"),
        ("{SSHA256}", "LDAP {SSHA256}"),
        ("{SSHA}", "LDAP {SSHA}"),
        ("{SHA}", "LDAP {SHA}"),
        ("{SMD5}", "LDAP {SMD5}"),
        ("{MD5}", "LDAP {MD5}"),
        ("{CRYPT}", "LDAP {CRYPT}"),
        ("{PBKDF2", "LDAP {PBKDF2}"),
    ];
    if stored.is_empty() {
        return "empty".into();
    }
    if stored.trim() != stored {
        return "surrounded by whitespace".into();
    }
    let upper = stored.to_ascii_uppercase();
    for (prefix, name) in MCF.iter().chain(DJANGO) {
        if stored.starts_with(prefix) {
            return (*name).into();
        }
    }
    for (prefix, name) in LDAP {
        if upper.starts_with(prefix) {
            return (*name).into();
        }
    }
    if stored.bytes().all(|b| b.is_ascii_hexdigit()) {
        let guess = match stored.len() {
            32 => ", MD5?",
            40 => ", SHA-1?",
            64 => ", SHA-256?",
            96 => ", SHA-384?",
            128 => ", SHA-512?",
            _ => "",
        };
        return format!("plain hex digest ({} digits{guess})", stored.len());
    }
    if let Some(rest) = stored.strip_prefix('$') {
        // A modular-crypt identifier is short and plain; anything else is not named, so a
        // password stored in clear text is not echoed into a report.
        let id = rest.split('$').next().unwrap_or_default();
        if rest.contains('$')
            && (1..=16).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return format!("unknown modular crypt format (${id}$)");
        }
    }
    "unrecognized".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display() {
        for f in [
            Format::Argon2,
            Format::Bcrypt,
            Format::DjangoPbkdf2Sha1,
            Format::DjangoPbkdf2Sha256,
            Format::DjangoPbkdf2Sha512,
            Format::DjangoScrypt,
            Format::PasslibPbkdf2Sha1,
            Format::PasslibPbkdf2Sha256,
            Format::PasslibPbkdf2Sha512,
            Format::Scrypt,
        ] {
            assert_eq!(f.to_string(), f.name());
            assert_eq!(f.is_legacy(), f != Format::Argon2);
        }
    }

    #[test]
    fn unknown_identifiers_are_named_only_when_plain() {
        assert_eq!(describe("$foo$bar"), "unknown modular crypt format ($foo$)");
        assert_eq!(describe("$hunter two$x"), "unrecognized");
        assert_eq!(describe("$averyveryverylongidentifier$x"), "unrecognized");
        assert_eq!(describe("$foo"), "unrecognized");
        assert_eq!(describe("hunter2"), "unrecognized");
    }
}
