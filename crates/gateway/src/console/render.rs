//! Rendering a console page: the console's templates (embedded, auto-escaped, through
//! [`crate::pages::render`]) with what every page shares — the navigation, the viewer, the
//! session's CSRF token and the admin API's base for the script — answered as a hosted page
//! (page CSP, `no-store`). Also the console's refusals as pages: 403 for a missing permission,
//! the address refusal (on record), 503 when hot state cannot answer.

use super::access::Viewer;
use crate::api::extract::Ctx;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::pages::{page, render::render};
use crate::state::AppState;
use axum::response::Response;
use http::StatusCode;
use minijinja::Value;

/// The console's pages, in navigation order: (path below the console, label).
pub(crate) const NAV: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/audit", "Audit"),
    ("/users", "Users"),
    ("/tenants", "Tenants"),
    ("/roles", "Roles and policy"),
    ("/service-accounts", "Service accounts"),
    ("/ip-blocks", "IP blocks"),
    ("/incidents", "Incidents"),
    ("/lockdown", "Lockdown"),
    ("/secrets", "Secrets"),
    ("/config", "Configuration"),
];

/// Renders console template `name` for `viewer` on the page at `current` (a [`NAV`] path) with
/// the page's own values `data`.
pub(crate) fn console_page(
    viewer: &Viewer,
    current: &str,
    title: &str,
    name: &str,
    data: Value,
) -> Response {
    let nav: Vec<Value> = NAV
        .iter()
        .map(|(path, label)| {
            minijinja::context! {
                href => format!("{}{}", viewer.base, path),
                label => *label,
                current => *path == current,
            }
        })
        .collect();
    let ctx = minijinja::context! {
        base => &viewer.base,
        api => &viewer.api,
        csrf_token => &viewer.csrf_token,
        subject => &viewer.caller.0.subject,
        nav => nav,
        title => title,
        ..data
    };
    page(StatusCode::OK, render(name, ctx))
}

/// The page for a viewer without `permission` (the denial is already on record).
pub(crate) fn forbidden_page(state: &AppState, mount: &str, permission: &str) -> Response {
    let _ = state;
    message(
        StatusCode::FORBIDDEN,
        mount,
        "Not allowed",
        &format!("Your roles do not grant {permission}, which this page needs."),
    )
}

/// A console request refused before any session is read (the address): on record as
/// `auth.page_refused` with `reason`, answered as a page.
pub(crate) fn refused_page(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    reason: &'static str,
    detail: &'static str,
) -> Response {
    state.identity.audit.record_refusal(
        ctx.audit(
            AuditEvent::new("auth.page_refused", Risk::Medium, Outcome::Denied)
                .details(serde_json::json!({ "reason": reason })),
        ),
    );
    message(status, state.routes.mount(), "Not available", detail)
}

/// 503 when the console cannot check the session's activity.
pub(crate) fn unavailable_page() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "",
        "Unavailable",
        "The console cannot check this session right now; try again shortly.",
    )
}

fn message(status: StatusCode, mount: &str, title: &str, text: &str) -> Response {
    page(
        status,
        render(
            "console/message.html",
            minijinja::context! { base => format!("{mount}/admin/console"), title => title, text => text },
        ),
    )
}

/// A JSON value as a template value (the API's JSON shapes, shown as they are).
pub(crate) fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::from)
            .unwrap_or_else(|| Value::from(n.as_f64().unwrap_or_default())),
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(items.iter().map(json_value).collect::<Vec<_>>()),
        J::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect::<std::collections::BTreeMap<String, Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::render::try_render;
    use minijinja::context;

    fn shared() -> Value {
        context! {
            base => "/admin/console", api => "/admin", csrf_token => "t", subject => "s",
            nav => Vec::<Value>::new(), title => "T",
            prev_href => None::<String>, next_href => None::<String>,
        }
    }

    #[test]
    fn the_roles_page_renders_roles_and_an_explanation() {
        let roles =
            json_value(&serde_json::json!([{"name": "admin", "grants": ["*"], "admin": true}]));
        let explanation = json_value(
            &serde_json::json!({"decision": "allow", "rule": "r", "reason": "x", "tenant": null}),
        );
        let html = try_render(
            "console/roles.html",
            context! {
                roles => roles, may_explain => true,
                form => context! { who => "a@example.com", method => "GET", path => "/x" },
                explanation => explanation, error => None::<&str>, ..shared()
            },
        )
        .unwrap();
        assert!(html.contains("<dd id=\"decision\">allow</dd>"), "{html}");
        assert!(html.contains("<td>admin</td><td>*</td>"), "{html}");
        let denied = json_value(
            &serde_json::json!({"decision": "deny", "rule": null, "reason": "no route", "privilege_escalation": false}),
        );
        let html = try_render(
            "console/roles.html",
            context! {
                roles => Vec::<Value>::new(), may_explain => true,
                form => context! { who => "a@example.com", method => "GET", path => "/x" },
                explanation => denied, error => None::<&str>, ..shared()
            },
        )
        .unwrap();
        assert!(html.contains("<dd id=\"decision\">deny</dd>"), "{html}");
    }
}
