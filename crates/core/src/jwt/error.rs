//! Why a token was refused. Every message is fixed text: nothing from the token itself (claims,
//! header values, key ids) ever reaches a message, so errors are safe to log and to show.

/// A token or key was refused. [`JwtError::reason`] gives a stable slug for metrics and audit.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than the verifier's size cap (checked before any parsing).
    #[error("the token is larger than allowed")]
    TooLarge,
    /// Not three base64url parts with a JSON header and claims.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// A header parameter that could choose the key (`jku`, `x5u`, `jwk`, `x5c`) or `crit`.
    #[error("the token header carries the forbidden parameter `{0}`")]
    ForbiddenHeader(&'static str),
    /// An algorithm other than the one pinned to the key (including `none`).
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// A `kid` no known key has.
    #[error("the token names a key that is not known")]
    UnknownKid,
    /// The signature does not verify under the named key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// Past `exp` (plus leeway).
    #[error("the token has expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Another issuer than the verifier's.
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    /// Another audience than the verifier's.
    #[error("the token's audience is not accepted")]
    WrongAudience,
    /// A required claim is absent (named).
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// A key could not be read or used (its problem, never its bytes).
    #[error("key error: {0}")]
    Key(String),
    /// The issuer's migration window (`accept_until`) has ended.
    #[error("the issuer's migration window has ended")]
    WindowClosed,
}

impl JwtError {
    /// A stable, lowercase slug naming the kind of refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::TooLarge => "too_large",
            JwtError::Malformed => "malformed",
            JwtError::ForbiddenHeader(_) => "forbidden_header",
            JwtError::AlgorithmNotAllowed => "algorithm_not_allowed",
            JwtError::UnknownKid => "unknown_kid",
            JwtError::BadSignature => "bad_signature",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::WrongIssuer => "wrong_issuer",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::MissingClaim(_) => "missing_claim",
            JwtError::Key(_) => "key",
            JwtError::WindowClosed => "window_closed",
        }
    }
}

impl From<jsonwebtoken::errors::Error> for JwtError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => JwtError::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm => JwtError::AlgorithmNotAllowed,
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::RsaFailedSigning
            | ErrorKind::Signing(_) => JwtError::Key("the key cannot be used".into()),
            _ => JwtError::Malformed,
        }
    }
}
