//! Decision table of the Cypher classifier: input, expected class or refusal code, and why.

use super::{Dialect, QueryOptions, classify_with};

const TABLE: &[(&str, &str, &str)] = &[
    // Reads.
    ("MATCH (n:Person) RETURN n.name", "READ", "match and return"),
    (
        "OPTIONAL MATCH (n)-[:KNOWS]->(m) WHERE m.age > 30 RETURN m ORDER BY m.age SKIP 5 LIMIT 10",
        "READ",
        "read clauses",
    ),
    (
        "UNWIND [1, 2, 3] AS x WITH x WHERE x > 1 RETURN x",
        "READ",
        "unwind and with",
    ),
    (
        "MATCH (n) RETURN n UNION MATCH (m) RETURN m",
        "READ",
        "union",
    ),
    (
        "MATCH (n) RETURN count(n), collect(n.name)",
        "READ",
        "built-in functions",
    ),
    (
        "RETURN date.truncate('month', date())",
        "READ",
        "temporal namespaced built-in",
    ),
    ("CALL db.labels()", "READ", "allow-listed procedure"),
    (
        "CALL db.labels() YIELD label RETURN label",
        "READ",
        "procedure with YIELD",
    ),
    ("SHOW INDEXES", "READ", "index listing"),
    (
        "CALL { MATCH (n) RETURN n } RETURN n",
        "READ",
        "read subquery",
    ),
    // Keywords hidden in literals, comments, properties and labels.
    (
        "MATCH (n) WHERE n.note = 'DETACH DELETE n' RETURN n",
        "READ",
        "keyword inside a single-quoted string",
    ),
    (
        "MATCH (n) WHERE n.note = \"it\\\"s SET\" RETURN n",
        "READ",
        "escaped quote inside a double-quoted string",
    ),
    ("MATCH (n) // DELETE n\nRETURN n", "READ", "line comment"),
    (
        "MATCH (n) /* CREATE (m) */ RETURN n",
        "READ",
        "block comment",
    ),
    (
        "MATCH (n:Delete)-[:CREATE]->(m) RETURN n.set, m.`remove`",
        "READ",
        "labels, types and properties named like keywords",
    ),
    (
        "MATCH (n) RETURN {set: 1, delete: 2}",
        "READ",
        "map keys named like keywords",
    ),
    (
        "MATCH (`DELETE`) RETURN `DELETE`",
        "READ",
        "backtick identifier named like a keyword",
    ),
    ("match (n) detach delete n", "WRITE", "lower-case keywords"),
    // Writes.
    ("CREATE (n:Person {name: 'a'})", "WRITE", "create a node"),
    (
        "MERGE (n:Person {id: 1}) ON CREATE SET n.created = timestamp()",
        "WRITE",
        "merge",
    ),
    ("MATCH (n) SET n.admin = true", "WRITE", "set a property"),
    ("MATCH (n) DELETE n", "WRITE", "delete"),
    ("MATCH (n) DETACH DELETE n", "WRITE", "detach delete"),
    ("MATCH (n) REMOVE n:Admin", "WRITE", "remove a label"),
    (
        "MATCH p = (a)-->(b) FOREACH (n IN nodes(p) | SET n.seen = true)",
        "WRITE",
        "foreach",
    ),
    (
        "LOAD CSV FROM 'data.csv' AS row CREATE (:Row {v: row[0]})",
        "WRITE",
        "LOAD CSV from a file name",
    ),
    (
        "MATCH (n) CALL { WITH n DELETE n } IN TRANSACTIONS OF 100 ROWS",
        "WRITE",
        "write inside a transactional subquery",
    ),
    (
        "MATCH (n) RETURN n; CREATE (m)",
        "too-many-statements",
        "stacked write refused by default",
    ),
    ("INSERT (n:Person)", "WRITE", "Cypher 25 INSERT"),
    // Schema.
    (
        "CREATE INDEX person_name FOR (n:Person) ON (n.name)",
        "SCHEMA",
        "create index",
    ),
    (
        "CREATE CONSTRAINT c FOR (n:Person) REQUIRE n.id IS UNIQUE",
        "SCHEMA",
        "create constraint",
    ),
    ("DROP INDEX person_name", "SCHEMA", "drop index"),
    (
        "CREATE TEXT INDEX t FOR (n:Doc) ON (n.body)",
        "SCHEMA",
        "typed index",
    ),
    // Admin.
    ("CALL dbms.killQuery('q-1')", "ADMIN", "dbms procedure"),
    ("CALL apoc.cypher.runFile('x')", "ADMIN", "apoc procedure"),
    (
        "LOAD CSV FROM 'https://evil.example/x.csv' AS row RETURN row",
        "ADMIN",
        "LOAD CSV from a URL",
    ),
    ("SHOW USERS", "ADMIN", "user listing"),
    ("SHOW PRIVILEGES", "ADMIN", "privilege listing"),
    (
        "CREATE USER bob SET PASSWORD 'x'",
        "ADMIN",
        "user management",
    ),
    ("CREATE ROLE hacker", "ADMIN", "role management"),
    ("DROP DATABASE neo4j", "ADMIN", "drop a database"),
    ("GRANT ROLE admin TO bob", "ADMIN", "grant"),
    ("DENY READ {*} ON GRAPH * TO bob", "ADMIN", "deny"),
    ("REVOKE ROLE admin FROM bob", "ADMIN", "revoke"),
    ("USE system MATCH (n) RETURN n", "ADMIN", "switch database"),
    ("ALTER USER bob SET PASSWORD 'y'", "ADMIN", "alter user"),
    ("STOP DATABASE neo4j", "ADMIN", "stop a database"),
    // Unknown procedures and functions.
    (
        "CALL db.createLabel('X')",
        "unknown-procedure",
        "db procedure not on the allow list",
    ),
    ("CALL custom.proc()", "unknown-procedure", "user procedure"),
    (
        "RETURN apoc.cypher.runWrite('MATCH (n) DELETE n', {})",
        "unknown-function",
        "apoc function in an expression",
    ),
    (
        "MATCH (n) RETURN my.udf(n)",
        "unknown-function",
        "user-defined function",
    ),
    // Parse failures and tricks.
    (
        "MATCH (n) WHERE n.x = 'open RETURN n",
        "unparsable",
        "unterminated string",
    ),
    (
        "MATCH (n) /* DELETE n",
        "unparsable",
        "unterminated comment",
    ),
    (
        "MATCH (`n) RETURN 1",
        "unparsable",
        "unterminated backtick identifier",
    ),
    ("MATCH (n RETURN n", "unparsable", "unbalanced parenthesis"),
    (
        "MATCH (n) ＤＥＬＥＴＥ n",
        "unparsable",
        "fullwidth keyword",
    ),
    (
        "MATCH (n) DΕLETE n",
        "unparsable",
        "Greek epsilon homoglyph",
    ),
    ("", "empty", "nothing"),
    ("// only a comment", "empty", "only a comment"),
];

