//! Strict JSON request bodies for the built-in APIs: `application/json` only, bounded size,
//! unknown fields and type coercions refused with a 422 naming the field.

use crate::problem::refuse;
use crate::request::request_id_of;
use axum::extract::{FromRequest, Request};
use axum::response::Response;
use http::{StatusCode, header};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

/// Largest body a built-in API reads.
const MAX_API_BODY: usize = 64 << 10;

/// A JSON body parsed strictly into `T` (which should be `#[serde(deny_unknown_fields)]`).
pub struct StrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Response> {
        strict_body(req, MAX_API_BODY).await.map(StrictJson)
    }
}

/// A JSON body of at most `max` bytes parsed strictly into `T`, as [`StrictJson`] does for the
/// usual limit (endpoints that take larger bodies, like app event batches, call this).
pub async fn strict_body<T: DeserializeOwned>(req: Request, max: usize) -> Result<T, Response> {
    let id = request_id_of(req.extensions());
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(refuse(
            "api",
            "unsupported-media-type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the body as application/json.",
            &id,
        ));
    }
    let limited = http_body_util::Limited::new(req.into_body(), max);
    let bytes = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return Err(refuse(
                "api",
                "body-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The body is larger than {max} bytes."),
                &id,
            ));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        refuse(
            "api",
            "invalid-body",
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The JSON body is not acceptable: {}.", describe(&e)),
            &id,
        )
    })
}

/// serde_json's message names the field (`unknown field \`role\``, `missing field \`email\``,
/// `invalid type: integer, expected a string`) without echoing values.
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    // "invalid type: string \"…\", expected …" would echo a value (perhaps a password).
    if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        return match msg.rfind(", expected ") {
            Some(i) => format!("a value has the wrong type ({})", &msg[i + 2..]),
            None => "a value has the wrong type".into(),
        };
    }
    msg.to_string()
}

/// A strict JSON body that may be absent (no bytes at all): then `T::default()`.
pub async fn optional_body<T: DeserializeOwned + Default>(req: Request) -> Result<T, Response> {
    let empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0")
        || (!req.headers().contains_key(header::CONTENT_TYPE)
            && !req.headers().contains_key(header::TRANSFER_ENCODING));
    if empty {
        return Ok(T::default());
    }
    StrictJson::<T>::from_request(req, &()).await.map(|j| j.0)
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn errors_name_fields_but_never_echo_values() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            flag: bool,
        }
        let e = serde_json::from_str::<Body>(r#"{"flag": "hunter2"}"#).unwrap_err();
        let msg = describe(&e);
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("expected a boolean"), "{msg}");
        let e = serde_json::from_str::<Body>(r#"{"flag": true, "role": "admin"}"#).unwrap_err();
        assert!(describe(&e).contains("unknown field `role`"));
        let e = serde_json::from_str::<Body>("{}").unwrap_err();
        assert!(describe(&e).contains("missing field `flag`"));
    }
}
