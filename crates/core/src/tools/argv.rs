//! Command-line splitting with shell-words semantics (POSIX `sh` quoting, no expansion).
//!
//! Words split on unquoted spaces, tabs and newlines; `'…'` is literal; `"…"` honours `\` before
//! `\`, `"`, `$`, `` ` `` and newline; an unquoted `\` escapes the next character and `\`-newline
//! joins lines. An unterminated quote, a trailing `\` and an unquoted `#` starting a word (a shell
//! comment, which a non-shell runner would not drop) are errors: the policy refuses what two
//! readers might split differently.

/// Why a command line could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A `'` or `"` with no closing quote.
    UnterminatedQuote,
    /// A `\` at the very end.
    TrailingEscape,
    /// An unquoted `#` at the start of a word.
    Comment,
}

/// Splits `line` into argv.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => return Err(SplitError::Comment),
            '\\' => match chars.next() {
                None => return Err(SplitError::TrailingEscape),
                Some('\n') => {}
                Some(next) => {
                    word.push(next);
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(SplitError::UnterminatedQuote),
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(SplitError::UnterminatedQuote),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            None => return Err(SplitError::UnterminatedQuote),
                            Some(ch @ ('\\' | '"' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                        },
                        Some(ch) => word.push(ch),
                    }
                }
            }
            ch => {
                word.push(ch);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}
