//! Palisade's own API described: the OpenAPI 3.1 document generated from the handlers'
//! `#[utoipa::path]` attributes ([`ApiDoc`]), served at `GET /admin/openapi.json` (permission
//! `admin.api.read`; never at the root, where an upstream framework serves its own) and checked
//! in as `docs/openapi.json` (a test fails when it differs; `UPDATE_OPENAPI=1 cargo test -p
//! palisade-gateway --test it openapi` rewrites it).
//!
//! What every operation shares is added here once (`Shared`) rather than in each attribute:
//! the security schemes, the problem+json content of every error answer, and the refusals any
//! built-in endpoint can get from the gates or the body parser (401 without a credential where
//! one is needed, 415/413/422 for a JSON body, 429, 503).

pub(crate) mod schemas;

use super::admin::perm;
use super::extract::{Caller, Ctx, require};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use std::sync::{Arc, LazyLock};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response as Answer};
use utoipa::{Modify, OpenApi};

/// Where the document is served.
pub const PATH: &str = "/admin/openapi.json";

/// The OpenAPI document of every built-in endpoint. A new endpoint gets a `#[utoipa::path]` on
/// its handler and its name in `paths(...)` here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Palisade",
        description = "Palisade's own API: operations, sign-in and sessions, API keys, forward auth, administration, the secrets store and transit encryption. Every error is application/problem+json (RFC 9457).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::api::ops::healthz,
        crate::api::ops::readyz,
        crate::api::ops::metrics,
        crate::api::auth::register,
        crate::api::auth::login,
        crate::api::auth::refresh,
        crate::api::auth::logout,
        crate::api::auth::me,
        crate::api::auth::invite,
        crate::api::auth::jwks,
        crate::api::device::authorize,
        crate::api::device::token,
        crate::api::device::lookup,
        crate::api::device::approve,
        crate::api::device::deny,
        crate::api::email::verify_request,
        crate::api::email::verify,
        crate::api::email::forgot,
        crate::api::email::reset,
        crate::api::email::change_email,
        crate::api::export::own_export,
        crate::api::export::admin_export,
        crate::api::deletion::delete_own,
        crate::api::deletion::delete_user,
        crate::api::deletion::restore,
        crate::api::sessions::list_sessions,
        crate::api::sessions::revoke_all_sessions,
        crate::api::sessions::delete_session,
        crate::api::sessions::browser_login,
        crate::api::sessions::browser_logout,
        crate::api::mfa::enroll_totp,
        crate::api::mfa::list_totp,
        crate::api::mfa::confirm_totp,
        crate::api::mfa::remove_totp,
        crate::api::mfa::regenerate_recovery,
        crate::api::mfa::verify,
        crate::api::mfa::admin_reset,
        crate::identity::federation::routes::start,
        crate::identity::federation::routes::callback,
        crate::identity::federation::routes::link,
        crate::identity::connections::routes::connect,
        crate::identity::connections::routes::list,
        crate::identity::connections::routes::token,
        crate::identity::connections::routes::remove,
        crate::passkeys::routes::list,
        crate::passkeys::routes::remove,
        crate::passkeys::routes::register_start,
        crate::passkeys::routes::register_finish,
        crate::passkeys::routes::sign_in_start,
        crate::passkeys::routes::sign_in_finish,
        crate::console::to_console,
        crate::console::assets::css,
        crate::console::assets::js,
        crate::console::dashboard::page,
        crate::console::audit::page,
        crate::console::audit::verify_page,
        crate::console::users::list_page,
        crate::console::users::user_page,
        crate::console::directory::tenants_page,
        crate::console::directory::roles_page,
        crate::console::directory::service_accounts_page,
        crate::console::blocks::page,
        crate::console::operations::incidents_page,
        crate::console::operations::lockdown_page,
        crate::console::operations::secrets_page,
        crate::console::operations::config_page,
        crate::pages::sign_in::sign_in_page,
        crate::pages::sign_in::sign_in_form,
        crate::pages::sign_in::signed_in_page,
        crate::pages::passkey_pages::passkeys_page,
        crate::pages::mfa_challenge::challenge_page,
        crate::pages::mfa_challenge::challenge_form,
        crate::pages::totp_pages::totp_page,
        crate::pages::totp_pages::totp_form,
        crate::pages::recovery_pages::recovery_page,
        crate::pages::recovery_pages::recovery_form,
        crate::pages::device_pages::device_page,
        crate::pages::device_pages::device_form,
        crate::pages::email_pages::forgot_page,
        crate::pages::email_pages::forgot_form,
        crate::pages::email_pages::reset_page,
        crate::pages::email_pages::reset_form,
        crate::pages::email_pages::verify_page,
        crate::pages::email_pages::verify_form,
        crate::pages::assets::css,
        crate::pages::assets::js,
        crate::api::api_keys::create_key,
        crate::api::api_keys::list_keys,
        crate::api::api_keys::revoke_key,
        crate::api::api_keys::rotate_key,
        crate::api::forward_auth::verify,
        crate::api::forward_auth::verify_original,
        crate::api::admin::tenants::list_tenants,
        crate::api::admin::tenants::create_tenant,
        crate::api::admin::tenants::delete_tenant,
        crate::api::admin::tenants::list_members,
        crate::api::admin::tenants::put_member,
        crate::api::admin::tenants::remove_member,
        crate::api::admin::tenants::list_grants,
        crate::api::admin::tenants::put_grants,
        crate::api::admin::tenants::remove_grants,
        crate::api::admin::policy::roles,
        crate::api::admin::policy::explain,
        crate::api::admin::policy::reload,
        crate::api::admin::service_accounts::list_accounts,
        crate::api::admin::service_accounts::create_account,
        crate::api::admin::service_accounts::create_key,
        crate::api::admin::blocks::list_blocks,
        crate::api::admin::blocks::unblock,
        crate::api::admin::blocks::block,
        crate::api::admin::audit::query,
        crate::api::admin::audit::export,
        crate::api::admin::audit::summary,
        crate::api::admin::audit::incidents,
        crate::api::admin::audit_events::post_events,
        crate::api::admin::command_policy::check_command,
        crate::api::admin::compliance::compliance_report,
        crate::api::admin::incident::status,
        crate::api::admin::incident::switch,
        crate::api::admin::incident::disable,
        crate::api::admin::incident::enable,
        crate::api::admin::users::list_users,
        crate::api::admin::users::get_user,
        crate::api::admin::users::create_user,
        crate::api::admin::users::put_roles,
        crate::api::admin::users::put_tier,
        crate::api::admin::user_access::list_sessions,
        crate::api::admin::user_access::revoke_sessions,
        crate::api::admin::user_access::revoke_session,
        crate::api::admin::user_access::list_keys,
        crate::api::admin::user_access::revoke_key,
        crate::api::admin::user_access::factors,
        crate::api::admin::secrets::list_secrets,
        crate::api::admin::secrets::secret_versions,
        crate::api::admin::dashboard::series,
        openapi_json,
        crate::api::secrets::list,
        crate::api::secrets::read,
        crate::api::secrets::write,
        crate::api::secrets::remove,
        crate::api::secrets::undelete,
        crate::api::transit::encrypt,
        crate::api::transit::decrypt,
        crate::api::transit::rewrap,
    ),
    components(schemas(schemas::Problem)),
    modifiers(&Shared),
    tags(
        (name = "ops", description = "Health, readiness and metrics."),
        (name = "auth", description = "Accounts, sign-in, tokens, invitations and the JWKS."),
        (name = "sessions", description = "A person's sessions and the browser session."),
        (name = "mfa", description = "Second factors: TOTP, recovery codes, verification and step-up."),
        (name = "federation", description = "Sign-in with other identity providers (OpenID Connect) and linking them to an account."),
        (name = "connections", description = "OAuth connections: provider tokens kept for the upstream's use."),
        (name = "passkeys", description = "Passkeys (WebAuthn): registration and passwordless sign-in."),
        (name = "console", description = "The admin console (HTML): dashboard, audit, users, tenants, roles and policy, service accounts, IP blocks, incidents, lockdown, secrets, configuration."),
        (name = "pages", description = "The hosted pages (HTML): sign-in, second factor, passkeys, authenticator apps, recovery codes, device approval."),
        (name = "api-keys", description = "A person's own API keys."),
        (name = "forward-auth", description = "Decisions for a proxy that keeps its own routing."),
        (name = "admin", description = "Palisade's administration API (`admin.*` permissions)."),
        (name = "secrets", description = "The secrets store."),
        (name = "transit", description = "Encryption as a service."),
    ),
)]
pub struct ApiDoc;

