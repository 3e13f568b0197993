//! The hosted pages over plain HTTP: the page CSP and `no-store`, the browser-bound form token,
//! `return_to` allow-listing, password sign-in through the form (session cookie, redirect,
//! `amr`/`acr` on record), and the passkey API's refusals. The browser drives the same pages in
//! `browser_pages`.

use crate::common::{assert_problem, client, start_with};
use serde_json::json;

const PASSWORD: &str = "violet-Harbor-tram-1987-quince";

async fn gateway_with_account(email: &str) -> crate::common::TestGateway {
    let gw = start_with(
        |c| {
            c.auth.pages.return_to_origins = vec!["https://app.example.com".into()];
            c.auth.passkeys.rp_id = "localhost".into();
            c.auth.passkeys.origin = "http://localhost:8080".into();
            // One free failure: the wrong-password step does not delay the right one.
            c.auth.brute_force.free_failures = 1;
        },
        vec![],
    )
    .await;
    let res = client()
        .post(gw.url("/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    gw
}

pub(crate) fn cookie_pair(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

pub(crate) fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"form_token\" value=\"")
        .expect("form token")
        + 25;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn sign_in_page_is_strict_and_signs_in_through_the_form() {
    let gw = gateway_with_account("page.user@example.com").await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = c
        .get(gw.url("/auth/pages/sign-in?return_to=https://app.example.com/after"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let form_cookie = cookie_pair(&res, "__Host-palisade-form").expect("form cookie");
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "nothing inline"
    );
    assert!(html.contains("<label for=\"email\">") && html.contains("<label for=\"password\">"));
    assert!(html.contains("Sign in with a passkey"));
    let token = form_token(&html);

    // The assets: same origin, not the strict API CSP's concern but served from the binary.
    let css = c
        .get(gw.url("/auth/pages/assets/pages.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    let form = |token: &str, return_to: &str, password: &str| {
        format!(
            "form_token={token}&return_to={}&email=page.user%40example.com&password={password}",
            urlencode(return_to)
        )
    };
    let post = |cookie: Option<&str>, body: String| {
        let mut r = c
            .post(gw.url("/auth/pages/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            r = r.header("cookie", cookie);
        }
        r.send()
    };

    // CSRF: no cookie, another browser's cookie, or no token: refused before any password check.
    let res = post(None, form(&token, "", PASSWORD)).await.unwrap();
    assert_problem(res, 403, "csrf").await;
    let other = "__Host-palisade-form=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let res = post(Some(other), form(&token, "", PASSWORD)).await.unwrap();
    assert_problem(res, 403, "csrf").await;
    let res = post(Some(&form_cookie), form("", "", PASSWORD))
        .await
        .unwrap();
    assert_problem(res, 403, "csrf").await;

    // return_to outside the allow-list: refused, on the GET and on the POST.
    let res = c
        .get(gw.url("/auth/pages/sign-in?return_to=https://evil.test/"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "return-to-not-allowed").await;
    let res = post(Some(&form_cookie), form(&token, "//evil.test/x", PASSWORD))
        .await
        .unwrap();
    assert_problem(res, 400, "return-to-not-allowed").await;

    // A wrong password: the page again, 401, the reason shown, no session.
    let res = post(Some(&form_cookie), form(&token, "", "wrong-password"))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(cookie_pair(&res, "__Host-palisade").is_none());
    assert!(res.text().await.unwrap().contains("role=\"alert\""));

    // The right one: 303 to return_to with the session cookie.
    let res = post(
        Some(&form_cookie),
        form(&token, "https://app.example.com/after", PASSWORD),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "https://app.example.com/after");
    let session = cookie_pair(&res, "__Host-palisade").expect("session cookie");
    let page = c
        .get(gw.url("/auth/pages/signed-in"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("name=\"palisade-csrf\"")
    );
}

#[tokio::test]
async fn password_sign_in_by_form_records_amr_and_the_signed_in_page_needs_a_session() {
    let gw = gateway_with_account("form.amr@example.com").await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = c.get(gw.url("/auth/pages/signed-in")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "sign-in");
    let res = c.get(gw.url("/auth/pages/sign-in")).send().await.unwrap();
    let cookie = cookie_pair(&res, "__Host-palisade-form").unwrap();
    let token = form_token(&res.text().await.unwrap());
    let res = c
        .post(gw.url("/auth/pages/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .body(format!(
            "form_token={token}&return_to=&email=form.amr%40example.com&password={PASSWORD}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "signed-in");
    let session = cookie_pair(&res, "__Host-palisade").unwrap();
    let page = c
        .get(gw.url("/auth/pages/signed-in"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"sign-out\""));
    // The sign-in is on record with its methods and level.
    let trail = gw.gateway.state.audit.trail().unwrap().clone();
    trail.flush().await;
    let stored = gw.gateway.state.store.audit_range(0, 1000).await.unwrap();
    let login = stored
        .iter()
        .rev()
        .find(|r| r.event_type == "auth.login_success")
        .expect("auth.login_success");
    assert_eq!(login.details["amr"], json!(["pwd"]), "{:?}", login.details);
    assert_eq!(login.details["acr"], "aal1");
}

#[tokio::test]
async fn passkey_api_refuses_without_a_session_and_with_an_unknown_ceremony() {
    let gw = gateway_with_account("passkey.api@example.com").await;
    let c = client();
    let res = c
        .post(gw.url("/auth/passkeys/register/start"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "missing").await;
    let res = c
        .post(gw.url("/auth/passkeys/sign-in/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let start: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        start["options"]["publicKey"]["userVerification"],
        "required"
    );
    assert_eq!(start["options"]["publicKey"]["rpId"], "localhost");
    let credential = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null},
        "extensions": {}
    });
    let res = c
        .post(gw.url("/auth/passkeys/sign-in/finish"))
        .json(&json!({"ceremony": "not-a-ceremony", "credential": credential}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "ceremony-unknown").await;
    // A real ceremony with a made-up assertion: refused, and the ceremony is used up.
    let res = c
        .post(gw.url("/auth/passkeys/sign-in/finish"))
        .json(&json!({"ceremony": start["ceremony"], "credential": credential}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "passkey-unknown").await;
    let res = c
        .post(gw.url("/auth/passkeys/sign-in/finish"))
        .json(&json!({"ceremony": start["ceremony"], "credential": credential}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "ceremony-unknown").await;
    let res = c
        .post(gw.url("/auth/passkeys/sign-in/finish"))
        .json(
            &json!({"ceremony": "x", "credential": credential, "return_to": "https://evil.test/"}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "return-to-not-allowed").await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
