//! Template rendering with `minijinja`: every template embedded in the binary, loaded once,
//! HTML auto-escaping on (every `.html` template), undefined values an error rather than blank.

use minijinja::{Environment, UndefinedBehavior};
use std::sync::OnceLock;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("signed_in.html", include_str!("templates/signed_in.html")),
    ("passkeys.html", include_str!("templates/passkeys.html")),
    (
        "email_pages.html",
        include_str!("templates/email_pages.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("embedded templates parse (tested)");
        }
        env
    })
}

/// Renders template `name` with `ctx`; an error is a bug in a template, logged and answered as
/// a plain message without internals.
pub fn render(name: &str, ctx: minijinja::Value) -> String {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template = name, error = %e, "page template failed");
            "<!doctype html><title>Error</title><p>This page cannot be shown.</p>".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes() {
        for (name, _) in TEMPLATES {
            env().get_template(name).expect(name);
        }
        let html = render(
            "signed_in.html",
            minijinja::context! { subject => "<script>x</script>", csrf_token => "t", passkeys => true },
        );
        assert!(html.contains("&lt;script&gt;x&lt;"), "{html}");
        assert!(!html.contains("<script>x"));
        assert!(!html.contains("style="), "no inline style");
    }
}
