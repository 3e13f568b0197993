//! A SOC 2 Trust Services Criteria evidence map for CC6 (logical and physical access) and CC7
//! (system operations): the criterion ids only, described in our own words, each with the
//! evidence Palisade can show. It is an evidence map for an auditor to use, never an
//! attestation: only a licensed CPA firm's examination is that.

use super::checks::{Check, Findings};
use super::{Group, group};
use Check::*;

/// The report's title.
pub const TITLE: &str =
    "SOC 2 Trust Services Criteria evidence map (CC6, CC7) — an evidence map, not an attestation";

/// (group, id, our description, checks; none: not assessed by Palisade).
type Row = (&'static str, &'static str, &'static str, &'static [Check]);

const CRITERIA: &[Row] = &[
    (
        "CC6",
        "CC6.1",
        "Access to protected information is restricted: authentication on every route, permissions, encrypted secrets, MFA for administrators.",
        &[
            OpenRoutes,
            AccessEnforcement,
            AdminMfa,
            PasswordLength,
            PasswordHashing,
            SecretEncryption,
        ],
    ),
    (
        "CC6",
        "CC6.2",
        "Accounts are registered, authorized and removed through a managed, recorded process.",
        &[AccountManagement],
    ),
    (
        "CC6",
        "CC6.3",
        "Access is granted by role and tenant, least privilege, and changed when roles change.",
        &[AccessEnforcement, Tenancy],
    ),
    (
        "CC6",
        "CC6.4",
        "Physical access to facilities and media is restricted.",
        &[],
    ),
    (
        "CC6",
        "CC6.5",
        "Data and media are disposed of when no longer needed.",
        &[],
    ),
    (
        "CC6",
        "CC6.6",
        "Threats from outside the boundary are kept out: TLS, brute-force defense, rate limits, API key hygiene.",
        &[Transport, Hsts, BruteForce, RateLimits, KeyAges],
    ),
    (
        "CC6",
        "CC6.7",
        "Information in transit and leaving the system (logs) is protected: TLS, HSTS, redaction of personal data.",
        &[Transport, Hsts, LogRedaction],
    ),
    (
        "CC6",
        "CC6.8",
        "Malicious input is detected and stopped before it reaches the application.",
        &[InputInspection, CanonicalPaths, IdentityHeaders],
    ),
    (
        "CC7",
        "CC7.1",
        "Configuration and vulnerabilities are watched for changes that introduce weaknesses.",
        &[],
    ),
    (
        "CC7",
        "CC7.2",
        "The system is monitored for anomalies: security events recorded, tamper-evident and kept.",
        &[AuditLogging, AuditSigned, AuditRetention, Alerting],
    ),
    (
        "CC7",
        "CC7.3",
        "Security events are evaluated to decide whether they are incidents.",
        &[Alerting],
    ),
    (
        "CC7",
        "CC7.4",
        "Incidents are responded to: containment (blocks, revocations) and communication.",
        &[Alerting, SessionTermination],
    ),
    (
        "CC7",
        "CC7.5",
        "The organisation recovers from incidents.",
        &[Resilience],
    ),
];

/// The report's groups: CC6 and CC7.
pub fn groups(findings: &Findings) -> Vec<Group> {
    [
        ("CC6", "Logical and physical access controls"),
        ("CC7", "System operations"),
    ]
    .iter()
    .map(|(id, title)| {
        let controls = CRITERIA
            .iter()
            .filter(|(g, ..)| g == id)
            .map(|(_, cid, text, checks)| {
                findings.control(
                    cid,
                    text,
                    checks,
                    "Not assessed by Palisade: evidence comes from the organisation's own controls.",
                )
            })
            .collect();
        group(id, title, controls)
    })
    .collect()
}
