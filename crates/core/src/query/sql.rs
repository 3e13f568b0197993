//! SQL classification: tokenize and parse with `sqlparser` in the route's dialect, then walk
//! every node of every statement.
//!
//! A statement's class is the highest of: its own kind (a `SELECT` is `READ`, an `INSERT`
//! `WRITE`, a `CREATE TABLE` `SCHEMA`, anything not listed here `ADMIN`), every statement nested
//! in it (a data-modifying CTE, the statement under `EXPLAIN`), its locking clauses (`FOR
//! UPDATE`: `WRITE`), `SELECT … INTO` (`WRITE`) and every function it calls, in expressions and
//! in `FROM` (see `functions`). A comment that is code (`/*! … */`, `/*M! … */`) and that the
//! dialect's tokenizer left as a comment is refused before parsing; MySQL's tokenizer reads
//! `/*! … */` as code itself. An estimate of the tree's depth is checked before parsing too.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CopyTarget, Expr, Ident, ObjectName, Query, Select, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use super::{Dialect, QueryOptions, QueryRefusal, StatementClass, functions};

/// Classifies every statement of a SQL text.
pub(super) fn classify(
    dialect: Dialect,
    text: &str,
    options: &QueryOptions,
) -> Result<Vec<StatementClass>, QueryRefusal> {
    let dialect: Box<dyn sqlparser::dialect::Dialect> = match dialect {
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::MySql => Box::new(MySqlDialect {}),
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Generic | Dialect::Cypher => Box::new(GenericDialect {}),
    };
    let tokens = Tokenizer::new(&*dialect, text)
        .tokenize_with_location()
        .map_err(|_| QueryRefusal::Unparsable)?;
    let mut counted = 0usize;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(Whitespace::MultiLineComment(body))
                if body.starts_with('!') || body.starts_with("M!") =>
            {
                return Err(QueryRefusal::ExecutableComment);
            }
            Token::Whitespace(_) => {}
            _ => counted += 1,
        }
    }
    if counted > options.max_tokens || depth_estimate(&tokens) > MAX_DEPTH_ESTIMATE {
        return Err(QueryRefusal::TooComplex);
    }
    let statements = Parser::new(&*dialect)
        .with_recursion_limit(options.max_depth)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| match e {
            ParserError::RecursionLimitExceeded => QueryRefusal::TooComplex,
            _ => QueryRefusal::Unparsable,
        })?;
    if statements.len() > options.max_statements {
        return Err(QueryRefusal::TooManyStatements {
            max: options.max_statements,
        });
    }
    statements
        .iter()
        .map(|statement| {
            let mut walker = Walker {
                options,
                class: StatementClass::Read,
            };
            match statement.visit(&mut walker) {
                ControlFlow::Break(refusal) => Err(refusal),
                ControlFlow::Continue(()) => Ok(walker.class),
            }
        })
        .collect()
}

/// The most a statement's tree may be deep, by [`depth_estimate`]. The AST walk and its drop
/// recurse once per level with large frames (sqlparser's derived visitor over a ~100-variant
/// `Expr`): a debug build overflowed a 2 MiB thread stack between 80 and 200 levels (80 held).
const MAX_DEPTH_ESTIMATE: usize = 96;

/// Keywords that chain operands left-deep.
const OPERATOR_WORDS: &[&str] = &[
    "AND",
    "OR",
    "XOR",
    "NOT",
    "IS",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "IN",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "MINUS",
    "COLLATE",
    "AT",
    "OVERLAPS",
    "SIMILAR",
    "REGEXP",
    "RLIKE",
    "DIV",
    "MOD",
    "GLOB",
    "MATCH",
    "ESCAPE",
    "OPERATOR",
    "SOUNDS",
    "MEMBER",
];

/// An upper bound of the tree's depth from the tokens alone, before parsing: the parser builds
/// operator chains (`1 + 1 + …`, `a AND b AND …`, `x::t::t…`, `UNION`s) left-deep in a loop, so
/// its recursion limit does not bound them. Every operator (punctuation other than `,` `;` and
/// parentheses, and [`OPERATOR_WORDS`]) counts one level, a `,` or `;` starts a new chain, and a
/// `(` nests a chain inside its parent's at a cost of 4 levels.
fn depth_estimate(tokens: &[TokenWithSpan]) -> usize {
    let mut stack: Vec<usize> = Vec::new();
    let (mut base, mut chain, mut max) = (0usize, 0usize, 0usize);
    for token in tokens {
        match &token.token {
            Token::Comma | Token::SemiColon => chain = 0,
            Token::LParen => {
                stack.push(chain);
                base += chain + 4;
                chain = 0;
            }
            Token::RParen => {
                let outer = stack.pop().unwrap_or(0);
                base = base.saturating_sub(outer + 4);
                chain = outer;
            }
            Token::Word(w) => {
                if w.quote_style.is_none()
                    && OPERATOR_WORDS
                        .iter()
                        .any(|k| w.value.eq_ignore_ascii_case(k))
                {
                    chain += 1;
                }
            }
            Token::Whitespace(_)
            | Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_) => {}
            _ => chain += 1,
        }
        max = max.max(base + chain);
    }
    max
}

