//! The rows of `palisade user import FILE`: JSON lines or CSV made by another system, read into
//! [`ImportedAccount`]s (the use case checks what they say; this reads how they say it).
//!
//! JSON lines (the contract other tools write): one object per line,
//! `{"external_id", "email", "name", "disabled", "roles", "tenants": [{"tenant", "role"}],
//! "tier", "password_hash"}`; `external_id` and `email` required, the rest optional (`null` is
//! absent); unknown fields and wrong types are refused naming the field. CSV: a header line of
//! those column names (any order, `external_id` and `email` among them; `roles` as `a;b`,
//! `tenants` as `tenant:role;tenant:role`, `disabled` as `true`/`false`; `"…"` quoting as in
//! RFC 4180, within one line; an empty cell is absent), or the older CSV without external ids:
//! `email,password_hash[,roles[,name]]`, headerless or under a header starting with `email`.
//!
//! Guarantees: nothing panics on any input; a refusal names the field and never echoes a
//! value (so never a hash); blank lines are skipped, and row numbers are line numbers.

use palisade_gateway::identity::import::{ImportedAccount, RowRefusal};
use serde_json::{Map, Value};

/// The columns (and JSON fields) of an import row.
pub const FIELDS: [&str; 8] = [
    "external_id",
    "email",
    "name",
    "disabled",
    "roles",
    "tenants",
    "tier",
    "password_hash",
];

/// How a file's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV, with a header of [`FIELDS`] names or in the older `email,password_hash,…` layout.
    Csv,
}

/// What one line of a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Blank, or a header.
    Skip,
    /// A row: the account, or why it cannot be read.
    Row(Result<ImportedAccount, RowRefusal>),
    /// The CSV header cannot be used (the whole file is refused): why.
    BadHeader(String),
}

/// Reads a file line by line, remembering the CSV layout its first line set.
#[derive(Debug, Clone)]
pub struct RowReader {
    format: FileFormat,
    layout: Option<Layout>,
}

#[derive(Debug, Clone)]
enum Layout {
    /// The older `email,password_hash[,roles[,name]]`.
    Legacy,
    /// Named columns, in the header's order.
    Named(Vec<&'static str>),
}

impl RowReader {
    /// A reader of a file in `format`.
    pub fn new(format: FileFormat) -> Self {
        Self {
            format,
            layout: None,
        }
    }

    /// Reads the next line of the file.
    pub fn line(&mut self, line: &str) -> Line {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Line::Skip;
        }
        match self.format {
            FileFormat::Jsonl => Line::Row(json_row(line)),
            FileFormat::Csv => self.csv_line(line),
        }
    }

    fn csv_line(&mut self, line: &str) -> Line {
        match &self.layout {
            None => {
                let cells = match split_csv(line) {
                    Ok(cells) => cells,
                    Err(why) => return Line::BadHeader(why.into()),
                };
                let first = cells.first().map(|c| c.trim().to_ascii_lowercase());
                if cells.iter().any(|c| c.trim() == "external_id") {
                    match named_layout(&cells) {
                        Ok(layout) => {
                            self.layout = Some(layout);
                            Line::Skip
                        }
                        Err(why) => Line::BadHeader(why),
                    }
                } else {
                    self.layout = Some(Layout::Legacy);
                    if first.is_some_and(|f| f.starts_with("email")) {
                        Line::Skip
                    } else {
                        Line::Row(legacy_row(line))
                    }
                }
            }
            Some(Layout::Legacy) => Line::Row(legacy_row(line)),
            Some(Layout::Named(columns)) => Line::Row(named_row(columns, line)),
        }
    }
}

fn refuse(field: &str, reason: &str) -> RowRefusal {
    RowRefusal::new(field, reason)
}

