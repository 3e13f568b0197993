//! One cheap pass over a value that answers "could the SQL-injection detector find anything
//! here?" before `sqli` tokenizes it three times and judges each token stream. Most benign
//! values (names, prose with apostrophes, SKUs, user agents) answer no and skip the tokenizer.
//!
//! Guarantee: [`could_be_sqli`] is false only for values on which `sqli`'s full path finds
//! nothing at any paranoia level. Why, from the rules in `sqli::judge`:
//!
//! - Every rule outside the "after a quote break" block needs a token of a kind only SQL words
//!   or SQL punctuation make: `Union`, `Stmt`, `Clause`, `Func`, `Logic`, `Var`, a file-writing
//!   `Kw` (OUTFILE, DUMPFILE), a strong `Comment`, or three `Kw` (CASE … WHEN … THEN). `Semi`
//!   needs a `Stmt` or two SQL words after it; `Op`, `Str`, `Num`, `Bare` alone fire nothing.
//! - The quote-break block (in the `'` and `"` contexts) also fires on an `Op` or `;` as the
//!   first token after the closing quote (`x' = 'y`, `x';`).
//!
//! So the pass answers yes on: `@` starting a variable, `&&`, `||`, `#`, `--`, `/*`, `*/`
//! (skipped silently by the tokenizer, so it can hide what follows a quote); a `'` or `"`
//! followed, after the tokenizer's spaces, by an operator byte or `;`; and a word that may be
//! UNION, a statement, clause or logic keyword, OUTFILE/DUMPFILE, a function name that may be
//! called (`(` follows, or dotted, or `UTC_`/`CURRENT_`), an operator word right after a quote,
//! or the third `Kw` word. It looks at every place a word may start in any of the three
//! contexts (strings and comments are not skipped, which only adds candidates), so it errs on
//! the side of yes:
//!
//! - The tokenizer starts a word only at an ASCII letter, `_` or a byte ≥ 0x80 whose previous byte
//!   is not a word byte — except a digit or `.` ending a number, and a hex digit, `x` or `b`
//!   ending a `0x`/`0b` literal. A keyword is ASCII letters, digits and `_` and starts with a
//!   letter, so candidates are the first letter of each run of ASCII letters, digits and `_`,
//!   and inside a run a letter after a digit or after a `0x`/`0b` prefix and its hex digits.
//! - A candidate's run of ASCII letters, digits and `_` is the whole word unless `$`, a byte
//!   ≥ 0x80 or a hyphen between letters follows (then the word is longer and no keyword; a dotted
//!   word's last part is a candidate of its own, after its `.`). A run followed by `.` counts as
//!   a dotted or dot-trimmed word: a function there counts as called.
//!
//! `tests` checks the guarantee against the full path on the development and benign corpora,
//! on a table of edge cases and on generated values.

use super::sql_lex::{
    IN_CLAUSES, IN_DANGEROUS, IN_FUNCS, IN_KWS, IN_LOGIC, IN_OPS, IN_STMTS, MAX_WORD, is_word_byte,
    listed, may_be_keyword,
};

/// Bytes the tokenizer skips between tokens.
fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, 0x0b | 0 | 0xa0)
}

/// Bytes that start an operator token.
fn is_op_byte(b: u8) -> bool {
    matches!(
        b,
        b'=' | b'<'
            | b'>'
            | b'!'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'^'
            | b'|'
            | b'&'
            | b'~'
            | b':'
    )
}

/// What a byte is to the pass: nothing to look at, a byte of a word (ASCII letter, digit, `_`),
/// or a byte a trigger starts with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Plain,
    Word,
    Mark,
}

static CLASSES: [Class; 256] = {
    let mut t = [Class::Plain; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' {
            t[b] = Class::Word;
        } else if matches!(
            c,
            b'@' | b'&' | b'|' | b'#' | b'-' | b'/' | b'*' | b'\'' | b'"'
        ) {
            t[b] = Class::Mark;
        }
        b += 1;
    }
    t
};

/// Whether the SQL-injection detector could find anything in `input` (see the module comment:
/// false only where it finds nothing at any paranoia level).
pub(super) fn could_be_sqli(input: &str) -> bool {
    let s = input.as_bytes();
    let mut kw_words = 0;
    let mut i = 0;
    while i < s.len() {
        match CLASSES[usize::from(s[i])] {
            Class::Plain => i += 1,
            Class::Mark => {
                if mark_is_suspect(s, i) {
                    return true;
                }
                i += 1;
            }
            Class::Word => {
                let (mut end, mut has_digit) = (i + 1, s[i].is_ascii_digit());
                while end < s.len() && CLASSES[usize::from(s[end])] == Class::Word {
                    has_digit |= s[end].is_ascii_digit();
                    end += 1;
                }
                if run_is_suspect(s, i, end, has_digit, &mut kw_words) {
                    return true;
                }
                i = end;
            }
        }
    }
    false
}

