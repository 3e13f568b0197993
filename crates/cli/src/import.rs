//! The lines of the files the CLI imports: `palisade user import` (CSV of accounts with
//! password hashes from another stack) and `palisade secret import-fernet` (`path<TAB>token` or
//! JSON lines). The files come from elsewhere, so they are parsed here, where the `imports` fuzz
//! target reaches them.

use zeroize::Zeroizing;

/// An account read from one CSV line: `email,password_hash[,roles separated by ';'[,name]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// Normalized ([`palisade_core::email::normalize`]).
    pub email: String,
    /// An argon2 PHC string or a bcrypt `$2a$`/`$2b$`/`$2y$` hash, as given.
    pub password_hash: String,
    /// Never empty: `member` when the line names none.
    pub roles: Vec<String>,
    pub name: Option<String>,
}

/// What one line of a user import is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLine {
    /// A blank line, or the header line (the first line, starting with `email`).
    Skip,
    /// Why the line is skipped (never echoing its content).
    Problem(&'static str),
    User(ImportedUser),
}

/// Reads line `index` (0-based) of a user import CSV.
pub fn user_line(index: usize, line: &str) -> UserLine {
    let line = line.trim();
    if line.is_empty() || (index == 0 && line.to_ascii_lowercase().starts_with("email")) {
        return UserLine::Skip;
    }
    let cols: Vec<&str> = line.split(',').map(str::trim).collect();
    let (Some(email), Some(hash)) = (cols.first(), cols.get(1)) else {
        return UserLine::Problem("expected email,password_hash");
    };
    let Some(email) = palisade_core::email::normalize(email) else {
        return UserLine::Problem("not an e-mail address");
    };
    if !palisade_core::password::PasswordHasher::can_verify(hash) {
        return UserLine::Problem(
            "not a password hash Palisade verifies (bcrypt, argon2, PBKDF2, scrypt)",
        );
    }
    let roles: Vec<String> = cols
        .get(2)
        .map(|r| {
            r.split(';')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .filter(|r: &Vec<String>| !r.is_empty())
        .unwrap_or_else(|| vec!["member".into()]);
    UserLine::User(ImportedUser {
        email,
        password_hash: hash.to_string(),
        roles,
        name: cols.get(3).map(|s| s.to_string()).filter(|s| !s.is_empty()),
    })
}

/// One line of a Fernet import: `path<TAB>token` or `{"path": …, "token": …}`.
pub fn secret_line(line: &str) -> Option<(String, Zeroizing<String>)> {
    if line.starts_with('{') {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Line {
            path: String,
            token: String,
        }
        let l: Line = serde_json::from_str(line).ok()?;
        return Some((l.path, Zeroizing::new(l.token)));
    }
    let (path, token) = line.split_once('\t')?;
    Some((path.trim().to_string(), Zeroizing::new(token.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_lines() {
        let (p, t) = secret_line("a/b\tgAAAA").unwrap();
        assert_eq!((p.as_str(), t.as_str()), ("a/b", "gAAAA"));
        let (p, t) = secret_line(r#"{"path": "x/y", "token": "gB"}"#).unwrap();
        assert_eq!((p.as_str(), t.as_str()), ("x/y", "gB"));
        assert!(secret_line("no tab here").is_none());
        assert!(secret_line(r#"{"path": "x"}"#).is_none());
        assert!(secret_line(r#"{"path": "x", "token": "t", "extra": 1}"#).is_none());
    }

    #[test]
    fn user_lines() {
        assert_eq!(user_line(0, "email,password_hash,roles"), UserLine::Skip);
        assert_eq!(user_line(3, "  "), UserLine::Skip);
        assert_eq!(
            user_line(
                1,
                " Ann@Example.com , $2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK , admin;;ops , Ann "
            ),
            UserLine::User(ImportedUser {
                email: "ann@example.com".into(),
                password_hash: "$2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK"
                    .into(),
                roles: vec!["admin".into(), "ops".into()],
                name: Some("Ann".into()),
            })
        );
        // An argon2 PHC string holds commas (`m=19456,t=2,p=1`), which this unquoted format
        // cannot carry; the JSON-lines import of issue 16 can.
        let argon2 = "$argon2id$v=19$m=19456$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        let UserLine::User(u) = user_line(1, &format!("b@example.com,{argon2}")) else {
            panic!()
        };
        assert_eq!((u.roles, u.name), (vec!["member".to_string()], None));
        assert_eq!(
            user_line(1, "b@example.com"),
            UserLine::Problem("expected email,password_hash")
        );
        assert_eq!(
            user_line(1, "nope,$2b$x"),
            UserLine::Problem("not an e-mail address")
        );
        // A truncated bcrypt string is refused too: it could never match.
        for hash in [
            "plaintext",
            "$argon2id$v=19$x",
            "$argon2id$v=19$m=1",
            "$2b$12$abc",
        ] {
            assert_eq!(
                user_line(1, &format!("b@example.com,{hash}")),
                UserLine::Problem(
                    "not a password hash Palisade verifies (bcrypt, argon2, PBKDF2, scrypt)"
                ),
                "{hash}"
            );
        }
    }
}

/// The properties the `imports` fuzz target checks (`fuzz/fuzz_targets/imports.rs`), replayed
/// over the committed corpus by this crate's tests. The input is a whole import file, read both
/// as a user import CSV and as a Fernet import (each token opened with a fixed key).
///
/// Properties: nothing panics (the `user import` row readers of [`crate::user_import`] too,
/// and their refusals never repeat a hash); an imported account's e-mail is already normalized (so the
/// address its owner signs in with, normalized again, finds it), its hash has an accepted
/// prefix, its roles are non-empty strings without separators, its cells carry no `,`; a
/// JSON secret line reads back the same after writing it again; a tab line's path has no tab
/// and no surrounding whitespace.
#[doc(hidden)]
pub mod fuzz_props {
    use super::*;
    use palisade_core::crypto::Fernet;

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let mut jsonl = crate::user_import::RowReader::new(crate::user_import::FileFormat::Jsonl);
        let mut csv = crate::user_import::RowReader::new(crate::user_import::FileFormat::Csv);
        for (i, line) in text.lines().enumerate() {
            check_user(i, line);
            check_row(&mut jsonl, line);
            check_row(&mut csv, line);
            check_key(line);
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                check_secret(line);
            }
        }
    }

    /// A `palisade key import` line: read as a key only when it is a JSON object with the four
    /// required strings; a problem never echoes the line; a hash the line carries is parsed by
    /// the formats' parser without panicking.
    fn check_key(line: &str) {
        use crate::key_import::{KeyLine, key_line};
        match key_line(line) {
            KeyLine::Key(k) => {
                assert!(
                    line.contains("\"prefix\"") && line.contains("\"hash\""),
                    "{line:?}"
                );
                let _ = palisade_core::legacy_key::LegacyHash::parse(&k.hash);
                let _ = palisade_core::legacy_key::prefix_problem(&k.prefix);
            }
            KeyLine::Problem(why) => {
                let t = line.trim();
                assert!(t.len() < 12 || !why.contains(t), "echoed: {why:?}");
            }
            KeyLine::Skip => assert!(line.trim().is_empty()),
        }
    }

    fn check_user(i: usize, line: &str) {
        let UserLine::User(user) = user_line(i, line) else {
            return;
        };
        assert_eq!(
            palisade_core::email::normalize(&user.email).as_deref(),
            Some(user.email.as_str()),
            "not stable under normalization: {line:?}"
        );
        let hash = &user.password_hash;
        assert!(
            hash.starts_with("$argon2") || hash.starts_with("$2"),
            "{line:?}"
        );
        assert!(!user.roles.is_empty());
        for role in &user.roles {
            assert!(!role.is_empty() && !role.contains([';', ',']), "{line:?}");
        }
        for cell in [&user.email, hash].into_iter().chain(user.name.as_ref()) {
            assert!(!cell.contains(','), "{line:?}");
            assert_eq!(cell.trim(), cell, "{line:?}");
        }
    }

    /// `palisade user import` rows: a row read carries an external id (JSON lines, named CSV)
    /// or a hash (the older CSV), and a refusal never repeats a cell longer than a field name.
    fn check_row(reader: &mut crate::user_import::RowReader, line: &str) {
        use crate::user_import::Line;
        match reader.line(line) {
            Line::Row(Ok(a)) => {
                assert!(
                    a.external_id.is_some() || a.password_hash.is_some(),
                    "{line:?}"
                )
            }
            Line::Row(Err(r)) => {
                if let Some(hash) = line
                    .split(['"', ','])
                    .find(|c| c.starts_with("$2") && c.len() > 70)
                {
                    assert!(!r.to_string().contains(hash), "{line:?}");
                }
            }
            Line::Skip | Line::BadHeader(_) => {}
        }
    }

    fn check_secret(line: &str) {
        let Some((path, token)) = secret_line(line) else {
            return;
        };
        if line.starts_with('{') {
            let again = serde_json::json!({"path": path, "token": token.as_str()}).to_string();
            let (p, t) = secret_line(&again).expect("a written line reads back");
            assert_eq!((&p, t.as_str()), (&path, token.as_str()));
        } else {
            assert!(!path.contains('\t'), "{line:?}");
            assert_eq!(path.trim(), path);
        }
        let _ = palisade_gateway::protect::vault::valid_path(&path);
        let fernet = Fernet::from_bytes(&[7; 32]);
        let _ = fernet.decrypt(token.trim(), 1_800_000_000, Some(60));
    }
}
