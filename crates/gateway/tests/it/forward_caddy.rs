//! A real Caddy (Debian's; `scripts/ensure-caddy` installs it when missing) with the shipped
//! `examples/caddy/Caddyfile` in front of an upstream, asking Palisade at `/auth/verify` through
//! `forward_auth`. Like the nginx test, it fails (never skips) when the proxy cannot be had.

use crate::authorization_policies;
use crate::identity::Env;
use std::process::{Child, Command, Stdio};

const EXAMPLE: &str = include_str!("../../../../examples/caddy/Caddyfile");

pub struct Caddy(Child);

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_caddy(dir: &std::path::Path, palisade: &str, upstream: &str) -> (Caddy, u16) {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/ensure-caddy"
    ))
    .output()
    .expect("scripts/ensure-caddy runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let caddy = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = free_port();
    let conf = EXAMPLE
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@PALISADE@", palisade)
        .replace("@VERIFY@", "/auth/verify")
        .replace("@UPSTREAM@", upstream);
    let file = dir.join("Caddyfile");
    std::fs::write(&file, conf).unwrap();
    let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
    let child = Command::new(caddy)
        .args(["run", "--config"])
        .arg(&file)
        .args(["--adapter", "caddyfile"])
        // Caddy keeps its state under XDG_DATA_HOME / HOME; keep it in the test's directory.
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("HOME", dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("caddy starts");
    let mut caddy = Caddy(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = caddy.0.try_wait().unwrap();
        assert!(
            exited.is_none() && std::time::Instant::now() < deadline,
            "caddy did not start: {}",
            std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default()
        );
        std::thread::yield_now();
    }
    (caddy, port)
}

#[tokio::test]
async fn caddy_forward_auth_lets_through_only_what_palisade_allows() {
    let env = Env::start(authorization_policies).await;
    let (uid, viewer) = crate::authorization::signed_in(&env, "cad@example.com", &["viewer"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (_caddy, port) = start_caddy(
        dir.path(),
        &env.gw.gateway.addr.to_string(),
        &env.up.addr.to_string(),
    );
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    let res = env
        .http
        .get(url("/api/docs/1"))
        .bearer_auth(&viewer)
        .header("x-palisade-user", "admin")
        .header("x-palisade-tenant", "other")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.path_and_query, "/api/docs/1");
    assert_eq!(
        seen.headers["x-palisade-user"],
        [uid.as_str()],
        "Palisade's answer, once, not the client's"
    );
    assert_eq!(seen.header("x-palisade-roles"), Some("viewer"));
    assert!(
        seen.header("x-palisade-tenant").is_none(),
        "the spoofed tenant is stripped: {:?}",
        seen.header("x-palisade-tenant")
    );
    assert!(
        seen.header("x-palisade-identity")
            .is_some_and(|t| t.split('.').count() == 3)
    );

    let before = env.up.count();
    let res = env.http.get(url("/api/docs/1")).send().await.unwrap();
    assert_eq!(res.status(), 401, "no credential");
    let res = env
        .http
        .post(url("/api/docs/1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a viewer cannot write");
    // A spelling Caddy forwards as sent: not canonical, so not authorized (reqwest itself
    // resolves dot segments, so those are left to the nginx and raw-HTTP suites).
    for path in ["/api//docs/1", "/api/%64ocs/1", "/api/docs;x/1"] {
        let res = env
            .http
            .get(url(path))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(
        env.up.count(),
        before,
        "refused requests never reached the upstream"
    );
}
