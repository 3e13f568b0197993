//! The command policy for tools that run commands: default deny, allow rules over the parsed
//! argv, and a fixed set of commands refused whatever the rules say.
//!
//! # Order of checks
//!
//! 1. The tool name ([`super::valid_tool_name`]), an empty line, the length limit, a NUL.
//! 2. For a tool that runs through a shell: any of `$`, `` ` ``, `;`, `|`, `&`, `<`, `>`, a
//!    newline or a carriage return anywhere in the line, before parsing.
//! 3. A shell function definition anywhere in the line (`(){`, `() {`): every shell fork bomb
//!    (`:(){ :|:& };:`, `bomb(){ bomb|bomb& };bomb`) is one; and Perl's `fork while fork`.
//! 4. Splitting ([`super::argv::split`]).
//! 5. Always refused, on the argv and again after each leading wrapper (`env`, `nice`,
//!    `nohup`, `timeout`, `xargs`, `command`, `exec`, `time`, `stdbuf`, `ionice`, `setsid`,
//!    `busybox`) with its options is dropped: `rm` recursive on `/`, `/*`, `/.`, `~` or with
//!    `--no-preserve-root`; `dd` with `of=/dev/…`; `mkfs*`, `mke2fs`, `mkswap`, `wipefs`;
//!    `sudo`, `su`, `doas`, `pkexec`; `chmod` to a world-writable `777`-style mode or
//!    `a+rwx`/`o+rwx`/`+rwx`. Programs are compared by their last path component; paths are
//!    resolved lexically (`/tmp/..`, `//dev/sda`). The script of a shell run with `-c`
//!    (`bash -c '…'`) is shell code: metacharacters in it are refused for every tool, and its
//!    words are checked again.
//! 6. The first allow rule whose program and argument patterns match the whole argv.
//!
//! # Rules
//!
//! A rule is written as a command line: `git log --oneline *`. The program matches argv\[0\]
//! exactly — a bare name only a bare name, a path only that path (`/usr/bin/git`). Each
//! further pattern matches one argument: exact text; `prefix*` (text ending in `*`): any
//! argument starting with the prefix; `*` alone: any single argument that is not an option
//! (does not start with `-`) — unless it follows a `--` in the argv, where every argument is an
//! operand. Arity is exact. There is no globbing.

use super::argv::split;
use super::{DenyReason, ToolDecision, valid_tool_name};

/// One argument pattern of an allow rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgPattern {
    /// This exact argument.
    Exact(String),
    /// Any argument starting with this prefix (written `prefix*`).
    Prefix(String),
    /// Any single operand (written `*`).
    Any,
}

/// An allow rule: a program and one pattern per argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    /// A bare program name or an absolute path, matched exactly against argv\[0\].
    pub program: String,
    /// One pattern per argument after the program.
    pub args: Vec<ArgPattern>,
}

impl AllowRule {
    /// Parses a rule written as a command line (`git log --oneline *`); `None` if it does not
    /// split or is empty.
    pub fn parse(rule: &str) -> Option<Self> {
        let mut words = split(rule).ok()?.into_iter();
        let program = words.next()?;
        let args = words
            .map(|w| {
                if w == "*" {
                    ArgPattern::Any
                } else if let Some(prefix) = w.strip_suffix('*') {
                    ArgPattern::Prefix(prefix.to_owned())
                } else {
                    ArgPattern::Exact(w)
                }
            })
            .collect();
        Some(Self { program, args })
    }

    /// Whether this rule admits `argv`.
    pub fn matches(&self, argv: &[String]) -> bool {
        let Some((program, args)) = argv.split_first() else {
            return false;
        };
        if *program != self.program || args.len() != self.args.len() {
            return false;
        }
        let mut operands_only = false;
        for (arg, pattern) in args.iter().zip(&self.args) {
            let ok = match pattern {
                ArgPattern::Exact(text) => arg == text,
                ArgPattern::Prefix(prefix) => arg.starts_with(prefix.as_str()),
                ArgPattern::Any => operands_only || !arg.starts_with('-'),
            };
            if !ok {
                return false;
            }
            if arg == "--" {
                operands_only = true;
            }
        }
        true
    }
}

/// The command policy of one tool.
#[derive(Clone, Debug)]
pub struct CommandPolicy {
    /// Allow rules, tried in order; none means nothing runs.
    pub rules: Vec<AllowRule>,
    /// The tool hands the line to a shell: shell metacharacters are refused.
    pub via_shell: bool,
    /// Longest command line in bytes (default 4096).
    pub max_len: usize,
}

impl Default for CommandPolicy {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            via_shell: true,
            max_len: 4096,
        }
    }
}

const SHELL_METACHARACTERS: &[char] = &['$', '`', ';', '|', '&', '<', '>', '\n', '\r'];
const WRAPPERS: &[&str] = &[
    "env", "nice", "nohup", "timeout", "xargs", "command", "exec", "time", "stdbuf", "ionice",
    "setsid", "busybox",
];

impl CommandPolicy {
    /// Decides whether `tool` may run `line`.
    pub fn decide(&self, tool: &str, line: &str) -> ToolDecision {
        let mut decision = ToolDecision {
            tool: tool.to_owned(),
            argv: Vec::new(),
            outcome: Err(DenyReason::NoMatchingRule),
        };
        decision.outcome = self.check(tool, line, &mut decision.argv);
        decision
    }

