//! The path-traversal detector for parameter and body values (the URL path itself is
//! canonicalized by the boundary gate): `../` and `..\` segments after decoding (including the
//! overlong and doubled encodings), NUL bytes, and absolute references to system files.

/// A traversal finding: rule and paranoia level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraversalFinding {
    /// The matched rule's short name.
    pub rule: &'static str,
    /// The paranoia level from which it counts (1–4).
    pub level: u8,
}

const SYSTEM_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/hosts",
    "/etc/group",
    "/proc/self",
    "/proc/version",
    "/var/log/",
    "/.ssh/",
    "/.aws/credentials",
    "/.env",
    "/.git/",
    "/windows/",
    "win.ini",
    "boot.ini",
    "system32",
    "/etc/issue",
    "web.config",
    "/.htpasswd",
    "/.htaccess",
];

/// Whether `b` is a byte without one of which no rule here matches: NUL, a dot, a slash, a
/// backslash, an escape, or the `3` of `system32`. Shared with `scan`.
pub(super) const fn may_trigger(b: u8) -> bool {
    matches!(b, 0 | b'.' | b'/' | b'\\' | b'%' | b'3')
}

/// The strongest traversal finding in `input`, if any.
pub fn detect(input: &str) -> Option<TraversalFinding> {
    // Every rule below needs a dot, a slash, a backslash or an escape (or `system32`).
    // "system32" is the one rule without `.`, `/`, `\` or `%`; it needs "32".
    let bytes = input.as_bytes();
    let mut pathlike = false;
    for &b in bytes {
        match b {
            0 => {
                return Some(TraversalFinding {
                    rule: "nul-byte",
                    level: 1,
                });
            }
            b'.' | b'/' | b'\\' | b'%' => pathlike = true,
            _ => {}
        }
    }
    let system32 =
        || bytes.windows(2).any(|w| w == b"32") && contains_ignore_case(input, b"system32");
    if !pathlike && !system32() {
        return None;
    }
    // Decode what survives one URL decoding (double encoding) and overlong dots and slashes.
    let lower = input.to_ascii_lowercase();
    // Every encoded form decoded here starts with `%`.
    let s = if !lower.contains('%') {
        lower
    } else {
        lower
            .replace("%2e", ".")
            .replace("%2f", "/")
            .replace("%5c", "\\")
            .replace("%c0%ae", ".")
            .replace("%c0%af", "/")
            .replace("%c1%9c", "\\")
            .replace("%252e", ".")
            .replace("%252f", "/")
    };
    let s = if s.contains('\\') {
        s.replace('\\', "/")
    } else {
        s
    };
    let mut best: Option<TraversalFinding> = None;
    let mut note = |rule, level| {
        if best.is_none_or(|b: TraversalFinding| level < b.level) {
            best = Some(TraversalFinding { rule, level });
        }
    };
    let ups = count_up_segments(&s);
    if ups >= 2 {
        note("dot-dot-segments", 1);
    } else if ups == 1 {
        note("dot-dot-segment", 2);
    }
    if SYSTEM_FILES.iter().any(|f| s.contains(f)) {
        note(
            "system-file",
            if s.starts_with('/') || s.contains("file:") || ups > 0 {
                1
            } else {
                2
            },
        );
    }
    if s.starts_with("file:/") {
        note("file-url", 1);
    }
    best
}

fn contains_ignore_case(haystack: &str, needle: &[u8]) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Counts `..` path segments: `..` delimited by `/` or the ends (also `....//` that a
/// single-pass filter would collapse into `../`).
fn count_up_segments(s: &str) -> usize {
    // Every up segment, before or after collapsing, contains "..".
    if !s.contains("..") {
        return 0;
    }
    let collapsed = s.replace("....//", "../").replace("..././", "../");
    collapsed
        .split('/')
        .enumerate()
        .filter(|(i, seg)| {
            let seg = seg.trim();
            (seg == ".." || seg == "...") && (*i > 0 || collapsed.contains(&format!("{seg}/")))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal() {
        assert!(detect("../../etc/passwd").is_some_and(|f| f.level == 1));
        assert!(detect("..%2f..%2fwin.ini").is_some());
        assert!(detect("....//....//etc/passwd").is_some());
        assert!(detect("Wait... what?").is_none());
        assert!(detect("docs/guide.md").is_none());
    }
}
