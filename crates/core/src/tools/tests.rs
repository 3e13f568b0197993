//! Decision table of the command policy, tool names and argv splitting.

use super::argv::{SplitError, split};
use super::command::{AllowRule, CommandPolicy};
use super::{tool_permission, valid_tool_name};

fn policy(via_shell: bool) -> CommandPolicy {
    let rules = [
        "ls -la *",
        "ls",
        "git log --oneline *",
        "git status",
        "/usr/bin/grep -n * *",
        "cat -- *",
        "rm *",
        "rm -r *",
        "dd if=* of=*",
        "chmod * *",
        "chmod -R * *",
        "kubectl get pods --namespace=*",
        "env LC_ALL=C ls",
        "echo *",
    ];
    CommandPolicy {
        rules: rules.iter().map(|r| AllowRule::parse(r).unwrap()).collect(),
        via_shell,
        ..CommandPolicy::default()
    }
}

/// (command line, runs through a shell, expected reason: `allow-rule` or the refusal, why)
const TABLE: &[(&str, bool, &str, &str)] = &[
    // Allowed by a rule.
    ("ls", true, "allow-rule", "exact rule"),
    ("ls -la /tmp", true, "allow-rule", "`*` takes one operand"),
    (
        "git log --oneline main",
        true,
        "allow-rule",
        "subcommand and operand",
    ),
    ("git status", true, "allow-rule", "exact subcommand"),
    (
        "/usr/bin/grep -n needle file.txt",
        true,
        "allow-rule",
        "absolute program path",
    ),
    (
        "cat -- -weird-name",
        true,
        "allow-rule",
        "after `--` an operand may start with -",
    ),
    (
        "kubectl get pods --namespace=prod",
        true,
        "allow-rule",
        "prefix pattern",
    ),
    (
        "ls -la 'my dir'",
        true,
        "allow-rule",
        "quoted operand is one argument",
    ),
    ("echo \"a b\"", true, "allow-rule", "double-quoted operand"),
    (
        "rm -r build",
        true,
        "allow-rule",
        "recursive rm of a relative directory",
    ),
    (
        "dd if=a.img of=b.img",
        true,
        "allow-rule",
        "dd between files",
    ),
    ("chmod 644 notes.txt", true, "allow-rule", "ordinary mode"),
    (
        "env LC_ALL=C ls",
        true,
        "allow-rule",
        "a wrapper the rule names",
    ),
    (
        "echo a|b",
        false,
        "allow-rule",
        "a pipe is data for a tool that runs no shell",
    ),
    // Default deny.
    ("ls -la", true, "no-matching-rule", "arity is exact"),
    (
        "ls -la /tmp /etc",
        true,
        "no-matching-rule",
        "one `*`, one argument",
    ),
    (
        "ls -la --color=always",
        true,
        "no-matching-rule",
        "`*` takes no option",
    ),
    (
        "git log --oneline --output=/etc/passwd",
        true,
        "no-matching-rule",
        "an option where an operand is allowed",
    ),
    (
        "git push",
        true,
        "no-matching-rule",
        "subcommand not allowed",
    ),
    (
        "grep -n needle file.txt",
        true,
        "no-matching-rule",
        "a bare name is not the allowed path",
    ),
    (
        "/tmp/ls",
        true,
        "no-matching-rule",
        "a path is not the allowed bare name",
    ),
    (
        "kubectl get pods --namespace",
        true,
        "no-matching-rule",
        "prefix needs the `=`",
    ),
    (
        "cat /etc/shadow",
        true,
        "no-matching-rule",
        "the rule needs `--`",
    ),
    (
        "python3 -c 'print(1)'",
        true,
        "no-matching-rule",
        "no rule for the program",
    ),
    // Shell metacharacters for a shell tool.
    ("ls $HOME", true, "shell-metacharacter", "expansion"),
    (
        "ls `id`",
        true,
        "shell-metacharacter",
        "command substitution",
    ),
    ("ls; id", true, "shell-metacharacter", "command separator"),
    ("ls | sh", true, "shell-metacharacter", "pipe"),
    ("ls & id", true, "shell-metacharacter", "background"),
    (
        "ls < /etc/passwd",
        true,
        "shell-metacharacter",
        "input redirection",
    ),
    (
        "ls > /etc/passwd",
        true,
        "shell-metacharacter",
        "output redirection",
    ),
    ("ls\nid", true, "shell-metacharacter", "newline"),
    (
        "ls 'a;b'",
        true,
        "shell-metacharacter",
        "refused even inside quotes: before parsing",
    ),
    (
        "ls \0",
        false,
        "shell-metacharacter",
        "NUL refused for every tool",
    ),
    // Always refused, rules or not.
    (":(){ :|:& };:", false, "fork-bomb", "the classic fork bomb"),
    (
        "bomb() { bomb | bomb & }; bomb",
        false,
        "fork-bomb",
        "a named variant",
    ),
    (
        "bash -c ':(){ :|:& };:'",
        false,
        "fork-bomb",
        "inside a shell argument",
    ),
    ("rm -rf /", true, "rm-root", "rm -rf /"),
    ("rm -r -f /", true, "rm-root", "split flags"),
    ("rm -fR /*", true, "rm-root", "root glob"),
    (
        "rm --recursive --force //",
        true,
        "rm-root",
        "long flags and doubled slash",
    ),
    (
        "rm --no-preserve-root -rf /",
        true,
        "rm-root",
        "--no-preserve-root",
    ),
    ("rm -r /.", true, "rm-root", "root by a dot segment"),
    ("rm -r ~", true, "rm-root", "home as a whole"),
    (
        "dd if=/dev/zero of=/dev/sda",
        true,
        "dd-device",
        "dd to a device",
    ),
    (
        "/bin/dd of=/dev/nvme0n1 if=x",
        true,
        "dd-device",
        "dd by path",
    ),
    ("mkfs.ext4 /dev/sda1", true, "mkfs", "mkfs variant"),
    ("mkfs -t xfs /dev/sdb", true, "mkfs", "mkfs"),
    ("sudo ls", true, "privilege-escalation", "sudo"),
    ("su - root", true, "privilege-escalation", "su"),
    ("doas ls", true, "privilege-escalation", "doas"),
    (
        "env FOO=1 sudo ls",
        true,
        "privilege-escalation",
        "sudo behind env",
    ),
    (
        "nice -n 5 timeout 10 sudo ls",
        true,
        "privilege-escalation",
        "sudo behind two wrappers",
    ),
    ("chmod 777 /etc", true, "chmod-world-writable", "chmod 777"),
    (
        "chmod -R 777 /srv",
        true,
        "chmod-world-writable",
        "recursive chmod 777",
    ),
    (
        "chmod a+rwx notes.txt",
        true,
        "chmod-world-writable",
        "symbolic a+rwx",
    ),
    (
        "chmod 0777 notes.txt",
        true,
        "chmod-world-writable",
        "leading zero",
    ),
    (
        "chmod u+x,o+w notes.txt",
        true,
        "chmod-world-writable",
        "others write in a list",
    ),
    (
        "rm -rf /tmp/..",
        true,
        "rm-root",
        "root by a parent segment",
    ),
    (
        "dd if=x of=//dev/../dev/sda",
        true,
        "dd-device",
        "device path spelt otherwise",
    ),
    (
        "chmod 00777 notes.txt",
        true,
        "chmod-world-writable",
        "extra leading zeros",
    ),
    (
        "bash -c 'sudo id'",
        false,
        "privilege-escalation",
        "sudo inside a shell script",
    ),
    (
        "sh -c 'rm -rf /'",
        false,
        "rm-root",
        "rm inside a shell script",
    ),
    (
        "bash -c 'ls | sh'",
        false,
        "shell-metacharacter",
        "a shell script is shell code for every tool",
    ),
    (
        "perl -e 'fork while fork'",
        false,
        "fork-bomb",
        "Perl fork bomb",
    ),
    // Parse failures.
    ("ls 'unterminated", true, "unparsable", "unterminated quote"),
    ("ls \\", true, "unparsable", "trailing escape"),
    (
        "ls # rm -rf /",
        false,
        "unparsable",
        "a comment a non-shell runner would not drop",
    ),
    ("   ", true, "empty-command", "nothing to run"),
];

