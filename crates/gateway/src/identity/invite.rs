//! Invitations for `auth.registration = "invite"`: an invite is `EXPIRY.MAC`, an HMAC-SHA256
//! (key derived from `secrets.signing_key`) over the invited address and the expiry, so it
//! works only for that address and only until it expires. No state is kept.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Registration invites: an HMAC of the address and expiry under a key derived from
/// `secrets.signing_key`.
pub struct InviteKeys(hmac::Key);

impl InviteKeys {
    /// Keys derived from `signing_secret`.
    pub fn new(signing_secret: &str) -> Self {
        let key = super::derive::derive_key(signing_secret, "registration-invite");
        Self(hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()))
    }

    fn message(email: &str, exp: u64) -> String {
        format!("{email}\n{exp}")
    }

    /// An invite for `email` valid until `exp` (Unix seconds).
    pub fn issue(&self, email: &str, exp: u64) -> String {
        let tag = hmac::sign(&self.0, Self::message(email, exp).as_bytes());
        format!("{exp}.{}", B64.encode(tag.as_ref()))
    }

    /// Whether `invite` was issued for `email` and is still valid at `now`.
    pub fn check(&self, email: &str, invite: &str, now: u64) -> bool {
        let Some((exp, tag)) = invite.split_once('.') else {
            return false;
        };
        let (Ok(exp), Ok(tag)) = (exp.parse::<u64>(), B64.decode(tag)) else {
            return false;
        };
        exp > now && hmac::verify(&self.0, Self::message(email, exp).as_bytes(), &tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invites_bind_address_and_expiry() {
        let keys = InviteKeys::new("a signing secret long enough for tests");
        let invite = keys.issue("a@example.com", 100);
        assert!(keys.check("a@example.com", &invite, 99));
        assert!(!keys.check("a@example.com", &invite, 100));
        assert!(!keys.check("b@example.com", &invite, 1));
        assert!(!keys.check("a@example.com", &invite.replace("100.", "999."), 1));
        assert!(!keys.check("a@example.com", "junk", 1));
    }
}
