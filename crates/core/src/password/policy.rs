//! The password policy: which new passwords are accepted (OWASP ASVS 5.0 §6.2).
//!
//! [`PasswordPolicy::check`] names every rule a password breaks, in a stable order, so an API
//! response can list them all at once. Every rule is configurable through
//! [`PasswordPolicyConfig`]; the defaults follow ASVS: 12 to 128 characters, a minimum strength,
//! no sequences or repeats, no common password, no e-mail or name in the password, and no
//! composition rules (ASVS 6.2.5 advises against them; `profile = "strict"` turns them on).
//! Passwords never expire: there is no rotation rule (ASVS 6.2.10).
//!
//! Guarantees: characters are counted in Unicode scalar values after NFKC normalization (what
//! [`super::hash`] hashes), and a password over the maximum length is refused with
//! [`Violation::TooLong`] alone before any costly rule runs.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// A run of this many characters counts as a sequence (`abcd`, `4321`, `qwer`) or a repeat
/// (`1111`). Three would refuse too many ordinary words (`abc` in "fabcon", `888` in a year).
pub const RUN_LENGTH: usize = 4;

/// Every configuration accepts passwords of at least this many characters (ASVS 6.2.9).
const MIN_ALLOWED_MAX_LENGTH: usize = 64;
/// No configuration may accept passwords shorter than this (ASVS 6.2.1).
const MIN_ALLOWED_MIN_LENGTH: usize = 8;
/// E-mail local parts and name parts shorter than this are too common a substring to refuse.
const MIN_PERSONAL_LEN: usize = 3;
/// Keyboard rows whose runs (either direction) count as sequences.
const KEYBOARD_ROWS: [&str; 4] = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"];

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty())
        .collect()
});

/// How many passwords the embedded common-password list holds (see `data/COMMON-PASSWORDS-NOTICE`).
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// A preset for the rules left at `None` in [`PasswordPolicyConfig`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// ASVS defaults: no composition rules.
    #[default]
    Standard,
    /// Also requires upper, lower, digit, special and at least 8 distinct characters.
    Strict,
}

/// The `[password]` configuration section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicyConfig {
    /// `standard` or `strict`: the defaults the `require_*` and `min_distinct` keys follow.
    pub profile: Profile,
    /// Minimum length in characters (after NFKC normalization).
    pub min_length: usize,
    /// Maximum length in characters; at least 64.
    pub max_length: usize,
    /// Minimum strength 0–100 (see [`PasswordPolicy::strength`]); 0 disables the rule.
    pub min_strength: u8,
    /// Refuse runs such as `abcd`, `4321`, `qwer` and repeats such as `1111`.
    pub reject_sequences: bool,
    /// Refuse passwords on the embedded common-password list.
    pub reject_common: bool,
    /// Refuse passwords containing the account's e-mail address or name.
    pub reject_personal: bool,
    /// `None` follows the profile (strict → required).
    pub require_upper: Option<bool>,
    /// Require a lowercase letter; `None` follows the profile.
    pub require_lower: Option<bool>,
    /// Require a digit; `None` follows the profile.
    pub require_digit: Option<bool>,
    /// Require a character that is neither letter nor digit; `None` follows the profile.
    pub require_special: Option<bool>,
    /// Minimum number of distinct characters; `None` follows the profile (strict → 8).
    pub min_distinct: Option<usize>,
}

impl Default for PasswordPolicyConfig {
    fn default() -> Self {
        Self {
            profile: Profile::Standard,
            min_length: 12,
            max_length: 128,
            min_strength: 60,
            reject_sequences: true,
            reject_common: true,
            reject_personal: true,
            require_upper: None,
            require_lower: None,
            require_digit: None,
            require_special: None,
            min_distinct: None,
        }
    }
}

