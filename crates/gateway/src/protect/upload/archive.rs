//! ZIP archives (and XLSX/DOCX, which are ZIPs) read in memory, bounded: the central
//! directory is parsed (entry count, declared sizes, per-entry ratio, overlapping entries), then
//! every entry is inflated with an output bound to check the declared sizes do not lie; an entry
//! that is itself a ZIP counts against `archive.max_depth` and, where the depth admits it, is
//! checked the same way, its entries and bytes counted in the same totals.
//!
//! Guarantees: nothing is written to disk; inflation runs through a 32 KiB window, stops past an
//! entry's declared size, and keeps only an entry that opens like a ZIP (for the nested check);
//! each entry's CRC-32 is checked; the declared sizes together never pass `archive.max_total`; ZIP64,
//! multi-disk, encrypted and methods other than stored/deflate are refused rather than guessed at.

use super::Refusal;
use super::sniff::Kind;
use crate::config::upload::ArchiveLimits;

const EOCD: u32 = 0x0605_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// One central-directory entry.
struct Entry<'a> {
    name: &'a [u8],
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn malformed(why: &str) -> Refusal {
    Refusal::invalid(
        "archive-malformed",
        format!("The archive cannot be read safely: {why}."),
    )
}

/// The central directory of `zip`, in order.
fn central_directory(zip: &[u8]) -> Result<Vec<Entry<'_>>, Refusal> {
    if zip.len() < 22 {
        return Err(malformed("too short"));
    }
    // The end record is in the last 22 + 65,535 (comment) bytes; the last one found wins.
    let lowest = zip.len().saturating_sub(22 + 0xFFFF);
    let eocd = (lowest..=zip.len() - 22)
        .rev()
        .find(|&i| u32_at(zip, i) == Some(EOCD))
        .ok_or_else(|| malformed("no end of central directory"))?;
    let field = |at| u16_at(zip, eocd + at).unwrap_or(0);
    let (disk, cd_disk, on_disk, count) = (field(4), field(6), field(8), field(10));
    let cd_size = u32_at(zip, eocd + 12).unwrap_or(0);
    let cd_offset = u32_at(zip, eocd + 16).unwrap_or(0);
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        return Err(malformed("ZIP64 archives are not accepted"));
    }
    if disk != 0 || cd_disk != 0 || on_disk != count {
        return Err(malformed("multi-disk archives are not accepted"));
    }
    let (start, size) = (cd_offset as usize, cd_size as usize);
    if start.checked_add(size).is_none_or(|end| end > eocd) {
        return Err(malformed("the central directory lies outside the file"));
    }
    let mut entries = Vec::with_capacity(usize::from(count).min(4096));
    let mut at = start;
    while at < start + size {
        if u32_at(zip, at) != Some(CENTRAL) {
            return Err(malformed("a central directory record is broken"));
        }
        let h = |off| u16_at(zip, at + off).ok_or_else(|| malformed("truncated record"));
        let w = |off| u32_at(zip, at + off).ok_or_else(|| malformed("truncated record"));
        let (flags, method) = (h(8)?, h(10)?);
        let (crc, compressed, uncompressed) = (w(16)?, w(20)?, w(24)?);
        let (name_len, extra_len, comment_len) = (
            usize::from(h(28)?),
            usize::from(h(30)?),
            usize::from(h(32)?),
        );
        let local_offset = w(42)?;
        if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || local_offset == 0xFFFF_FFFF {
            return Err(malformed("ZIP64 entries are not accepted"));
        }
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| malformed("truncated record"))?;
        entries.push(Entry {
            name,
            method,
            flags,
            crc,
            compressed: u64::from(compressed),
            uncompressed: u64::from(uncompressed),
            local_offset: u64::from(local_offset),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    if at != start + size || entries.len() != usize::from(count) {
        return Err(malformed(
            "the entry count does not match the central directory",
        ));
    }
    Ok(entries)
}

/// XLSX or DOCX when `zip`'s central directory has `[Content_Types].xml` and the part folder
/// of one of them (`xl/`, `word/`); `None` for another ZIP or one that cannot be read.
pub fn office_kind(zip: &[u8]) -> Option<Kind> {
    let entries = central_directory(zip).ok()?;
    let has = |p: &[u8]| entries.iter().any(|e| e.name.starts_with(p));
    if !entries.iter().any(|e| e.name == b"[Content_Types].xml") {
        return None;
    }
    match (has(b"xl/"), has(b"word/")) {
        (true, false) => Some(Kind::Xlsx),
        (false, true) => Some(Kind::Docx),
        _ => None,
    }
}

/// Running totals over an archive and the archives inside it.
#[derive(Default)]
struct Totals {
    entries: usize,
    declared: u64,
    actual: u64,
}

/// Checks the archive `zip` against `limits`.
pub fn check(zip: &[u8], limits: &ArchiveLimits) -> Result<(), Refusal> {
    check_at(zip, limits, 1, &mut Totals::default())
}

fn check_at(
    zip: &[u8],
    limits: &ArchiveLimits,
    depth: usize,
    totals: &mut Totals,
) -> Result<(), Refusal> {
    let entries = central_directory(zip)?;
    totals.entries += entries.len();
    if totals.entries > limits.max_entries {
        return Err(Refusal::invalid(
            "archive-too-many-entries",
            format!("The archive has more than {} entries.", limits.max_entries),
        )
        .with("limit", limits.max_entries as u64));
    }
    let mut spans = Vec::with_capacity(entries.len());
    for e in &entries {
        totals.declared = totals.declared.saturating_add(e.uncompressed);
        if totals.declared > limits.max_total.0 {
            return Err(too_big(limits));
        }
        if e.flags & 1 != 0 {
            return Err(Refusal::invalid(
                "archive-encrypted",
                "Encrypted archive entries are not accepted.",
            ));
        }
        if e.uncompressed > e.compressed.max(1).saturating_mul(limits.max_ratio) {
            return Err(ratio(limits, e));
        }
        // Where the data is: after the local header, whose name and extra lengths are its own.
        let lo = usize::try_from(e.local_offset).map_err(|_| malformed("bad offset"))?;
        if u32_at(zip, lo) != Some(LOCAL) {
            return Err(malformed("an entry's local header is missing"));
        }
        let n = usize::from(u16_at(zip, lo + 26).unwrap_or(0));
        let x = usize::from(u16_at(zip, lo + 28).unwrap_or(0));
        let data_start = lo + 30 + n + x;
        let data_end = data_start
            .checked_add(e.compressed as usize)
            .filter(|&end| end <= zip.len())
            .ok_or_else(|| malformed("an entry's data lies outside the file"))?;
        spans.push((lo, data_end));
        let data = &zip[data_start..data_end];
        let out = inflate(data, e)?;
        totals.actual = totals.actual.saturating_add(out.size);
        if totals.actual > limits.max_total.0 {
            return Err(too_big(limits));
        }
        if let Some(inner) = out.nested {
            if depth + 1 > limits.max_depth {
                return Err(Refusal::invalid(
                    "archive-nested",
                    format!(
                        "The archive holds an archive nested deeper than {} level(s).",
                        limits.max_depth
                    ),
                )
                .with("limit", limits.max_depth as u64));
            }
            check_at(&inner, limits, depth + 1, totals)?;
        }
    }
    // Entries sharing bytes (the overlapping-file bomb) are refused.
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(malformed("entries overlap"));
    }
    Ok(())
}

