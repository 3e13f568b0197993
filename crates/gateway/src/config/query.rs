//! A route's `query = {…}`: the query firewall of routes that carry SQL or Cypher in a JSON body
//! field or a query parameter — the dialect, where the query is, its size cap, the functions and
//! procedures admitted as reads, and the highest statement class each role may run.
//!
//! Guarantees: unknown keys are refused when the file is read; [`RouteQuery::problems`] (run by
//! `config check` and at start) refuses an unknown dialect, both or neither of `field` and
//! `param`, an unknown class name, a zero or oversized `max_bytes`, and an empty role map (a route
//! nobody may query is a mistake, not a policy).

use super::units::ByteSize;
use palisade_core::query::{Dialect, StatementClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default size cap of one query (100 KB).
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024;
/// The largest `max_bytes` a route may set (1 MiB): the classifier's work is linear in it.
pub const MAX_MAX_BYTES: u64 = 1024 * 1024;

/// `query = { dialect = "postgres", field = "query", roles = { viewer = "read" } }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteQuery {
    /// `postgres`, `mysql`, `sqlite`, `generic` or `cypher`.
    pub dialect: String,
    /// The top-level JSON body field holding the query (one of `field` and `param`).
    #[serde(default)]
    pub field: Option<String>,
    /// The query parameter holding the query (one of `field` and `param`).
    #[serde(default)]
    pub param: Option<String>,
    /// Largest query (default 100 KB); larger: 413 `query-too-large`.
    #[serde(default)]
    pub max_bytes: Option<ByteSize>,
    /// Several statements in one query (each classified; the highest class decides). Default
    /// `false`: stacked queries are refused.
    #[serde(default)]
    pub allow_multiple: bool,
    /// Functions admitted as reads beyond the built-in read-only list (as called: lower case
    /// unless quoted, schema-qualified in full).
    #[serde(default)]
    pub allowed_functions: Vec<String>,
    /// Procedures admitted as reads (`CALL x`).
    #[serde(default)]
    pub allowed_procedures: Vec<String>,
    /// Role → the highest class it may run (`read`, `write`, `schema`, `admin`). A caller may
    /// run the highest class any role it holds (inherited roles count) permits; a caller with no
    /// role in the map may run nothing.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
}

impl RouteQuery {
    /// The dialect, if its name is known.
    pub fn dialect(&self) -> Option<Dialect> {
        Dialect::parse(&self.dialect)
    }

    /// The size cap in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.map_or(DEFAULT_MAX_BYTES, |b| b.0)
    }

    /// What is wrong with this route's `query = {…}` (`route` names it in each message).
    pub fn problems(&self, route: &str) -> Vec<String> {
        let mut out = Vec::new();
        let at = format!("route {route}: query");
        if self.dialect().is_none() {
            out.push(format!(
                "{at}.dialect: {:?} is not one of postgres, mysql, sqlite, generic, cypher",
                self.dialect
            ));
        }
        match (&self.field, &self.param) {
            (Some(_), Some(_)) => out.push(format!(
                "{at}: name the query's place once: field (a JSON body field) or param (a query parameter), not both"
            )),
            (None, None) => out.push(format!(
                "{at}: needs field (a JSON body field) or param (a query parameter)"
            )),
            (Some(name), None) | (None, Some(name)) if name.trim().is_empty() => {
                out.push(format!("{at}: field or param is empty"));
            }
            _ => {}
        }
        let max = self.max_bytes();
        if max == 0 || max > MAX_MAX_BYTES {
            out.push(format!("{at}.max_bytes: 1 byte to 1MiB"));
        }
        if self.roles.is_empty() {
            out.push(format!(
                "{at}.roles: name at least one role and its highest class (viewer = \"read\")"
            ));
        }
        for (role, class) in &self.roles {
            if StatementClass::parse(class).is_none() {
                out.push(format!(
                    "{at}.roles.{role}: {class:?} is not one of read, write, schema, admin"
                ));
            }
        }
        for name in self
            .allowed_functions
            .iter()
            .chain(&self.allowed_procedures)
        {
            if name.trim().is_empty() {
                out.push(format!("{at}: an empty function or procedure name"));
            }
        }
        out
    }
}

/// The problems of every route's `query = {…}`, a role the configuration does not declare
/// among them (a typo would leave its holders unable to query: fail closed, but a mistake).
pub fn problems(config: &super::Config) -> Vec<String> {
    let declared = if config.roles.is_empty() {
        palisade_core::policy::default_roles()
    } else {
        config.roles.clone()
    };
    let mut out = Vec::new();
    for r in &config.routes {
        let Some(q) = &r.query else { continue };
        out.extend(q.problems(r.display_name()));
        for role in q.roles.keys() {
            if !declared.iter().any(|d| &d.name == role) {
                out.push(format!(
                    "route {}: query.roles: {role:?} is not a declared role",
                    r.display_name()
                ));
            }
        }
    }
    out
}
