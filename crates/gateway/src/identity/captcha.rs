//! Server-side CAPTCHA verification with the siteverify protocol shared by Cloudflare Turnstile,
//! hCaptcha and reCAPTCHA: POST `secret`, `response` and `remoteip` as a form, read `success`.
//! Anything but a clear `success: true` (timeouts, errors, odd answers) counts as a failure.

use crate::config::auth::CaptchaConfig;
use std::net::IpAddr;

/// Server-side CAPTCHA verification (siteverify).
pub struct Captcha {
    client: reqwest::Client,
    url: String,
    secret: String,
    /// Ask on every registration.
    pub on_register: bool,
    /// Ask at sign-in after this many failures.
    pub login_after_failures: u64,
}

#[derive(serde::Deserialize)]
struct SiteVerify {
    success: bool,
}

impl Captcha {
    /// The verifier, or `None` when `auth.captcha` is off.
    pub fn new(config: &CaptchaConfig) -> Result<Option<Self>, String> {
        if !config.enabled {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout.0)
            .build()
            .map_err(|e| format!("auth.captcha: {e}"))?;
        Ok(Some(Self {
            client,
            url: config.verify_url.clone(),
            secret: config.secret.clone(),
            on_register: config.on_register,
            login_after_failures: config.login_after_failures,
        }))
    }

    /// True only when the provider confirms the response token.
    pub async fn verify(&self, response: &str, remote_ip: IpAddr) -> bool {
        if response.is_empty() || response.len() > 4096 {
            return false;
        }
        let form = [
            ("secret", self.secret.as_str()),
            ("response", response),
            ("remoteip", &remote_ip.to_string()),
        ];
        let answer = self.client.post(&self.url).form(&form).send().await;
        match answer {
            Ok(res) if res.status().is_success() => res
                .json::<SiteVerify>()
                .await
                .map(|v| v.success)
                .unwrap_or(false),
            Ok(res) => {
                tracing::warn!(status = %res.status(), "CAPTCHA verification endpoint refused");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "CAPTCHA verification endpoint unreachable");
                false
            }
        }
    }
}