/// Raises `class` over every node of one statement; breaks with the first refusal.
struct Walker<'a> {
    options: &'a QueryOptions,
    class: StatementClass,
}

impl Walker<'_> {
    fn raise(&mut self, class: StatementClass) {
        self.class = self.class.max(class);
    }

    /// A function called by `name`: its listed class, the route's allow list, or a refusal.
    fn function(&mut self, name: &ObjectName) -> ControlFlow<QueryRefusal> {
        let idents: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        if idents.len() != name.0.len() || idents.is_empty() {
            return ControlFlow::Break(QueryRefusal::UnknownFunction(name.to_string()));
        }
        let called = idents
            .iter()
            .map(|i| match i.quote_style {
                Some(_) => i.value.clone(),
                None => i.value.to_lowercase(),
            })
            .collect::<Vec<_>>()
            .join(".");
        let last = idents[idents.len() - 1].value.to_lowercase();
        // Deny lists first, whatever the schema or quoting.
        if let Some(class @ (StatementClass::Write | StatementClass::Admin)) =
            functions::class_of(&last)
        {
            self.raise(class);
            return ControlFlow::Continue(());
        }
        if self.options.allowed_functions.contains(&called) {
            return ControlFlow::Continue(());
        }
        // A built-in only when unqualified (or `pg_catalog.`) and spelled as the built-in:
        // `"COUNT"` or `app.count` may be a user's function.
        let builtin_spelling =
            called == last || (idents.len() == 2 && called == format!("pg_catalog.{last}"));
        if builtin_spelling && functions::class_of(&last) == Some(StatementClass::Read) {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(QueryRefusal::UnknownFunction(called))
    }
}

impl Visitor for Walker<'_> {
    type Break = QueryRefusal;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<QueryRefusal> {
        let class = own_class(statement, self.options)?;
        self.raise(class);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<QueryRefusal> {
        if !query.locks.is_empty() {
            self.raise(StatementClass::Write);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<QueryRefusal> {
        if select.into.is_some() {
            self.raise(StatementClass::Write);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<QueryRefusal> {
        if let Expr::Function(f) = expr {
            self.function(&f.name)?;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<QueryRefusal> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.function(name),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// The class of a statement's own kind (nested parts are walked separately).
fn own_class(
    statement: &Statement,
    options: &QueryOptions,
) -> ControlFlow<QueryRefusal, StatementClass> {
    use StatementClass::{Admin, Read, Schema, Write};
    let class = match statement {
        // EXPLAIN itself reads; the statement under it is walked too, so `EXPLAIN ANALYZE
        // DELETE …` (which runs the DELETE) is a WRITE — and so, conservatively, is a plain
        // `EXPLAIN DELETE …`.
        Statement::Query { .. } | Statement::Explain { .. } | Statement::ExplainTable { .. } => {
            Read
        }
        Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset { .. } => Read,
        Statement::Insert { .. }
        | Statement::Update { .. }
        | Statement::Delete { .. }
        | Statement::Merge { .. }
        | Statement::RefreshMaterializedView { .. } => Write,
        Statement::Copy { to, target, .. } => match (to, target) {
            (true, CopyTarget::Stdout) => Read,
            (false, CopyTarget::Stdin) => Write,
            // Files and programs on the server.
            _ => Admin,
        },
        Statement::CreateTable { .. }
        | Statement::CreateView { .. }
        | Statement::CreateVirtualTable { .. }
        | Statement::CreateIndex { .. }
        | Statement::CreateSchema { .. }
        | Statement::CreateSequence { .. }
        | Statement::CreateType { .. }
        | Statement::CreateDomain { .. }
        | Statement::AlterTable { .. }
        | Statement::AlterIndex { .. }
        | Statement::AlterView { .. }
        | Statement::AlterType { .. }
        | Statement::AlterSchema { .. }
        | Statement::Drop { .. }
        | Statement::DropDomain { .. }
        | Statement::Truncate { .. }
        | Statement::RenameTable { .. }
        | Statement::Comment { .. } => Schema,
        Statement::Call(f) => {
            let name = f.name.to_string().to_lowercase();
            if options.allowed_procedures.contains(&name) {
                Read
            } else {
                return ControlFlow::Break(QueryRefusal::UnknownProcedure(name));
            }
        }
        // SET/RESET, GRANT/REVOKE, roles and users, VACUUM/ANALYZE, LOCK, LOAD, PREPARE/EXECUTE,
        // LISTEN/NOTIFY, transaction control, functions/triggers/extensions (code), SHOW of
        // anything else (grants, processes, status, variables), KILL, USE, PRAGMA and every
        // statement kind added to sqlparser later: the most privileged class.
        _ => Admin,
    };
    ControlFlow::Continue(class)
}
