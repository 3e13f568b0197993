//! The `query_tools` gate, after `authorize` (it needs the principal and the authorized tenant)
//! and `inspect`: on a route with `query = {…}`, the query firewall; on a route with
//! `tools = {…}`, the agent-tool permission matrix and command policy.
//!
//! - Query firewall (`protect::query`): the query is read from its JSON body field or query
//!   parameter, each statement classified (`palisade_core::query`) and held to the highest
//!   class the caller's roles permit on the route. Refusals: 403 `query-refused` (the class or
//!   reason named, never the query), 400 `query-invalid` (missing, ambiguous, not text,
//!   unparsable), 413 `query-too-large`; each a `query.refused` event. An allowed query passes
//!   untouched.
//! - Agent tools (`protect::tools`): the body's tool field names a tool; an invalid name is 400
//!   `tool-invalid`; the permission `tools.<name>.execute` is checked as route permissions are
//!   (the caller's roles, in the authorized tenant if any, bounded by a key's scopes); without
//!   it, 403 `tool-denied`. Where the route names a command policy, the command field is held to
//!   it (default deny), 403 `tool-denied` with the reason. Every decision is on record:
//!   `tool.allowed` (durable) or `tool.denied` (a refusal, sampled).
//!
//! Routes with neither cost one branch; the body is read (within the route's body limit, as the
//! inspect gate reads it) only when a field must be read from it, and put back whole.

use super::body::{Read, body_declared, read_bounded};
use super::check::{Check, CheckLayer};
use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::authz::Authorizer;
use crate::problem::{refuse, refuse_with};
use crate::protect::query::{QueryPolicy, Unreadable};
use crate::protect::tools::ToolPolicy;
use crate::request::{AuthorizedTenant, Req, RequestMeta, Res};
use crate::route::table::Route;
use axum::body::Body;
use bytes::Bytes;
use http::StatusCode;
use palisade_core::principal::Principal;
use palisade_core::query::QueryRefusal;
use std::sync::Arc;

/// The label of the query firewall's refusals.
pub const QUERY_GATE: &str = "query";
/// The label of the agent tools' refusals.
pub const TOOLS_GATE: &str = "tools";

/// The gate's check.
pub struct QueryTools {
    audit: Arc<AuditLog>,
    authz: Arc<Authorizer>,
}

/// The gate as a tower layer.
pub type QueryToolsLayer = CheckLayer<QueryTools>;

/// The gate, deciding with `authz` and recording to `audit`.
pub fn layer(audit: Arc<AuditLog>, authz: Arc<Authorizer>) -> QueryToolsLayer {
    CheckLayer::new(QueryTools { audit, authz })
}

/// What the checks need of the request besides its body.
struct Caller<'a> {
    principal: Option<&'a Principal>,
    tenant: Option<&'a str>,
    origin: RequestOrigin,
    request_id: &'a str,
    route: &'a Route,
}

impl Check for QueryTools {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        // Routes without a query firewall or tools cost one branch (no Arc clone).
        let Some(route) = req
            .extensions()
            .get::<RequestMeta>()
            .and_then(|m| m.route.as_ref())
            .filter(|r| r.query.is_some() || r.tools.is_some())
            .cloned()
        else {
            return Ok(());
        };
        let needs_body =
            route.tools.is_some() || route.query.as_ref().is_some_and(|q| q.reads_body());
        let mut body = Bytes::new();
        if needs_body {
            let (declared, _) = body_declared(req);
            let read = if declared.is_some_and(|n| n > route.max_body) {
                Read::Failed
            } else {
                read_bounded(std::mem::take(req.body_mut()), route.max_body).await
            };
            match read {
                Read::Whole(b) => {
                    *req.body_mut() = Body::from(b.clone());
                    body = b;
                }
                Read::Over(..) | Read::Failed => return Err(self.too_large(req, &route)),
            }
        }
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let tenant = req
            .extensions()
            .get::<AuthorizedTenant>()
            .map(|t| t.0.clone());
        let request_id = req
            .extensions()
            .get::<RequestMeta>()
            .map(|m| m.request_id_str().to_owned())
            .unwrap_or_default();
        let caller = Caller {
            principal: principal.as_deref(),
            tenant: tenant.as_deref(),
            origin: RequestOrigin::of(req),
            request_id: &request_id,
            route: &route,
        };
        if let Some(q) = &route.query {
            self.query(&caller, q, req.uri().query(), &body)?;
        }
        if let Some(t) = &route.tools {
            self.tools(&caller, t, &body)?;
        }
        Ok(())
    }
}