/// A field name as a refusal may show it: at most 64 characters, control characters escaped.
fn shown(name: &str) -> String {
    let short: String = name.chars().take(64).collect();
    let escaped = short.escape_debug().to_string();
    if name.chars().count() > 64 {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// One JSON line.
pub fn json_row(line: &str) -> Result<ImportedAccount, RowRefusal> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "ends too soon",
            _ => "syntax error",
        };
        refuse(
            "row",
            &format!("not valid JSON ({what} at column {})", e.column()),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(refuse("row", "not a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(refuse(&shown(unknown), "unknown field"));
    }
    let external_id = Some(required_string(&mut obj, "external_id")?);
    let email = required_string(&mut obj, "email")?;
    let name = optional_string(&mut obj, "name")?;
    let disabled = match obj.remove("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(refuse("disabled", "expected true or false")),
    };
    let roles = match obj.remove("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(refuse("roles", "expected a list of role names")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(refuse("roles", "expected a list of role names")),
    };
    let tenants = match obj.remove("tenants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(json_membership)
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(refuse(
                "tenants",
                "expected a list of {\"tenant\", \"role\"}",
            ));
        }
    };
    Ok(ImportedAccount {
        external_id,
        email,
        name,
        disabled,
        roles,
        tenants,
        tier: optional_string(&mut obj, "tier")?,
        password_hash: optional_string(&mut obj, "password_hash")?,
    })
}

fn json_membership(v: Value) -> Result<(String, String), RowRefusal> {
    let Value::Object(mut m) = v else {
        return Err(refuse(
            "tenants",
            "expected a list of {\"tenant\", \"role\"}",
        ));
    };
    if let Some(unknown) = m.keys().find(|k| !["tenant", "role"].contains(&k.as_str())) {
        return Err(refuse(
            &format!("tenants.{}", shown(unknown)),
            "unknown field",
        ));
    }
    let tenant = required_string(&mut m, "tenant").map_err(in_tenants)?;
    let role = required_string(&mut m, "role").map_err(in_tenants)?;
    Ok((tenant, role))
}

fn in_tenants(r: RowRefusal) -> RowRefusal {
    RowRefusal::new(format!("tenants.{}", r.field), r.reason)
}

fn required_string(obj: &mut Map<String, Value>, field: &str) -> Result<String, RowRefusal> {
    match obj.remove(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(refuse(field, "missing")),
        Some(_) => Err(refuse(field, "expected a string")),
    }
}

fn optional_string(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, RowRefusal> {
    match obj.remove(field) {
        Some(Value::String(s)) => Ok(Some(s)),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(refuse(field, "expected a string")),
    }
}

/// The named layout of a header line: every column a known field, none twice, `external_id`
/// and `email` present.
fn named_layout(cells: &[String]) -> Result<Layout, String> {
    let mut columns = Vec::with_capacity(cells.len());
    for cell in cells {
        let name = cell.trim();
        let Some(field) = FIELDS.iter().find(|f| **f == name) else {
            return Err(format!("{}: unknown column", shown(name)));
        };
        if columns.contains(field) {
            return Err(format!("{field}: column given twice"));
        }
        columns.push(*field);
    }
    if !columns.contains(&"email") {
        return Err("email: no such column".into());
    }
    Ok(Layout::Named(columns))
}

fn named_row(columns: &[&'static str], line: &str) -> Result<ImportedAccount, RowRefusal> {
    let cells = split_csv(line).map_err(|why| refuse("row", why))?;
    if cells.len() != columns.len() {
        return Err(refuse(
            "row",
            &format!("{} cells, the header has {}", cells.len(), columns.len()),
        ));
    }
    let mut account = ImportedAccount::default();
    for (field, cell) in columns.iter().zip(cells) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let text = Some(cell.to_string());
        match *field {
            "external_id" => account.external_id = text,
            "email" => account.email = cell.to_string(),
            "name" => account.name = text,
            "tier" => account.tier = text,
            "password_hash" => account.password_hash = text,
            "disabled" => {
                account.disabled = match cell.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(refuse("disabled", "expected true or false")),
                }
            }
            "roles" => account.roles = list(cell),
            "tenants" => {
                account.tenants = list(cell)
                    .into_iter()
                    .map(|pair| match pair.split_once(':') {
                        Some((t, r)) if !t.trim().is_empty() && !r.trim().is_empty() => {
                            Ok((t.trim().to_string(), r.trim().to_string()))
                        }
                        _ => Err(refuse("tenants", "expected tenant:role;tenant:role")),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => {}
        }
    }
    match &account.external_id {
        None => Err(refuse("external_id", "missing")),
        Some(_) if account.email.is_empty() => Err(refuse("email", "missing")),
        Some(_) => Ok(account),
    }
}

/// `a;b;;c` → `[a, b, c]`.
fn list(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The older layout: `email,password_hash[,roles separated by ';'[,name]]`, no quoting.
fn legacy_row(line: &str) -> Result<ImportedAccount, RowRefusal> {
    let cols: Vec<&str> = line.split(',').map(str::trim).collect();
    let email = cols.first().copied().unwrap_or_default();
    let Some(hash) = cols.get(1).filter(|h| !h.is_empty()) else {
        return Err(refuse(
            "password_hash",
            "missing (expected email,password_hash)",
        ));
    };
    Ok(ImportedAccount {
        external_id: None,
        email: email.to_string(),
        name: cols.get(3).filter(|s| !s.is_empty()).map(|s| s.to_string()),
        roles: cols.get(2).map(|r| list(r)).unwrap_or_default(),
        password_hash: Some(hash.to_string()),
        ..Default::default()
    })
}

/// Splits one CSV line: cells separated by `,`, a cell in `"…"` may hold `,` and `""`.
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.chars().peekable();
    loop {
        // At the start of a cell.
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted cell is not closed"),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                }
            }
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            match chars.next() {
                None => {
                    cells.push(std::mem::take(&mut cell));
                    return Ok(cells);
                }
                Some(',') => cells.push(std::mem::take(&mut cell)),
                Some(_) => return Err("text after a quoted cell"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        cells.push(std::mem::take(&mut cell));
                        return Ok(cells);
                    }
                    Some(',') => {
                        cells.push(std::mem::take(&mut cell));
                        break;
                    }
                    Some('"') => return Err("a quote inside an unquoted cell"),
                    Some(c) => cell.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "user_import_tests.rs"]
mod tests;
