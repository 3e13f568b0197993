//! Which Palisade account a verified provider identity signs in to, linking and provisioning
//! by the provider's configuration.
//!
//! Guarantees: the account key is `(issuer, sub)`; an e-mail address alone never signs anyone
//! in, except to link an unknown identity to the account of that address when the provider says
//! `email_verified = true` *and* is configured with `trust_email_for_linking`. An explicit link
//! (a signed-in account's flow) attaches the identity to that account only when no other
//! account holds it. An unknown identity gets a new account only with `provision = "auto"` and
//! `auth.registration = "open"`, a verified address no account has, and the roles and tenant
//! memberships of the provider's matching claim rules (besides `auth.default_roles`); the
//! account has no password. Every link is `auth.federated_link` on record (the function that
//! links records it); a disabled account signs in to nothing.

use super::oidc::{Denied, VerifiedIdentity};
use super::pending::Intent;
use crate::api::extract::Ctx;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::config::auth::Registration;
use crate::config::providers::{ClaimRule, ProviderConfig, Provision};
use crate::identity::manage::{By, Refused};
use crate::state::AppState;
use palisade_store::federation::FederatedIdentityRecord;
use palisade_store::identity::UserRecord;
use serde_json::{Map, Value};
use uuid::Uuid;

/// How the identity found its account (on record with the sign-in).
pub type How = &'static str;

const fn denied(reason: &'static str, detail: &'static str) -> Denied {
    Denied {
        reason,
        detail,
        provider_failed: false,
    }
}

fn store_failed(e: impl std::fmt::Display) -> Denied {
    tracing::warn!(error = %e, "federated sign-in: store failed");
    Denied {
        reason: "unavailable",
        detail: "Sign-in cannot be completed right now; try again shortly.",
        provider_failed: true,
    }
}

/// Does `rule` match these claims?
pub fn rule_matches(rule: &ClaimRule, claims: &Map<String, Value>) -> bool {
    let mut value = claims.get(&rule.claim);
    if value.is_none() {
        let mut parts = rule.claim.split('.');
        value = parts.next().and_then(|p| claims.get(p));
        for part in parts {
            value = value.and_then(|v| v.get(part));
        }
    }
    match value {
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(&rule.value)),
        Some(Value::String(s)) => *s == rule.value,
        Some(Value::Bool(b)) => rule.value == b.to_string(),
        _ => false,
    }
}

/// The account `who` signs in to (or is linked to, for [`Intent::Link`]) and how it was found.
pub(crate) async fn resolve(
    state: &AppState,
    ctx: &Ctx,
    provider: &ProviderConfig,
    who: &VerifiedIdentity,
    intent: &Intent,
) -> Result<(UserRecord, How), Denied> {
    let store = &state.store;
    let linked = store
        .federated_identity_find(&who.issuer, &who.subject)
        .await
        .map_err(store_failed)?;
    let (user_id, how) = match (intent, linked) {
        (Intent::Link(uid), Some(rec)) if rec.user_id == *uid => (*uid, "linked"),
        (Intent::Link(_), Some(_)) => {
            return Err(denied(
                "identity-linked-elsewhere",
                "This provider identity is linked to another account.",
            ));
        }
        (Intent::Link(uid), None) => {
            let user = active(state, *uid).await?;
            link(state, ctx, provider, who, &user, "signed-in").await?;
            return Ok((user, "link"));
        }
        (Intent::SignIn, Some(rec)) => (rec.user_id, "linked"),
        (Intent::SignIn, None) => return unknown_identity(state, ctx, provider, who).await,
        // A connection flow stores tokens and signs nobody in (`identity::connections`).
        (Intent::Connect(_), _) => {
            return Err(denied(
                "state-unknown",
                "This flow does not sign in; start again.",
            ));
        }
    };
    Ok((active(state, user_id).await?, how))
}

async fn active(state: &AppState, user_id: Uuid) -> Result<UserRecord, Denied> {
    state
        .store
        .user_by_id(user_id)
        .await
        .map_err(store_failed)?
        .filter(|u| !u.disabled)
        .ok_or(denied(
            "account-disabled",
            "The account of this identity is disabled.",
        ))
}

