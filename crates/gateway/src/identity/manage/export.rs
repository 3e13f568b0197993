//! A person's data as one JSON document, for GDPR access and portability:
//! `GET /auth/me/export` and `GET /admin/users/{id}/export` both call [`Identity::export_user`].
//!
//! What it guarantees:
//! - The document holds the profile, sessions with their device data, API key metadata (never a
//!   key or its hash), tenant memberships and resource grants, federated identities, second
//!   factor metadata (never a TOTP seed or passkey credential), connections to other services
//!   (never their tokens), and every audit event by or about the person.
//! - It is written as it is read: the fixed part at once, then the audit events page by page
//!   ([`PAGE`] records at a time), so memory stays bounded whatever the number of events.
//! - Other people's personal data in those events is redacted: an actor who is someone else is
//!   `[redacted]`, with their address and user agent left out; another person's account id,
//!   e-mail address or IP address inside an event's details is `[redacted]`. System actors
//!   (`cli`, `palisade:alerts`) stay.
//! - The export is on the record before the first byte goes out (`data.exported`, HIGH).

use super::{By, Refused};
use crate::audit::Risk;
use crate::identity::Identity;
use bytes::Bytes;
use futures_util::Stream;
use palisade_core::audit::AuditRecord;
use palisade_store::SharedStore;
use palisade_store::audit::AuditFilter;
use serde_json::{Value, json};
use uuid::Uuid;

/// Audit records read per page.
const PAGE: u32 = 500;
const REDACTED: &str = "[redacted]";

/// An export ready to stream (see [`UserExport::into_stream`]).
pub struct UserExport {
    head: String,
    store: SharedStore,
    /// Reads the trail with sealed fields opened.
    audit: std::sync::Arc<crate::audit::AuditLog>,
    /// The queries whose records are about the person, in order; a record an earlier query
    /// returned is skipped by the later ones.
    passes: Vec<AuditFilter>,
    person: Person,
}

/// How the person is named in the trail, to tell their data from other people's.
struct Person {
    /// The account id and, when different, the trail's subject name (`auth.subject`).
    names: Vec<String>,
    email: String,
}

