//! Importing accounts from another system, as they are (`palisade user import`): the use case
//! behind every row, shared by whoever imports (so far the CLI), next to the other
//! administration use cases of [`super::manage`].
//!
//! Guarantees:
//! - Each row is checked here, whatever file format it came in: an external id of 1-255
//!   printable characters, a valid e-mail address, a name of at most 200 characters, a
//!   password hash Palisade verifies (or none: the account then cannot sign in with a password,
//!   only through a reset or a federated login), roles and tenant roles that exist, a tier of
//!   1-64 characters. A refusal names the field and the reason ([`RowRefusal`]) and never
//!   carries a hash or a password.
//! - A batch is written in one store transaction ([`palisade_store::imports::ImportStore`]);
//!   hashes are stored as given (a legacy one is rehashed at the first sign-in, unless
//!   `auth.rehash_legacy = false`). A row whose external id is present is skipped, so a re-run
//!   imports nothing twice; a row without an external id (the old CSV) whose e-mail is taken
//!   is skipped too.
//! - Tenants named by valid rows that do not exist yet are created first through
//!   [`Identity::create_tenant`] (`tenant.created`).
//! - On record: `user.imported` for every account written (one event each, submitted together
//!   so the trail commits them in groups), `user.import_refused` for every row refused.
//!   A dry run writes nothing, records nothing, and answers what a run would do.

use super::Identity;
use super::manage::{By, NewTenant, Refused};
use crate::audit::{AuditEvent, Outcome, Risk};
use palisade_core::password::FormatError;
use palisade_store::identity::{PrincipalKind, UserRecord};
use palisade_store::imports::{ImportOutcome, ImportRow};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The longest external id, in characters.
pub const MAX_EXTERNAL_ID: usize = 255;

/// An account from another system, as read from one row of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedAccount {
    /// Its id in the system it comes from (unique, kept for good). `None` only for the old
    /// `email,password_hash,roles,name` CSV.
    pub external_id: Option<String>,
    /// As given: normalized here.
    pub email: String,
    /// A display name of at most 200 characters.
    pub name: Option<String>,
    /// Imported disabled.
    pub disabled: bool,
    /// Global roles; empty: `auth.default_roles`.
    pub roles: Vec<String>,
    /// `(tenant id, role)` memberships.
    pub tenants: Vec<(String, String)>,
    /// Subscription tier; `None`: `free`.
    pub tier: Option<String>,
    /// A hash in one of the formats `palisade_core::password::Format` names (bcrypt, argon2,
    /// Django/passlib PBKDF2, scrypt); `None`: no password sign-in.
    pub password_hash: Option<String>,
}

/// Why one row was refused: the field and the reason, never the value of a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RowRefusal {
    /// The field at fault (`external_id`, `password_hash`, …; `row` for the row as a whole).
    pub field: String,
    /// What is wrong, for a person.
    pub reason: String,
}

impl RowRefusal {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// One row handed to [`Identity::import_users`]: where it was, and what was read there (a row
/// the reader already refused is carried along so the refusal is on record like the others).
#[derive(Debug, Clone)]
pub struct ImportInput {
    /// The row's number in its file (1-based line number).
    pub row: u64,
    /// The account read, or why it could not be read.
    pub account: Result<ImportedAccount, RowRefusal>,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// Written (or, in a dry run, would be), with this account id.
    Imported(Uuid),
    /// Already present (its external id, or for rows without one its e-mail): nothing written.
    Skipped,
    /// Refused, with the reason.
    Refused(RowRefusal),
}

/// What an import run may rely on beyond the rows.
pub struct ImportRun<'a> {
    /// Whether a role of this name exists in the configuration.
    pub role_exists: &'a (dyn Fn(&str) -> bool + Sync),
    /// Check and answer only: write nothing, record nothing.
    pub dry_run: bool,
}

