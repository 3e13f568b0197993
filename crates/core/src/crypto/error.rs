//! The one error type of [`crate::crypto`]. No variant carries key bytes or plaintext; the only
//! values it names are key ids and lengths, which are not secret.

/// What went wrong in a cryptographic operation, and for an operator what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The master key given (configuration, environment, file) is not usable.
    #[error("master key: {0}")]
    MasterKeyFormat(&'static str),
    /// A [`crate::crypto::MasterKeyProvider`] could not produce the master key.
    #[error("master key unavailable: {0}")]
    MasterKeyUnavailable(String),
    /// A stored data key did not decrypt under the master key.
    #[error(
        "data key {id} cannot be unwrapped: the master key differs from the one it was wrapped \
         with, or the stored record was altered"
    )]
    Unwrap {
        /// The data key's id.
        id: String,
    },
    /// The stored set of data keys breaks a rule (one primary, unique well-formed ids).
    #[error("invalid keyring: {0}")]
    InvalidKeyring(String),
    /// A key id that the keyring does not hold.
    #[error("unknown data key {id}")]
    UnknownKey {
        /// The id that was asked for.
        id: String,
    },
    /// The value was encrypted under a key that has been retired and can no longer decrypt.
    #[error("data key {id} is retired and can no longer decrypt; re-encrypt before retiring")]
    KeyRetired {
        /// The retired key's id.
        id: String,
    },
    /// The primary key encrypts new values; rotate first, then retire it.
    #[error("data key {id} is the primary key: rotate before retiring it")]
    RetirePrimary {
        /// The primary key's id.
        id: String,
    },
    /// The text is not in the expected format (prefix, key id, base64, length).
    #[error("malformed ciphertext")]
    Malformed,
    /// Authentication failed. Deliberately says nothing more: wrong key, wrong context
    /// (table, column, row, key id), or altered bytes all look the same.
    #[error("decryption failed")]
    Decrypt,
    /// A Fernet key that is not url-safe base64 of 32 bytes.
    #[error("fernet key must be url-safe base64 of exactly 32 bytes")]
    FernetKey,
    /// A Fernet token older than the allowed time to live.
    #[error("fernet token expired")]
    TokenExpired,
    /// A Fernet token stamped more than the allowed clock skew in the future.
    #[error("fernet token timestamp is in the future")]
    TokenFromFuture,
}
