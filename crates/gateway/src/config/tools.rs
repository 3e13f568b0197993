//! Agent tools: `[tools.commands.<name>]`, the command policies tools that run commands are held
//! to, and a route's `tools = {…}`, which names the JSON body field carrying the tool (guarded by
//! the permission `tools.<name>.execute`) and, for a tool that runs commands, the command field
//! and its policy.
//!
//! Guarantees: unknown keys are refused when the file is read; [`problems`] (run by `config
//! check` and at start) refuses an allow rule that does not split as a command line, a policy
//! name that is not declared, a route policy without a command field, and a zero `max_len`.

use palisade_core::tools::command::AllowRule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[tools]`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Command policies by name, referred to by routes and `POST /admin/policy/command`.
    pub commands: BTreeMap<String, CommandPolicyConfig>,
}

/// `[tools.commands.<name>]`: default deny; a command runs only if an allow rule matches its
/// parsed argv, and some commands never run (`rm -rf /`, fork bombs, `sudo`, …).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CommandPolicyConfig {
    /// Allow rules written as command lines: `git log --oneline *` (`*` one operand, `prefix*`
    /// an argument starting with the prefix; arity exact).
    pub allow: Vec<String>,
    /// The tool hands the line to a shell: `$`, backtick, `;`, `|`, `&`, `<`, `>` and newlines
    /// are refused. Default `true` (fail closed).
    pub shell: bool,
    /// Longest command line in bytes (default 4096).
    pub max_len: usize,
}

impl Default for CommandPolicyConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            shell: true,
            max_len: 4096,
        }
    }
}

/// A route's `tools = { field = "tool", command_field = "command", policy = "git" }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RouteTools {
    /// The top-level JSON body field naming the tool (default `tool`).
    pub field: String,
    /// The tool runs through a shell: shell metacharacters in its command are refused, whatever
    /// the policy's `shell` says (either one saying so is enough).
    pub shell: bool,
    /// The top-level JSON body field holding the command line (default `command`); read only
    /// when `policy` is set.
    pub command_field: String,
    /// The command policy (`[tools.commands.<name>]`) the command is held to; unset: the route's
    /// tools run no commands Palisade checks.
    pub policy: Option<String>,
}

impl Default for RouteTools {
    fn default() -> Self {
        Self {
            field: "tool".into(),
            shell: false,
            command_field: "command".into(),
            policy: None,
        }
    }
}

impl CommandPolicyConfig {
    /// What is wrong with this policy (`at` names it in each message).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_len == 0 {
            out.push(format!("{at}.max_len: at least 1"));
        }
        for rule in &self.allow {
            if AllowRule::parse(rule).is_none() {
                out.push(format!(
                    "{at}.allow: {rule:?} is not a command line (empty, an unterminated quote, a trailing \\ or a # comment)"
                ));
            }
        }
        out
    }
}

/// What is wrong with `[tools]` and the routes' `tools = {…}`.
pub fn problems(tools: &ToolsConfig, routes: &[super::RouteConfig]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, policy) in &tools.commands {
        if !palisade_core::tools::valid_tool_name(name) {
            out.push(format!(
                "tools.commands.{name}: a policy name is 1-64 characters of a-z 0-9 _ -"
            ));
        }
        out.extend(policy.problems(&format!("tools.commands.{name}")));
    }
    for r in routes {
        let Some(t) = &r.tools else { continue };
        let at = format!("route {}: tools", r.display_name());
        if t.field.trim().is_empty() {
            out.push(format!("{at}.field: the JSON body field naming the tool"));
        }
        if let Some(policy) = &t.policy {
            if !tools.commands.contains_key(policy) {
                out.push(format!(
                    "{at}.policy: {policy:?} is not declared ([tools.commands.{policy}])"
                ));
            }
            if t.command_field.trim().is_empty() || t.command_field == t.field {
                out.push(format!(
                    "{at}.command_field: a JSON body field other than the tool's"
                ));
            }
        }
    }
    out
}
