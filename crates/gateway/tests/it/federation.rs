//! Federation against a real OpenID Provider: npm `oidc-provider` (pinned, installed by
//! `scripts/ensure-oidc-provider`), started by the test on a free loopback port.
//!
//! Without Node or the package the tests say they skipped, except under `CI=true`, where a
//! missing peer fails them.

use palisade_gateway::identity::federation::reach::{FetchError, ProviderHttp, ReachError};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running oidc-provider; killed on drop.
pub struct OidcProvider {
    child: Child,
    /// Its issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcProvider {
    /// Starts one instance with the given clients (oidc-provider client metadata). `None`
    /// (and a note on stderr) when the peer cannot be had outside CI; a panic under `CI=true`.
    pub fn start(clients: serde_json::Value) -> Option<Self> {
        Self::start_with(serde_json::json!({ "clients": clients }))
    }

    /// Starts one instance with server.mjs `options` (`clients`, `signing_key`, …).
    pub fn start_with(options: serde_json::Value) -> Option<Self> {
        let required = std::env::var("CI").is_ok_and(|v| v == "true");
        let unavailable = |why: String| {
            assert!(
                !required,
                "CI=true and the OpenID Provider is missing: {why}"
            );
            eprintln!("skipped: no OpenID Provider ({why})");
            None
        };
        let out = match Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/ensure-oidc-provider"
        ))
        .output()
        {
            Ok(out) if out.status.success() => out,
            Ok(out) => return unavailable(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => return unavailable(e.to_string()),
        };
        let dir = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let options = options.to_string();
        let mut child = match Command::new("node")
            .arg(format!("{dir}/server.mjs"))
            .arg(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return unavailable(format!("node: {e}")),
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc-provider did not start ({e}): {line:?}"));
        Some(Self {
            issuer: started["issuer"].as_str().unwrap().to_string(),
            child,
        })
    }
}

fn test_client() -> serde_json::Value {
    serde_json::json!([{
        "client_id": "palisade",
        "client_secret": "a-test-secret-that-is-long-enough-0123456789",
        "redirect_uris": ["http://127.0.0.1:1/auth/providers/local/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
    }])
}

fn listed(hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| h.to_string()).collect()
}

#[tokio::test]
async fn the_provider_client_reads_discovery_and_jwks_from_a_listed_loopback_issuer() {
    let Some(idp) = OidcProvider::start(test_client()) else {
        return;
    };
    let http = ProviderHttp::new(&idp.issuer, &listed(&["127.0.0.1"])).unwrap();
    let discovery = http
        .get_json(&format!("{}/.well-known/openid-configuration", idp.issuer))
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], idp.issuer.as_str());
    assert!(
        discovery["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "S256")
    );
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    let jwks = http
        .get_json(discovery["jwks_uri"].as_str().unwrap())
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_provider_client_refuses_unlisted_hosts_and_addresses_before_connecting() {
    let Some(idp) = OidcProvider::start(test_client()) else {
        return;
    };
    let discovery = format!("{}/.well-known/openid-configuration", idp.issuer);
    // The issuer's own loopback address, not listed: refused before any connection.
    let unlisted = ProviderHttp::new(&idp.issuer, &[]).unwrap();
    assert!(matches!(
        unlisted.get_json(&discovery).await,
        Err(FetchError::Reach(ReachError::AddressNotAllowed(_)))
    ));
    // Another host than the issuer's and the listed ones.
    let http = ProviderHttp::new(&idp.issuer, &listed(&["127.0.0.1"])).unwrap();
    assert!(matches!(
        http.get_json("https://accounts.example.net/jwks").await,
        Err(FetchError::Reach(ReachError::HostNotAllowed(h))) if h == "accounts.example.net"
    ));
}

#[tokio::test]
async fn a_listed_name_that_resolves_to_loopback_is_refused_at_connect_time() {
    let Some(idp) = OidcProvider::start(test_client()) else {
        return;
    };
    let port = idp.issuer.rsplit(':').next().unwrap();
    let by_name = format!("https://localhost:{port}/.well-known/openid-configuration");
    // `localhost` is a listed name, but the address it resolves to is not listed: the check
    // on the resolved address refuses it (the rebinding defence).
    let http = ProviderHttp::new("https://localhost", &listed(&["localhost"])).unwrap();
    match http.get_json(&by_name).await {
        Err(FetchError::Http(why)) => assert!(why.contains("is not public"), "{why}"),
        other => panic!("a loopback address behind a name must be refused: {other:?}"),
    }
    // Listing the address lets the connection happen (it then fails TLS: the peer speaks http).
    let http = ProviderHttp::new(
        "https://localhost",
        &listed(&["localhost", "127.0.0.1", "::1"]),
    )
    .unwrap();
    match http.get_json(&by_name).await {
        Err(FetchError::Http(why)) => assert!(!why.contains("is not public"), "{why}"),
        other => panic!("TLS to an http peer cannot succeed: {other:?}"),
    }
}

#[tokio::test]
async fn the_provider_client_follows_no_redirect() {
    let Some(idp) = OidcProvider::start(test_client()) else {
        return;
    };
    // A peer of the test's own that redirects to the real provider's discovery document.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = format!("{}/.well-known/openid-configuration", idp.issuer);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2048];
        let _ = sock.read(&mut buf).await;
        let answer = format!(
            "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        sock.write_all(answer.as_bytes()).await.unwrap();
    });
    let http =
        ProviderHttp::new(&format!("http://127.0.0.1:{port}"), &listed(&["127.0.0.1"])).unwrap();
    assert!(matches!(
        http.get_json(&format!(
            "http://127.0.0.1:{port}/.well-known/openid-configuration"
        ))
        .await,
        Err(FetchError::Status(302))
    ));
}

#[tokio::test]
async fn discovery_checks_the_issuer_and_the_flow_the_provider_offers() {
    use palisade_gateway::identity::federation::discovery::{DiscoveryError, discover};
    let (Some(a), Some(b)) = (
        OidcProvider::start(test_client()),
        OidcProvider::start(test_client()),
    ) else {
        return;
    };
    let http = ProviderHttp::new(&a.issuer, &listed(&["127.0.0.1"])).unwrap();
    let meta = discover(&http, &a.issuer).await.unwrap();
    assert_eq!(meta.issuer, a.issuer);
    assert!(meta.authorization_endpoint.starts_with(&a.issuer));
    assert!(meta.token_endpoint.starts_with(&a.issuer));
    assert!(
        meta.iss_in_authorization_response,
        "oidc-provider offers RFC 9207 iss"
    );
    assert!(meta.userinfo_endpoint.is_some());

    // The issuer must match exactly: configured with a trailing slash, B's own document
    // (which names B without one) is refused.
    let b_http = ProviderHttp::new(&b.issuer, &listed(&["127.0.0.1"])).unwrap();
    let with_slash = format!("{}/", b.issuer);
    match discover(&b_http, &with_slash).await {
        Err(DiscoveryError::IssuerMismatch { found, .. }) => assert_eq!(found, b.issuer),
        other => panic!("a document naming another issuer must be refused: {other:?}"),
    }
    // The two instances are told apart by their issuer alone (both on 127.0.0.1).
    assert_ne!(discover(&b_http, &b.issuer).await.unwrap().issuer, a.issuer);
    // An issuer that is not reachable under the provider's reach: refused before fetching.
    let unlisted = ProviderHttp::new(&a.issuer, &[]).unwrap();
    assert!(matches!(
        discover(&unlisted, &a.issuer).await,
        Err(DiscoveryError::Fetch(FetchError::Reach(
            ReachError::AddressNotAllowed(_)
        )))
    ));
}
