//! The audit trail in `/admin`: `GET /admin/audit` (filters and keyset pagination),
//! `GET /admin/audit/export?format=jsonl|csv` (streamed page by page) and
//! `GET /admin/security/summary?window=1h`. All need `admin.audit.read`; an export is itself an
//! audit event (`data.exported`, HIGH). `GET /admin/incidents?window=7d` (`admin.incidents.read`)
//! folds the alert engine's `incident.opened` / `incident.updated` events from the trail.

#![allow(clippy::result_large_err)]

use super::perm;
use crate::api::extract::{Caller, Ctx, require};
use crate::api::openapi::schemas;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, header};
use palisade_core::audit::AuditRecord;
use palisade_store::audit::AuditFilter;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

type S = State<Arc<AppState>>;

const PAGE: u32 = 1_000;

/// `/admin/audit`, `/admin/audit/export`, `/admin/security/summary`, `/admin/incidents`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/audit", get(query))
        .route("/admin/audit/export", get(export))
        .route("/admin/security/summary", get(summary))
        .route("/admin/incidents", get(incidents))
}

/// Which incidents.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct IncidentParams {
    /// How far back: a duration such as `24h` or `7d` (default 7 days, at most 90).
    #[param(example = "7d")]
    window: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// Reads every record of one type since `from_ms`, up to `max`.