impl QueryTools {
    /// A body over the route's limit: the query's 413, or the tool's.
    fn too_large(&self, req: &Req, route: &Route) -> Res {
        let request_id = req
            .extensions()
            .get::<RequestMeta>()
            .map(|m| m.request_id_str().to_owned())
            .unwrap_or_default();
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let origin = RequestOrigin::of(req);
        let (event, gate, slug) = if route.query.is_some() {
            ("query.refused", QUERY_GATE, "query-too-large")
        } else {
            ("tool.denied", TOOLS_GATE, "tool-too-large")
        };
        self.refusal(
            event,
            principal.as_deref(),
            &origin,
            route,
            serde_json::json!({ "reason": "body-too-large" }),
        );
        refuse(
            gate,
            slug,
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is larger than this route accepts.",
            &request_id,
        )
    }

    fn refusal(
        &self,
        event_type: &'static str,
        principal: Option<&Principal>,
        origin: &RequestOrigin,
        route: &Route,
        details: serde_json::Value,
    ) {
        let mut event = AuditEvent::new(event_type, Risk::Medium, Outcome::Denied)
            .origin(origin)
            .resource(format!("route:{}", route.name))
            .details(details);
        if let Some(p) = principal {
            event = event.actor(p.subject.clone());
        }
        self.audit.record_refusal(event);
    }

