//! The durable record of device authorization grants (RFC 8628): one row per
//! `POST /auth/device/authorize`, found by the hash of its device code (the polling client) or
//! of its user code (the person approving), never by a code itself: both codes are stored only
//! as SHA-256 hex digests (migration 0014).
//!
//! Guarantees every backend keeps (checked by `conformance::device_grant_suite`): a grant is
//! decided once (approve or deny, only while pending and unexpired), redeemed once (only when
//! approved and unexpired: [`DeviceGrantStore::device_grant_redeem`] is one conditional update,
//! so two pollers racing get one token between them), and pruned after it expired. Times are
//! Unix milliseconds supplied by the caller.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceGrantStatus {
    /// Waiting for the person to approve or deny.
    Pending,
    /// Approved by the user in `user_id`; the next poll gets tokens.
    Approved,
    /// Denied; polls get `access_denied`.
    Denied,
    /// Tokens were issued; the codes are spent.
    Redeemed,
}

impl DeviceGrantStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "redeemed" => Self::Redeemed,
            _ => return None,
        })
    }
}

/// One device authorization grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    /// SHA-256 hex of the device code.
    pub device_code_hash: String,
    /// SHA-256 hex of the normalized user code.
    pub user_code_hash: String,
    /// The client that asked (`client_id`).
    pub client_id: String,
    /// The address the device asked from, shown to the person approving.
    pub client_ip: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which both codes are dead.
    pub expires_at: i64,
    /// The polling interval in force, in seconds (raised by 5 at each `slow_down`).
    pub interval_secs: i64,
    /// When the device last polled (Unix milliseconds).
    pub last_poll_at: Option<i64>,
    /// Where it stands.
    pub status: DeviceGrantStatus,
    /// Who approved or denied it.
    pub user_id: Option<Uuid>,
    /// What the approver's sign-in proved, as the identity layer serialized it (opaque here):
    /// the device's session carries it, so the device's tokens claim no more, and no fresher,
    /// authentication than the person who approved (migration 0021).
    pub approver_assurance: Option<String>,
}

/// Device authorization grants, keyed by the hashes of their codes.
#[async_trait]
pub trait DeviceGrantStore: Send + Sync {
    /// Stores a new grant. A code hash already present is a conflict.
    async fn device_grant_insert(&self, grant: &DeviceGrant) -> StoreResult<()>;
    /// The grant of a device code hash.
    async fn device_grant_by_device_code(&self, hash: &str) -> StoreResult<Option<DeviceGrant>>;
    /// The grant of a user code hash.
    async fn device_grant_by_user_code(&self, hash: &str) -> StoreResult<Option<DeviceGrant>>;
    /// Approves (`approve = true`) or denies the pending, unexpired grant of a user code hash on
    /// behalf of `user_id`, whose sign-in proved `approver_assurance`; false when it was not
    /// pending or has expired at `now`.
    async fn device_grant_decide(
        &self,
        user_code_hash: &str,
        approve: bool,
        user_id: Uuid,
        approver_assurance: Option<&str>,
        now: i64,
    ) -> StoreResult<bool>;
    /// Records a poll at `now` and the interval now in force.
    async fn device_grant_polled(
        &self,
        device_code_hash: &str,
        now: i64,
        interval_secs: i64,
    ) -> StoreResult<()>;
    /// Marks the approved, unexpired grant of a device code hash redeemed; true for the one
    /// caller that did it.
    async fn device_grant_redeem(&self, device_code_hash: &str, now: i64) -> StoreResult<bool>;
    /// Deletes at most `limit` grants that expired at or before `now`; returns how many went.
    async fn device_grants_prune(&self, now: i64, limit: u32) -> StoreResult<u64>;
}
