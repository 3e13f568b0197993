//! Application events in the trail: the one use case behind `POST /admin/audit/events`.
//!
//! An application (usually a service account holding `audit.events.write`) posts a batch of up
//! to [`MAX_BATCH`] events of types declared in `[[audit.app_events]]`. Each is recorded with
//! `source = "app"`, the declared risk, Palisade's clock as its timestamp, the authenticated
//! poster as `actor`, the posting request's client IP, request id and user agent, and in
//! `details` the application's own `occurred_at`, its `idempotency_key` and (when given) its
//! own actor as `app_actor`; those reserved keys cannot be set by the application.
//!
//! Guarantees: a batch is checked whole before anything is stored (an invalid event refuses the
//! batch, naming its index: all or nothing); at most `audit.app_events_per_minute` events per
//! poster and minute (429 with the seconds to wait); a full trail queue (`audit.max_queue`)
//! answers 503 rather than queueing more; events are answered "stored" or "duplicate" only once
//! committed, in Palisade's one chain; every refusal is an `audit.app_events_refused` event.
//! Stored events reach only the alert rules that name the app source.

use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::audit::AuditConfig;
use palisade_core::clock::SharedClock;
use palisade_store::SharedHotState;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use utoipa::ToSchema;

/// Events per batch at most.
pub const MAX_BATCH: usize = 1_000;
/// Largest `details` of one event, as compact JSON.
pub const MAX_DETAILS: usize = 8 * 1024;
/// Longest `actor`, `resource`, `tenant` and `idempotency_key`.
pub const MAX_FIELD: usize = 256;
/// Detail keys Palisade writes itself; an application's `details` may not name them.
pub const RESERVED: [&str; 3] = ["occurred_at", "idempotency_key", "app_actor"];

/// A batch of application events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"events": [{
    "type": "app.tool.executed", "occurred_at": "2026-12-05T10:00:00Z",
    "idempotency_key": "run-42-step-1", "actor": "user-7", "resource": "tool:read_file",
    "action": "execute", "result": "success", "tenant": "acme", "details": {"duration_ms": 12}
}]}))]
pub struct AppBatch {
    /// 1 to 1,000 events.
    pub events: Vec<AppEventIn>,
}

/// One application event as posted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppEventIn {
    /// A type declared in `[[audit.app_events]]` (`app.…`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened, by the application's clock (RFC 3339, UTC); kept as
    /// `details.occurred_at`.
    pub occurred_at: String,
    /// Unique per event and poster (visible ASCII, at most 256): a retried event is stored once.
    pub idempotency_key: String,
    /// The application's own actor (kept as `details.app_actor`; the trail's actor is the
    /// poster).
    #[serde(default)]
    pub actor: Option<String>,
    /// What was acted on, `type:id` or an id.
    #[serde(default)]
    pub resource: Option<String>,
    /// What was done.
    #[serde(default)]
    pub action: Option<String>,
    /// `success`, `failure` or `denied`.
    pub result: String,
    /// The tenant it concerns.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Anything else, a JSON object of at most 8 KiB without the reserved keys.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Why a batch was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum AppRefused {
    /// More than [`MAX_BATCH`] events, or none.
    BatchSize(usize),
    /// Event `index` is not acceptable (`field`: what is wrong).
    Invalid {
        /// Its position in the batch, from 0.
        index: usize,
        /// The field at fault.
        field: &'static str,
        /// For people.
        detail: String,
    },
    /// The poster's quota for this minute is used up; retry after this many seconds.
    Quota(u64),
    /// The trail cannot take more now (queue full, store slow or down).
    Busy,
}

impl AppRefused {
    fn reason(&self) -> &'static str {
        match self {
            AppRefused::BatchSize(_) => "batch-size",
            AppRefused::Invalid { .. } => "invalid-event",
            AppRefused::Quota(_) => "quota",
            AppRefused::Busy => "busy",
        }
    }
}

/// What the use case needs from the running gateway.
pub struct AppEvents<'a> {
    /// Where events go.
    pub audit: &'a AuditLog,
    /// Quota counters.
    pub hot: &'a SharedHotState,
    /// Palisade's clock.
    pub clock: &'a SharedClock,
    /// `[audit]`.
    pub config: &'a AuditConfig,
}

/// A declared type as the `&'static str` events carry; only declared types (a bounded set)
/// are ever interned.
fn intern(t: &str) -> &'static str {
    static TYPES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = TYPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = set.get(t) {
        return known;
    }
    let leaked: &'static str = Box::leak(t.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

fn text_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