    #[allow(clippy::result_large_err)]
    fn query(
        &self,
        c: &Caller<'_>,
        policy: &QueryPolicy,
        uri_query: Option<&str>,
        body: &[u8],
    ) -> Result<(), Res> {
        let refuse_query = |status: StatusCode,
                            slug: &'static str,
                            detail: &str,
                            problem: serde_json::Value,
                            details: serde_json::Value| {
            self.refusal("query.refused", c.principal, &c.origin, c.route, details);
            refuse_with(QUERY_GATE, slug, status, detail, c.request_id, problem)
        };
        let text = match policy.extract(uri_query, body) {
            Ok(text) => text,
            Err(Unreadable::TooLarge) => {
                return Err(refuse_query(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "query-too-large",
                    "The query is larger than this route accepts.",
                    serde_json::json!({ "reason": "too-large" }),
                    serde_json::json!({ "reason": "too-large" }),
                ));
            }
            Err(why) => {
                return Err(refuse_query(
                    StatusCode::BAD_REQUEST,
                    "query-invalid",
                    match why {
                        Unreadable::Missing => {
                            "The request carries no query where this route reads it."
                        }
                        Unreadable::Ambiguous => {
                            "The query's field or parameter is given more than once, or beside a name that differs only in case."
                        }
                        Unreadable::NotJson => "The request body is not a JSON object.",
                        _ => "The query is not text.",
                    },
                    serde_json::json!({ "reason": why.reason() }),
                    serde_json::json!({ "reason": why.reason() }),
                ));
            }
        };
        let ceiling = c
            .principal
            .and_then(|p| policy.ceiling(|role| self.authz.holds_role(p, c.tenant, role)));
        let Some(max) = ceiling else {
            return Err(refuse_query(
                StatusCode::FORBIDDEN,
                "query-refused",
                "None of your roles may run queries on this route.",
                serde_json::json!({ "reason": "no-permitted-role" }),
                serde_json::json!({ "reason": "no-permitted-role" }),
            ));
        };
        let refusal = match policy.decide(&text, max) {
            Ok(_) => return Ok(()),
            Err(refusal) => refusal,
        };
        let reason = refusal.reason();
        let (class, name) = match &refusal {
            QueryRefusal::NotPermitted { class, .. } => (Some(class.as_str()), None),
            QueryRefusal::UnknownFunction(n) | QueryRefusal::UnknownProcedure(n) => {
                (None, Some(clip(n, 64)))
            }
            _ => (None, None),
        };
        let problem = serde_json::json!({ "reason": reason, "class": class, "max": max.as_str() });
        let details = serde_json::json!({
            "reason": reason, "class": class, "max": max.as_str(), "name": name,
            "dialect": format!("{:?}", policy.dialect).to_ascii_lowercase(),
        });
        let (status, slug, detail) = match refusal {
            QueryRefusal::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "query-too-large",
                "The query is larger than this route accepts.".to_owned(),
            ),
            QueryRefusal::Empty
            | QueryRefusal::NotUtf8
            | QueryRefusal::Unparsable
            | QueryRefusal::TooComplex => (
                StatusCode::BAD_REQUEST,
                "query-invalid",
                format!("The query cannot be classified ({reason}), so it is refused."),
            ),
            QueryRefusal::NotPermitted { class, max } => (
                StatusCode::FORBIDDEN,
                "query-refused",
                format!(
                    "The query holds a {} statement; your roles permit at most {} here.",
                    class.as_str(),
                    max.as_str()
                ),
            ),
            _ => (
                StatusCode::FORBIDDEN,
                "query-refused",
                format!("The query was refused ({reason})."),
            ),
        };
        Err(refuse_query(status, slug, &detail, problem, details))
    }

    #[allow(clippy::result_large_err)]
    fn tools(&self, c: &Caller<'_>, policy: &ToolPolicy, body: &[u8]) -> Result<(), Res> {
        let denied = |status: StatusCode,
                      slug: &'static str,
                      detail: String,
                      reason: &'static str,
                      details: serde_json::Value| {
            self.refusal("tool.denied", c.principal, &c.origin, c.route, details);
            refuse_with(
                TOOLS_GATE,
                slug,
                status,
                detail,
                c.request_id,
                serde_json::json!({ "reason": reason }),
            )
        };
        let call = match policy.read(body) {
            Ok(call) => call,
            Err(reason) => {
                return Err(denied(
                    StatusCode::BAD_REQUEST,
                    "tool-invalid",
                    format!(
                        "The request does not name a tool and its command as this route reads them ({reason})."
                    ),
                    reason,
                    serde_json::json!({ "reason": reason }),
                ));
            }
        };
        let Some(permission) = palisade_core::tools::tool_permission(&call.tool) else {
            return Err(denied(
                StatusCode::BAD_REQUEST,
                "tool-invalid",
                "A tool name is 1 to 64 characters of a-z, 0-9, _ and -.".into(),
                "invalid-tool-name",
                serde_json::json!({ "reason": "invalid-tool-name" }),
            ));
        };
        let permitted = c
            .principal
            .is_some_and(|p| self.authz.permits_in(p, c.tenant, &permission));
        if !permitted {
            return Err(denied(
                StatusCode::FORBIDDEN,
                "tool-denied",
                format!("You may not run the tool {}.", call.tool),
                "permission-not-granted",
                serde_json::json!({
                    "reason": "permission-not-granted", "tool": call.tool, "permission": permission,
                }),
            ));
        }
        let mut details = serde_json::json!({ "tool": call.tool, "permission": permission });
        if let (Some(commands), Some(line)) = (&policy.commands, &call.command) {
            let decision = commands.policy.decide(&call.tool, line);
            details["policy"] = commands.name.clone().into();
            details["program"] = decision.argv.first().map(|p| clip(p, 64)).into();
            details["reason"] = decision.reason().into();
            match decision.outcome {
                Ok(rule) => details["rule"] = commands.written.get(rule).cloned().into(),
                Err(why) => {
                    return Err(denied(
                        StatusCode::FORBIDDEN,
                        "tool-denied",
                        format!(
                            "The command is not allowed for the tool {} ({}).",
                            call.tool,
                            why.as_str()
                        ),
                        why.as_str(),
                        details,
                    ));
                }
            }
        } else {
            details["reason"] = "permission".into();
        }
        let mut event = AuditEvent::new("tool.allowed", Risk::Low, Outcome::Success)
            .origin(&c.origin)
            .resource(format!("tool:{}", call.tool))
            .details(details);
        if let Some(p) = c.principal {
            event = event.actor(p.subject.clone());
        }
        self.audit.record(event);
        Ok(())
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
