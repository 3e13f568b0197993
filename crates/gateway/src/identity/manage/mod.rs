//! Administration use cases the HTTP API and the CLI share: each validates its input, writes
//! the store and records its audit event in one place, so an action taken with
//! `palisade key create` is on the record exactly as one taken through `/auth/api-keys`.
//!
//! So far: creating people's accounts (importing them with the password hash another system
//! stored is [`super::import`]'s) and service accounts, disabling and enabling them, setting
//! their roles and tiers; creating, issuing (rotation) and revoking API keys, importing them by
//! another system's hash (`key_import.rs`); creating and deleting tenants,
//! setting and removing their members and resource grants; blocking and lifting an IP block;
//! listing, creating and searching people's accounts for administrators (`accounts.rs`); their
//! sessions, keys and factors, and ending them by hand (`access.rs`). What a caller
//! may ask for (the roles it holds itself, the keys it owns, the roles it may give) is the
//! caller's check; what makes the change valid is checked here. An event is recorded only for a
//! change that happened.

mod access;
mod accounts;
mod export;
mod key_import;

pub use access::{FactorsView, KeyView, PasskeyView, SessionView, TotpView};
pub use accounts::{AccountPage, AccountSearch, AccountView, MAX_PAGE, NewAccount};
pub use export::UserExport;
pub use key_import::{ImportBatch, KeyImport, KeyImported};

use super::Identity;
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use palisade_core::password::{PasswordContext, Violation};
use palisade_store::StoreError;
use palisade_store::identity::{
    ApiKeyRecord, MembershipRecord, PrincipalKind, ResourceGrantRecord, RevocationReason,
    TenantRecord, UserRecord,
};
use secrecy::SecretString;
use uuid::Uuid;

pub use super::import::{ImportedAccount, RowOutcome, RowRefusal};

/// The longest block an administrator can place by hand.
pub const MAX_BLOCK: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

/// Who acts (`actor` as the trail names it) and what their request tells (empty for the CLI).
pub struct By<'a> {
    /// Who acts, as the trail names the actor (a user id, `cli`).
    pub actor: String,
    /// What the request tells about where it came from.
    pub origin: &'a RequestOrigin,
}

impl By<'_> {
    /// The event of a change this actor made.
    pub(crate) fn event(
        &self,
        event_type: &'static str,
        risk: Risk,
        resource: String,
    ) -> AuditEvent {
        AuditEvent::new(event_type, risk, Outcome::Success)
            .origin(self.origin)
            .actor(self.actor.clone())
            .resource(resource)
    }
}

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The input breaks a rule: a stable slug (the problem type) and a sentence for a person.
    #[error("{detail}")]
    Invalid {
        /// The problem type's slug.
        slug: &'static str,
        /// What is wrong, for a person.
        detail: String,
    },
    /// It would clash with what exists (a taken id).
    #[error("{detail}")]
    Conflict {
        /// The problem type's slug.
        slug: &'static str,
        /// What clashes, for a person.
        detail: String,
    },
    /// The password breaks the policy (ASVS 5.0 §6.2), each rule it breaks named.
    #[error("the password does not meet the policy: {}", .0.iter().map(Violation::message).collect::<Vec<_>>().join(" "))]
    WeakPassword(Vec<Violation>),
    /// The password-hashing pool is full; try again in a moment.
    #[error("too many passwords are being hashed; try again in a moment")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A person's account to create.
pub struct NewUser {
    /// Chosen by the caller, so that a self-registration can name the new account as its actor.
    pub id: Uuid,
    /// As typed: normalized here.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Global roles to give.
    pub roles: Vec<String>,
    /// As typed; checked against the password policy and hashed here.
    pub password: String,
}

/// What ties a principal to a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantLink {
    /// A membership with a role.
    Membership,
    /// Resource grants without a membership.
    Grants,
}

/// A tenant to create.
pub struct NewTenant<'a> {
    /// Chosen by the administrator; appears in paths.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
    /// The parent tenant, if any.
    pub parent: Option<&'a str>,
}

/// A key to create.
pub struct NewKey<'a> {
    /// The key's label.
    pub name: &'a str,
    /// The account it acts for.
    pub owner: Uuid,
    /// Roles it acts with (within its owner's).
    pub roles: Vec<String>,
    /// Permission grants narrowing it (empty: the roles' permissions).
    pub scopes: Vec<String>,
    /// Seconds until it expires (at most a hundred years); `None`: it does not expire.
    pub expires_in: Option<u64>,
}