impl Identity {
    /// The export of `user`'s data, recorded as `data.exported`; `None` when there is no such
    /// account.
    pub async fn export_user(
        &self,
        user: Uuid,
        by: &By<'_>,
    ) -> Result<Option<UserExport>, Refused> {
        let Some(account) = self.store.user_by_id(user).await? else {
            return Ok(None);
        };
        let store = &self.store;
        let sessions = store.sessions_for_user(user, true).await?;
        let keys = store.api_keys_list(Some(user)).await?;
        let memberships = store.memberships_list().await?;
        let grants = store.resource_grants_list().await?;
        let federated = store.federated_identities_of(user).await?;
        let totp = store.totp_for_user(user).await?;
        let passkeys = store.passkeys_for_user(user).await?;
        let connections = store.connections_of(user).await?;
        let mut names = vec![user.to_string()];
        let subject = self.subject_of(&account);
        if !names.contains(&subject) {
            names.push(subject);
        }
        let document = json!({
            "format": "palisade.user-export.v1",
            "exported_at": self.now_ms(),
            "profile": {
                "id": account.id, "external_id": account.external_id, "email": account.email,
                "name": account.name, "roles": account.roles, "tier": account.tier,
                "kind": account.kind.as_str(), "disabled": account.disabled,
                "created_at": account.created_at, "updated_at": account.updated_at,
            },
            "sessions": sessions.iter().map(|s| json!({
                "id": s.id, "kind": s.kind.as_str(), "created_at": s.created_at,
                "last_seen_at": s.last_seen_at, "expires_at": s.expires_at,
                "revoked_at": s.revoked_at, "user_agent": s.user_agent,
                "device": s.fingerprint, "amr": s.amr, "acr": s.acr, "auth_time": s.auth_time,
            })).collect::<Vec<_>>(),
            "api_keys": keys.iter().map(|k| json!({
                "id": k.id, "name": k.name, "prefix": k.prefix, "roles": k.roles,
                "scopes": k.scopes, "created_at": k.created_at, "expires_at": k.expires_at,
                "last_used_at": k.last_used_at, "revoked_at": k.revoked_at,
            })).collect::<Vec<_>>(),
            "memberships": memberships.iter().filter(|m| m.user_id == user).map(|m| json!({
                "tenant_id": m.tenant_id, "role": m.role, "created_at": m.created_at,
            })).collect::<Vec<_>>(),
            "resource_grants": grants.iter().filter(|g| g.user_id == user).map(|g| json!({
                "tenant_id": g.tenant_id, "grants": g.grants, "created_at": g.created_at,
            })).collect::<Vec<_>>(),
            "federated_identities": federated.iter().map(|f| json!({
                "id": f.id, "provider": f.provider, "issuer": f.issuer, "subject": f.subject,
                "email": f.email, "linked_at": f.linked_at,
            })).collect::<Vec<_>>(),
            "mfa": {
                "totp": totp.iter().map(|t| json!({
                    "id": t.id, "name": t.name, "created_at": t.created_at,
                    "confirmed_at": t.confirmed_at,
                })).collect::<Vec<_>>(),
                "passkeys": passkeys.iter().map(|p| json!({
                    "id": p.id, "name": p.name, "created_at": p.created_at,
                    "last_used_at": p.last_used_at,
                })).collect::<Vec<_>>(),
            },
            "connections": connections.iter().map(|c| json!({
                "id": c.id, "provider": c.provider, "scopes": c.scopes,
                "expires_at": c.expires_at, "created_at": c.created_at,
                "updated_at": c.updated_at,
            })).collect::<Vec<_>>(),
        });
        // The document without its closing brace, to which the events are appended.
        let mut head = document.to_string();
        head.pop();
        head.push_str(r#","audit_events":["#);
        let passes = names
            .iter()
            .map(|n| AuditFilter {
                actor: Some(n.clone()),
                ..Default::default()
            })
            .chain(names.iter().map(|n| AuditFilter {
                resource_id: Some(n.clone()),
                ..Default::default()
            }))
            .collect();
        self.audit.record(
            by.event("data.exported", Risk::High, format!("user:{user}"))
                .details(json!({ "format": "json", "document": "user-export" })),
        );
        Ok(Some(UserExport {
            head,
            store: self.store.clone(),
            audit: self.audit.clone(),
            passes,
            person: Person {
                names,
                email: account.email,
            },
        }))
    }
}

impl UserExport {
    /// The document, as UTF-8 JSON pieces: the fixed part, then one piece per page of events.
    pub fn into_stream(self) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
        let Self {
            head,
            store,
            audit,
            passes,
            person,
        } = self;
        let shared = std::sync::Arc::new((store, audit, passes, person));
        let start = State {
            pass: 0,
            after: 0,
            first: true,
        };
        let head = futures_util::stream::once(async move { Ok(Bytes::from(head)) });
        let events = futures_util::stream::unfold(Some(start), move |state| {
            let shared = shared.clone();
            async move {
                let (store, audit, passes, person) = &*shared;
                next_page(store, audit, passes, person, state?).await
            }
        });
        futures_util::StreamExt::chain(head, events)
    }
}

/// Where the events stream is: which query, after which record, and whether an event was
/// written yet (for the commas).
#[derive(Clone, Copy)]
struct State {
    pass: usize,
    after: u64,
    first: bool,
}

/// The next piece of the events: a page of one query, or the closing `]}` after the last.
async fn next_page(
    store: &SharedStore,
    audit: &crate::audit::AuditLog,
    passes: &[AuditFilter],
    person: &Person,
    mut state: State,
) -> Option<(std::io::Result<Bytes>, Option<State>)> {
    loop {
        let Some(filter) = passes.get(state.pass) else {
            return Some((Ok(Bytes::from_static(b"]}")), None));
        };
        let pass = state.pass;
        let page = match audit.read(store.as_ref(), filter, state.after, PAGE).await {
            Ok(page) => page,
            // The body is cut short: the client sees invalid JSON, never a silent partial export.
            Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
        };
        if page.len() < PAGE as usize {
            state.pass += 1;
            state.after = 0;
        } else if let Some(last) = page.last() {
            state.after = last.seq;
        }
        let mut piece = String::new();
        // A record an earlier query returned is already written.
        for record in page
            .iter()
            .filter(|r| !passes[..pass].iter().any(|f| f.matches(r)))
        {
            if !state.first {
                piece.push(',');
            }
            state.first = false;
            piece.push_str(&person.event_json(record).to_string());
        }
        if !piece.is_empty() {
            return Some((Ok(Bytes::from(piece)), Some(state)));
        }
    }
}

