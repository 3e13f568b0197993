//! The SQL tokenizer of the SQL-injection detector, in the manner of libinjection: the input is
//! cut into typed tokens (string, number, bareword, keyword, operator, …) whose one-letter kinds
//! form a fingerprint. It never fails and never allocates per character: any byte sequence gives
//! some token stream, in time linear in the input (each loop step consumes at least one byte).

/// The kind of one SQL token (its letter in the fingerprint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A quoted string (`s`).
    Str,
    /// A number, including hex and binary literals (`1`).
    Num,
    /// An identifier that is not a keyword (`n`).
    Bare,
    /// A variable: `@x`, `@@version`, `$1` (`v`).
    Var,
    /// `UNION` (`U`).
    Union,
    /// A statement keyword: SELECT, INSERT, UPDATE, DELETE, DROP, … (`E`).
    Stmt,
    /// A clause keyword such as FROM, WHERE, ORDER BY, INTO, TABLE (`k`).
    Kw,
    /// A clause that takes a column number or expression: ORDER BY, GROUP BY, HAVING, LIMIT (`B`).
    Clause,
    /// A function name known to SQL dialects (`f`).
    Func,
    /// AND / OR / XOR / `&&` / `||` (`&`).
    Logic,
    /// An operator: comparison, arithmetic, LIKE, IN, IS, BETWEEN, … (`o`).
    Op,
    /// A comment: `--`, `#`, `/* */` (`c`).
    Comment,
    /// `;`
    Semi,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// Anything else (`?`).
    Other,
}

/// One token: its kind and, for words, the upper-cased word's class details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The kind.
    pub kind: Kind,
    /// For strings: whether the closing quote was found.
    pub closed: bool,
    /// For functions: whether it is a side-effect or timing function (SLEEP, BENCHMARK, …).
    pub dangerous: bool,
    /// For `Stmt`: whether the word is SELECT.
    pub select: bool,
    /// For `Op`: whether it compares (`=`, `<>`, LIKE, IN, …); for `Comment`: whether it is a
    /// comment in every dialect's reading (`/* */`, `--` before a space or the end, `#` at the end
    /// of a line with nothing after it).
    pub strong: bool,
    /// For `Op`: whether it is a word (LIKE, IS, …) rather than a symbol.
    pub word: bool,
}

impl Token {
    fn of(kind: Kind) -> Token {
        Token {
            kind,
            closed: true,
            dangerous: false,
            select: false,
            strong: false,
            word: false,
        }
    }
}

