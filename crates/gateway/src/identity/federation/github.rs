//! A `kind = "github"` provider: GitHub's OAuth 2 (no OpenID Connect, no ID token). The
//! authorization request, the code exchange and the reading of the identity from GitHub's REST
//! API, each answer mapped by a pure function so the mapping is tested on GitHub's documented
//! shapes.
//!
//! Guarantees: the authorization request carries `state` and the PKCE `S256` challenge and no
//! `nonce` (there is no ID token to carry it back); the code is exchanged with the flow's PKCE
//! verifier and the provider's `redirect_uri`, only through the provider's reach (no redirects,
//! only its listed hosts); a token answer with an `error` is refused even though GitHub sends
//! it with status 200 (`bad_verification_code`: the code is used, expired or another's); the
//! account key is `(issuer, id)` with the issuer the web origin (`https://github.com`) and the
//! numeric `id` of `GET /user` as a string, never the login or an e-mail address; the e-mail
//! is verified only when `GET /user/emails` lists it `primary` and `verified`; the claims rules
//! can read are `login`, `email_verified` (and `email`, `name`, informative). GitHub states no
//! `acr`: a GitHub sign-in never counts as a second factor.

use super::oidc::{Denied, VerifiedIdentity, denied, provider_failed};
use super::reach::{FetchError, ProviderHttp};
use crate::config::providers::ProviderConfig;
use serde_json::{Map, Value};

/// The authorization URL of a started flow: code, client, redirect URI, scopes, state and the
/// S256 challenge.
pub fn authorization_url(
    config: &ProviderConfig,
    state: &str,
    challenge: &str,
    scopes: &[String],
) -> Result<String, Denied> {
    let (authorize, _, _) = config.github_endpoints();
    let mut url = url::Url::parse(authorize).map_err(|_| misconfigured())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &config.redirect_uri)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("allow_signup", "false");
    Ok(url.into())
}

fn misconfigured() -> Denied {
    provider_failed(
        "provider-unavailable",
        "The identity provider is misconfigured.",
    )
}

fn unavailable() -> Denied {
    provider_failed(
        "provider-unavailable",
        "The identity provider cannot be reached; try again later.",
    )
}

fn code_rejected() -> Denied {
    denied(
        "code-rejected",
        "The provider did not accept the authorization code (used, expired or another's).",
    )
}

/// The access token of the token endpoint's answer. GitHub answers a refused exchange with
/// status 200 and `{"error": …}`: `bad_verification_code` is the code's fault (refused as
/// `code-rejected`); any other error (`incorrect_client_credentials`,
/// `redirect_uri_mismatch`, …) or an answer without a bearer `access_token` is the provider's
/// or the configuration's (`provider-unavailable`).
pub fn access_token_of(tokens: &Value) -> Result<String, Denied> {
    if let Some(error) = tokens.get("error") {
        return Err(match error.as_str() {
            Some("bad_verification_code") => code_rejected(),
            other => {
                tracing::warn!(error = ?other, "github token endpoint refused the exchange");
                unavailable()
            }
        });
    }
    if let Some(kind) = tokens.get("token_type")
        && !kind
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case("bearer"))
    {
        return Err(unavailable());
    }
    tokens
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(unavailable)
}