impl Identity {
    /// Creates a key (`apikey.created`); the secret is returned once and never stored.
    pub async fn create_api_key(
        &self,
        key: NewKey<'_>,
        by: &By<'_>,
    ) -> Result<(ApiKeyRecord, SecretString), Refused> {
        let name = key.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Refused::Invalid {
                slug: "invalid-name",
                detail: "Give the key a name of 1 to 100 characters.".into(),
            });
        }
        if key.scopes.len() > 100
            || !key
                .scopes
                .iter()
                .all(|s| palisade_core::policy::valid_grant(s))
        {
            return Err(Refused::Invalid {
                slug: "invalid-scopes",
                detail: "Scopes are up to 100 grants like \"graphs.read\" or \"tools.*\".".into(),
            });
        }
        let now = self.now_ms() as i64;
        let record = ApiKeyRecord {
            id: Uuid::now_v7(),
            hash: [0; 32],
            prefix: String::new(),
            name: name.to_string(),
            owner_id: key.owner,
            roles: key.roles,
            scopes: key.scopes,
            created_at: now,
            expires_at: key
                .expires_in
                .map(|s| now.saturating_add((s.min(100 * 365 * 86400) * 1000) as i64)),
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
        };
        self.issue_api_key(record, "apikey.created", by).await
    }

    /// Stores `record` with a fresh secret and records `event` (`apikey.created`,
    /// `apikey.rotated`).
    pub async fn issue_api_key(
        &self,
        record: ApiKeyRecord,
        event: &'static str,
        by: &By<'_>,
    ) -> Result<(ApiKeyRecord, SecretString), Refused> {
        let (record, secret) = self.api_keys.create(record).await?;
        self.audit
            .record(by.event(event, Risk::Medium, format!("api_key:{}", record.id)));
        Ok((record, secret))
    }

    /// Revokes a key everywhere (store first, then hot state) and records `apikey.revoked`
    /// (reason `admin`). `false`: it was already revoked (nothing changed, nothing recorded).
    pub async fn revoke_api_key_as(&self, key: Uuid, by: &By<'_>) -> Result<bool, Refused> {
        if !self.revoke_api_key(key, RevocationReason::Admin).await? {
            return Ok(false);
        }
        self.audit.record(
            by.event("apikey.revoked", Risk::Medium, format!("api_key:{key}"))
                .details(serde_json::json!({ "reason": RevocationReason::Admin.as_str() })),
        );
        Ok(true)
    }

    /// Creates a tenant (`tenant.created`): an id of 1-64 of `A-Z a-z 0-9 _ -`, a name of 1-200
    /// characters, and a parent that exists.
    pub async fn create_tenant(
        &self,
        tenant: NewTenant<'_>,
        by: &By<'_>,
    ) -> Result<TenantRecord, Refused> {
        let name = tenant.name.trim();
        if !crate::authz::tenants::valid_id(tenant.id)
            || name.is_empty()
            || name.chars().count() > 200
        {
            return Err(Refused::Invalid {
                slug: "invalid-tenant",
                detail: "A tenant needs an id of 1-64 of A-Z a-z 0-9 _ - and a name of 1-200 \
                         characters."
                    .into(),
            });
        }
        if let Some(parent) = tenant.parent
            && self.store.tenant_get(parent).await?.is_none()
        {
            return Err(Refused::Invalid {
                slug: "unknown-parent",
                detail: "The parent tenant does not exist.".into(),
            });
        }
        let record = TenantRecord {
            id: tenant.id.to_string(),
            name: name.to_string(),
            parent_id: tenant.parent.map(String::from),
            created_at: self.now_ms() as i64,
        };
        match self.store.tenant_insert(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Refused::Conflict {
                    slug: "tenant-exists",
                    detail: "This tenant id is taken.".into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.audit.record(
            by.event(
                "tenant.created",
                Risk::Medium,
                format!("tenant:{}", record.id),
            )
            .tenant(record.id.clone()),
        );
        Ok(record)
    }

    /// Creates a person's account (`user.created`): a valid e-mail address not yet taken, a
    /// name of at most 200 characters, a password that meets the policy (hashed on the bounded
    /// pool).
    pub async fn create_user(&self, new: NewUser, by: &By<'_>) -> Result<UserRecord, Refused> {
        let email = valid_email(&new.email)?;
        let name = valid_name(new.name)?;
        let context = PasswordContext {
            email: Some(&email),
            name: name.as_deref(),
        };
        self.policy
            .check(&new.password, &context)
            .map_err(Refused::WeakPassword)?;
        let password = new.password;
        let Some(Ok(hash)) = self.hash_work(move |h| h.hash(&password)).await else {
            return Err(Refused::Busy);
        };
        let user = self.human(new.id, email, name, hash, new.roles);
        self.add_human(user, "user.created", by).await
    }

    /// Creates a person's account that has no password (`user.created`): one provisioned by a
    /// federated sign-in, which signs in through its provider (or a passkey) only.
    pub async fn create_passwordless_user(
        &self,
        id: Uuid,
        email: &str,
        name: Option<String>,
        roles: Vec<String>,
        by: &By<'_>,
    ) -> Result<UserRecord, Refused> {
        let email = valid_email(email)?;
        let name = valid_name(name)?;
        let mut user = self.human(id, email, name, String::new(), roles);
        user.password_hash = None;
        self.add_human(user, "user.created", by).await
    }

    /// Replaces an account's roles (`user.roles_changed`, high risk) and revokes its sessions,
    /// so that new tokens carry the new roles. `false`: no such account.
    pub async fn set_user_roles(
        &self,
        user: Uuid,
        roles: &[String],
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        if roles.is_empty() || roles.iter().any(|r| r.trim().is_empty()) {
            return Err(invalid_roles());
        }
        if !self
            .store
            .user_set_roles(user, roles, self.now_ms() as i64)
            .await?
        {
            return Ok(false);
        }
        self.revoke_user_sessions(user, RevocationReason::Admin)
            .await?;
        self.audit.record(
            by.event("user.roles_changed", Risk::High, format!("user:{user}"))
                .details(serde_json::json!({
                    "roles": roles,
                    "reason": RevocationReason::Admin.as_str(),
                })),
        );
        Ok(true)
    }

    /// Disables an account (`user.disabled`, high risk: sign-in refused, its sessions revoked
    /// with reason `admin`) or enables it again (`user.enabled`). `false`: no such account.
    pub async fn set_user_disabled(
        &self,
        user: Uuid,
        disabled: bool,
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        let reason = disabled.then_some(RevocationReason::Admin);
        self.set_user_disabled_for(user, reason, by).await
    }

    /// Disables the account, its sessions revoked for `reason` (`Some`), or enables it
    /// (`None`); records `user.disabled` (with `details.reason`) or `user.enabled`. The
    /// inactive-account policy disables with reason `expired`. `false`: no such account.
    pub async fn set_user_disabled_for(
        &self,
        user: Uuid,
        disable: Option<RevocationReason>,
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        if !self
            .store
            .user_set_disabled(user, disable.is_some(), self.now_ms() as i64)
            .await?
        {
            return Ok(false);
        }
        let event = if let Some(reason) = disable {
            self.revoke_user_sessions(user, reason).await?;
            by.event("user.disabled", Risk::High, format!("user:{user}"))
                .details(serde_json::json!({ "reason": reason.as_str() }))
        } else {
            by.event("user.enabled", Risk::Medium, format!("user:{user}"))
        };
        self.audit.record(event);
        Ok(true)
    }

    /// Deletes a tenant and its memberships (`tenant.deleted`). `false`: no such tenant.
    pub async fn delete_tenant(&self, tenant: &str, by: &By<'_>) -> Result<bool, Refused> {
        if !self.store.tenant_delete(tenant).await? {
            return Ok(false);
        }
        self.record_tenant_change("tenant.deleted", tenant, tenant, by);
        Ok(true)
    }

    /// Makes `user` a member of `tenant` with `role` (`tenant.member_set`). Both must exist;
    /// whether the role exists, and whether the caller may give it, is the caller's check.
    pub async fn set_member(
        &self,
        tenant: &str,
        user: Uuid,
        role: &str,
        by: &By<'_>,
    ) -> Result<(), Refused> {
        let member = MembershipRecord {
            tenant_id: tenant.to_string(),
            user_id: user,
            role: role.to_string(),
            created_at: self.now_ms() as i64,
        };
        self.store.member_put(&member).await?;
        self.record_tenant_change("tenant.member_set", tenant, &format!("{tenant}/{user}"), by);
        Ok(())
    }

    /// Grants `user` permissions on `tenant`'s resources without a membership
    /// (`tenant.grant_set`), replacing any it had there: 1-100 grants like `graphs.read`,
    /// `tools.*` or `*.read`. Both must exist; whether the caller holds what it grants is the
    /// caller's check.
    pub async fn set_grants(
        &self,
        tenant: &str,
        user: Uuid,
        grants: Vec<String>,
        by: &By<'_>,
    ) -> Result<(), Refused> {
        check_grants(&grants)?;
        let grant = ResourceGrantRecord {
            tenant_id: tenant.to_string(),
            user_id: user,
            grants,
            created_at: self.now_ms() as i64,
        };
        self.store.resource_grant_put(&grant).await?;
        self.record_tenant_change("tenant.grant_set", tenant, &format!("{tenant}/{user}"), by);
        Ok(())
    }

    /// Ends `user`'s membership of `tenant` (`tenant.member_removed`) or removes its resource
    /// grants there (`tenant.grant_removed`). `false`: there was none.
    pub async fn remove_link(
        &self,
        tenant: &str,
        user: Uuid,
        link: TenantLink,
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        let (removed, event) = match link {
            TenantLink::Membership => (
                self.store.member_remove(tenant, user).await?,
                "tenant.member_removed",
            ),
            TenantLink::Grants => (
                self.store.resource_grant_remove(tenant, user).await?,
                "tenant.grant_removed",
            ),
        };
        if removed {
            self.record_tenant_change(event, tenant, &format!("{tenant}/{user}"), by);
        }
        Ok(removed)
    }

    fn record_tenant_change(&self, event: &'static str, tenant: &str, what: &str, by: &By<'_>) {
        self.audit.record(
            by.event(event, Risk::Medium, format!("tenant:{what}"))
                .tenant(tenant),
        );
    }

    /// Sets an account's subscription tier (`user.tier_changed`), which scales its rate limits,
    /// and revokes its sessions so new tokens carry it. `false`: no such account.
    pub async fn set_user_tier(
        &self,
        user: Uuid,
        tier: &str,
        by: &By<'_>,
    ) -> Result<bool, Refused> {
        let tier = tier.trim();
        if tier.is_empty() || tier.chars().count() > 64 {
            return Err(Refused::Invalid {
                slug: "invalid-tier",
                detail: "A tier is a name of 1 to 64 characters.".into(),
            });
        }
        if !self
            .store
            .user_set_tier(user, tier, self.now_ms() as i64)
            .await?
        {
            return Ok(false);
        }
        self.revoke_user_sessions(user, RevocationReason::Admin)
            .await?;
        self.audit.record(
            by.event("user.tier_changed", Risk::Medium, format!("user:{user}"))
                .details(serde_json::json!({
                    "tier": tier,
                    "reason": RevocationReason::Admin.as_str(),
                })),
        );
        Ok(true)
    }

    /// Creates a service account `svc:NAME` (`service_account.created`): a name of 1-64 of
    /// `a-z 0-9 _ -` not yet taken, no password (it acts through API keys). Whether the roles
    /// exist and may be given is the caller's check.
    pub async fn create_service_account(
        &self,
        name: &str,
        roles: Vec<String>,
        tier: String,
        by: &By<'_>,
    ) -> Result<UserRecord, Refused> {
        let handle =
            palisade_core::principal::service_account_handle(name).ok_or(Refused::Invalid {
                slug: "invalid-name",
                detail: "A service account name is 1-64 of a-z 0-9 _ -.".into(),
            })?;
        let now = self.now_ms() as i64;
        let account = UserRecord {
            id: Uuid::now_v7(),
            external_id: None,
            email: handle,
            name: None,
            password_hash: None,
            roles,
            tier,
            kind: PrincipalKind::Service,
            disabled: false,
            last_login_at: None,
            created_at: now,
            updated_at: now,
        };
        self.insert_account(
            &account,
            "name-taken",
            "A service account with this name exists.",
        )
        .await?;
        self.audit.record(by.event(
            "service_account.created",
            Risk::Medium,
            format!("user:{}", account.id),
        ));
        Ok(account)
    }

    /// Blocks an address for `for_` (1 s to [`MAX_BLOCK`]) by hand, through the mechanism of
    /// the brute-force defense (the record, then hot state, so every replica refuses it), and
    /// records `ip.blocked` (`details.cause = "admin"`). A longer block already in force is
    /// kept (nothing changes, nothing is recorded). Returns the seconds left on the block.
    pub async fn block_ip(
        &self,
        ip: std::net::IpAddr,
        for_: std::time::Duration,
        reason: &str,
        by: &By<'_>,
    ) -> Result<u64, Refused> {
        let reason = reason.trim();
        if for_.is_zero() || for_ > MAX_BLOCK {
            return Err(Refused::Invalid {
                slug: "invalid-duration",
                detail: "A block lasts 1 second to 365 days.".into(),
            });
        }
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Refused::Invalid {
                slug: "invalid-reason",
                detail: "Give a reason of 1 to 500 characters.".into(),
            });
        }
        if self.brute.block(ip, for_, reason).await? {
            self.audit.record(
                by.event("ip.blocked", Risk::High, format!("ip:{ip}"))
                    .details(serde_json::json!({
                        "seconds": for_.as_secs(),
                        "reason": reason,
                        "cause": "admin",
                    })),
            );
        }
        let left = self.brute.blocked(ip).await?.unwrap_or_default();
        Ok(left.as_secs_f64().ceil() as u64)
    }

    /// Lifts the block on an address, the record first (`ip.unblocked`). `false`: it was not
    /// blocked.
    pub async fn unblock_ip(&self, ip: std::net::IpAddr, by: &By<'_>) -> Result<bool, Refused> {
        if !self.brute.unblock(ip).await? {
            return Ok(false);
        }
        self.audit
            .record(by.event("ip.unblocked", Risk::Medium, format!("ip:{ip}")));
        Ok(true)
    }
}