const STMTS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "TRUNCATE", "EXEC",
    "EXECUTE", "DECLARE", "SHUTDOWN", "WAITFOR", "GRANT", "REVOKE", "MERGE", "HANDLER", "RENAME",
];
const KWS: &[&str] = &[
    "FROM",
    "WHERE",
    "INTO",
    "TABLE",
    "SET",
    "VALUES",
    "OUTFILE",
    "DUMPFILE",
    "ALL",
    "DISTINCT",
    "AS",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IF",
    "BEGIN",
    "USE",
    "GOTO",
    "JOIN",
    "DATABASE",
    "PROCEDURE",
    "TOP",
    "NULL",
    "TRUE",
    "FALSE",
    "DELAY",
    "LOCK",
    "SHARE",
    "MODE",
    "FOR",
    "USING",
    "OFFSET",
    "BY",
    "DESC",
    "ASC",
    "COLUMN",
    "DUAL",
    "INFORMATION_SCHEMA",
    "SYSOBJECTS",
    "CAST",
    "ON",
];
const CLAUSES: &[&str] = &["ORDER", "GROUP", "HAVING", "LIMIT"];
const LOGIC: &[&str] = &["AND", "OR", "XOR", "NOT"];
const OPS: &[&str] = &[
    "LIKE", "RLIKE", "REGEXP", "IS", "IN", "BETWEEN", "SOUNDS", "DIV", "MOD", "COLLATE", "BINARY",
    "ESCAPE", "GLOB", "MATCH", "AGAINST",
];
/// Functions whose call in a parameter is an attack by itself (time delays, file and network
/// access, error-based extraction, command execution).
const DANGEROUS: &[&str] = &[
    "SLEEP",
    "BENCHMARK",
    "PG_SLEEP",
    "LOAD_FILE",
    "EXTRACTVALUE",
    "UPDATEXML",
    "XP_CMDSHELL",
    "SP_EXECUTESQL",
    "SP_OACREATE",
    "UTL_INADDR",
    "UTL_HTTP",
    "DBMS_PIPE",
    "DBMS_LOCK",
    "RECEIVE_MESSAGE",
    "GET_HOST_ADDRESS",
    "PG_READ_FILE",
    "LO_IMPORT",
    "DBLINK",
    "OPENROWSET",
    "OPENQUERY",
    "FILETOBLOB",
    "FILETOCLOB",
    "SQLID_TO_SQLHASH",
    "GTID_SUBSET",
    "JSON_KEYS",
    "EXP",
    "POLYGON",
    "MULTIPOINT",
    "LINESTRING",
    "GEOMETRYCOLLECTION",
    "NAME_CONST",
    "ROW",
];
/// Ordinary SQL functions: evidence together with other SQL structure.
const FUNCS: &[&str] = &[
    "CHAR",
    "CHR",
    "CONCAT",
    "CONCAT_WS",
    "GROUP_CONCAT",
    "ASCII",
    "ORD",
    "SUBSTRING",
    "SUBSTR",
    "MID",
    "LEFT",
    "RIGHT",
    "VERSION",
    "USER",
    "CURRENT_USER",
    "SYSTEM_USER",
    "SESSION_USER",
    "DATABASE",
    "SCHEMA",
    "COUNT",
    "CONVERT",
    "LENGTH",
    "LEN",
    "IFNULL",
    "ISNULL",
    "NULLIF",
    "COALESCE",
    "ELT",
    "HEX",
    "UNHEX",
    "MD5",
    "SHA1",
    "SHA2",
    "RAND",
    "FLOOR",
    "CEIL",
    "PI",
    "COS",
    "SIN",
    "ABS",
    "AES_ENCRYPT",
    "AES_DECRYPT",
    "LOWER",
    "UPPER",
    "LCASE",
    "UCASE",
    "REVERSE",
    "REPLACE",
    "INSTR",
    "LOCATE",
    "POSITION",
    "STRCMP",
    "UTC_DATE",
    "UTC_TIME",
    "NOW",
    "SYSDATE",
    "CURDATE",
    "DB_NAME",
    "HOST_NAME",
    "SUSER_NAME",
    "SERVERPROPERTY",
    "OBJECT_ID",
    "TO_CHAR",
    "CURRENT_DATABASE",
    "CURRENT_SCHEMA",
    "BIT_LENGTH",
    "CHAR_LENGTH",
    "MAKE_SET",
    "EXPORT_SET",
    "FIELD",
    "FIND_IN_SET",
    "IIF",
    "QUOTENAME",
    "NCHAR",
    "UNICODE",
    "CONNECTION_ID",
    "LAST_INSERT_ID",
    "ROW_COUNT",
    "UUID",
    "ENCODE",
    "DECODE",
    "COMPRESS",
    "BIN",
    "OCT",
    "CONV",
    "SPACE",
    "REPEAT",
    "LPAD",
    "RPAD",
    "TRIM",
    "QUOTE",
    "WEIGHT_STRING",
    "CURRENT_TIMESTAMP",
    "UTC_TIMESTAMP",
    "LOCALTIME",
    "GREATEST",
    "LEAST",
    "ATAN",
    "LOG",
];

// Which word lists a word is on, as bits: one hash lookup per word instead of a scan of every
// list (the scans were the inspect gate's largest cost).
pub(super) const IN_STMTS: u8 = 1;
pub(super) const IN_LOGIC: u8 = 1 << 1;
pub(super) const IN_OPS: u8 = 1 << 2;
pub(super) const IN_DANGEROUS: u8 = 1 << 3;
pub(super) const IN_FUNCS: u8 = 1 << 4;
pub(super) const IN_CLAUSES: u8 = 1 << 5;
pub(super) const IN_KWS: u8 = 1 << 6;

/// FNV-1a for the fixed keyword map: its keys are ours and the map never grows, so an input
/// cannot flood it (the reason for std's SipHash), and FNV is several times faster on the short
/// words looked up here.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type Lists = std::collections::HashMap<&'static [u8], u8, std::hash::BuildHasherDefault<Fnv>>;

/// The keyword map, and which (first byte, second byte, length) shapes its words have: most
/// words of ordinary text have a shape no keyword has and are answered without hashing.
struct Keywords {
    lists: Lists,
    /// Per first letter and second byte ([`shape_slot`]), a bit per length (< 32) some keyword
    /// of that start has.
    shapes: [[u32; 37]; 26],
    /// A bit per letter that is a keyword on its own.
    one_letter: u32,
}

