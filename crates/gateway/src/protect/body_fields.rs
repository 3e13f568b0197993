//! The string fields a gate decides on, read out of a request the way the upstream will read
//! them: top-level JSON body fields ([`json_fields`]) and query parameters ([`query_param`]),
//! each found exactly once or refused.
//!
//! Guarantees: a field is read only when it is unambiguous. A name that appears twice, or a
//! second key that a case-insensitive reader would take for it (Go's `encoding/json` and
//! Jackson's case-insensitive mode match `QUERY`, `Query`, even `ſ` for `s` and the Kelvin sign
//! for `k`), is [`Field::Ambiguous`]: the gate and the upstream could otherwise decide on two
//! different values. A body that is not one JSON object, a value that is not a string, and a
//! parameter whose percent-encoding is malformed or not UTF-8 are refused too. Nothing here
//! copies a value other than the fields asked for.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// One field as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Not there.
    Missing,
    /// There once, a string.
    Text(String),
    /// There, but not a string (a number, an object, `null`, …), or not valid text.
    NotText,
    /// There more than once, or beside a key a case-insensitive reader would confuse with it.
    Ambiguous,
}

/// Why a body has no fields to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Not one JSON object (not JSON, another JSON value, or trailing bytes).
    NotJsonObject,
}

/// A name as a case-insensitive reader compares it: Unicode lower case, with the two
/// characters Go's `encoding/json` also folds (`ſ` → `s`, Kelvin sign → `k`).
fn fold(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ſ' => 's',
            '\u{212A}' => 'k',
            c => c,
        })
        .collect()
}

/// The top-level string fields `names` of a JSON object body, in the order asked.
pub fn json_fields(body: &[u8], names: &[&str]) -> Result<Vec<Field>, BodyError> {
    let seek = Seek {
        names: names.iter().map(|n| (*n, fold(n))).collect(),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = seek
        .deserialize(&mut de)
        .map_err(|_| BodyError::NotJsonObject)?;
    de.end().map_err(|_| BodyError::NotJsonObject)?;
    Ok(found)
}

struct Seek<'a> {
    names: Vec<(&'a str, String)>,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Vec<Field>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = Vec<Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = vec![Field::Missing; self.names.len()];
        while let Some(key) = map.next_key::<String>()? {
            let folded = fold(&key);
            let Some(i) = self.names.iter().position(|(_, f)| *f == folded) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value::<serde_json::Value>()?;
            // A second key, or one only a case-insensitive reader takes for the name: the
            // upstream may read it, the gate would not.
            found[i] = match (&found[i], key == self.names[i].0, value) {
                (Field::Missing, true, serde_json::Value::String(s)) => Field::Text(s),
                (Field::Missing, true, _) => Field::NotText,
                _ => Field::Ambiguous,
            };
        }
        Ok(found)
    }
}

/// The query parameter `name` of `query` (the URI's query string, `a=1&b=2`; `+` is a space).
pub fn query_param(query: Option<&str>, name: &str) -> Field {
    let Some(query) = query else {
        return Field::Missing;
    };
    let want = fold(name);
    let mut found = Field::Missing;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k);
        let exact = key.as_deref() == Some(name);
        if !exact && key.as_deref().map(fold) != Some(want.clone()) {
            if key.is_none() && fold(&String::from_utf8_lossy(k.as_bytes())).contains(&want) {
                // A malformed key that might decode to the name elsewhere.
                return Field::Ambiguous;
            }
            continue;
        }
        found = match (found, exact, decode(v)) {
            (Field::Missing, true, Some(text)) => Field::Text(text),
            (Field::Missing, true, None) => Field::NotText,
            _ => return Field::Ambiguous,
        };
    }
    found
}

/// Form decoding (`+` is a space, `%XX` a byte), strictly: a malformed escape or bytes that are
/// not UTF-8 give `None`.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_are_read_once_and_exactly() {
        let got = json_fields(br#"{"query":"SELECT 1","n":[1,{"query":2}]}"#, &["query"]);
        assert_eq!(got, Ok(vec![Field::Text("SELECT 1".into())]));
        let got = json_fields(br#"{"qu\u0065ry":"SELECT 1"}"#, &["query", "x"]);
        assert_eq!(
            got,
            Ok(vec![Field::Text("SELECT 1".into()), Field::Missing])
        );
        for body in [
            r#"{"query":"SELECT 1","query":"DELETE FROM t"}"#,
            r#"{"query":"SELECT 1","QUERY":"DELETE FROM t"}"#,
            r#"{"QUERY":"DELETE FROM t","query":"SELECT 1"}"#,
            r#"{"Query":"DELETE FROM t"}"#,
        ] {
            assert_eq!(
                json_fields(body.as_bytes(), &["query"]),
                Ok(vec![Field::Ambiguous]),
                "{body}"
            );
        }
        // The Kelvin sign and the long s fold as Go folds them.
        let got = json_fields(
            "{\"tool\":\"a\",\"too\u{212A}\":\"b\"}".as_bytes(),
            &["took"],
        );
        assert_eq!(got, Ok(vec![Field::Ambiguous]));
        let got = json_fields("{\"ſql\":\"b\"}".as_bytes(), &["sql"]);
        assert_eq!(got, Ok(vec![Field::Ambiguous]));
        assert_eq!(
            json_fields(br#"{"query":5}"#, &["query"]),
            Ok(vec![Field::NotText])
        );
        for bad in [
            &b"[1]"[..],
            b"{\"query\":\"x\"} {}",
            b"nope",
            b"",
            b"\xef\xbb\xbf{}",
        ] {
            assert_eq!(json_fields(bad, &["query"]), Err(BodyError::NotJsonObject));
        }
    }

    #[test]
    fn query_params_are_read_once_and_strictly() {
        assert_eq!(
            query_param(Some("a=1&q=SELECT+1%3B"), "q"),
            Field::Text("SELECT 1;".into())
        );
        assert_eq!(query_param(Some("a=1"), "q"), Field::Missing);
        assert_eq!(query_param(None, "q"), Field::Missing);
        assert_eq!(query_param(Some("q=1&q=2"), "q"), Field::Ambiguous);
        assert_eq!(query_param(Some("q=1&%71=2"), "q"), Field::Ambiguous);
        assert_eq!(query_param(Some("Q=2"), "q"), Field::Ambiguous);
        assert_eq!(query_param(Some("q=%zz"), "q"), Field::NotText);
        assert_eq!(query_param(Some("q=%ff"), "q"), Field::NotText);
        assert_eq!(query_param(Some("q%zz=1&q=2"), "q"), Field::Ambiguous);
    }
}
