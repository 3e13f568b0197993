//! A route's `websocket = {…}`: on a route that has it, Palisade relays WebSocket frames itself
//! after the upgrade (`route::websocket`) instead of splicing the bytes, under these limits.
//! Every key has a default; `config check` reports values that cannot work.

use super::units::ByteSize;
use serde::{Deserialize, Serialize};

/// What to do with a client's `permessage-deflate` offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Deflate {
    /// Strip the offer from the handshake: frames travel uncompressed (no decompression bomb).
    #[default]
    Refuse,
}

/// `websocket = {…}` on a route.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteWebSocket {
    /// Largest message (all frames of it together); larger: closed 1009.
    pub max_message: ByteSize,
    /// Largest single frame; larger: closed 1009.
    pub max_frame: ByteSize,
    /// Messages a client may send per second, on average.
    pub messages_per_second: u32,
    /// Messages a client may send at once above the average.
    pub burst: u32,
    /// Messages over the rate held back in a row (reading paused until the rate allows them)
    /// before the connection is closed 1008.
    pub max_throttled: u32,
    /// Live relayed connections per caller (API key, user, else address) on this route; one
    /// more: 429 before the upgrade. 0: no cap.
    pub max_connections_per_identity: u32,
    /// `permessage-deflate`: `refuse` (stripped from the handshake).
    pub deflate: Deflate,
    /// Origins (`https://app.example.com`) besides the gateway's own from which a browser
    /// signed in by cookie may open a connection; any other: 403 `websocket-origin`.
    pub allowed_origins: Vec<String>,
    /// Run the route's `inspect = {…}` detectors on text messages (block mode: closed 1008).
    pub inspect: bool,
}

impl Default for RouteWebSocket {
    fn default() -> Self {
        Self {
            max_message: ByteSize(64 * 1024),
            max_frame: ByteSize(16 * 1024),
            messages_per_second: 50,
            burst: 100,
            max_throttled: 20,
            max_connections_per_identity: 8,
            deflate: Deflate::Refuse,
            allowed_origins: Vec::new(),
            inspect: false,
        }
    }
}

/// The most a route may set `max_message` to (the libraries' own default is 64 MiB).
pub const MAX_MESSAGE_CEILING: u64 = 16 * 1024 * 1024;

/// What `config check` finds wrong in the routes' `websocket` tables.
pub fn problems(routes: &[super::RouteConfig]) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes {
        let Some(ws) = &r.websocket else { continue };
        let at = format!("route {}: websocket", r.display_name());
        if ws.max_frame.0 == 0 || ws.max_message.0 == 0 {
            out.push(format!("{at}: max_frame and max_message must be above 0"));
        }
        if ws.max_frame.0 > ws.max_message.0 {
            out.push(format!("{at}: max_frame is larger than max_message"));
        }
        if ws.max_message.0 > MAX_MESSAGE_CEILING {
            out.push(format!("{at}: max_message is over 16MiB"));
        }
        if ws.messages_per_second == 0 {
            out.push(format!("{at}: messages_per_second must be at least 1"));
        }
        if ws.burst == 0 {
            out.push(format!("{at}: burst must be at least 1"));
        }
        for o in &ws.allowed_origins {
            if canonical_origin(o).is_none() {
                out.push(format!(
                    "{at}: allowed_origins: {o:?} is not an origin like \"https://app.example.com\""
                ));
            }
        }
        if ws.inspect && r.inspect.is_none() {
            out.push(format!(
                "{at}: inspect = true needs the route's inspect = {{…}}"
            ));
        }
    }
    out
}

/// `scheme://host[:port]` lowercased, or `None` when `s` is not a bare http(s) origin.
pub fn canonical_origin(s: &str) -> Option<String> {
    let uri: http::Uri = s.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || !matches!(uri.path(), "" | "/") || uri.query().is_some()
    {
        return None;
    }
    Some(format!(
        "{scheme}://{}",
        authority.as_str().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_canonically() {
        assert_eq!(
            canonical_origin("HTTPS://App.Example.com").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            canonical_origin("http://a.test:8080/").as_deref(),
            Some("http://a.test:8080")
        );
        for bad in [
            "app.example.com",
            "ftp://a.test",
            "https://a.test/x",
            "null",
            "",
        ] {
            assert_eq!(canonical_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn impossible_limits_are_reported() {
        let mut r = crate::config::RouteConfig {
            prefix: "/ws/".into(),
            websocket: Some(RouteWebSocket {
                max_frame: ByteSize(2048),
                max_message: ByteSize(1024),
                messages_per_second: 0,
                allowed_origins: vec!["nope".into()],
                inspect: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let found = problems(std::slice::from_ref(&r));
        assert_eq!(found.len(), 4, "{found:?}");
        r.websocket = Some(RouteWebSocket::default());
        assert!(problems(&[r]).is_empty());
    }
}