/// The index of an upper-cased word byte in [`Keywords::shapes`]: letters, digits, `_`.
fn shape_slot(b: u8) -> Option<usize> {
    match b {
        b'A'..=b'Z' => Some(usize::from(b - b'A')),
        b'0'..=b'9' => Some(26 + usize::from(b - b'0')),
        b'_' => Some(36),
        _ => None,
    }
}

static KEYWORDS: std::sync::LazyLock<Keywords> = std::sync::LazyLock::new(|| {
    let mut lists = Lists::default();
    let mut shapes = [[0u32; 37]; 26];
    let mut one_letter = 0u32;
    for (list, bit) in [
        (STMTS, IN_STMTS),
        (LOGIC, IN_LOGIC),
        (OPS, IN_OPS),
        (DANGEROUS, IN_DANGEROUS),
        (FUNCS, IN_FUNCS),
        (CLAUSES, IN_CLAUSES),
        (KWS, IN_KWS),
    ] {
        for &word in list {
            *lists.entry(word.as_bytes()).or_insert(0) |= bit;
            match word.as_bytes() {
                [a @ b'A'..=b'Z', b, ..] if word.len() < 32 && shape_slot(*b).is_some() => {
                    shapes[usize::from(a - b'A')][shape_slot(*b).unwrap_or(0)] |= 1 << word.len();
                }
                [a @ b'A'..=b'Z'] => one_letter |= 1 << (a - b'A'),
                // A word the shapes cannot describe: every shape is possible.
                _ => (shapes, one_letter) = ([[u32::MAX; 37]; 26], u32::MAX),
            }
        }
    }
    Keywords {
        lists,
        shapes,
        one_letter,
    }
});

/// Every word on a keyword list that is a single word (for the detector's tests).
#[cfg(test)]
pub(super) fn all_keywords() -> impl Iterator<Item = &'static str> {
    [STMTS, LOGIC, OPS, DANGEROUS, FUNCS, CLAUSES, KWS]
        .into_iter()
        .flatten()
        .copied()
        .filter(|w| w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// `OUTFILE` or `DUMPFILE` in any case: the one-word inputs the detector refuses.
pub(super) fn writes_files(word: &str) -> bool {
    word.eq_ignore_ascii_case("OUTFILE") || word.eq_ignore_ascii_case("DUMPFILE")
}

/// Whether `word` (in any case) may be on a keyword list: false only when no keyword has its
/// length, first letter and second byte, a test that needs neither a copy nor a hash.
pub(super) fn may_be_keyword(word: &[u8]) -> bool {
    let k = &*KEYWORDS;
    match word {
        [] => false,
        [a] => match a.to_ascii_uppercase() {
            a @ b'A'..=b'Z' => k.one_letter & (1 << (a - b'A')) != 0,
            _ => true,
        },
        [a, b, ..] => match (a.to_ascii_uppercase(), shape_slot(b.to_ascii_uppercase())) {
            (a @ b'A'..=b'Z', Some(b)) if word.len() < 32 => {
                k.shapes[usize::from(a - b'A')][b] & (1 << word.len()) != 0
            }
            _ => true,
        },
    }
}

/// The keyword lists (`IN_*` bits) the upper-cased word `upper` is on; `UNION` is on none.
pub(super) fn lists_of(upper: &[u8]) -> u8 {
    if may_be_keyword(upper) {
        listed(upper)
    } else {
        0
    }
}

/// [`lists_of`] without the shape test, for a word that already passed [`may_be_keyword`].
pub(super) fn listed(upper: &[u8]) -> u8 {
    KEYWORDS.lists.get(upper).copied().unwrap_or(0)
}

/// No keyword or function name is longer than this: longer words are barewords, and the
/// upper-casing needs no allocation.
pub(super) const MAX_WORD: usize = 40;

fn classify(word: &str, next_is_open: bool) -> Token {
    let mut buf = [0u8; MAX_WORD];
    if word.len() > buf.len() {
        return Token::of(Kind::Bare);
    }
    let w = &mut buf[..word.len()];
    w.copy_from_slice(word.as_bytes());
    w.make_ascii_uppercase();
    let w = &*w;
    if w == b"UNION" {
        return Token::of(Kind::Union);
    }
    let lists = lists_of(w);
    if lists & IN_STMTS != 0 {
        return Token {
            select: w == b"SELECT",
            ..Token::of(Kind::Stmt)
        };
    }
    if lists & IN_LOGIC != 0 {
        return Token::of(Kind::Logic);
    }
    if lists & IN_OPS != 0 {
        let strong = !matches!(w, b"DIV" | b"MOD" | b"COLLATE" | b"BINARY" | b"ESCAPE");
        return Token {
            strong,
            word: true,
            ..Token::of(Kind::Op)
        };
    }
    let dotted = w.contains(&b'.');
    let base_lists = if dotted {
        lists_of(w.rsplit(|&c| c == b'.').next().unwrap_or(w))
    } else {
        lists
    };
    if base_lists & IN_DANGEROUS != 0 && (next_is_open || dotted) {
        return Token {
            dangerous: true,
            ..Token::of(Kind::Func)
        };
    }
    if lists & IN_FUNCS != 0
        && (next_is_open || w.starts_with(b"UTC_") || w.starts_with(b"CURRENT_"))
    {
        return Token::of(Kind::Func);
    }
    if lists & IN_CLAUSES != 0 {
        return Token::of(Kind::Clause);
    }
    if lists & IN_KWS != 0 {
        // Writing files from a query is an attack wherever it appears.
        let dangerous = writes_files(word);
        return Token {
            dangerous,
            ..Token::of(Kind::Kw)
        };
    }
    Token::of(Kind::Bare)
}

/// A byte that continues a word (and a variable name after `@`).
pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.' || b >= 0x80
}

