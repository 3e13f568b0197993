//! `POST /admin/policy/command`: how a command policy decides a command, without running it — a
//! policy of `[tools.commands.<name>]` by name, or a rule set sent inline. The decision is the
//! one the `query_tools` gate makes on a tool route (`protect::tools::compile_commands`, then
//! the core's `CommandPolicy::decide`). Needs `admin.policy.read` (as `/admin/policy/explain`);
//! each answer is one `policy.command_checked` event (the decision and reason, never the
//! command).

use super::perm;
use crate::api::extract::{Caller, Ctx, require};
use crate::api::json::StrictJson;
use crate::api::openapi::schemas;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::config::tools::CommandPolicyConfig;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// `/admin/policy/command`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/admin/policy/command", post(check_command))
}

/// A command to decide on: `policy` names a configured policy, or `rules` gives one inline.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"policy": "git", "tool": "git", "command": "git log --oneline main", "shell": false}))]
struct CommandCheck {
    /// A policy of `[tools.commands]`.
    #[serde(default)]
    policy: Option<String>,
    /// A rule set, instead of `policy`.
    #[serde(default)]
    rules: Option<InlineRules>,
    /// The tool's name (default `command`), validated as a route validates it.
    #[serde(default)]
    tool: Option<String>,
    /// The tool runs through a shell, as a route's `tools.shell` says: joined with the
    /// policy's own `shell` (either one is enough to refuse shell metacharacters).
    #[serde(default)]
    shell: bool,
    /// The command line.
    command: String,
}

/// An inline rule set, as `[tools.commands.<name>]` writes one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InlineRules {
    /// Allow rules written as command lines (`git log --oneline *`).
    #[serde(default)]
    allow: Vec<String>,
    /// The tool runs through a shell (default `true`).
    #[serde(default)]
    shell: Option<bool>,
    /// Longest command line in bytes (default 4096).
    #[serde(default)]
    max_len: Option<usize>,
}

/// Decides a command against a command policy.
#[utoipa::path(
    post, path = "/admin/policy/command", tag = "admin", operation_id = "check_command",
    request_body = CommandCheck,
    responses(
        (status = 200, description = "The decision.", body = schemas::CommandDecision),
        (status = 400, description = "Neither or both of policy and rules, or an allow rule that is not a command line."),
        (status = 403, description = "`admin.policy.read` is not granted."),
        (status = 404, description = "No such command policy."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn check_command(
    State(state): S,
    ctx: Ctx,
    caller: Caller,
    StrictJson(body): StrictJson<CommandCheck>,
) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::POLICY_READ) {
        return r;
    }
    let (name, config) = match (&body.policy, body.rules) {
        (Some(name), None) => match state.config.tools.commands.get(name) {
            Some(config) => (name.clone(), config.clone()),
            None => {
                return ctx.problem(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "No command policy of this name ([tools.commands.<name>]).",
                );
            }
        },
        (None, Some(rules)) => {
            let defaults = CommandPolicyConfig::default();
            let config = CommandPolicyConfig {
                allow: rules.allow,
                shell: rules.shell.unwrap_or(defaults.shell),
                max_len: rules.max_len.unwrap_or(defaults.max_len),
            };
            ("inline".to_owned(), config)
        }
        _ => {
            return ctx.problem(
                StatusCode::BAD_REQUEST,
                "invalid-command-check",
                "Give policy (a configured command policy) or rules (an inline rule set), one of them.",
            );
        }
    };
    let problems = config.problems("rules");
    let mut named = match crate::protect::tools::compile_commands(&name, &config) {
        Ok(named) if problems.is_empty() => named,
        _ => {
            return crate::problem::refuse_with(
                "admin",
                "invalid-command-check",
                StatusCode::BAD_REQUEST,
                "The rule set has problems.",
                &ctx.id,
                serde_json::json!({ "problems": problems }),
            );
        }
    };
    named.policy.via_shell |= body.shell;
    let tool = body.tool.as_deref().unwrap_or("command");
    let decision = named.policy.decide(tool, &body.command);
    let rule = decision
        .outcome
        .ok()
        .and_then(|i| named.written.get(i).cloned());
    let verdict = if decision.allowed() { "allow" } else { "deny" };
    state.audit.record(
        ctx.audit(AuditEvent::new(
            "policy.command_checked",
            Risk::Low,
            Outcome::Success,
        ))
        .actor(caller.0.subject.clone())
        .resource(format!("command_policy:{name}"))
        .details(serde_json::json!({
            "decision": verdict, "reason": decision.reason(), "rule": rule, "tool": tool,
        })),
    );
    Json(serde_json::json!({
        "decision": verdict,
        "reason": decision.reason(),
        "rule": rule,
        "policy": name,
        "argv": decision.argv,
    }))
    .into_response()
}
