//! Ceremony state kept server-side: a started registration or sign-in waits here under a random
//! id the browser echoes back. Single use (taken out when finished, whatever the outcome),
//! short-lived (`auth.passkeys.ceremony_ttl` on the gateway's clock), bounded (the oldest go
//! first past [`MAX_PENDING`]), and bound to what started it (a registration to its account).
//!
//! Held in this process: a ceremony finishes on the replica that started it (the browser's
//! few seconds between start and finish; replicas behind a load balancer need affinity for
//! `/auth/passkeys/*`, written in DESIGN.md).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use palisade_core::clock::SharedClock;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyRegistration};

/// Ceremonies waiting at once, at most; past it the oldest is dropped.
pub const MAX_PENDING: usize = 10_000;

/// What a ceremony waits with.
pub enum Pending {
    /// A registration for this account, with the name it will get.
    Register {
        /// The account adding the passkey.
        user_id: Uuid,
        /// The passkey's name.
        name: String,
        /// The library's state.
        state: Box<PasskeyRegistration>,
    },
    /// A passwordless sign-in (any account's discoverable passkey).
    SignIn(Box<DiscoverableAuthentication>),
}

/// The waiting ceremonies.
pub struct Ceremonies {
    clock: SharedClock,
    ttl_ms: u64,
    pending: Mutex<HashMap<String, (u64, Pending)>>,
}

impl Ceremonies {
    /// An empty set whose ceremonies live `ttl_ms` on `clock`.
    pub fn new(clock: SharedClock, ttl_ms: u64) -> Self {
        Self {
            clock,
            ttl_ms,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `p`; the id to finish it with (256 random bits).
    pub fn start(&self, p: Pending) -> String {
        let mut raw = [0u8; 32];
        rand::fill(&mut raw);
        let id = B64.encode(raw);
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
        map.insert(id.clone(), (now + self.ttl_ms, p));
        id
    }

    /// Takes ceremony `id` out (once); `None` when unknown, used or expired.
    pub fn take(&self, id: &str) -> Option<Pending> {
        let now = self.clock.now_millis();
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (expires, p) = map.remove(id)?;
        (expires > now).then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::clock::ManualClock;
    use std::sync::Arc;

    fn sign_in_state() -> Pending {
        let w = webauthn_rs::WebauthnBuilder::new(
            "localhost",
            &webauthn_rs::prelude::Url::parse("http://localhost:1").unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        Pending::SignIn(Box::new(w.start_discoverable_authentication().unwrap().1))
    }

    #[test]
    fn single_use_and_short_lived() {
        let clock = Arc::new(ManualClock::starting_at(1_000_000));
        let c = Ceremonies::new(clock.clone(), 60_000);
        let id = c.start(sign_in_state());
        assert!(c.take("nope").is_none());
        assert!(c.take(&id).is_some());
        assert!(c.take(&id).is_none(), "used once");
        let late = c.start(sign_in_state());
        clock.advance(std::time::Duration::from_secs(61));
        assert!(c.take(&late).is_none(), "expired");
    }
}
