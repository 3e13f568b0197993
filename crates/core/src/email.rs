//! E-mail addresses as account names: trimmed, lower-cased, and checked for a plausible shape
//! (one `@`, a local part of at most 64 characters, a dotted domain of letters, digits and
//! hyphens, at most 254 characters in all). Deliverability is not checked here.

/// The normalized address, or `None` when it cannot be an address.
pub fn normalize(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    (local_ok && domain_ok).then_some(email)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_and_validates() {
        assert_eq!(
            normalize("  Alice.Smith+tag@Example.COM ").as_deref(),
            Some("alice.smith+tag@example.com")
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@exa_mple.com",
            "alice..b@example.com",
            ".alice@example.com",
            "alice@-example.com",
            "alice@example..com",
            "alice\n@example.com",
            "<script>@example.com",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(normalize(&long_local), None);
    }
}
