//! Accounts imported as they are (`identity::import`): who they are to tokens, upstreams, the
//! trail and tenant routes; the rows refused and why; re-runs and dry runs. Time comes from the
//! test clock of `Env`.

use crate::authorization::policies;
use crate::common::*;
use crate::identity::Env;
use base64::Engine;
use palisade_gateway::audit::RequestOrigin;
use palisade_gateway::identity::import::{
    ImportInput, ImportRun, ImportedAccount, RowOutcome, RowRefusal,
};
use palisade_gateway::identity::manage::By;
use serde_json::{Value, json};

const PASSWORD: &str = "an imported passphrase 77";

fn by(origin: &RequestOrigin) -> By<'_> {
    By {
        actor: "importer".into(),
        origin,
    }
}

fn ada(hash: Option<String>) -> ImportedAccount {
    ImportedAccount {
        external_id: Some("1001".into()),
        email: "Ada@Example.com".into(),
        name: Some("Ada".into()),
        roles: vec!["member".into()],
        tenants: vec![("g1".into(), "member".into())],
        tier: Some("pro".into()),
        password_hash: hash,
        ..Default::default()
    }
}

/// Imports `accounts` as rows 1, 2, … and answers their outcomes.
pub async fn import(env: &Env, accounts: Vec<ImportedAccount>, dry_run: bool) -> Vec<RowOutcome> {
    let id = env.identity();
    let roles = palisade_gateway::authz::compile(&env.gw.gateway.state.config).unwrap();
    let role_exists = |r: &str| roles.matrix().has_role(r);
    let run = ImportRun {
        role_exists: &role_exists,
        dry_run,
    };
    let rows = accounts
        .into_iter()
        .enumerate()
        .map(|(i, a)| ImportInput {
            row: i as u64 + 1,
            account: Ok(a),
        })
        .collect();
    let origin = RequestOrigin::default();
    let out = id.import_users(rows, &run, &by(&origin)).await.unwrap();
    env.gw.gateway.state.tenants.reload().await.unwrap();
    out
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn login(env: &Env, email: &str, password: &str) -> reqwest::Response {
    env.post("/auth/login", json!({"email": email, "password": password}))
        .await
}

#[tokio::test]
async fn an_imported_account_is_its_external_id_to_tokens_upstreams_and_the_trail() {
    let env = Env::start(policies).await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let out = import(&env, vec![ada(Some(hash))], false).await;
    let [RowOutcome::Imported(uuid)] = out[..] else {
        panic!("{out:?}")
    };
    let res = login(&env, "ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = claims(&token);
    assert_eq!(c["sub"], "1001", "{c}");
    assert_eq!(c["uid"], uuid.to_string(), "{c}");
    assert_eq!(c["tier"], "pro");

    // The upstream is told the external id; the tenant of the row is reachable, no other.
    let res = env.get_with("/api/graphs/g1/nodes", &token).await;
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.header("x-palisade-user"), Some("1001"));
    assert_problem(
        env.get_with("/api/graphs/g2/nodes", &token).await,
        403,
        "forbidden",
    )
    .await;

    // Sessions and revocation still find the account behind the external id.
    let sessions = env.get_with("/auth/sessions", &token).await;
    assert_eq!(sessions.status(), 200);
    let listed: Value = sessions.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1, "{listed}");
    let me: Value = env.get_with("/auth/me", &token).await.json().await.unwrap();
    assert_eq!(me["subject"], "1001", "{me}");

    // The trail names the external id as the actor; the import named the importer.
    let events = env.gw.gateway.state.audit.recent();
    let actor_of = |t: &str| {
        events
            .iter()
            .find(|e| e.event_type == t)
            .and_then(|e| e.actor.clone())
    };
    assert_eq!(actor_of("auth.login_success").as_deref(), Some("1001"));
    assert_eq!(actor_of("user.imported").as_deref(), Some("importer"));
    assert_eq!(actor_of("tenant.created").as_deref(), Some("importer"));
    let imported = events
        .iter()
        .find(|e| e.event_type == "user.imported")
        .unwrap();
    assert_eq!(imported.details["external_id"], "1001");
    assert_eq!(imported.details["hash_format"], "bcrypt");

    // Revoking the session ends the token, as for any account.
    let sid = c["sid"].as_str().unwrap();
    let res = env
        .http
        .delete(env.url(&format!("/auth/sessions/{sid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_problem(env.get_with("/auth/me", &token).await, 401, "revoked").await;
}

#[tokio::test]
async fn with_subject_id_tokens_name_the_account_id() {
    let env = Env::start(|c| {
        policies(c);
        c.auth.subject = palisade_gateway::config::auth::SubjectSource::Id;
    })
    .await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let [RowOutcome::Imported(uuid)] = import(&env, vec![ada(Some(hash))], false).await[..] else {
        panic!()
    };
    let res = login(&env, "ada@example.com", PASSWORD).await;
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = claims(&token);
    assert_eq!(c["sub"], uuid.to_string());
    assert!(c.get("uid").is_none(), "{c}");
    env.get_with("/api/graphs/g1/nodes", &token).await;
    assert_eq!(
        env.up.last().header("x-palisade-user"),
        Some(uuid.to_string().as_str())
    );
}

#[tokio::test]
async fn an_account_imported_without_a_hash_is_refused_like_a_wrong_password() {
    // No delay ladder, so the second sign-in is answered like the first.
    let env = Env::start(|c| {
        policies(c);
        c.auth.brute_force.enabled = false;
    })
    .await;
    import(&env, vec![ada(None)], false).await;
    let no_hash = login(&env, "ada@example.com", PASSWORD).await;
    let unknown = login(&env, "nobody@example.com", PASSWORD).await;
    assert_eq!(no_hash.status(), 401);
    let (a, b): (Value, Value) = (no_hash.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!((&a["type"], &a["detail"]), (&b["type"], &b["detail"]));
}

#[tokio::test]
async fn import_refusals_name_the_field_and_the_reason() {
    let env = Env::start(policies).await;
    // Another account holds this address already.
    import(
        &env,
        vec![ImportedAccount {
            external_id: Some("900".into()),
            email: "taken@example.com".into(),
            ..Default::default()
        }],
        false,
    )
    .await;
    let bcrypt = bcrypt::hash(PASSWORD, 4).unwrap();
    let row = |edit: &dyn Fn(&mut ImportedAccount)| {
        let mut a = ImportedAccount {
            external_id: Some("42".into()),
            email: "row@example.com".into(),
            password_hash: Some(bcrypt.clone()),
            ..Default::default()
        };
        edit(&mut a);
        a
    };
    let table: Vec<(ImportedAccount, &str, &str)> = vec![
        (
            row(&|a| a.external_id = Some(String::new())),
            "external_id",
            "empty",
        ),
        (
            row(&|a| a.external_id = Some("x".repeat(256))),
            "external_id",
            "longer than 255 characters",
        ),
        (
            row(&|a| a.external_id = Some("a\u{7}b".into())),
            "external_id",
            "holds a control character",
        ),
        (
            row(&|a| a.email = "not-an-address".into()),
            "email",
            "not a valid e-mail address",
        ),
        (
            row(&|a| a.name = Some("n".repeat(201))),
            "name",
            "longer than 200 characters",
        ),
        (
            row(&|a| a.password_hash = Some("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/".into())),
            "password_hash",
            "unsupported format 'md5-crypt ($1$)'",
        ),
        (
            row(&|a| a.password_hash = Some("$2b$12$abc".into())),
            "password_hash",
            "malformed bcrypt hash",
        ),
        (
            row(&|a| a.roles = vec!["wizard".into()]),
            "roles",
            "no role \"wizard\"",
        ),
        (
            row(&|a| a.tenants = vec![("g1".into(), "wizard".into())]),
            "tenants",
            "no role \"wizard\" in the configuration (tenant \"g1\")",
        ),
        (
            row(&|a| a.tenants = vec![("no/slash".into(), "member".into())]),
            "tenants",
            "a tenant id is",
        ),
        (
            row(&|a| a.tier = Some("t".repeat(65))),
            "tier",
            "a tier is a name of 1 to 64",
        ),
        (
            row(&|a| a.email = "taken@example.com".into()),
            "email",
            "another account has this e-mail address",
        ),
    ];
    let (accounts, wants): (Vec<_>, Vec<_>) = table
        .into_iter()
        .enumerate()
        .map(|(i, (mut a, field, reason))| {
            a.external_id = a
                .external_id
                .map(|e| if e == "42" { format!("r{i}") } else { e });
            (a, (field, reason))
        })
        .unzip();
    let out = import(&env, accounts, false).await;
    for (i, (outcome, (field, reason))) in out.iter().zip(&wants).enumerate() {
        let RowOutcome::Refused(RowRefusal {
            field: f,
            reason: r,
        }) = outcome
        else {
            panic!("row {}: {outcome:?}", i + 1)
        };
        assert_eq!(f, field, "row {}", i + 1);
        assert!(r.starts_with(reason), "row {}: {r}", i + 1);
        assert!(!r.contains(&bcrypt) && !r.contains("qjXMvbEw8oaL"), "{r}");
    }
    // Nothing of them was written, and every refusal is on record with its row.
    for i in 0..wants.len() {
        let ext = format!("r{i}");
        assert!(
            env.identity()
                .store
                .user_by_external_id(&ext)
                .await
                .unwrap()
                .is_none()
        );
    }
    let refused: Vec<u64> = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .iter()
        .filter(|e| e.event_type == "user.import_refused")
        .map(|e| e.details["row"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, (1..=wants.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_a_re_run_imports_nothing() {
    let env = Env::start(policies).await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let rows = || {
        vec![
            ada(Some(hash.clone())),
            ImportedAccount {
                external_id: Some("1002".into()),
                email: "bob@example.com".into(),
                tenants: vec![("g7".into(), "viewer".into())],
                ..Default::default()
            },
        ]
    };
    let events = |env: &Env| env.gw.gateway.state.audit.recent().len();
    let before = events(&env);
    let dry = import(&env, rows(), true).await;
    assert!(
        dry.iter().all(|o| matches!(o, RowOutcome::Imported(_))),
        "{dry:?}"
    );
    let store = &env.identity().store;
    assert!(store.user_by_external_id("1001").await.unwrap().is_none());
    assert!(
        store.tenant_get("g7").await.unwrap().is_none(),
        "no tenant made"
    );
    assert_eq!(events(&env), before, "nothing recorded");

    let first = import(&env, rows(), false).await;
    assert!(
        first.iter().all(|o| matches!(o, RowOutcome::Imported(_))),
        "{first:?}"
    );
    let ada = store.user_by_external_id("1001").await.unwrap().unwrap();
    assert_eq!(
        ada.password_hash.as_deref(),
        Some(hash.as_str()),
        "stored as given"
    );
    assert_eq!(store.tenant_get("g7").await.unwrap().unwrap().id, "g7");
    let after_first = events(&env);

    let again = import(&env, rows(), false).await;
    assert_eq!(again, vec![RowOutcome::Skipped, RowOutcome::Skipped]);
    let dry_again = import(&env, rows(), true).await;
    assert_eq!(dry_again, vec![RowOutcome::Skipped, RowOutcome::Skipped]);
    assert_eq!(events(&env), after_first, "a re-run records nothing");
}