#[test]
fn cypher_decision_table() {
    let options = QueryOptions::default();
    let mut failures = Vec::new();
    for (query, expected, why) in TABLE {
        let got = match classify_with(Dialect::Cypher, query, &options) {
            Ok(classes) => classes
                .iter()
                .max()
                .map(|c| c.as_str())
                .unwrap_or("none")
                .to_owned(),
            Err(refusal) => refusal.reason().to_owned(),
        };
        if got != *expected {
            failures.push(format!("{query:?}: expected {expected}, got {got} ({why})"));
        }
    }
    assert!(TABLE.len() >= 30);
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn cypher_allow_list_and_limits() {
    let mut options = QueryOptions::default();
    options.allowed_procedures.insert("apoc.meta.schema".into());
    options.allowed_functions.insert("apoc.text.join".into());
    let read =
        |q: &str, o: &QueryOptions| classify_with(Dialect::Cypher, q, o).map(|c| c[0].as_str());
    assert_eq!(read("CALL apoc.meta.schema()", &options), Ok("READ"));
    assert_eq!(
        read("RETURN apoc.text.join(['a'], ',')", &options),
        Ok("READ")
    );
    let deep = format!("RETURN {}1{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(read(&deep, &options).unwrap_err().reason(), "too-complex");
    let many = format!("RETURN 1{}", " + 1".repeat(6000));
    assert_eq!(read(&many, &options).unwrap_err().reason(), "too-complex");
}
