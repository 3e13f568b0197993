//! The query firewall's use case: a route's compiled [`QueryPolicy`] (from `query = {…}`), where
//! its query is read from ([`QueryPolicy::extract`]) and the decision on it for a caller's
//! ceiling ([`QueryPolicy::decide`], the classifier of `palisade_core::query`).
//!
//! Guarantees: fail closed — a caller no role of the map names may run nothing, a query that is
//! missing, ambiguous (see `body_fields`), over the size cap, unparsable or above the caller's
//! ceiling is refused; no refusal carries the query text (a function or procedure name is the
//! most that is named).

use super::body_fields::{self, Field};
use crate::config::query::RouteQuery;
use palisade_core::query::{Dialect, QueryOptions, QueryRefusal, StatementClass};

/// Where a route's query is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A top-level JSON body field.
    Field(String),
    /// A query parameter.
    Param(String),
}

/// A route's query firewall, compiled at start.
#[derive(Debug)]
pub struct QueryPolicy {
    /// The language of its queries.
    pub dialect: Dialect,
    /// Where the query is.
    pub place: Place,
    /// Limits and allow lists for the classifier.
    pub options: QueryOptions,
    /// Role → the highest class it may run.
    pub roles: Vec<(String, StatementClass)>,
}

/// Why no query could be read, before any classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// The field or parameter is absent.
    Missing,
    /// Present more than once, or beside a name a case-insensitive reader confuses with it.
    Ambiguous,
    /// Not a string, or not valid text.
    NotText,
    /// The body is not one JSON object.
    NotJson,
    /// Over the size cap.
    TooLarge,
}

impl Unreadable {
    /// The stable reason code (audit `details.reason`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Ambiguous => "ambiguous",
            Self::NotText => "not-text",
            Self::NotJson => "not-json",
            Self::TooLarge => "too-large",
        }
    }
}

/// Stacked statements admitted where a route allows several.
const MAX_STATEMENTS: usize = 64;

impl QueryPolicy {
    /// The policy of a route's `query = {…}` (already checked by `config check`).
    pub fn new(rq: &RouteQuery) -> Result<Self, String> {
        let problems = rq.problems("");
        if let Some(first) = problems.into_iter().next() {
            return Err(first);
        }
        let dialect = rq.dialect().ok_or("unknown dialect")?;
        let place = match (&rq.field, &rq.param) {
            (Some(f), None) => Place::Field(f.clone()),
            (None, Some(p)) => Place::Param(p.clone()),
            _ => return Err("field or param, one of them".into()),
        };
        let options = QueryOptions {
            max_bytes: usize::try_from(rq.max_bytes()).unwrap_or(usize::MAX),
            max_statements: if rq.allow_multiple { MAX_STATEMENTS } else { 1 },
            allowed_functions: rq.allowed_functions.iter().cloned().collect(),
            allowed_procedures: rq.allowed_procedures.iter().cloned().collect(),
            ..QueryOptions::default()
        };
        let roles = rq
            .roles
            .iter()
            .map(|(role, class)| {
                StatementClass::parse(class)
                    .map(|c| (role.clone(), c))
                    .ok_or_else(|| format!("unknown class {class:?}"))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            dialect,
            place,
            options,
            roles,
        })
    }

    /// The body is needed (the query is in a JSON field).
    pub fn reads_body(&self) -> bool {
        matches!(self.place, Place::Field(_))
    }

    /// The highest class a caller may run: the highest any role of the map that `holds` says
    /// the caller holds permits; `None` (nothing) when it holds none of them.
    pub fn ceiling(&self, holds: impl Fn(&str) -> bool) -> Option<StatementClass> {
        self.roles
            .iter()
            .filter(|(role, _)| holds(role))
            .map(|(_, class)| *class)
            .max()
    }

    /// The query text of a request: its URI query string and (when [`Self::reads_body`]) body.
    pub fn extract(&self, uri_query: Option<&str>, body: &[u8]) -> Result<String, Unreadable> {
        let field = match &self.place {
            Place::Param(name) => body_fields::query_param(uri_query, name),
            Place::Field(name) => body_fields::json_fields(body, &[name])
                .map_err(|_| Unreadable::NotJson)?
                .pop()
                .unwrap_or(Field::Missing),
        };
        match field {
            Field::Text(text) if text.len() > self.options.max_bytes => Err(Unreadable::TooLarge),
            Field::Text(text) => Ok(text),
            Field::Missing => Err(Unreadable::Missing),
            Field::Ambiguous => Err(Unreadable::Ambiguous),
            Field::NotText => Err(Unreadable::NotText),
        }
    }

    /// The decision on `text` for a caller whose ceiling is `max`: the classes of its
    /// statements, or the refusal.
    pub fn decide(
        &self,
        text: &str,
        max: StatementClass,
    ) -> Result<Vec<StatementClass>, QueryRefusal> {
        let classes = palisade_core::query::classify_with(self.dialect, text, &self.options)?;
        palisade_core::query::allowed(&classes, max).map(|()| classes)
    }
}
