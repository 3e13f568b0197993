//! Structural checks of text and columnar files: CSV (a header when the route asks for one, the
//! row count cap, every row as wide as the first), JSON (parses, nesting bound) and Parquet
//! (`PAR1` at both ends, a footer length that fits the file).
//!
//! Guarantees: one pass over the bytes, no allocation per row; a refusal names the row number
//! (1-based, the header is row 1) or the bound, never a value.

use super::Refusal;
use crate::config::upload::{CsvLimits, JsonLimits};
use serde::Deserialize as _;

/// Checks a CSV file (RFC 4180: `"` quotes, `""` inside quotes, CRLF or LF rows).
pub fn csv(bytes: &[u8], limits: &CsvLimits) -> Result<(), Refusal> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut width: Option<usize> = None;
    let mut row: u64 = 0;
    let mut fields = 1usize;
    let mut field_empty = true;
    let mut all_named = true;
    let mut in_quotes = false;
    let mut after_quote = false;
    let mut row_start = true;
    let mut i = 0;
    let mut end_row = |fields: usize, all_named: bool, row: &mut u64| -> Result<(), Refusal> {
        *row += 1;
        match width {
            None => {
                if limits.header && !all_named {
                    return Err(Refusal::invalid(
                        "csv-header-missing",
                        "The CSV file's first row must be a header naming every column.",
                    ));
                }
                width = Some(fields);
            }
            Some(w) if w != fields => {
                return Err(Refusal::invalid(
                    "csv-ragged-row",
                    format!(
                        "Row {row} of the CSV file has {fields} fields; the first row has {w}.",
                        row = *row
                    ),
                )
                .with("row", *row)
                .with("fields", fields as u64)
                .with("expected", w as u64));
            }
            Some(_) => {}
        }
        let data_rows = row.saturating_sub(u64::from(limits.header));
        if data_rows > limits.max_rows {
            return Err(Refusal::invalid(
                "csv-too-many-rows",
                format!("The CSV file has more than {} rows.", limits.max_rows),
            )
            .with("limit", limits.max_rows));
        }
        Ok(())
    };
    while i < body.len() {
        let c = body[i];
        if in_quotes {
            if c == b'"' {
                if body.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                in_quotes = false;
                after_quote = true;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' if field_empty && !after_quote => {
                in_quotes = true;
                field_empty = false;
            }
            b'"' => {
                return Err(Refusal::invalid(
                    "csv-malformed",
                    format!("Row {} of the CSV file has a stray quote.", row + 1),
                )
                .with("row", row + 1));
            }
            b',' => {
                all_named &= !field_empty;
                fields += 1;
                field_empty = true;
                after_quote = false;
            }
            b'\r' | b'\n' => {
                if c == b'\r' && body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                all_named &= !field_empty;
                if !(row_start && fields == 1 && field_empty) {
                    end_row(fields, all_named, &mut row)?;
                }
                fields = 1;
                field_empty = true;
                after_quote = false;
                all_named = true;
                row_start = true;
                i += 1;
                continue;
            }
            _ if after_quote => {
                return Err(Refusal::invalid(
                    "csv-malformed",
                    format!(
                        "Row {} of the CSV file has text after a closing quote.",
                        row + 1
                    ),
                )
                .with("row", row + 1));
            }
            _ => field_empty = false,
        }
        row_start = false;
        i += 1;
    }
    if in_quotes {
        return Err(Refusal::invalid(
            "csv-malformed",
            format!(
                "Row {} of the CSV file opens a quote it never closes.",
                row + 1
            ),
        )
        .with("row", row + 1));
    }
    if !row_start {
        all_named &= !field_empty;
        end_row(fields, all_named, &mut row)?;
    }
    if row == 0 && limits.header {
        return Err(Refusal::invalid(
            "csv-header-missing",
            "The CSV file's first row must be a header naming every column.",
        ));
    }
    Ok(())
}