/// What inflating an entry found: its size, and its bytes when they open like a ZIP (kept for
/// the nested check; other entries are counted in a small window and dropped).
struct Inflated {
    size: u64,
    nested: Option<Vec<u8>>,
}

/// Inflates the entry through a 32 KiB window with an output bound of its declared size plus
/// one; only an entry that opens like a ZIP is kept whole (at most its declared size).
fn inflate(data: &[u8], e: &Entry<'_>) -> Result<Inflated, Refusal> {
    use miniz_oxide::inflate::stream::{InflateState, inflate as step};
    use miniz_oxide::{DataFormat, MZFlush, MZStatus};
    let lie = || {
        Refusal::invalid(
            "archive-size-mismatch",
            "An archive entry's real size is not the size it declares.",
        )
    };
    let opens_like_zip = |b: &[u8]| b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06");
    let done = |size: u64, crc: u32, kept: Option<Vec<u8>>| {
        if size != e.uncompressed {
            return Err(lie());
        }
        if !crc != e.crc {
            return Err(Refusal::invalid(
                "archive-crc-mismatch",
                "An archive entry's content does not match its checksum.",
            ));
        }
        Ok(Inflated {
            size,
            nested: kept.filter(|k| opens_like_zip(k)),
        })
    };
    match e.method {
        0 => done(
            data.len() as u64,
            crc32(!0, data),
            opens_like_zip(data).then(|| data.to_vec()),
        ),
        8 => {
            let mut state = InflateState::new_boxed(DataFormat::Raw);
            let mut window = vec![0u8; 32 << 10];
            let (mut input, mut size, mut crc) = (data, 0u64, !0u32);
            let mut kept: Option<Vec<u8>> = None;
            loop {
                let r = step(&mut state, input, &mut window, MZFlush::None);
                input = &input[r.bytes_consumed..];
                let out = &window[..r.bytes_written];
                if size == 0 && !out.is_empty() && opens_like_zip(out) {
                    kept = Some(Vec::new());
                }
                size += out.len() as u64;
                if size > e.uncompressed {
                    return Err(lie());
                }
                crc = crc32(crc, out);
                if let Some(k) = kept.as_mut() {
                    k.extend_from_slice(out);
                }
                match r.status {
                    Ok(MZStatus::StreamEnd) => return done(size, crc, kept),
                    Ok(_) if r.bytes_consumed > 0 || r.bytes_written > 0 => {}
                    Err(miniz_oxide::MZError::Buf) if r.bytes_written > 0 => {}
                    _ => return Err(malformed("an entry does not inflate")),
                }
            }
        }
        _ => Err(Refusal::invalid(
            "archive-unsupported",
            "Archive entries must be stored or deflated.",
        )),
    }
}

/// The CRC-32 (IEEE, as ZIP uses it) table. [`crc32`] runs from `!0` over every chunk; the
/// checksum is the running value inverted.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn crc32(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

fn too_big(limits: &ArchiveLimits) -> Refusal {
    Refusal::new(
        "archive-too-large",
        http::StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The archive's content is larger than {} bytes.",
            limits.max_total.0
        ),
    )
    .with("limit", limits.max_total.0)
}

fn ratio(limits: &ArchiveLimits, e: &Entry<'_>) -> Refusal {
    Refusal::invalid(
        "archive-ratio",
        format!(
            "An archive entry compresses more than {}:1.",
            limits.max_ratio
        ),
    )
    .with("limit", limits.max_ratio)
    .with("compressed", e.compressed)
    .with("uncompressed", e.uncompressed)
}