impl Identity {
    /// Imports one batch of rows (see the module docs) and answers each row's outcome, in
    /// order. Fails only when the store does (the batch is then not written).
    pub async fn import_users(
        &self,
        rows: Vec<ImportInput>,
        run: &ImportRun<'_>,
        by: &By<'_>,
    ) -> Result<Vec<RowOutcome>, Refused> {
        let now = self.now_ms() as i64;
        let mut outcomes: Vec<Option<RowOutcome>> = vec![None; rows.len()];
        let mut valid: Vec<(usize, u64, ImportRow)> = Vec::with_capacity(rows.len());
        for (i, input) in rows.into_iter().enumerate() {
            match input
                .account
                .and_then(|a| self.check_imported(a, run.role_exists, now))
            {
                Ok(row) => valid.push((i, input.row, row)),
                Err(refusal) => {
                    if !run.dry_run {
                        self.record_import_refusal(input.row, &refusal, by);
                    }
                    outcomes[i] = Some(RowOutcome::Refused(refusal));
                }
            }
        }
        if run.dry_run {
            for (i, _, row) in &valid {
                outcomes[*i] = Some(self.dry_outcome(&row.user).await?);
            }
        } else {
            self.create_missing_tenants(&valid, by).await?;
            let batch: Vec<ImportRow> = valid.iter().map(|(_, _, r)| r.clone()).collect();
            let written = self.store.users_import(&batch).await?;
            for ((i, row_no, row), written) in valid.iter().zip(written) {
                let outcome = match written {
                    ImportOutcome::Inserted => {
                        self.record_imported(&row.user, &row.memberships, by);
                        RowOutcome::Imported(row.user.id)
                    }
                    ImportOutcome::ExternalIdPresent => RowOutcome::Skipped,
                    ImportOutcome::EmailTaken if row.user.external_id.is_none() => {
                        RowOutcome::Skipped
                    }
                    ImportOutcome::EmailTaken => {
                        let refusal = email_taken();
                        self.record_import_refusal(*row_no, &refusal, by);
                        RowOutcome::Refused(refusal)
                    }
                };
                outcomes[*i] = Some(outcome);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every row has an outcome"))
            .collect())
    }

    /// Imports one account (`user.imported`): a batch of one, refused as a whole with
    /// `Refused::Invalid` (the field and reason) or `Refused::Conflict` (`email-taken`,
    /// `external-id-present`) when it is not written.
    pub async fn import_user(
        &self,
        account: ImportedAccount,
        role_exists: &(dyn Fn(&str) -> bool + Sync),
        by: &By<'_>,
    ) -> Result<UserRecord, Refused> {
        let run = ImportRun {
            role_exists,
            dry_run: false,
        };
        let input = ImportInput {
            row: 1,
            account: Ok(account),
        };
        match self.import_users(vec![input], &run, by).await?.pop() {
            Some(RowOutcome::Imported(id)) => {
                Ok(self.store.user_by_id(id).await?.ok_or_else(|| {
                    palisade_store::StoreError::Query("imported account gone".into())
                })?)
            }
            Some(RowOutcome::Refused(r)) if r.field == "email" => Err(Refused::Conflict {
                slug: "email-taken",
                detail: "An account with this e-mail address exists.".into(),
            }),
            Some(RowOutcome::Refused(r)) => Err(Refused::Invalid {
                slug: "invalid-import",
                detail: r.to_string(),
            }),
            _ => Err(Refused::Conflict {
                slug: "external-id-present",
                detail: "An account with this external id (or e-mail) exists.".into(),
            }),
        }
    }

    /// Checks one account and makes the row to store.
    fn check_imported(
        &self,
        a: ImportedAccount,
        role_exists: &(dyn Fn(&str) -> bool + Sync),
        now: i64,
    ) -> Result<ImportRow, RowRefusal> {
        if let Some(ext) = &a.external_id {
            check_external_id(ext)?;
        }
        let email = palisade_core::email::normalize(&a.email)
            .ok_or_else(|| RowRefusal::new("email", "not a valid e-mail address"))?;
        let name = a.name.filter(|n| !n.trim().is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(RowRefusal::new("name", "longer than 200 characters"));
        }
        if let Some(hash) = &a.password_hash {
            palisade_core::password::hash_format(hash)
                .map_err(|e| RowRefusal::new("password_hash", hash_reason(&e)))?;
        }
        let roles = if a.roles.is_empty() {
            self.config.default_roles.clone()
        } else {
            a.roles
        };
        if let Some(r) = roles.iter().find(|r| !role_exists(r)) {
            return Err(RowRefusal::new(
                "roles",
                format!("no role {r:?} in the configuration"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (tenant, role) in &a.tenants {
            if !crate::authz::tenants::valid_id(tenant) {
                return Err(RowRefusal::new(
                    "tenants",
                    "a tenant id is 1-64 of A-Z a-z 0-9 _ -",
                ));
            }
            if !seen.insert(tenant.as_str()) {
                return Err(RowRefusal::new(
                    "tenants",
                    format!("tenant {tenant:?} twice"),
                ));
            }
            if !role_exists(role) {
                return Err(RowRefusal::new(
                    "tenants",
                    format!("no role {role:?} in the configuration (tenant {tenant:?})"),
                ));
            }
        }
        let tier = match a.tier {
            None => "free".to_string(),
            Some(t) if t.trim().is_empty() || t.trim().chars().count() > 64 => {
                return Err(RowRefusal::new(
                    "tier",
                    "a tier is a name of 1 to 64 characters",
                ));
            }
            Some(t) => t.trim().to_string(),
        };
        Ok(ImportRow {
            user: UserRecord {
                id: Uuid::now_v7(),
                external_id: a.external_id,
                email,
                name,
                password_hash: a.password_hash,
                roles,
                tier,
                kind: PrincipalKind::Human,
                disabled: a.disabled,
                last_login_at: None,
                created_at: now,
                updated_at: now,
            },
            memberships: a.tenants,
        })
    }

    /// What a run would do with a valid row, read without writing.
    async fn dry_outcome(&self, user: &UserRecord) -> Result<RowOutcome, Refused> {
        if let Some(ext) = &user.external_id
            && self.store.user_by_external_id(ext).await?.is_some()
        {
            return Ok(RowOutcome::Skipped);
        }
        if self.store.user_by_email(&user.email).await?.is_some() {
            return Ok(match user.external_id {
                None => RowOutcome::Skipped,
                Some(_) => RowOutcome::Refused(email_taken()),
            });
        }
        Ok(RowOutcome::Imported(user.id))
    }

    /// Creates the tenants the rows name that do not exist yet (`tenant.created` each).
    async fn create_missing_tenants(
        &self,
        rows: &[(usize, u64, ImportRow)],
        by: &By<'_>,
    ) -> Result<(), Refused> {
        let named: BTreeSet<&str> = rows
            .iter()
            .flat_map(|(_, _, r)| r.memberships.iter().map(|(t, _)| t.as_str()))
            .collect();
        for tenant in named {
            if self.store.tenant_get(tenant).await?.is_some() {
                continue;
            }
            let new = NewTenant {
                id: tenant,
                name: tenant,
                parent: None,
            };
            match self.create_tenant(new, by).await {
                // Another writer made it meanwhile: as good.
                Ok(_) | Err(Refused::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn record_imported(&self, user: &UserRecord, tenants: &[(String, String)], by: &By<'_>) {
        let tenants: Vec<_> = tenants
            .iter()
            .map(|(t, r)| serde_json::json!({ "tenant": t, "role": r }))
            .collect();
        self.audit.record(
            AuditEvent::new("user.imported", Risk::Low, Outcome::Success)
                .origin(by.origin)
                .actor(by.actor.clone())
                .resource(format!("user:{}", user.id))
                .details(serde_json::json!({
                    "external_id": user.external_id,
                    "roles": user.roles,
                    "tenants": tenants,
                    // The format only (`bcrypt`, …; null: no password sign-in), never the hash.
                    "hash_format": user
                        .password_hash
                        .as_deref()
                        .and_then(|h| palisade_core::password::hash_format(h).ok())
                        .map(|f| f.name()),
                    "disabled": user.disabled,
                })),
        );
    }

    fn record_import_refusal(&self, row: u64, refusal: &RowRefusal, by: &By<'_>) {
        self.audit.record(
            AuditEvent::new("user.import_refused", Risk::Low, Outcome::Failure)
                .origin(by.origin)
                .actor(by.actor.clone())
                .details(serde_json::json!({
                    "row": row,
                    "field": refusal.field,
                    "reason": refusal.reason,
                })),
        );
    }
}

/// 1-255 characters, none of them a control character, no surrounding whitespace.
pub fn check_external_id(ext: &str) -> Result<(), RowRefusal> {
    let field = "external_id";
    if ext.is_empty() {
        return Err(RowRefusal::new(field, "empty"));
    }
    if ext.chars().count() > MAX_EXTERNAL_ID {
        return Err(RowRefusal::new(
            field,
            format!("longer than {MAX_EXTERNAL_ID} characters"),
        ));
    }
    if ext.chars().any(char::is_control) {
        return Err(RowRefusal::new(field, "holds a control character"));
    }
    if ext.trim() != ext {
        return Err(RowRefusal::new(field, "starts or ends with whitespace"));
    }
    Ok(())
}

fn email_taken() -> RowRefusal {
    RowRefusal::new("email", "another account has this e-mail address")
}

/// Why a hash cannot be verified, naming its format and never its content.
fn hash_reason(e: &FormatError) -> String {
    match e {
        FormatError::Unsupported(what) => format!("unsupported format '{what}'"),
        other => other.to_string(),
    }
}
