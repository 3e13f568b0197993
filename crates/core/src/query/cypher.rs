//! Cypher classification by our own tokenizer: comments, strings and backtick identifiers are
//! stripped first, then each statement is classified by its clause keywords and the procedures
//! and namespaced functions it calls.
//!
//! # Rules
//!
//! - `//` and `/* … */` comments (not nested, as in Cypher) are dropped; `'…'` and `"…"` strings
//!   (backslash escapes) and `` `…` `` identifiers (doubled backtick escape) become single
//!   tokens, so a keyword inside them never counts. An unterminated string, identifier or
//!   comment, unbalanced brackets, or any non-ASCII character outside a string or identifier
//!   (fullwidth `ＤＥＬＥＴＥ`, homoglyphs) is refused as unparsable.
//! - A word is a keyword unless it follows `.`, `:` or `$` (property, label, type, parameter) or
//!   is followed by `:` (a map key). A variable named like a keyword (`MATCH (set) …`) therefore
//!   counts as that keyword: a false refusal, never a false admission.
//! - `READ`: `MATCH`, `OPTIONAL MATCH`, `WHERE`, `RETURN`, `WITH`, `UNWIND`, `ORDER BY`, `SKIP`,
//!   `LIMIT`, `UNION`, `CALL { … }` whose body reads, `SHOW INDEXES|CONSTRAINTS`, and `CALL` of a
//!   procedure on [`READ_PROCEDURES`] or the route's allow list.
//! - `WRITE`: `CREATE` (of data), `INSERT`, `MERGE`, `SET`, `DELETE`, `DETACH DELETE`,
//!   `REMOVE`, `FOREACH`, `LOAD CSV` from a file name. `SCHEMA`: `CREATE|DROP … INDEX|CONSTRAINT`.
//! - `ADMIN`: `CALL dbms.*` and `CALL apoc.*` not on an allow list, `LOAD CSV` from a URL,
//!   `SHOW` of anything else, `CREATE|DROP USER|ROLE|DATABASE|ALIAS|SERVER`, `GRANT`, `DENY`,
//!   `REVOKE`, `USE`, `ALTER`, `RENAME`, `START`, `STOP`, `TERMINATE`, `ENABLE`, `DEALLOCATE`,
//!   `REALLOCATE`.
//! - Any other procedure is refused ([`QueryRefusal::UnknownProcedure`]); so is a namespaced
//!   function (`apoc.cypher.runWrite(…)`) outside the temporal/spatial built-ins and the route's
//!   allow list ([`QueryRefusal::UnknownFunction`]). Plain-named functions are Cypher's built-ins
//!   and read only.
//! - Statements are split at `;` outside brackets. Limits: the options' token count and
//!   bracket depth.

use super::{QueryOptions, QueryRefusal, StatementClass};

/// Procedures a `READ` may call.
pub(crate) const READ_PROCEDURES: &[&str] = &[
    "db.labels",
    "db.relationshipTypes",
    "db.propertyKeys",
    "db.schema.visualization",
    "db.schema.nodeTypeProperties",
    "db.schema.relTypeProperties",
    "db.indexes",
    "db.constraints",
];

/// Namespaces of built-in functions that only compute.
const READ_FUNCTION_NAMESPACES: &[&str] = &[
    "date.",
    "datetime.",
    "localdatetime.",
    "localtime.",
    "time.",
    "duration.",
    "point.",
];

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    /// A string literal's content (escapes left as written).
    Str(String),
    /// A backtick identifier's content.
    Ident(String),
    Punct(char),
}

/// Classifies every statement of a Cypher text.
pub(super) fn classify(
    text: &str,
    options: &QueryOptions,
) -> Result<Vec<StatementClass>, QueryRefusal> {
    let tokens = tokenize(text, options)?;
    tokens
        .split(|t| *t == Tok::Punct(';'))
        .filter(|statement| !statement.is_empty())
        .map(|statement| statement_class(statement, options))
        .collect()
}

fn tokenize(text: &str, options: &QueryOptions) -> Result<Vec<Tok>, QueryRefusal> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut stack: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if tokens.len() > options.max_tokens {
            return Err(QueryRefusal::TooComplex);
        }
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = find(bytes, i + 2, b"*/").ok_or(QueryRefusal::Unparsable)?;
                i = end + 2;
            }
            b'\'' | b'"' => {
                let start = i + 1;
                i = start;
                loop {
                    match bytes.get(i) {
                        None => return Err(QueryRefusal::Unparsable),
                        Some(b'\\') => i += 2,
                        Some(&q) if q == c => break,
                        Some(_) => i += 1,
                    }
                }
                tokens.push(Tok::Str(text[start..i].to_owned()));
                i += 1;
            }
            b'`' => {
                let mut name = String::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(QueryRefusal::Unparsable),
                        Some(b'`') if bytes.get(i + 1) == Some(&b'`') => {
                            name.push('`');
                            i += 2;
                        }
                        Some(b'`') => break,
                        Some(_) => {
                            let ch = text[i..].chars().next().ok_or(QueryRefusal::Unparsable)?;
                            name.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                tokens.push(Tok::Ident(name));
                i += 1;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Tok::Word(text[start..i].to_owned()));
            }
            b'(' | b'[' | b'{' => {
                stack.push(c);
                if stack.len() > options.max_depth {
                    return Err(QueryRefusal::TooComplex);
                }
                tokens.push(Tok::Punct(c as char));
                i += 1;
            }
            b')' | b']' | b'}' => {
                let open = match c {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                if stack.pop() != Some(open) {
                    return Err(QueryRefusal::Unparsable);
                }
                tokens.push(Tok::Punct(c as char));
                i += 1;
            }
            b';' if !stack.is_empty() => return Err(QueryRefusal::Unparsable),
            0x21..=0x7e => {
                tokens.push(Tok::Punct(c as char));
                i += 1;
            }
            // Non-ASCII or control characters outside strings and identifiers.
            _ => return Err(QueryRefusal::Unparsable),
        }
    }
    if !stack.is_empty() {
        return Err(QueryRefusal::Unparsable);
    }
    Ok(tokens)
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Whether the word at `i` is a keyword (not a property, label, parameter or map key).
fn keyword_at(tokens: &[Tok], i: usize) -> Option<String> {
    let Tok::Word(word) = &tokens[i] else {
        return None;
    };
    let before = i.checked_sub(1).map(|b| &tokens[b]);
    if matches!(before, Some(Tok::Punct('.' | ':' | '$'))) {
        return None;
    }
    if tokens.get(i + 1) == Some(&Tok::Punct(':')) {
        return None;
    }
    Some(word.to_ascii_uppercase())
}

