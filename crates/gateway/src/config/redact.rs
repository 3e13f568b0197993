//! The running configuration as TOML with its secrets redacted, for the console's configuration
//! page: every value under a key that names a secret (`*key`, `*secret*`, `*password*`,
//! `*token*`, `master`) becomes `"[redacted]"`, and a URL keeps its scheme and host only
//! (credentials in `store.url` or `hot_state.url` never show). Redacting too much is the
//! failure mode chosen over showing a secret.

use super::Config;

/// The marker a redacted value shows.
pub const REDACTED: &str = "[redacted]";

/// `config` as TOML, secrets redacted.
pub fn redacted_toml(config: &Config) -> String {
    let Ok(mut value) = toml::Value::try_from(config) else {
        return "# the configuration cannot be shown\n".to_string();
    };
    redact(&mut value);
    toml::to_string_pretty(&value).unwrap_or_default()
}

fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("key")
        || k.ends_with("keys")
        || k.contains("secret")
        || k.contains("password")
        || k.contains("token")
        || k == "master"
        || k.ends_with("_hash")
}

fn redact(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if secret_key(k) && !matches!(v, toml::Value::Boolean(_)) {
                    *v = toml::Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        toml::Value::String(s) if s.contains("://") && s.contains('@') => {
            *s = super::preflight::redacted_url(s);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_credentials_never_show() {
        let mut c = Config::default();
        c.secrets.signing_key = "signing-secret-value-0123456789abcdef".into();
        c.secrets.cookie_key = "cookie-secret-value-0123456789abcdef".into();
        c.store.url = "postgres://palisade:db-password-42@db.internal/palisade".into();
        let shown = redacted_toml(&c);
        assert!(shown.contains(REDACTED), "{shown}");
        for secret in [
            "signing-secret-value",
            "cookie-secret-value",
            "db-password-42",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("db.internal"), "the host stays: {shown}");
        assert!(shown.contains("[console]") || shown.contains("idle_timeout"));
    }
}
