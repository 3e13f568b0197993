//! Template rendering with `minijinja`: every template embedded in the binary, loaded once,
//! HTML auto-escaping on (every `.html` template), undefined values an error rather than blank.

use minijinja::{Environment, UndefinedBehavior};
use std::sync::OnceLock;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("signed_in.html", include_str!("templates/signed_in.html")),
    ("passkeys.html", include_str!("templates/passkeys.html")),
    ("mfa.html", include_str!("templates/mfa.html")),
    ("totp.html", include_str!("templates/totp.html")),
    (
        "totp_enroll.html",
        include_str!("templates/totp_enroll.html"),
    ),
    ("recovery.html", include_str!("templates/recovery.html")),
    ("message.html", include_str!("templates/message.html")),
    ("device.html", include_str!("templates/device.html")),
    (
        "device_confirm.html",
        include_str!("templates/device_confirm.html"),
    ),
    (
        "email_pages.html",
        include_str!("templates/email_pages.html"),
    ),
    (
        "console/layout.html",
        include_str!("../console/templates/layout.html"),
    ),
    (
        "console/message.html",
        include_str!("../console/templates/message.html"),
    ),
    (
        "console/message_in.html",
        include_str!("../console/templates/message_in.html"),
    ),
    (
        "console/pager.html",
        include_str!("../console/templates/pager.html"),
    ),
    (
        "console/dashboard.html",
        include_str!("../console/templates/dashboard.html"),
    ),
    (
        "console/audit.html",
        include_str!("../console/templates/audit.html"),
    ),
    (
        "console/audit_verify.html",
        include_str!("../console/templates/audit_verify.html"),
    ),
    (
        "console/blocks.html",
        include_str!("../console/templates/blocks.html"),
    ),
    (
        "console/tenants.html",
        include_str!("../console/templates/tenants.html"),
    ),
    (
        "console/roles.html",
        include_str!("../console/templates/roles.html"),
    ),
    (
        "console/service_accounts.html",
        include_str!("../console/templates/service_accounts.html"),
    ),
    (
        "console/users.html",
        include_str!("../console/templates/users.html"),
    ),
    (
        "console/user.html",
        include_str!("../console/templates/user.html"),
    ),
    (
        "console/incidents.html",
        include_str!("../console/templates/incidents.html"),
    ),
    (
        "console/lockdown.html",
        include_str!("../console/templates/lockdown.html"),
    ),
    (
        "console/secrets.html",
        include_str!("../console/templates/secrets.html"),
    ),
    (
        "console/config.html",
        include_str!("../console/templates/config.html"),
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

/// Renders template `name` with `ctx`, or the template's error (for tests of the templates).
#[cfg(test)]
pub(crate) fn try_render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    env().get_template(name).and_then(|t| t.render(ctx))
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
            minijinja::context! { subject => "<script>x</script>", csrf_token => "t", passkeys => true, device => false },
        );
        assert!(html.contains("&lt;script&gt;x&lt;"), "{html}");
        assert!(!html.contains("<script>x"));
        assert!(!html.contains("style="), "no inline style");
    }

    #[test]
    fn the_second_factor_and_device_templates_render_every_branch() {
        use minijinja::context;
        let request =
            context! { client_id => "tv-app", requested_from => "192.0.2.7", minutes_left => 1 };
        let cases = [
            (
                "mfa.html",
                context! { form_token => "t", return_to => "", error => "bad", recovery => true, passkey => true },
            ),
            (
                "totp.html",
                context! { csrf_token => "t", error => None::<&str>, items => vec![context! { id => "i", name => "phone", confirmed => false }] },
            ),
            (
                "totp_enroll.html",
                context! { csrf_token => "t", id => "i", name => "phone", qr_svg => "", secret => "", error => "bad" },
            ),
            (
                "recovery.html",
                context! { csrf_token => "t", enrolled => true, remaining => 1 },
            ),
            (
                "message.html",
                context! { csrf_token => "t", title => "T", text => "x", codes => vec!["a"], back => "totp" },
            ),
            (
                "device.html",
                context! { csrf_token => "t", user_code => "BCDF-GHJK", error => None::<&str> },
            ),
            (
                "device_confirm.html",
                context! { csrf_token => "t", user_code => "BCDF-GHJK", status => "pending", request => request.clone(), session_days => 30 },
            ),
            (
                "device_confirm.html",
                context! { csrf_token => "t", user_code => "BCDF-GHJK", status => "denied", request => request.clone() },
            ),
        ];
        for (name, ctx) in cases {
            let html = render(name, ctx);
            assert!(!html.contains("cannot be shown"), "{name}: {html}");
            assert!(
                !html.contains("style=") && !html.contains("<script>"),
                "{name}"
            );
        }
    }
}
