//! Agent tools' use case: a route's compiled [`ToolPolicy`] (from `tools = {…}` and the command
//! policy it names), reading the tool and its command out of a body ([`ToolPolicy::read`]), and
//! [`compile_commands`], the one way a `[tools.commands.<name>]` (or a rule set sent to
//! `POST /admin/policy/command`) becomes the core's `CommandPolicy`, so the route gate and the
//! admin endpoint decide with the same function (`CommandPolicy::decide`).
//!
//! Guarantees: a tool name is valid (`palisade_core::tools::valid_tool_name`) before its
//! permission is built; a command is checked default deny; the tool and command fields are read
//! only when unambiguous (`body_fields`).

use super::body_fields::{self, Field};
use crate::config::tools::{CommandPolicyConfig, RouteTools};
use palisade_core::tools::command::{AllowRule, CommandPolicy};

/// A command policy with the rules as written (to name the rule that allowed a command).
#[derive(Debug, Clone)]
pub struct NamedCommands {
    /// The policy's name (`inline` for a rule set sent to the admin endpoint).
    pub name: String,
    /// The rules as written, by index.
    pub written: Vec<String>,
    /// The core's policy.
    pub policy: CommandPolicy,
}

/// A command policy from its configuration; an allow rule that does not split is an error
/// naming it.
pub fn compile_commands(name: &str, config: &CommandPolicyConfig) -> Result<NamedCommands, String> {
    let rules = config
        .allow
        .iter()
        .map(|r| {
            AllowRule::parse(r).ok_or_else(|| format!("allow rule {r:?} is not a command line"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NamedCommands {
        name: name.to_owned(),
        written: config.allow.clone(),
        policy: CommandPolicy {
            rules,
            via_shell: config.shell,
            max_len: config.max_len,
        },
    })
}

/// A route's tools, compiled at start.
#[derive(Debug)]
pub struct ToolPolicy {
    /// The body field naming the tool.
    pub field: String,
    /// The body field holding the command.
    pub command_field: String,
    /// The command policy, when the route names one (its `shell` already joined with the
    /// route's).
    pub commands: Option<NamedCommands>,
}

/// What a tool request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The tool's name as sent (not yet validated).
    pub tool: String,
    /// The command line, when the route checks commands.
    pub command: Option<String>,
}

/// Why a tool request cannot be read: the reason code of the 400 `tool-invalid`.
pub type Unreadable = &'static str;

impl ToolPolicy {
    /// The policy of a route's `tools = {…}` over `[tools]`.
    pub fn new(rt: &RouteTools, tools: &crate::config::tools::ToolsConfig) -> Result<Self, String> {
        let commands = match &rt.policy {
            None => None,
            Some(name) => {
                let config = tools
                    .commands
                    .get(name)
                    .ok_or_else(|| format!("command policy {name:?} is not declared"))?;
                let mut named = compile_commands(name, config)?;
                named.policy.via_shell |= rt.shell;
                Some(named)
            }
        };
        Ok(Self {
            field: rt.field.clone(),
            command_field: rt.command_field.clone(),
            commands,
        })
    }

    /// The tool (and command) a JSON body names.
    pub fn read(&self, body: &[u8]) -> Result<ToolCall, Unreadable> {
        let mut names = vec![self.field.as_str()];
        if self.commands.is_some() {
            names.push(self.command_field.as_str());
        }
        let mut found = body_fields::json_fields(body, &names)
            .map_err(|_| "not-json")?
            .into_iter();
        let tool = match found.next() {
            Some(Field::Text(t)) => t,
            Some(Field::Ambiguous) => return Err("ambiguous-tool"),
            Some(Field::NotText) => return Err("tool-not-text"),
            _ => return Err("missing-tool"),
        };
        let command = match found.next() {
            None => None,
            Some(Field::Text(c)) => Some(c),
            Some(Field::Ambiguous) => return Err("ambiguous-command"),
            Some(Field::NotText) => return Err("command-not-text"),
            Some(Field::Missing) => return Err("missing-command"),
        };
        Ok(ToolCall { tool, command })
    }
}