impl PasswordPolicyConfig {
    /// Every problem with this configuration, each naming its key; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_length < MIN_ALLOWED_MAX_LENGTH {
            problems.push(format!(
                "password.max_length is {}; it must be at least {MIN_ALLOWED_MAX_LENGTH} so that \
                 long passphrases are allowed",
                self.max_length
            ));
        }
        if self.min_length < MIN_ALLOWED_MIN_LENGTH {
            problems.push(format!(
                "password.min_length is {}; it must be at least {MIN_ALLOWED_MIN_LENGTH}",
                self.min_length
            ));
        }
        if self.min_length > self.max_length {
            problems.push(format!(
                "password.min_length ({}) is greater than password.max_length ({}); no password \
                 could be set",
                self.min_length, self.max_length
            ));
        }
        if self.min_strength > 100 {
            problems.push(format!(
                "password.min_strength is {}; it must be between 0 and 100",
                self.min_strength
            ));
        }
        if let Some(min) = self.min_distinct.filter(|&min| min > self.max_length) {
            problems.push(format!(
                "password.min_distinct ({min}) is greater than password.max_length ({}); no \
                 password could be set",
                self.max_length
            ));
        }
        problems
    }
}

/// What the policy knows about the account, to refuse passwords made of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    /// The account's e-mail address, if known.
    pub email: Option<&'a str>,
    /// The account's display name, if known.
    pub name: Option<&'a str>,
}

/// One rule a password breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Fewer characters than `password.min_length`.
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// More characters than `password.max_length`.
    TooLong {
        /// The maximum length.
        max: usize,
    },
    /// zxcvbn judges it too easy to guess.
    TooWeak {
        /// zxcvbn's score for the password (0–4).
        score: u8,
        /// The score required.
        min: u8,
    },
    /// A run such as `abcd` or `4321`.
    Sequence,
    /// One character repeated many times over.
    Repeated,
    /// On the list of common passwords.
    Common,
    /// Contains the account's e-mail address (or its local part).
    ContainsEmail,
    /// Contains the account's name.
    ContainsName,
    /// No uppercase letter, where one is required.
    MissingUpper,
    /// No lowercase letter, where one is required.
    MissingLower,
    /// No digit, where one is required.
    MissingDigit,
    /// No special character, where one is required.
    MissingSpecial,
    /// Too few distinct characters.
    TooFewDistinct {
        /// The minimum number of distinct characters.
        min: usize,
    },
}

impl Violation {
    /// A stable machine-readable code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::TooWeak { .. } => "too_weak",
            Self::Sequence => "sequence",
            Self::Repeated => "repeated",
            Self::Common => "common",
            Self::ContainsEmail => "contains_email",
            Self::ContainsName => "contains_name",
            Self::MissingUpper => "missing_upper",
            Self::MissingLower => "missing_lower",
            Self::MissingDigit => "missing_digit",
            Self::MissingSpecial => "missing_special",
            Self::TooFewDistinct { .. } => "too_few_distinct",
        }
    }

    /// A sentence telling the user what to change.
    pub fn message(&self) -> String {
        match self {
            Self::TooShort { min } => format!("Use at least {min} characters."),
            Self::TooLong { max } => format!("Use at most {max} characters."),
            Self::TooWeak { score, min } => format!(
                "This password is too easy to guess (strength {score} of 100, {min} needed). \
                 Add more words or characters."
            ),
            Self::Sequence => format!(
                "Avoid runs of {RUN_LENGTH} or more consecutive characters such as \"abcd\", \
                 \"4321\" or \"qwer\"."
            ),
            Self::Repeated => {
                format!("Avoid repeating a character {RUN_LENGTH} or more times in a row.")
            }
            Self::Common => "This password is too common. Choose another one.".into(),
            Self::ContainsEmail => "Do not use your e-mail address in your password.".into(),
            Self::ContainsName => "Do not use your name in your password.".into(),
            Self::MissingUpper => "Add an upper-case letter.".into(),
            Self::MissingLower => "Add a lower-case letter.".into(),
            Self::MissingDigit => "Add a digit.".into(),
            Self::MissingSpecial => "Add a character that is not a letter or a digit.".into(),
            Self::TooFewDistinct { min } => format!("Use at least {min} different characters."),
        }
    }
}

