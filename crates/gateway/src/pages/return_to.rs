//! Where a page may send the browser after sign-in: a path on Palisade's own origin (`/…`, never
//! `//…` or with a backslash, which browsers read as another host) or an absolute URL whose
//! exact origin is listed in `auth.pages.return_to_origins`. Anything else is refused: no open
//! redirect.

use crate::config::pages::{PagesConfig, exact_origin};

/// `target` when it is allowed, else `None`.
pub fn allowed<'a>(config: &PagesConfig, target: &'a str) -> Option<&'a str> {
    if target.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if target.starts_with('/') {
        return (!target.starts_with("//")).then_some(target);
    }
    let uri = target.parse::<http::Uri>().ok()?;
    let (scheme, authority) = (uri.scheme_str()?, uri.authority()?);
    if authority.as_str().contains('@') {
        return None;
    }
    let origin = format!("{scheme}://{authority}");
    config
        .return_to_origins
        .iter()
        .filter(|o| exact_origin(o).is_some())
        .any(|o| o.eq_ignore_ascii_case(&origin))
        .then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_paths_and_listed_origins() {
        let c = PagesConfig {
            return_to_origins: vec!["https://app.example.com".into()],
        };
        for ok in [
            "/",
            "/auth/pages/passkeys",
            "https://app.example.com/after?x=1",
            "https://app.example.com",
        ] {
            assert_eq!(allowed(&c, ok), Some(ok), "{ok}");
        }
        for bad in [
            "//evil.test/x",
            "/\\evil.test",
            "https://evil.test/",
            "https://app.example.com.evil.test/",
            "https://app.example.com@evil.test/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "evil.test",
            "/x\n",
        ] {
            assert_eq!(allowed(&c, bad), None, "{bad}");
        }
    }
}
