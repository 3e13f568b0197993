//! The header-injection detector: CR or LF in a value that becomes a header (always), and in a
//! parameter a CR/LF followed by a `Name:` header line (response splitting).

/// A header-injection finding's paranoia level (1–4), with the rule name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderFinding {
    /// The matched rule's short name.
    pub rule: &'static str,
    /// The paranoia level from which it counts.
    pub level: u8,
}

/// Whether `b` is CR or LF, without which there is no header injection: shared with `scan`.
pub(super) const fn may_trigger(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// Detects header injection in `input`; `in_header` when the value is a request header or cookie
/// (where any CR or LF is injection).
pub fn detect(input: &str, in_header: bool) -> Option<HeaderFinding> {
    if !input.bytes().any(may_trigger) {
        return None;
    }
    if in_header {
        return Some(HeaderFinding {
            rule: "crlf-in-header",
            level: 1,
        });
    }
    for line in input.split(['\r', '\n']).skip(1) {
        let name_len = line
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'-')
            .count();
        if name_len > 0 && line[name_len..].starts_with(':') {
            let name = line[..name_len].to_ascii_lowercase();
            let known = matches!(
                name.as_str(),
                "set-cookie"
                    | "location"
                    | "content-type"
                    | "content-length"
                    | "refresh"
                    | "x-forwarded-for"
                    | "host"
                    | "cookie"
                    | "authorization"
                    | "transfer-encoding"
                    | "access-control-allow-origin"
                    | "content-security-policy"
            );
            return Some(HeaderFinding {
                rule: "response-splitting",
                level: if known { 1 } else { 3 },
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf() {
        assert!(detect("a\r\nSet-Cookie: x=1", false).is_some_and(|f| f.level == 1));
        assert!(detect("line one\nline two", false).is_none());
        assert!(detect("a\nb", true).is_some());
    }
}
