//! Input inspection: detectors for SQL injection (a libinjection-style tokenizer and structural
//! rules), cross-site scripting (HTML, attribute, script and URL contexts), path traversal,
//! command injection and header injection, and the anomaly scoring the `inspect` gate applies.
//!
//! Guarantees: every detector is a pure, linear-time function of its input that never panics;
//! findings name a rule and a paranoia level (1 = unmistakable … 4 = shapes ordinary text can
//! take); scoring counts a finding only at or above its level, so a higher paranoia level finds
//! more and never less. Nothing here keeps or returns the inspected value except
//! [`redacted_excerpt`], which masks letters and digits.

pub mod cmdi;
pub mod decode;
pub mod eval;
pub mod header;
pub mod sql_lex;
mod sql_suspect;
pub mod sqli;
pub mod traversal;
pub mod xss;

/// The detectors, by the names used in configuration, audit records and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting.
    Xss,
    /// Path traversal in a parameter or body value.
    Traversal,
    /// OS command injection.
    Cmdi,
    /// CR/LF header injection.
    Header,
}

impl Detector {
    /// Every detector.
    pub const ALL: [Detector; 5] = [
        Detector::Sqli,
        Detector::Xss,
        Detector::Traversal,
        Detector::Cmdi,
        Detector::Header,
    ];

    /// The detector's name (`sqli`, `xss`, `traversal`, `cmdi`, `header`).
    pub fn name(self) -> &'static str {
        match self {
            Detector::Sqli => "sqli",
            Detector::Xss => "xss",
            Detector::Traversal => "traversal",
            Detector::Cmdi => "cmdi",
            Detector::Header => "header",
        }
    }

    /// The detector named `name`.
    pub fn parse(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// One detector's finding in one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Which detector.
    pub detector: Detector,
    /// The rule that matched (a short fixed name, never input).
    pub rule: &'static str,
    /// The paranoia level from which the finding counts (1–4).
    pub level: u8,
}

/// The anomaly score one counted finding adds (the scale of the route `threshold`).
pub const FINDING_SCORE: u32 = 5;

/// Runs `detectors` over `value`; `in_header` when the value is a header or cookie value.
/// Returns each detector's strongest finding.
pub fn scan(value: &str, in_header: bool, detectors: &[Detector]) -> Vec<Finding> {
    let mut out = Vec::new();
    if value.len() < 2 {
        return out;
    }
    for &d in detectors {
        let hit = match d {
            Detector::Sqli => sqli::detect(value).map(|f| (f.rule, f.level)),
            Detector::Xss => xss::detect(value).map(|f| (f.rule, f.level)),
            Detector::Traversal => traversal::detect(value).map(|f| (f.rule, f.level)),
            Detector::Cmdi => cmdi::detect(value).map(|f| (f.rule, f.level)),
            Detector::Header => header::detect(value, in_header).map(|f| (f.rule, f.level)),
        };
        if let Some((rule, level)) = hit {
            out.push(Finding {
                detector: d,
                rule,
                level,
            });
        }
    }
    out
}

/// The anomaly score of `findings` at `paranoia`: [`FINDING_SCORE`] for each finding whose
/// level is at most `paranoia`.
pub fn score(findings: &[Finding], paranoia: u8) -> u32 {
    findings.iter().filter(|f| f.level <= paranoia).count() as u32 * FINDING_SCORE
}

/// A redacted excerpt of `value` for an audit record: at most 48 characters, letters masked as
/// `a`, digits as `0`, other characters (the shape of an injection: quotes, operators, brackets)
/// kept. The value itself is never recorded.
pub fn redacted_excerpt(value: &str) -> String {
    value
        .chars()
        .take(48)
        .map(|c| {
            if c.is_alphabetic() {
                'a'
            } else if c.is_numeric() {
                '0'
            } else if c.is_control() {
                '.'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paranoia_only_adds() {
        let f = scan("1' or '1'='1", false, &Detector::ALL);
        assert!(score(&f, 1) <= score(&f, 2) && score(&f, 2) <= score(&f, 4));
        assert!(score(&f, 2) >= FINDING_SCORE);
    }

    #[test]
    fn excerpt_masks_letters_and_digits() {
        assert_eq!(redacted_excerpt("' OR 1=1--"), "' aa 0=0--");
    }
}