/// A policy built once from its configuration; cheap to clone and share between threads.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    config: PasswordPolicyConfig,
    require_upper: bool,
    require_lower: bool,
    require_digit: bool,
    require_special: bool,
    min_distinct: usize,
}

impl PasswordPolicy {
    /// Resolves the profile. The configuration should have passed
    /// [`PasswordPolicyConfig::problems`].
    pub fn new(config: PasswordPolicyConfig) -> Self {
        let strict = config.profile == Profile::Strict;
        if config.reject_common {
            LazyLock::force(&COMMON); // build the set at start, not on the first request
        }
        Self {
            require_upper: config.require_upper.unwrap_or(strict),
            require_lower: config.require_lower.unwrap_or(strict),
            require_digit: config.require_digit.unwrap_or(strict),
            require_special: config.require_special.unwrap_or(strict),
            min_distinct: config.min_distinct.unwrap_or(if strict { 8 } else { 0 }),
            config,
        }
    }

    /// `Ok` if `password` may be set, else every rule it breaks, in the order of [`Violation`]'s
    /// variants.
    pub fn check(&self, password: &str, ctx: &PasswordContext) -> Result<(), Vec<Violation>> {
        let config = &self.config;
        // Counting through the lazy iterator stops after max + 1 characters: a huge input costs
        // no more than a maximal one.
        if password.nfkc().take(config.max_length + 1).count() > config.max_length {
            return Err(vec![Violation::TooLong {
                max: config.max_length,
            }]);
        }
        let normalized = Zeroizing::new(password.nfkc().collect::<String>());
        let lower = Zeroizing::new(normalized.to_lowercase());
        let personal = Personal::new(ctx);

        let mut violations = Vec::new();
        if normalized.chars().count() < config.min_length {
            violations.push(Violation::TooShort {
                min: config.min_length,
            });
        }
        if config.min_strength > 0 {
            let score = Self::strength(&normalized, &personal.inputs());
            if score < config.min_strength {
                violations.push(Violation::TooWeak {
                    score,
                    min: config.min_strength,
                });
            }
        }
        if config.reject_sequences {
            if has_sequence(&lower) {
                violations.push(Violation::Sequence);
            }
            if has_repeat(&lower) {
                violations.push(Violation::Repeated);
            }
        }
        if config.reject_common && COMMON.contains(lower.trim()) {
            violations.push(Violation::Common);
        }
        if config.reject_personal {
            if personal.email.iter().any(|e| lower.contains(e.as_str())) {
                violations.push(Violation::ContainsEmail);
            }
            if personal.name.iter().any(|n| lower.contains(n.as_str())) {
                violations.push(Violation::ContainsName);
            }
        }
        let has = |pred: fn(&char) -> bool| normalized.chars().any(|c| pred(&c));
        if self.require_upper && !has(|c| c.is_uppercase()) {
            violations.push(Violation::MissingUpper);
        }
        if self.require_lower && !has(|c| c.is_lowercase()) {
            violations.push(Violation::MissingLower);
        }
        if self.require_digit && !has(|c| c.is_numeric()) {
            violations.push(Violation::MissingDigit);
        }
        if self.require_special && !has(|c| !c.is_alphanumeric()) {
            violations.push(Violation::MissingSpecial);
        }
        if self.min_distinct > 0
            && normalized.chars().collect::<HashSet<_>>().len() < self.min_distinct
        {
            violations.push(Violation::TooFewDistinct {
                min: self.min_distinct,
            });
        }

        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// Strength 0–100: `min(100, round(7.5 × log10(guesses)))` with zxcvbn's guess estimate,
    /// `user_inputs` (e-mail, name…) counting as known words. 60 is 10^8 guesses, zxcvbn's
    /// score 3 ("safely unguessable: moderate protection from offline slow-hash scenario");
    /// 75 is 10^10 (score 4); 100 is 10^13.3.
    pub fn strength(password: &str, user_inputs: &[&str]) -> u8 {
        let log10 = zxcvbn::zxcvbn(password, user_inputs).guesses_log10();
        // NaN (never expected) and -inf (empty password) both clamp to 0.
        let scaled = (log10 * 7.5).round();
        if scaled.is_nan() {
            0
        } else {
            scaled.clamp(0.0, 100.0) as u8
        }
    }
}

/// The account's e-mail and name pieces, NFKC-normalized and lowercased like the password.
struct Personal {
    email: Vec<String>,
    name: Vec<String>,
}

impl Personal {
    fn new(ctx: &PasswordContext) -> Self {
        let norm = |s: &str| s.trim().nfkc().collect::<String>().to_lowercase();
        let long_enough = |s: &String| s.chars().count() >= MIN_PERSONAL_LEN;
        let mut email = Vec::new();
        if let Some(address) = ctx.email.map(norm).filter(|a| !a.is_empty()) {
            if let Some((local, _)) = address.rsplit_once('@') {
                email.extend(Some(local.to_string()).filter(long_enough));
            }
            email.push(address);
        }
        let name = ctx.name.map(norm).unwrap_or_default();
        let mut name: Vec<String> = name
            .split_whitespace()
            .map(str::to_string)
            .chain(Some(name.clone()))
            .filter(long_enough)
            .collect();
        name.dedup();
        Self { email, name }
    }