/// Checks a JSON file: nesting at most `max_depth`, then a full parse.
pub fn json(bytes: &[u8], limits: &JsonLimits) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &c in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Refusal::invalid(
                        "json-too-deep",
                        format!(
                            "The JSON file is nested deeper than {} levels.",
                            limits.max_depth
                        ),
                    )
                    .with("limit", limits.max_depth as u64));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde_json's own recursion limit (128) is above `max_depth`'s bound in `config check`.
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = serde::de::IgnoredAny::deserialize(&mut de).and_then(|_| de.end());
    parsed.map_err(|e| {
        Refusal::invalid(
            "json-malformed",
            format!("The JSON file does not parse (line {}).", e.line()),
        )
        .with("line", e.line() as u64)
    })
}

/// Checks a Parquet file's frame: `PAR1` first and last, and a footer length (the 4 bytes
/// before the closing magic) that is not zero and fits between the magics.
pub fn parquet(bytes: &[u8]) -> Result<(), Refusal> {
    let n = bytes.len();
    let bad = |why: &str| {
        Refusal::invalid(
            "parquet-malformed",
            format!("The Parquet file is malformed: {why}."),
        )
    };
    if n < 12 || !bytes.starts_with(b"PAR1") {
        return Err(bad("too short or no leading PAR1"));
    }
    if !bytes.ends_with(b"PAR1") {
        return Err(bad("no trailing PAR1"));
    }
    let footer = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]);
    if footer == 0 || u64::from(footer) > (n as u64 - 12) {
        return Err(bad("the footer length does not fit the file").with("footer", footer));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CsvLimits {
        CsvLimits::default()
    }

    #[test]
    fn csv_rows() {
        assert!(csv(b"a,b\n1,2\r\n\"x,\"\"y\",3\n", &limits()).is_ok());
        assert!(csv(b"a,b\n1,2", &limits()).is_ok());
        let r = csv(b"a,b\n1,2\n3\n", &limits()).unwrap_err();
        assert_eq!(r.reason, "csv-ragged-row");
        assert_eq!(r.extra["row"], 3);
        assert_eq!(
            csv(b",b\n1,2\n", &limits()).unwrap_err().reason,
            "csv-header-missing"
        );
        assert_eq!(
            csv(b"", &limits()).unwrap_err().reason,
            "csv-header-missing"
        );
        assert_eq!(
            csv(b"a\n\"x\n", &limits()).unwrap_err().reason,
            "csv-malformed"
        );
        assert_eq!(
            csv(b"a\nx\"y\n", &limits()).unwrap_err().reason,
            "csv-malformed"
        );
        let few = CsvLimits {
            max_rows: 1,
            header: true,
        };
        assert_eq!(
            csv(b"a\n1\n2\n", &few).unwrap_err().reason,
            "csv-too-many-rows"
        );
        assert!(csv(b"a\n1\n", &few).is_ok());
    }

    #[test]
    fn json_and_parquet() {
        let l = JsonLimits { max_depth: 3 };
        assert!(json(br#"{"a":[{"b":"[[[["}]}"#, &l).is_ok());
        assert_eq!(json(b"[[[[1]]]]", &l).unwrap_err().reason, "json-too-deep");
        assert_eq!(json(b"{\"a\":}", &l).unwrap_err().reason, "json-malformed");
        assert_eq!(json(b"{} x", &l).unwrap_err().reason, "json-malformed");
        let mut p = b"PAR1".to_vec();
        p.extend_from_slice(&[1, 2, 3, 4]);
        p.extend_from_slice(&4u32.to_le_bytes());
        p.extend_from_slice(b"PAR1");
        assert!(parquet(&p).is_ok());
        let n = p.len();
        p[n - 8..n - 4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(parquet(&p).unwrap_err().reason, "parquet-malformed");
        assert_eq!(
            parquet(b"PAR1\0\0\0\0\0\0\0\0").unwrap_err().reason,
            "parquet-malformed"
        );
    }
}
