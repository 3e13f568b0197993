//! Decision table of the SQL classifier (PostgreSQL and MySQL, some SQLite): input, expected
//! class or refusal code, and why.

use super::{Dialect, QueryOptions, StatementClass, allowed, classify, classify_with};

const P: Dialect = Dialect::Postgres;
const M: Dialect = Dialect::MySql;
const L: Dialect = Dialect::Sqlite;

/// (dialect, query, expected class of the highest statement or refusal code, why)
const TABLE: &[(Dialect, &str, &str, &str)] = &[
    // Plain reads.
    (P, "SELECT 1", "READ", "a constant"),
    (
        P,
        "SELECT id, name FROM users WHERE id = $1 ORDER BY name LIMIT 10",
        "READ",
        "a parameterized read",
    ),
    (
        M,
        "SELECT u.id, COUNT(*) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id",
        "READ",
        "join and aggregate",
    ),
    (
        P,
        "WITH t AS (SELECT id FROM users) SELECT * FROM t",
        "READ",
        "a read-only CTE",
    ),
    (
        P,
        "SELECT lower(name), coalesce(email, '') FROM users",
        "READ",
        "built-in read-only functions",
    ),
    (
        P,
        "SELECT * FROM a UNION SELECT * FROM b",
        "READ",
        "a set operation",
    ),
    (
        P,
        "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders)",
        "READ",
        "a subquery",
    ),
    (
        M,
        "SELECT `select` FROM `from`",
        "READ",
        "keywords as quoted identifiers are names",
    ),
    (
        P,
        "EXPLAIN SELECT * FROM users",
        "READ",
        "EXPLAIN without ANALYZE does not execute",
    ),
    (
        P,
        "EXPLAIN ANALYZE SELECT * FROM users",
        "READ",
        "ANALYZE of a read executes a read",
    ),
    (M, "SHOW TABLES", "READ", "listing tables"),
    (
        P,
        "COPY (SELECT * FROM users) TO STDOUT",
        "READ",
        "COPY of a query to the client",
    ),
    // Strings and comments hide nothing and reveal nothing.
    (
        P,
        "SELECT 'DROP TABLE users; --'",
        "READ",
        "a keyword inside a string",
    ),
    (
        P,
        "SELECT $$ DELETE FROM users $$",
        "READ",
        "dollar-quoted string is data",
    ),
    (
        P,
        "SELECT $tag$ ; DROP TABLE t; $tag$",
        "READ",
        "tagged dollar quoting is data",
    ),
    (
        P,
        "SELECT 1 /* outer /* DROP TABLE t; */ still comment */",
        "READ",
        "PostgreSQL nests comments",
    ),
    (
        M,
        "SELECT 1 /* outer /* inner */ DROP TABLE t; */",
        "unparsable",
        "MySQL does not nest: the tail is code",
    ),
    (M, "SELECT 1 -- DROP TABLE t", "READ", "a line comment"),
    (M, "SELECT 1 # DROP TABLE t", "READ", "MySQL hash comment"),
    (
        M,
        "SELECT 1 /*! UNION SELECT password FROM mysql.user */",
        "READ",
        "MySQL dialect parses /*! */ as code: here a read",
    ),
    (
        M,
        "SELECT * FROM t /*! FOR UPDATE */",
        "WRITE",
        "code in /*! */ is classified, never ignored",
    ),
    (
        M,
        "SELECT 1 /*!50000 ; DROP TABLE t */",
        "too-many-statements",
        "versioned executable comment is code",
    ),
    (
        M,
        "SELECT 1 /*! ; DROP TABLE t */",
        "too-many-statements",
        "a stacked drop inside /*! */",
    ),
    (
        M,
        "SELECT 1 /*M! , sleep(5) */",
        "executable-comment",
        "MariaDB executable comment",
    ),
    (
        P,
        "SELECT 1 /*! DROP TABLE t */",
        "executable-comment",
        "refused in every dialect",
    ),
    (P, "SELECT 'it''s'", "READ", "doubled quote inside a string"),
    (
        M,
        "SELECT 'a\\' ; DROP TABLE t; -- '",
        "READ",
        "MySQL: backslash escapes the quote, all one string",
    ),
    (
        P,
        "SELECT 'a\\' ; DROP TABLE t; -- '",
        "too-many-statements",
        "PostgreSQL: the string ends at the quote, a drop follows",
    ),
    (
        P,
        "SELECT E'a\\' ; DROP TABLE t; -- '",
        "READ",
        "PostgreSQL E-string: backslash escapes the quote",
    ),
    (
        M,
        "SELECT \"DROP TABLE t\"",
        "READ",
        "MySQL double quotes are a string",
    ),
    (
        P,
        "SELECT 'unterminated",
        "unparsable",
        "unterminated string",
    ),
    (
        P,
        "SELECT $$ never closed",
        "unparsable",
        "unterminated dollar quote",
    ),
    (
        P,
        "SELECT 1 /* never closed",
        "unparsable",
        "unterminated comment",
    ),
    // Case and Unicode tricks.
    (P, "sElEcT * FrOm users", "READ", "keywords in any case"),
    (P, "dElEtE FROM users", "WRITE", "a write in any case"),
    (
        P,
        "ＤＥＬＥＴＥ FROM users",
        "unparsable",
        "fullwidth keyword is no keyword: refused",
    ),
    (
        P,
        "SELECT * FROM users; ＤＲＯＰ TABLE users",
        "unparsable",
        "fullwidth after a read",
    ),
    (
        P,
        "DELΕTE FROM users",
        "unparsable",
        "Greek capital epsilon homoglyph",
    ),
    (
        P,
        "SELECT\u{00a0}1",
        "unparsable",
        "no-break space is not whitespace to the parser",
    ),
    // Writes.
    (
        P,
        "INSERT INTO users (name) VALUES ('a')",
        "WRITE",
        "insert",
    ),
    (
        P,
        "UPDATE users SET name = 'a' WHERE id = 1",
        "WRITE",
        "update",
    ),
    (M, "DELETE FROM users WHERE id = 1", "WRITE", "delete"),
    (
        M,
        "REPLACE INTO users VALUES (1, 'a')",
        "WRITE",
        "MySQL REPLACE",
    ),
    (
        P,
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "WRITE",
        "merge",
    ),
    (
        P,
        "WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
        "WRITE",
        "data-modifying CTE",
    ),
    (
        P,
        "WITH x AS (INSERT INTO log VALUES (1) RETURNING id) SELECT id FROM x",
        "WRITE",
        "insert in a CTE",
    ),
    (
        P,
        "WITH x AS (UPDATE users SET admin = true RETURNING id) SELECT 1",
        "WRITE",
        "update in a CTE",
    ),
    (
        P,
        "SELECT * INTO backup FROM users",
        "WRITE",
        "SELECT INTO creates a table",
    ),
    (
        P,
        "SELECT * FROM users FOR UPDATE",
        "WRITE",
        "locking clause",
    ),
    (
        P,
        "SELECT * FROM users FOR SHARE NOWAIT",
        "WRITE",
        "shared row lock",
    ),
    (
        M,
        "SELECT * FROM users FOR UPDATE",
        "WRITE",
        "MySQL locking read",
    ),
    (
        P,
        "EXPLAIN ANALYZE DELETE FROM users",
        "WRITE",
        "EXPLAIN ANALYZE executes the delete",
    ),
    (
        P,
        "EXPLAIN (ANALYZE) UPDATE users SET name = 'x'",
        "WRITE",
        "option-list ANALYZE executes",
    ),
    (
        P,
        "EXPLAIN DELETE FROM users",
        "WRITE",
        "plain EXPLAIN of a write: conservatively a write",
    ),
    (
        P,
        "SELECT nextval('orders_id_seq')",
        "WRITE",
        "consumes a sequence",
    ),
    (
        P,
        "SELECT setval('orders_id_seq', 1)",
        "WRITE",
        "resets a sequence",
    ),
    (
        P,
        "SELECT pg_advisory_lock(1)",
        "WRITE",
        "takes a session lock",
    ),
    (
        P,
        "SELECT * FROM users WHERE id = (SELECT nextval('s'))",
        "WRITE",
        "side effect in a subquery",
    ),
    (
        P,
        "COPY users FROM STDIN",
        "WRITE",
        "bulk load from the client",
    ),
    (
        P,
        "REFRESH MATERIALIZED VIEW totals",
        "WRITE",
        "refresh rewrites data",
    ),
    // Schema.
    (P, "CREATE TABLE t (id int)", "SCHEMA", "create table"),
    (
        P,
        "ALTER TABLE users ADD COLUMN x int",
        "SCHEMA",
        "alter table",
    ),
    (M, "DROP TABLE users", "SCHEMA", "drop table"),
    (P, "TRUNCATE users", "SCHEMA", "truncate"),
    (
        P,
        "CREATE INDEX i ON users (name)",
        "SCHEMA",
        "create index",
    ),
    (P, "CREATE VIEW v AS SELECT 1", "SCHEMA", "create view"),
    (M, "RENAME TABLE a TO b", "SCHEMA", "MySQL rename"),
    // Admin.
    (P, "GRANT SELECT ON users TO public", "ADMIN", "privileges"),
    (P, "REVOKE ALL ON users FROM bob", "ADMIN", "privileges"),
    (
        P,
        "CREATE ROLE hacker SUPERUSER",
        "ADMIN",
        "role management",
    ),
    (P, "ALTER ROLE bob SUPERUSER", "ADMIN", "role management"),
    (
        M,
        "CREATE USER 'x'@'%' IDENTIFIED BY 'p'",
        "unparsable",
        "MySQL user syntax is not parsed: refused",
    ),
    (P, "CREATE USER bob", "ADMIN", "user management"),
    (P, "SET search_path = evil", "ADMIN", "session setting"),
    (P, "SET ROLE postgres", "ADMIN", "identity switch"),
    (P, "RESET ALL", "ADMIN", "reset settings"),
    (P, "VACUUM users", "ADMIN", "maintenance"),
    (P, "ANALYZE users", "ADMIN", "statistics"),
    (
        P,
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
        "ADMIN",
        "table lock",
    ),
    (M, "LOCK TABLES users WRITE", "ADMIN", "MySQL table lock"),
    (P, "LOAD 'plpython3u'", "ADMIN", "loads a shared library"),
    (
        P,
        "PREPARE q AS DELETE FROM users",
        "ADMIN",
        "prepared statements hide their body",
    ),
    (P, "EXECUTE q", "ADMIN", "runs a prepared statement"),
    (P, "LISTEN events", "ADMIN", "listen"),
    (P, "NOTIFY events, 'x'", "ADMIN", "notify"),
    (P, "BEGIN", "ADMIN", "transaction control"),
    (P, "COMMIT", "ADMIN", "transaction control"),
    (M, "START TRANSACTION", "ADMIN", "transaction control"),
    (
        P,
        "COPY users TO '/tmp/x'",
        "ADMIN",
        "COPY to a server file",
    ),
    (
        P,
        "COPY users FROM PROGRAM 'curl evil'",
        "ADMIN",
        "COPY FROM PROGRAM runs a command",
    ),
    (
        P,
        "COPY (SELECT 1) TO PROGRAM 'sh'",
        "ADMIN",
        "COPY TO PROGRAM runs a command",
    ),
    (
        P,
        "SELECT pg_terminate_backend(42)",
        "ADMIN",
        "kills a session",
    ),
    (
        P,
        "SELECT set_config('role', 'postgres', false)",
        "ADMIN",
        "changes a setting",
    ),
    (
        P,
        "SELECT lo_import('/etc/passwd')",
        "ADMIN",
        "reads a server file",
    ),
    (
        P,
        "SELECT pg_read_file('/etc/passwd')",
        "ADMIN",
        "reads a server file",
    ),
    (
        P,
        "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS t(a int)",
        "ADMIN",
        "dblink in FROM",
    ),
    (
        P,
        "SELECT dblink_exec('DROP TABLE t')",
        "ADMIN",
        "dblink_exec",
    ),
    (P, "SELECT pg_sleep(10)", "ADMIN", "stalls a backend"),
    (
        P,
        "SELECT pg_catalog.pg_sleep(10)",
        "ADMIN",
        "schema-qualified side effect",
    ),
    (
        P,
        "SELECT \"pg_sleep\"(10)",
        "ADMIN",
        "quoted side-effect name",
    ),
    (
        P,
        "SELECT query_to_xml('DELETE FROM t RETURNING 1', true, true, '')",
        "ADMIN",
        "runs SQL from a string",
    ),
    (M, "SELECT SLEEP(5)", "ADMIN", "MySQL sleep"),
    (
        M,
        "SELECT BENCHMARK(1000000, MD5('a'))",
        "ADMIN",
        "MySQL benchmark",
    ),
    (
        M,
        "SELECT LOAD_FILE('/etc/passwd')",
        "ADMIN",
        "MySQL file read",
    ),
    (M, "SHOW GRANTS", "ADMIN", "privilege listing"),
    (M, "SHOW PROCESSLIST", "ADMIN", "process listing"),
    (M, "KILL 42", "ADMIN", "kills a connection"),
    (M, "USE mysql", "ADMIN", "switches database"),
    (L, "PRAGMA writable_schema = 1", "ADMIN", "SQLite pragma"),
    (
        L,
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "ADMIN",
        "SQLite attach",
    ),
    (P, "CREATE EXTENSION dblink", "ADMIN", "installs code"),
    (
        P,
        "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
        "ADMIN",
        "defines code",
    ),
    // Unknown functions and procedures.
    (
        P,
        "SELECT my_func(1)",
        "unknown-function",
        "a user-defined function is unknown",
    ),
    (
        P,
        "SELECT app.count(*) FROM t",
        "unknown-function",
        "a qualified name is not the built-in",
    ),
    (
        P,
        "SELECT \"COUNT\"(*) FROM t",
        "unknown-function",
        "a quoted upper-case name is not the built-in",
    ),
    (
        P,
        "SELECT * FROM my_table_func(1)",
        "unknown-function",
        "table function in FROM",
    ),
    (
        P,
        "CALL refresh_all()",
        "unknown-procedure",
        "CALL not on the allow list",
    ),
    // Parse failures.
    (
        P,
        "DO $$ BEGIN DELETE FROM t; END $$",
        "unparsable",
        "DO blocks are not parsed: refused",
    ),
    (
        M,
        "SELECT * FROM users INTO OUTFILE '/tmp/x'",
        "unparsable",
        "INTO OUTFILE is not parsed: refused",
    ),
    (
        M,
        "SELECT 1 INTO DUMPFILE '/tmp/x'",
        "unparsable",
        "INTO DUMPFILE is not parsed: refused",
    ),
    (
        M,
        "HANDLER users OPEN",
        "unparsable",
        "HANDLER is not parsed: refused",
    ),
    (P, "SELEC 1", "unparsable", "misspelt keyword"),
    (P, "SELECT (1", "unparsable", "unbalanced parenthesis"),
    (P, "", "empty", "nothing to run"),
    (P, "/* only a comment */", "empty", "only a comment"),
    // Stacked statements (default: one statement).
    (
        P,
        "SELECT 1; SELECT 2",
        "too-many-statements",
        "stacked queries refused by default",
    ),
    (
        M,
        "SELECT 1; DROP TABLE users",
        "too-many-statements",
        "stacked write refused",
    ),
    (
        P,
        "SELECT 1;",
        "READ",
        "a trailing semicolon is one statement",
    ),
];

