//! Identities at other providers linked to Palisade users (federated sign-in, migration 0013).
//!
//! The account key of a federated sign-in is the pair `(issuer, subject)` the provider vouches
//! for, never an e-mail: a provider that reassigns or lets users change addresses cannot take
//! over another account. A user may hold several identities, two from the same provider
//! included; one `(issuer, subject)` belongs to one user at most.
//!
//! Guarantees, checked by `conformance::federation_suite` on every backend: a second link of a
//! taken `(issuer, subject)` is [`crate::StoreError::Conflict`] (two replicas racing to link or
//! provision the same identity: one wins); lookups match issuer and subject exactly (byte for
//! byte, no case folding); an identity is removed only by its own user.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// The conflict message of a taken `(issuer, subject)`.
pub const CONFLICT_FEDERATED_IDENTITY: &str = "this provider identity is linked already";

/// One identity at a provider, linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentityRecord {
    /// The link's own id (what a user names to unlink it).
    pub id: Uuid,
    /// The Palisade user it signs in.
    pub user_id: Uuid,
    /// The configured provider it came through (`auth.providers[].id`), for listings.
    pub provider: String,
    /// The provider's issuer identifier (an OIDC `iss`; for GitHub its API origin).
    pub issuer: String,
    /// The provider's stable subject (`sub`; GitHub's numeric user id).
    pub subject: String,
    /// The e-mail the provider reported when linked, for display only (never a key).
    pub email: Option<String>,
    /// When it was linked, Unix milliseconds.
    pub linked_at: i64,
}

/// Linked provider identities.
#[async_trait]
pub trait FederationStore: Send + Sync {
    /// Links an identity (`Conflict` with [`CONFLICT_FEDERATED_IDENTITY`] when its
    /// `(issuer, subject)` is taken).
    async fn federated_identity_insert(&self, record: &FederatedIdentityRecord) -> StoreResult<()>;
    /// The identity with this exact `(issuer, subject)`.
    async fn federated_identity_find(
        &self,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<FederatedIdentityRecord>>;
    /// A user's identities, oldest link first.
    async fn federated_identities_of(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<FederatedIdentityRecord>>;
    /// Unlinks the identity `id` of `user_id`; false when the user holds no such identity.
    async fn federated_identity_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
}