async fn records_of(
    state: &AppState,
    event_type: &str,
    from_ms: i64,
    max: usize,
) -> Result<Vec<AuditRecord>, palisade_store::StoreError> {
    let filter = AuditFilter {
        event_type: Some(event_type.into()),
        from_ms: Some(from_ms),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut after = 0;
    while out.len() < max {
        let page = state
            .audit
            .read(state.store.as_ref(), &filter, after, PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page);
    }
    Ok(out)
}

/// Incidents opened in the last `window` (default 7 days, at most 90), newest first, each with
/// its current severity, the actions taken and the webhook's delivery.
#[utoipa::path(
    get, path = "/admin/incidents", tag = "admin", operation_id = "list_incidents",
    params(IncidentParams),
    responses(
        (status = 200, description = "The incidents.", body = schemas::IncidentList),
        (status = 403, description = "`admin.incidents.read` is not granted."),
        (status = 422, description = "The window or limit is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn incidents(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<IncidentParams>, QueryRejection>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::INCIDENTS_READ) {
        return r;
    }
    let Ok(Query(p)) = query else {
        return bad_incident_query(&ctx);
    };
    let window = match p.window.as_deref().map(humantime::parse_duration) {
        None => std::time::Duration::from_secs(7 * 86_400),
        Some(Ok(d)) if d <= std::time::Duration::from_secs(90 * 86_400) => d,
        Some(_) => return bad_incident_query(&ctx),
    };
    let limit = p.limit.unwrap_or(100).clamp(1, 1_000) as usize;
    match incidents_in(&state, window, limit).await {
        Ok(list) => {
            Json(serde_json::json!({ "window_seconds": window.as_secs(), "incidents": list }))
                .into_response()
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// The incidents opened in the last `window`, newest first, at most `limit`, each with its
/// current severity, the actions taken and the webhook's delivery: `GET /admin/incidents` and
/// the console's incidents page.
pub(crate) async fn incidents_in(
    state: &AppState,
    window: std::time::Duration,
    limit: usize,
) -> Result<Vec<serde_json::Value>, palisade_store::StoreError> {
    let from = state.clock.now_millis() as i64 - window.as_millis() as i64;
    let (opened, updates) = tokio::try_join!(
        records_of(state, "incident.opened", from, 100_000),
        records_of(state, "incident.updated", from, 100_000),
    )?;
    let mut list: Vec<serde_json::Value> = opened
        .iter()
        .rev()
        .take(limit)
        .map(|r| {
            let mut incident = r.details.clone();
            incident["seq"] = r.seq.into();
            incident["webhook"] = serde_json::Value::Null;
            incident
        })
        .collect();
    for u in &updates {
        let id = u.details.get("incident_id");
        if let Some(incident) = list.iter_mut().find(|i| i.get("incident_id") == id) {
            if let Some(sev) = u.details.get("severity") {
                incident["severity"] = sev.clone();
                incident["count"] = u.details["count"].clone();
            }
            if let Some(w) = u.details.get("webhook") {
                incident["webhook"] = w.clone();
            }
        }
    }
    Ok(list)
}

fn bad_incident_query(ctx: &Ctx) -> Response {
    ctx.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-query",
        "window is a duration such as 24h or 7d, at most 90 days; limit is 1 to 1000",
    )
}

/// Which period.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SummaryParams {
    /// How far back: a duration such as `1h` or `30m` (default 1 hour, at most 31 days).
    #[param(example = "1h")]
    window: Option<String>,
}

/// Events read for one summary at most; beyond it the answer says `truncated`.
const SUMMARY_MAX_EVENTS: usize = 200_000;

fn top(counts: std::collections::HashMap<String, u64>, n: usize) -> Vec<serde_json::Value> {
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(n)
        .map(|(k, c)| serde_json::json!({ "key": k, "count": c }))
        .collect()
}

/// What happened in the last `window`: failed logins by IP and by account, denials, rate-limit
/// hits, privilege-escalation attempts, the riskiest actors, and the IPs blocked now.
#[utoipa::path(
    get, path = "/admin/security/summary", tag = "admin", operation_id = "security_summary",
    params(SummaryParams),
    responses(
        (status = 200, description = "The summary.", body = schemas::SecuritySummary),
        (status = 403, description = "`admin.audit.read` is not granted."),
        (status = 422, description = "The window is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn summary(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<SummaryParams>, QueryRejection>,
) -> Response {
    use palisade_core::audit::Risk as R;
    use std::collections::HashMap;
    if let Err(r) = require(&state, &caller, &ctx, perm::AUDIT_READ) {
        return r;
    }
    let window = match query.ok().map(|Query(q)| q.window) {
        Some(None) => std::time::Duration::from_secs(3600),
        Some(Some(w)) => match humantime::parse_duration(&w) {
            Ok(d) if d <= std::time::Duration::from_secs(31 * 86_400) => d,
            _ => return bad_window(&ctx),
        },
        None => return bad_window(&ctx),
    };
    let now = state.clock.now_millis() as i64;
    let filter = AuditFilter {
        from_ms: Some(now - window.as_millis() as i64),
        ..Default::default()
    };
    let (mut by_ip, mut by_account, mut risky) = (HashMap::new(), HashMap::new(), HashMap::new());
    let (mut denials, mut rate_limited, mut seen) = (0u64, 0u64, 0usize);
    let mut escalations = Vec::new();
    let mut after = 0;
    let truncated = loop {
        let page = match state
            .audit
            .read(state.store.as_ref(), &filter, after, PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => return ctx.unavailable(e),
        };
        let Some(last) = page.last() else { break false };
        after = last.seq;
        for r in &page {
            match r.event_type.as_str() {
                "auth.login_failure" => {
                    if let Some(ip) = &r.client_ip {
                        *by_ip.entry(ip.clone()).or_insert(0u64) += 1;
                    }
                    if let Some(a) = &r.actor {
                        *by_account.entry(a.clone()).or_insert(0u64) += 1;
                    }
                }
                "authz.denied" => denials += 1,
                // Sampled: each stored event stands for `details.count` refusals.
                "ratelimit.exceeded" => {
                    rate_limited += r.details.get("count").and_then(|c| c.as_u64()).unwrap_or(1)
                }
                "authz.privilege_escalation_attempt" if escalations.len() < 100 => escalations
                    .push(serde_json::json!({
                        "seq": r.seq, "ts_ms": r.ts_ms, "actor": r.actor, "client_ip": r.client_ip,
                        "resource_type": r.resource_type, "resource_id": r.resource_id,
                    })),
                _ => {}
            }
            if r.result != palisade_core::audit::Outcome::Success
                && let Some(a) = r.actor.as_ref().or(r.client_ip.as_ref())
            {
                let weight = match r.risk {
                    R::Low => 1,
                    R::Medium => 3,
                    R::High => 10,
                    R::Critical => 30,
                };
                *risky.entry(a.clone()).or_insert(0u64) += weight;
            }
        }
        seen += page.len();
        if seen >= SUMMARY_MAX_EVENTS {
            break true;
        }
    };
    let blocks = match state.identity.brute.blocks().await {
        Ok(b) => serde_json::to_value(b).unwrap_or_default(),
        Err(e) => return ctx.unavailable(e),
    };
    Json(serde_json::json!({
        "window_seconds": window.as_secs(),
        "events": seen,
        "truncated": truncated,
        "failed_logins_by_ip": top(by_ip, 10),
        "failed_logins_by_account": top(by_account, 10),
        "denials": denials,
        "rate_limit_hits": rate_limited,
        "privilege_escalation_attempts": escalations,
        "top_risky_actors": top(risky, 10),
        "current_blocks": blocks,
    }))
    .into_response()
}

fn bad_window(ctx: &Ctx) -> Response {
    ctx.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-query",
        "window is a duration such as 1h or 30m, at most 31 days",
    )
}

/// The filters and page of an audit query or export (also `palisade audit query`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// The event type, e.g. `auth.login_failure`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Who acted (a user id, `cli`, …).
    pub actor: Option<String>,
    /// The tenant concerned.
    pub tenant: Option<String>,
    /// `success`, `failure` or `denied`.
    pub result: Option<String>,
    /// This risk or higher: `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub risk: Option<String>,
    /// Who wrote the events: `palisade` or `app` (`POST /admin/audit/events`).
    pub source: Option<String>,
    /// The client's address (IPv4 or IPv6), found whether stored sealed or in the clear.
    pub client_ip: Option<String>,
    /// RFC 3339 or Unix milliseconds, inclusive.
    pub from: Option<String>,
    /// RFC 3339 or Unix milliseconds, exclusive.
    pub to: Option<String>,
    /// Keyset pagination: the last `seq` of the previous page.
    pub after: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// Export only: `jsonl` (default) or `csv`.
    pub format: Option<String>,
}

fn time_ms(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().or_else(|| {
        humantime::parse_rfc3339_weak(s)
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as i64)
    })
}