fn outcome(dialect: Dialect, query: &str, options: &QueryOptions) -> String {
    match classify_with(dialect, query, options) {
        Ok(classes) => classes
            .iter()
            .max()
            .map(|c| c.as_str())
            .unwrap_or("none")
            .to_owned(),
        Err(refusal) => refusal.reason().to_owned(),
    }
}

#[test]
fn sql_decision_table() {
    let options = QueryOptions::default();
    let mut failures = Vec::new();
    for (dialect, query, expected, why) in TABLE {
        let got = outcome(*dialect, query, &options);
        if got != *expected {
            failures.push(format!(
                "{dialect:?} {query:?}: expected {expected}, got {got} ({why})"
            ));
        }
    }
    assert!(TABLE.len() >= 60);
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn multiple_statements_each_classified_and_the_highest_wins() {
    let options = QueryOptions {
        max_statements: 3,
        ..QueryOptions::default()
    };
    let classes = classify_with(P, "SELECT 1; UPDATE t SET a = 1; SELECT 2", &options).unwrap();
    assert_eq!(
        classes,
        [
            StatementClass::Read,
            StatementClass::Write,
            StatementClass::Read
        ]
    );
    assert!(allowed(&classes, StatementClass::Read).is_err());
    assert!(allowed(&classes, StatementClass::Write).is_ok());
    let rows = [
        (M, "SELECT 1; DROP TABLE users", "SCHEMA"),
        (P, "SELECT 1; GRANT ALL ON t TO x; SELECT 2", "ADMIN"),
        (
            P,
            "SELECT 1; SELECT 2; SELECT 3; SELECT 4",
            "too-many-statements",
        ),
    ];
    for (dialect, query, expected) in rows {
        assert_eq!(outcome(dialect, query, &options), expected, "{query}");
    }
}

#[test]
fn allow_lists_admit_named_functions_and_procedures() {
    let mut options = QueryOptions::default();
    assert_eq!(
        outcome(P, "SELECT reports.monthly_total(2024)", &options),
        "unknown-function"
    );
    options
        .allowed_functions
        .insert("reports.monthly_total".into());
    options.allowed_procedures.insert("refresh_stats".into());
    assert_eq!(
        outcome(P, "SELECT reports.monthly_total(2024)", &options),
        "READ"
    );
    assert_eq!(outcome(P, "CALL refresh_stats()", &options), "READ");
    // A deny-listed function stays what it is even when allow-listed.
    options.allowed_functions.insert("pg_sleep".into());
    assert_eq!(outcome(P, "SELECT pg_sleep(1)", &options), "ADMIN");
}

#[test]
fn viewer_may_run_read_only() {
    for (query, ok) in [
        ("SELECT * FROM t", true),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            false,
        ),
        ("SELECT * FROM t FOR UPDATE", false),
        ("DROP TABLE t", false),
    ] {
        let classes = classify(P, query).unwrap();
        assert_eq!(
            allowed(&classes, StatementClass::Read).is_ok(),
            ok,
            "{query}"
        );
    }
    assert_eq!(
        allowed(&[StatementClass::Schema], StatementClass::Write)
            .unwrap_err()
            .reason(),
        "class-not-permitted"
    );
    assert!(allowed(&[], StatementClass::Admin).is_err());
}

