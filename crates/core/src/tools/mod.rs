//! Agent tools: which tool a request names, the permission that guards it, and whether a
//! command a tool would run is allowed.
//!
//! - [`tool_permission`] validates a tool name (1–64 characters of `a-z0-9_-`) and maps it to
//!   the permission `tools.<name>.execute`, checked like any route permission or key scope.
//! - [`command::CommandPolicy`] decides on a command line: default deny, a command runs only if
//!   an allow rule matches its parsed argv ([`argv::split`], shell-words semantics); some
//!   commands are refused whatever the rules say (see `command`).
//! - Every decision is a [`ToolDecision`] that the gateway audits as `tool.allowed` or
//!   `tool.denied` with its reason. Nothing here runs a command.

pub mod argv;
pub mod command;
#[cfg(test)]
mod tests;

/// Longest tool name.
pub const MAX_TOOL_NAME: usize = 64;

/// The permission guarding a tool, `tools.<name>.execute`, or `None` for an invalid name.
pub fn tool_permission(name: &str) -> Option<String> {
    valid_tool_name(name).then(|| format!("tools.{name}.execute"))
}

/// 1–64 characters of `a-z`, `0-9`, `_` and `-`.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Why a tool call or its command is refused; [`DenyReason::as_str`] is the audit `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// The tool name breaks [`valid_tool_name`].
    InvalidToolName,
    /// Empty command line, or only whitespace.
    EmptyCommand,
    /// Over the policy's length limit.
    TooLong,
    /// A shell metacharacter in a command for a tool that runs through a shell (or a NUL).
    ShellMetacharacter,
    /// Unterminated quote, trailing escape, or an unquoted `#` starting a word.
    Unparsable,
    /// A shell function definition (`:(){ :|:& };:` and its variants).
    ForkBomb,
    /// `rm` of `/` recursively, or with `--no-preserve-root`.
    RmRoot,
    /// `dd` writing to a device (`of=/dev/…`).
    DdDevice,
    /// `mkfs*`, `mke2fs`, `mkswap`, `wipefs`.
    Mkfs,
    /// `sudo`, `su`, `doas`, `pkexec`.
    PrivilegeEscalation,
    /// `chmod 777`, `a+rwx` and the like.
    ChmodWorldWritable,
    /// No allow rule matches (default deny).
    NoMatchingRule,
}

impl DenyReason {
    /// The stable reason code for the `tool.denied` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToolName => "invalid-tool-name",
            Self::EmptyCommand => "empty-command",
            Self::TooLong => "too-long",
            Self::ShellMetacharacter => "shell-metacharacter",
            Self::Unparsable => "unparsable",
            Self::ForkBomb => "fork-bomb",
            Self::RmRoot => "rm-root",
            Self::DdDevice => "dd-device",
            Self::Mkfs => "mkfs",
            Self::PrivilegeEscalation => "privilege-escalation",
            Self::ChmodWorldWritable => "chmod-world-writable",
            Self::NoMatchingRule => "no-matching-rule",
        }
    }
}

/// A decision on one command for one tool, as the gateway audits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolDecision {
    /// The tool's name as requested.
    pub tool: String,
    /// The parsed argv (empty when refused before parsing).
    pub argv: Vec<String>,
    /// `Ok(index of the matching allow rule)` or the refusal.
    pub outcome: Result<usize, DenyReason>,
}

impl ToolDecision {
    /// Whether the command may run.
    pub fn allowed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The audit event type: `tool.allowed` or `tool.denied`.
    pub fn event_type(&self) -> &'static str {
        if self.allowed() {
            "tool.allowed"
        } else {
            "tool.denied"
        }
    }

    /// The reason recorded with the event (`allow-rule` when allowed).
    pub fn reason(&self) -> &'static str {
        match self.outcome {
            Ok(_) => "allow-rule",
            Err(reason) => reason.as_str(),
        }
    }
}