#[test]
fn command_decision_table() {
    let (shell, direct) = (policy(true), policy(false));
    let mut failures = Vec::new();
    for (line, via_shell, expected, why) in TABLE {
        let decision = if *via_shell { &shell } else { &direct }.decide("runner", line);
        if decision.reason() != *expected {
            failures.push(format!(
                "{line:?}: expected {expected}, got {} ({why})",
                decision.reason()
            ));
        }
        let event = if *expected == "allow-rule" {
            "tool.allowed"
        } else {
            "tool.denied"
        };
        assert_eq!(decision.event_type(), event, "{line:?}");
    }
    assert!(TABLE.len() >= 40);
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn no_rules_means_nothing_runs() {
    let decision = CommandPolicy::default().decide("runner", "ls");
    assert_eq!(decision.reason(), "no-matching-rule");
    assert!(!decision.allowed());
}

#[test]
fn decision_names_the_rule_and_the_argv() {
    let decision = policy(true).decide("runner", "git log --oneline main");
    assert_eq!(decision.outcome, Ok(2));
    assert_eq!(decision.argv, ["git", "log", "--oneline", "main"]);
    assert_eq!(
        policy(true).decide("Runner", "ls").reason(),
        "invalid-tool-name"
    );
    let long = CommandPolicy {
        max_len: 8,
        ..policy(true)
    };
    assert_eq!(long.decide("runner", "ls -la /tmp").reason(), "too-long");
}

#[test]
fn tool_names_and_permissions() {
    assert_eq!(
        tool_permission("web_search").as_deref(),
        Some("tools.web_search.execute")
    );
    assert_eq!(tool_permission("a").as_deref(), Some("tools.a.execute"));
    assert!(valid_tool_name(&"a".repeat(64)));
    for bad in [
        "",
        "Web",
        "a.b",
        "a b",
        "ä",
        "tool*",
        "../x",
        &"a".repeat(65),
    ] {
        assert!(tool_permission(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn argv_split_has_shell_words_semantics() {
    let ok: &[(&str, &[&str])] = &[
        ("a b  c", &["a", "b", "c"]),
        ("'a b' \"c d\"", &["a b", "c d"]),
        ("a\\ b", &["a b"]),
        ("\"a\\\"b\" 'a\\b'", &["a\"b", "a\\b"]),
        ("x''y", &["xy"]),
        ("''", &[""]),
        ("a#b", &["a#b"]),
        ("a \\\n b", &["a", "b"]),
    ];
    for (line, want) in ok {
        assert_eq!(split(line).unwrap(), *want, "{line:?}");
    }
    assert_eq!(split("'a"), Err(SplitError::UnterminatedQuote));
    assert_eq!(split("\"a"), Err(SplitError::UnterminatedQuote));
    assert_eq!(split("a\\"), Err(SplitError::TrailingEscape));
    assert_eq!(split("a #b"), Err(SplitError::Comment));
}
