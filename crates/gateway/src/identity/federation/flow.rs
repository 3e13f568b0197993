//! The federated sign-in use cases the HTTP API calls: start a flow (sign-in or link), and
//! finish it at the callback. Each records its outcome: `auth.federated_login` for every
//! sign-in, succeeded or refused with its reason (refusals sampled like other sign-in
//! refusals), `auth.federated_link` for every link ([`super::accounts`]).
//!
//! Guarantees: a flow starts only for a configured provider and an allow-listed `return_to`
//! (`pages::return_to`: a path here or an origin in `auth.pages.return_to_origins`); the
//! callback takes the flow of its `state` once, and only in the browser that started it (the
//! `__Host-palisade-fed` cookie) and at the callback of the provider it went to; the
//! identity is verified by [`super::oidc`]. A sign-in of an account with second factors passes
//! the same gate as a password sign-in (`second_factor_gate`) unless the provider is
//! `mfa_claims_trusted` and its ID token claims `aal2`; the session is opened by
//! `open_browser_session` only, with `amr = ["fed"]` (plus `mfa` when the provider's claim
//! counted).

#![allow(clippy::result_large_err)]

use super::oidc::{Denied, Provider};
use super::pending::{self, Intent};
use crate::api::auth::{SecondFactorStep, second_factor_step};
use crate::api::extract::Ctx;
use crate::api::sessions::open_browser_session;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::mfa::FirstFactor;
use crate::identity::sessions::ClientInfo;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use palisade_core::mfa::assurance::{Acr, Assurance, amr};
use palisade_store::identity::SessionKind;
use serde::Deserialize;

/// The authorization response's parameters (others, such as `session_state`, are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    /// The authorization code.
    #[serde(default)]
    pub code: Option<String>,
    /// The flow's state.
    #[serde(default)]
    pub state: Option<String>,
    /// RFC 9207 issuer identifier.
    #[serde(default)]
    pub iss: Option<String>,
    /// An error the provider reports (`access_denied`, …).
    #[serde(default)]
    pub error: Option<String>,
}

/// A refusal of a federated sign-in: `auth.federated_login` (denied, with `reason`) on record,
/// answered as problem+json.
pub(crate) fn refuse(
    state: &AppState,
    ctx: &Ctx,
    provider: &str,
    actor: Option<String>,
    status: StatusCode,
    reason: &'static str,
    detail: &'static str,
) -> Response {
    let mut event = AuditEvent::new("auth.federated_login", Risk::Medium, Outcome::Denied)
        .details(serde_json::json!({ "provider": provider, "reason": reason }));
    if let Some(a) = actor {
        event = event.actor(a);
    }
    state.identity.audit.record_refusal(ctx.audit(event));
    let mut res = ctx.problem(status, reason, detail);
    clear_binding(&mut res);
    res
}

fn refuse_denied(state: &AppState, ctx: &Ctx, provider: &str, d: Denied) -> Response {
    let status = if d.provider_failed {
        StatusCode::BAD_GATEWAY
    } else if d.reason.starts_with("id-token") || d.reason == "nonce-mismatch" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    refuse(state, ctx, provider, None, status, d.reason, d.detail)
}

fn clear_binding(res: &mut Response) {
    if let Ok(v) = HeaderValue::from_str(&pending::clear_binding()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The provider `id`, or the refusal.
fn provider<'a>(state: &'a AppState, ctx: &Ctx, id: &str) -> Result<&'a Provider, Response> {
    state.federation.provider(id).ok_or_else(|| {
        refuse(
            state,
            ctx,
            id,
            None,
            StatusCode::NOT_FOUND,
            "provider-unknown",
            "No identity provider of that name is configured.",
        )
    })
}

/// A started flow: where to send the browser and the binding cookie to set.
pub(crate) struct Started {
    /// The provider's authorization URL.
    pub location: String,
    /// `Set-Cookie` of the browser binding.
    pub set_cookie: String,
}

