//! The audit trail's rules: the record, its canonical form, the hash chain, signed checkpoints,
//! and the verifier.
//!
//! Every record carries a sequence number and `hash = SHA-256(prev_hash ‖ canonical(record))`,
//! where the canonical form is JSON with sorted keys and no whitespace over every field except
//! the two hashes. A checkpoint signs `(seq, hash)` with an Ed25519 key kept apart from token
//! keys, so rewriting the trail and recomputing the hashes is still detected by anyone holding
//! the public key, and so is cutting off the tail up to the last checkpoint.
//!
//! Guarantees: [`verify`] reports the first broken sequence number for a changed, deleted,
//! inserted or reordered record, a broken signature, or a tail cut below a checkpoint; records
//! purged by retention are accepted only as a whole prefix that ends where a purge record says.

mod canonical;
mod chain;
pub mod sealed;
pub mod taxonomy;
#[cfg(test)]
mod tests;

pub use canonical::canonical_json;
pub use chain::{Broken, CheckpointSigner, Verified, Verifier, verify, verify_checkpoint};

use serde::{Deserialize, Serialize};

/// Hash of the record before the first one.
pub const GENESIS: [u8; 32] = [0; 32];

/// How much an event matters to a security reviewer; ordered, so a query or an alert rule can
/// ask for "this risk or higher".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Risk {
    /// Routine: a sign-in, a request on an audited route.
    Low,
    /// Worth a look in aggregate: a refusal, a denied permission.
    Medium,
    /// Worth a look each time: a privilege-escalation attempt, a role change, a reused refresh
    /// token.
    High,
    /// Acted on at once: an incident an alert rule escalated.
    Critical,
}

impl Risk {
    /// The stored spelling (`LOW` … `CRITICAL`), as in the trail and in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "LOW",
            Risk::Medium => "MEDIUM",
            Risk::High => "HIGH",
            Risk::Critical => "CRITICAL",
        }
    }

    /// Reads the stored spelling in any case; `None` for anything else.
    pub fn parse(s: &str) -> Option<Risk> {
        match s.to_ascii_uppercase().as_str() {
            "LOW" => Some(Risk::Low),
            "MEDIUM" => Some(Risk::Medium),
            "HIGH" => Some(Risk::High),
            "CRITICAL" => Some(Risk::Critical),
            _ => None,
        }
    }
}

/// How the audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and failed for a reason other than policy (a wrong password, an error).
    Failure,
    /// A policy refused it (authorization, a rate limit, a block).
    Denied,
}

impl Outcome {
    /// The stored spelling (`success`, `failure`, `denied`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    /// Reads the stored spelling (exact case); `None` for anything else.
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// Who wrote an event into the trail: Palisade itself, or the application behind it
/// (`POST /admin/audit/events`). Both share one chain; alert rules act on Palisade's events
/// unless they name the app source, and then may only notify.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Recorded by Palisade (gates, built-in API, CLI, alert engine).
    #[default]
    Palisade,
    /// Posted by an application through `POST /admin/audit/events`.
    App,
}

impl Source {
    /// The stored spelling (`palisade`, `app`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Palisade => "palisade",
            Source::App => "app",
        }
    }

    /// Reads the stored spelling (exact case); `None` for anything else.
    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "palisade" => Some(Source::Palisade),
            "app" => Some(Source::App),
            _ => None,
        }
    }
}

/// One event as stored: what happened, and its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps (except a purged prefix).
    pub seq: u64,
    /// UUIDv7.
    pub id: String,
    /// Unix milliseconds, UTC.
    pub ts_ms: i64,
    /// `area.verb`, one of [`taxonomy`]'s types (e.g. `auth.login_success`).
    pub event_type: String,
    /// How much it matters.
    pub risk: Risk,
    /// User, service account or key id.
    pub actor: Option<String>,
    /// The API action or `METHOD /canonical/path` of the request, when one caused it.
    pub action: Option<String>,
    /// What was acted on: its kind (`user`, `route`, `secret`, …).
    pub resource_type: Option<String>,
    /// What was acted on: its id within [`Self::resource_type`].
    pub resource_id: Option<String>,
    /// The tenant the action was checked against, when there was one.
    pub tenant: Option<String>,
    /// How it ended.
    pub result: Outcome,
    /// The client's address as resolved through trusted proxies (possibly redacted).
    pub client_ip: Option<String>,
    /// The request's `User-Agent`, when one caused the event.
    pub user_agent: Option<String>,
    /// The request id, linking the event to the answer the caller got and to the logs.
    pub request_id: Option<String>,
    /// Already redacted by the emitter.
    pub details: serde_json::Value,
    /// Who wrote it: `palisade` or `app`. Hashed only when not `palisade`, so records written
    /// before the field existed keep their hashes.
    #[serde(default)]
    pub source: Source,
    /// The previous record's [`Self::hash`] ([`GENESIS`] for the first).
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// `SHA-256(prev_hash ‖ canonical())`: changing any field breaks it and every later link.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The bytes the chain hashes: every field but the two hashes, canonically (`source` only
    /// when it is not `palisade`, the one value older records had implicitly).
    pub fn canonical(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.remove("prev_hash");
            map.remove("hash");
            if self.source == Source::Palisade {
                map.remove("source");
            }
        }
        canonical_json(&value).into_bytes()
    }

    /// Fills in `prev_hash` and `hash` after `prev`.
    pub fn link(&mut self, prev: [u8; 32]) {
        self.prev_hash = prev;
        self.hash = chain::link_hash(&prev, &self.canonical());
    }
}

/// A signed statement that the chain had `hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The sequence number of the last record it covers.
    pub seq: u64,
    /// That record's hash.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// When it was signed, Unix milliseconds.
    pub ts_ms: i64,
    /// Key id of the audit signing key.
    pub kid: String,
    /// Ed25519 signature over [`Checkpoint::message`].
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// What is signed: a domain tag, the sequence number, the hash and the time.
    pub fn message(seq: u64, hash: &[u8; 32], ts_ms: i64) -> Vec<u8> {
        let mut m = b"palisade-audit-checkpoint-v1".to_vec();
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(hash);
        m.extend_from_slice(&ts_ms.to_be_bytes());
        m
    }
}

/// Lowercase hex for 32-byte hashes in JSON.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Lowercase hex of any bytes.
    pub fn encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Exactly 64 hex digits (either case) as 32 bytes; `None` otherwise.
    pub fn decode(s: &str) -> Option<[u8; 32]> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }

    /// Serde: writes the hash as [`encode`] does.
    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    /// Serde: reads a hash as [`decode`] does, refusing anything else.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}