impl AppEvents<'_> {
    /// Checks, counts and stores a batch posted by `principal`; per event, true when stored now
    /// and false for a duplicate. A refusal is recorded and nothing of the batch is stored.
    pub async fn post(
        &self,
        principal: &str,
        origin: &RequestOrigin,
        batch: AppBatch,
    ) -> Result<Vec<bool>, AppRefused> {
        let out = self.try_post(principal, origin, batch).await;
        if let Err(refused) = &out {
            let mut details = serde_json::json!({ "reason": refused.reason() });
            match refused {
                AppRefused::BatchSize(n) => {
                    details["events"] = (*n).into();
                    details["limit"] = MAX_BATCH.into();
                }
                AppRefused::Invalid { index, field, .. } => {
                    details["index"] = (*index).into();
                    details["field"] = (*field).into();
                }
                AppRefused::Quota(_) => {
                    details["limit"] = self.config.app_events_per_minute.into();
                }
                AppRefused::Busy => {}
            }
            self.audit.record_refusal(
                AuditEvent::new("audit.app_events_refused", Risk::Medium, Outcome::Denied)
                    .actor(principal)
                    .resource("audit:app_events")
                    .origin(origin)
                    .details(details),
            );
        }
        out
    }

    async fn try_post(
        &self,
        principal: &str,
        origin: &RequestOrigin,
        batch: AppBatch,
    ) -> Result<Vec<bool>, AppRefused> {
        let n = batch.events.len();
        if n == 0 || n > MAX_BATCH {
            return Err(AppRefused::BatchSize(n));
        }
        let mut events = Vec::with_capacity(n);
        for (index, e) in batch.events.into_iter().enumerate() {
            let event = self
                .event(principal, origin, e)
                .map_err(|(field, detail)| AppRefused::Invalid {
                    index,
                    field,
                    detail,
                })?;
            events.push(event);
        }
        self.count(principal, n as u64).await?;
        let Some(trail) = self.audit.trail() else {
            return Err(AppRefused::Busy);
        };
        if trail.backlog() + n as u64 > self.config.max_queue && !trail.room().await {
            return Err(AppRefused::Busy);
        }
        let drafts = events
            .iter()
            .map(|(e, key)| (e.draft(), key.clone()))
            .collect();
        let answer = tokio::time::timeout(
            self.config.durable_timeout.0,
            trail.submit_app(principal.to_string(), drafts),
        )
        .await;
        let fresh = match answer {
            Ok(Ok(fresh)) => fresh,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "app events not stored");
                return Err(AppRefused::Busy);
            }
            Err(_) => return Err(AppRefused::Busy),
        };
        for ((event, _), new) in events.iter().zip(&fresh) {
            if *new {
                self.audit.offer_posted(event);
            }
        }
        Ok(fresh)
    }

    /// Adds `n` to the poster's count of this minute; refuses past the quota.
    async fn count(&self, principal: &str, n: u64) -> Result<(), AppRefused> {
        let now = self.clock.now_millis();
        let minute = now / 60_000;
        let key = format!(
            "aq:{}:{minute}",
            crate::audit::alerts::hashed_key(principal)
        );
        match self.hot.incr_by(&key, n, Duration::from_secs(120)).await {
            Ok(total) if total <= self.config.app_events_per_minute => Ok(()),
            Ok(_) => Err(AppRefused::Quota(
                ((minute + 1) * 60_000 - now).div_ceil(1_000),
            )),
            Err(e) => {
                // Fail closed: an uncounted poster could flood the trail.
                tracing::warn!(error = %e, "app event quota not counted");
                Err(AppRefused::Busy)
            }
        }
    }

    /// One posted event as recorded, with its key; or the field at fault.
    fn event(
        &self,
        principal: &str,
        origin: &RequestOrigin,
        e: AppEventIn,
    ) -> Result<(AuditEvent, String), (&'static str, String)> {
        let Some(declared) = self.config.app_event(&e.event_type) else {
            return Err((
                "type",
                format!(
                    "The type {:?} is not declared in [[audit.app_events]].",
                    e.event_type.chars().take(128).collect::<String>()
                ),
            ));
        };
        let risk = declared.risk().unwrap_or(Risk::Medium);
        let outcome = Outcome::parse(&e.result).ok_or((
            "result",
            "result is success, failure or denied.".to_string(),
        ))?;
        let Some(occurred_at) = crate::config::units::parse_rfc3339(&e.occurred_at) else {
            return Err((
                "occurred_at",
                "occurred_at is an RFC 3339 time such as 2026-12-05T10:00:00Z or 2026-12-05T11:00:00+01:00.".into(),
            ));
        };
        let key = &e.idempotency_key;
        if key.is_empty() || key.len() > MAX_FIELD || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((
                "idempotency_key",
                format!("idempotency_key is 1 to {MAX_FIELD} visible ASCII characters."),
            ));
        }
        for (field, value, max) in [
            ("actor", &e.actor, MAX_FIELD),
            ("resource", &e.resource, MAX_FIELD),
            ("tenant", &e.tenant, MAX_FIELD),
            ("action", &e.action, crate::audit::MAX_ACTION),
        ] {
            if value.as_deref().is_some_and(|v| !text_ok(v, max)) {
                return Err((
                    field,
                    format!("{field} is 1 to {max} bytes without control characters."),
                ));
            }
        }
        let details = e.details.unwrap_or_default();
        if let Some(k) = RESERVED.iter().find(|k| details.contains_key(**k)) {
            return Err((
                "details",
                format!("details may not set {k:?}: Palisade writes it."),
            ));
        }
        let size = serde_json::to_vec(&details).map_or(usize::MAX, |v| v.len());
        if size > MAX_DETAILS {
            return Err((
                "details",
                format!("details are {size} bytes as JSON; at most {MAX_DETAILS}."),
            ));
        }
        let mut event = AuditEvent::app(intern(&declared.event_type), risk, outcome)
            .actor(principal)
            .details(serde_json::Value::Object(details));
        event.resource = e.resource;
        event.action = e.action;
        event.tenant = e.tenant;
        event.client_ip = origin.client_ip;
        event.request_id.clone_from(&origin.request_id);
        event.user_agent.clone_from(&origin.user_agent);
        // What the application wrote is redacted like every event; what Palisade adds after.
        let mut event = self.audit.redacted(event);
        if !event.details.is_object() {
            event.details = serde_json::json!({});
        }
        if let Some(d) = event.details.as_object_mut() {
            // In UTC whatever offset the application wrote, so the trail sorts and filters one way.
            d.insert(
                "occurred_at".into(),
                humantime::format_rfc3339(occurred_at).to_string().into(),
            );
            d.insert("idempotency_key".into(), key.clone().into());
            if let Some(actor) = e.actor {
                d.insert("app_actor".into(), actor.into());
            }
        }
        Ok((event, e.idempotency_key))
    }
}
