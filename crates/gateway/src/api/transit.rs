//! `/v1/transit`: encryption as a service, so an upstream never holds a raw key.
//!
//! - `POST /v1/transit/encrypt` `{"key": NAME, "plaintext": B64, "context": B64?}` →
//!   `{"ciphertext": TEXT, "key_version": DATA_KEY_ID}`
//! - `POST /v1/transit/decrypt` `{"key": NAME, "ciphertext": TEXT, "context": B64?}` →
//!   `{"plaintext": B64}`
//! - `POST /v1/transit/rewrap` `{"key": NAME, "ciphertext": TEXT, "context": B64?}` →
//!   `{"ciphertext": TEXT}` under the current primary data key (before a retire).
//!
//! Design: named keys are not separate key material. A transit ciphertext is a field ciphertext
//! (`pal1.<data key id>.<nonce ‖ ciphertext ‖ tag>`, AES-256-GCM) under the keyring's primary
//! data key, whose associated data binds table `transit`, column NAME and row id the context
//! (standard base64 of its bytes, empty when absent). So a ciphertext made for one name or
//! context does not decrypt under another; rotation of the data keys rotates every transit name
//! at once; and names need no registration. Transit ciphertexts live with the upstream, so the
//! re-encryption job cannot reach them: rewrap them before retiring an old data key (a retired
//! key can no longer decrypt them).
//!
//! Names are 1-64 of `a-z 0-9 _ -`. Permissions: `transit.NAME.encrypt` (encrypt and rewrap)
//! and `transit.NAME.decrypt` (decrypt and rewrap), through the caller's own roles and key
//! scopes. Every call is an audit event (`transit.encrypt`, `transit.decrypt`, `transit.rewrap`)
//! with resource `transit_key:NAME` and `details.key_id` for API keys; plaintexts and
//! ciphertexts are never logged. Failures to decrypt are one opaque 422.

#![allow(clippy::result_large_err)]

use super::extract::{Caller, Ctx};
use super::json::StrictJson;
use super::openapi::schemas;
use super::secrets::record;
use crate::audit::Outcome;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use palisade_core::crypto::{FieldContext, key_id_of};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use zeroize::Zeroizing;

type S = State<Arc<AppState>>;

/// Largest plaintext accepted (bytes, after base64 decoding).
pub const MAX_PLAINTEXT: usize = 32 << 10;

/// `/v1/transit/encrypt`, `/decrypt`, `/rewrap`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/transit/encrypt", post(encrypt))
        .route("/v1/transit/decrypt", post(decrypt))
        .route("/v1/transit/rewrap", post(rewrap))
}

/// Is `name` a transit key name (one permission segment)?
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What to encrypt.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "orders", "plaintext": "aGVsbG8gd29ybGQ=", "context": "b3JkZXItNDI="}))]
struct EncryptBody {
    /// The key name: 1-64 of a-z 0-9 _ -.
    key: String,
    /// Standard base64, at most 32 KiB decoded.
    plaintext: String,
    /// Standard base64 bytes the ciphertext is bound to.
    #[serde(default)]
    context: Option<String>,
}

/// What to decrypt or rewrap.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "orders", "ciphertext": "pal1.example", "context": "b3JkZXItNDI="}))]
struct DecryptBody {
    /// The key name it was encrypted under.
    key: String,
    /// A transit ciphertext (`pal1.…`).
    ciphertext: String,
    /// The context it was encrypted with (standard base64).
    #[serde(default)]
    context: Option<String>,
}

/// The canonical row id of a context: standard base64 of its bytes (empty without one).
fn context_id(ctx: &Ctx, context: Option<&str>) -> Result<String, Response> {
    match context {
        None => Ok(String::new()),
        Some(text) => STANDARD
            .decode(text)
            .map(|bytes| STANDARD.encode(bytes))
            .map_err(|_| invalid(ctx, "context must be standard base64")),
    }
}

fn invalid(ctx: &Ctx, detail: &str) -> Response {
    ctx.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-transit-request",
        detail.to_string(),
    )
}

/// Checks the name and every permission in `actions`; audits and answers 403 on refusal.
fn allow(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    name: &str,
    event: &'static str,
    actions: &[&str],
) -> Result<(), Response> {
    if !valid_name(name) {
        return Err(invalid(ctx, "key must be 1-64 of a-z 0-9 _ -"));
    }
    for action in actions {
        let permission = format!("transit.{name}.{action}");
        if !state.authz.permits(&caller.0, &permission) {
            record(
                state,
                ctx,
                caller,
                event,
                format!("transit_key:{name}"),
                Outcome::Denied,
                serde_json::json!({"reason": format!("{permission} is not granted")}),
            );
            return Err(crate::problem::refuse_with(
                "transit",
                "forbidden",
                StatusCode::FORBIDDEN,
                "You are not allowed to do this.",
                &ctx.id,
                serde_json::json!({ "permission": permission }),
            ));
        }
    }
    Ok(())
}