/// Whether the byte `s[i]` (a `Class::Mark`) starts a trigger.
fn mark_is_suspect(s: &[u8], i: usize) -> bool {
    let next = s.get(i + 1).copied();
    match s[i] {
        b'@' => next.is_some_and(|c| is_word_byte(c) || c == b'@'),
        b'&' | b'|' => next == Some(s[i]),
        b'#' => true,
        b'-' => next == Some(b'-'),
        b'/' => next == Some(b'*'),
        b'*' => next == Some(b'/'),
        _ => {
            let after = skip_space(s, i + 1);
            s.get(after).is_some_and(|&c| is_op_byte(c) || c == b';')
        }
    }
}

fn skip_space(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|&c| is_space(c)) {
        i += 1;
    }
    i
}

/// Whether a word the tokenizer may start in the maximal run `s[start..end]` of ASCII letters,
/// digits and `_` could be a token a rule needs. The run's first byte starts a word if it is a
/// letter (the byte before is no word byte of the run's kind; `_` before it is excluded by the
/// run being maximal); inside the run a word may start only at a letter after a digit (a
/// number ended) or after a `0x`/`0b` literal's hex digits, so never in a run without digits
/// (`has_digit`).
fn run_is_suspect(s: &[u8], start: usize, end: usize, has_digit: bool, kw_words: &mut u32) -> bool {
    if s[start].is_ascii_alphabetic() && word_may_be_sql(s, start, end, kw_words) {
        return true;
    }
    if !has_digit {
        return false;
    }
    let mut hex = false;
    for k in start + 1..end {
        let (prev, c) = (s[k - 1], s[k]);
        if c.is_ascii_alphabetic()
            && (prev.is_ascii_digit() || hex)
            && word_may_be_sql(s, k, end, kw_words)
        {
            return true;
        }
        hex = (matches!(c, b'x' | b'X' | b'b' | b'B') && prev == b'0')
            || (hex && c.is_ascii_hexdigit());
    }
    false
}

