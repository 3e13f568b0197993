//! The command-injection detector: a shell separator (`;`, `|`, `&`, `&&`, `||`, newline) or a
//! substitution (`$(…)`, backticks) followed by a command word, and shell-only constructs such as
//! `${IFS}`. The command word is read the way a shell would after the separator (leading
//! whitespace, quotes and a path prefix dropped).

/// A command-injection finding: rule and paranoia level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdFinding {
    /// The matched rule's short name.
    pub rule: &'static str,
    /// The paranoia level from which it counts (1–4).
    pub level: u8,
}

/// Commands an attacker runs to probe or take a host; no English word among them.
const STRONG: &[&str] = &[
    "whoami",
    "uname",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "powershell",
    "cmd",
    "cmd.exe",
    "ifconfig",
    "ipconfig",
    "nslookup",
    "passwd",
    "chmod",
    "chown",
    "python",
    "python3",
    "perl",
    "php",
    "ruby",
    "busybox",
    "telnet",
    "xterm",
    "systeminfo",
    "tasklist",
    "certutil",
    "bitsadmin",
    "mkfifo",
    "base64",
    "ls",
    "cat",
    "rm",
    "id",
    "pwd",
    "ping",
    "uname",
    "env",
    "netstat",
    "hostname",
    "crontab",
    "useradd",
    "tftp",
    "scp",
    "ssh",
];
/// Commands that are also words of prose: they count at a higher paranoia level.
const WEAK: &[&str] = &[
    "echo", "sleep", "type", "dir", "net", "set", "kill", "find", "head", "tail", "more", "less",
    "time", "who", "ps", "sort", "exit", "reboot",
];

/// Whether `b` is a byte without one of which no rule here matches (a separator, a pipe, a
/// substitution): the detector's quick test, shared with `scan`.
pub(super) const fn may_trigger(b: u8) -> bool {
    matches!(b, b';' | b'|' | b'&' | b'`' | b'$' | b'\n' | b'\r')
}

/// The strongest command-injection finding in `input`, if any.
pub fn detect(input: &str) -> Option<CmdFinding> {
    if !input.bytes().any(may_trigger) {
        return None;
    }
    let lower = input.to_ascii_lowercase();
    let mut best: Option<CmdFinding> = None;
    let mut note = |rule, level| {
        if best.is_none_or(|b: CmdFinding| level < b.level) {
            best = Some(CmdFinding { rule, level });
        }
    };
    if lower.contains("${ifs") || lower.contains("$ifs") {
        note("shell-ifs", 1);
    }
    let lb = lower.as_bytes();
    for i in 0..lb.len() {
        let (sep, from) = match lb[i] {
            b';' | b'\n' | b'\r' => ("separator", i + 1),
            b'|' | b'&' => ("pipe", i + 1 + usize::from(lb.get(i + 1) == Some(&lb[i]))),
            b'`' => ("substitution", i + 1),
            b'$' if lb.get(i + 1) == Some(&b'(') => ("substitution", i + 2),
            _ => continue,
        };
        match command_at(&lower[from.min(lower.len())..]) {
            Some(true) => note(
                if sep == "substitution" {
                    "command-substitution"
                } else {
                    "command-chain"
                },
                1,
            ),
            Some(false) => note("command-chain", 3),
            None => {}
        }
    }
    best
}

/// Whether a command word starts `s` (after whitespace, quotes and a path): `Some(true)` for a
/// strong command, `Some(false)` for a weak one.
fn command_at(s: &str) -> Option<bool> {
    let s = s.trim_start_matches([' ', '\t', '\'', '"', '{', '(']);
    let word_end = s
        .find(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    ';' | '|' | '&' | '`' | ')' | '$' | '<' | '>' | '\'' | '"' | '}' | ','
                )
        })
        .unwrap_or(s.len());
    let word = &s[..word_end];
    let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
    if base.is_empty() {
        return None;
    }
    // An argument or the end must follow, as in a command line.
    let tail = &s[word_end..];
    let looks_cmd = tail.is_empty()
        || tail.starts_with([' ', '\t', ';', '|', '&', '`', ')', '$', '<', '>', '\n']);
    if !looks_cmd {
        return None;
    }
    let pathy = word.contains('/');
    if STRONG.contains(&base) {
        // `; ls` in prose is rare; `, id,` is not a command line: require the separator's shape.
        Some(true)
    } else if WEAK.contains(&base) {
        Some(pathy)
    } else if pathy && (word.starts_with("/bin/") || word.starts_with("/usr/")) {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_injection() {
        for s in [
            "x; cat /etc/passwd",
            "a | whoami",
            "$(id)",
            "`uname -a`",
            "1 && curl http://e",
            "a;${IFS}ls",
        ] {
            assert!(detect(s).is_some_and(|f| f.level <= 2), "{s}");
        }
        for s in ["Tom & Jerry", "fish; chips", "a | b", "price: $5; tax $1"] {
            assert!(detect(s).is_none_or(|f| f.level > 2), "{s}");
        }
    }
}
