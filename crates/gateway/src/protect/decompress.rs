//! Bounded decompression of request bodies, so the inspect gate and schema validation judge
//! what the upstream will read rather than compressed bytes (`[inspect] decompress`,
//! `max_decompressed`, `max_ratio`, over a route's `inspect = {…}`).
//!
//! Guarantees: with decompression off, any `Content-Encoding` other than `identity` is a
//! [`BodyRefusal::Compressed`] (415); on, only `gzip` (every member), `deflate` (zlib, RFC 9110)
//! and `br` are decoded, at most [`MAX_CODINGS`] stacked, and an unknown coding is refused the
//! same way. Every layer's output is capped at the smaller of `max_decompressed` and
//! `max_ratio` × the body's size on the wire, so stacked codings cannot multiply the ratio;
//! past the cap decoding stops (the bytes beyond it are never produced) and the body is a
//! [`BodyRefusal::DecompressedTooLarge`] (413). Corrupt data, trailing bytes after a gzip or
//! zlib stream are [`BodyRefusal::Malformed`] (400). Pure Rust (miniz_oxide, the brotli
//! decoder); nothing here changes what is forwarded: the upstream gets the original bytes.

use super::inspect_body::BodyRefusal;
use crate::config::inspect::{InspectConfig, RouteInspect};
use std::borrow::Cow;
use std::io::Read;

/// Most content codings one body may stack (`gzip, br` is two).
pub const MAX_CODINGS: usize = 3;

/// A route's decompression settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decompression {
    /// Decode compressed bodies (off: refuse them).
    pub enabled: bool,
    /// Most bytes any layer may inflate to.
    pub max_out: u64,
    /// Most times the wire size any layer may inflate to.
    pub max_ratio: u32,
}

#[derive(Clone, Copy)]
enum Coding {
    Gzip,
    Deflate,
    Br,
}

impl Decompression {
    /// `[inspect]`'s settings, under the route's `inspect = {…}` when it has one.
    pub fn new(global: &InspectConfig, route: Option<&RouteInspect>) -> Self {
        Self {
            enabled: route
                .and_then(|r| r.decompress)
                .unwrap_or(global.decompress),
            max_out: route
                .and_then(|r| r.max_decompressed)
                .unwrap_or(global.max_decompressed)
                .0,
            max_ratio: route.and_then(|r| r.max_ratio).unwrap_or(global.max_ratio),
        }
    }

    /// `body` as its `Content-Encoding` headers say to read it: borrowed when it is not
    /// encoded, decoded within the bounds otherwise.
    pub fn decode<'b>(
        &self,
        headers: &http::HeaderMap,
        body: &'b [u8],
    ) -> Result<Cow<'b, [u8]>, BodyRefusal> {
        let mut codings = Vec::new();
        for value in headers.get_all(http::header::CONTENT_ENCODING) {
            let value = value.to_str().map_err(|_| BodyRefusal::Compressed)?;
            for token in value.split(',').map(str::trim) {
                if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                    continue;
                }
                if !self.enabled || codings.len() == MAX_CODINGS {
                    return Err(BodyRefusal::Compressed);
                }
                codings.push(match token.to_ascii_lowercase().as_str() {
                    "gzip" | "x-gzip" => Coding::Gzip,
                    "deflate" => Coding::Deflate,
                    "br" => Coding::Br,
                    _ => return Err(BodyRefusal::Compressed),
                });
            }
        }
        if codings.is_empty() {
            return Ok(Cow::Borrowed(body));
        }
        let cap = self
            .max_out
            .min(u64::from(self.max_ratio).saturating_mul(body.len() as u64));
        let mut data = Cow::Borrowed(body);
        // The last coding listed was applied last: undo it first.
        for coding in codings.into_iter().rev() {
            data = Cow::Owned(inflate(coding, &data, cap)?);
        }
        Ok(data)
    }
}