impl Params {
    /// The store filter these parameters describe (a client address matched as `audit`'s trail
    /// seals it), or what is wrong with them.
    pub fn filter(&self, audit: &crate::audit::AuditLog) -> Result<AuditFilter, &'static str> {
        let client_ip = match self.client_ip.as_deref() {
            Some(ip) => Some(
                audit.client_ip_match(
                    &ip.parse::<std::net::IpAddr>()
                        .map_err(|_| "client_ip is an IPv4 or IPv6 address")?
                        .to_string(),
                ),
            ),
            None => None,
        };
        let result = match self.result.as_deref() {
            Some(r) => Some(
                palisade_core::audit::Outcome::parse(r)
                    .ok_or("result is success, failure or denied")?,
            ),
            None => None,
        };
        let min_risk = match self.risk.as_deref() {
            Some(r) => Some(
                palisade_core::audit::Risk::parse(r)
                    .ok_or("risk is LOW, MEDIUM, HIGH or CRITICAL")?,
            ),
            None => None,
        };
        let source = match self.source.as_deref() {
            Some(s) => {
                Some(palisade_core::audit::Source::parse(s).ok_or("source is palisade or app")?)
            }
            None => None,
        };
        let time = |t: &Option<String>| match t.as_deref() {
            Some(s) => time_ms(s)
                .map(Some)
                .ok_or("from and to are RFC 3339 times or Unix milliseconds"),
            None => Ok(None),
        };
        Ok(AuditFilter {
            event_type: self.event_type.clone(),
            actor: self.actor.clone(),
            resource_id: None,
            tenant: self.tenant.clone(),
            result,
            min_risk,
            from_ms: time(&self.from)?,
            to_ms: time(&self.to)?,
            source,
            client_ip,
        })
    }
}

/// The caller may read the trail, and the query parses: its parameters and filter.
fn readable(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<(Params, AuditFilter), Response> {
    require(state, caller, ctx, perm::AUDIT_READ)?;
    let bad = |detail: &str| {
        ctx.problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            detail.to_string(),
        )
    };
    let Ok(Query(p)) = query else {
        return Err(bad(
            "Filters are type, actor, tenant, result, risk, source, client_ip, from, to; pages take after and limit.",
        ));
    };
    let filter = p.filter(&state.audit).map_err(bad)?;
    Ok((p, filter))
}

/// A page of the audit trail.
#[utoipa::path(
    get, path = "/admin/audit", tag = "admin", operation_id = "query_audit",
    params(Params),
    responses(
        (status = 200, description = "The events.", body = schemas::AuditPage),
        (status = 403, description = "`admin.audit.read` is not granted."),
        (status = 422, description = "A filter is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn query(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let (p, filter) = match readable(&state, &caller, &ctx, query) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match page_of(&state, &p, &filter).await {
        Ok((events, next)) => {
            Json(serde_json::json!({ "events": events, "next_after": next })).into_response()
        }
        Err(e) => ctx.unavailable(e),
    }
}

