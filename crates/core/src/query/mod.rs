//! The query firewall's classifier: which class of statement a query carries, and whether a
//! role may run it.
//!
//! A route that carries a query (SQL in a named dialect, or Cypher) hands its text to
//! [`classify`], which answers one [`StatementClass`] per statement — `READ`, `WRITE`, `SCHEMA`
//! or `ADMIN`, ordered so the highest wins — or a [`QueryRefusal`]. [`allowed`] then checks the
//! classes against the role's ceiling (a viewer: `READ`).
//!
//! # Guarantees
//!
//! - Fail closed: text that cannot be parsed, that is over a limit, or that calls a function or
//!   procedure on no list is refused, never classified by a guess.
//! - Executable comments are code, never ignored: the MySQL dialect parses `/*! … */` (versioned
//!   ones too) as the statement text it is; every other dialect, and MariaDB's `/*M! … */`,
//!   refuses them ([`QueryRefusal::ExecutableComment`]).
//! - SQL is parsed by `sqlparser` and the whole AST is walked (`sql`): writable CTEs, `SELECT …
//!   INTO`, locking clauses, `EXPLAIN` of a write, `COPY`, side-effect functions anywhere in an
//!   expression or a `FROM` all raise the class of the statement that holds them.
//! - Functions: a deny list of side-effect and administrative functions (`functions`) classifies
//!   them `WRITE` or `ADMIN`; a list of built-in read-only functions is `READ`; any other
//!   function — user-defined ones included, since their bodies are unknown — is refused
//!   ([`QueryRefusal::UnknownFunction`]) unless [`QueryOptions::allowed_functions`] names it.
//! - Cypher has no parser we trust (`open-cypher` 0.5 is young and does not cover Neo4j's
//!   administration syntax); `cypher` is our own tokenizer that strips comments, strings and
//!   backtick identifiers and classifies by clause keywords and procedure names.
//! - Time and memory are linear in the input, bounded by [`QueryOptions::max_bytes`] (100 KB by
//!   default), [`QueryOptions::max_tokens`] and the parser's recursion limit
//!   ([`QueryOptions::max_depth`]).
//!
//! # Known limits
//!
//! The classifier reads the text as the named dialect reads it; a server whose lexer differs
//! (another MySQL `sql_mode` such as `ANSI_QUOTES`, PostgreSQL's `standard_conforming_strings =
//! off`) can read the same bytes otherwise. Name the dialect the server actually speaks. Views,
//! triggers and rules on the server can make a `READ` write; the classifier sees only the text.

mod cypher;
mod functions;
mod sql;
#[cfg(test)]
mod tests_cypher;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_sql;

use std::collections::BTreeSet;

/// The language a route's queries are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL (and MariaDB).
    MySql,
    /// SQLite.
    Sqlite,
    /// `sqlparser`'s generic SQL: for servers with no dialect of their own here.
    Generic,
    /// Cypher (Neo4j, Memgraph, openCypher servers).
    Cypher,
}

impl Dialect {
    /// Parses a configuration value (`postgres`, `mysql`, `sqlite`, `generic`, `cypher`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "postgres" | "postgresql" => Self::Postgres,
            "mysql" | "mariadb" => Self::MySql,
            "sqlite" => Self::Sqlite,
            "generic" => Self::Generic,
            "cypher" => Self::Cypher,
            _ => return None,
        })
    }
}

/// What one statement does, from least to most privileged: the order is the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatementClass {
    /// Reads data, changes nothing.
    Read,
    /// Changes data, takes locks or consumes sequences.
    Write,
    /// Changes the schema (tables, views, indexes, constraints).
    Schema,
    /// Administers the server: roles, privileges, settings, files, processes, code.
    Admin,
}

impl StatementClass {
    /// The class's name in configuration and audit events (`READ`, `WRITE`, `SCHEMA`, `ADMIN`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Schema => "SCHEMA",
            Self::Admin => "ADMIN",
        }
    }

    /// Parses a class name as written in configuration (upper or lower case).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "READ" => Self::Read,
            "WRITE" => Self::Write,
            "SCHEMA" => Self::Schema,
            "ADMIN" => Self::Admin,
            _ => return None,
        })
    }
}

