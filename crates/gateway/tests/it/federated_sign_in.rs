//! Federated sign-in through Palisade against the real OpenID Provider (npm `oidc-provider`,
//! see [`crate::federation::OidcProvider`]): the whole code flow (PKCE, state, nonce, ID-token
//! signature, userinfo) and each refusal, the linking and provisioning rules, and
//! `auth.password_login = false`.
//!
//! The test plays the browser: it follows the redirects itself, keeps the cookies, and posts
//! the provider's development login and consent forms. Palisade's `redirect_uri` names the
//! host `palisade.test`; the test carries the provider's redirect there to the gateway's real
//! address. For the ID-token refusals the provider signs with a key the test gave it, and its
//! token endpoint hands out one token the test signed with that key (the rest of the answer,
//! the code exchange, PKCE and userinfo stay the provider's own).

use crate::common::{TestGateway, assert_problem, start_clocked, start_with};
use crate::federation::OidcProvider;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use palisade_core::clock::ManualClock;
use palisade_core::jwt::{Algorithm, SigningKey};
use palisade_gateway::config::Config;
use palisade_gateway::config::providers::{ClaimRule, ProviderConfig, Provision};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
pub(crate) const FAKE_ORIGIN: &str = "http://palisade.test";

pub(crate) fn redirect_uri(id: &str) -> String {
    format!("{FAKE_ORIGIN}/auth/federated/{id}/callback")
}

/// The test's signing key, given to the provider.
fn signing_key() -> SigningKey {
    SigningKey::generate(Algorithm::ES256, "test-key".into()).unwrap()
}

/// A provider trusting Palisade as client `palisade` for the callbacks of `ids`, signing with
/// `key`.
fn start_idp(ids: &[&str], key: &SigningKey) -> Option<OidcProvider> {
    let redirects: Vec<String> = ids.iter().map(|id| redirect_uri(id)).collect();
    OidcProvider::start_with(json!({
        "clients": [{
            "client_id": "palisade",
            "client_secret": SECRET,
            "redirect_uris": redirects,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "id_token_signed_response_alg": "ES256",
        }],
        "signing_key": {
            "pkcs8": STANDARD.encode(key.private_bytes().as_slice()),
            "kid": key.kid(),
            "alg": "ES256",
        },
    }))
}

pub(crate) fn provider(id: &str, issuer: &str) -> ProviderConfig {
    ProviderConfig {
        id: id.into(),
        label: format!("Provider {id}"),
        issuer: issuer.into(),
        client_id: "palisade".into(),
        client_secret: SECRET.into(),
        scopes: vec!["openid".into(), "email".into(), "groups".into()],
        redirect_uri: redirect_uri(id),
        allowed_hosts: vec!["127.0.0.1".into()],
        provision: Provision::Auto,
        ..Default::default()
    }
}

/// A browser: cookies by name (every host here is 127.0.0.1), redirects followed by hand.
pub(crate) struct Browser {
    http: reqwest::Client,
    pub(crate) jar: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn absorb(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") || v.contains("expires=Thu, 01 Jan 1970")
            {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let res = self
            .http
            .get(url)
            .header("cookie", self.cookies())
            .send()
            .await
            .unwrap();
        self.absorb(&res);
        res
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let res = self
            .http
            .post(url)
            .header("cookie", self.cookies())
            .form(form)
            .send()
            .await
            .unwrap();
        self.absorb(&res);
        res
    }

    /// `GET …/start`: the provider's authorization URL.
    async fn start(&mut self, gw: &TestGateway, id: &str, return_to: &str) -> String {
        let mut url = gw.url(&format!("/auth/federated/{id}/start"));
        if !return_to.is_empty() {
            url = format!("{url}?return_to={}", urlencode(return_to));
        }
        let res = self.get(&url).await;
        assert_eq!(res.status(), 302, "{:?}", res.text().await);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            self.jar.contains_key("__Host-palisade-fed"),
            "the flow is bound to the browser"
        );
        location
    }

