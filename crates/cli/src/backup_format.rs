//! The clear-text header of a backup file (format version 1; the whole format is described in
//! the `palisade backup` module of the `palisade` binary):
//!
//! ```text
//! magic "PALBKUP\0" | version u16 | chunk size u32 | created-at ms u64 |
//! key id [8] | salt [32] | nonce prefix [7] | purpose length u8 | purpose (UTF-8)
//! ```
//!
//! All integers are big-endian. It is the part of a backup read before anything is
//! authenticated, so it lives here, where the `backup` fuzz target reaches it.

use anyhow::{Result, anyhow};
use aws_lc_rs::rand as lc_rand;
use palisade_core::crypto::MasterKey;
use std::io::{self, Read};

/// HKDF purpose of the backup key (written into every header).
pub const PURPOSE: &str = "palisade.backup.v1";
const KEY_ID_PURPOSE: &str = "palisade.backup.key-id.v1";
const MAGIC: &[u8; 8] = b"PALBKUP\0";
const VERSION: u16 = 1;
/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: u32 = 64 * 1024;
pub const MIN_CHUNK: u32 = 16;
pub const MAX_CHUNK: u32 = 16 * 1024 * 1024;
/// Bytes of the nonce prefix.
pub const PREFIX_LEN: usize = 7;

/// The first 8 bytes of `master.derive("palisade.backup.key-id.v1")`: names the master key a
/// backup was made with, and reveals nothing about it.
pub fn key_id(master: &MasterKey) -> [u8; 8] {
    let derived = master.derive(KEY_ID_PURPOSE);
    let mut id = [0u8; 8];
    id.copy_from_slice(&derived[..8]);
    id
}

pub fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The clear-text header of a backup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub chunk_size: u32,
    pub created_ms: u64,
    pub key_id: [u8; 8],
    /// Fresh for each backup: the file key's HKDF salt.
    pub salt: [u8; 32],
    /// Fresh for each backup: the first bytes of every chunk's nonce.
    pub nonce_prefix: [u8; PREFIX_LEN],
    pub purpose: String,
}

impl Header {
    /// A header for a new backup under `master`, with a fresh salt and nonce prefix.
    pub fn fresh(master: &MasterKey, chunk_size: u32, created_ms: u64) -> Result<Self> {
        let mut salt = [0u8; 32];
        let mut nonce_prefix = [0u8; PREFIX_LEN];
        lc_rand::fill(&mut salt).map_err(|_| anyhow!("the system random generator failed"))?;
        lc_rand::fill(&mut nonce_prefix)
            .map_err(|_| anyhow!("the system random generator failed"))?;
        Ok(Self {
            chunk_size,
            created_ms,
            key_id: key_id(master),
            salt,
            nonce_prefix,
            purpose: PURPOSE.to_string(),
        })
    }

    /// The header's bytes as they are written.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.purpose.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.created_ms.to_be_bytes());
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.nonce_prefix);
        out.push(self.purpose.len() as u8);
        out.extend_from_slice(self.purpose.as_bytes());
        out
    }

    /// Reads and checks a header; returns it with its exact bytes (for the digest).
    pub fn read(input: &mut impl Read) -> io::Result<(Self, Vec<u8>)> {
        let mut fixed = [0u8; 8 + 2 + 4 + 8 + 8 + 32 + PREFIX_LEN + 1];
        input.read_exact(&mut fixed).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => invalid("not a Palisade backup: the file is too short"),
            _ => e,
        })?;
        if &fixed[..8] != MAGIC {
            return Err(invalid("not a Palisade backup (wrong magic bytes)"));
        }
        let version = u16::from_be_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Err(invalid(format!(
                "backup format version {version}; this palisade reads version {VERSION}"
            )));
        }
        let chunk_size = u32::from_be_bytes(fixed[10..14].try_into().expect("4 bytes"));
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
            return Err(invalid(format!(
                "the header's chunk size {chunk_size} is out of range: the header is damaged"
            )));
        }
        let created_ms = u64::from_be_bytes(fixed[14..22].try_into().expect("8 bytes"));
        let key_id: [u8; 8] = fixed[22..30].try_into().expect("8 bytes");
        let salt: [u8; 32] = fixed[30..62].try_into().expect("32 bytes");
        let nonce_prefix: [u8; PREFIX_LEN] = fixed[62..69].try_into().expect("7 bytes");
        let mut purpose = vec![0u8; fixed[69] as usize];
        input
            .read_exact(&mut purpose)
            .map_err(|_| invalid("the header is truncated"))?;
        let purpose = String::from_utf8(purpose)
            .ok()
            .filter(|p| p == PURPOSE)
            .ok_or_else(|| invalid(format!("the header's key purpose is not {PURPOSE}")))?;
        let header = Self {
            chunk_size,
            created_ms,
            key_id,
            salt,
            nonce_prefix,
            purpose,
        };
        let raw = header.encode();
        Ok((header, raw))
    }
}

/// The properties the `backup` fuzz target checks (`fuzz/fuzz_targets/backup.rs`), replayed over
/// the committed corpus by this crate's tests. The input is the start of a backup file.
///
/// Properties: reading never panics and refuses with `InvalidData` (never another kind, never a
/// huge allocation); a header that reads is exactly the bytes read (they are what every chunk's
/// associated data digests), re-encodes to them, and has the version's purpose and a chunk size
/// in range; reading from a reader that hands out one byte at a time gives the same outcome;
/// every header (from the input's bytes) encodes and reads back as itself.
#[doc(hidden)]
pub mod fuzz_props {
    use super::*;

    /// A reader that returns at most one byte per call.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        let mut input = data;
        let outcome = Header::read(&mut input);
        let consumed = data.len() - input.len();
        let trickled = Header::read(&mut Trickle(data));
        match (&outcome, &trickled) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("one byte at a time reads differently: {outcome:?} {trickled:?}"),
        }
        match outcome {
            Ok((header, raw)) => {
                assert_eq!(
                    raw,
                    &data[..consumed],
                    "the digested bytes are the bytes read"
                );
                assert_eq!(header.encode(), raw);
                assert_eq!(header.purpose, PURPOSE);
                assert!((MIN_CHUNK..=MAX_CHUNK).contains(&header.chunk_size));
            }
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}"),
        }
        round_trip(data);
    }

    fn round_trip(data: &[u8]) {
        let mut bytes = [0u8; 8 + 4 + 8 + 32 + PREFIX_LEN];
        for (slot, b) in bytes.iter_mut().zip(data) {
            *slot = *b;
        }
        let chunk = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let header = Header {
            chunk_size: MIN_CHUNK + chunk % (MAX_CHUNK - MIN_CHUNK + 1),
            created_ms: u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes")),
            key_id: bytes[..8].try_into().expect("8 bytes"),
            salt: bytes[20..52].try_into().expect("32 bytes"),
            nonce_prefix: bytes[52..].try_into().expect("7 bytes"),
            purpose: PURPOSE.to_string(),
        };
        let raw = header.encode();
        let (read, again) = Header::read(&mut &raw[..]).expect("an encoded header reads");
        assert_eq!((read, again), (header, raw));
    }
}