/// An identity no account holds: linked by a trusted verified address, provisioned, or refused.
async fn unknown_identity(
    state: &AppState,
    ctx: &Ctx,
    provider: &ProviderConfig,
    who: &VerifiedIdentity,
) -> Result<(UserRecord, How), Denied> {
    let email = who
        .email
        .as_deref()
        .and_then(palisade_core::email::normalize)
        .filter(|_| who.email_verified);
    let holder = match &email {
        Some(e) => state.store.user_by_email(e).await.map_err(store_failed)?,
        None => None,
    };
    if let Some(user) = holder {
        if !provider.trust_email_for_linking {
            return Err(denied(
                "email-taken",
                "An account with this e-mail address exists; sign in to it and link this provider.",
            ));
        }
        if user.disabled {
            return Err(denied(
                "account-disabled",
                "The account of this identity is disabled.",
            ));
        }
        link(state, ctx, provider, who, &user, "verified-email").await?;
        return Ok((user, "verified-email"));
    }
    if provider.provision != Provision::Auto {
        return Err(denied(
            "no-account",
            "No account is linked to this identity; ask an administrator.",
        ));
    }
    if state.identity.config.registration != Registration::Open {
        return Err(denied(
            "registration-closed",
            "Registration is closed; ask an administrator for an account.",
        ));
    }
    let Some(email) = email else {
        return Err(denied(
            "email-unverified",
            "The provider reports no verified e-mail address, which a new account needs.",
        ));
    };
    let mut roles = state.identity.config.default_roles.clone();
    let matching: Vec<&ClaimRule> = provider
        .claim_rules
        .iter()
        .filter(|r| rule_matches(r, &who.claims))
        .collect();
    for r in &matching {
        for role in &r.roles {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
    }
    let id = Uuid::now_v7();
    let by = By {
        actor: id.to_string(),
        origin: &ctx.origin,
    };
    let name = who
        .claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let user = match state
        .identity
        .create_passwordless_user(id, &email, name, roles, &by)
        .await
    {
        Ok(u) => u,
        Err(Refused::Conflict { .. }) => {
            return Err(denied(
                "email-taken",
                "An account with this e-mail address exists; sign in to it and link this provider.",
            ));
        }
        Err(Refused::Store(e)) => return Err(store_failed(e)),
        Err(e) => {
            tracing::info!(error = %e, "federated provisioning refused");
            return Err(denied(
                "email-unverified",
                "The provider's e-mail address cannot name an account.",
            ));
        }
    };
    link(state, ctx, provider, who, &user, "provisioned").await?;
    for r in matching.iter().filter(|r| !r.tenant.is_empty()) {
        let role = if r.tenant_role.is_empty() {
            "member"
        } else {
            &r.tenant_role
        };
        if let Err(e) = state
            .identity
            .set_member(&r.tenant, user.id, role, &by)
            .await
        {
            tracing::warn!(tenant = %r.tenant, error = %e, "claim rule: membership not given");
        }
    }
    Ok((user, "provisioned"))
}

/// Links `who` to `user`; `auth.federated_link` on record.
async fn link(
    state: &AppState,
    ctx: &Ctx,
    provider: &ProviderConfig,
    who: &VerifiedIdentity,
    user: &UserRecord,
    via: &'static str,
) -> Result<(), Denied> {
    let record = FederatedIdentityRecord {
        id: Uuid::now_v7(),
        user_id: user.id,
        provider: provider.id.clone(),
        issuer: who.issuer.clone(),
        subject: who.subject.clone(),
        email: who.email.clone(),
        linked_at: state.identity.now_ms() as i64,
    };
    match state.store.federated_identity_insert(&record).await {
        Ok(()) => {}
        Err(palisade_store::StoreError::Conflict(_)) => {
            return Err(denied(
                "identity-linked-elsewhere",
                "This provider identity is linked to another account.",
            ));
        }
        Err(e) => return Err(store_failed(e)),
    }
    state.identity.audit.record(
        ctx.audit(
            AuditEvent::new("auth.federated_link", Risk::Medium, Outcome::Success)
                .actor(state.identity.subject_of(user))
                .resource(format!("federated_identity:{}", record.id))
                .details(serde_json::json!({
                    "provider": provider.id, "issuer": who.issuer,
                    "subject": who.subject, "via": via,
                })),
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(claim: &str, value: &str) -> ClaimRule {
        ClaimRule {
            claim: claim.into(),
            value: value.into(),
            roles: vec!["x".into()],
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_lists_strings_booleans_and_nested_claims() {
        let claims = serde_json::json!({
            "groups": ["staff", "ops"], "hd": "example.com", "email_verified": true,
            "realm_access": {"roles": ["admin"]},
        });
        let claims = claims.as_object().unwrap();
        assert!(rule_matches(&rule("groups", "staff"), claims));
        assert!(!rule_matches(&rule("groups", "sta"), claims));
        assert!(rule_matches(&rule("hd", "example.com"), claims));
        assert!(!rule_matches(&rule("hd", "example.co"), claims));
        assert!(rule_matches(&rule("email_verified", "true"), claims));
        assert!(!rule_matches(&rule("email_verified", "false"), claims));
        assert!(rule_matches(&rule("realm_access.roles", "admin"), claims));
        assert!(!rule_matches(&rule("missing", "x"), claims));
    }
}