/// Encrypts under a named key (`transit.NAME.encrypt`).
#[utoipa::path(
    post, path = "/v1/transit/encrypt", tag = "transit", operation_id = "transit_encrypt",
    request_body = EncryptBody,
    responses(
        (status = 200, description = "The ciphertext.", body = schemas::TransitCiphertext),
        (status = 403, description = "`transit.NAME.encrypt` is not granted."),
        (status = 422, description = "The name, plaintext or context is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn encrypt(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<EncryptBody>,
) -> Response {
    let encoded = Zeroizing::new(body.plaintext);
    if let Err(r) = allow(
        &state,
        &ctx,
        &caller,
        &body.key,
        "transit.encrypt",
        &["encrypt"],
    ) {
        return r;
    }
    let row = match context_id(&ctx, body.context.as_deref()) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok(plain) = STANDARD.decode(encoded.as_bytes()).map(Zeroizing::new) else {
        return invalid(&ctx, "plaintext must be standard base64");
    };
    if plain.len() > MAX_PLAINTEXT {
        return invalid(&ctx, "plaintext is larger than 32 KiB");
    }
    let ciphertext = state
        .keyring
        .encrypt(&FieldContext::new("transit", &body.key, &row), &plain);
    let data_key = key_id_of(&ciphertext).unwrap_or_default().to_string();
    record(
        &state,
        &ctx,
        &caller,
        "transit.encrypt",
        format!("transit_key:{}", body.key),
        Outcome::Success,
        serde_json::json!({"data_key": data_key, "bytes": plain.len()}),
    );
    Json(serde_json::json!({"ciphertext": ciphertext, "key_version": data_key})).into_response()
}

/// Decrypts `body.ciphertext` for its name and context, auditing a failure.
async fn open(
    state: &AppState,
    ctx: &Ctx,
    caller: &Caller,
    body: &DecryptBody,
    event: &'static str,
) -> Result<(Zeroizing<Vec<u8>>, String), Response> {
    let row = context_id(ctx, body.context.as_deref())?;
    match state
        .keyring
        .decrypt(
            &FieldContext::new("transit", &body.key, &row),
            &body.ciphertext,
        )
        .await
    {
        Ok(plain) => Ok((plain, row)),
        Err(e) => {
            record(
                state,
                ctx,
                caller,
                event,
                format!("transit_key:{}", body.key),
                Outcome::Failure,
                serde_json::json!({"reason": "the ciphertext does not decrypt under this key and context"}),
            );
            tracing::debug!(error = %e, request_id = %ctx.id, "transit decrypt failed");
            Err(invalid(
                ctx,
                "the ciphertext does not decrypt under this key and context",
            ))
        }
    }
}

/// Decrypts (`transit.NAME.decrypt`).
#[utoipa::path(
    post, path = "/v1/transit/decrypt", tag = "transit", operation_id = "transit_decrypt",
    request_body = DecryptBody,
    responses(
        (status = 200, description = "The plaintext.", body = schemas::TransitPlaintext),
        (status = 403, description = "`transit.NAME.decrypt` is not granted."),
        (status = 422, description = "The request is not acceptable, or the ciphertext does not decrypt under this key and context."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn decrypt(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<DecryptBody>,
) -> Response {
    if let Err(r) = allow(
        &state,
        &ctx,
        &caller,
        &body.key,
        "transit.decrypt",
        &["decrypt"],
    ) {
        return r;
    }
    let (plain, _) = match open(&state, &ctx, &caller, &body, "transit.decrypt").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    record(
        &state,
        &ctx,
        &caller,
        "transit.decrypt",
        format!("transit_key:{}", body.key),
        Outcome::Success,
        serde_json::json!({"data_key": key_id_of(&body.ciphertext), "bytes": plain.len()}),
    );
    let encoded = Zeroizing::new(STANDARD.encode(&plain));
    Json(serde_json::json!({"plaintext": encoded.as_str()})).into_response()
}

/// Re-encrypts under the current data key (`transit.NAME.decrypt` and `.encrypt`).
#[utoipa::path(
    post, path = "/v1/transit/rewrap", tag = "transit", operation_id = "transit_rewrap",
    request_body = DecryptBody,
    responses(
        (status = 200, description = "The new ciphertext.", body = schemas::TransitCiphertext),
        (status = 403, description = "`transit.NAME.decrypt` or `.encrypt` is not granted."),
        (status = 422, description = "The request is not acceptable, or the ciphertext does not decrypt under this key and context."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn rewrap(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<DecryptBody>,
) -> Response {
    if let Err(r) = allow(
        &state,
        &ctx,
        &caller,
        &body.key,
        "transit.rewrap",
        &["decrypt", "encrypt"],
    ) {
        return r;
    }
    let (plain, row) = match open(&state, &ctx, &caller, &body, "transit.rewrap").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ciphertext = state
        .keyring
        .encrypt(&FieldContext::new("transit", &body.key, &row), &plain);
    let data_key = key_id_of(&ciphertext).unwrap_or_default().to_string();
    record(
        &state,
        &ctx,
        &caller,
        "transit.rewrap",
        format!("transit_key:{}", body.key),
        Outcome::Success,
        serde_json::json!({"from": key_id_of(&body.ciphertext), "data_key": data_key}),
    );
    Json(serde_json::json!({"ciphertext": ciphertext, "key_version": data_key})).into_response()
}