    fn inputs(&self) -> Vec<&str> {
        self.email
            .iter()
            .chain(&self.name)
            .map(String::as_str)
            .collect()
    }
}

/// `RUN_LENGTH` letters or digits in code-point order, up or down (`abcd`, `4321`), or along a
/// keyboard row (`qwer`, `0987`). `lower` is already lowercased.
fn has_sequence(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let by_code_point = chars.windows(RUN_LENGTH).any(|w| {
        let step = |d: i64| {
            w.iter().all(|c| c.is_alphanumeric())
                && w.windows(2).all(|p| p[1] as i64 - p[0] as i64 == d)
        };
        step(1) || step(-1)
    });
    by_code_point
        || KEYBOARD_ROWS.iter().any(|row| {
            let forward: Vec<char> = row.chars().collect();
            let backward: Vec<char> = row.chars().rev().collect();
            [forward, backward].iter().any(|row| {
                row.windows(RUN_LENGTH)
                    .any(|run| chars.windows(RUN_LENGTH).any(|w| w == run))
            })
        })
}

/// The same character `RUN_LENGTH` times in a row (`1111`, `aaaa`).
fn has_repeat(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    chars
        .windows(RUN_LENGTH)
        .any(|w| w.iter().all(|&c| c == w[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: PasswordContext = PasswordContext {
        email: None,
        name: None,
    };

    fn default_policy() -> PasswordPolicy {
        PasswordPolicy::new(PasswordPolicyConfig::default())
    }

    /// A policy with every rule off but length, then `f` applied.
    fn only(f: impl FnOnce(&mut PasswordPolicyConfig)) -> PasswordPolicy {
        let mut config = PasswordPolicyConfig {
            min_strength: 0,
            reject_sequences: false,
            reject_common: false,
            reject_personal: false,
            ..PasswordPolicyConfig::default()
        };
        f(&mut config);
        PasswordPolicy::new(config)
    }

    fn violations(
        policy: &PasswordPolicy,
        password: &str,
        ctx: &PasswordContext,
    ) -> Vec<Violation> {
        policy.check(password, ctx).err().unwrap_or_default()
    }

    #[test]
    fn strong_passphrase_accepted_with_defaults() {
        let policy = default_policy();
        assert_eq!(policy.check("correct horse battery staple", &NONE), Ok(()));
        assert_eq!(policy.check("Tangerine-Submarine-Velvet!7", &NONE), Ok(()));
    }

    #[test]
    fn common_and_weak_passwords_refused() {
        let policy = default_policy();
        for password in ["Password123!", "qwertyuiop123"] {
            let found = violations(&policy, password, &NONE);
            assert!(
                found.contains(&Violation::Common)
                    || found.iter().any(|v| matches!(v, Violation::TooWeak { .. })),
                "{password}: {found:?}"
            );
        }
        assert!(violations(&policy, "qwertyuiop123", &NONE).contains(&Violation::Common));
    }

    #[test]
    fn length_bounds_are_inclusive() {
        let policy = only(|_| {});
        assert_eq!(
            violations(&policy, "abcdefghijk", &NONE),
            vec![Violation::TooShort { min: 12 }]
        );
        assert_eq!(policy.check("abcdefghijkl", &NONE), Ok(()));
        assert_eq!(policy.check(&"x".repeat(128), &NONE), Ok(()));
        assert_eq!(
            violations(&policy, &"x".repeat(129), &NONE),
            vec![Violation::TooLong { max: 128 }]
        );
    }

    #[test]
    fn too_long_is_reported_alone_and_quickly() {
        // A megabyte that would break every other rule: only TooLong comes back.
        let huge = "a".repeat(1 << 20);
        assert_eq!(
            violations(&default_policy(), &huge, &NONE),
            vec![Violation::TooLong { max: 128 }]
        );
    }

    #[test]
    fn sixty_four_character_passphrase_accepted() {
        let passphrase = "glacier mosaic thimble orchard lantern quibble saffron nimbus ok";
        assert_eq!(passphrase.chars().count(), 64);
        assert_eq!(default_policy().check(passphrase, &NONE), Ok(()));
    }

    #[test]
    fn length_counts_characters_after_nfkc() {
        let policy = only(|_| {});
        // 12 full-width letters are 12 characters (36 bytes) and normalize to ASCII.
        let full_width = "ｐａｓｓｐｈｒａｓｅｘｙ";
        assert_eq!(full_width.chars().count(), 12);
        assert_eq!(policy.check(full_width, &NONE), Ok(()));
        assert!(
            violations(&policy, &full_width[3..], &NONE).contains(&Violation::TooShort { min: 12 })
        );
        // "ﬃ" is one scalar value but three characters after NFKC.
        assert_eq!(policy.check("ﬃabcdefghi", &NONE), Ok(()));
        // Full-width "password" is the common password after normalization.
        let policy = only(|c| {
            c.min_length = 8;
            c.reject_common = true;
        });
        assert_eq!(
            violations(&policy, "ｐａｓｓｗｏｒｄ", &NONE),
            vec![Violation::Common]
        );
    }

    #[test]
    fn strength_maps_guesses_to_0_100() {
        assert_eq!(PasswordPolicy::strength("", &[]), 0);
        assert!(PasswordPolicy::strength("password", &[]) < 20);
        assert_eq!(
            PasswordPolicy::strength("correct horse battery staple", &[]),
            100
        );
        // User inputs count as known words.
        let with = PasswordPolicy::strength("zebulonfirth1", &["zebulonfirth"]);
        assert!(with < PasswordPolicy::strength("zebulonfirth1", &[]));
    }

    #[test]
    fn too_weak_follows_min_strength() {
        let password = "Zebulon7qx!m";
        let score = PasswordPolicy::strength(password, &[]);
        let at = only(|c| c.min_strength = score);
        assert_eq!(at.check(password, &NONE), Ok(()));
        let above = only(|c| c.min_strength = score + 1);
        assert_eq!(
            violations(&above, password, &NONE),
            vec![Violation::TooWeak {
                score,
                min: score + 1
            }]
        );
    }

    #[test]
    fn sequences_refused() {
        let policy = only(|c| c.reject_sequences = true);
        for password in [
            "xxabcdxxxyxy",
            "pass4321wordz",
            "mywxyzpassphr",
            "ABCDpassphrase",
            "zzqwerzzyyzz",
            "pw0987pwpwpw",
        ] {
            assert_eq!(
                violations(&policy, password, &NONE),
                vec![Violation::Sequence],
                "{password}"
            );
        }
        for password in [
            "xxabcxxxyxyz",
            "pass4320word",
            "ab-cd-ef-gh-ij",
            "qwe-rty-uio-p",
        ] {
            assert_eq!(policy.check(password, &NONE), Ok(()), "{password}");
        }
    }

    #[test]
    fn repeats_refused() {
        let policy = only(|c| c.reject_sequences = true);
        assert_eq!(
            violations(&policy, "pass1111word", &NONE),
            vec![Violation::Repeated]
        );
        assert_eq!(
            violations(&policy, "passAaAaword", &NONE),
            vec![Violation::Repeated]
        );
        assert_eq!(policy.check("pass111word1", &NONE), Ok(()));
    }

    #[test]
    fn common_list_is_embedded_and_checked_lowercased() {
        assert!(common_password_count() >= 10_000);
        assert_eq!(common_password_count(), 19_640);
        let policy = only(|c| c.reject_common = true);
        assert_eq!(
            violations(&policy, "Q1W2E3R4T5Y6", &NONE),
            vec![Violation::Common]
        );
        assert_eq!(
            violations(&policy, "q1w2e3r4t5y6 ", &NONE),
            vec![Violation::Common]
        );
        assert_eq!(policy.check("q1w2e3r4t5y7", &NONE), Ok(()));
    }

    #[test]
    fn email_refused_whole_or_local_part() {
        let policy = only(|c| c.reject_personal = true);
        let ctx = PasswordContext {
            email: Some("Jane.Doe@Example.com"),
            name: None,
        };
        assert_eq!(
            violations(&policy, "xxjane.doexxxx", &ctx),
            vec![Violation::ContainsEmail]
        );
        assert_eq!(
            violations(&policy, "JANE.DOE@example.COM!", &ctx),
            vec![Violation::ContainsEmail]
        );
        assert_eq!(policy.check("janedoe-different", &ctx), Ok(()));
        // A local part under 3 characters is not refused on its own.
        let short = PasswordContext {
            email: Some("jd@example.com"),
            name: None,
        };
        assert_eq!(policy.check("jdjdjdjdjdjd", &short), Ok(()));
        assert_eq!(
            violations(&policy, "xjd@example.comx", &short),
            vec![Violation::ContainsEmail]
        );
        let three = PasswordContext {
            email: Some("jdx@example.com"),
            name: None,
        };
        assert_eq!(
            violations(&policy, "myjdxpassword", &three),
            vec![Violation::ContainsEmail]
        );
    }

    #[test]
    fn name_refused_case_insensitively() {
        let policy = only(|c| c.reject_personal = true);
        let ctx = PasswordContext {
            email: None,
            name: Some("Zebulon Firth"),
        };
        assert_eq!(
            violations(&policy, "ilovezebulon99", &ctx),
            vec![Violation::ContainsName]
        );
        assert_eq!(
            violations(&policy, "FIRTHfirthFIRTH", &ctx),
            vec![Violation::ContainsName]
        );
        assert_eq!(policy.check("zebu-lon-fir-th", &ctx), Ok(()));
        let off = only(|_| {});
        assert_eq!(off.check("ilovezebulon99", &ctx), Ok(()));
    }

    #[test]
    fn composition_off_by_default_and_on_in_strict() {
        let lowercase_only = "thimbleorchardlantern";
        assert_eq!(only(|_| {}).check(lowercase_only, &NONE), Ok(()));
        let strict = only(|c| c.profile = Profile::Strict);
        assert_eq!(
            violations(&strict, lowercase_only, &NONE),
            vec![
                Violation::MissingUpper,
                Violation::MissingDigit,
                Violation::MissingSpecial
            ]
        );
        assert_eq!(
            violations(&strict, "AAAABBBBCCCC", &NONE),
            vec![
                Violation::MissingLower,
                Violation::MissingDigit,
                Violation::MissingSpecial,
                Violation::TooFewDistinct { min: 8 }
            ]
        );
        assert_eq!(strict.check("Thimble-Orchard-7", &NONE), Ok(()));
        // 7 vs 8 distinct characters.
        assert_eq!(
            violations(&strict, "Aa1!bcdAa1!bcd", &NONE),
            vec![Violation::TooFewDistinct { min: 8 }]
        );
        assert_eq!(strict.check("Aa1!bcdeAa1!bcde", &NONE), Ok(()));
        // Explicit settings win over the profile.
        let relaxed = only(|c| {
            c.profile = Profile::Strict;
            c.require_special = Some(false);
            c.min_distinct = Some(0);
        });
        assert_eq!(relaxed.check("Thimble0rchard", &NONE), Ok(()));
        let digit_only = only(|c| c.require_digit = Some(true));
        assert_eq!(
            violations(&digit_only, lowercase_only, &NONE),
            vec![Violation::MissingDigit]
        );
    }

    #[test]
    fn all_violations_reported_in_stable_order() {
        let ctx = PasswordContext {
            email: Some("abcd@example.com"),
            name: None,
        };
        let strict = PasswordPolicy::new(PasswordPolicyConfig {
            profile: Profile::Strict,
            ..PasswordPolicyConfig::default()
        });
        let found = violations(&strict, "abcd1111", &ctx);
        let codes: Vec<_> = found.iter().map(Violation::code).collect();
        assert_eq!(
            codes,
            [
                "too_short",
                "too_weak",
                "sequence",
                "repeated",
                "contains_email",
                "missing_upper",
                "missing_special",
                "too_few_distinct"
            ]
        );
        assert!(found.iter().all(|v| v.message().ends_with('.')));
        assert_eq!(
            Violation::TooShort { min: 12 }.message(),
            "Use at least 12 characters."
        );
    }

    #[test]
    fn config_problems_name_their_keys() {
        assert!(PasswordPolicyConfig::default().problems().is_empty());
        let bad = PasswordPolicyConfig {
            min_length: 7,
            max_length: 63,
            min_strength: 101,
            ..PasswordPolicyConfig::default()
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("password.max_length"));
        assert!(problems[1].starts_with("password.min_length"));
        assert!(problems[2].starts_with("password.min_strength"));
        let inverted = PasswordPolicyConfig {
            min_length: 100,
            max_length: 64,
            min_distinct: Some(65),
            ..PasswordPolicyConfig::default()
        };
        let problems = inverted.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("password.min_length (100)"));
        assert!(problems[1].starts_with("password.min_distinct"));
        let edge = PasswordPolicyConfig {
            min_length: 8,
            max_length: 64,
            min_strength: 100,
            ..PasswordPolicyConfig::default()
        };
        assert!(edge.problems().is_empty());
    }

    #[test]
    fn config_parses_strictly() {
        let config: PasswordPolicyConfig =
            serde_json::from_str(r#"{"profile":"strict","min_length":14}"#).unwrap();
        assert_eq!(config.profile, Profile::Strict);
        assert_eq!(config.min_length, 14);
        assert_eq!(config.max_length, 128);
        assert!(serde_json::from_str::<PasswordPolicyConfig>(r#"{"min_lenght":14}"#).is_err());
        assert!(serde_json::from_str::<PasswordPolicyConfig>(r#"{"profile":"Strict"}"#).is_err());
    }

    #[test]
    fn policy_is_shareable() {
        fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
        assert_traits::<PasswordPolicy>();
    }
}
