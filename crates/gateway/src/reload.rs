//! Configuration reload (SIGHUP, `POST /admin/config/reload`): the file is read again and, if it
//! has no problems, its roles and route policies are swapped in atomically. A bad file changes
//! nothing (the problems are answered and recorded as `config.reload_failed`); other settings
//! (listeners, upstreams, limits, the routes' keys) take effect at the next start.

use crate::audit::{AuditEvent, Outcome, Risk};
use crate::config::{Config, checks};
use crate::route::table::RouteTable;
use crate::state::AppState;

/// Re-reads the configuration and swaps in its roles and route policies. A configuration with
/// problems changes nothing and the problems are returned. Other settings (listeners, upstreams,
/// limits) take effect at the next start.
pub fn reload(state: &AppState) -> Result<(), Vec<String>> {
    let source = state
        .config_source
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let outcome = Config::load(&source)
        .map_err(|e| vec![e.to_string()])
        .and_then(|(mut fresh, _)| {
            // The built-in demo route is added at start, not written in the file.
            fresh.routes.extend(
                state
                    .config
                    .routes
                    .iter()
                    .filter(|r| r.name.as_deref() == Some("demo"))
                    .cloned(),
            );
            let mut problems = checks::problems(&fresh, state.config.server.env);
            match RouteTable::from_config(&fresh) {
                Ok(table) if table.keys() != state.routes.keys() => problems.push(
                    "the routes' prefixes, hosts, methods or order changed: restart to apply them"
                        .into(),
                ),
                Ok(_) => {}
                Err(e) => problems.push(e),
            }
            // A route's compiled query firewall and tools, and the command policies, are held
            // by the route table: a change would be silently ignored, so it is refused.
            if fresh.tools != state.config.tools
                || fresh
                    .routes
                    .iter()
                    .zip(&state.config.routes)
                    .any(|(a, b)| a.query != b.query || a.tools != b.tools)
            {
                problems.push(
                    "the routes' query or tools options, or [tools], changed: restart to apply them"
                        .into(),
                );
            }
            if problems.is_empty() {
                crate::authz::compile(&fresh)
            } else {
                Err(problems)
            }
        });
    let (event, risk, result) = match outcome {
        Ok(policies) => {
            state.authz.replace(policies);
            ("config.reloaded", Risk::Medium, Ok(()))
        }
        Err(problems) => ("config.reload_failed", Risk::Medium, Err(problems)),
    };
    let details = match &result {
        Ok(()) => serde_json::json!({"applied": "roles and route policies"}),
        Err(p) => serde_json::json!({"problems": p}),
    };
    state.audit.record(
        AuditEvent::new(
            event,
            risk,
            if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        )
        .details(details),
    );
    result
}
