//! CORS from config, with tower-http: exact origins only, never `*` with credentials (config
//! checks refuse that before we get here).

use crate::config::{self, CorsConfig};
use http::HeaderValue;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The CORS layer, or `None` when no origin is configured.
pub fn layer(cfg: &CorsConfig) -> Result<Option<CorsLayer>, String> {
    if cfg.allowed_origins.is_empty() {
        return Ok(None);
    }
    let wildcard = cfg.allowed_origins.iter().any(|o| o == "*");
    if wildcard && cfg.allow_credentials {
        return Err("cors: \"*\" cannot be combined with allow_credentials".into());
    }
    let origin = if wildcard {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            cfg.allowed_origins
                .iter()
                .map(|o| {
                    HeaderValue::from_str(o).map_err(|_| format!("cors.allowed_origins: {o:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let methods = cfg
        .allowed_methods
        .iter()
        .map(|m| config::method(m).ok_or_else(|| format!("cors.allowed_methods: {m:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let names = |list: &[String]| {
        list.iter()
            .map(|h| {
                config::header_name(h).ok_or_else(|| format!("cors: {h:?} is not a header name"))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_credentials(cfg.allow_credentials)
            .allow_methods(methods)
            .allow_headers(names(&cfg.allowed_headers)?)
            .expose_headers(names(&cfg.expose_headers)?)
            .max_age(cfg.max_age.0),
    ))
}
