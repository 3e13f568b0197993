//! The SQL-injection detector: the input is tokenized (`sql_lex`) three times — as it stands, and
//! as if it continued a single- or a double-quoted string — and each token stream is judged by
//! structural rules over token kinds (UNION … SELECT, a stacked statement, a boolean or
//! comparison after a string break, a timing or file function, a subquery, a clause taking a
//! column number, a comment ending a break). Rules, not a list of attack strings: what is judged
//! is the shape SQL gives an injected fragment. Each rule carries the paranoia level from which it
//! counts (1: unmistakable; 2: SQL structure ordinary text does not have; 3–4: shapes code or
//! terse text can also take).

use super::sql_lex::{Kind, Token, tokenize};
use super::sql_suspect::could_be_sqli;

/// Tokens looked at per context: an injection shows itself early; this bounds the work.
const MAX_TOKENS: usize = 64;

/// A SQL-injection finding: the rule that matched and the level it counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlFinding {
    /// A short name of the matched rule (for the audit record; never the input).
    pub rule: &'static str,
    /// The paranoia level from which the finding counts (1–4).
    pub level: u8,
}

/// The strongest SQL-injection finding in `input` (lowest level), if any.
pub fn detect(input: &str) -> Option<SqlFinding> {
    if input.len() < 2
        || (is_one_word(input) && !super::sql_lex::writes_files(input))
        || !could_be_sqli(input)
    {
        return None;
    }
    detect_full(input)
}

