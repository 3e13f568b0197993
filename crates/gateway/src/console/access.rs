//! Who may see a console page, decided in one place (`open`), in this order: the address
//! (`console.allow_cidrs`; else 403, `auth.page_refused` with reason `address-not-allowed`), the
//! browser session (else a `303` to the hosted sign-in page with `return_to` back here, where
//! MFA happens as for every sign-in), the idle timeout (`console.idle_timeout`, tracked in hot
//! state so every replica sees the same last activity; an idle session is ended,
//! `console.idle_timeout`, and sent to sign in again), then `admin.console.read` and the page's
//! own admin read permission (else a 403 page, recorded as `authz.denied` as the API records it).

#![allow(clippy::result_large_err)]

use super::render::{forbidden_page, refused_page};
use crate::api::admin::perm;
use crate::api::extract::{Caller, Ctx};
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::state::AppState;
use axum::Extension;
use axum::response::Response;
use http::{StatusCode, Uri};
use palisade_core::principal::Principal;
use palisade_store::identity::RevocationReason;
use std::sync::Arc;

/// A viewer admitted to a console page: the caller, the session's CSRF token for the page's
/// script, and where the console and the admin API are (under `api.mount`).
pub(crate) struct Viewer {
    pub caller: Caller,
    pub csrf_token: String,
    /// `{mount}/admin/console`.
    pub base: String,
    /// `{mount}/admin`, what the script's API paths are relative to.
    pub api: String,
}

impl Viewer {
    /// Whether the viewer holds `permission` (to show an action's controls; the API decides).
    pub(crate) fn may(&self, state: &AppState, permission: &str) -> bool {
        state.authz.permits(&self.caller.0, permission)
    }
}

/// The hot-state flag that says a console session was active within `console.idle_timeout`.
fn activity_flag(sid: &str) -> String {
    format!("console:active:{sid}")
}

/// The viewer of a console page that needs `page_perm`, or the answer that stops them.
pub(crate) async fn open(
    state: &AppState,
    ctx: &Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    uri: &Uri,
    page_perm: &'static str,
) -> Result<Viewer, Response> {
    let mount = state.routes.mount();
    if !state.config.console.allows(ctx.ip) {
        return Err(refused_page(
            state,
            ctx,
            StatusCode::FORBIDDEN,
            "address-not-allowed",
            "The console is not available from this address.",
        ));
    }
    let Some(p) = crate::pages::sign_in::browser_session(caller) else {
        return Err(to_sign_in(mount, uri));
    };
    let sid = p.session_id.clone().unwrap_or_default();
    if !still_active(state, &p, &sid).await? {
        if let Ok(id) = sid.parse() {
            let _ = state
                .identity
                .revoke_session(id, RevocationReason::Expired)
                .await;
        }
        state.audit.record(
            ctx.audit(
                AuditEvent::new("console.idle_timeout", Risk::Low, Outcome::Denied)
                    .actor(p.subject.clone())
                    .resource(format!("session:{sid}")),
            ),
        );
        return Err(to_sign_in(mount, uri));
    }
    for permission in [perm::CONSOLE_READ, page_perm] {
        if !state.authz.permits(&p, permission) {
            state.authz.record_admin_denial(&p, permission, &ctx.origin);
            return Err(forbidden_page(state, mount, permission));
        }
    }
    let csrf_token = state.identity.cookies.csrf_token(&sid);
    Ok(Viewer {
        caller: Caller(p),
        csrf_token,
        base: format!("{mount}/admin/console"),
        api: format!("{mount}/admin"),
    })
}

/// Whether the session was active within the idle timeout (a sign-in within it counts), and
/// its activity renewed if so; a hot state that cannot answer is a 503 (fail closed).
async fn still_active(state: &AppState, p: &Principal, sid: &str) -> Result<bool, Response> {
    let idle = state.config.console.idle_timeout.0;
    let flag = activity_flag(sid);
    let unavailable = |e: palisade_store::StoreError| {
        tracing::warn!(error = %e, "console activity cannot be read; refusing");
        super::render::unavailable_page()
    };
    let seen = state.hot.has_flag(&flag).await.map_err(unavailable)?;
    let now = state.clock.now_millis() / 1000;
    let signed_in_within = p
        .assurance
        .as_ref()
        .is_some_and(|a| now.saturating_sub(a.auth_time) < idle.as_secs());
    if !seen && !signed_in_within {
        return Ok(false);
    }
    state.hot.set_flag(&flag, idle).await.map_err(unavailable)?;
    Ok(true)
}

/// `303` to the hosted sign-in page, coming back to this console page after it.
fn to_sign_in(mount: &str, uri: &Uri) -> Response {
    let below = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let back = format!("{mount}{below}");
    let q = serde_urlencoded::to_string([("return_to", back.as_str())]).unwrap_or_default();
    crate::pages::see_other(&format!("{mount}/auth/pages/sign-in?{q}"))
}