impl Started {
    /// `302` to the provider with the binding cookie.
    pub(crate) fn redirect(self) -> Response {
        let mut res = StatusCode::FOUND.into_response();
        if let (Ok(loc), Ok(cookie)) = (
            HeaderValue::from_str(&self.location),
            HeaderValue::from_str(&self.set_cookie),
        ) {
            res.headers_mut().insert(header::LOCATION, loc);
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
        crate::api::extract::no_store(res)
    }
}

/// Starts a flow to provider `id`: state, nonce and PKCE verifier kept server-side.
pub(crate) async fn start(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    return_to: &str,
    intent: Intent,
) -> Result<Started, Response> {
    let provider = provider(state, ctx, id)?;
    if !return_to.is_empty()
        && crate::pages::return_to::allowed(&state.config.auth.pages, return_to).is_none()
    {
        return Err(refuse(
            state,
            ctx,
            id,
            None,
            StatusCode::BAD_REQUEST,
            "return-to-not-allowed",
            "return_to must be a path on this server or an origin in auth.pages.return_to_origins.",
        ));
    }
    let sign_in_scopes = provider.config.sign_in_scopes();
    let scopes = match intent {
        Intent::Connect(_) if provider.config.connection_scopes.is_empty() => {
            return Err(refuse(
                state,
                ctx,
                id,
                None,
                StatusCode::NOT_FOUND,
                "connections-off",
                "This provider offers no connections (auth.providers[].connection_scopes).",
            ));
        }
        Intent::Connect(_) => &provider.config.connection_scopes,
        _ => &sign_in_scopes,
    };
    let flows = &state.federation.flows;
    let s = flows.start(id, return_to.to_owned(), intent);
    let location = provider
        .authorization_url(&s.state, &s.nonce, &s.challenge, scopes)
        .await
        .map_err(|d| refuse_denied(state, ctx, id, d))?;
    Ok(Started {
        location,
        set_cookie: pending::set_binding(&s.binding, flows.ttl_secs()),
    })
}

/// Finishes a flow at provider `id`'s callback: the browser session opened (or the identity
/// linked) and a `303` to the flow's `return_to`, or the refusal.
pub(crate) async fn callback(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    id: &str,
    q: CallbackQuery,
) -> Response {
    let provider = match provider(state, ctx, id) {
        Ok(p) => p,
        Err(res) => return res,
    };
    let bad = |reason, detail| {
        refuse(
            state,
            ctx,
            id,
            None,
            StatusCode::BAD_REQUEST,
            reason,
            detail,
        )
    };
    let Some(flow_state) = q.state.as_deref() else {
        return bad("state-missing", "The provider's answer carries no state.");
    };
    let binding = pending::binding_of(headers);
    let flow = match state.federation.flows.take(flow_state, binding.as_deref()) {
        None => {
            return bad(
                "state-unknown",
                "This sign-in is unknown, used or expired; start again.",
            );
        }
        Some(Err(_)) => {
            return bad(
                "browser-mismatch",
                "This sign-in was started in another browser; start again.",
            );
        }
        Some(Ok(flow)) => flow,
    };
    if flow.provider != id {
        return bad(
            "provider-mismatch",
            "This sign-in was started with another provider.",
        );
    }
    if q.error.is_some() {
        return bad(
            "provider-error",
            "The identity provider did not sign you in.",
        );
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return bad("code-missing", "The provider's answer carries no code.");
    };
    let target = if flow.return_to.is_empty() {
        "../../pages/signed-in".to_owned()
    } else {
        flow.return_to.clone()
    };
    if let Intent::Connect(owner) = flow.intent {
        let tokens = match provider
            .exchange(code, q.iss.as_deref(), &flow.verifier)
            .await
        {
            Ok((_, tokens)) => tokens,
            Err(d) => return refuse_denied(state, ctx, id, d),
        };
        return match crate::identity::connections::create(state, ctx, owner, id, &tokens).await {
            Ok(_) => {
                let mut res = crate::pages::see_other(&target);
                clear_binding(&mut res);
                res
            }
            Err(res) => res,
        };
    }
    let now = state.identity.now_ms() / 1000;
    let who = match provider
        .finish(code, q.iss.as_deref(), &flow.verifier, &flow.nonce, now)
        .await
    {
        Ok(who) => who,
        Err(d) => return refuse_denied(state, ctx, id, d),
    };
    let (user, how) =
        match super::accounts::resolve(state, ctx, &provider.config, &who, &flow.intent).await {
            Ok(found) => found,
            Err(d) => return refuse_denied(state, ctx, id, d),
        };
    if let Intent::Link(_) = flow.intent {
        // The account is signed in already: the link is on record, no new session.
        let mut res = crate::pages::see_other(&target);
        clear_binding(&mut res);
        return res;
    }
    let trusted_mfa = provider
        .config
        .mfa_claims_trusted
        .then_some(who.claimed.as_ref())
        .flatten()
        .filter(|a| a.acr == Acr::Aal2);
    let assurance = match trusted_mfa {
        Some(claimed) => Assurance {
            amr: vec![amr::FED.into(), amr::MFA.into()],
            acr: Acr::Aal2,
            auth_time: claimed.auth_time.min(now),
        },
        None => {
            // The second factor is owed here: the hosted challenge page takes over (the pending
            // sign-in remembers it began at a provider), or the account may not sign in at all.
            let step = second_factor_step(
                state,
                ctx,
                headers,
                &user,
                SessionKind::Cookie,
                FirstFactor::Federated,
            )
            .await;
            let mut res = match step {
                Ok(SecondFactorStep::Clear) => None,
                Ok(SecondFactorStep::Challenge { token, .. }) => {
                    Some(crate::pages::mfa_challenge::continue_there(
                        state,
                        "../../pages/mfa",
                        &token,
                        &flow.return_to,
                    ))
                }
                Err(res) => Some(res),
            };
            if let Some(res) = res.as_mut() {
                state.identity.audit.record(
                    ctx.audit(
                        AuditEvent::new("auth.federated_login", Risk::Medium, Outcome::Denied)
                            .actor(state.identity.subject_of(&user))
                            .details(serde_json::json!({
                                "provider": id, "reason": "second-factor-required",
                            })),
                    ),
                );
                clear_binding(res);
            }
            if let Some(res) = res {
                return res;
            }
            FirstFactor::Federated.assurance(now)
        }
    };
    let client = ClientInfo::from_headers(headers);
    let opened = match open_browser_session(state, ctx, &user, &client, &assurance).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    state.identity.audit.record(
        ctx.audit(
            AuditEvent::new("auth.federated_login", Risk::Low, Outcome::Success)
                .actor(state.identity.subject_of(&user))
                .details(serde_json::json!({
                    "provider": id, "issuer": who.issuer, "subject": who.subject,
                    "how": how, "acr": assurance.acr.as_str(),
                })),
        ),
    );
    let mut res = crate::pages::see_other(&target);
    opened.set_on(&mut res);
    clear_binding(&mut res);
    res
}