/// A letter or `_`, then letters, digits and `_` only: the tokenizer reads it as a single word
/// (no quote, operator, dot or space to split it), and no rule finds anything in one word but
/// `OUTFILE` / `DUMPFILE` (`a_single_word_is_never_a_finding` checks every keyword). JSON keys
/// and most identifiers are such words: they skip tokenizing, the gate's largest cost.
fn is_one_word(input: &str) -> bool {
    let b = input.as_bytes();
    (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The detector without its fast paths: every context tokenized and judged.
pub(super) fn detect_full(input: &str) -> Option<SqlFinding> {
    let mut best: Option<SqlFinding> = None;
    let mut consider = |f: Option<SqlFinding>| {
        if let Some(f) = f
            && best.is_none_or(|b| f.level < b.level)
        {
            best = Some(f);
        }
    };
    consider(judge(&tokenize(input, None, MAX_TOKENS), false));
    for q in [b'\'', b'"'] {
        if input.as_bytes().contains(&q) {
            let toks = tokenize(input, Some(q), MAX_TOKENS);
            // The context only applies when the quote is actually closed by the input.
            if toks.first().is_some_and(|t| t.closed) {
                consider(judge(&toks, true));
            }
        }
    }
    best
}

fn is_value(k: Kind) -> bool {
    matches!(
        k,
        Kind::Str | Kind::Num | Kind::Bare | Kind::Var | Kind::Close | Kind::Func
    )
}

fn is_operand(k: Kind) -> bool {
    matches!(
        k,
        Kind::Str | Kind::Num | Kind::Var | Kind::Func | Kind::Open | Kind::Stmt
    )
}

fn f(rule: &'static str, level: u8) -> Option<SqlFinding> {
    Some(SqlFinding { rule, level })
}

/// Judges one token stream; `broke` says the stream began by closing a quoted string.
fn judge(t: &[Token], broke: bool) -> Option<SqlFinding> {
    let mut best: Option<SqlFinding> = None;
    let mut note = |x: Option<SqlFinding>| {
        if let Some(x) = x
            && best.is_none_or(|b| x.level < b.level)
        {
            best = Some(x);
        }
    };
    // Comments are structure-neutral except where a rule asks for them.
    let code: Vec<Token> = t
        .iter()
        .copied()
        .filter(|x| x.kind != Kind::Comment)
        .collect();
    let has_comment = t.iter().any(|x| x.kind == Kind::Comment && x.strong);
    let k = |i: usize| code.get(i).map(|x| x.kind);
    let sql_words = code
        .iter()
        .filter(|x| {
            matches!(
                x.kind,
                Kind::Stmt | Kind::Union | Kind::Func | Kind::Clause | Kind::Var
            )
        })
        .count();

    for i in 0..code.len() {
        let tok = code[i];
        match tok.kind {
            Kind::Union => {
                // UNION [ALL|DISTINCT] [(] SELECT
                let mut j = i + 1;
                while matches!(k(j), Some(Kind::Kw | Kind::Open)) {
                    j += 1;
                }
                if code.get(j).is_some_and(|x| x.select) {
                    note(f("union-select", 1));
                } else if k(j).is_none() && i > 0 && is_value(code[i - 1].kind) {
                    note(f("union-tail", 3));
                }
            }
            Kind::Semi => {
                if matches!(k(i + 1), Some(Kind::Stmt)) {
                    note(f("stacked-statement", 1));
                } else if matches!(k(i + 1), Some(Kind::Kw)) && sql_words >= 2 {
                    note(f("stacked-statement", 2));
                }
            }
            Kind::Func if tok.dangerous => note(f("dangerous-function", 1)),
            Kind::Stmt => {
                let next = k(i + 1);
                let prev = if i > 0 { Some(code[i - 1].kind) } else { None };
                if tok.select {
                    let then = k(i + 2);
                    let list_goes_on = matches!(
                        then,
                        None | Some(
                            Kind::Comma | Kind::Kw | Kind::Close | Kind::Union | Kind::Semi
                        )
                    ) || code
                        .get(i + 2)
                        .is_some_and(|x| x.kind == Kind::Op && x.strong);
                    match next {
                        Some(Kind::Func | Kind::Var | Kind::Open) => {
                            note(f("select-expression", 1))
                        }
                        Some(Kind::Num | Kind::Str) if list_goes_on && then.is_some() => {
                            note(f("select-expression", 1))
                        }
                        Some(Kind::Num | Kind::Str) => note(f("select-expression", 3)),
                        Some(Kind::Op) if list_goes_on => note(f("select-star", 1)),
                        Some(Kind::Bare | Kind::Kw) if prev == Some(Kind::Open) => {
                            note(f("subquery", 1))
                        }
                        Some(Kind::Kw) => note(f("select-modifier", 2)),
                        Some(Kind::Bare)
                            if code[i + 1..]
                                .iter()
                                .take_while(|x| x.kind != Kind::Kw)
                                .any(|x| matches!(x.kind, Kind::Func | Kind::Var | Kind::Num))
                                && code[i + 1..].iter().any(|x| x.kind == Kind::Comma) =>
                        {
                            note(f("select-list", 2))
                        }
                        Some(Kind::Bare) if code[i + 1..].iter().any(|x| x.kind == Kind::Kw) => {
                            note(f("select-from", if broke || has_comment { 1 } else { 3 }))
                        }
                        _ => {}
                    }
                } else if matches!(next, Some(Kind::Kw | Kind::Var | Kind::Func))
                    || (next == Some(Kind::Bare) && matches!(k(i + 2), Some(Kind::Kw)))
                {
                    let lvl = if (broke && i <= 2)
                        || prev.is_some_and(|p| {
                            matches!(p, Kind::Num | Kind::Str | Kind::Close | Kind::Semi)
                        })
                        || has_comment
                    {
                        1
                    } else {
                        3
                    };
                    note(f("statement", lvl));
                }
            }
            Kind::Logic => {
                if i == 0 && !broke {
                    continue;
                }
                let mut j = i + 1;
                while matches!(k(j), Some(Kind::Logic | Kind::Op)) {
                    j += 1;
                }
                let Some(right) = k(j) else {
                    if broke && has_comment {
                        note(f("break-logic-comment", 2));
                    }
                    continue;
                };
                let left = if i > 0 { Some(code[i - 1].kind) } else { None };
                // Before the operator, back to the previous one: a comparison of literals
                // (`1 = '1' OR 1`).
                let before: Vec<Token> = code[..i]
                    .iter()
                    .rev()
                    .copied()
                    .take_while(|x| x.kind != Kind::Logic)
                    .collect();
                let literal_before = before.iter().any(|x| x.kind == Kind::Op && x.strong)
                    && before.iter().all(|x| {
                        matches!(
                            x.kind,
                            Kind::Num | Kind::Str | Kind::Op | Kind::Open | Kind::Close
                        )
                    });
                let compare_follows = code
                    .get(j + 1)
                    .is_some_and(|x| x.kind == Kind::Op && x.strong)
                    && k(j + 2).is_some_and(|x| is_value(x) || x == Kind::Open);
                // After the operator, up to the next logic operator: only literals, operators and
                // parentheses, with a comparison among them (`AND (8)=3`, `OR 1+2=3+4`).
                let clause: Vec<Token> = code[j..]
                    .iter()
                    .copied()
                    .take_while(|x| x.kind != Kind::Logic)
                    .collect();
                let literal_comparison = clause.iter().any(|x| x.kind == Kind::Op && x.strong)
                    && clause
                        .iter()
                        .any(|x| matches!(x.kind, Kind::Num | Kind::Str))
                    && clause.iter().all(|x| {
                        matches!(
                            x.kind,
                            Kind::Num
                                | Kind::Str
                                | Kind::Op
                                | Kind::Open
                                | Kind::Close
                                | Kind::Var
                                | Kind::Func
                        )
                    });
                let after_break = broke && i == 1;
                if after_break
                    && (compare_follows
                        || matches!(right, Kind::Func | Kind::Open | Kind::Stmt | Kind::Var))
                {
                    note(f("break-boolean", 1));
                } else if after_break && is_operand(right) {
                    note(f("break-boolean", if has_comment { 1 } else { 3 }));
                } else if after_break && right == Kind::Bare {
                    note(f("break-boolean", 3));
                } else if compare_follows
                    && matches!(right, Kind::Num | Kind::Str | Kind::Var | Kind::Func)
                    && left.is_some_and(is_value)
                {
                    note(f("boolean-comparison", 1));
                } else if literal_before && matches!(right, Kind::Num | Kind::Str) {
                    note(f("boolean-tautology", 2));
                } else if literal_comparison && left.is_some_and(is_value) {
                    note(f("boolean-comparison", 1));
                } else if compare_follows && left.is_some_and(is_value) {
                    let lvl = if broke || has_comment { 1 } else { 3 };
                    note(f("boolean-comparison", lvl));
                } else if matches!(right, Kind::Func | Kind::Open | Kind::Stmt | Kind::Var)
                    && left.is_some_and(is_value)
                {
                    let lvl = if (broke && i <= 2) || has_comment || left != Some(Kind::Bare) {
                        2
                    } else {
                        3
                    };
                    note(f("boolean-expression", lvl));
                } else if matches!(right, Kind::Num)
                    && left.is_some_and(|l| matches!(l, Kind::Num | Kind::Close))
                    && (k(j + 1).is_none() || has_comment)
                {
                    note(f("numeric-tautology", if has_comment { 2 } else { 3 }));
                } else if broke && left == Some(Kind::Str) && matches!(right, Kind::Str) {
                    note(f("break-boolean", 3));
                }
            }
            Kind::Clause => {
                // ORDER BY 3 / GROUP BY 1 / LIMIT 1,1 after a value: probing column counts.
                if matches!(k(i + 1), Some(Kind::Num)) && i > 0 && is_value(code[i - 1].kind) {
                    note(f("clause-probe", if broke || has_comment { 1 } else { 2 }));
                } else if i > 0
                    && matches!(k(i + 1), Some(Kind::Open))
                    && is_value(code[i - 1].kind)
                {
                    let logic = code[i + 1..]
                        .iter()
                        .any(|x| x.kind == Kind::Logic || (x.kind == Kind::Op && x.strong));
                    note(f("clause-expression", if logic { 2 } else { 3 }));
                } else if i == 0 && matches!(k(1), Some(Kind::Num)) && has_comment {
                    note(f("clause-probe", 2));
                }
            }
            Kind::Kw if tok.dangerous => note(f("file-write", 1)),
            Kind::Kw => {}
            Kind::Func => {
                if matches!(k(i + 1), Some(Kind::Open))
                    && code[i + 2..]
                        .iter()
                        .take(6)
                        .any(|x| matches!(x.kind, Kind::Func | Kind::Var | Kind::Stmt))
                {
                    note(f("nested-function", 2));
                }
                if i > 0
                    && matches!(code[i - 1].kind, Kind::Op | Kind::Logic)
                    && (broke || has_comment)
                {
                    note(f("function-expression", 1));
                }
                if i > 1
                    && code[i - 1].kind == Kind::Op
                    && matches!(code[i - 2].kind, Kind::Num | Kind::Str | Kind::Var)
                {
                    note(f("function-expression", 2));
                }
                // A condition as a function argument: IF(1=1,…), IIF(2510=9436,…).
                if matches!(k(i + 1), Some(Kind::Open))
                    && matches!(k(i + 2), Some(Kind::Num | Kind::Str))
                    && code
                        .get(i + 3)
                        .is_some_and(|x| x.kind == Kind::Op && x.strong)
                    && matches!(k(i + 4), Some(Kind::Num | Kind::Str))
                {
                    note(f("function-condition", 2));
                }
            }
            _ => {}
        }
    }
    if broke {
        // After the quote: an operator, a comment, a closing parenthesis or statement end.
        match k(1) {
            None if has_comment => note(f("break-comment", 2)),
            Some(Kind::Op) => {
                // 'x' <> 'y'-style implicit comparison; or arithmetic with SQL in it.
                if code.len() == 3 && k(2) == Some(Kind::Str) {
                    note(f(
                        "break-comparison",
                        if code[1].strong && !code[1].word {
                            2
                        } else {
                            3
                        },
                    ));
                } else if sql_words > 0 {
                    note(f("break-expression", 1));
                } else if has_comment && code.len() <= 6 {
                    note(f("break-expression", 2));
                } else if matches!(k(2), Some(Kind::Num | Kind::Str | Kind::Op))
                    && matches!(k(3), Some(Kind::Op | Kind::Logic))
                {
                    note(f("break-expression", 3));
                }
            }
            Some(Kind::Close) if sql_words > 0 || (has_comment && code.len() <= 4) => {
                note(f("break-paren", 1))
            }
            Some(Kind::Semi) => {
                let next = k(2);
                if matches!(next, Some(Kind::Stmt | Kind::Kw | Kind::Func | Kind::Var))
                    || (next.is_none() && has_comment)
                {
                    note(f("break-stacked", 1));
                } else {
                    note(f("break-stacked", 3));
                }
            }
            Some(Kind::Comma) if sql_words > 0 => note(f("break-list", 2)),
            _ => {}
        }
    } else if has_comment && sql_words > 0 && code.len() >= 2 {
        let ends_comment = t.last().is_some_and(|x| x.kind == Kind::Comment);
        if ends_comment
            && code
                .iter()
                .any(|x| matches!(x.kind, Kind::Logic | Kind::Op | Kind::Close))
        {
            note(f("comment-terminated", 2));
        }
    }
    // A literal expression closed by a comment: `1--`, `1 * 1/*`, `@@version--`, `( 'a' ) --`.
    if has_comment
        && t.last()
            .is_some_and(|x| x.kind == Kind::Comment && x.strong)
        && code
            .iter()
            .any(|x| matches!(x.kind, Kind::Num | Kind::Str | Kind::Var))
        && code.iter().all(|x| {
            matches!(
                x.kind,
                Kind::Num
                    | Kind::Str
                    | Kind::Var
                    | Kind::Op
                    | Kind::Open
                    | Kind::Close
                    | Kind::Logic
            )
        })
        && !broke
    {
        note(f("literal-comment", 2));
    }
    // CASE WHEN … THEN: a condition only SQL writes that way.
    if code.windows(2).any(|w| {
        w[0].kind == Kind::Kw
            && matches!(
                w[1].kind,
                Kind::Kw | Kind::Num | Kind::Func | Kind::Open | Kind::Var
            )
    }) && code.iter().filter(|x| x.kind == Kind::Kw).count() >= 3
        && code
            .iter()
            .any(|x| matches!(x.kind, Kind::Num | Kind::Func))
    {
        note(f("case-expression", 3));
    }
    // Variables with logic or operators: @a OR …, @@version comparisons.
    if code.windows(2).any(|w| {
        (w[0].kind == Kind::Var
            && (w[1].kind == Kind::Logic || (w[1].kind == Kind::Op && w[1].strong)))
            || (w[1].kind == Kind::Var
                && matches!(
                    w[0].kind,
                    Kind::Logic | Kind::Stmt | Kind::Func | Kind::Open
                ))
    }) {
        note(f("variable-expression", 2));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_word_is_never_a_finding() {
        let mut words: Vec<String> = super::super::sql_lex::all_keywords()
            .flat_map(|k| [k.to_string(), k.to_ascii_lowercase()])
            .collect();
        words.extend(
            [
                "shoe", "O_Brien", "_id", "x1", "select1", "sleep5", "customer",
            ]
            .map(String::from),
        );
        for w in &words {
            assert!(is_one_word(w), "{w}");
            if super::super::sql_lex::writes_files(w) {
                assert!(detect(w).is_some(), "{w}");
            } else {
                assert_eq!(detect_full(w), None, "{w}");
            }
        }
        // What is not one word goes through the tokenizer.
        for s in ["1union", "a.b", "a b", "a'", "a-b", "é"] {
            assert!(!is_one_word(s), "{s}");
        }
    }

    #[test]
    fn classic_injections_are_found() {
        for s in [
            "' OR '1'='1' --",
            "1 union select 1,2,3",
            "1; DROP TABLE users--",
            "admin'--",
            "1 AND SLEEP(5)",
            "-1 UNION/**/ALL/**/SELECT user(),2",
            "1' and 1=0 UNION ALL SELECT 0,CONCAT(0x3a,COUNT(*))#",
            "999999)) or 1=1 or ((1=1",
            "8 order by 1--",
        ] {
            assert!(detect(s).is_some_and(|f| f.level <= 2), "{s}");
        }
    }

    #[test]
    fn ordinary_text_is_not() {
        for s in [
            "O'Brien",
            "Tom and Jerry",
            "rock 'n' roll",
            "It's a dog and it's cute",
            "Please select one from the list",
            "1 or 2 items",
            "\"foo\" AND \"bar\"",
            "don't update me",
        ] {
            assert!(
                detect(s).is_none_or(|f| f.level > 2),
                "{s}: {:?}",
                detect(s)
            );
        }
    }
}
