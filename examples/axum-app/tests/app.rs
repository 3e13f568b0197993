//! The example end to end, in-process: Palisade built from the example's own `palisade.toml`,
//! the service served by `axum::serve` on 127.0.0.1:0 under a multi-thread runtime, and a real
//! client that signs in at `/.palisade/auth/login` as an application's users would. Once with
//! the memory hot state and once with Redis (`PALISADE_TEST_REDIS_URL`; skipped, saying so,
//! when unset).

use axum::ServiceExt as _;
use palisade_example_axum_app::{CONFIG, Notes, app};
use palisade_gateway::Palisade;
use palisade_gateway::audit::RequestOrigin;
use palisade_gateway::config::Config;
use palisade_gateway::identity::manage::{By, NewUser};
use palisade_store::audit::AuditFilter;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use uuid::Uuid;

const PASSWORD: &str = "tangerine-oscilloscope-velvet-4821";

struct Running {
    palisade: Palisade,
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The example as `main` serves it, on a fresh data dir; `hot` is a Redis URL or memory.
async fn start(hot: Option<&str>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::from_toml(CONFIG).unwrap();
    config.server.data_dir = dir.path().to_path_buf();
    if let Some(url) = hot {
        config.hot_state.url = Some(url.to_owned());
        // A namespace of its own, so runs and other tests on the same Redis never meet.
        config.hot_state.prefix = format!("axum-app-{}", Uuid::now_v7().simple());
    }
    let palisade = Palisade::builder(config).build().await.unwrap();
    assert_eq!(palisade.mount(), "/.palisade");
    let service = app(&palisade, Notes::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            service.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Running {
        palisade,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Running {
    /// An account made through Palisade's own use case (on the record, like `/admin/users`).
    async fn user(&self, email: &str, roles: &[&str]) -> Uuid {
        let origin = RequestOrigin::default();
        let by = By {
            actor: "test".into(),
            origin: &origin,
        };
        let new = NewUser {
            id: Uuid::now_v7(),
            email: email.into(),
            name: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            password: PASSWORD.into(),
        };
        self.palisade
            .identity()
            .create_user(new, &by)
            .await
            .unwrap()
            .id
    }

    /// Signs in as a client would, and returns the access token.
    async fn sign_in(&self, email: &str) -> String {
        let res = self
            .client
            .post(format!("{}/.palisade/auth/login", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }
}

/// A refusal in Palisade's shape: the status, problem+json, the request id of the answer.
async fn problem(res: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "{status}"
    );
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str());
    body
}

async fn scenario(hot: Option<&str>) {
    let app = start(hot).await;

    // Public: anyone, no credential.
    let res = app.get("/public/hello", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["hello"], "stranger");

    // No credential: 401 problem+json before any handler runs; a spoofed identity header is
    // stripped, not believed.
    problem(app.get("/me", None).await, StatusCode::UNAUTHORIZED).await;
    let spoofed = app
        .client
        .get(format!("{}/me/notes", app.base))
        .header("x-palisade-user", "someone-else")
        .header("x-user-id", "someone-else")
        .send()
        .await
        .unwrap();
    problem(spoofed, StatusCode::UNAUTHORIZED).await;

    // A member gets its own data.
    let member = app.user("member@example.com", &["member"]).await;
    let other = app.user("other@example.com", &["member"]).await;
    let token = app.sign_in("member@example.com").await;
    let me: Value = app.get("/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["user_id"], member.to_string());
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(me["method"], "jwt");
    let res = app
        .client
        .post(format!("{}/me/notes", app.base))
        .bearer_auth(&token)
        .json(&json!({ "text": "buy milk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let notes: Value = app
        .get("/me/notes", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes["notes"], json!(["buy milk"]));
    let other_token = app.sign_in("other@example.com").await;
    let theirs: Value = app
        .get("/me/notes", Some(&other_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs["notes"],
        json!([]),
        "{other} sees only its own notes"
    );

    // The app's admin-only handler refuses a member: 403, and the refusal is on record by the
    // time the answer arrives (the durability layer holds it until stored).
    let body = problem(
        app.get("/admin/report", Some(&token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(body["type"], "urn:palisade:problem:forbidden");
    let denied = app
        .palisade
        .store()
        .audit_query(
            &AuditFilter {
                event_type: Some("authz.denied".into()),
                actor: Some(member.to_string()),
                ..Default::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].resource_type.as_deref(), Some("route"));

    // An administrator reaches it: the app's own /admin is the app's.
    app.user("admin@example.com", &["admin"]).await;
    let admin = app.sign_in("admin@example.com").await;
    let res = app.get("/admin/report", Some(&admin)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["report"],
        "all systems nominal"
    );

    // Palisade's own API lives under the mount, with its own permission checks; at the root
    // its paths are not Palisade's (and no route of this app covers them).
    problem(
        app.get("/.palisade/admin/tenants", Some(&token)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.get("/.palisade/admin/tenants", Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
    let res = app.get("/.palisade/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    problem(app.get("/auth/login", None).await, StatusCode::NOT_FOUND).await;

    app.palisade.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gates_in_front_of_the_app_with_the_memory_hot_state() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gates_in_front_of_the_app_with_the_redis_hot_state() {
    let Ok(url) = std::env::var("PALISADE_TEST_REDIS_URL") else {
        eprintln!("skipped: PALISADE_TEST_REDIS_URL is not set");
        return;
    };
    scenario(Some(&url)).await;
}
