//! `[server.http2]`: the limits an HTTP/2 client meets on one connection, handed to hyper/h2.
//!
//! What each guards against, and what h2 does past it:
//! - `max_concurrent_streams`: advertised in SETTINGS; a stream opened beyond it is refused with
//!   `RST_STREAM(REFUSED_STREAM)` and never reaches the pipeline.
//! - `max_header_list_size`: advertised in SETTINGS; a larger decoded header list gets a 431 on
//!   its stream. It also bounds CONTINUATION floods: h2 accepts at most
//!   `max(5, 1.25 × max_header_list_size / 16KiB)` CONTINUATION frames for one header block and
//!   answers more with `GOAWAY(ENHANCE_YOUR_CALM)`, and never buffers a block over this size.
//! - `max_pending_reset_streams`: streams a client may open and reset before Palisade accepted
//!   them (the "rapid reset" attack, CVE-2023-44487); one more closes the connection with
//!   `GOAWAY(ENHANCE_YOUR_CALM)`.
//! - `max_local_error_resets`: streams Palisade may reset on one connection because the client
//!   broke the protocol ("MadeYouReset", CVE-2025-8671); past it, `GOAWAY(ENHANCE_YOUR_CALM)`.

use crate::config::units::ByteSize;
use serde::{Deserialize, Serialize};

/// `[server.http2]`: per-connection limits handed to h2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http2Config {
    /// Streams a client may have open at once (256).
    pub max_concurrent_streams: u32,
    /// Largest header list, which also caps CONTINUATION frames per block (64 KiB).
    pub max_header_list_size: ByteSize,
    /// Resets by the client before the connection is closed (rapid reset, CVE-2023-44487).
    pub max_pending_reset_streams: usize,
    /// Resets by the server before the connection is closed (CVE-2025-8671).
    pub max_local_error_resets: usize,
}

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 256,
            max_header_list_size: ByteSize(64 << 10),
            max_pending_reset_streams: 20,
            max_local_error_resets: 1024,
        }
    }
}

impl Http2Config {
    /// Problems with the values, for `config check` and start. `max_header_bytes` is the
    /// boundary's own limit, which answers 431 problem+json below h2's.
    pub fn problems(&self, max_header_bytes: ByteSize) -> Vec<String> {
        let mut out = Vec::new();
        if !(1..=10_000).contains(&self.max_concurrent_streams) {
            out.push("server.http2.max_concurrent_streams: between 1 and 10000".into());
        }
        if self.max_header_list_size.0 < max_header_bytes.0 || self.max_header_list_size.0 > 1 << 20
        {
            out.push(format!(
                "server.http2.max_header_list_size: between limits.max_header_bytes ({} bytes) and 1MiB",
                max_header_bytes.0
            ));
        }
        if !(1..=10_000).contains(&self.max_pending_reset_streams) {
            out.push("server.http2.max_pending_reset_streams: between 1 and 10000".into());
        }
        if !(1..=100_000).contains(&self.max_local_error_resets) {
            out.push("server.http2.max_local_error_resets: between 1 and 100000".into());
        }
        out
    }

    /// `max_header_list_size` as h2 takes it.
    pub fn header_list_bytes(&self) -> u32 {
        u32::try_from(self.max_header_list_size.0).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_each_bound_is_named() {
        assert!(
            Http2Config::default()
                .problems(ByteSize(8 << 10))
                .is_empty()
        );
        let bad = Http2Config {
            max_concurrent_streams: 0,
            max_header_list_size: ByteSize(4 << 10),
            max_pending_reset_streams: 0,
            max_local_error_resets: 0,
        };
        let problems = bad.problems(ByteSize(8 << 10)).join("\n");
        for key in [
            "max_concurrent_streams",
            "max_header_list_size",
            "max_pending_reset_streams",
            "max_local_error_resets",
        ] {
            assert!(problems.contains(key), "{key}: {problems}");
        }
    }
}
