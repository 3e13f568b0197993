//! `[auth.totp]` and `[auth.mfa]`: how TOTP codes are checked and who must use a second factor.
//!
//! Guarantees (`problems`, called by `config check` and at start): at most one step of skew
//! (ASVS 5.0 V6.5: the current and the previous step only), a pending sign-in lives 1 to 15
//! minutes, and every role that requires MFA is a declared role.

use super::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[auth.totp]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TotpConfig {
    /// Steps before the current one whose code is still accepted (0 or 1; never a future step).
    pub skew_steps: u64,
    /// The issuer an authenticator app shows next to the account (default: `auth.issuer`).
    pub issuer: Option<String>,
    /// How many authenticators one user may have.
    pub max_per_user: usize,
}

impl Default for TotpConfig {
    fn default() -> Self {
        Self {
            skew_steps: 1,
            issuer: None,
            max_per_user: 10,
        }
    }
}

/// `[auth.mfa]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// Users holding any of these roles must sign in with a second factor; one who has none
    /// enrolled yet may sign in with a password alone for `enrollment_grace` after the account
    /// was created, then only to enroll.
    pub required_roles: Vec<String>,
    /// How long a user of a required role may go without a second factor.
    pub enrollment_grace: HumanDuration,
    /// How long the `mfa_token` of a password sign-in waiting for its second factor is valid.
    pub token_ttl: HumanDuration,
    /// How recent the sign-in must be (its `auth_time`) to add or remove a sign-in factor
    /// (authenticator app, recovery codes, passkey, linked provider): ASVS 5.0 V7.5.1.
    pub recent_auth: HumanDuration,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            required_roles: Vec::new(),
            enrollment_grace: HumanDuration(Duration::from_secs(7 * 86400)),
            token_ttl: HumanDuration(Duration::from_secs(5 * 60)),
            recent_auth: HumanDuration(Duration::from_secs(15 * 60)),
        }
    }
}

/// What is wrong with the two sections, given the declared role names.
pub fn problems(totp: &TotpConfig, mfa: &MfaConfig, roles: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if totp.skew_steps > 1 {
        out.push("auth.totp.skew_steps: at most 1 (the current and the previous step only)".into());
    }
    if totp.max_per_user == 0 {
        out.push("auth.totp.max_per_user: at least 1".into());
    }
    let ttl = mfa.token_ttl.0;
    if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(15 * 60) {
        out.push("auth.mfa.token_ttl: between 1m and 15m".into());
    }
    let recent = mfa.recent_auth.0;
    if recent < Duration::from_secs(60) || recent > Duration::from_secs(24 * 3600) {
        out.push("auth.mfa.recent_auth: between 1m and 24h".into());
    }
    for role in mfa
        .required_roles
        .iter()
        .filter(|r| !roles.iter().any(|known| known == *r))
    {
        out.push(format!("auth.mfa.required_roles: unknown role {role:?}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_are_named() {
        let roles = vec!["admin".to_string()];
        assert!(problems(&TotpConfig::default(), &MfaConfig::default(), &roles).is_empty());
        let totp = TotpConfig {
            skew_steps: 2,
            ..Default::default()
        };
        let mfa = MfaConfig {
            required_roles: vec!["admin".into(), "wizard".into()],
            token_ttl: HumanDuration(Duration::from_secs(3600)),
            ..Default::default()
        };
        let found = problems(&totp, &mfa, &roles);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("auth.totp.skew_steps"));
        assert!(found[1].starts_with("auth.mfa.token_ttl"));
        assert!(found[2].contains("\"wizard\""));
    }
}