/// One page of the trail for `p` (its `after` and `limit`, 1 to 1000, default 100) and
/// `filter`, and the `after` of the next page when this one is full: `GET /admin/audit` and the
/// console's audit browser.
pub(crate) async fn page_of(
    state: &AppState,
    p: &Params,
    filter: &AuditFilter,
) -> Result<(Vec<AuditRecord>, Option<u64>), palisade_store::StoreError> {
    let limit = p.limit.unwrap_or(100).clamp(1, PAGE);
    let events = state
        .audit
        .read(state.store.as_ref(), filter, p.after.unwrap_or(0), limit)
        .await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|r| r.seq))
        .flatten();
    Ok((events, next))
}

/// The first line of a CSV export.
pub const CSV_HEADER: &str = "seq,id,ts_ms,event_type,risk,actor,action,resource_type,resource_id,tenant,result,client_ip,user_agent,request_id,details,prev_hash,hash\n";

/// One CSV field, quoted when it must be; cells that a spreadsheet would run as a formula are
/// prefixed with a quote.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One audit record as a CSV line (with its newline).
pub fn csv_line(r: &AuditRecord) -> String {
    let opt = |o: &Option<String>| o.as_deref().map(csv_field).unwrap_or_default();
    let hex = palisade_core::audit::hex32::encode;
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        r.seq,
        csv_field(&r.id),
        r.ts_ms,
        csv_field(&r.event_type),
        r.risk.as_str(),
        opt(&r.actor),
        opt(&r.action),
        opt(&r.resource_type),
        opt(&r.resource_id),
        opt(&r.tenant),
        r.result.as_str(),
        opt(&r.client_ip),
        opt(&r.user_agent),
        opt(&r.request_id),
        csv_field(&r.details.to_string()),
        hex(&r.prev_hash),
        hex(&r.hash),
    )
}

/// The audit trail as a download, streamed page by page (itself a `data.exported` event).
#[utoipa::path(
    get, path = "/admin/audit/export", tag = "admin", operation_id = "export_audit",
    params(Params),
    responses(
        (status = 200, description = "The events, one per line.",
            content(("application/x-ndjson"), ("text/csv"))),
        (status = 403, description = "`admin.audit.read` is not granted."),
        (status = 422, description = "A filter or the format is not acceptable."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn export(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let (p, filter) = match readable(&state, &caller, &ctx, query) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csv = match p.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => {
            return ctx.problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-query",
                "format is jsonl or csv",
            );
        }
    };
    state.audit.record(
        ctx.audit(
            AuditEvent::new("data.exported", Risk::High, Outcome::Success)
                .actor(caller.0.subject.clone())
                .resource("audit:trail")
                .details(serde_json::json!({ "format": if csv { "csv" } else { "jsonl" } })),
        ),
    );
    let store = state.store.clone();
    let audit = state.audit.clone();
    let first =
        csv.then(|| Ok::<_, std::io::Error>(bytes::Bytes::from_static(CSV_HEADER.as_bytes())));
    let pages = futures_util::stream::unfold(Some(p.after.unwrap_or(0)), move |after| {
        let store = store.clone();
        let audit = audit.clone();
        let filter = filter.clone();
        async move {
            let after = after?;
            match audit.read(store.as_ref(), &filter, after, PAGE).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = (page.len() == PAGE as usize)
                        .then(|| page.last().map(|r| r.seq))
                        .flatten();
                    let mut chunk = String::new();
                    for r in &page {
                        if csv {
                            chunk.push_str(&csv_line(r));
                        } else {
                            chunk.push_str(&serde_json::to_string(r).unwrap_or_default());
                            chunk.push('\n');
                        }
                    }
                    Some((Ok(bytes::Bytes::from(chunk)), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(
        futures_util::stream::iter(first),
        pages,
    ));
    let mut res = Response::new(body);
    let (kind, name) = if csv {
        (
            "text/csv; charset=utf-8",
            "attachment; filename=\"audit.csv\"",
        )
    } else {
        (
            "application/x-ndjson",
            "attachment; filename=\"audit.jsonl\"",
        )
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    res.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }

    #[test]
    fn times_are_rfc3339_or_milliseconds() {
        assert_eq!(time_ms("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(time_ms("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(time_ms("yesterday"), None);
    }
}