/// The next index after spaces, `/**/`-style comments not counted (used to see whether a word is
/// followed by `(`).
fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        if s[i].is_ascii_whitespace() || s[i] == 0x0b {
            i += 1;
        } else if s[i..].starts_with(b"/*") {
            match find(s, i + 2, b"*/") {
                Some(e) => i = e + 2,
                None => return s.len(),
            }
        } else {
            break;
        }
    }
    i
}

fn find(s: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    if from > s.len() {
        return None;
    }
    s[from..]
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// Tokenizes `input`; with `quote` set, the input is read as if it started inside a string
/// delimited by that quote (the context a parameter lands in when an application quotes it).
/// Stops after `max` tokens.
pub fn tokenize(input: &str, quote: Option<u8>, max: usize) -> Vec<Token> {
    let s = input.as_bytes();
    let mut out = Vec::with_capacity(16);
    let mut i = 0;
    if let Some(q) = quote {
        let (end, closed) = string_end(s, 0, q);
        out.push(Token {
            closed,
            ..Token::of(Kind::Str)
        });
        if !closed {
            // The whole input is inside the string: nothing after it to tokenize.
            return out;
        }
        i = end;
    }
    while i < s.len() && out.len() < max {
        let b = s[i];
        if b.is_ascii_whitespace() || b == 0x0b || b == 0 || b == 0xa0 {
            i += 1;
            continue;
        }
        // MySQL executable comments run as code: drop the markers, keep the content.
        if s[i..].starts_with(b"/*!") {
            // Hiding code from other dialects is itself a mark of injection.
            out.push(Token {
                strong: true,
                ..Token::of(Kind::Comment)
            });
            i += 3;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        if s[i..].starts_with(b"*/") {
            i += 2;
            continue;
        }
        if s[i..].starts_with(b"/*") {
            out.push(Token {
                strong: true,
                ..Token::of(Kind::Comment)
            });
            i = find(s, i + 2, b"*/").map_or(s.len(), |e| e + 2);
            continue;
        }
        // `--` glued to a word or number is no comment in MySQL: read it as two minus signs.
        if s[i..].starts_with(b"--") && s.get(i + 2).is_some_and(u8::is_ascii_alphanumeric) {
            out.push(Token::of(Kind::Op));
            i += 2;
            continue;
        }
        if s[i..].starts_with(b"--") || b == b'#' {
            let end = find(s, i, b"\n").unwrap_or(s.len());
            let strong = if b == b'#' {
                s[i + 1..end].iter().all(u8::is_ascii_whitespace) || end < s.len()
            } else {
                s.get(i + 2).is_none_or(|c| !c.is_ascii_alphanumeric())
            };
            out.push(Token {
                strong,
                ..Token::of(Kind::Comment)
            });
            i = (end + 1).min(s.len());
            continue;
        }
        match b {
            b'\'' | b'"' | b'`' => {
                let (end, closed) = string_end(s, i + 1, b);
                let kind = if b == b'`' { Kind::Bare } else { Kind::Str };
                out.push(Token {
                    closed,
                    ..Token::of(kind)
                });
                i = end;
            }
            b'(' => {
                out.push(Token::of(Kind::Open));
                i += 1;
            }
            b')' => {
                out.push(Token::of(Kind::Close));
                i += 1;
            }
            b';' => {
                out.push(Token::of(Kind::Semi));
                i += 1;
            }
            b',' => {
                out.push(Token::of(Kind::Comma));
                i += 1;
            }
            b'@' if s.get(i + 1).is_some_and(|&c| is_word_byte(c) || c == b'@') => {
                i += 1;
                while i < s.len() && (is_word_byte(s[i]) || s[i] == b'@') {
                    i += 1;
                }
                out.push(Token::of(Kind::Var));
            }
            b'&' | b'|' if s.get(i + 1) == Some(&b) => {
                out.push(Token::of(Kind::Logic));
                i += 2;
            }
            b'0'..=b'9' => {
                i += 1;
                if s.get(i)
                    .is_some_and(|&c| c == b'x' || c == b'X' || c == b'b' || c == b'B')
                    && s[i - 1] == b'0'
                {
                    i += 1;
                    while i < s.len() && s[i].is_ascii_hexdigit() {
                        i += 1;
                    }
                } else {
                    i = number_end(s, i);
                }
                out.push(Token::of(Kind::Num));
            }
            b'.' if s.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = number_end(s, i + 1);
                out.push(Token::of(Kind::Num));
            }
            _ if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let start = i;
                // A hyphen between letters joins a compound word (`select-all`), as in prose.
                while i < s.len()
                    && (is_word_byte(s[i])
                        || (s[i] == b'-'
                            && s[i - 1].is_ascii_alphabetic()
                            && s.get(i + 1).is_some_and(u8::is_ascii_alphabetic)))
                {
                    i += 1;
                }
                let word = std::str::from_utf8(&s[start..i]).unwrap_or("");
                let word = word.trim_end_matches('.');
                // N'…', X'…', B'…', _charset'…' prefixes: a string follows.
                let next = skip_space(s, i);
                let tok = classify(word, s.get(next) == Some(&b'('));
                // ORDER BY / GROUP BY are one clause token.
                if word.eq_ignore_ascii_case("BY")
                    && matches!(out.last(), Some(t) if t.kind == Kind::Clause)
                {
                    continue;
                }
                out.push(tok);
            }
            b'=' | b'<' | b'>' | b'!' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'|' | b'&'
            | b'~' | b':' => {
                let start = i;
                i += 1;
                while i < s.len() && matches!(s[i], b'=' | b'<' | b'>' | b'!' | b'|') {
                    i += 1;
                }
                let strong = matches!(s[start], b'=' | b'<' | b'>') || s[start..i] == *b"!=";
                out.push(Token {
                    strong,
                    ..Token::of(Kind::Op)
                });
            }
            _ => {
                // A multi-byte character or punctuation: one token for the character.
                i += 1;
                while i < s.len() && (s[i] & 0xC0) == 0x80 {
                    i += 1;
                }
                out.push(Token::of(Kind::Other));
            }
        }
    }
    out
}