/// The names of the security schemes, as the operations' `security(...)` use them.
pub(crate) mod scheme {
    /// `Authorization: Bearer` with an access token (or an API key, `pal_…`).
    pub(crate) const BEARER: &str = "bearer";
    /// `X-API-Key`.
    pub(crate) const API_KEY: &str = "api_key";
    /// The `__Host-palisade` cookie of a browser session (state-changing methods also need
    /// `X-CSRF-Token`).
    pub(crate) const SESSION: &str = "session";
}

/// What every operation shares (see the module doc).
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            scheme::BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token from /auth/login, or an API key."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            scheme::API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            scheme::SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-palisade"))),
        );
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op
                    .security
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|r| *r != Default::default()));
                let answers = &mut op.responses.responses;
                let mut shared = vec![
                    ("429", "Too many requests (rate limit); see Retry-After."),
                    ("503", "A backend cannot answer, or the gateway sheds load."),
                ];
                if secured {
                    shared.push(("401", "No credential, or one that is not valid."));
                }
                if op.request_body.is_some() {
                    shared.push(("413", "The body is larger than 64 KiB."));
                    shared.push(("415", "The body is not application/json."));
                    shared.push((
                        "422",
                        "The body is not acceptable (a missing or unknown field, a wrong type).",
                    ));
                }
                for (status, description) in shared {
                    answers
                        .entry(status.into())
                        .or_insert_with(|| RefOr::T(Answer::new(description)));
                }
                for (status, answer) in answers.iter_mut() {
                    if let (false, RefOr::T(answer)) = (status.starts_with(['1', '2', '3']), answer)
                        && answer.content.is_empty()
                    {
                        answer.content.insert(
                            crate::problem::CONTENT_TYPE.into(),
                            RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
                        );
                    }
                }
            }
        }
    }
}

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
});

/// The document as pretty-printed JSON (what `docs/openapi.json` holds, without its final
/// newline).
pub fn document_json() -> &'static str {
    &DOCUMENT
}

/// `GET /admin/openapi.json`.
pub(crate) fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new().route(PATH, get(openapi_json))
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get, path = "/admin/openapi.json", tag = "admin",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of Palisade's own API.", body = Object),
        (status = 403, description = "`admin.api.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn openapi_json(State(state): State<Arc<AppState>>, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::API_READ) {
        return r;
    }
    let mut res = document_json().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
