//! Identity headers cannot be smuggled: any spelling of an identity header (`_` for `-`, any
//! case) is removed, and other names with `_` follow `server.underscore_headers`.

use super::{answer, raw_request};
use crate::common::*;
use palisade_gateway::config::UnderscoreHeaders;

const SMUGGLED: &[(&str, &str)] = &[
    ("X-User_Id", "1"),
    ("X_User_Id", "1"),
    ("x-user-id", "1"),
    ("X-Palisade_User", "admin"),
    ("X_PALISADE_ROLES", "owner"),
    ("X-Palisade-Tenant", "t1"),
    ("x-palisade_identity", "forged"),
    ("X-Tenant_Id", "t2"),
    ("X-Tenant-Id", "t3"),
];

/// Header names the upstream saw, with `_` read as `-` (as WSGI/CGI servers read them).
fn folded_names(up: &Upstream) -> Vec<String> {
    up.last()
        .headers
        .keys()
        .map(|k| k.to_ascii_lowercase().replace('_', "-"))
        .collect()
}

#[tokio::test]
async fn identity_headers_in_any_spelling_never_reach_the_upstream() {
    let up = Upstream::start("api").await;
    let gw = start_with(
        |c| c.proxy.strip_headers = vec!["X-Tenant-Id".into()],
        vec![route("/", &up)],
    )
    .await;
    let mut headers = SMUGGLED.to_vec();
    headers.push(("X-Custom_Flag", "1"));
    headers.push(("X-Fine", "1"));
    let raw = raw_request(gw.gateway.addr, "GET", b"/x", "h", &headers).await;
    assert_eq!(answer(&raw).0, 200, "{raw}");
    let names = folded_names(&up);
    for name in &names {
        assert!(
            !name.starts_with("x-palisade-") && name != "x-user-id" && name != "x-tenant-id",
            "{name} reached the upstream: {names:?}"
        );
    }
    assert!(
        !names.contains(&"x-custom-flag".to_string()),
        "dropped by default"
    );
    assert!(names.contains(&"x-fine".to_string()));
}

#[tokio::test]
async fn underscore_headers_can_be_refused_or_kept() {
    let up = Upstream::start("api").await;
    let gw = start_with(
        |c| c.server.underscore_headers = UnderscoreHeaders::Reject,
        vec![route("/", &up)],
    )
    .await;
    let raw = raw_request(
        gw.gateway.addr,
        "GET",
        b"/x",
        "h",
        &[("X-Custom_Flag", "1")],
    )
    .await;
    assert_eq!(
        answer(&raw),
        (400, Some("underscore-header".into()), None),
        "{raw}"
    );
    assert_eq!(up.count(), 0);
    // Identity headers are removed, not refused, whatever the policy.
    let raw = raw_request(gw.gateway.addr, "GET", b"/x", "h", &[("X-User_Id", "1")]).await;
    assert_eq!(answer(&raw).0, 200, "{raw}");

    let up = Upstream::start("api").await;
    let gw = start_with(
        |c| c.server.underscore_headers = UnderscoreHeaders::Keep,
        vec![route("/", &up)],
    )
    .await;
    let mut headers = SMUGGLED.to_vec();
    headers.push(("X-Custom_Flag", "1"));
    let raw = raw_request(gw.gateway.addr, "GET", b"/x", "h", &headers).await;
    assert_eq!(answer(&raw).0, 200, "{raw}");
    let names = folded_names(&up);
    assert!(
        names.contains(&"x-custom-flag".to_string()),
        "kept: {names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("x-palisade-") || n == "x-user-id")
    );
}
