//! Classification never panics on arbitrary input, and its work is bounded by the input size.

use proptest::prelude::*;

use super::{Dialect, QueryOptions, classify_bytes, classify_with};

const DIALECTS: [Dialect; 5] = [
    Dialect::Postgres,
    Dialect::MySql,
    Dialect::Sqlite,
    Dialect::Generic,
    Dialect::Cypher,
];

/// Fragments that make random inputs look like queries, so the parser goes deep.
const FRAGMENTS: &[&str] = &[
    "SELECT",
    " ",
    "(",
    ")",
    "'",
    "\"",
    "`",
    "$$",
    "/*",
    "*/",
    "--",
    "#",
    "//",
    ";",
    "WITH x AS",
    "DELETE FROM t",
    "INTO",
    "FOR UPDATE",
    "MATCH (n)",
    "CALL",
    "{",
    "}",
    "[",
    "]",
    "/*!",
    ",",
    "1",
    "pg_sleep(",
    "EXPLAIN ANALYZE",
    "\\",
    "\n",
    "ＤＥＬＥＴＥ",
    "\u{0}",
];

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for dialect in DIALECTS {
            let _ = classify_bytes(dialect, &bytes, &QueryOptions::default());
        }
    }

    #[test]
    fn query_like_text_never_panics(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..64)) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        for dialect in DIALECTS {
            let _ = classify_with(dialect, &text, &QueryOptions::default());
        }
    }
}

/// Work is bounded by size: the limits refuse pathological inputs at the maximum size instead of
/// letting the parser recurse (measured by completing without a stack overflow on a test
/// thread's stack, not by a clock).
#[test]
fn pathological_inputs_at_the_size_cap_are_refused_not_overflowed() {
    let options = QueryOptions::default();
    let cap = options.max_bytes;
    let shapes = [
        "(",
        "[",
        "{",
        "NOT ",
        "- ",
        "SELECT (",
        "/*",
        "'",
        "a.",
        "1+",
        "1 AND ",
        "x IS NULL ",
        "1::int",
        "UNION SELECT 1 ",
        "a[1]",
        "a || ",
        "(SELECT 1) + ",
        "CASE WHEN 1 THEN ",
        "x COLLATE c ",
        "a -> 'k' ",
        "f(",
        "SELECT 1 FROM t JOIN u ON ",
    ];
    for shape in shapes {
        let text = format!("SELECT {}", shape.repeat((cap - 7) / shape.len()));
        for dialect in DIALECTS {
            assert!(
                classify_with(dialect, &text, &options).is_err(),
                "{dialect:?} {shape}"
            );
        }
    }
}

/// Every accepted nesting of subqueries with operator chains inside fits the stack: the limits
/// refuse before the walk could overflow.
#[test]
fn accepted_nesting_fits_the_stack() {
    let options = QueryOptions::default();
    for levels in 0..24 {
        for ops in [0, 4, 16, 40, 90] {
            let chain = " + 1".repeat(ops);
            let text = format!(
                "SELECT 1{chain} FROM {}t{}",
                format!("(SELECT 1{chain} FROM ").repeat(levels),
                " AS x)".repeat(levels)
            );
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                let _ = classify_with(dialect, &text, &options);
            }
        }
    }
}