/// A dotted name starting at `i` (words and backtick identifiers), and the index after it.
fn dotted_name(tokens: &[Tok], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some(Tok::Word(part) | Tok::Ident(part)) = tokens.get(i) {
        name.push_str(part);
        i += 1;
        if tokens.get(i) == Some(&Tok::Punct('.')) {
            name.push('.');
            i += 1;
        } else {
            break;
        }
    }
    (name, i)
}

fn next_words(tokens: &[Tok], i: usize, n: usize) -> Vec<String> {
    tokens[i + 1..]
        .iter()
        .take(n)
        .filter_map(|t| match t {
            Tok::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

fn statement_class(tokens: &[Tok], options: &QueryOptions) -> Result<StatementClass, QueryRefusal> {
    use StatementClass::{Admin, Read, Schema, Write};
    let mut class = Read;
    let mut i = 0;
    while i < tokens.len() {
        // A namespaced function call anywhere: `ns.name(`.
        if matches!(tokens[i], Tok::Word(_) | Tok::Ident(_))
            && (i == 0 || tokens[i - 1] != Tok::Punct('.'))
        {
            let (name, after) = dotted_name(tokens, i);
            let is_call = i > 0 && keyword_at(tokens, i - 1).as_deref() == Some("CALL");
            if name.contains('.') && tokens.get(after) == Some(&Tok::Punct('(')) && !is_call {
                let known = READ_FUNCTION_NAMESPACES
                    .iter()
                    .any(|ns| name.to_ascii_lowercase().starts_with(ns))
                    || options.allowed_functions.contains(&name);
                if !known {
                    return Err(QueryRefusal::UnknownFunction(name));
                }
            }
        }
        let Some(word) = keyword_at(tokens, i) else {
            i += 1;
            continue;
        };
        let found = match word.as_str() {
            "CREATE" | "DROP" => {
                let next = next_words(tokens, i, 4);
                if next.iter().any(|w| w == "INDEX" || w == "CONSTRAINT") {
                    Schema
                } else if word == "DROP"
                    || next.iter().any(|w| {
                        matches!(
                            w.as_str(),
                            "USER" | "ROLE" | "DATABASE" | "ALIAS" | "SERVER"
                        )
                    })
                {
                    Admin
                } else {
                    Write
                }
            }
            "INSERT" | "MERGE" | "SET" | "DELETE" | "DETACH" | "REMOVE" | "FOREACH" => Write,
            "LOAD" => {
                let url = tokens[i + 1..].iter().any(|t| match t {
                    Tok::Str(s) => s.contains("://"),
                    _ => false,
                });
                if url { Admin } else { Write }
            }
            "SHOW" => {
                let next = next_words(tokens, i, 2);
                let reads = next.iter().any(|w| {
                    matches!(
                        w.as_str(),
                        "INDEX" | "INDEXES" | "CONSTRAINT" | "CONSTRAINTS"
                    )
                });
                if reads && !next.iter().any(|w| w == "PRIVILEGES") {
                    Read
                } else {
                    Admin
                }
            }
            "GRANT" | "DENY" | "REVOKE" | "USE" | "ALTER" | "RENAME" | "START" | "STOP"
            | "TERMINATE" | "ENABLE" | "DEALLOCATE" | "REALLOCATE" => Admin,
            "CALL" => match tokens.get(i + 1) {
                // A subquery: its clauses are classified as the scan goes on.
                Some(Tok::Punct('{' | '(')) => Read,
                _ => {
                    let (name, _) = dotted_name(tokens, i + 1);
                    if READ_PROCEDURES.contains(&name.as_str())
                        || options.allowed_procedures.contains(&name)
                    {
                        Read
                    } else if name.starts_with("dbms.") || name.starts_with("apoc.") {
                        Admin
                    } else {
                        return Err(QueryRefusal::UnknownProcedure(name));
                    }
                }
            },
            _ => Read,
        };
        class = class.max(found);
        i += 1;
    }
    Ok(class)
}
