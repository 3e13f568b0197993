//! What makes a configured secret unacceptable in production.

/// Secrets must carry at least this many bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Words that mark a secret as a placeholder or a development value.
pub const PLACEHOLDER_WORDS: &[&str] = &["dev", "change-me", "changeme", "secret", "example"];

/// Why a secret is refused, or `None` if it is acceptable.
pub fn weakness(secret: &str) -> Option<String> {
    if secret.is_empty() {
        return Some("is missing".to_string());
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Some(format!(
            "is {} bytes long; at least {MIN_SECRET_BYTES} are required",
            secret.len()
        ));
    }
    let lower = secret.to_ascii_lowercase();
    PLACEHOLDER_WORDS
        .iter()
        .find(|w| lower.contains(*w))
        .map(|w| format!("contains the placeholder word \"{w}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_kind_of_weakness() {
        assert_eq!(weakness("").as_deref(), Some("is missing"));
        assert!(weakness("short").unwrap().contains("at least 32"));
        let padded = "x".repeat(40);
        assert!(
            weakness(&format!("{padded}Change-Me"))
                .unwrap()
                .contains("change-me")
        );
        assert!(weakness(&format!("{padded}DEV")).unwrap().contains("dev"));
        assert!(
            weakness(&format!("my-secret-{padded}"))
                .unwrap()
                .contains("secret")
        );
        assert!(
            weakness(&format!("{padded}example"))
                .unwrap()
                .contains("example")
        );
    }

    #[test]
    fn accepts_long_random_values() {
        assert_eq!(weakness("q2G7vN9xLpT4wZ8rK1mB6yH3cF5jA0sU"), None);
    }
}
