//! People's accounts as administrators see them (`/admin/users`, the console): one page of
//! accounts found by exact e-mail (through the blind index, the address never sent to the
//! database in clear when e-mails are encrypted) or by a substring of the name or id; one
//! account with its tenants, sessions, API keys and second factors; and the account an
//! administrator creates, with or without a password.
//!
//! Guarantees: pages are keyset pages on the account id (stable while accounts are added, no
//! repeats and no gaps); service accounts are not listed (they are `/admin/service-accounts`);
//! nothing listed carries a secret (no password hash, no key, no TOTP seed, no recovery code).
//! Reads are not audited; creation records `user.created` once.

use super::{By, Refused, invalid_roles, valid_email, valid_name};
use crate::identity::Identity;
use palisade_core::password::PasswordContext;
use palisade_store::StoreError;
use palisade_store::identity::{PrincipalKind, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Accounts per page at most.
pub const MAX_PAGE: u32 = 200;

/// A person's account as listed: never its password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    /// Its id.
    pub id: Uuid,
    /// The e-mail address.
    pub email: String,
    /// The name given to it.
    pub name: Option<String>,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// Deleted (`DELETE /admin/users/{id}`, `DELETE /auth/me`) and restorable until the
    /// retention job erases it.
    pub deleted: bool,
    /// Global roles.
    pub roles: Vec<String>,
    /// Subscription tier (scales rate limits).
    pub tier: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last sign-in; `null` if none was recorded.
    pub last_login_at: Option<i64>,
    /// Whether the account has a confirmed second factor (an authenticator app): what the
    /// sign-in asks for and the access review checks.
    pub mfa_enrolled: bool,
}

/// One page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    /// The entries.
    pub items: Vec<AccountView>,
    /// Give as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Which accounts a page holds.
#[derive(Debug, Clone, Copy)]
pub enum AccountSearch<'a> {
    /// Every person.
    All,
    /// The person with exactly this e-mail address (normalized first).
    Email(&'a str),
    /// People whose name or id contains this, ignoring case.
    Contains(&'a str),
}

impl<'a> AccountSearch<'a> {
    /// What a `q` parameter asks for: an `@` makes it an e-mail address; blank is everyone.
    pub fn parse(q: Option<&'a str>) -> Self {
        match q.map(str::trim) {
            None | Some("") => AccountSearch::All,
            Some(q) if q.contains('@') => AccountSearch::Email(q),
            Some(q) => AccountSearch::Contains(q),
        }
    }
}

/// An account an administrator creates.
pub struct NewAccount {
    /// As typed: normalized here.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Checked against the password policy and hashed; `None`: the person sets one through
    /// the forgotten-password flow (`POST /auth/password/forgot`), or signs in federated.
    pub password: Option<String>,
    /// Global roles (whether they exist and may be given is the caller's check).
    pub roles: Vec<String>,
    /// Subscription tier (whether it is configured is the caller's check).
    pub tier: String,
}

impl Identity {
    /// One page of people after `after`, at most `limit` (1 to [`MAX_PAGE`]).
    pub async fn accounts_page(
        &self,
        search: AccountSearch<'_>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<AccountPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let (users, more) = match search {
            AccountSearch::Email(raw) => {
                let found = match palisade_core::email::normalize(raw) {
                    Some(email) => self.store.user_by_email(&email).await?,
                    None => None,
                };
                let found = found
                    .filter(|u| u.kind == PrincipalKind::Human && after.is_none_or(|a| u.id > a));
                (found.into_iter().collect(), false)
            }
            AccountSearch::All | AccountSearch::Contains(_) => {
                let contains = match search {
                    AccountSearch::Contains(c) => Some(c),
                    _ => None,
                };
                let mut users = self.store.users_page(after, limit + 1, contains).await?;
                let more = users.len() > limit as usize;
                users.truncate(limit as usize);
                (users, more)
            }
        };
        let mut items = Vec::with_capacity(users.len());
        for u in &users {
            items.push(self.account_view(u).await?);
        }
        let next_cursor = more
            .then(|| items.last().map(|v| v.id.to_string()))
            .flatten();
        Ok(AccountPage { items, next_cursor })
    }

    /// The account as listed.
    pub async fn account_view(&self, u: &UserRecord) -> Result<AccountView, StoreError> {
        Ok(AccountView {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            disabled: u.disabled,
            deleted: self.store.user_deleted_at(u.id).await?.flatten().is_some(),
            roles: u.roles.clone(),
            tier: u.tier.clone(),
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            mfa_enrolled: !self.mfa_methods(u.id).await?.is_empty(),
        })
    }

    /// Creates a person's account for an administrator (`user.created`): a valid e-mail
    /// address not yet taken, a name of at most 200 characters, at least one role, and a
    /// password that meets the policy when one is given.
    pub async fn create_account(
        &self,
        new: NewAccount,
        by: &By<'_>,
    ) -> Result<UserRecord, Refused> {
        let email = valid_email(&new.email)?;
        let name = valid_name(new.name)?;
        if new.roles.is_empty() || new.roles.iter().any(|r| r.trim().is_empty()) {
            return Err(invalid_roles());
        }
        let hash = match new.password {
            Some(password) => {
                let context = PasswordContext {
                    email: Some(&email),
                    name: name.as_deref(),
                };
                self.policy
                    .check(&password, &context)
                    .map_err(Refused::WeakPassword)?;
                let Some(Ok(hash)) = self.hash_work(move |h| h.hash(&password)).await else {
                    return Err(Refused::Busy);
                };
                Some(hash)
            }
            None => None,
        };
        let mut user = self.human(Uuid::now_v7(), email, name, String::new(), new.roles);
        user.password_hash = hash;
        user.tier = new.tier;
        self.add_human(user, "user.created", by).await
    }
}