/// The identity of `GET /user` (`user`) and `GET /user/emails` (`emails`) at `issuer`.
pub fn identity_of(issuer: &str, user: &Value, emails: &Value) -> Result<VerifiedIdentity, Denied> {
    let unreadable = || {
        provider_failed(
            "provider-unavailable",
            "The identity provider's account data cannot be read; try again later.",
        )
    };
    // The numeric id, never the login (renamable) or an address.
    let subject = user
        .get("id")
        .and_then(Value::as_u64)
        .filter(|id| *id > 0)
        .ok_or_else(unreadable)?
        .to_string();
    let login = user
        .get("login")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .ok_or_else(unreadable)?;
    let list = emails.as_array().ok_or_else(unreadable)?;
    let primary = list
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)));
    let email = primary
        .and_then(|e| e.get("email"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let email_verified =
        email.is_some() && primary.and_then(|e| e.get("verified")) == Some(&Value::Bool(true));
    let mut claims = Map::new();
    claims.insert("login".into(), login.into());
    claims.insert("email_verified".into(), email_verified.into());
    if let Some(e) = &email {
        claims.insert("email".into(), e.clone().into());
    }
    if let Some(name) = user.get("name").and_then(Value::as_str) {
        claims.insert("name".into(), name.into());
    }
    Ok(VerifiedIdentity {
        issuer: issuer.to_owned(),
        subject,
        email,
        email_verified,
        claims,
        claimed: None,
    })
}

/// The callback's work after the `iss` check: the code exchanged, then the identity read
/// with the access token from `GET {api}/user` and `GET {api}/user/emails`.
pub async fn finish(
    http: &ProviderHttp,
    config: &ProviderConfig,
    issuer: &str,
    code: &str,
    verifier: &str,
) -> Result<VerifiedIdentity, Denied> {
    let (_, token_endpoint, api) = config.github_endpoints();
    let tokens = http
        .post_form_client_in_body(
            token_endpoint,
            (&config.client_id, &config.client_secret),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &config.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
        .map_err(|e| match e {
            FetchError::Status(400 | 401) => code_rejected(),
            e => {
                tracing::warn!(provider = %config.id, error = %e, "token request failed");
                unavailable()
            }
        })?;
    let access = access_token_of(&tokens)?;
    let read = |path: &'static str| {
        let url = format!("{api}{path}");
        let access = access.clone();
        async move {
            http.get_json_bearer(&url, &access).await.map_err(|e| {
                tracing::warn!(provider = %config.id, error = %e, path, "GitHub API read failed");
                unavailable()
            })
        }
    };
    let user = read("/user").await?;
    let emails = read("/user/emails").await?;
    identity_of(issuer, &user, &emails)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::providers::ProviderKind;
    use serde_json::json;

    fn config() -> ProviderConfig {
        ProviderConfig {
            id: "gh".into(),
            kind: ProviderKind::Github,
            client_id: "Iv1.8a61f9b3a7aba766".into(),
            client_secret: "file:/run/secrets/gh".into(),
            redirect_uri: "https://id.example.com/auth/federated/gh/callback".into(),
            ..Default::default()
        }
    }

    /// `GET /user`, shaped as GitHub documents it (abridged to the fields read and some not).
    fn user() -> Value {
        json!({
            "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://github.com/images/error/octocat_happy.gif",
            "type": "User", "site_admin": false, "name": "monalisa octocat",
            "company": "GitHub", "email": "octocat@github.com",
            "created_at": "2008-01-14T04:33:35Z",
        })
    }

    fn email(address: &str, primary: bool, verified: bool) -> Value {
        json!({"email": address, "verified": verified, "primary": primary, "visibility": "public"})
    }

    #[test]
    fn the_authorization_url_carries_state_and_s256_and_no_nonce() {
        let scopes = config().sign_in_scopes();
        assert_eq!(scopes, ["read:user", "user:email"]);
        let url = authorization_url(&config(), "the-state", "the-challenge", &scopes).unwrap();
        let url = url::Url::parse(&url).unwrap();
        assert_eq!(url.origin().ascii_serialization(), "https://github.com");
        assert_eq!(url.path(), "/login/oauth/authorize");
        let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "the-state");
        assert_eq!(q["code_challenge"], "the-challenge");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "Iv1.8a61f9b3a7aba766");
        assert_eq!(
            q["redirect_uri"],
            "https://id.example.com/auth/federated/gh/callback"
        );
        assert_eq!(q["scope"], "read:user user:email");
        assert!(!q.contains_key("nonce"), "{q:?}");
    }

    #[test]
    fn the_primary_verified_address_is_the_verified_email_and_the_id_is_the_subject() {
        let emails = json!([
            email("octocat@users.noreply.github.com", false, true),
            email("octocat@github.com", true, true),
        ]);
        let who = identity_of("https://github.com", &user(), &emails).unwrap();
        assert_eq!(who.issuer, "https://github.com");
        assert_eq!(who.subject, "1");
        assert_eq!(who.email.as_deref(), Some("octocat@github.com"));
        assert!(who.email_verified);
        assert_eq!(who.claims["login"], "octocat");
        assert_eq!(who.claims["email_verified"], true);
        assert!(who.claimed.is_none(), "no acr from GitHub");
    }

    #[test]
    fn an_unverified_primary_or_no_primary_leaves_the_email_unverified() {
        let unverified = json!([
            email("octocat@github.com", true, false),
            email("other@example.com", false, true),
        ]);
        let who = identity_of("https://github.com", &user(), &unverified).unwrap();
        assert_eq!(who.email.as_deref(), Some("octocat@github.com"));
        assert!(!who.email_verified);
        assert_eq!(who.claims["email_verified"], false);

        let no_primary = json!([email("other@example.com", false, true)]);
        let who = identity_of("https://github.com", &user(), &no_primary).unwrap();
        assert_eq!(
            who.email, None,
            "a verified secondary address does not count"
        );
        assert!(!who.email_verified);

        let who = identity_of("https://github.com", &user(), &json!([])).unwrap();
        assert!(!who.email_verified);
    }

    #[test]
    fn the_subject_is_the_numeric_id_never_the_login_or_the_email() {
        let mut u = user();
        u["id"] = json!(583231);
        let who = identity_of("https://ghe.example.com", &u, &json!([])).unwrap();
        assert_eq!(who.subject, "583231");
        assert_eq!(who.issuer, "https://ghe.example.com");
        for bad in [
            json!("583231"),
            json!(null),
            json!(0),
            json!(-5),
            json!(1.5),
        ] {
            let mut u = user();
            u["id"] = bad.clone();
            assert!(
                identity_of("https://github.com", &u, &json!([])).is_err(),
                "id {bad}"
            );
        }
        let mut u = user();
        u.as_object_mut().unwrap().remove("login");
        assert!(identity_of("https://github.com", &u, &json!([])).is_err());
        // An error body where the e-mail list belongs (a token without user:email).
        let denied = identity_of(
            "https://github.com",
            &user(),
            &json!({"message": "Requires authentication"}),
        )
        .unwrap_err();
        assert!(denied.provider_failed);
    }

    #[test]
    fn token_answers_with_an_error_are_refused_though_github_sends_them_with_200() {
        let ok = json!({"access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "scope": "read:user,user:email", "token_type": "bearer"});
        assert_eq!(
            access_token_of(&ok).unwrap(),
            "gho_16C7e42F292c6912E7710c838347Ae178B4a"
        );
        let bad_code = json!({"error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"});
        let d = access_token_of(&bad_code).unwrap_err();
        assert_eq!(d.reason, "code-rejected");
        assert!(!d.provider_failed);
        let creds = json!({"error": "incorrect_client_credentials",
            "error_description": "The client_id and/or client_secret passed are incorrect."});
        let d = access_token_of(&creds).unwrap_err();
        assert!(d.provider_failed, "a configuration fault, not the person's");
        // An error next to a token still refuses; no token, or not a bearer one, refuses.
        assert!(access_token_of(&json!({"error": "x", "access_token": "t"})).is_err());
        assert!(access_token_of(&json!({"token_type": "bearer"})).is_err());
        assert!(access_token_of(&json!({"access_token": "t", "token_type": "mac"})).is_err());
    }
}
