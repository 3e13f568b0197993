//! Log redaction: masks credentials and personal data in text before it is written anywhere.
//!
//! The redactor works on the finished text of a log line (plain or JSON), so it also covers
//! values that reached a log through `Debug` output or an upstream error body. It masks:
//! values of credential headers (`Authorization`, `Cookie`, `Set-Cookie`, `X-API-Key`, ...),
//! bearer tokens, JWTs, values of fields whose name looks like a password, token, secret or key,
//! and, when configured, e-mail addresses and IPv4 addresses.

use regex::{Regex, RegexSet};

/// What the redactor writes in place of a masked value.
pub const MASK: &str = "[REDACTED]";

/// Which optional kinds of personal data to mask besides credentials (always masked).
#[derive(Debug, Clone, Copy)]
pub struct RedactOptions {
    /// Mask e-mail addresses.
    pub emails: bool,
    /// Mask IPv4 addresses.
    pub ipv4: bool,
}

impl Default for RedactOptions {
    fn default() -> Self {
        Self {
            emails: true,
            ipv4: false,
        }
    }
}

/// A compiled set of redaction rules. Build once, share.
#[derive(Debug)]
pub struct Redactor {
    quick: RegexSet,
    rules: Vec<(Regex, &'static str)>,
}

// `\\?"` matches a quote in plain text and an escaped quote inside a JSON string.
const CREDENTIAL_HEADER_QUOTED: &str = r#"(?i)((?:proxy-)?authorization|set-cookie|cookie|x-api-key|api-key)(\\?"?\s*[:=]\s*\\?")((?:[^"\\]|\\[^"])*)"#;
const CREDENTIAL_HEADER_PLAIN: &str = r#"(?i)((?:proxy-)?authorization|set-cookie|cookie|x-api-key|api-key)(:[ \t]*)([^\s"\\][^\r\n"\\]*)"#;
const BEARER: &str = r#"(?i)(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"#;
const JWT: &str = r#"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"#;
const SECRET_FIELD: &str = r#"(?i)([A-Za-z0-9_-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|credential)[A-Za-z0-9_-]*)(\\?"?\s*[:=]\s*\\?"?)([^"\\\s,&;}\]]+)"#;
const EMAIL: &str = r#"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"#;
const IPV4: &str = r#"\b(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}\b"#;

/// True when `text` holds an e-mail address (the pattern the redactor masks with `[email]`):
/// what the audit trail seals in an event's details.
pub fn contains_email(text: &str) -> bool {
    static EMAIL_RE: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(EMAIL).expect("the e-mail pattern compiles"));
    text.contains('@') && EMAIL_RE.is_match(text)
}

impl Redactor {
    /// A redactor for credentials (always) and the kinds `options` turns on.
    pub fn new(options: RedactOptions) -> Self {
        let mut rules: Vec<(&'static str, &'static str)> = vec![
            (CREDENTIAL_HEADER_QUOTED, "${1}${2}[REDACTED]"),
            (CREDENTIAL_HEADER_PLAIN, "${1}${2}[REDACTED]"),
            (JWT, MASK),
            (BEARER, "${1}${2}[REDACTED]"),
            (SECRET_FIELD, "${1}${2}[REDACTED]"),
        ];
        if options.emails {
            rules.push((EMAIL, "[email]"));
        }
        if options.ipv4 {
            rules.push((IPV4, "[ip]"));
        }
        let quick =
            RegexSet::new(rules.iter().map(|(re, _)| *re)).expect("redaction rules compile");
        let rules = rules
            .into_iter()
            .map(|(re, with)| (Regex::new(re).expect("redaction rule compiles"), with))
            .collect();
        Self { quick, rules }
    }

    /// Returns `text` with every sensitive value masked.
    pub fn redact<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let hits = self.quick.matches(text);
        if !hits.matched_any() {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        // A rule's replacement can change what a later rule sees, so once any rule hits, all
        // run in their fixed order.
        for (re, with) in &self.rules {
            if let std::borrow::Cow::Owned(replaced) = re.replace_all(&out, *with) {
                out = replaced;
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT_SAMPLE: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz";

    fn redact(s: &str) -> String {
        Redactor::new(RedactOptions::default())
            .redact(s)
            .into_owned()
    }

    #[test]
    fn masks_credential_headers_in_debug_output() {
        let line = r#"headers={"authorization": "Bearer abc.def", "cookie": "sid=123; theme=dark", "x-api-key": "pk_live_42"}"#;
        let out = redact(line);
        for leaked in ["abc.def", "sid=123", "theme=dark", "pk_live_42"] {
            assert!(!out.contains(leaked), "{leaked} leaked in {out}");
        }
    }

    #[test]
    fn masks_inside_json_strings() {
        let line = r#"{"fields":{"message":"body {\"email\":\"a@b.io\",\"password\":\"hunter2hunter2\"}"}}"#;
        let out = redact(line);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("a@b.io"), "{out}");
    }

    #[test]
    fn masks_jwts_bearer_tokens_and_fields() {
        let out = redact(&format!(
            "token {JWT_SAMPLE} and Bearer opaque-123 api_key=k_999&x=1 secret: s3cr"
        ));
        for leaked in ["eyJzdWIi", "opaque-123", "k_999", "s3cr"] {
            assert!(!out.contains(leaked), "{leaked} leaked in {out}");
        }
        assert!(out.contains("x=1"));
    }

    #[test]
    fn plain_header_lines() {
        let out = redact("Authorization: Basic dXNlcjpwYXNz\nSet-Cookie: sid=1; HttpOnly\n");
        assert!(
            !out.contains("dXNlcjpwYXNz") && !out.contains("sid=1"),
            "{out}"
        );
    }

    #[test]
    fn emails_and_ips_follow_options() {
        let with_ip = Redactor::new(RedactOptions {
            emails: false,
            ipv4: true,
        });
        let out = with_ip.redact("user bob@example.com from 192.168.1.20");
        assert!(
            out.contains("bob@example.com") && !out.contains("192.168.1.20"),
            "{out}"
        );
        let out = redact("user bob@example.com from 192.168.1.20");
        assert!(
            !out.contains("bob@example.com") && out.contains("192.168.1.20"),
            "{out}"
        );
    }

    #[test]
    fn clean_text_is_borrowed_untouched() {
        let r = Redactor::new(RedactOptions::default());
        assert!(matches!(
            r.redact("GET /api/items 200 3ms"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
