//! Device fingerprints for sessions: a SHA-256 over the user agent and the `Sec-CH-UA*` client
//! hints. Never the IP address (it changes on mobile networks and is personal data), so a
//! fingerprint identifies a browser build, not a person or a place.

use aws_lc_rs::digest;

/// Hex SHA-256 of the user agent and the client hints. Hint names are compared case-insensitively
/// and sorted, so header order does not change the result.
pub fn device_fingerprint(user_agent: Option<&str>, client_hints: &[(&str, &str)]) -> String {
    let mut hints: Vec<(String, &str)> = client_hints
        .iter()
        .filter(|(name, _)| name.to_ascii_lowercase().starts_with("sec-ch-ua"))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .collect();
    hints.sort();
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"palisade-device-v1\n");
    ctx.update(user_agent.unwrap_or("").as_bytes());
    for (name, value) in hints {
        ctx.update(b"\n");
        ctx.update(name.as_bytes());
        ctx.update(b":");
        ctx.update(value.as_bytes());
    }
    hex(ctx.finish().as_ref())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_order_and_case_do_not_matter_but_values_do() {
        let a = device_fingerprint(
            Some("UA/1"),
            &[
                ("Sec-CH-UA", "\"Chromium\""),
                ("sec-ch-ua-platform", "Linux"),
            ],
        );
        let b = device_fingerprint(
            Some("UA/1"),
            &[
                ("sec-ch-ua-platform", "Linux"),
                ("SEC-CH-UA", "\"Chromium\""),
            ],
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let other = device_fingerprint(Some("UA/1"), &[("sec-ch-ua-platform", "Windows")]);
        assert_ne!(a, other);
        assert_ne!(a, device_fingerprint(Some("UA/2"), &[]));
        let with_noise = device_fingerprint(Some("UA/1"), &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            with_noise,
            device_fingerprint(Some("UA/1"), &[]),
            "only client hints count"
        );
    }
}
