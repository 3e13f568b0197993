//! Started federated sign-ins waiting for their callback, kept server-side under their `state`.
//!
//! Guarantees: the `state` is 256 random bits, and so are the PKCE verifier and the `nonce`
//! kept with it (none of them leaves the server except as the provider needs: the state and
//! the nonce in the authorization request, the S256 challenge of the verifier); a flow is taken
//! out once, whatever the outcome (single use: a replayed callback finds nothing); it lives
//! `auth.federation.flow_ttl` on the gateway's clock; at most [`MAX_PENDING`] wait (the oldest
//! go first); and it is bound to the browser that started it by a random value held in the
//! `__Host-palisade-fed` cookie, stored here as its SHA-256 and compared in constant time.
//!
//! Held in this process, like the passkey ceremonies: the callback must reach the replica
//! that started the flow (affinity for `/auth/federated/*`, written in DESIGN.md).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use palisade_core::clock::SharedClock;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Flows waiting at once, at most; past it the oldest is dropped.
pub const MAX_PENDING: usize = 10_000;

/// The browser-binding cookie of a started flow.
pub const BINDING_COOKIE: &str = "__Host-palisade-fed";

/// What a sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Sign in (or provision) through the provider.
    SignIn,
    /// Link the provider identity to this signed-in account.
    Link(Uuid),
    /// Store the provider's tokens as an OAuth connection of this account.
    Connect(Uuid),
}

/// One started flow.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The configured provider it went to.
    pub provider: String,
    /// The PKCE code verifier (RFC 7636).
    pub verifier: String,
    /// The OpenID Connect `nonce` the ID token must carry.
    pub nonce: String,
    /// Where the browser goes afterwards ("" for the signed-in page), already allow-listed.
    pub return_to: String,
    /// Sign-in or link.
    pub intent: Intent,
    binding: [u8; 32],
}

/// The waiting flows.
pub struct Flows {
    clock: SharedClock,
    ttl_ms: u64,
    pending: Mutex<HashMap<String, (u64, Flow)>>,
}

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    B64.encode(raw)
}

/// The PKCE S256 challenge of `verifier`.
pub fn s256(verifier: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

fn digest(binding: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, binding.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// What [`Flows::start`] answers: the values the authorization request and the browser carry.
pub struct Started {
    /// The `state` parameter.
    pub state: String,
    /// The `nonce` parameter.
    pub nonce: String,
    /// The `code_challenge` (S256).
    pub challenge: String,
    /// The value of the binding cookie.
    pub binding: String,
}

impl Flows {
    /// No flows; each lives `ttl_ms` on `clock`.
    pub fn new(clock: SharedClock, ttl_ms: u64) -> Self {
        Self {
            clock,
            ttl_ms,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds a flow lives (the binding cookie's Max-Age).
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_ms / 1000
    }

    /// Starts a flow to `provider`.
    pub fn start(&self, provider: &str, return_to: String, intent: Intent) -> Started {
        let (state, nonce, verifier, binding) = (
            random_token(),
            random_token(),
            random_token(),
            random_token(),
        );
        let started = Started {
            state: state.clone(),
            nonce: nonce.clone(),
            challenge: s256(&verifier),
            binding: binding.clone(),
        };
        let flow = Flow {
            provider: provider.to_owned(),
            verifier,
            nonce,
            return_to,
            intent,
            binding: digest(&binding),
        };
        let now = self.clock.now_millis();
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (expires, _)| *expires > now);
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (e, _))| *e)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(state, (now + self.ttl_ms, flow));
        started
    }

    /// Takes the flow of `state` out (once). `None` when unknown, used or expired;
    /// `Some(Err(flow))` when the browser's binding cookie is missing or another's.
    pub fn take(&self, state: &str, binding: Option<&str>) -> Option<Result<Flow, Flow>> {
        let now = self.clock.now_millis();
        let (expires, flow) = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(state)?;
        if expires <= now {
            return None;
        }
        let bound = binding.is_some_and(|b| {
            subtle::ConstantTimeEq::ct_eq(&digest(b)[..], &flow.binding[..]).into()
        });
        Some(if bound { Ok(flow) } else { Err(flow) })
    }
}

/// The binding cookie's value from a request's `Cookie` headers.
pub fn binding_of(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == BINDING_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for the binding of a started flow. `SameSite=Lax`: the provider's redirect back
/// is a top-level navigation from another site, which Lax lets through.
pub fn set_binding(value: &str, max_age: u64) -> String {
    format!("{BINDING_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

/// `Set-Cookie` clearing the binding.
pub fn clear_binding() -> String {
    format!("{BINDING_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::clock::ManualClock;
    use std::sync::Arc;

    #[test]
    fn single_use_bound_to_the_browser_and_short_lived() {
        let clock = Arc::new(ManualClock::starting_at(1_000_000));
        let flows = Flows::new(clock.clone(), 60_000);
        let s = flows.start("corp", String::new(), Intent::SignIn);
        assert_eq!(s.challenge.len(), 43);
        assert!(flows.take("nope", Some(&s.binding)).is_none());
        assert!(flows.take(&s.state, Some(&s.binding)).unwrap().is_ok());
        assert!(
            flows.take(&s.state, Some(&s.binding)).is_none(),
            "used once"
        );
        let other = flows.start("corp", String::new(), Intent::SignIn);
        assert!(flows.take(&other.state, Some("another")).unwrap().is_err());
        assert!(flows.take(&other.state, Some(&other.binding)).is_none());
        let late = flows.start("corp", String::new(), Intent::SignIn);
        clock.advance(std::time::Duration::from_secs(61));
        assert!(
            flows.take(&late.state, Some(&late.binding)).is_none(),
            "expired"
        );
    }

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
