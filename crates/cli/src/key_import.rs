//! The lines of `palisade key import`: JSON Lines, one key per line, as another system exported
//! them —
//! `{"owner":"1001","name":"ci","prefix":"acme_3f9a1c2e","hash":"$2b$12$...","scopes":["orders.read"],"expires_at":"2027-06-01T00:00:00Z","last_used_at":"2026-11-30T12:00:00Z"}`.
//! `scopes`, `expires_at` and `last_used_at` are optional. Parsed strictly (unknown fields and
//! wrong types refused) and never echoed: a problem names the field, not the value.

use palisade_gateway::identity::manage::KeyImport;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    owner: String,
    name: String,
    prefix: String,
    hash: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    last_used_at: Option<String>,
}

/// What one line of a key import is.
#[derive(Debug)]
pub enum KeyLine {
    /// A blank line.
    Skip,
    /// Why the line cannot be read (never echoing its content).
    Problem(String),
    /// A key to import.
    Key(KeyImport),
}

fn millis(field: &str, value: Option<String>) -> Result<Option<i64>, String> {
    value
        .map(|v| {
            humantime::parse_rfc3339(&v)
                .map_err(|_| format!("{field} is not an RFC 3339 time like 2027-06-01T00:00:00Z"))
                .and_then(|t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .map_err(|_| format!("{field} is before 1970"))
                })
        })
        .transpose()
}

/// Reads one line of a key import.
pub fn key_line(line: &str) -> KeyLine {
    let line = line.trim();
    if line.is_empty() {
        return KeyLine::Skip;
    }
    let parsed: Line = match serde_json::from_str(line) {
        Ok(l) => l,
        Err(e) => {
            // serde_json names the field and position; its message never holds a value.
            let why = e.to_string();
            let why = why.split(" at line").next().unwrap_or("not a JSON object");
            return KeyLine::Problem(format!("not a key line: {why}"));
        }
    };
    let times = millis("expires_at", parsed.expires_at)
        .and_then(|e| millis("last_used_at", parsed.last_used_at).map(|l| (e, l)));
    match times {
        Ok((expires_at, last_used_at)) => KeyLine::Key(KeyImport {
            owner: parsed.owner,
            name: parsed.name,
            prefix: parsed.prefix,
            hash: parsed.hash,
            scopes: parsed.scopes,
            expires_at,
            last_used_at,
        }),
        Err(why) => KeyLine::Problem(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_line_reads() {
        let line = r#"{"owner":"1001","name":"ci","prefix":"acme_3f9a1c2e","hash":"$2b$12$abc","scopes":["orders.read"],"expires_at":"2027-06-01T00:00:00Z","last_used_at":"2026-11-30T12:00:00Z"}"#;
        let KeyLine::Key(k) = key_line(line) else {
            panic!("not read")
        };
        assert_eq!(k.owner, "1001");
        assert_eq!(k.prefix, "acme_3f9a1c2e");
        assert_eq!(k.scopes, vec!["orders.read".to_string()]);
        assert_eq!(k.expires_at, Some(1_811_808_000_000));
        assert_eq!(k.last_used_at, Some(1_796_040_000_000));
        let minimal = r#"{"owner":"a@b.c","name":"x","prefix":"acme_12345678","hash":"sha256:00"}"#;
        let KeyLine::Key(k) = key_line(minimal) else {
            panic!("not read")
        };
        assert!(k.scopes.is_empty() && k.expires_at.is_none());
    }

    #[test]
    fn bad_lines_are_named_not_echoed() {
        assert!(matches!(key_line("  "), KeyLine::Skip));
        for bad in [
            r#"{"owner":"1","name":"x","prefix":"p","hash":"SECRETVALUE","extra":1}"#,
            r#"{"owner":"1","name":"x","prefix":"p"}"#,
            r#"{"owner":1,"name":"x","prefix":"p","hash":"SECRETVALUE"}"#,
            r#"{"owner":"1","name":"x","prefix":"p","hash":"SECRETVALUE","expires_at":"tomorrow"}"#,
            "SECRETVALUE",
        ] {
            match key_line(bad) {
                KeyLine::Problem(why) => assert!(!why.contains("SECRETVALUE"), "{why}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