    fn check(
        &self,
        tool: &str,
        line: &str,
        argv_out: &mut Vec<String>,
    ) -> Result<usize, DenyReason> {
        if !valid_tool_name(tool) {
            return Err(DenyReason::InvalidToolName);
        }
        if line.trim().is_empty() {
            return Err(DenyReason::EmptyCommand);
        }
        if line.len() > self.max_len {
            return Err(DenyReason::TooLong);
        }
        if line.contains('\0') || (self.via_shell && line.contains(SHELL_METACHARACTERS)) {
            return Err(DenyReason::ShellMetacharacter);
        }
        if fork_bomb(line) {
            return Err(DenyReason::ForkBomb);
        }
        let argv = split(line).map_err(|_| DenyReason::Unparsable)?;
        if argv.is_empty() {
            return Err(DenyReason::EmptyCommand);
        }
        always_refused(&argv)?;
        *argv_out = argv;
        self.rules
            .iter()
            .position(|rule| rule.matches(argv_out))
            .ok_or(DenyReason::NoMatchingRule)
    }
}

fn base(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish",
];

/// Fork bombs: a shell function definition, or Perl's `fork while fork`.
fn fork_bomb(text: &str) -> bool {
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    squeezed.contains("(){") || squeezed.contains("forkwhilefork")
}

/// The always-refused families, on argv, on what each leading wrapper runs, and on the script
/// a shell runs with `-c` (shell code: metacharacters refused, then split and checked again).
fn always_refused(argv: &[String]) -> Result<(), DenyReason> {
    let mut rest = argv;
    while let Some((program, args)) = rest.split_first() {
        let name = base(program);
        refused_program(name, args)?;
        let script_flag = SHELLS
            .contains(&name)
            .then(|| {
                args.iter()
                    .position(|a| a.starts_with('-') && a.contains('c') && !a.starts_with("--"))
            })
            .flatten();
        if let Some(at) = script_flag {
            let script = args.get(at + 1).map(String::as_str).unwrap_or("");
            if fork_bomb(script) {
                return Err(DenyReason::ForkBomb);
            }
            if script.contains(SHELL_METACHARACTERS) {
                return Err(DenyReason::ShellMetacharacter);
            }
            let inner = split(script).map_err(|_| DenyReason::Unparsable)?;
            always_refused(&inner)?;
        }
        if !WRAPPERS.contains(&name) {
            return Ok(());
        }
        // Drop the wrapper's own options and settings (`-n 5`, `VAR=x`, `10s`).
        let skip = args
            .iter()
            .position(|a| {
                !(a.starts_with('-')
                    || a.contains('=')
                    || a.bytes()
                        .all(|b| b.is_ascii_digit() || b == b's' || b == b'.'))
            })
            .unwrap_or(args.len());
        rest = &args[skip..];
    }
    Ok(())
}

fn refused_program(name: &str, args: &[String]) -> Result<(), DenyReason> {
    match name {
        "sudo" | "su" | "doas" | "pkexec" => Err(DenyReason::PrivilegeEscalation),
        n if n.starts_with("mkfs") || matches!(n, "mke2fs" | "mkswap" | "wipefs") => {
            Err(DenyReason::Mkfs)
        }
        "dd" if args.iter().any(|a| {
            a.strip_prefix("of=")
                .is_some_and(|path| normalize(path).starts_with("/dev/"))
        }) =>
        {
            Err(DenyReason::DdDevice)
        }
        "rm" => {
            let mut recursive = false;
            let mut operands = false;
            let mut root = false;
            for arg in args {
                if !operands && arg == "--" {
                    operands = true;
                } else if !operands && arg == "--no-preserve-root" {
                    return Err(DenyReason::RmRoot);
                } else if !operands && arg == "--recursive" {
                    recursive = true;
                } else if !operands && arg.starts_with('-') && !arg.starts_with("--") {
                    recursive |= arg.contains('r') || arg.contains('R');
                } else if is_root(arg) {
                    root = true;
                }
            }
            if recursive && root {
                Err(DenyReason::RmRoot)
            } else {
                Ok(())
            }
        }
        "chmod" if args.iter().any(|a| world_writable(a)) => Err(DenyReason::ChmodWorldWritable),
        _ => Ok(()),
    }
}

/// `/`, `//`, `/.`, `/*`, `/./..`, `~`, `~/`: paths that name the root or a home as a whole.
fn is_root(path: &str) -> bool {
    if path == "~" || path == "~/" || path == "*" {
        return true;
    }
    path.starts_with('/') && matches!(normalize(path).as_str(), "/" | "/*")
}

/// An absolute path with `//`, `.` and `..` resolved lexically (`/tmp/../dev//sda` →
/// `/dev/sda`); a relative path is returned as it is.
fn normalize(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A mode that makes the file writable by others: numeric with the others' write bit (`777`,
/// `0777`, `666`), or symbolic `a+…w…`, `o+w`, `ugo=rwx`, `+rwx` (within a comma list too).
fn world_writable(mode: &str) -> bool {
    if !mode.is_empty() && mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return mode.as_bytes()[mode.len() - 1] & 2 != 0;
    }
    mode.split(',').any(|clause| {
        let Some(op) = clause.find(['+', '=']) else {
            return false;
        };
        let (who, perms) = clause.split_at(op);
        let perms = &perms[1..];
        if who.contains('a') || who.contains('o') {
            perms.contains('w')
        } else {
            who.is_empty() && ['r', 'w', 'x'].iter().all(|p| perms.contains(*p))
        }
    })
}
