//! Linking records into a chain, signing checkpoints, and walking a trail to verify it.

use super::{AuditRecord, Checkpoint, GENESIS};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::collections::BTreeMap;

/// `SHA-256(prev ‖ canonical)`.
pub(super) fn link_hash(prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(canonical);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The audit signing key (Ed25519), separate from token keys.
pub struct CheckpointSigner {
    kid: String,
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A new key; returns the signer and its PKCS#8 document (to be stored wrapped).
    pub fn generate(kid: impl Into<String>) -> Result<(Self, Vec<u8>), String> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| "cannot generate an Ed25519 key".to_string())?;
        let bytes = pkcs8.as_ref().to_vec();
        Ok((Self::from_pkcs8(kid, &bytes)?, bytes))
    }

    /// A signer over a stored PKCS#8 document; fails, without echoing it, if it is not an Ed25519 key.
    pub fn from_pkcs8(kid: impl Into<String>, pkcs8: &[u8]) -> Result<Self, String> {
        let key = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| "the audit key is not an Ed25519 PKCS#8 document".to_string())?;
        Ok(Self {
            kid: kid.into(),
            key,
        })
    }

    /// The key id checkpoints name, so a verifier can pick the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw Ed25519 public key, published for anyone who verifies the trail.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// A checkpoint vouching that the chain had `hash` at `seq`, signed at `ts_ms`.
    pub fn sign(&self, seq: u64, hash: [u8; 32], ts_ms: i64) -> Checkpoint {
        let signature = self
            .key
            .sign(&Checkpoint::message(seq, &hash, ts_ms))
            .as_ref()
            .to_vec();
        Checkpoint {
            seq,
            hash,
            ts_ms,
            kid: self.kid.clone(),
            signature,
        }
    }
}

/// Whether `cp`'s signature verifies under `public_key` (raw Ed25519) over its message.
pub fn verify_checkpoint(cp: &Checkpoint, public_key: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(
            &Checkpoint::message(cp.seq, &cp.hash, cp.ts_ms),
            &cp.signature,
        )
        .is_ok()
}

/// The trail holds together: how many records were checked, and their range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How many records were checked.
    pub count: u64,
    /// The first record's sequence number (above 1 after a retention purge); `None` if empty.
    pub first_seq: Option<u64>,
    /// The last record's sequence number; `None` if empty.
    pub last_seq: Option<u64>,
    /// How many signed checkpoints vouched for the records checked.
    pub checkpoints: u64,
}

/// The first place the trail does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broken at sequence {seq}: {reason}")]
pub struct Broken {
    /// The sequence number of the first record (or checkpoint) that does not fit.
    pub seq: u64,
    /// What is wrong there, in words for an operator.
    pub reason: String,
}

fn broken(seq: u64, reason: impl Into<String>) -> Broken {
    Broken {
        seq,
        reason: reason.into(),
    }
}

/// Walks `records` (in sequence order, as read) against the signed `checkpoints`; see
/// [`Verifier`].
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    checkpoints: &[Checkpoint],
    public_keys: &BTreeMap<String, Vec<u8>>,
    trusted_start: bool,
) -> Result<Verified, Broken> {
    let mut v = Verifier::new(checkpoints, public_keys, trusted_start)?;
    for r in records {
        v.push(r)?;
    }
    v.finish()
}

/// Verifies a trail one record at a time (so a long trail can be read in pages).
///
/// From the start of the trail (`trusted_start = false`), the first record must follow the
/// genesis hash, or (after a retention purge) a valid checkpoint must vouch for the hash just
/// before it. With `trusted_start` (`audit verify --from SEQ`) the first record's link backwards is
/// taken as given. Public keys are looked up by the checkpoint's key id.
pub struct Verifier<'c> {
    signed: BTreeMap<u64, &'c Checkpoint>,
    trusted_start: bool,
    last: Option<(u64, [u8; 32])>,
    first_seq: Option<u64>,
    count: u64,
}

impl<'c> Verifier<'c> {
    /// A verifier that trusts only `checkpoints` whose signature verifies under the key their `kid`
    /// names in `public_keys` (any other is itself a break); see the type for `trusted_start`.
    pub fn new(
        checkpoints: &'c [Checkpoint],
        public_keys: &BTreeMap<String, Vec<u8>>,
        trusted_start: bool,
    ) -> Result<Self, Broken> {
        let mut signed = BTreeMap::new();
        for cp in checkpoints {
            let valid = public_keys
                .get(&cp.kid)
                .is_some_and(|pk| verify_checkpoint(cp, pk));
            if !valid {
                return Err(broken(cp.seq, "a checkpoint's signature does not verify"));
            }
            signed.insert(cp.seq, cp);
        }
        Ok(Self {
            signed,
            trusted_start,
            last: None,
            first_seq: None,
            count: 0,
        })
    }

    /// Checks the next record: its sequence number, its link to the previous hash, its own hash,
    /// and any checkpoint at its position. The first failure is returned and ends the walk.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), Broken> {
        match self.last {
            None => {
                self.first_seq = Some(r.seq);
                let anchored = self.trusted_start
                    || (r.seq == 1 && r.prev_hash == GENESIS)
                    || self
                        .signed
                        .get(&(r.seq.wrapping_sub(1)))
                        .is_some_and(|cp| cp.hash == r.prev_hash);
                if !anchored {
                    // The first record nobody vouches for: after the last checkpoint before it.
                    let at = self
                        .signed
                        .range(..r.seq)
                        .next_back()
                        .map_or(1, |(s, _)| s + 1);
                    return Err(broken(
                        at,
                        "records are missing before the first one, and no checkpoint vouches for the gap",
                    ));
                }
            }
            Some((seq, hash)) => {
                if r.seq != seq + 1 {
                    let at = if r.seq > seq { seq + 1 } else { r.seq };
                    return Err(broken(
                        at,
                        "a record is missing, duplicated or out of order",
                    ));
                }
                if r.prev_hash != hash {
                    return Err(broken(r.seq, "does not follow the record before it"));
                }
            }
        }
        if link_hash(&r.prev_hash, &r.canonical()) != r.hash {
            return Err(broken(r.seq, "the record was changed after it was written"));
        }
        if let Some(cp) = self.signed.get(&r.seq)
            && cp.hash != r.hash
        {
            return Err(broken(r.seq, "differs from the signed checkpoint"));
        }
        self.count += 1;
        self.last = Some((r.seq, r.hash));
        Ok(())
    }

    /// Ends the walk: a checkpoint beyond the last record means the tail was cut.
    pub fn finish(self) -> Result<Verified, Broken> {
        let last_seq = self.last.map(|(s, _)| s);
        if let Some((&latest, _)) = self.signed.last_key_value()
            && last_seq.is_none_or(|last| latest > last)
        {
            let from = last_seq.map_or(1, |l| l + 1);
            return Err(broken(
                from,
                format!("the trail ends before sequence {latest}, which a checkpoint vouches for"),
            ));
        }
        Ok(Verified {
            count: self.count,
            first_seq: self.first_seq,
            last_seq,
            checkpoints: self.signed.len() as u64,
        })
    }
}
