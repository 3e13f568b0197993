//! The firewall's country rules through a running gateway, on a tiny MaxMind-format database
//! written for the test by the pinned `mmdb-writer` from PyPI (`scripts/ensure-mmdb-writer`): deny
//! and allow lists globally and per route, an address the database does not place refused where
//! an allow list applies, IPv6, the `firewall.refused` record naming the country, and `config
//! check` refusing bad codes, lists without a database and a file that is not a database. Client
//! addresses come from `X-Forwarded-For` (loopback is a trusted proxy here).

use crate::common::*;
use palisade_gateway::config::checks::problems;
use palisade_gateway::config::inspect::RouteFirewall;
use palisade_gateway::config::{Environment, RouteConfig};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes the test database into `dir`; `None` (and a note) when the writer cannot be had outside
/// CI, a panic under `CI=true`.
fn country_database(dir: &Path) -> Option<PathBuf> {
    let required = std::env::var("CI").is_ok_and(|v| v == "true");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let python = match Command::new(format!("{root}/scripts/ensure-mmdb-writer")).output() {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!required, "CI=true and the mmdb writer is missing: {why}");
            eprintln!("skipped: no MaxMind database writer ({why})");
            return None;
        }
        Err(e) => {
            assert!(!required, "CI=true and the mmdb writer is missing: {e}");
            eprintln!("skipped: no MaxMind database writer ({e})");
            return None;
        }
    };
    let out = dir.join("countries.mmdb");
    let networks = r#"{"198.51.100.0/24": "DE", "203.0.113.0/24": "KP", "192.0.2.0/24": "FR",
                       "2001:db8:de::/48": "DE", "2001:db8:f::/48": "KP"}"#;
    let status = Command::new(python.trim())
        .arg(format!("{root}/scripts/mmdb-writer/build.py"))
        .arg(&out)
        .arg(networks)
        .status()
        .unwrap();
    assert!(status.success(), "build.py failed");
    Some(out)
}

fn countries(deny: &[&str], allow: &[&str]) -> RouteFirewall {
    RouteFirewall {
        deny_countries: deny.iter().map(|c| c.to_string()).collect(),
        allow_countries: allow.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn country_lists_refuse_by_the_database_and_fail_closed_on_unplaced_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = country_database(dir.path()) else {
        return;
    };
    let up = Upstream::start("geoip").await;
    let routes = vec![
        RouteConfig {
            firewall: countries(&[], &["DE"]),
            ..route("/de-only", &up)
        },
        RouteConfig {
            firewall: countries(&["FR"], &[]),
            ..route("/no-fr", &up)
        },
        route("/open", &up),
    ];
    let db2 = db.clone();
    let gw = start_with(
        move |c| {
            c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            c.firewall.geoip_database = Some(db2);
            c.firewall.deny_countries = vec!["KP".into()];
        },
        routes,
    )
    .await;
    let c = client();
    let from = |path: &str, ip: &str| {
        c.get(gw.url(path))
            .header("x-forwarded-for", ip.to_string())
            .send()
    };
    // Global deny list, IPv4 and IPv6.
    for ip in ["203.0.113.7", "2001:db8:f::1"] {
        assert_problem(from("/open/x", ip).await.unwrap(), 403, "country-denied").await;
    }
    // A placed address not denied passes; so does an unplaced one where only deny lists apply.
    for ip in ["198.51.100.9", "192.0.2.1", "10.1.2.3"] {
        assert_eq!(from("/open/x", ip).await.unwrap().status(), 200, "{ip}");
    }
    // A route's allow list: DE (v4 and v6) in; FR out; an unplaced address out (fail closed).
    for ip in ["198.51.100.9", "2001:db8:de::5"] {
        assert_eq!(from("/de-only/x", ip).await.unwrap().status(), 200, "{ip}");
    }
    for ip in ["192.0.2.1", "10.1.2.3", "2001:db8:99::1"] {
        assert_problem(
            from("/de-only/x", ip).await.unwrap(),
            403,
            "country-not-allowed",
        )
        .await;
    }
    // A route's deny list adds to the global one.
    assert_problem(
        from("/no-fr/x", "192.0.2.1").await.unwrap(),
        403,
        "country-denied",
    )
    .await;
    assert_eq!(
        from("/no-fr/x", "198.51.100.1").await.unwrap().status(),
        200
    );
    assert_eq!(up.count(), 6);

    gw.gateway.state.audit.flush_refusals(true);
    if let Some(trail) = gw.gateway.state.audit.trail() {
        trail.flush().await;
    }
    let recs = gw
        .gateway
        .state
        .store
        .audit_range(0, 1_000_000)
        .await
        .unwrap();
    let refused: Vec<(String, String)> = recs
        .iter()
        .filter(|r| r.event_type == "firewall.refused")
        .map(|r| {
            (
                r.details["reason"].as_str().unwrap().to_owned(),
                r.details["country"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for want in [
        ("country-denied", "KP"),
        ("country-not-allowed", "FR"),
        ("country-not-allowed", "unknown"),
        ("country-denied", "FR"),
    ] {
        assert!(
            refused.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} not in {refused:?}"
        );
    }
}

#[test]
fn config_check_refuses_bad_codes_lists_without_a_database_and_a_file_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), vec![]);
    c.firewall.deny_countries = vec!["de".into(), "DEU".into()];
    let p = problems(&c, Environment::Dev).join("\n");
    assert!(p.contains("\"de\" is not an ISO 3166-1"), "{p}");
    assert!(p.contains("\"DEU\" is not an ISO 3166-1"), "{p}");
    assert!(p.contains("need firewall.geoip_database"), "{p}");

    let not_a_db = dir.path().join("not.mmdb");
    std::fs::write(&not_a_db, b"not a database").unwrap();
    c.firewall.deny_countries = vec!["DE".into()];
    c.firewall.geoip_database = Some(not_a_db);
    let p = problems(&c, Environment::Dev).join("\n");
    assert!(p.contains("not a readable MaxMind database"), "{p}");

    if let Some(db) = country_database(dir.path()) {
        c.firewall.geoip_database = Some(db);
        let p = problems(&c, Environment::Dev);
        assert!(!p.iter().any(|l| l.contains("firewall")), "{p:?}");
    }
}
