//! The audit browser: the trail filtered by type, actor, tenant, result, risk and time, in
//! keyset pages (the query `GET /admin/audit` runs, `api::admin::audit::page_of`),
//! each event's detail, export links (`GET /admin/audit/export`), the last signed checkpoint,
//! and on its own page the chain's verification (the check `palisade audit verify` runs).

use super::access::open;
use super::render::console_page;
use crate::api::admin::audit::{Params, page_of};
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use minijinja::{Value, context};
use palisade_core::principal::Principal;
use std::sync::Arc;

const FILTERS: [&str; 7] = ["type", "actor", "tenant", "result", "risk", "from", "to"];

/// `GET /admin/console/audit?type&actor&tenant&result&risk&from&to&after&limit`.
#[utoipa::path(
    get, path = "/admin/console/audit", tag = "console",
    params(crate::api::admin::audit::Params),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.audit.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::AUDIT_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // An empty field of the filter form means "any".
    let pairs: Vec<(String, String)> = super::query_form::<Vec<(String, String)>>(query.as_deref())
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let filters: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| FILTERS.contains(&k.as_str()))
        .cloned()
        .collect();
    let filter_query = serde_urlencoded::to_string(&filters).unwrap_or_default();
    let parsed = serde_urlencoded::to_string(&pairs)
        .ok()
        .and_then(|q| serde_urlencoded::from_str::<Params>(&q).ok());
    let (params, error) = match parsed.map(|p| (p.filter(&state.audit), p)) {
        Some((Ok(f), p)) => ((p, Some(f)), None),
        Some((Err(why), p)) => ((p, None), Some(why)),
        None => (
            (Params::default(), None),
            Some("Filters are type, actor, tenant, result, risk, from and to."),
        ),
    };
    let (p, filter) = params;
    let (events, next) = match &filter {
        Some(f) => match page_of(&state, &p, f).await {
            Ok(x) => x,
            Err(e) => return ctx.unavailable(e),
        },
        None => (Vec::new(), None),
    };
    let checkpoint = match state.store.audit_checkpoints().await {
        Ok(list) => list.last().map(|c| {
            context! { seq => c.seq, when => super::when(c.ts_ms), kid => &c.kid }
        }),
        Err(e) => return ctx.unavailable(e),
    };
    let rows: Vec<Value> = events
        .iter()
        .map(|r| {
            context! {
                seq => r.seq,
                when => super::when(r.ts_ms),
                event_type => &r.event_type,
                risk => r.risk.as_str(),
                actor => &r.actor,
                resource => match (&r.resource_type, &r.resource_id) {
                    (Some(t), Some(id)) => format!("{t}:{id}"),
                    (_, Some(id)) => id.clone(),
                    _ => String::new(),
                },
                tenant => &r.tenant,
                result => r.result.as_str(),
                json => serde_json::to_string_pretty(r).unwrap_or_default(),
            }
        })
        .collect();
    let value = |k: &str| {
        filters
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let next_href = next.map(|after| {
        let sep = if filter_query.is_empty() { "" } else { "&" };
        format!("{}/audit?{filter_query}{sep}after={after}", viewer.base)
    });
    let mut res = console_page(
        &viewer,
        "/audit",
        "Audit",
        "console/audit.html",
        context! {
            f => context! {
                event_type => value("type"), actor => value("actor"), tenant => value("tenant"),
                result => value("result"), risk => value("risk"), from => value("from"), to => value("to"),
            },
            error => error,
            rows => rows,
            next_href => next_href,
            first_href => format!("{}/audit?{filter_query}", viewer.base),
            paged => p.after.is_some(),
            export_jsonl => format!("{}/audit/export?{filter_query}", viewer.api),
            export_csv => format!("{}/audit/export?{filter_query}{}format=csv", viewer.api, if filter_query.is_empty() { "" } else { "&" }),
            checkpoint => checkpoint,
        },
    );
    if error.is_some() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

/// `GET /admin/console/audit/verify`: the whole chain walked against the signed checkpoints.
#[utoipa::path(
    get, path = "/admin/console/audit/verify", tag = "console",
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.audit.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn verify_page(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    uri: Uri,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::AUDIT_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let outcome = match crate::audit::trail::verify_trail(state.store.as_ref(), None, None).await {
        Ok(Ok(v)) => context! {
            ok => true, count => v.count, first => v.first_seq, last => v.last_seq,
            checkpoints => v.checkpoints,
        },
        Ok(Err(b)) => context! { ok => false, seq => b.seq, reason => b.reason },
        Err(e) => return ctx.unavailable(e).into_response(),
    };
    console_page(
        &viewer,
        "/audit",
        "Audit chain verification",
        "console/audit_verify.html",
        context! { outcome => outcome },
    )
}
