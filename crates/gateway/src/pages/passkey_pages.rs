//! The passkeys page (`/auth/pages/passkeys`): a signed-in account's passkeys and the button
//! that adds one (the page's script runs the WebAuthn ceremony against `/auth/passkeys/*`,
//! sending the session's CSRF token). Without a browser session it sends the browser to sign in.

use super::sign_in::browser_session;
use super::{page, render::render, see_other};
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use http::StatusCode;
use palisade_core::principal::Principal;
use std::sync::Arc;

/// `/auth/pages/passkeys`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/auth/pages/passkeys", get(passkeys_page))
}

/// The passkeys page.
#[utoipa::path(
    get, path = "/auth/pages/passkeys", tag = "pages",
    responses(
        (status = 200, description = "The passkeys page (HTML).", content_type = "text/html"),
        (status = 303, description = "Not signed in with the cookie: to the sign-in page."),
        (status = 404, description = "Passkeys are not configured."),
    ),
)]
async fn passkeys_page(
    State(state): S,
    ctx: Ctx,
    caller: Option<Extension<Arc<Principal>>>,
) -> Response {
    if !state.config.auth.passkeys.enabled() {
        return ctx.problem(
            StatusCode::NOT_FOUND,
            "passkeys-off",
            "Passkeys are not configured here (auth.passkeys.rp_id).",
        );
    }
    let Some(session) = browser_session(caller) else {
        return see_other("sign-in");
    };
    let Some(uid) = session.account else {
        return see_other("sign-in");
    };
    let list = match state.store.passkeys_for_user(uid).await {
        Ok(l) => l,
        Err(e) => return ctx.unavailable(e),
    };
    let items: Vec<_> = list
        .iter()
        .map(|p| {
            minijinja::context! {
                name => &p.name,
                created => format_day(p.created_at),
            }
        })
        .collect();
    let csrf_token = session
        .session_id
        .as_deref()
        .map(|sid| state.identity.cookies.csrf_token(sid))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        render(
            "passkeys.html",
            minijinja::context! { items => items, csrf_token => csrf_token },
        ),
    )
}

type S = State<Arc<AppState>>;

/// `YYYY-MM-DD` (UTC) of Unix milliseconds.
fn format_day(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn days() {
        assert_eq!(super::format_day(0), "1970-01-01");
        assert_eq!(super::format_day(1_800_000_000_000), "2027-01-15");
        assert_eq!(super::format_day(951_782_400_000), "2000-02-29");
    }
}
