//! The access review: one function ([`Identity::access_review`]) for `palisade review access`
//! and the scheduled review (`[review]`, `audit::alerts::scheduled_review`). It reports, as of
//! the injected clock:
//! - people's accounts (enabled) without a sign-in or session activity for `unused_days`
//!   (activity: the latest of `last_login_at` and their sessions' `created_at` /
//!   `last_seen_at`, revoked ones included, else the account's creation);
//! - API keys in force (not revoked or expired) not used for `unused_days` (last use, else
//!   creation);
//! - API keys in force older than `key_max_age`;
//! - enabled accounts holding an administrator role without a confirmed second factor.
//!
//! It only reads; accounts are paged (500 at a time) so memory stays bounded by the findings.

use super::Identity;
use crate::config::review::ReviewConfig;
use palisade_store::StoreResult;
use palisade_store::identity::{ApiKeyRecord, PrincipalKind, UserRecord};
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;
const PAGE: u32 = 500;

/// An account the review names.
#[derive(Debug, Clone, Serialize)]
pub struct AccountFinding {
    /// The account id.
    pub id: uuid::Uuid,
    /// Its e-mail (or `svc:NAME`).
    pub email: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its latest activity, Unix milliseconds.
    pub last_active_ms: i64,
}

/// An API key the review names.
#[derive(Debug, Clone, Serialize)]
pub struct KeyFinding {
    /// The key id.
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// Its public prefix.
    pub prefix: String,
    /// The account it acts for.
    pub owner_id: uuid::Uuid,
    /// Created, Unix milliseconds.
    pub created_at: i64,
    /// Last used, Unix milliseconds (batched; none if never).
    pub last_used_at: Option<i64>,
}

/// What the review found.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReview {
    /// When it ran, Unix milliseconds.
    pub generated_at_ms: u64,
    /// The `unused_days` it applied.
    pub unused_days: u32,
    /// The `key_max_age` it applied, in days.
    pub key_max_age_days: u64,
    /// Accounts unused for `unused_days`.
    pub unused_accounts: Vec<AccountFinding>,
    /// Keys in force unused for `unused_days`.
    pub unused_keys: Vec<KeyFinding>,
    /// Keys in force older than `key_max_age`.
    pub old_keys: Vec<KeyFinding>,
    /// Administrators without a second factor.
    pub admins_without_mfa: Vec<AccountFinding>,
}

impl AccessReview {
    /// How many findings, by kind (what the trail keeps of a scheduled review).
    pub fn counts(&self) -> serde_json::Value {
        serde_json::json!({
            "unused_accounts": self.unused_accounts.len(),
            "unused_keys": self.unused_keys.len(),
            "old_keys": self.old_keys.len(),
            "admins_without_mfa": self.admins_without_mfa.len(),
        })
    }

    /// The review for people, one finding a line.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Access review (unused: {} days, key max age: {} days)\n",
            self.unused_days, self.key_max_age_days
        );
        let days = |ms: i64| (self.generated_at_ms as i64 - ms) / DAY_MS;
        let accounts = |title: &str, list: &[AccountFinding], out: &mut String| {
            out.push_str(&format!("\n{title}: {}\n", list.len()));
            for a in list {
                out.push_str(&format!(
                    "  {}  {}  [{}]  last active {} days ago\n",
                    a.id,
                    a.email,
                    a.roles.join(","),
                    days(a.last_active_ms)
                ));
            }
        };
        let keys = |title: &str, list: &[KeyFinding], out: &mut String| {
            out.push_str(&format!("\n{title}: {}\n", list.len()));
            for k in list {
                let used = k.last_used_at.map_or("never used".into(), |t| {
                    format!("last used {} days ago", days(t))
                });
                out.push_str(&format!(
                    "  {}  {} ({})  owner {}  created {} days ago, {used}\n",
                    k.id,
                    k.name,
                    k.prefix,
                    k.owner_id,
                    days(k.created_at)
                ));
            }
        };
        accounts("Accounts unused", &self.unused_accounts, &mut out);
        keys("API keys unused", &self.unused_keys, &mut out);
        keys("API keys past their maximum age", &self.old_keys, &mut out);
        accounts(
            "Administrators without a second factor",
            &self.admins_without_mfa,
            &mut out,
        );
        out
    }
}

fn key_finding(k: &ApiKeyRecord) -> KeyFinding {
    KeyFinding {
        id: k.id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        owner_id: k.owner_id,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    }
}

fn account_finding(u: &UserRecord, last_active_ms: i64) -> AccountFinding {
    AccountFinding {
        id: u.id,
        email: u.email.clone(),
        roles: u.roles.clone(),
        last_active_ms,
    }
}

impl Identity {
    /// Runs the access review (see the module doc); `is_admin` says whether roles administer
    /// Palisade (the policy's role matrix).
    pub async fn access_review(
        &self,
        config: &ReviewConfig,
        is_admin: &(dyn Fn(&[String]) -> bool + Sync),
    ) -> StoreResult<AccessReview> {
        let now = self.now_ms() as i64;
        let unused_before = now - i64::from(config.unused_days) * DAY_MS;
        let old_before = now - config.key_max_age.0.as_millis() as i64;
        let mut review = AccessReview {
            generated_at_ms: now as u64,
            unused_days: config.unused_days,
            key_max_age_days: config.key_max_age.0.as_secs() / 86_400,
            unused_accounts: Vec::new(),
            unused_keys: Vec::new(),
            old_keys: Vec::new(),
            admins_without_mfa: Vec::new(),
        };
        let mut after = None;
        loop {
            let page = self.store.users_list(after, PAGE).await?;
            for u in page.iter().filter(|u| !u.disabled) {
                if u.kind == PrincipalKind::Human {
                    let last_active = self
                        .store
                        .sessions_for_user(u.id, true)
                        .await?
                        .iter()
                        .map(|s| s.last_seen_at.max(s.created_at))
                        .fold(u.last_login_at.unwrap_or(0).max(u.created_at), i64::max);
                    if last_active < unused_before {
                        review.unused_accounts.push(account_finding(u, last_active));
                    }
                    if is_admin(&u.roles) && self.mfa_methods(u.id).await?.is_empty() {
                        review
                            .admins_without_mfa
                            .push(account_finding(u, last_active));
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(last.id),
                _ => break,
            }
        }
        let in_force = self
            .store
            .api_keys_list(None)
            .await?
            .into_iter()
            .filter(|k| k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now));
        for k in in_force {
            if k.last_used_at.unwrap_or(k.created_at) < unused_before {
                review.unused_keys.push(key_finding(&k));
            }
            if k.created_at < old_before {
                review.old_keys.push(key_finding(&k));
            }
        }
        Ok(review)
    }
}