/// Why a query is refused. [`QueryRefusal::reason`] is the stable code for audit and problem
/// documents; no variant carries the query text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryRefusal {
    /// The query is empty (or only comments).
    #[error("the query is empty")]
    Empty,
    /// The query is not valid UTF-8.
    #[error("the query is not valid UTF-8")]
    NotUtf8,
    /// Over [`QueryOptions::max_bytes`].
    #[error("the query is over {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Over [`QueryOptions::max_tokens`] or nested deeper than [`QueryOptions::max_depth`].
    #[error("the query is too complex to classify")]
    TooComplex,
    /// More statements than [`QueryOptions::max_statements`].
    #[error("the query holds more than {max} statements")]
    TooManyStatements {
        /// The limit.
        max: usize,
    },
    /// The parser (or the Cypher tokenizer) could not read it.
    #[error("the query cannot be parsed")]
    Unparsable,
    /// A comment the server executes as code (`/*! … */`).
    #[error("the query holds an executable comment")]
    ExecutableComment,
    /// A function on no list (a user-defined function is unknown).
    #[error("function {0} is not on the allow list")]
    UnknownFunction(String),
    /// A procedure (`CALL`) on no list.
    #[error("procedure {0} is not on the allow list")]
    UnknownProcedure(String),
    /// A statement above the caller's ceiling.
    #[error("a {class} statement is not permitted (at most {max})", class = .class.as_str(), max = .max.as_str())]
    NotPermitted {
        /// The statement's class.
        class: StatementClass,
        /// The ceiling.
        max: StatementClass,
    },
}

impl QueryRefusal {
    /// A stable, payload-free code for audit events and problem documents.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotUtf8 => "not-utf8",
            Self::TooLarge { .. } => "too-large",
            Self::TooComplex => "too-complex",
            Self::TooManyStatements { .. } => "too-many-statements",
            Self::Unparsable => "unparsable",
            Self::ExecutableComment => "executable-comment",
            Self::UnknownFunction(_) => "unknown-function",
            Self::UnknownProcedure(_) => "unknown-procedure",
            Self::NotPermitted { .. } => "class-not-permitted",
        }
    }
}

/// Limits and allow lists for one route.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// Largest query in bytes (default 100 KB).
    pub max_bytes: usize,
    /// Most tokens, comments and whitespace not counted (default 10,000).
    pub max_tokens: usize,
    /// The parser's recursion limit: nesting of subqueries and parenthesized expressions
    /// (default 16).
    pub max_depth: usize,
    /// Most statements in one query (default 1: stacked queries are refused unless a route
    /// allows them).
    pub max_statements: usize,
    /// Functions admitted as `READ` beyond the built-in list, as called (lower case unless quoted;
    /// schema-qualified names in full, `reports.monthly_total`).
    pub allowed_functions: BTreeSet<String>,
    /// Procedures admitted as `READ` (`CALL x` in SQL; `CALL db.x` in Cypher, beyond its
    /// built-in list).
    pub allowed_procedures: BTreeSet<String>,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024,
            max_tokens: 10_000,
            max_depth: 16,
            max_statements: 1,
            allowed_functions: BTreeSet::new(),
            allowed_procedures: BTreeSet::new(),
        }
    }
}

/// Classifies each statement of `text` with the default [`QueryOptions`].
pub fn classify(dialect: Dialect, text: &str) -> Result<Vec<StatementClass>, QueryRefusal> {
    classify_with(dialect, text, &QueryOptions::default())
}

/// Classifies each statement of `text`, or refuses it.
pub fn classify_with(
    dialect: Dialect,
    text: &str,
    options: &QueryOptions,
) -> Result<Vec<StatementClass>, QueryRefusal> {
    if text.len() > options.max_bytes {
        return Err(QueryRefusal::TooLarge {
            max: options.max_bytes,
        });
    }
    let classes = match dialect {
        Dialect::Cypher => cypher::classify(text, options)?,
        sql => sql::classify(sql, text, options)?,
    };
    if classes.is_empty() {
        return Err(QueryRefusal::Empty);
    }
    if classes.len() > options.max_statements {
        return Err(QueryRefusal::TooManyStatements {
            max: options.max_statements,
        });
    }
    Ok(classes)
}

/// [`classify_with`] for bytes as they arrive in a body: anything not UTF-8 is refused.
pub fn classify_bytes(
    dialect: Dialect,
    bytes: &[u8],
    options: &QueryOptions,
) -> Result<Vec<StatementClass>, QueryRefusal> {
    if bytes.len() > options.max_bytes {
        return Err(QueryRefusal::TooLarge {
            max: options.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| QueryRefusal::NotUtf8)?;
    classify_with(dialect, text, options)
}

/// Whether every class is at most `max` (a viewer: `max = Read`); the highest class wins.
pub fn allowed(classes: &[StatementClass], max: StatementClass) -> Result<(), QueryRefusal> {
    match classes.iter().max() {
        None => Err(QueryRefusal::Empty),
        Some(&class) if class > max => Err(QueryRefusal::NotPermitted { class, max }),
        Some(_) => Ok(()),
    }
}