impl Person {
    fn is_person(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// An audit record as the export shows it, other people's data redacted.
    fn event_json(&self, r: &AuditRecord) -> Value {
        let by_person = r.actor.as_deref().is_some_and(|a| self.is_person(a));
        let actor = r.actor.as_deref().map(|a| {
            if by_person || !names_someone(a) {
                a.to_string()
            } else {
                REDACTED.to_string()
            }
        });
        let resource_id = r.resource_id.as_deref().map(|id| {
            if r.resource_type.as_deref() == Some("user") && !self.is_person(id) {
                REDACTED.to_string()
            } else {
                id.to_string()
            }
        });
        let mut details = r.details.clone();
        self.redact(&mut details, by_person);
        json!({
            "seq": r.seq, "id": r.id, "ts_ms": r.ts_ms, "event_type": r.event_type,
            "risk": r.risk, "actor": actor, "action": r.action,
            "resource_type": r.resource_type, "resource_id": resource_id, "tenant": r.tenant,
            "result": r.result, "request_id": r.request_id,
            "client_ip": if by_person { r.client_ip.as_deref() } else { None },
            "user_agent": if by_person { r.user_agent.as_deref() } else { None },
            "details": details,
        })
    }

    /// Replaces, anywhere in `value`, another person's e-mail address, IP address or (in an
    /// event by someone else) account id with `[redacted]`.
    fn redact(&self, value: &mut Value, by_person: bool) {
        match value {
            Value::String(s) => {
                let other_email = s.contains('@') && !s.eq_ignore_ascii_case(&self.email);
                let address = !by_person && s.parse::<std::net::IpAddr>().is_ok();
                let account = !by_person && s.parse::<Uuid>().is_ok() && !self.is_person(s);
                if other_email || address || account {
                    *s = REDACTED.to_string();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v, by_person)),
            Value::Object(map) => map.values_mut().for_each(|v| self.redact(v, by_person)),
            _ => {}
        }
    }
}

/// True for an actor name that identifies a person or account (an id or an e-mail address),
/// false for Palisade's own actors (`cli`, `palisade:alerts`, …).
fn names_someone(actor: &str) -> bool {
    actor.parse::<Uuid>().is_ok() || actor.contains('@') || !actor.contains(':') && actor != "cli"
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::audit::{GENESIS, Outcome, Source};

    fn record(actor: &str, resource: Option<&str>, details: Value) -> AuditRecord {
        AuditRecord {
            seq: 1,
            id: "e1".into(),
            ts_ms: 1,
            event_type: "user.roles_changed".into(),
            risk: Risk::High,
            actor: Some(actor.into()),
            action: None,
            resource_type: resource.map(|_| "user".into()),
            resource_id: resource.map(Into::into),
            tenant: None,
            result: Outcome::Success,
            client_ip: Some("198.51.100.7".into()),
            user_agent: Some("Admin's browser".into()),
            request_id: None,
            details,
            source: Source::Palisade,
            prev_hash: GENESIS,
            hash: GENESIS,
        }
    }

    #[test]
    fn other_peoples_data_is_redacted_and_the_persons_own_kept() {
        let me = Uuid::now_v7().to_string();
        let admin = Uuid::now_v7().to_string();
        let person = Person {
            names: vec![me.clone()],
            email: "ann@example.com".into(),
        };
        let by_admin = person.event_json(&record(
            &admin,
            Some(&me),
            json!({"by": "root@example.com", "ip": "203.0.113.4", "of": ["ann@example.com", admin]}),
        ));
        assert_eq!(by_admin["actor"], REDACTED);
        assert_eq!(by_admin["resource_id"], me.as_str());
        assert_eq!(by_admin["client_ip"], Value::Null);
        assert_eq!(by_admin["user_agent"], Value::Null);
        assert_eq!(
            by_admin["details"],
            json!({"by": REDACTED, "ip": REDACTED, "of": ["ann@example.com", REDACTED]})
        );
        let own = person.event_json(&record(
            &me,
            Some(&admin),
            json!({"invited": "bob@example.com", "session": me}),
        ));
        assert_eq!(own["actor"], me.as_str());
        assert_eq!(own["client_ip"], "198.51.100.7");
        assert_eq!(own["resource_id"], REDACTED, "another account acted on");
        assert_eq!(own["details"]["invited"], REDACTED);
        let system = person.event_json(&record("palisade:alerts", Some(&me), json!({})));
        assert_eq!(system["actor"], "palisade:alerts");
        assert_eq!(
            person.event_json(&record("cli", None, json!({})))["actor"],
            "cli"
        );
    }
}