    /// Signs in at the provider as `login` (its development login and consent forms): the
    /// redirect back to Palisade's callback, as the provider sent it.
    pub(crate) async fn sign_in_at_idp(&mut self, authorization_url: &str, login: &str) -> String {
        let mut url = authorization_url.to_owned();
        for _ in 0..12 {
            if url.starts_with(FAKE_ORIGIN) {
                return url;
            }
            let res = if url.contains("/interaction/") {
                let page = self.get(&url).await.text().await.unwrap();
                if page.contains("name=\"login\"") {
                    self.post_form(&url, &[("prompt", "login"), ("login", login)])
                        .await
                } else {
                    self.post_form(&url, &[("prompt", "consent")]).await
                }
            } else {
                self.get(&url).await
            };
            assert!(
                res.status().is_redirection(),
                "{url}: {} {:?}",
                res.status(),
                res.text().await
            );
            let next = res.headers()["location"].to_str().unwrap();
            url = reqwest::Url::parse(&url)
                .unwrap()
                .join(next)
                .unwrap()
                .into();
        }
        panic!("the provider never sent the browser back");
    }

    /// Follows the provider's redirect to the gateway's callback.
    pub(crate) async fn callback(&mut self, gw: &TestGateway, redirect: &str) -> reqwest::Response {
        let path = redirect.strip_prefix(FAKE_ORIGIN).unwrap();
        self.get(&gw.url(path)).await
    }

    /// The whole flow as `login`: the callback's answer.
    async fn sign_in(&mut self, gw: &TestGateway, id: &str, login: &str) -> reqwest::Response {
        let auth = self.start(gw, id, "").await;
        let back = self.sign_in_at_idp(&auth, login).await;
        self.callback(gw, &back).await
    }
}

fn urlencode(s: &str) -> String {
    url_param(s)
}

fn url_param(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn with_query_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    u.into()
}