/// Decodes one layer, producing at most `cap` bytes.
fn inflate(coding: Coding, input: &[u8], cap: u64) -> Result<Vec<u8>, BodyRefusal> {
    let mut out = Vec::new();
    let bounded = |r: &mut dyn Read, out: &mut Vec<u8>| {
        r.take(cap.saturating_add(1))
            .read_to_end(out)
            .map_err(|_| BodyRefusal::Malformed)
    };
    match coding {
        Coding::Gzip => {
            bounded(&mut flate2::bufread::MultiGzDecoder::new(input), &mut out)?;
        }
        Coding::Deflate => {
            let mut d = flate2::bufread::ZlibDecoder::new(input);
            bounded(&mut d, &mut out)?;
            if out.len() as u64 <= cap && !d.into_inner().is_empty() {
                return Err(BodyRefusal::Malformed);
            }
        }
        Coding::Br => {
            bounded(
                &mut brotli_decompressor::Decompressor::new(input, 4096),
                &mut out,
            )?;
        }
    }
    if out.len() as u64 > cap {
        return Err(BodyRefusal::DecompressedTooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn headers(enc: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::CONTENT_ENCODING, enc.parse().unwrap());
        h
    }

    const ON: Decompression = Decompression {
        enabled: true,
        max_out: 1_000_000,
        max_ratio: 100,
    };

    #[test]
    fn decodes_within_bounds_and_refuses_past_them() {
        let text = br#"{"name":"a reasonably ordinary JSON document"}"#;
        assert_eq!(&*ON.decode(&headers("gzip"), &gzip(text)).unwrap(), text);
        assert_eq!(&*ON.decode(&headers("deflate"), &zlib(text)).unwrap(), text);
        // Stacked: gzip applied first, then deflate.
        let both = zlib(&gzip(text));
        assert_eq!(&*ON.decode(&headers("gzip, deflate"), &both).unwrap(), text);
        // 2 MB of zeros: a few KB on the wire, over both bounds.
        let bomb = gzip(&vec![0u8; 2_000_000]);
        assert_eq!(
            ON.decode(&headers("gzip"), &bomb),
            Err(BodyRefusal::DecompressedTooLarge)
        );
        // A nested bomb: each layer's ratio is small, the product is not.
        let nested = gzip(&gzip(&vec![0u8; 2_000_000]));
        assert_eq!(
            ON.decode(&headers("gzip, gzip"), &nested),
            Err(BodyRefusal::DecompressedTooLarge)
        );
        // Off, unknown or too many codings.
        let off = Decompression {
            enabled: false,
            ..ON
        };
        assert_eq!(
            off.decode(&headers("gzip"), &gzip(text)),
            Err(BodyRefusal::Compressed)
        );
        assert_eq!(
            ON.decode(&headers("compress"), b"x"),
            Err(BodyRefusal::Compressed)
        );
        assert_eq!(
            ON.decode(&headers("gzip, gzip, gzip, gzip"), b"x"),
            Err(BodyRefusal::Compressed)
        );
        // Corrupt data and trailing bytes.
        assert_eq!(
            ON.decode(&headers("gzip"), b"not gzip"),
            Err(BodyRefusal::Malformed)
        );
        for (enc, mut trailing) in [("deflate", zlib(text)), ("gzip", gzip(text))] {
            trailing.extend_from_slice(b"extra");
            assert_eq!(
                ON.decode(&headers(enc), &trailing),
                Err(BodyRefusal::Malformed),
                "{enc}"
            );
        }
        // Concatenated gzip members are one body, read whole.
        let mut two = gzip(b"{\"a\":");
        two.extend_from_slice(&gzip(b"1}"));
        assert_eq!(&*ON.decode(&headers("gzip"), &two).unwrap(), b"{\"a\":1}");
        // identity is no coding.
        assert!(matches!(
            off.decode(&headers("identity"), text),
            Ok(Cow::Borrowed(_))
        ));
    }
}
