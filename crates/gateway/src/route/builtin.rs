//! Palisade's own endpoints. The one answer to "is this path one of Palisade's built-in
//! endpoints?": the boundary classifies the canonical path once and records the answer on the
//! request ([`crate::request::RequestMeta::builtin`]); every gate and the route step read it from
//! there. A built-in path is never proxied and never takes a configured route's policy.
//!
//! Every built-in path sits under the *mount* (`api.mount`): `""` by default, so `/auth/login`
//! is Palisade's; with `api.mount = "/.palisade"` (the default in library mode) it is
//! `/.palisade/auth/login`, and `/auth/login` belongs to the upstream or the wrapped app. The
//! mount is matched at a segment boundary; the empty mount costs one length check.

/// The built-in API a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `/healthz`, `/readyz`, `/metrics`: never shed, throttled or blocked.
    Ops,
    /// `/.well-known/jwks.json`.
    WellKnown,
    /// `/auth/…`: sign-in, tokens, sessions, forward auth.
    Auth,
    /// `/admin/…`: Palisade's administration API.
    Admin,
    /// `/v1/secrets` and `/v1/secrets/…`.
    Secrets,
    /// `/v1/transit/…`.
    Transit,
}

/// Where Palisade publishes its token-signing keys.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The operational endpoints.
pub const OPS_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

impl Builtin {
    /// Classifies a canonical path under `mount` (`""`, or a canonical prefix without a trailing
    /// slash such as `/.palisade`, as `config check` enforces).
    #[inline]
    pub fn classify(path: &str, mount: &str) -> Option<Builtin> {
        if mount.is_empty() {
            Self::classify_root(path)
        } else {
            Self::within(path, mount).and_then(Self::classify_root)
        }
    }

    /// The part of `path` below `mount` (starting with `/`), or `None` when `path` is not under
    /// it. `/.palisade/auth/login` under `/.palisade` is `/auth/login`; `/.palisadex` is none.
    pub fn within<'a>(path: &'a str, mount: &str) -> Option<&'a str> {
        path.strip_prefix(mount)
            .filter(|rest| rest.starts_with('/'))
    }

    /// Classifies a canonical path as if mounted at the root.
    fn classify_root(path: &str) -> Option<Builtin> {
        if OPS_PATHS.contains(&path) {
            Some(Builtin::Ops)
        } else if path == JWKS_PATH {
            Some(Builtin::WellKnown)
        } else if path.starts_with("/auth/") {
            Some(Builtin::Auth)
        } else if path.starts_with("/admin/") {
            Some(Builtin::Admin)
        } else if path == "/v1/secrets" || path.starts_with("/v1/secrets/") {
            Some(Builtin::Secrets)
        } else if path.starts_with("/v1/transit/") {
            Some(Builtin::Transit)
        } else {
            None
        }
    }

    /// Endpoints that record security events (sign-ins, admin actions, secret reads): under
    /// audit back-pressure they wait for room in the queue first.
    pub fn records_security_events(self) -> bool {
        !matches!(self, Builtin::Ops | Builtin::WellKnown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for (path, want) in [
            ("/healthz", Some(Builtin::Ops)),
            ("/metrics", Some(Builtin::Ops)),
            ("/metrics/x", None),
            ("/.well-known/jwks.json", Some(Builtin::WellKnown)),
            ("/auth/login", Some(Builtin::Auth)),
            ("/auth", None),
            ("/admin/users", Some(Builtin::Admin)),
            ("/administrators", None),
            ("/v1/secrets", Some(Builtin::Secrets)),
            ("/v1/secrets/a/b", Some(Builtin::Secrets)),
            ("/v1/secretsx", None),
            ("/v1/transit/encrypt", Some(Builtin::Transit)),
            ("/v1/users", None),
            ("/api/auth/login", None),
        ] {
            assert_eq!(Builtin::classify(path, ""), want, "{path}");
            // Under a mount the same paths move, and the root ones are no longer Palisade's.
            assert_eq!(
                Builtin::classify(&format!("/.palisade{path}"), "/.palisade"),
                want
            );
            assert_eq!(Builtin::classify(path, "/.palisade"), None, "{path}");
        }
    }

    #[test]
    fn the_mount_ends_at_a_segment_boundary() {
        assert_eq!(
            Builtin::classify("/.palisadex/auth/login", "/.palisade"),
            None
        );
        assert_eq!(Builtin::classify("/.palisade", "/.palisade"), None);
        assert_eq!(
            Builtin::within("/.palisade/auth/x", "/.palisade"),
            Some("/auth/x")
        );
        assert_eq!(Builtin::within("/other/auth/x", "/.palisade"), None);
    }
}
