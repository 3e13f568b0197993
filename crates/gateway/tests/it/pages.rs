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

/// A browser over plain HTTP: its own cookie jar (the `__Host-` cookies are `Secure`, which a
/// cookie store would not send to `http://`), redirects not followed.
pub(crate) struct Browser {
    http: reqwest::Client,
    jar: std::sync::Mutex<Vec<(String, String)>>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn has_cookie(&self, name: &str) -> bool {
        self.jar.lock().unwrap().iter().any(|(k, _)| k == name)
    }

    /// The value of cookie `name`, if the jar holds it.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        jar.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn keep(&self, res: &reqwest::Response) {
        let mut jar = self.jar.lock().unwrap();
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (name, value) = v.split(';').next().unwrap().split_once('=').unwrap();
            jar.retain(|(k, _)| k != name);
            if !v.contains("Max-Age=0") {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub(crate) async fn get(&self, url: String) -> reqwest::Response {
        let res = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    pub(crate) async fn post(&self, url: String, fields: &[(&str, &str)]) -> reqwest::Response {
        let res = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", self.cookie_header())
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }
}

/// The value of the hidden input `name` in `html`.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The text of the element with `id`, up to its first tag end.
pub(crate) fn text_of(html: &str, id: &str) -> String {
    let key = format!("id=\"{id}\"");
    let at = html.find(&key).unwrap_or_else(|| panic!("{id} in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

/// Signs `email` in through the sign-in form; the response to the form.
pub(crate) async fn sign_in_by_form(
    b: &Browser,
    url: impl Fn(&str) -> String,
    email: &str,
    password: &str,
    return_to: &str,
) -> reqwest::Response {
    let page = b.get(url("/auth/pages/sign-in")).await;
    let token = form_token(&page.text().await.unwrap());
    b.post(
        url("/auth/pages/sign-in"),
        &[
            ("form_token", &token),
            ("return_to", return_to),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

mod signed_in_forms {
    //! The signed-in pages' forms over HTTP: the session's CSRF token in the body is required,
    //! a missing session goes to sign-in with return_to, and the TOTP, recovery-code and
    //! device pages call the same use cases as the API.
    use super::*;
    use crate::identity::Env;
    use palisade_core::mfa::totp::{TotpParams, code_at};
    use std::time::Duration;

    async fn env() -> Env {
        Env::start(|c| {
            c.auth.pages.return_to_origins = vec!["https://app.example.com".into()];
            c.auth.device.clients = vec!["tv-app".into()];
            c.auth.device.verification_uri = "http://localhost/auth/pages/device".into();
            c.auth.device.max_entry_failures = 2;
        })
        .await
    }

    async fn signed_in(env: &Env, email: &str) -> Browser {
        let res = client()
            .post(env.url("/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let b = Browser::new();
        let res = sign_in_by_form(&b, |p| env.url(p), email, PASSWORD, "").await;
        assert_eq!(res.status(), 303);
        assert!(b.has_cookie("__Host-palisade"));
        b
    }

    fn code(env: &Env, secret: &str) -> String {
        let seed = palisade_core::mfa::base32::decode(secret).unwrap();
        code_at(
            &seed,
            env.identity().now_ms() / 1000,
            &TotpParams::default(),
        )
    }

    /// Enrolls an authenticator through the page; its secret and the recovery codes shown.
    async fn enroll_by_page(env: &Env, b: &Browser) -> (String, Vec<String>) {
        let page = b.get(env.url("/auth/pages/totp")).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("id=\"no-totp\""));
        let csrf = hidden(&html, "csrf_token");
        let res = b
            .post(
                env.url("/auth/pages/totp"),
                &[("csrf_token", &csrf), ("action", "add"), ("name", "phone")],
            )
            .await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("img-src")
        );
        let html = res.text().await.unwrap();
        assert!(html.contains("<svg") && html.contains("<path"), "QR inline");
        assert!(!html.contains("<?xml") && !html.contains("style="));
        let secret = text_of(&html, "totp-secret");
        let id = hidden(&html, "id");
        let wrong = b
            .post(
                env.url("/auth/pages/totp"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "confirm"),
                    ("id", &id),
                    ("code", "000000"),
                ],
            )
            .await;
        assert_eq!(wrong.status(), 422);
        let right = code(env, &secret);
        let res = b
            .post(
                env.url("/auth/pages/totp"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "confirm"),
                    ("id", &id),
                    ("code", &right),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"codes-warning\""));
        let codes: Vec<String> = html
            .split("<li><code>")
            .skip(1)
            .map(|s| s[..s.find('<').unwrap()].to_owned())
            .collect();
        assert_eq!(codes.len(), 10);
        env.advance(Duration::from_secs(30));
        (secret, codes)
    }

    #[tokio::test]
    async fn signing_in_again_through_the_page_ends_the_browsers_previous_session() {
        let env = env().await;
        let b = signed_in(&env, "again@example.com").await;
        let first = b.cookie("__Host-palisade").unwrap();
        let res = sign_in_by_form(&b, |p| env.url(p), "again@example.com", PASSWORD, "").await;
        assert_eq!(res.status(), 303);
        let second = b.cookie("__Host-palisade").unwrap();
        assert_ne!(first, second);
        let me = |cookie: String| {
            client()
                .get(env.url("/auth/me"))
                .header("cookie", format!("__Host-palisade={cookie}"))
                .send()
        };
        assert_problem(me(first).await.unwrap(), 401, "revoked").await;
        assert_eq!(me(second).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn pages2_totp_and_recovery_pages_need_the_sessions_csrf_token_and_enroll() {
        let env = env().await;
        let b = signed_in(&env, "forms.totp@example.com").await;
        // Without a session: to sign-in, coming back here.
        let anon = Browser::new();
        let res = anon.get(env.url("/auth/pages/totp")).await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "sign-in?return_to=%2Fauth%2Fpages%2Ftotp"
        );
        let res = anon
            .post(
                env.url("/auth/pages/totp"),
                &[("action", "add"), ("name", "x")],
            )
            .await;
        assert_eq!(res.status(), 303);
        // A form POST with the cookie to anything but a page is refused as it always was: the
        // body's token counts only where a page checks it.
        let res = b
            .post(env.url("/auth/sessions/revoke-all"), &[("csrf_token", "x")])
            .await;
        assert_problem(res, 403, "csrf").await;
        // With the session cookie but not its token: refused, nothing enrolled.
        let forms: [(&str, &[(&str, &str)]); 3] = [
            ("/auth/pages/totp", &[("action", "add"), ("name", "x")]),
            ("/auth/pages/recovery-codes", &[]),
            (
                "/auth/pages/device",
                &[("action", "lookup"), ("user_code", "BCDF-GHJK")],
            ),
        ];
        for (path, fields) in forms {
            let mut with = vec![("csrf_token", "not-the-token")];
            with.extend_from_slice(fields);
            let res = b.post(env.url(path), &with).await;
            assert_problem(res, 403, "csrf").await;
        }
        let uid = env
            .identity()
            .store
            .user_by_email("forms.totp@example.com")
            .await
            .unwrap()
            .unwrap()
            .id;
        assert!(env.identity().totp_list(uid).await.unwrap().is_empty());
        // A form from another site gets no further: the refusal is on record (refusals are
        // sampled, so at least one).
        let refused = env
            .gw
            .gateway
            .state
            .audit
            .recent()
            .into_iter()
            .filter(|e| e.event_type == "auth.page_refused" && e.details["reason"] == "csrf")
            .count();
        assert!(refused >= 1, "{refused}");

        // Through the page: enrolled, and the codes are the account's.
        let (_secret, codes) = enroll_by_page(&env, &b).await;
        assert_eq!(
            env.identity().store.recovery_remaining(uid).await.unwrap(),
            10
        );
        // This session is aal1: new recovery codes need aal2.
        let page = b.get(env.url("/auth/pages/recovery-codes")).await;
        let html = page.text().await.unwrap();
        assert!(html.contains("You have 10 unused recovery codes."));
        let csrf = hidden(&html, "csrf_token");
        let res = b
            .post(
                env.url("/auth/pages/recovery-codes"),
                &[("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(res.status(), 401);
        assert!(codes.iter().all(|c| c.len() >= 16), "{codes:?}");
        // Nor may it remove the authenticator.
        let html = b
            .get(env.url("/auth/pages/totp"))
            .await
            .text()
            .await
            .unwrap();
        let id = hidden(&html, "id");
        let res = b
            .post(
                env.url("/auth/pages/totp"),
                &[("csrf_token", &csrf), ("action", "remove"), ("id", &id)],
            )
            .await;
        assert_eq!(res.status(), 401);
        assert_eq!(env.identity().totp_list(uid).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn pages2_challenge_page_completes_the_sign_in_at_aal2_and_refuses_bad_forms() {
        let env = env().await;
        let b = signed_in(&env, "forms.mfa@example.com").await;
        let (secret, codes) = enroll_by_page(&env, &b).await;

        // Sign in again in a fresh browser: the password leads to the challenge page, with the
        // pending sign-in in its cookie, not in the URL.
        let b = Browser::new();
        let res = sign_in_by_form(
            &b,
            |p| env.url(p),
            "forms.mfa@example.com",
            PASSWORD,
            "/auth/pages/totp",
        )
        .await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            res.headers()["location"],
            "mfa?return_to=%2Fauth%2Fpages%2Ftotp"
        );
        assert!(b.has_cookie("__Host-palisade-mfa") && !b.has_cookie("__Host-palisade"));
        let set = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert!(
            set.iter().any(|v| v.starts_with("__Host-palisade-mfa=")
                && v.contains("HttpOnly")
                // Lax: it must survive a federated provider's redirect chain.
                && v.contains("SameSite=Lax")
                && v.contains("Secure")),
            "{set:?}"
        );

        let res = b
            .get(env.url("/auth/pages/mfa?return_to=https://evil.test/"))
            .await;
        assert_problem(res, 400, "return-to-not-allowed").await;
        let page = b
            .get(env.url("/auth/pages/mfa?return_to=/auth/pages/totp"))
            .await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("<label for=\"code\">") && html.contains("<label for=\"recovery-code\">")
        );
        let token = form_token(&html);

        // CSRF and return_to refusals, before any code is checked.
        let other = Browser::new();
        let res = other
            .post(
                env.url("/auth/pages/mfa"),
                &[
                    ("form_token", &token),
                    ("return_to", ""),
                    ("code", "123456"),
                ],
            )
            .await;
        assert_problem(res, 403, "csrf").await;
        let res = b
            .post(
                env.url("/auth/pages/mfa"),
                &[
                    ("form_token", &token),
                    ("return_to", "//evil.test/"),
                    ("code", "123456"),
                ],
            )
            .await;
        assert_problem(res, 400, "return-to-not-allowed").await;

        // A wrong code: the page again, 401, a step of the ladder, no session.
        let res = b
            .post(
                env.url("/auth/pages/mfa"),
                &[
                    ("form_token", &token),
                    ("return_to", "/auth/pages/totp"),
                    ("code", "000000"),
                ],
            )
            .await;
        assert_eq!(res.status(), 401);
        assert!(!b.has_cookie("__Host-palisade"));
        assert!(res.text().await.unwrap().contains("role=\"alert\""));
        let failed = env
            .gw
            .gateway
            .state
            .audit
            .recent()
            .into_iter()
            .filter(|e| {
                e.event_type == "mfa.failed"
                    && e.outcome == palisade_gateway::audit::Outcome::Failure
            })
            .filter(|e| e.details["during"].is_null())
            .count();
        assert_eq!(failed, 1);

        // The right one, once the ladder's delay is over: aal2 session, return_to, the pending
        // sign-in's cookie cleared.
        env.advance(Duration::from_secs(30));
        let right = code(&env, &secret);
        let res = b
            .post(
                env.url("/auth/pages/mfa"),
                &[
                    ("form_token", &token),
                    ("return_to", "/auth/pages/totp"),
                    ("code", &right),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/auth/pages/totp");
        assert!(b.has_cookie("__Host-palisade") && !b.has_cookie("__Host-palisade-mfa"));
        let login = env
            .gw
            .gateway
            .state
            .audit
            .recent()
            .into_iter()
            .rev()
            .find(|e| e.event_type == "auth.login_success")
            .unwrap();
        assert_eq!(login.details["acr"], "aal2", "{:?}", login.details);
        assert_eq!(login.details["amr"], json!(["pwd", "otp", "mfa"]));

        // aal2: new recovery codes now; the old set stops working.
        let html = b
            .get(env.url("/auth/pages/recovery-codes"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = hidden(&html, "csrf_token");
        let res = b
            .post(
                env.url("/auth/pages/recovery-codes"),
                &[("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"codes-warning\""));
        let fresh: Vec<String> = html
            .split("<li><code>")
            .skip(1)
            .map(|s| s[..s.find('<').unwrap()].to_owned())
            .collect();
        assert_eq!(fresh.len(), 10);

        // A recovery-code sign-in: an old code fails, a new one works once.
        let c = Browser::new();
        sign_in_by_form(&c, |p| env.url(p), "forms.mfa@example.com", PASSWORD, "").await;
        let token = form_token(
            &c.get(env.url("/auth/pages/mfa"))
                .await
                .text()
                .await
                .unwrap(),
        );
        let res = c
            .post(
                env.url("/auth/pages/mfa"),
                &[
                    ("form_token", &token),
                    ("return_to", ""),
                    ("recovery_code", &codes[0]),
                ],
            )
            .await;
        assert_eq!(res.status(), 401);
        env.advance(Duration::from_secs(30));
        let res = c
            .post(
                env.url("/auth/pages/mfa"),
                &[
                    ("form_token", &token),
                    ("return_to", ""),
                    ("recovery_code", &fresh[0]),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "signed-in");
        assert!(c.has_cookie("__Host-palisade"));
        // The pending sign-in was single-use: its cookie replayed leads back to sign-in.
        let d = Browser::new();
        sign_in_by_form(&d, |p| env.url(p), "forms.mfa@example.com", PASSWORD, "").await;
        let pending = d
            .jar
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == "__Host-palisade-mfa")
            .cloned()
            .unwrap();
        let token = form_token(
            &d.get(env.url("/auth/pages/mfa"))
                .await
                .text()
                .await
                .unwrap(),
        );
        env.advance(Duration::from_secs(30));
        let ok = code(&env, &secret);
        let res = d
            .post(
                env.url("/auth/pages/mfa"),
                &[("form_token", &token), ("return_to", ""), ("code", &ok)],
            )
            .await;
        assert_eq!(res.status(), 303);
        d.jar.lock().unwrap().push(pending);
        let res = d.get(env.url("/auth/pages/mfa")).await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "sign-in");

        // The aal2 session removes the authenticator through the page.
        let html = b
            .get(env.url("/auth/pages/totp"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = hidden(&html, "csrf_token");
        let id = hidden(&html, "id");
        let res = b
            .post(
                env.url("/auth/pages/totp"),
                &[("csrf_token", &csrf), ("action", "remove"), ("id", &id)],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "totp");
        let uid = env
            .identity()
            .store
            .user_by_email("forms.mfa@example.com")
            .await
            .unwrap()
            .unwrap()
            .id;
        assert!(env.identity().totp_list(uid).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn pages2_device_page_shows_the_request_and_approves_it() {
        let env = env().await;
        let b = signed_in(&env, "forms.device@example.com").await;
        let res = env
            .http
            .post(env.url("/auth/device/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("client_id=tv-app")
            .send()
            .await
            .unwrap();
        let grant: serde_json::Value = res.json().await.unwrap();
        let complete = grant["verification_uri_complete"].as_str().unwrap();
        assert!(complete.starts_with("http://localhost/auth/pages/device?user_code="));
        let user_code = grant["user_code"].as_str().unwrap();

        // Not signed in: to sign-in, and back here with the code.
        let anon = Browser::new();
        let q = &complete["http://localhost".len()..];
        let res = anon.get(env.url(q)).await;
        assert_eq!(res.status(), 303);
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            loc.starts_with("sign-in?return_to=%2Fauth%2Fpages%2Fdevice%3Fuser_code%3D"),
            "{loc}"
        );

        let html = b.get(env.url(q)).await.text().await.unwrap();
        assert!(!hidden(&html, "csrf_token").is_empty());
        assert!(html.contains(&format!("value=\"{user_code}\"")));
        let csrf = hidden(&html, "csrf_token");
        // A wrong code: the page again, 404, counted.
        let res = b
            .post(
                env.url("/auth/pages/device"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "lookup"),
                    ("user_code", "BBBB-BBBB"),
                ],
            )
            .await;
        assert_eq!(res.status(), 404);
        let res = b
            .post(
                env.url("/auth/pages/device"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "lookup"),
                    ("user_code", user_code),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert_eq!(text_of(&html, "device-client"), "tv-app");
        assert_eq!(text_of(&html, "device-address"), "127.0.0.1");
        // What approving grants, and for how long (ASVS 5.0 V10.7.2).
        assert!(
            html.contains("id=\"device-grants\"")
                && html.contains("everything your account may do")
                && html.contains("for up to 30 days"),
            "{html}"
        );
        let res = b
            .post(
                env.url("/auth/pages/device"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "approve"),
                    ("user_code", user_code),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("Device signed in"));
        let approved = env
            .gw
            .gateway
            .state
            .audit
            .recent()
            .into_iter()
            .filter(|e| e.event_type == "auth.device_approved")
            .count();
        assert_eq!(approved, 1);
        // Decided: a second decision is refused.
        let res = b
            .post(
                env.url("/auth/pages/device"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "deny"),
                    ("user_code", user_code),
                ],
            )
            .await;
        assert_eq!(res.status(), 409);
        // The device gets its tokens.
        let res = env
            .http
            .post(env.url("/auth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", grant["device_code"].as_str().unwrap()),
                    ("client_id", "tv-app"),
                ])
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let tokens: serde_json::Value = res.json().await.unwrap();
        assert!(tokens["access_token"].is_string());

        // Another request, denied on the page: the device's poll says access_denied.
        let res = env
            .http
            .post(env.url("/auth/device/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("client_id=tv-app")
            .send()
            .await
            .unwrap();
        let grant: serde_json::Value = res.json().await.unwrap();
        let user_code = grant["user_code"].as_str().unwrap();
        let res = b
            .post(
                env.url("/auth/pages/device"),
                &[
                    ("csrf_token", &csrf),
                    ("action", "deny"),
                    ("user_code", user_code),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("denied"));
        let res = env
            .http
            .post(env.url("/auth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", grant["device_code"].as_str().unwrap()),
                    ("client_id", "tv-app"),
                ])
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "access_denied");
    }
}

#[tokio::test]
async fn pages2_under_a_mount_the_forms_still_prove_the_session_and_come_back_to_the_page() {
    let gw = start_with(|c| c.api.mount = Some("/.palisade".into()), vec![]).await;
    let email = "mounted.pages@example.com";
    let res = client()
        .post(gw.url("/.palisade/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let anon = Browser::new();
    let res = anon.get(gw.url("/.palisade/auth/pages/totp")).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "sign-in?return_to=%2F.palisade%2Fauth%2Fpages%2Ftotp"
    );
    let b = Browser::new();
    let res = sign_in_by_form(
        &b,
        |p| gw.url(&format!("/.palisade{p}")),
        email,
        PASSWORD,
        "/.palisade/auth/pages/totp",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/.palisade/auth/pages/totp");
    let html = b
        .get(gw.url("/.palisade/auth/pages/totp"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&html, "csrf_token");
    let res = b
        .post(
            gw.url("/.palisade/auth/pages/totp"),
            &[("csrf_token", &csrf), ("action", "add"), ("name", "phone")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("id=\"totp-secret\""));
}
