//! NIST SP 800-53 rev. 5, moderate baseline: the controls Palisade has evidence for, and a few
//! it cannot see (listed `not_assessed`), grouped by family. The control ids are NIST's (the
//! catalogue is in the public domain); the descriptions are our own short wording.

use super::checks::{Check, Findings};
use super::{Group, group};
use Check::*;

/// The report's title.
pub const TITLE: &str = "NIST SP 800-53 rev. 5, moderate baseline (controls Palisade evidences)";

/// Families in report order: (id, name).
const FAMILIES: &[(&str, &str)] = &[
    ("AC", "Access Control"),
    ("AU", "Audit and Accountability"),
    ("CP", "Contingency Planning"),
    ("IA", "Identification and Authentication"),
    ("IR", "Incident Response"),
    ("SC", "System and Communications Protection"),
    ("SI", "System and Information Integrity"),
];

/// (id, our description, the checks that answer it; none: not assessed by Palisade).
type Row = (&'static str, &'static str, &'static [Check]);

const CONTROLS: &[Row] = &[
    (
        "AC-2",
        "Accounts are created, changed, disabled and reviewed through a managed, recorded process.",
        &[AccountManagement],
    ),
    (
        "AC-3",
        "Every request is allowed only by an explicit rule: permissions per route and on the admin API.",
        &[AccessEnforcement, OpenRoutes],
    ),
    (
        "AC-4",
        "Information flows between tenants are kept apart.",
        &[Tenancy],
    ),
    (
        "AC-6",
        "Least privilege: roles grant only what they name; administration needs admin permissions.",
        &[AccessEnforcement],
    ),
    (
        "AC-7",
        "Consecutive failed sign-ins are slowed down and the source is blocked.",
        &[BruteForce],
    ),
    (
        "AC-12",
        "Sessions end after a set lifetime and can be ended at once.",
        &[SessionLifetime, SessionTermination],
    ),
    (
        "AU-2",
        "Security-relevant events are defined and recorded.",
        &[AuditLogging],
    ),
    (
        "AU-3",
        "Audit records say what, when, where, who and with what outcome, without personal data in the clear.",
        &[AuditLogging, LogRedaction],
    ),
    (
        "AU-6",
        "Audit records are reviewed and anomalies reported.",
        &[Alerting],
    ),
    (
        "AU-9",
        "Audit records are protected from change and deletion (hash chain, signed checkpoints).",
        &[AuditSigned],
    ),
    (
        "AU-11",
        "Audit records are kept for the period the organisation requires.",
        &[AuditRetention],
    ),
    (
        "CP-9",
        "System backups are taken, protected and tested.",
        &[],
    ),
    (
        "IA-2",
        "Users are identified and authenticated before they reach protected resources.",
        &[OpenRoutes, TokenSigning],
    ),
    (
        "IA-2(1)",
        "Privileged accounts sign in with more than one factor.",
        &[AdminMfa],
    ),
    (
        "IA-5",
        "Authenticators are managed: password rules, common passwords refused, key ages bounded.",
        &[PasswordLength, PasswordMaxLength, PasswordCommon, KeyAges],
    ),
    (
        "IA-5(1)",
        "Passwords are stored only as salted, slow, approved hashes.",
        &[PasswordHashing],
    ),
    (
        "IR-4",
        "Incidents are handled: prepared, detected, contained, recovered.",
        &[Alerting],
    ),
    (
        "IR-8",
        "An incident response plan exists and is kept current.",
        &[],
    ),
    (
        "SC-5",
        "The service resists denial of service: rate limits, load shedding, circuit breaking.",
        &[RateLimits, Resilience],
    ),
    (
        "SC-8",
        "Data in transit to clients is protected by TLS, with HSTS so browsers never fall back.",
        &[Transport, Hsts],
    ),
    (
        "SC-12",
        "Cryptographic keys are made, wrapped, rotated and retired under a master key.",
        &[SecretEncryption],
    ),
    (
        "SC-13",
        "Only approved cryptography is used for tokens and passwords.",
        &[TokenSigning, PasswordHashing],
    ),
    (
        "SC-23",
        "Session authenticity: tokens are signed, bound to their purpose and revocable.",
        &[TokenSigning, SessionTermination],
    ),
    (
        "SC-28",
        "Stored secrets and personal data are encrypted at rest.",
        &[SecretEncryption],
    ),
    (
        "SI-4",
        "The system is monitored for attacks and alerts are raised.",
        &[Alerting, AuditLogging],
    ),
    (
        "SI-10",
        "Input is checked: canonical paths, injection inspection of requests.",
        &[CanonicalPaths, InputInspection],
    ),
    (
        "SI-11",
        "Error messages reveal nothing an attacker could use.",
        &[ErrorSanitize],
    ),
];

/// The report's groups, one per family.
pub fn groups(findings: &Findings) -> Vec<super::Group> {
    FAMILIES
        .iter()
        .map(|(family, name)| {
            let controls = CONTROLS
                .iter()
                .filter(|(id, _, _)| id.split('-').next() == Some(family))
                .map(|(id, title, checks)| {
                    findings.control(
                        id,
                        title,
                        checks,
                        "Not assessed by Palisade: show it with the organisation's own records.",
                    )
                })
                .collect();
            group(family, name, controls)
        })
        .collect::<Vec<Group>>()
}
