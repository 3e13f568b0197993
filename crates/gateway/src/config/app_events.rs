//! `[[audit.app_events]]`: the event types an application may post to the trail
//! (`POST /admin/audit/events`), each with its risk and retention class.
//!
//! Guarantees (checked by [`problems`], which `config check` and start-up both run): every
//! type starts with `app.` and is `app.` plus dot-separated segments of `a-z 0-9 _`, declared
//! once; its risk is one of the trail's; its retention class is one of `[retention.audit]` (or the old `[audit.retention_days]`)
//! (the four built-in classes or one declared there). An app type can never be one of
//! Palisade's own (those never start with `app.`).

use palisade_core::audit::Risk;
use serde::{Deserialize, Serialize};

/// One declared application event type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppEventType {
    /// `app.…`, as the application posts it.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The risk its events are recorded with: `low`, `medium`, `high` or `critical`.
    pub risk: String,
    /// Its retention class, a key of `[retention.audit]` (default `tool_execution`).
    #[serde(default = "tool_execution")]
    pub retention: String,
}

fn tool_execution() -> String {
    "tool_execution".into()
}

/// Longest app event type name.
pub const MAX_TYPE_LEN: usize = 128;

impl AppEventType {
    /// The risk as the trail spells it; `None` when it is not one.
    pub fn risk(&self) -> Option<Risk> {
        Risk::parse(&self.risk)
    }
}

/// Whether `t` is a well-formed app event type name.
pub fn valid_type(t: &str) -> bool {
    t.len() <= MAX_TYPE_LEN
        && t.strip_prefix("app.").is_some_and(|rest| {
            rest.split('.').all(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
        })
}

/// Problems with the declared types, each naming its key; `classes` are the retention classes
/// `[retention.audit]` knows.
pub fn problems(types: &[AppEventType], classes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for t in types {
        let at = format!("audit.app_events {:?}", t.event_type);
        if !valid_type(&t.event_type) {
            out.push(format!(
                "{at}: a type is app. followed by dot-separated segments of a-z, 0-9 and _ \
                 (at most {MAX_TYPE_LEN} characters)"
            ));
        }
        if !seen.insert(t.event_type.as_str()) {
            out.push(format!("{at}: declared twice"));
        }
        if t.risk().is_none() {
            out.push(format!(
                "{at}: risk {:?} is not low, medium, high or critical",
                t.risk
            ));
        }
        if !classes.contains(&t.retention.as_str()) {
            out.push(format!(
                "{at}: retention {:?} is not a class of [retention.audit] ({})",
                t.retention,
                classes.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_app_dotted_names() {
        assert!(valid_type("app.tool.executed"));
        assert!(valid_type("app.x"));
        for bad in [
            "app.",
            "app..x",
            "tool.executed",
            "app.Tool",
            "app.a-b",
            "auth.login_success",
        ] {
            assert!(!valid_type(bad), "{bad}");
        }
    }
}