/// `/auth/me` as the browser: the signed-in principal.
async fn me(gw: &TestGateway, b: &mut Browser) -> Value {
    let res = b.get(&gw.url("/auth/me")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

pub(crate) fn events(gw: &TestGateway, kind: &str) -> Vec<palisade_gateway::audit::AuditEvent> {
    gw.gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == kind)
        .collect()
}

/// The last `auth.federated_login` refusal's reason.
fn last_refusal(gw: &TestGateway) -> String {
    events(gw, "auth.federated_login")
        .iter()
        .rev()
        .find(|e| e.outcome == palisade_gateway::audit::Outcome::Denied)
        .map(|e| e.details["reason"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn gateway(edit: impl FnOnce(&mut Config)) -> TestGateway {
    start_with(edit, vec![]).await
}

#[tokio::test]
async fn the_whole_code_flow_signs_in_through_a_real_provider() {
    let key = signing_key();
    let Some(idp) = start_idp(&["corp"], &key) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let gw = gateway(|c| {
        let mut p = provider("corp", &issuer);
        p.claim_rules = vec![ClaimRule {
            claim: "groups".into(),
            value: "staff".into(),
            roles: vec!["support".into()],
            ..Default::default()
        }];
        c.auth.providers = vec![p];
    })
    .await;
    let mut b = Browser::new();
    let auth = b.start(&gw, "corp", "/after?x=1").await;
    // The authorization request: code flow, PKCE S256, state, nonce, this provider's callback.
    assert!(auth.starts_with(&format!("{issuer}/auth?")), "{auth}");
    assert_eq!(query_param(&auth, "response_type").unwrap(), "code");
    assert_eq!(query_param(&auth, "code_challenge_method").unwrap(), "S256");
    assert_eq!(query_param(&auth, "code_challenge").unwrap().len(), 43);
    assert_eq!(query_param(&auth, "state").unwrap().len(), 43);
    assert_eq!(query_param(&auth, "nonce").unwrap().len(), 43);
    assert_eq!(
        query_param(&auth, "redirect_uri").unwrap(),
        redirect_uri("corp")
    );
    let back = b.sign_in_at_idp(&auth, "carol").await;
    assert_eq!(query_param(&back, "iss").unwrap(), issuer, "RFC 9207 iss");
    let res = b.callback(&gw, &back).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    assert_eq!(res.headers()["location"], "/after?x=1");
    assert!(b.jar.contains_key("__Host-palisade"), "browser session set");
    assert!(
        !b.jar.contains_key("__Host-palisade-fed"),
        "binding cleared"
    );
    let who = me(&gw, &mut b).await;
    assert_eq!(who["amr"], json!(["fed"]));
    assert_eq!(who["acr"], "aal1");
    // Provisioned (provision = "auto"), with the default roles and the claim rule's.
    let user = gw
        .gateway
        .state
        .store
        .user_by_email("carol@example.test")
        .await
        .unwrap()
        .expect("provisioned");
    assert_eq!(user.roles, ["member", "support"]);
    assert!(user.password_hash.is_none());
    let linked = gw
        .gateway
        .state
        .store
        .federated_identity_find(&issuer, "carol")
        .await
        .unwrap()
        .expect("(issuer, sub) linked");
    assert_eq!(linked.user_id, user.id);
    let ok = events(&gw, "auth.federated_login");
    let ok = ok.last().unwrap();
    assert_eq!(ok.outcome, palisade_gateway::audit::Outcome::Success);
    assert_eq!(ok.details["how"], "provisioned");
    assert_eq!(ok.details["subject"], "carol");
    assert_eq!(events(&gw, "auth.federated_link").len(), 1);

    // A second sign-in finds the same account by (issuer, sub).
    let mut again = Browser::new();
    let res = again.sign_in(&gw, "corp", "carol").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "../../pages/signed-in");
    let last = events(&gw, "auth.federated_login");
    assert_eq!(last.last().unwrap().details["how"], "linked");
    assert_eq!(events(&gw, "auth.federated_link").len(), 1, "no new link");
}

#[tokio::test]
async fn state_code_and_return_to_are_checked() {
    let key = signing_key();
    let Some(idp) = start_idp(&["corp"], &key) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let gw = gateway(|c| c.auth.providers = vec![provider("corp", &issuer)]).await;

    // An unlisted return_to: refused before the provider is involved.
    let res = Browser::new()
        .get(&gw.url("/auth/federated/corp/start?return_to=https%3A%2F%2Fevil.test%2F"))
        .await;
    assert_problem(res, 400, "return-to-not-allowed").await;
    // An unknown provider.
    let res = Browser::new()
        .get(&gw.url("/auth/federated/nobody/start"))
        .await;
    assert_problem(res, 404, "provider-unknown").await;
    // Another site's link or redirect cannot start a sign-in (the provider's single sign-on
    // would open a session without the person's action); this site's own button can.
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = |site: &'static str| {
        no_redirects
            .get(gw.url("/auth/federated/corp/start"))
            .header("sec-fetch-site", site)
            .send()
    };
    assert_problem(start("cross-site").await.unwrap(), 403, "cross-site-start").await;
    assert_eq!(last_refusal(&gw), "cross-site-start");
    for site in ["same-origin", "none"] {
        let res = start(site).await.unwrap();
        assert_eq!(res.status(), 302, "{site}");
    }

    // A tampered state.
    let mut b = Browser::new();
    let auth = b.start(&gw, "corp", "").await;
    let back = b.sign_in_at_idp(&auth, "dave").await;
    let tampered = with_query_param(&back, "state", Some("AAAA-not-the-state"));
    assert_problem(b.callback(&gw, &tampered).await, 400, "state-unknown").await;
    assert_eq!(last_refusal(&gw), "state-unknown");
    // The flow's own state in another browser (no binding cookie): refused, and used up.
    let mut other = Browser::new();
    assert_problem(other.callback(&gw, &back).await, 400, "browser-mismatch").await;
    assert_problem(b.callback(&gw, &back).await, 400, "state-unknown").await;

    // A replayed code: the first use signs in; the same code with a new flow's state is
    // refused by the provider (used, and another PKCE verifier), the old state is gone.
    let mut b = Browser::new();
    let auth = b.start(&gw, "corp", "").await;
    let back = b.sign_in_at_idp(&auth, "dave").await;
    assert_eq!(b.callback(&gw, &back).await.status(), 303);
    assert_problem(b.callback(&gw, &back).await, 400, "state-unknown").await;
    let fresh = b.start(&gw, "corp", "").await;
    let fresh_state = query_param(&fresh, "state").unwrap();
    let replay = with_query_param(&back, "state", Some(&fresh_state));
    assert_problem(b.callback(&gw, &replay).await, 400, "code-rejected").await;
    assert_eq!(last_refusal(&gw), "code-rejected");

    // The provider reports an error instead of a code.
    let auth = b.start(&gw, "corp", "").await;
    let state = query_param(&auth, "state").unwrap();
    let denied = format!(
        "{FAKE_ORIGIN}/auth/federated/corp/callback?error=access_denied&state={state}&iss={}",
        url_param(&issuer)
    );
    assert_problem(b.callback(&gw, &denied).await, 400, "provider-error").await;
}

#[tokio::test]
async fn a_code_from_provider_a_is_refused_at_provider_bs_callback() {
    let key = signing_key();
    let (Some(a), Some(bp)) = (start_idp(&["a", "b"], &key), start_idp(&["a", "b"], &key)) else {
        return;
    };
    let (ia, ib) = (a.issuer.clone(), bp.issuer.clone());
    let gw = gateway(|c| c.auth.providers = vec![provider("a", &ia), provider("b", &ib)]).await;
    let mut browser = Browser::new();
    // A flow at B is started; the browser is (made to be) signed in at A instead.
    let at_b = browser.start(&gw, "b", "").await;
    let b_state = query_param(&at_b, "state").unwrap();
    let mut victim_of_a = Browser::new();
    let at_a = victim_of_a.start(&gw, "a", "").await;
    let from_a = victim_of_a.sign_in_at_idp(&at_a, "erin").await;
    let code_a = query_param(&from_a, "code").unwrap();
    let forged = |iss: Option<&str>| {
        let mut u =
            format!("{FAKE_ORIGIN}/auth/federated/b/callback?code={code_a}&state={b_state}");
        if let Some(i) = iss {
            u = format!("{u}&iss={}", url_param(i));
        }
        u
    };
    // With A's iss (what A sent): the mix-up defence refuses it.
    assert_problem(
        browser.callback(&gw, &forged(Some(&ia))).await,
        400,
        "iss-mismatch",
    )
    .await;
    // Each try used the flow up: new flows at B for the next two.
    for (iss, reason) in [(None, "iss-missing"), (Some(ib.as_str()), "code-rejected")] {
        let at_b = browser.start(&gw, "b", "").await;
        let s = query_param(&at_b, "state").unwrap();
        let mut u = format!("{FAKE_ORIGIN}/auth/federated/b/callback?code={code_a}&state={s}");
        if let Some(i) = iss {
            u = format!("{u}&iss={}", url_param(i));
        }
        assert_problem(browser.callback(&gw, &u).await, 400, reason).await;
    }
    // A's state at B's callback: the flow belongs to A.
    let at_a = browser.start(&gw, "a", "").await;
    let a_state = query_param(&at_a, "state").unwrap();
    let u = format!(
        "{FAKE_ORIGIN}/auth/federated/b/callback?code={code_a}&state={a_state}&iss={}",
        url_param(&ib)
    );
    assert_problem(browser.callback(&gw, &u).await, 400, "provider-mismatch").await;
    assert!(
        !browser.jar.contains_key("__Host-palisade"),
        "never signed in"
    );
}

/// Signs `claims` (over the defaults of a valid ID token for this flow) with `key`, with
/// header `alg` (`none`: unsigned).
fn id_token(key: &SigningKey, alg: &str, claims: Value) -> String {
    let header = json!({"alg": alg, "kid": key.kid(), "typ": "JWT"}).to_string();
    let body = claims.to_string();
    if alg == "none" {
        return format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(body)
        );
    }
    palisade_core::jwt::fuzz_props::signed(key, header.as_bytes(), body.as_bytes())
}

#[tokio::test]
async fn forged_id_tokens_are_refused() {
    let key = signing_key();
    let Some(idp) = start_idp(&["corp"], &key) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = Arc::new(ManualClock::starting_at(start_ms));
    let gw = start_clocked(
        |c| {
            c.auth.providers = vec![provider("corp", &issuer)];
            c.auth.federation.flow_ttl =
                palisade_gateway::config::units::HumanDuration(Duration::from_secs(3600));
        },
        vec![],
        clock.clone(),
    )
    .await;
    let t0 = start_ms / 1000;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let good = |nonce: &str| {
        json!({
            "iss": issuer, "sub": "frank", "aud": "palisade", "iat": t0, "exp": t0 + 300,
            "nonce": nonce, "email": "frank@example.test", "email_verified": true,
        })
    };
    // Each case: a flow, the provider's real code, and the ID token the test hands the
    // provider's token endpoint for it.
    // (what, the header alg and claims for a flow's nonce, the status, the refusal reason)
    type Forge<'a> = Box<dyn Fn(&str) -> (String, Value) + 'a>;
    let cases: Vec<(&str, Forge, u16, &str)> = vec![
        (
            "wrong nonce",
            Box::new(|_n| ("ES256".into(), good("not-this-flows-nonce"))),
            401,
            "nonce-mismatch",
        ),
        (
            "another audience",
            Box::new(|n| {
                let mut c = good(n);
                c["aud"] = json!("another-client");
                ("ES256".into(), c)
            }),
            401,
            "id-token-audience",
        ),
        (
            "azp of another client",
            Box::new(|n| {
                let mut c = good(n);
                c["aud"] = json!(["palisade", "another-client"]);
                c["azp"] = json!("another-client");
                ("ES256".into(), c)
            }),
            401,
            "id-token-audience",
        ),
        (
            "alg none",
            Box::new(|n| ("none".into(), good(n))),
            401,
            "id-token-algorithm",
        ),
        (
            "HS256 over the public key",
            Box::new(|n| ("HS256".into(), good(n))),
            401,
            "id-token-algorithm",
        ),
        (
            "a wrong iss",
            Box::new(|n| {
                let mut c = good(n);
                c["iss"] = json!("https://evil.test");
                ("ES256".into(), c)
            }),
            401,
            "id-token-issuer",
        ),
        (
            "another subject than userinfo's",
            Box::new(|n| {
                let mut c = good(n);
                c["sub"] = json!("mallory");
                ("ES256".into(), c)
            }),
            400,
            "userinfo-subject-mismatch",
        ),
    ];
    for (what, make, status, reason) in cases {
        let mut b = Browser::new();
        let auth = b.start(&gw, "corp", "").await;
        let nonce = query_param(&auth, "nonce").unwrap();
        let back = b.sign_in_at_idp(&auth, "frank").await;
        let (alg, claims) = make(&nonce);
        let token = if alg == "HS256" {
            // HS256 keyed with the public JWK's bytes: the classic key-confusion forgery.
            let jwk = key.public_jwk().unwrap().to_string();
            let hs =
                SigningKey::from_private_bytes(Algorithm::HS256, "test-key".into(), jwk.as_bytes())
                    .unwrap();
            id_token(&hs, "HS256", claims)
        } else {
            id_token(&key, &alg, claims)
        };
        let res = http
            .post(format!("{issuer}/__test/next-id-token"))
            .body(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let res = b.callback(&gw, &back).await;
        assert_eq!(res.status().as_u16(), status, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["type"],
            format!("urn:palisade:problem:{reason}"),
            "{what}: {body}"
        );
        assert_eq!(last_refusal(&gw), reason, "{what} on record");
        assert!(!b.jar.contains_key("__Host-palisade"), "{what}: no session");
    }

    // Expiry on the test clock: a token valid for 5 minutes, presented 10 minutes later.
    let mut b = Browser::new();
    let auth = b.start(&gw, "corp", "").await;
    let nonce = query_param(&auth, "nonce").unwrap();
    let back = b.sign_in_at_idp(&auth, "frank").await;
    http.post(format!("{issuer}/__test/next-id-token"))
        .body(id_token(&key, "ES256", good(&nonce)))
        .send()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(600));
    assert_problem(b.callback(&gw, &back).await, 401, "id-token-expired").await;

    // The same token shape, in time, signs in: the forged cases failed for their one flaw.
    let mut b = Browser::new();
    let auth = b.start(&gw, "corp", "").await;
    let nonce = query_param(&auth, "nonce").unwrap();
    let back = b.sign_in_at_idp(&auth, "frank").await;
    let mut fresh = good(&nonce);
    fresh["iat"] = json!(t0 + 600);
    fresh["exp"] = json!(t0 + 900);
    http.post(format!("{issuer}/__test/next-id-token"))
        .body(id_token(&key, "ES256", fresh))
        .send()
        .await
        .unwrap();
    let res = b.callback(&gw, &back).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
}

#[tokio::test]
async fn linking_is_explicit_or_by_a_trusted_verified_email() {
    let key = signing_key();
    let Some(idp) = start_idp(&["strict", "trusting"], &key) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let gw = gateway(|c| {
        let mut strict = provider("strict", &issuer);
        strict.provision = Provision::ExistingOnly;
        let mut trusting = provider("trusting", &issuer);
        trusting.provision = Provision::ExistingOnly;
        trusting.trust_email_for_linking = true;
        c.auth.providers = vec![strict, trusting];
    })
    .await;
    let c = crate::common::client();
    for email in [
        "grace@example.test",
        "unverified-heidi@example.test",
        "ivan@example.test",
    ] {
        let res = c
            .post(gw.url("/auth/register"))
            .json(&json!({"email": email, "password": "violet-Harbor-tram-1987-quince"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    // Unknown identity, existing_only, address not trusted: no account, no link by e-mail.
    let res = Browser::new().sign_in(&gw, "strict", "grace").await;
    assert_problem(res, 400, "email-taken").await;
    let res = Browser::new().sign_in(&gw, "strict", "nobody").await;
    assert_problem(res, 400, "no-account").await;
    // Trusted for linking, but the provider has not verified the address: no link.
    let res = Browser::new()
        .sign_in(&gw, "trusting", "unverified-heidi")
        .await;
    assert_problem(res, 400, "no-account").await;
    // Trusted and verified: linked to grace's account and signed in.
    let mut b = Browser::new();
    let res = b.sign_in(&gw, "trusting", "grace").await;
    assert_eq!(res.status(), 303);
    let grace = gw
        .gateway
        .state
        .store
        .user_by_email("grace@example.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me(&gw, &mut b).await["subject"], grace.id.to_string());
    let link = events(&gw, "auth.federated_link");
    assert_eq!(link.last().unwrap().details["via"], "verified-email");

    // Explicit link: ivan signs in by password, links the strict provider's identity "ivan-at-idp".
    let mut ivan = Browser::new();
    let res = ivan
        .http
        .post(gw.url("/auth/browser-session"))
        .json(&json!({"email": "ivan@example.test", "password": "violet-Harbor-tram-1987-quince"}))
        .send()
        .await
        .unwrap();
    ivan.absorb(&res);
    let csrf: Value = res.json().await.unwrap();
    let res = ivan
        .http
        .post(gw.url("/auth/federated/strict/link"))
        .header("cookie", ivan.cookies())
        .header("x-csrf-token", csrf["csrf_token"].as_str().unwrap())
        .json(&json!({"return_to": "/linked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    ivan.absorb(&res);
    let auth: Value = res.json().await.unwrap();
    let back = ivan
        .sign_in_at_idp(auth["authorization_url"].as_str().unwrap(), "ivan-at-idp")
        .await;
    let res = ivan.callback(&gw, &back).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/linked");
    let link = events(&gw, "auth.federated_link");
    assert_eq!(link.last().unwrap().details["via"], "signed-in");
    // From now on the provider identity signs in to ivan's account.
    let mut fresh = Browser::new();
    assert_eq!(
        fresh.sign_in(&gw, "strict", "ivan-at-idp").await.status(),
        303
    );
    let ivan_id = gw
        .gateway
        .state
        .store
        .user_by_email("ivan@example.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(me(&gw, &mut fresh).await["subject"], ivan_id.to_string());
    // Linking needs a signed-in account.
    let res = Browser::new()
        .post_form(&gw.url("/auth/federated/strict/link"), &[])
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn provisioning_respects_registration_and_password_login_can_be_off() {
    let key = signing_key();
    let Some(idp) = start_idp(&["corp"], &key) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let gw = gateway(|c| {
        c.auth.providers = vec![provider("corp", &issuer)];
        c.auth.registration = palisade_gateway::config::auth::Registration::Invite;
        c.auth.password_login = false;
    })
    .await;
    // provision = "auto", but registration is by invite: no account is made.
    let res = Browser::new().sign_in(&gw, "corp", "judy").await;
    assert_problem(res, 400, "registration-closed").await;
    // Password sign-in is refused everywhere: the API, the browser session, the page.
    let c = crate::common::client();
    let body = json!({"email": "judy@example.test", "password": "violet-Harbor-tram-1987-quince"});
    for path in ["/auth/login", "/auth/browser-session"] {
        let res = c.post(gw.url(path)).json(&body).send().await.unwrap();
        assert_problem(res, 403, "password-login-disabled").await;
    }
    let page = c
        .get(gw.url("/auth/pages/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("name=\"password\""), "no password form");
    assert!(
        page.contains("href=\"..&#x2f;federated&#x2f;corp&#x2f;start\"")
            && page.contains("Sign in with Provider corp"),
        "the provider's button: {page}"
    );
}

#[tokio::test]
async fn an_account_with_a_second_factor_passes_the_same_gate_unless_the_provider_is_trusted() {
    use palisade_core::mfa::totp::{TotpParams, code_at};
    let key = signing_key();
    let Some(idp) = start_idp(&["plain", "mfa"], &key) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let gw = gateway(|c| {
        let mut plain = provider("plain", &issuer);
        plain.trust_email_for_linking = true;
        let mut mfa = provider("mfa", &issuer);
        mfa.mfa_claims_trusted = true;
        c.auth.providers = vec![plain, mfa];
    })
    .await;
    // kim has a password and a confirmed TOTP authenticator.
    let c = crate::common::client();
    let creds = json!({"email": "kim@example.test", "password": "violet-Harbor-tram-1987-quince"});
    assert_eq!(
        c.post(gw.url("/auth/register"))
            .json(&creds)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let login: Value = c
        .post(gw.url("/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let enrollment: Value = c
        .post(gw.url("/auth/mfa/totp"))
        .bearer_auth(token)
        .json(&json!({"name": "phone"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seed = palisade_core::mfa::base32::decode(enrollment["secret"].as_str().unwrap()).unwrap();
    let now = gw.gateway.state.identity.now_ms() / 1000;
    let res = c
        .post(gw.url(&format!(
            "/auth/mfa/totp/{}/confirm",
            enrollment["id"].as_str().unwrap()
        )))
        .bearer_auth(token)
        .json(&json!({"code": code_at(&seed, now, &TotpParams::default())}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let confirmed: Value = res.json().await.unwrap();
    let recovery_code = confirmed["recovery_codes"][0].as_str().unwrap().to_owned();

    // Through a provider whose acr is not trusted: the second factor is owed. The browser goes
    // on to the hosted challenge page holding its pending sign-in; no session yet.
    let mut b = Browser::new();
    let res = b.sign_in(&gw, "plain", "kim").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "../../pages/mfa");
    assert!(!b.jar.contains_key("__Host-palisade"), "no session yet");
    let pending = b.jar["__Host-palisade-mfa"].clone();
    assert_eq!(last_refusal(&gw), "second-factor-required");
    // The second factor completes that sign-in, and the session says the first step was the
    // provider, not a password.
    let res = b
        .http
        .post(gw.url("/auth/mfa/verify"))
        .json(&json!({"mfa_token": pending, "recovery_code": recovery_code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    b.absorb(&res);
    let who = me(&gw, &mut b).await;
    assert_eq!(who["acr"], "aal2");
    assert_eq!(who["amr"], json!(["fed", "rec", "mfa"]));

    // Through the provider trusted for its acr, with an ID token claiming aal2: signed in at
    // aal2 (the identity was linked to kim by her verified address above).
    let kim = gw
        .gateway
        .state
        .store
        .user_by_email("kim@example.test")
        .await
        .unwrap()
        .unwrap();
    let mut b = Browser::new();
    let auth = b.start(&gw, "mfa", "").await;
    let nonce = query_param(&auth, "nonce").unwrap();
    let back = b.sign_in_at_idp(&auth, "kim").await;
    let t = gw.gateway.state.identity.now_ms() / 1000;
    let claims = json!({
        "iss": issuer, "sub": "kim", "aud": "palisade", "iat": t, "exp": t + 300,
        "nonce": nonce, "acr": "aal2", "amr": ["pwd", "otp", "mfa"], "auth_time": t,
    });
    let res = reqwest::Client::new()
        .post(format!("{issuer}/__test/next-id-token"))
        .body(id_token(&key, "ES256", claims))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = b.callback(&gw, &back).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let who = me(&gw, &mut b).await;
    assert_eq!(who["subject"], kim.id.to_string());
    assert_eq!(who["acr"], "aal2");
    assert_eq!(who["amr"], json!(["fed", "mfa"]));
}