impl Identity {
    /// A person's account as a use case creates it (tier `free`, enabled).
    fn human(
        &self,
        id: Uuid,
        email: String,
        name: Option<String>,
        password_hash: String,
        roles: Vec<String>,
    ) -> UserRecord {
        let now = self.now_ms() as i64;
        UserRecord {
            id,
            external_id: None,
            email,
            name,
            password_hash: Some(password_hash),
            roles,
            tier: "free".into(),
            kind: PrincipalKind::Human,
            disabled: false,
            last_login_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Inserts a person's account (`email-taken` when the address is) and records `event`.
    async fn add_human(
        &self,
        user: UserRecord,
        event: &'static str,
        by: &By<'_>,
    ) -> Result<UserRecord, Refused> {
        self.insert_account(
            &user,
            "email-taken",
            "An account with this e-mail address exists.",
        )
        .await?;
        self.audit
            .record(by.event(event, Risk::Low, format!("user:{}", user.id)));
        Ok(user)
    }

    /// Inserts a new account; a taken e-mail or handle is the conflict `slug`.
    async fn insert_account(
        &self,
        account: &UserRecord,
        slug: &'static str,
        detail: &str,
    ) -> Result<(), Refused> {
        match self.store.user_insert(account).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(Refused::Conflict {
                slug,
                detail: detail.into(),
            }),
            Err(e) => Err(e.into()),
        }
    }
}

fn valid_email(email: &str) -> Result<String, Refused> {
    palisade_core::email::normalize(email).ok_or(Refused::Invalid {
        slug: "invalid-email",
        detail: "The e-mail address is not valid.".into(),
    })
}

/// A name of at most 200 characters; a blank one is none.
fn valid_name(name: Option<String>) -> Result<Option<String>, Refused> {
    let name = name.filter(|n| !n.trim().is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(Refused::Invalid {
            slug: "invalid-name",
            detail: "The name is longer than 200 characters.".into(),
        });
    }
    Ok(name)
}

fn invalid_roles() -> Refused {
    Refused::Invalid {
        slug: "invalid-roles",
        detail: "Give at least one role, each a non-empty name.".into(),
    }
}

/// 1-100 grants like `graphs.read`, `tools.*` or `*.read` (what [`Identity::set_grants`]
/// accepts; a caller checks it first when its own check would misread a malformed grant).
pub fn check_grants(grants: &[String]) -> Result<(), Refused> {
    if grants.is_empty()
        || grants.len() > 100
        || !grants.iter().all(|g| palisade_core::policy::valid_grant(g))
    {
        return Err(Refused::Invalid {
            slug: "invalid-grants",
            detail: "Give 1-100 grants like \"graphs.read\", \"tools.*\" or \"*.read\".".into(),
        });
    }
    Ok(())
}