#[test]
fn size_token_and_depth_limits_refuse() {
    let options = QueryOptions::default();
    let big = format!("SELECT '{}'", "a".repeat(100 * 1024));
    assert_eq!(outcome(P, &big, &options), "too-large");
    let deep = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
    assert_eq!(outcome(P, &deep, &options), "too-complex");
    let nested = format!(
        "SELECT * FROM {}t{}",
        "(SELECT * FROM ".repeat(50),
        ")".repeat(50)
    );
    assert_eq!(outcome(P, &nested, &options), "too-complex");
    let nested_ok = format!(
        "SELECT * FROM {}t{}",
        "(SELECT * FROM ".repeat(6),
        " AS x)".repeat(6)
    );
    assert_eq!(outcome(P, &nested_ok, &options), "READ");
    let many = format!("SELECT 1{}", " + 1".repeat(6000));
    assert_eq!(outcome(P, &many, &options), "too-complex");
    let in_limits = format!("SELECT 1{}", " + 1".repeat(90));
    assert_eq!(outcome(P, &in_limits, &options), "READ");
    let conditions: Vec<String> = (0..40).map(|i| format!("c{i} = {i}")).collect();
    let in_limits = format!("SELECT * FROM t WHERE {}", conditions.join(" AND "));
    assert_eq!(outcome(P, &in_limits, &options), "READ");
}

#[test]
fn names_parse_as_configured() {
    for (name, dialect) in [
        ("postgres", P),
        ("mysql", M),
        ("sqlite", L),
        ("generic", Dialect::Generic),
        ("cypher", Dialect::Cypher),
    ] {
        assert_eq!(Dialect::parse(name), Some(dialect));
    }
    assert_eq!(Dialect::parse("oracle"), None);
    for class in [
        StatementClass::Read,
        StatementClass::Write,
        StatementClass::Schema,
        StatementClass::Admin,
    ] {
        assert_eq!(StatementClass::parse(class.as_str()), Some(class));
    }
    assert_eq!(StatementClass::parse("read"), Some(StatementClass::Read));
    assert_eq!(StatementClass::parse("owner"), None);
    assert!(StatementClass::Read < StatementClass::Write);
    assert!(StatementClass::Schema < StatementClass::Admin);
}
