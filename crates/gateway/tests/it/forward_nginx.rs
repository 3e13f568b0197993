//! A real nginx (Debian's; `scripts/ensure-nginx` installs it when missing) with the shipped
//! `examples/nginx/auth_request.conf` in front of an upstream, asking Palisade at `/auth/verify`.

use crate::authorization_policies;
use crate::identity::Env;
use std::process::{Child, Command, Stdio};

const EXAMPLE: &str = include_str!("../../../../examples/nginx/auth_request.conf");

pub struct Nginx(Child);

impl Drop for Nginx {
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

pub fn start_nginx(dir: &std::path::Path, palisade: &str, upstream: &str) -> (Nginx, u16) {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/ensure-nginx"
    ))
    .output()
    .expect("scripts/ensure-nginx runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nginx = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = free_port();
    let server = EXAMPLE
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@PALISADE@", palisade)
        .replace("@UPSTREAM@", upstream);
    let d = dir.display();
    let conf = format!(
        "daemon off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n{server}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx(child);
    // Wait until nginx accepts connections (it binds right after reading its config).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::yield_now();
    }
    (nginx, port)
}

#[tokio::test]
async fn nginx_auth_request_lets_through_only_what_palisade_allows() {
    let env = Env::start(authorization_policies).await;
    let (uid, viewer) = crate::authorization::signed_in(&env, "ng@example.com", &["viewer"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, port) = start_nginx(
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
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = env.up.last();
    assert_eq!(seen.path_and_query, "/api/docs/1");
    assert_eq!(
        seen.header("x-palisade-user"),
        Some(uid.as_str()),
        "Palisade's answer, not the client's"
    );
    assert!(
        seen.header("x-palisade-identity")
            .is_some_and(|t| t.split('.').count() == 3)
    );

    let before = env.up.count();
    let res = env
        .http
        .post(url("/api/docs/1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a viewer cannot write");
    let res = env.http.get(url("/api/docs/1")).send().await.unwrap();
    assert_eq!(res.status(), 401, "no credential");
    let res = env
        .http
        .get(url("/api/docs/1"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a bad credential");
    assert_eq!(
        env.up.count(),
        before,
        "refused requests never reached the upstream"
    );
}
