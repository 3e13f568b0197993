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

impl Detector {
    /// The bit of [`GATES`] that says a value holds a byte this detector's quick test needs
    /// (its `may_trigger`); none for SQL injection, which has its own word-level pre-pass.
    const fn gate(self) -> u8 {
        match self {
            Detector::Sqli => 0,
            Detector::Xss => 1,
            Detector::Traversal => 2,
            Detector::Cmdi => 4,
            Detector::Header => 8,
        }
    }
}

/// Per byte, the [`Detector::gate`] bits of the detectors whose quick test the byte passes:
/// one pass over a value tells which detectors can find nothing in it.
static GATES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut g = 0;
        if xss::may_trigger(c) {
            g |= Detector::Xss.gate();
        }
        if traversal::may_trigger(c) {
            g |= Detector::Traversal.gate();
        }
        if cmdi::may_trigger(c) {
            g |= Detector::Cmdi.gate();
        }
        if header::may_trigger(c) {
            g |= Detector::Header.gate();
        }
        t[b] = g;
        b += 1;
    }
    t
};

/// Runs `detectors` over `value`; `in_header` when the value is a header or cookie value.
/// Returns each detector's strongest finding. A detector whose quick test no byte of the value
/// passes is not called (it would return nothing: the test is its own first step).
pub fn scan(value: &str, in_header: bool, detectors: &[Detector]) -> Vec<Finding> {
    if value.len() < 2 {
        return Vec::new();
    }
    let gates = value.bytes().fold(0u8, |g, b| g | GATES[usize::from(b)]);
    detectors
        .iter()
        .filter(|d| d.gate() == 0 || gates & d.gate() != 0)
        .filter_map(|&d| run(d, value, in_header))
        .collect()
}

/// Detector `d`'s strongest finding in `value`.
fn run(d: Detector, value: &str, in_header: bool) -> Option<Finding> {
    let (rule, level) = match d {
        Detector::Sqli => sqli::detect(value).map(|f| (f.rule, f.level)),
        Detector::Xss => xss::detect(value).map(|f| (f.rule, f.level)),
        Detector::Traversal => traversal::detect(value).map(|f| (f.rule, f.level)),
        Detector::Cmdi => cmdi::detect(value).map(|f| (f.rule, f.level)),
        Detector::Header => header::detect(value, in_header).map(|f| (f.rule, f.level)),
    }?;
    Some(Finding {
        detector: d,
        rule,
        level,
    })
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

    /// Every detector run directly, without the gates.
    fn ungated(value: &str, in_header: bool) -> Vec<Finding> {
        if value.len() < 2 {
            return Vec::new();
        }
        Detector::ALL
            .into_iter()
            .filter_map(|d| run(d, value, in_header))
            .collect()
    }

    #[test]
    fn the_gates_skip_only_detectors_that_find_nothing() {
        let values = [
            "O'Brien's shoe, size 12",
            "../../etc/passwd",
            "C:\\Windows\\System32\\drivers",
            "system32",
            "x\0y",
            "<img src=x onerror=alert(1)>",
            "javascript:alert(1)",
            "a=b&c=d",
            "ls; cat /etc/passwd",
            "$(id)",
            "`id`",
            "x\r\nSet-Cookie: a=b",
            "1' or '1'='1",
            "union select password from users",
            "plain words only",
            "%2e%2e%2f",
        ];
        for value in values {
            for in_header in [false, true] {
                assert_eq!(
                    scan(value, in_header, &Detector::ALL),
                    ungated(value, in_header),
                    "{value:?}"
                );
            }
        }
        // Every byte alone and beside each trigger class.
        for b in 0..=255u8 {
            let s = String::from_utf8_lossy(&[b, b'x', b]).into_owned();
            assert_eq!(scan(&s, false, &Detector::ALL), ungated(&s, false), "{s:?}");
        }
    }

    #[test]
    fn the_gates_change_nothing_on_the_corpora() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let benign = root.join("tests/data/benign/benign.jsonl");
        let dev = root.join("../../../shared/data/libinjection");
        let files = [
            benign,
            dev.join("libinjection_samples.jsonl"),
            dev.join("libinjection_sqli_unit_tests.jsonl"),
        ];
        let mut values = 0;
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else {
                println!("SKIPPED: {} is absent", path.display());
                continue;
            };
            for line in text.lines() {
                let name = path.display().to_string();
                for (value, in_header) in
                    eval::parse_line(line, &name).map_or(Vec::new(), |s| s.values)
                {
                    values += 1;
                    assert_eq!(
                        scan(&value, in_header, &Detector::ALL),
                        ungated(&value, in_header),
                        "{value:?}"
                    );
                }
            }
        }
        assert!(values >= 5000, "{values} values");
    }

    #[test]
    fn excerpt_masks_letters_and_digits() {
        assert_eq!(redacted_excerpt("' OR 1=1--"), "' aa 0=0--");
    }
}
