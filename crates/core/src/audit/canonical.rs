//! Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace, strings
//! escaped as serde_json does. The same value always gives the same bytes, whatever order its
//! object was built in.

use serde_json::Value;

/// The canonical JSON of `value`: object keys sorted by their UTF-8 bytes, no whitespace, so the
/// same record hashes to the same bytes whatever order its object was built in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
