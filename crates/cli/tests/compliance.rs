//! `palisade compliance report` as an operator runs it: every standard and format from the
//! configuration file and the store the gateway uses, the ASVS catalogue read in place from
//! `../shared` (or a clear failure naming the path and the source), a configuration change
//! showing in the verdict, and each report on record in the trail.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd.output().unwrap()
}

/// `compliance report` with `args` on the config in `dir`; its stdout (exit 0 expected).
fn report(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["compliance", "report", "--config", "palisade.toml"];
    all.extend_from_slice(args);
    let out = run(dir, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const CONFIG: &str = "[server]\ndata_dir = \"data\"\nbehind_tls_proxy = true\n\
    [auth.mfa]\nrequired_roles = [\"owner\", \"admin\"]\n";

#[test]
fn every_standard_and_format_from_the_config_and_store_on_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("palisade.toml"), CONFIG).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&report(d, &["--standard", "nist-800-53-moderate"])).unwrap();
    assert_eq!(json["standard"], "nist-800-53-moderate");
    assert_eq!(
        json["groups"].as_array().unwrap().len(),
        7,
        "AC AU CP IA IR SC SI"
    );
    assert!(
        json["summary"]["met"].as_u64().unwrap() > 10,
        "{}",
        json["summary"]
    );

    let md = report(
        d,
        &["--standard", "nist-800-53-moderate", "--format", "markdown"],
    );
    assert!(md.starts_with("# NIST SP 800-53"), "{md}");
    assert!(md.contains("| AC-7 | met |") && md.contains("## AU Audit and Accountability"));
    assert!(
        md.contains("| IA-5 | met |") && md.contains("| IA-2(1) | met |"),
        "{md}"
    );

    let html = report(d, &["--standard", "soc2-tsc", "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("CC7.2"));
    assert!(html.contains("evidence map, not an attestation"));
    assert!(!html.contains("<script") && !html.contains("src="));

    // The configuration changes, the verdict follows.
    std::fs::write(
        d.join("palisade.toml"),
        format!("{CONFIG}[password]\nmin_length = 8\n"),
    )
    .unwrap();
    let weaker = report(
        d,
        &["--standard", "nist-800-53-moderate", "--format", "markdown"],
    );
    assert!(weaker.contains("| IA-5 | not_met |"), "{weaker}");

    // Without the catalogue the ASVS report fails, naming the path and the source.
    let out = run(
        d,
        &[
            "compliance",
            "report",
            "--config",
            "palisade.toml",
            "--standard",
            "asvs-5.0-l2",
            "--catalogue",
            "missing/asvs.json",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing/asvs.json") && err.contains("https://github.com/OWASP/ASVS"));

    let unknown = run(d, &["compliance", "report", "--standard", "iso-27001"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nist-800-53-moderate"));

    let trail = run(
        d,
        &[
            "audit",
            "query",
            "--config",
            "palisade.toml",
            "--type",
            "compliance.report_generated",
        ],
    );
    let lines = String::from_utf8_lossy(&trail.stdout).lines().count();
    assert_eq!(lines, 4, "one event per report drawn, by cli");
    assert!(String::from_utf8_lossy(&trail.stdout).contains("\"actor\":\"cli\""));
    let verify = run(d, &["audit", "verify", "--config", "palisade.toml"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn the_asvs_report_reads_the_shared_catalogue_in_every_format() {
    let Some(catalogue) =
        palisade_gateway::compliance::asvs::shared_catalogue(Path::new(env!("CARGO_MANIFEST_DIR")))
    else {
        eprintln!("skipped: no shared/data/asvs/asvs_5.0.0_selected.json above the checkout");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("palisade.toml"), CONFIG).unwrap();
    let path = catalogue.to_str().unwrap();
    for format in ["json", "markdown", "html"] {
        let text = report(
            d,
            &[
                "--standard",
                "asvs-5.0-l2",
                "--format",
                format,
                "--catalogue",
                path,
            ],
        );
        assert!(text.contains("CC BY-SA 4.0"), "{format}: attribution");
        assert!(text.contains("not in this catalogue"), "{format}");
        assert!(text.contains("V6.2.1"), "{format}");
    }
}
