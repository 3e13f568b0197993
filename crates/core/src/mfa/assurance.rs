//! Authentication assurance: how a session was proven (`amr`, RFC 8176 values), the level it
//! reached (`acr`: `aal1` one factor, `aal2` two), and when (`auth_time`). A route that wants
//! more (`mfa = true`, `max_auth_age`) refuses with the RFC 9470 challenge, whose
//! `WWW-Authenticate` value [`Insufficient::challenge`] writes.

use serde::{Deserialize, Serialize};

/// An authentication assurance level (NIST SP 800-63B), spelled as the `acr` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acr {
    /// One factor (a password, an unverified passkey).
    Aal1,
    /// Two factors: a password and TOTP or a recovery code, or a passkey with user verification.
    Aal2,
}

impl Acr {
    /// `aal1` or `aal2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Aal1 => "aal1",
            Acr::Aal2 => "aal2",
        }
    }

    /// The level an `acr` value names, when it is one of ours.
    pub fn parse(value: &str) -> Option<Acr> {
        match value {
            "aal1" => Some(Acr::Aal1),
            "aal2" => Some(Acr::Aal2),
            _ => None,
        }
    }
}

/// `amr` values (RFC 8176) Palisade writes.
pub mod amr {
    /// A password.
    pub const PASSWORD: &str = "pwd";
    /// A one-time password (TOTP).
    pub const OTP: &str = "otp";
    /// Multiple factors.
    pub const MFA: &str = "mfa";
    /// A hardware-bound key (a passkey).
    pub const HWK: &str = "hwk";
    /// User presence verified by the authenticator (a passkey with UV).
    pub const USER: &str = "user";
    /// A federated sign-in (an identity provider vouched).
    pub const FED: &str = "fed";
    /// A recovery code (not in RFC 8176's registry: Palisade's own, documented).
    pub const RECOVERY: &str = "rec";
}

/// What a session's sign-in proved: carried on sessions, tokens and the principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assurance {
    /// The methods used (RFC 8176 values).
    pub amr: Vec<String>,
    /// The level reached.
    pub acr: Acr,
    /// Unix seconds of the last authentication (sign-in or step-up).
    pub auth_time: u64,
}

impl Assurance {
    /// A password sign-in at `auth_time`: `amr = ["pwd"]`, `aal1`.
    pub fn password(auth_time: u64) -> Self {
        Assurance {
            amr: vec![amr::PASSWORD.into()],
            acr: Acr::Aal1,
            auth_time,
        }
    }

    /// A passkey sign-in with user verification at `auth_time`: a key the user holds and a PIN
    /// or biometric the authenticator checked, `amr = ["hwk", "user"]`, `aal2`.
    pub fn passkey(auth_time: u64) -> Self {
        Assurance {
            amr: vec![amr::HWK.into(), amr::USER.into()],
            acr: Acr::Aal2,
            auth_time,
        }
    }

    /// This assurance after a second factor `method` proven at `now`: `mfa` added, `aal2`, a new
    /// `auth_time`.
    pub fn stepped_up(&self, method: &str, now: u64) -> Self {
        let mut amr = self.amr.clone();
        for m in [method, amr::MFA] {
            if !amr.iter().any(|a| a == m) {
                amr.push(m.into());
            }
        }
        Assurance {
            amr,
            acr: Acr::Aal2,
            auth_time: now,
        }
    }
}

/// What a route demands beyond a valid credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requirement {
    /// `mfa = true`: `aal2` at least.
    pub mfa: bool,
    /// `max_auth_age`: the last authentication at most this many seconds ago.
    pub max_auth_age: Option<u64>,
}

impl Requirement {
    /// Whether the route asks for anything.
    pub fn is_any(&self) -> bool {
        self.mfa || self.max_auth_age.is_some()
    }

    /// `Ok` when `assurance` (none: the credential carries no assurance, e.g. an API key or an
    /// untrusted issuer's token) meets the requirement at `now`; else what to ask for.
    pub fn check(&self, assurance: Option<&Assurance>, now: u64) -> Result<(), Insufficient> {
        if !self.is_any() {
            return Ok(());
        }
        let level_ok = !self.mfa || assurance.is_some_and(|a| a.acr >= Acr::Aal2);
        let age_ok = self.max_auth_age.is_none_or(|max| {
            assurance.is_some_and(|a| a.auth_time <= now && now - a.auth_time <= max)
        });
        if level_ok && age_ok {
            Ok(())
        } else {
            Err(Insufficient {
                acr_values: self.mfa.then_some(Acr::Aal2),
                max_age: self.max_auth_age,
            })
        }
    }
}

/// A credential below a route's level: what the client must come back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    /// The level to reach, when the route wants a level.
    pub acr_values: Option<Acr>,
    /// The age the authentication may have, when the route bounds it.
    pub max_age: Option<u64>,
}

impl Insufficient {
    /// The RFC 9470 `WWW-Authenticate` value: `Bearer error="insufficient_user_authentication"`,
    /// a description, and `acr_values` / `max_age` as the route demands.
    pub fn challenge(&self) -> String {
        let mut value = String::from(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"A \
             different authentication level is required\"",
        );
        if let Some(acr) = self.acr_values {
            value.push_str(&format!(", acr_values=\"{}\"", acr.as_str()));
        }
        if let Some(max_age) = self.max_age {
            value.push_str(&format!(", max_age={max_age}"));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn mfa_routes_want_aal2() {
        let route = Requirement {
            mfa: true,
            max_auth_age: None,
        };
        let pwd = Assurance::password(NOW);
        let err = route.check(Some(&pwd), NOW).unwrap_err();
        assert_eq!(
            err.challenge(),
            "Bearer error=\"insufficient_user_authentication\", error_description=\"A different \
             authentication level is required\", acr_values=\"aal2\""
        );
        assert!(route.check(None, NOW).is_err());
        let two = pwd.stepped_up(amr::OTP, NOW + 5);
        assert_eq!(two.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(two.acr, Acr::Aal2);
        assert_eq!(two.auth_time, NOW + 5);
        assert!(route.check(Some(&two), NOW + 5).is_ok());
    }

    #[test]
    fn max_auth_age_counts_from_auth_time() {
        let route = Requirement {
            mfa: false,
            max_auth_age: Some(900),
        };
        let pwd = Assurance::password(NOW);
        assert!(route.check(Some(&pwd), NOW + 900).is_ok());
        let err = route.check(Some(&pwd), NOW + 901).unwrap_err();
        assert_eq!(err.max_age, Some(900));
        assert!(err.challenge().ends_with(", max_age=900"));
        assert!(!err.challenge().contains("acr_values"));
        // An auth_time in the future is not trusted to be fresh.
        assert!(
            route
                .check(Some(&Assurance::password(NOW + 10)), NOW)
                .is_err()
        );
    }

    #[test]
    fn no_requirement_admits_everything() {
        assert!(Requirement::default().check(None, NOW).is_ok());
    }
}
