//! Application events survive a restart: idempotency keys are in the store (SQLite and
//! PostgreSQL), so a batch retried against a restarted gateway is stored once, and the chain
//! with app events in it verifies.

use crate::app_events::{app_config, app_records, event, post, statuses, writer};
use crate::audit::verified;
use crate::common::*;
use crate::identity::Env;
use palisade_core::clock::ManualClock;
use palisade_gateway::config::Config;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A gateway on `backend` whose data dir (secrets, SQLite file) outlives it.
async fn on(
    dir: &std::path::Path,
    clock: Arc<ManualClock>,
    edit: impl FnOnce(&mut Config) + Send + 'static,
) -> Env {
    let up = Upstream::start("api").await;
    let data_dir = dir.to_owned();
    let gw = start_clocked(
        move |c| {
            app_config(c);
            c.server.data_dir = data_dir;
            edit(c);
        },
        vec![route("/api/", &up)],
        clock.clone(),
    )
    .await;
    Env {
        gw,
        clock,
        up,
        http: client(),
    }
}

/// Posts, restarts on the same store, retries: the keys were durable; the chain verifies.
async fn survives_a_restart(edit: impl Fn(&mut Config) + Clone + Send + 'static) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let first = on(dir.path(), clock.clone(), edit.clone()).await;
    let admin = first.admin("root@example.com").await;
    let (_, key) = writer(&first, &admin).await;
    let body: Value = post(&first, &key, vec![event("r1"), event("r2")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["stored"], 2);
    let Env { gw, .. } = first;
    let TestGateway { gateway, _dir } = gw;
    gateway.shutdown();
    gateway.wait().await;

    clock.advance(Duration::from_secs(3_600));
    let second = on(dir.path(), clock, edit).await;
    let body: Value = post(&second, &key, vec![event("r1"), event("r2"), event("r3")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses(&body), ["duplicate", "duplicate", "stored"]);
    assert_eq!(app_records(&second).await.len(), 3);
    second
        .gw
        .gateway
        .state
        .audit
        .trail()
        .unwrap()
        .checkpoint()
        .await;
    let all = second
        .gw
        .gateway
        .state
        .store
        .audit_range(0, 10_000)
        .await
        .unwrap();
    assert_eq!(verified(&second).await.count as usize, all.len());
}

#[tokio::test]
async fn idempotency_keys_survive_a_restart_and_the_chain_verifies_on_sqlite() {
    survives_a_restart(|c| c.store.url = "sqlite:".into()).await;
}

#[tokio::test]
async fn idempotency_keys_survive_a_restart_and_the_chain_verifies_on_postgres() {
    let Ok(pg) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        println!("skipped: PALISADE_TEST_DATABASE_URL not set");
        return;
    };
    let schema = crate::revocation_restart::Schema {
        url: pg.clone(),
        name: format!("pal_app_events_{}", uuid::Uuid::now_v7().simple()),
    };
    let name = schema.name.clone();
    survives_a_restart(move |c| {
        c.store.url = pg.clone();
        c.store.schema = Some(name.clone());
    })
    .await;
    drop(schema);
}
