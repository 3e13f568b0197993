//! Recovery codes: ten single-use codes of 128 random bits each (ASVS asks ≥ 112), written in
//! base32 in groups of four for reading aloud, and stored as their SHA-256 only (a fast hash
//! suffices at this entropy). Input is compared after removing spaces and dashes and ignoring
//! case, so a code copied with or without its grouping works.

use aws_lc_rs::{digest, rand::SecureRandom};

/// How many codes one set holds.
pub const CODES_PER_SET: usize = 10;
/// Random bits per code.
pub const BITS_PER_CODE: usize = 128;

/// A fresh set: the codes to show once, and the hashes to store, in the same order.
pub fn generate() -> (Vec<String>, Vec<[u8; 32]>) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    (0..CODES_PER_SET)
        .map(|_| {
            let mut bytes = [0u8; BITS_PER_CODE / 8];
            rng.fill(&mut bytes)
                .expect("the OS random generator is available");
            let plain = super::base32::encode(&bytes);
            let grouped = plain
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
                .collect::<Vec<_>>()
                .join("-");
            let hash = hash(&grouped).expect("a generated code is well formed");
            (grouped, hash)
        })
        .unzip()
}

/// The stored form of a presented code, or `None` when it cannot be a recovery code (wrong
/// length or alphabet: no lookup needed).
pub fn hash(presented: &str) -> Option<[u8; 32]> {
    let bytes = super::base32::decode(presented)?;
    if bytes.len() != BITS_PER_CODE / 8 || presented.len() > 64 {
        return None;
    }
    let d = digest::digest(&digest::SHA256, &bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_of_128_bits_hashed() {
        let (codes, hashes) = generate();
        assert_eq!(codes.len(), 10);
        assert_eq!(hashes.len(), 10);
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for (code, h) in codes.iter().zip(&hashes) {
            // 26 base32 characters (130 bits of room for 128) in groups of four.
            assert_eq!(code.replace('-', "").len(), 26, "{code}");
            assert_eq!(hash(code).as_ref(), Some(h));
            assert_eq!(
                hash(&code.to_lowercase().replace('-', " ")).as_ref(),
                Some(h)
            );
        }
    }

    #[test]
    fn malformed_input_has_no_hash() {
        assert_eq!(hash(""), None);
        assert_eq!(hash("AAAA-BBBB"), None);
        assert_eq!(hash("0000-0000-0000-0000-0000-0000-00"), None);
    }
}