/// Whether the word that may start at `s[a]` and whose letters, digits and `_` end at `e` could
/// be a token a rule needs; counts `Kw` words in `kw_words`.
fn word_may_be_sql(s: &[u8], a: usize, e: usize, kw_words: &mut u32) -> bool {
    let run = e - a;
    if run > MAX_WORD {
        return false;
    }
    let continues = s.get(e).is_some_and(|&c| {
        c == b'$'
            || c >= 0x80
            || (c == b'-'
                && s[e - 1].is_ascii_alphabetic()
                && s.get(e + 1).is_some_and(u8::is_ascii_alphabetic))
    });
    if continues {
        return false;
    }
    let word = &s[a..e];
    // UNION is on no list: the tokenizer reads it on its own.
    if word.eq_ignore_ascii_case(b"UNION") {
        return true;
    }
    if !may_be_keyword(word) {
        return false;
    }
    let mut buf = [0u8; MAX_WORD];
    let w = &mut buf[..run];
    w.copy_from_slice(word);
    w.make_ascii_uppercase();
    let w = &*w;
    let lists = listed(w);
    if lists == 0 {
        return false;
    }
    if lists & (IN_STMTS | IN_LOGIC | IN_CLAUSES) != 0 || w == b"OUTFILE" || w == b"DUMPFILE" {
        return true;
    }
    if lists & (IN_FUNCS | IN_DANGEROUS) != 0 {
        let dotted = s.get(e) == Some(&b'.') || (a > 0 && s[a - 1] == b'.');
        let called = s.get(skip_space(s, e)) == Some(&b'(');
        if dotted || called || w.starts_with(b"UTC_") || w.starts_with(b"CURRENT_") {
            return true;
        }
    }
    if lists & IN_OPS != 0 {
        let before = s[..a].iter().rposition(|&c| !is_space(c));
        if before.is_some_and(|p| matches!(s[p], b'\'' | b'"')) {
            return true;
        }
    }
    if lists & IN_KWS != 0 {
        *kw_words += 1;
        return *kw_words >= 3;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::eval::parse_line;
    use super::super::sqli::{detect, detect_full};
    use super::*;
    use std::path::Path;

    /// The pre-pass changes nothing on `value`: the detector with it finds what the full path
    /// finds, and a value the pre-pass lets skip is one the full path finds nothing in.
    fn assert_exact(value: &str) -> bool {
        let full = detect_full(value);
        assert_eq!(detect(value), full, "{value:?}");
        let skips = !could_be_sqli(value);
        assert!(
            !skips || full.is_none(),
            "skipped but found: {value:?} {full:?}"
        );
        skips
    }

    fn corpus(path: &Path) -> Option<(usize, usize)> {
        let text = std::fs::read_to_string(path).ok()?;
        let (mut values, mut skipped) = (0, 0);
        for line in text.lines() {
            for (value, _) in parse_line(line, "corpus").map_or(Vec::new(), |s| s.values) {
                values += 1;
                skipped += usize::from(assert_exact(&value));
            }
        }
        Some((values, skipped))
    }

    #[test]
    fn exact_on_the_benign_corpus() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/benign/benign.jsonl");
        let (values, skipped) = corpus(&path).expect("the committed benign corpus");
        println!("benign corpus: {skipped} of {values} values skip the SQL tokenizer");
        assert!(values >= 5000 && skipped > values / 2, "{skipped}/{values}");
    }

    #[test]
    fn exact_on_the_development_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/libinjection");
        for file in [
            "libinjection_samples.jsonl",
            "libinjection_sqli_unit_tests.jsonl",
        ] {
            let path = dir.join(file);
            if !path.exists() {
                println!("SKIPPED: {} is absent", path.display());
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let (mut values, mut skipped) = (0, 0);
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let mut inputs: Vec<String> = parse_line(line, file)
                    .map(|s| s.values.into_iter().map(|(v, _)| v).collect())
                    .unwrap_or_default();
                // The unit-test file's raw inputs, and the samples' raw (still encoded) form.
                for key in ["input", "input_urlencoded"] {
                    if let Some(raw) = v.get(key).and_then(|x| x.as_str()) {
                        inputs.push(raw.to_owned());
                    }
                }
                for value in inputs {
                    values += 1;
                    skipped += usize::from(assert_exact(&value));
                }
            }
            println!("{file}: {skipped} of {values} values skip the SQL tokenizer");
        }
    }

    /// Each case goes through both paths; those marked `true` must not skip (the full path finds
    /// something there, or the case sits on a boundary the pass must see).
    #[test]
    fn edge_cases() {
        let cases: &[(&str, bool)] = &[
            // Keywords in any case, glued to numbers, dotted, hex literals.
            ("1 UnIoN sElEcT 1", true),
            ("1union select 2", true),
            ("1.union select 2", true),
            ("0xfor 1 or 1=1", true),
            ("0x41or 1=1", true),
            ("0bor 1=1", true),
            ("1e1union select 1", true),
            ("a.sleep(5)", true),
            ("x.pg_sleep (1)", true),
            ("sleep\t\n(1)", true),
            ("benchmark\u{a0}(1,1)", false),
            ("select.", true),
            ("1 into outfile", true),
            ("DUMPFILE", true),
            ("utc_time", true),
            ("current_user", true),
            // Comments of every kind.
            ("1/**/or/**/1=1", true),
            ("1 -- x", true),
            ("1--", true),
            ("1 #", true),
            ("1/*!50000union*/ select 1", true),
            ("a' */ like 'b", true),
            // Quotes of every kind, then an operator or `;`.
            ("x' = 'y", true),
            ("x\" = \"y", true),
            ("x';", true),
            ("x'\u{0b}||'y", true),
            ("x' like 'y", true),
            ("x'\0 is null", true),
            ("`a` = 1", false),
            ("It's for O'Brien", false),
            ("Men's running shoe, size 3", false),
            ("Siobhan O'Neil", false),
            ("5' 10\"", false),
            // Operators and variables.
            ("1 || 1=1", true),
            ("1 && 1=1", true),
            ("@@version", true),
            ("@a := 1", true),
            ("a@b.example", true),
            ("@ home", false),
            // Words that look like keywords but are not words of their own.
            ("information", false),
            ("select-all", false),
            ("selection", false),
            ("_select", false),
            ("sélect", false),
            ("or$", false),
            ("ｓｅｌｅｃｔ ｆｒｏｍ", false),
            ("SKU-0001", false),
            ("Mozilla/5.0 (X11; Linux x86_64)", false),
            // Function names: only when called, dotted or UTC_/CURRENT_.
            ("turn left at the corner", false),
            ("left(1)", true),
            ("x.left", true),
            ("current_date", false),
            ("current_timestamp", true),
            // Three clause keywords make a CASE … WHEN … THEN shape possible.
            ("if you set it on top", true),
            ("for all", false),
            ("case when 1 then 2 end", true),
        ];
        for &(value, must_check) in cases {
            let skips = assert_exact(value);
            if must_check {
                assert!(!skips, "{value:?} must go through the tokenizer");
            }
        }
    }

    /// Values assembled from the pieces the rules and the pass look at (keywords, quotes,
    /// operators, comments, numbers, spaces, non-ASCII) by a fixed pseudo-random sequence.
    #[test]
    fn exact_on_generated_values() {
        const PIECES: &[&str] = &[
            "1", "0x", "0b", "a", "f", "1e1", ".", "'", "\"", "`", " ", "\t", "\u{a0}", "\0", "(",
            ")", ";", ",", "=", "<>", "-", "--", "#", "/*", "*/", "/*!", "@", "@@", "|", "||", "&",
            "&&", "$", "_", "é", "\n", "or", "OR", "and", "not", "union", "select", "from",
            "where", "sleep", "char", "like", "in", "is", "for", "on", "top", "case", "when",
            "then", "order by", "limit", "outfile", "x", "name", "version", "user", "left",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut skipped, total) = (0, 200_000);
        for _ in 0..total {
            let len = 1 + next() % 8;
            let value: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            skipped += usize::from(assert_exact(&value));
        }
        println!("generated: {skipped} of {total} skip");
        assert!(
            skipped > total / 50,
            "the generator exercises the skip path"
        );
    }
}
