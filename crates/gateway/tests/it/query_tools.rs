//! The query firewall and agent tools through a running gateway (the `query_tools` gate, real
//! upstream, time on the test clock): decision tables for PostgreSQL, MySQL and Cypher by role
//! (a viewer reads, an editor writes, a role the route does not name runs nothing), the query's
//! place read unambiguously, the size cap; the tool permission matrix (roles and API key
//! scopes), command policies on a plain and a shell tool, and `POST /admin/policy/command`
//! deciding as the route does. Every refusal is counted on record (`query.refused`,
//! `tool.denied`), every allowed tool call is a `tool.allowed` event, and nothing refused
//! reaches the upstream.

use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::Env;
use palisade_core::policy::{AuthRequirement, RoleDef};
use palisade_gateway::config::query::RouteQuery;
use palisade_gateway::config::tools::{CommandPolicyConfig, RouteTools};
use palisade_gateway::config::{Config, RouteConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn query(dialect: &str, field: Option<&str>, param: Option<&str>) -> RouteQuery {
    RouteQuery {
        dialect: dialect.into(),
        field: field.map(Into::into),
        param: param.map(Into::into),
        max_bytes: None,
        allow_multiple: false,
        allowed_functions: vec![],
        allowed_procedures: vec![],
        roles: BTreeMap::from([
            ("viewer".to_string(), "read".to_string()),
            ("editor".to_string(), "write".to_string()),
        ]),
    }
}

fn setup(c: &mut Config) {
    let up = c.routes[0].upstream.clone();
    let role = |name: &str, grants: &[&str], inherits: &[&str]| RoleDef {
        name: name.into(),
        grants: grants.iter().map(|g| g.to_string()).collect(),
        inherits: inherits.iter().map(|g| g.to_string()).collect(),
    };
    c.roles = palisade_core::policy::default_roles();
    c.roles.push(role("editor", &["*.write"], &["viewer"]));
    c.roles.push(role(
        "agent",
        &[
            "tools.git.execute",
            "tools.sh.execute",
            "tools.search.execute",
        ],
        &[],
    ));
    let r = |name: &str, prefix: &str| RouteConfig {
        name: Some(name.into()),
        prefix: prefix.into(),
        upstream: up.clone(),
        auth: Some(AuthRequirement::Any),
        ..Default::default()
    };
    let mut multi = query("postgres", Some("query"), None);
    multi.allow_multiple = true;
    multi.allowed_functions = vec!["reports.monthly_total".into()];
    c.routes = vec![
        RouteConfig {
            query: Some(query("postgres", Some("query"), None)),
            ..r("pg", "/sql/pg")
        },
        RouteConfig {
            query: Some(query("mysql", Some("sql"), None)),
            ..r("my", "/sql/my")
        },
        RouteConfig {
            query: Some(query("cypher", None, Some("q"))),
            ..r("graph", "/graph")
        },
        RouteConfig {
            query: Some(multi),
            ..r("multi", "/sql/multi")
        },
        RouteConfig {
            tools: Some(RouteTools {
                policy: Some("git".into()),
                ..Default::default()
            }),
            ..r("tools", "/tools/run")
        },
        RouteConfig {
            tools: Some(RouteTools {
                policy: Some("files".into()),
                shell: true,
                ..Default::default()
            }),
            ..r("shell", "/tools/shell")
        },
        RouteConfig {
            tools: Some(RouteTools::default()),
            ..r("plain", "/tools/plain")
        },
    ];
    c.tools.commands.insert(
        "git".into(),
        CommandPolicyConfig {
            allow: vec![
                "git log --oneline *".into(),
                "git status".into(),
                "rm -rf *".into(),
            ],
            shell: false,
            max_len: 4096,
        },
    );
    c.tools.commands.insert(
        "files".into(),
        CommandPolicyConfig {
            allow: vec!["ls *".into(), "cat *".into()],
            shell: false,
            max_len: 4096,
        },
    );
}

async fn post(env: &Env, path: &str, auth: &str, body: &str) -> reqwest::Response {
    let mut req = env
        .http
        .post(env.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    req = if auth.starts_with("pal_") {
        req.header("x-api-key", auth)
    } else {
        req.bearer_auth(auth)
    };
    req.send().await.unwrap()
}

/// The events of `event_type` among the recent ones, oldest first.
fn events(env: &Env, event_type: &str) -> Vec<palisade_gateway::audit::AuditEvent> {
    let recent = env.gw.gateway.state.audit.recent().into_iter();
    recent.filter(|e| e.event_type == event_type).collect()
}

/// `POST path` as `who` with `body`, answered with the problem `status`/`slug`: its `reason`.
async fn refused(env: &Env, path: &str, who: &str, body: &str, status: u16, slug: &str) -> Value {
    let problem = assert_problem(post(env, path, who, body).await, status, slug).await;
    problem["reason"].clone()
}

/// The number of refusals of `event_type` on record (each stored sample carries the count it
/// stands for), and their reasons.
fn on_record(env: &Env, event_type: &str) -> (u64, Vec<String>) {
    env.gw.gateway.state.audit.flush_refusals(true);
    let events = events(env, event_type);
    let count = events
        .iter()
        .map(|e| e.details["count"].as_u64().unwrap_or(1))
        .sum();
    let reasons = events
        .iter()
        .map(|e| e.details["reason"].as_str().unwrap_or("").to_string())
        .collect();
    (count, reasons)
}

/// What a caller whose ceiling is `max` should get for a query the classifier answers
/// `expected` (a class or a refusal code): 200, or the status, slug and reason.
fn want(expected: &str, max: &str) -> (u16, &'static str, String) {
    let rank = |c: &str| {
        ["READ", "WRITE", "SCHEMA", "ADMIN"]
            .iter()
            .position(|x| *x == c)
    };
    match rank(expected) {
        Some(r) if r <= rank(max).unwrap() => (200, "", String::new()),
        Some(_) => (403, "query-refused", "class-not-permitted".into()),
        None => match expected {
            "unparsable" | "empty" | "too-complex" | "not-utf8" => {
                (400, "query-invalid", expected.into())
            }
            _ => (403, "query-refused", expected.into()),
        },
    }
}

/// `text` form-encoded (a space is `+`).
fn form(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends each query of `table` as `who` (whose ceiling is `max`) to `path` and checks the
/// answer; returns how many were refused.
async fn run_table(
    env: &Env,
    path: &str,
    place: &str,
    who: &str,
    max: &str,
    table: &[(&str, &str)],
) -> u64 {
    let mut refused = 0;
    for (text, expected) in table {
        let before = env.up.count();
        let res = if path == "/graph" {
            env.http
                .get(env.url(&format!("{path}?q={}", form(text))))
                .bearer_auth(who)
                .send()
                .await
                .unwrap()
        } else {
            post(
                env,
                path,
                who,
                &json!({ place: text, "limit": 10 }).to_string(),
            )
            .await
        };
        let (status, slug, reason) = want(expected, max);
        if status == 200 {
            assert_eq!(res.status(), 200, "{path} {text:?} ({expected}) as {max}");
            assert_eq!(env.up.count(), before + 1, "{text:?} reached the upstream");
            continue;
        }
        refused += 1;
        let body = assert_problem(res, status, slug).await;
        assert_eq!(body["reason"], reason.as_str(), "{path} {text:?}: {body}");
        if reason == "class-not-permitted" {
            assert_eq!(body["class"], *expected, "{text:?}: {body}");
            assert_eq!(body["max"], max, "{text:?}: {body}");
        }
        let shown = body.to_string();
        assert!(
            text.len() < 12 || !shown.contains(text),
            "the query is never echoed: {shown}"
        );
        assert_eq!(
            env.up.count(),
            before,
            "{text:?} must not reach the upstream"
        );
    }
    refused
}

const POSTGRES: &[(&str, &str)] = &[
    (
        "SELECT id, name FROM users WHERE id = $1 ORDER BY name",
        "READ",
    ),
    ("WITH t AS (SELECT id FROM users) SELECT * FROM t", "READ"),
    ("SELECT $$ DELETE FROM users $$", "READ"),
    ("SELECT $tag$ ; DROP TABLE t; $tag$", "READ"),
    (
        "SELECT 1 /* outer /* DROP TABLE t; */ still comment */",
        "READ",
    ),
    ("sElEcT * FrOm users", "READ"),
    ("EXPLAIN SELECT * FROM users", "READ"),
    ("DELETE FROM users", "WRITE"),
    ("dElEtE FROM users", "WRITE"),
    ("INSERT INTO users (name) VALUES ('a')", "WRITE"),
    (
        "WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
        "WRITE",
    ),
    ("SELECT * INTO backup FROM users", "WRITE"),
    ("SELECT * FROM users FOR UPDATE", "WRITE"),
    ("EXPLAIN ANALYZE DELETE FROM users", "WRITE"),
    ("SELECT nextval('orders_id_seq')", "WRITE"),
    ("CREATE TABLE t (id int)", "SCHEMA"),
    ("TRUNCATE users", "SCHEMA"),
    ("COPY users FROM PROGRAM 'curl evil'", "ADMIN"),
    ("COPY (SELECT 1) TO PROGRAM 'sh'", "ADMIN"),
    ("SELECT pg_sleep(10)", "ADMIN"),
    ("SELECT pg_catalog.pg_sleep(10)", "ADMIN"),
    ("SELECT set_config('role', 'postgres', false)", "ADMIN"),
    ("SELECT lo_import('/etc/passwd')", "ADMIN"),
    ("SELECT dblink_exec('DROP TABLE t')", "ADMIN"),
    ("SELECT pg_terminate_backend(42)", "ADMIN"),
    ("SELECT pg_read_file('/etc/passwd')", "ADMIN"),
    ("CREATE ROLE hacker SUPERUSER", "ADMIN"),
    ("GRANT SELECT ON users TO public", "ADMIN"),
    ("SET ROLE postgres", "ADMIN"),
    ("CALL refresh_all()", "unknown-procedure"),
    ("SELECT my_func(1)", "unknown-function"),
    ("SELECT 1; DELETE FROM users", "too-many-statements"),
    ("SELECT 'a\\' ; DROP TABLE t; -- '", "too-many-statements"),
    ("SELECT 1 /*! DROP TABLE t */", "executable-comment"),
    ("DO $$ BEGIN DELETE FROM t; END $$", "unparsable"),
    ("ＤＥＬＥＴＥ FROM users", "unparsable"),
    ("DELΕTE FROM users", "unparsable"),
    ("SELECT $$ never closed", "unparsable"),
    ("SELEC 1", "unparsable"),
    ("/* only a comment */", "empty"),
];

const MYSQL: &[(&str, &str)] = &[
    (
        "SELECT u.id, COUNT(*) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id",
        "READ",
    ),
    ("SELECT 1 # DROP TABLE t", "READ"),
    ("SELECT `select` FROM `from`", "READ"),
    ("SELECT 'a\\' ; DROP TABLE t; -- '", "READ"),
    (
        "SELECT 1 /*! UNION SELECT password FROM mysql.user */",
        "READ",
    ),
    ("SELECT * FROM t /*! FOR UPDATE */", "WRITE"),
    ("DELETE FROM users WHERE id = 1", "WRITE"),
    ("REPLACE INTO users VALUES (1, 'a')", "WRITE"),
    ("SELECT * FROM users FOR UPDATE", "WRITE"),
    ("DROP TABLE users", "SCHEMA"),
    ("SELECT SLEEP(5)", "ADMIN"),
    ("SELECT LOAD_FILE('/etc/passwd')", "ADMIN"),
    ("SHOW GRANTS", "ADMIN"),
    ("KILL 42", "ADMIN"),
    ("SELECT 1 /*!50000 ; DROP TABLE t */", "too-many-statements"),
    ("SELECT 1 /*M! , sleep(5) */", "executable-comment"),
    ("SELECT 1; DROP TABLE users", "too-many-statements"),
    ("SELECT * FROM users INTO OUTFILE '/tmp/x'", "unparsable"),
    (
        "SELECT 1 /* outer /* inner */ DROP TABLE t; */",
        "unparsable",
    ),
];

const CYPHER: &[(&str, &str)] = &[
    ("MATCH (n:Person) RETURN n.name", "READ"),
    (
        "MATCH (n) WHERE n.note = 'DETACH DELETE n' RETURN n",
        "READ",
    ),
    ("MATCH (n) // DELETE n\nRETURN n", "READ"),
    ("MATCH (`DELETE`) RETURN `DELETE`", "READ"),
    ("CALL db.labels()", "READ"),
    ("match (n) detach delete n", "WRITE"),
    ("CREATE (n:Person {name: 'a'})", "WRITE"),
    ("MATCH (n) SET n.admin = true", "WRITE"),
    (
        "LOAD CSV FROM 'data.csv' AS row CREATE (:Row {v: row[0]})",
        "WRITE",
    ),
    (
        "CREATE INDEX person_name FOR (n:Person) ON (n.name)",
        "SCHEMA",
    ),
    ("CALL dbms.killQuery('q-1')", "ADMIN"),
    ("CALL apoc.cypher.runFile('x')", "ADMIN"),
    (
        "LOAD CSV FROM 'https://evil.example/x.csv' AS row RETURN row",
        "ADMIN",
    ),
    ("CREATE USER bob SET PASSWORD 'x'", "ADMIN"),
    ("GRANT ROLE admin TO bob", "ADMIN"),
    (
        "RETURN apoc.cypher.runWrite('MATCH (n) DELETE n', {})",
        "unknown-function",
    ),
    ("CALL custom.proc()", "unknown-procedure"),
    ("MATCH (n) RETURN n; CREATE (m)", "too-many-statements"),
    ("MATCH (n) ＤＥＬＥＴＥ n", "unparsable"),
];

#[tokio::test]
async fn decision_tables_by_role_for_postgres_mysql_and_cypher() {
    let env = Env::start(setup).await;
    let (_, viewer) = signed_in(&env, "vic@example.com", &["viewer"]).await;
    let (_, editor) = signed_in(&env, "eddie@example.com", &["editor"]).await;
    let mut refused = 0;
    for (who, max) in [(&viewer, "READ"), (&editor, "WRITE")] {
        refused += run_table(&env, "/sql/pg", "query", who, max, POSTGRES).await;
        refused += run_table(&env, "/sql/my", "sql", who, max, MYSQL).await;
        refused += run_table(&env, "/graph", "q", who, max, CYPHER).await;
    }
    let (count, reasons) = on_record(&env, "query.refused");
    assert_eq!(count, refused, "every refusal is on record");
    for reason in [
        "class-not-permitted",
        "unknown-function",
        "unknown-procedure",
        "too-many-statements",
        "executable-comment",
        "unparsable",
        "empty",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
    // The event names the class and the ceiling, never the query.
    let event = events(&env, "query.refused")
        .into_iter()
        .find(|e| e.details["class"] == "ADMIN")
        .expect("an ADMIN refusal");
    // (Samples stand for several refusals of one caller, route and reason: the viewer's or
    // the editor's.)
    assert!(
        event.details["max"] == "READ" || event.details["max"] == "WRITE",
        "{}",
        event.details
    );
    assert!(event.actor.is_some());
    assert!(
        !event.details.to_string().contains("pg_"),
        "{}",
        event.details
    );
}

#[tokio::test]
async fn an_allowed_query_passes_untouched_and_the_route_options_apply() {
    let env = Env::start(setup).await;
    let (_, viewer) = signed_in(&env, "vic@example.com", &["viewer"]).await;
    let (_, agent) = signed_in(&env, "ada@example.com", &["agent"]).await;
    let body = r#"{"query":"SELECT id FROM users WHERE name = 'O''Brien'","params":[1,"x"]}"#;
    let res = post(&env, "/sql/pg", &viewer, body).await;
    assert_eq!(res.status(), 200);
    let body_len: Value = res.json().await.unwrap();
    assert_eq!(
        body_len["body_len"],
        body.len(),
        "the body is forwarded whole"
    );

    // Several statements where the route allows them; the highest class decides.
    let multi = |q: &str| json!({ "query": q }).to_string();
    let res = post(&env, "/sql/multi", &viewer, &multi("SELECT 1; SELECT 2")).await;
    assert_eq!(res.status(), 200);
    let res = post(
        &env,
        "/sql/multi",
        &viewer,
        &multi("SELECT 1; DELETE FROM t"),
    )
    .await;
    assert_problem(res, 403, "query-refused").await;
    // A function on the route's allow list is a read; elsewhere it is unknown.
    let call = multi("SELECT reports.monthly_total(3)");
    assert_eq!(post(&env, "/sql/multi", &viewer, &call).await.status(), 200);
    let body = assert_problem(
        post(&env, "/sql/pg", &viewer, &call).await,
        403,
        "query-refused",
    )
    .await;
    assert_eq!(body["reason"], "unknown-function");

    // A role the route does not name runs nothing, not even a read.
    let body = assert_problem(
        post(&env, "/sql/pg", &agent, &multi("SELECT 1")).await,
        403,
        "query-refused",
    )
    .await;
    assert_eq!(body["reason"], "no-permitted-role");

    // The query's place, read once and exactly.
    for (bad, reason) in [
        (r#"{"limit":1}"#, "missing"),
        (r#"{"query":5}"#, "not-text"),
        (
            r#"{"query":"SELECT 1","query":"DELETE FROM t"}"#,
            "ambiguous",
        ),
        (
            r#"{"query":"SELECT 1","QUERY":"DELETE FROM t"}"#,
            "ambiguous",
        ),
        (r#"{"Query":"DELETE FROM t"}"#, "ambiguous"),
        ("SELECT 1", "not-json"),
        (r#"[{"query":"SELECT 1"}]"#, "not-json"),
    ] {
        let body = assert_problem(
            post(&env, "/sql/pg", &viewer, bad).await,
            400,
            "query-invalid",
        )
        .await;
        assert_eq!(body["reason"], reason, "{bad}");
    }
    for q in [
        "q=MATCH+(n)+RETURN+n&q=MATCH+(n)+DELETE+n",
        "Q=MATCH+(n)+DELETE+n",
        "x=1",
        "q=%ff",
    ] {
        let res = env
            .http
            .get(env.url(&format!("/graph?{q}")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, "query-invalid").await;
    }
    // Over the size cap (100 KB by default): 413.
    let big = format!("SELECT 1 -- {}", "a".repeat(100 * 1024));
    let body = assert_problem(
        post(&env, "/sql/pg", &viewer, &multi(&big)).await,
        413,
        "query-too-large",
    )
    .await;
    assert_eq!(body["reason"], "too-large");
    // Without a credential the route's policy answers first.
    let res = env
        .http
        .post(env.url("/sql/pg"))
        .body(multi("SELECT 1"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "missing").await;
    let (count, _) = on_record(&env, "query.refused");
    assert_eq!(count, 3 + 7 + 4 + 1, "every refusal is on record");
}

#[tokio::test]
async fn tool_permissions_come_from_roles_and_key_scopes() {
    let env = Env::start(setup).await;
    let (_, agent) = signed_in(&env, "ada@example.com", &["agent"]).await;
    let (_, viewer) = signed_in(&env, "vic@example.com", &["viewer"]).await;
    let tool = |name: &str| json!({ "tool": name, "args": {"q": "x"} }).to_string();
    let before = env.up.count();
    assert_eq!(
        post(&env, "/tools/plain", &agent, &tool("search"))
            .await
            .status(),
        200
    );
    assert_eq!(
        refused(
            &env,
            "/tools/plain",
            &agent,
            &tool("deploy"),
            403,
            "tool-denied"
        )
        .await,
        "permission-not-granted"
    );
    assert_eq!(
        refused(
            &env,
            "/tools/plain",
            &viewer,
            &tool("search"),
            403,
            "tool-denied"
        )
        .await,
        "permission-not-granted"
    );
    for bad in ["Search", "", "rm -rf", "../x", &"a".repeat(65), "tööl"] {
        assert_eq!(
            refused(
                &env,
                "/tools/plain",
                &agent,
                &tool(bad),
                400,
                "tool-invalid"
            )
            .await,
            "invalid-tool-name",
            "{bad:?}"
        );
    }
    for (bad, reason) in [
        (r#"{"args":{}}"#.to_string(), "missing-tool"),
        (
            r#"{"tool":"search","tool":"deploy"}"#.to_string(),
            "ambiguous-tool",
        ),
        (
            r#"{"tool":"search","TOOL":"deploy"}"#.to_string(),
            "ambiguous-tool",
        ),
        (r#"{"tool":["search"]}"#.to_string(), "tool-not-text"),
        ("tool=search".to_string(), "not-json"),
    ] {
        assert_eq!(
            refused(&env, "/tools/plain", &agent, &bad, 400, "tool-invalid").await,
            reason,
            "{bad}"
        );
    }
    // An API key narrowed to one tool runs that one only.
    let res = post(
        &env,
        "/auth/api-keys",
        &agent,
        &json!({"name": "search-only", "scopes": ["tools.search.execute"]}).to_string(),
    )
    .await;
    assert_eq!(res.status(), 201);
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post(&env, "/tools/plain", &key, &tool("search"))
            .await
            .status(),
        200
    );
    assert_eq!(
        refused(&env, "/tools/plain", &key, &tool("git"), 403, "tool-denied").await,
        "permission-not-granted"
    );
    assert_eq!(
        env.up.count(),
        before + 2,
        "only the two allowed calls reached the upstream"
    );

    let allowed: Vec<_> = events(&env, "tool.allowed");
    assert_eq!(allowed.len(), 2);
    assert_eq!(allowed[0].details["tool"], "search");
    assert_eq!(allowed[0].details["permission"], "tools.search.execute");
    let (count, reasons) = on_record(&env, "tool.denied");
    assert_eq!(count, 3 + 6 + 5);
    assert!(reasons.iter().any(|r| r == "invalid-tool-name"));
}

/// (command, tool route, expected reason: `allow-rule` passes)
const COMMANDS: &[(&str, &str, &str)] = &[
    ("git log --oneline main", "/tools/run", "allow-rule"),
    ("git status", "/tools/run", "allow-rule"),
    ("git push --force", "/tools/run", "no-matching-rule"),
    ("git log --oneline --all", "/tools/run", "no-matching-rule"),
    ("rm -rf build", "/tools/run", "allow-rule"),
    ("rm -rf /", "/tools/run", "rm-root"),
    ("rm -rf /tmp/..", "/tools/run", "rm-root"),
    ("env X=1 rm -rf /", "/tools/run", "rm-root"),
    (":(){ :|:& };:", "/tools/run", "fork-bomb"),
    ("sudo git status", "/tools/run", "privilege-escalation"),
    ("dd if=/dev/zero of=/dev/sda", "/tools/run", "dd-device"),
    ("mkfs.ext4 /dev/sda1", "/tools/run", "mkfs"),
    (
        "chmod 777 /etc/passwd",
        "/tools/run",
        "chmod-world-writable",
    ),
    ("bash -c 'rm -rf /'", "/tools/run", "rm-root"),
    ("git log --oneline 'main", "/tools/run", "unparsable"),
    ("", "/tools/run", "empty-command"),
    ("ls src", "/tools/shell", "allow-rule"),
    ("cat README.md", "/tools/shell", "allow-rule"),
    ("ls src; rm -rf ~", "/tools/shell", "shell-metacharacter"),
    ("cat $(whoami)", "/tools/shell", "shell-metacharacter"),
    ("cat `id`", "/tools/shell", "shell-metacharacter"),
    ("ls | sh", "/tools/shell", "shell-metacharacter"),
    ("ls & sleep 9", "/tools/shell", "shell-metacharacter"),
    ("cat < /etc/shadow", "/tools/shell", "shell-metacharacter"),
    ("ls > /etc/passwd", "/tools/shell", "shell-metacharacter"),
    ("ls\nrm -rf x", "/tools/shell", "shell-metacharacter"),
    ("cp a b", "/tools/shell", "no-matching-rule"),
];

#[tokio::test]
async fn command_policies_decide_on_the_route_and_at_the_admin_endpoint_alike() {
    let env = Env::start(setup).await;
    let (_, agent) = signed_in(&env, "ada@example.com", &["agent"]).await;
    let admin = env.admin("root@example.com").await;
    let mut denied = 0;
    for (command, path, reason) in COMMANDS {
        let tool = if *path == "/tools/run" { "git" } else { "sh" };
        let before = env.up.count();
        let res = post(
            &env,
            path,
            &agent,
            &json!({ "tool": tool, "command": command }).to_string(),
        )
        .await;
        if *reason == "allow-rule" {
            assert_eq!(res.status(), 200, "{command:?}");
            assert_eq!(env.up.count(), before + 1);
        } else {
            denied += 1;
            let body = assert_problem(res, 403, "tool-denied").await;
            assert_eq!(body["reason"], *reason, "{command:?}: {body}");
            assert_eq!(env.up.count(), before, "{command:?} reached the upstream");
        }
        // The admin endpoint decides the same, given the route's policy and shell flag.
        let (policy, shell) = if *path == "/tools/run" {
            ("git", false)
        } else {
            ("files", true)
        };
        let res = post(
            &env,
            "/admin/policy/command",
            &admin,
            &json!({ "policy": policy, "tool": tool, "command": command, "shell": shell })
                .to_string(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        let want = if *reason == "allow-rule" {
            "allow"
        } else {
            "deny"
        };
        assert_eq!(answer["decision"], want, "{command:?}: {answer}");
        assert_eq!(answer["reason"], *reason, "{command:?}: {answer}");
    }
    // Without the shell flag the `files` policy (shell = false) lets `$(…)` through as an
    // argument: the flag is the route's, and the endpoint is told it.
    let res = post(
        &env,
        "/admin/policy/command",
        &admin,
        &json!({ "policy": "files", "tool": "sh", "command": "cat $(whoami)" }).to_string(),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["decision"], "allow");
    // The rule that allowed a command is named, on the route's event and at the endpoint.
    let event = events(&env, "tool.allowed").remove(0);
    assert_eq!(event.details["rule"], "git log --oneline *");
    assert_eq!(event.details["program"], "git");
    // A missing command on a command tool is invalid.
    let body = assert_problem(
        post(&env, "/tools/run", &agent, r#"{"tool":"git"}"#).await,
        400,
        "tool-invalid",
    )
    .await;
    assert_eq!(body["reason"], "missing-command");
    let (count, _) = on_record(&env, "tool.denied");
    assert_eq!(count, denied + 1);
    let checked = events(&env, "policy.command_checked").len();
    assert_eq!(checked, COMMANDS.len() + 1, "one event per check");

    // Inline rules, default deny, and the always-refused set whatever the rules say.
    for (rules, command, decision, reason, rule) in [
        (
            json!({"allow": ["make *"], "shell": true}),
            "make test",
            "allow",
            "allow-rule",
            Some("make *"),
        ),
        (
            json!({"allow": ["make *"]}),
            "make test; reboot",
            "deny",
            "shell-metacharacter",
            None,
        ),
        (json!({"allow": []}), "ls", "deny", "no-matching-rule", None),
        (
            json!({"allow": ["sudo *"]}),
            "sudo ls",
            "deny",
            "privilege-escalation",
            None,
        ),
        (
            json!({"allow": ["rm -rf *"], "shell": false}),
            "rm -rf /",
            "deny",
            "rm-root",
            None,
        ),
    ] {
        let res = post(
            &env,
            "/admin/policy/command",
            &admin,
            &json!({ "rules": rules, "command": command }).to_string(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["decision"], decision, "{command}");
        assert_eq!(answer["reason"], reason, "{command}");
        assert_eq!(answer["rule"], json!(rule), "{command}");
        assert_eq!(answer["policy"], "inline");
    }
    // Bad requests, an unknown policy, and a caller without admin.policy.read.
    for (body, status, slug) in [
        (json!({"command": "ls"}), 400, "invalid-command-check"),
        (
            json!({"policy": "git", "rules": {"allow": []}, "command": "ls"}),
            400,
            "invalid-command-check",
        ),
        (
            json!({"rules": {"allow": ["ls 'x"]}, "command": "ls"}),
            400,
            "invalid-command-check",
        ),
        (json!({"policy": "nope", "command": "ls"}), 404, "not-found"),
    ] {
        let res = post(&env, "/admin/policy/command", &admin, &body.to_string()).await;
        assert_problem(res, status, slug).await;
    }
    let res = post(
        &env,
        "/admin/policy/command",
        &agent,
        &json!({"policy": "git", "command": "ls"}).to_string(),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
}

#[test]
fn config_check_names_what_is_wrong() {
    let up = RouteConfig {
        prefix: "/q".into(),
        upstream: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    let mut c = Config::default();
    let mut bad = query("oracle", Some("query"), Some("q"));
    bad.roles.insert("viewer".into(), "delete".into());
    bad.roles.insert("ghost".into(), "read".into());
    let mut neither = query("postgres", None, None);
    neither.roles.clear();
    c.routes = vec![
        RouteConfig {
            query: Some(bad),
            ..up.clone()
        },
        RouteConfig {
            prefix: "/n".into(),
            query: Some(neither),
            ..up.clone()
        },
        RouteConfig {
            prefix: "/t".into(),
            tools: Some(RouteTools {
                policy: Some("missing".into()),
                ..Default::default()
            }),
            ..up
        },
    ];
    c.tools.commands.insert(
        "broken".into(),
        CommandPolicyConfig {
            allow: vec!["ls 'unterminated".into()],
            max_len: 0,
            ..Default::default()
        },
    );
    let problems =
        palisade_gateway::config::checks::problems(&c, palisade_gateway::config::Environment::Dev)
            .join("\n");
    for want in [
        "query.dialect: \"oracle\"",
        "not both",
        "needs field",
        "\"delete\" is not one of read, write, schema, admin",
        "\"ghost\" is not a declared role",
        "query.roles: name at least one role",
        "tools.policy: \"missing\" is not declared",
        "tools.commands.broken.allow",
        "tools.commands.broken.max_len",
    ] {
        assert!(problems.contains(want), "{want:?} in:\n{problems}");
    }
}

#[tokio::test]
async fn forward_auth_denies_query_and_tool_routes_it_cannot_check() {
    let env = Env::start(setup).await;
    let (_, viewer) = signed_in(&env, "vic@example.com", &["viewer"]).await;
    let (_, agent) = signed_in(&env, "ada@example.com", &["agent"]).await;
    for (who, method, uri, slug) in [
        (
            &viewer,
            "GET",
            "/graph?q=MATCH+(n)+DETACH+DELETE+n",
            "query-refused",
        ),
        (&viewer, "POST", "/sql/pg", "query-refused"),
        (&agent, "POST", "/tools/run", "tool-denied"),
    ] {
        let res = env
            .http
            .get(env.url("/auth/verify"))
            .header("x-original-method", method)
            .header("x-original-uri", uri)
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, 403, slug).await;
        assert_eq!(body["reason"], "forward-auth-unsupported");
    }
    let (count, reasons) = on_record(&env, "query.refused");
    assert_eq!(count, 2);
    assert!(reasons.iter().all(|r| r == "forward-auth-unsupported"));
    assert_eq!(on_record(&env, "tool.denied").0, 1);
}

#[tokio::test]
async fn a_reload_that_changes_query_or_tools_options_is_refused_until_a_restart() {
    let env = Env::start(setup).await;
    let admin = env.admin("root@example.com").await;
    let (_, viewer) = signed_in(&env, "vic@example.com", &["viewer"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palisade.toml");
    *env.gw.gateway.state.config_source.lock().unwrap() = palisade_gateway::config::ConfigSource {
        file: Some(file.clone()),
        env: Vec::new(),
    };
    let running: Config = env.gw.gateway.state.config.clone();
    let reload = |config: Config| {
        std::fs::write(&file, toml::to_string(&config).unwrap()).unwrap();
        env.http
            .post(env.url("/admin/config/reload"))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(
        reload(running.clone()).await.unwrap().status(),
        200,
        "nothing changed"
    );
    let mut wider = running.clone();
    let roles = &mut wider.routes[0].query.as_mut().unwrap().roles;
    roles.insert("viewer".into(), "admin".into());
    let mut looser = running.clone();
    looser
        .tools
        .commands
        .get_mut("git")
        .unwrap()
        .allow
        .push("curl *".into());
    for changed in [wider, looser] {
        let body = assert_problem(reload(changed).await.unwrap(), 422, "reload-refused").await;
        assert!(body["problems"].to_string().contains("restart"), "{body}");
    }
    let delete = json!({ "query": "DELETE FROM users" }).to_string();
    assert_problem(
        post(&env, "/sql/pg", &viewer, &delete).await,
        403,
        "query-refused",
    )
    .await;
}
