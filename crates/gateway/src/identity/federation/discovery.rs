//! OpenID Provider discovery (OpenID Connect Discovery 1.0 §4): the provider metadata a
//! federated sign-in relies on, fetched through the provider's [`ProviderHttp`].
//!
//! Guarantees: the document's `issuer` equals the configured issuer exactly (§4.3; a provider
//! cannot answer for another, the first mix-up defence); the authorization, token, JWKS and
//! userinfo endpoints are within the provider's reach (issuer host or `allowed_hosts`, the same
//! checks as every request); PKCE `S256` and the `code` response type are offered, or the
//! provider is refused; whether the provider sends RFC 9207 `iss` in authorization responses
//! is recorded so the callback requires it when offered.

use super::reach::{FetchError, ProviderHttp, ReachError};
use serde::Deserialize;

/// Why a provider's discovery document is refused.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// It could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// It is not a provider metadata document.
    #[error("malformed discovery document: {0}")]
    Malformed(String),
    /// Its `issuer` is not the configured one.
    #[error("discovery names issuer {found:?}, configured {configured:?}")]
    IssuerMismatch {
        /// The configured issuer.
        configured: String,
        /// The document's.
        found: String,
    },
    /// An endpoint outside the provider's reach.
    #[error("endpoint {0} is out of reach: {1}")]
    EndpointOutOfReach(&'static str, ReachError),
    /// PKCE S256 or the code flow is not offered.
    #[error("the provider offers no {0}")]
    Unsupported(&'static str),
}

/// The provider metadata Palisade uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The issuer, equal to the configured one.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The ID-token signing keys.
    pub jwks_uri: String,
    /// The userinfo endpoint, when there is one.
    pub userinfo_endpoint: Option<String>,
    /// RFC 9207: the authorization response carries `iss`.
    pub iss_in_authorization_response: bool,
    /// The ID-token signing algorithms it advertises (`id_token_signing_alg_values_supported`).
    pub id_token_algs: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    response_types_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// Fetches and checks the metadata of the provider whose issuer is `issuer`
/// (`{issuer}/.well-known/openid-configuration`).
pub async fn discover(
    http: &ProviderHttp,
    issuer: &str,
) -> Result<ProviderMetadata, DiscoveryError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Document = serde_json::from_value(http.get_json(&url).await?)
        .map_err(|e| DiscoveryError::Malformed(e.to_string()))?;
    if doc.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            configured: issuer.to_string(),
            found: doc.issuer,
        });
    }
    let endpoints = [
        ("authorization_endpoint", Some(&doc.authorization_endpoint)),
        ("token_endpoint", Some(&doc.token_endpoint)),
        ("jwks_uri", Some(&doc.jwks_uri)),
        ("userinfo_endpoint", doc.userinfo_endpoint.as_ref()),
    ];
    for (name, url) in endpoints {
        if let Some(url) = url {
            http.reach()
                .check_url(url)
                .map_err(|e| DiscoveryError::EndpointOutOfReach(name, e))?;
        }
    }
    if !doc.response_types_supported.iter().any(|t| t == "code") {
        return Err(DiscoveryError::Unsupported("authorization code flow"));
    }
    if !doc
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        return Err(DiscoveryError::Unsupported("PKCE S256"));
    }
    Ok(ProviderMetadata {
        issuer: doc.issuer,
        authorization_endpoint: doc.authorization_endpoint,
        token_endpoint: doc.token_endpoint,
        jwks_uri: doc.jwks_uri,
        userinfo_endpoint: doc.userinfo_endpoint,
        iss_in_authorization_response: doc.authorization_response_iss_parameter_supported,
        id_token_algs: doc.id_token_signing_alg_values_supported,
    })
}