fn number_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'.') {
        i += 1;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') && s.get(i + 1).is_some_and(u8::is_ascii_digit)
    {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// The index after the closing `q` from `from` (backslash escapes and doubled quotes inside),
/// and whether it closed.
fn string_end(s: &[u8], from: usize, q: u8) -> (usize, bool) {
    let mut i = from;
    while i < s.len() {
        if s[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i] == q {
            if s.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return (i + 1, true);
        }
        i += 1;
    }
    (s.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_filter_passes_every_keyword() {
        let k = &*KEYWORDS;
        assert_ne!(
            k.shapes,
            [[u32::MAX; 37]; 26],
            "every keyword has a describable shape"
        );
        for (&word, &bits) in &k.lists {
            assert_eq!(lists_of(word), bits, "{}", String::from_utf8_lossy(word));
            assert!(may_be_keyword(word) && may_be_keyword(&word.to_ascii_lowercase()));
        }
        assert_eq!(lists_of(b"RUNNING"), 0);
        // Ordinary words of every length: the filter answers no only for words on no list.
        for word in [
            "s", "O", "a", "x", "_", "9", "It", "size", "running", "O_Brien", "shoe1",
        ] {
            let upper = word.to_ascii_uppercase();
            assert!(may_be_keyword(word.as_bytes()) || !k.lists.contains_key(upper.as_bytes()));
        }
        assert!(!may_be_keyword(b"") && !may_be_keyword(b"s") && !may_be_keyword(b"running"));
    }
}
