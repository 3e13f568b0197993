//! The compliance evidence report: OWASP ASVS 5.0 level 2, NIST SP 800-53 (moderate baseline)
//! or a SOC 2 Trust Services Criteria evidence map (CC6, CC7), drawn from the loaded
//! configuration and live state read through the store.
//!
//! [`report`] is the one use case (`GET /admin/compliance/report` and `palisade compliance
//! report` both call it, and it records `compliance.report_generated`). [`facts`] reads what is
//! measured, [`checks`] judges it (one finding per mechanism, with the tests that prove the
//! mechanism), [`asvs`], [`nist`] and [`soc2`] say which findings answer which control, and
//! [`render`] writes markdown and HTML. Guarantees: a control's status is never better than its
//! worst finding; a requirement Palisade has no check for is `not_assessed`, never `met`; every
//! output carries its notice (an evidence map, never an attestation) and, for ASVS, the
//! catalogue's attribution.

pub mod asvs;
pub mod checks;
pub mod facts;
pub mod nist;
pub mod render;
pub mod soc2;

use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::Config;
use palisade_store::Store;
use serde::Serialize;
use std::path::PathBuf;

/// Which standard a report measures against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    /// OWASP ASVS 5.0.0, requirements of level 1 and 2.
    AsvsL2,
    /// NIST SP 800-53 rev. 5, controls of the moderate baseline.
    Nist80053Moderate,
    /// AICPA Trust Services Criteria CC6 and CC7, as an evidence map.
    Soc2Tsc,
}

impl Standard {
    /// Every standard, in the order help texts list them.
    pub const ALL: [Standard; 3] = [
        Standard::AsvsL2,
        Standard::Nist80053Moderate,
        Standard::Soc2Tsc,
    ];

    /// The spelling of `--standard` and `?standard=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Standard::AsvsL2 => "asvs-5.0-l2",
            Standard::Nist80053Moderate => "nist-800-53-moderate",
            Standard::Soc2Tsc => "soc2-tsc",
        }
    }

    /// The standard spelled `s`.
    pub fn parse(s: &str) -> Option<Standard> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How far a control is met by what Palisade measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The evidence shows it met.
    Met,
    /// Part of it is met; the remediation says what is missing.
    Partial,
    /// The evidence shows it not met.
    NotMet,
    /// It does not apply to this deployment (e.g. no routes to inspect).
    NotApplicable,
    /// Palisade does not assess it: it is the deployment's or the organisation's to show.
    NotAssessed,
}

impl Status {
    /// The JSON spelling, also used in markdown and HTML.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Partial => "partial",
            Status::NotMet => "not_met",
            Status::NotApplicable => "not_applicable",
            Status::NotAssessed => "not_assessed",
        }
    }
}

/// One configuration key or piece of state read, and its value as a person reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// A config key (`auth.brute_force.enabled`) or a state name (`store.api_keys.active`).
    pub key: String,
    /// Its value.
    pub value: String,
}

/// One control, requirement or criterion, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    /// `V6.3.1`, `AC-7`, `CC6.1`.
    pub id: String,
    /// What it asks, in the catalogue's words (ASVS) or ours (NIST, SOC 2).
    pub title: String,
    /// The verdict.
    pub status: Status,
    /// What was read.
    pub evidence: Vec<Evidence>,
    /// Tests of this repository that prove the mechanism, as `path::name`.
    pub tests: Vec<String>,
    /// What to change to meet it; `None` when met or not applicable.
    pub remediation: Option<String>,
}

/// How a group of controls fares.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    /// Controls met.
    pub met: u32,
    /// Controls partly met.
    pub partial: u32,
    /// Controls not met.
    pub not_met: u32,
    /// Controls that do not apply.
    pub not_applicable: u32,
    /// Controls Palisade does not assess.
    pub not_assessed: u32,
    /// (met + partial / 2) / (met + partial + not_met), in percent rounded to one decimal;
    /// `None` when nothing in the group was assessed.
    pub percent: Option<f64>,
}

impl Score {
    fn of<'a>(controls: impl IntoIterator<Item = &'a Control>) -> Score {
        let mut s = Score::default();
        for c in controls {
            *match c.status {
                Status::Met => &mut s.met,
                Status::Partial => &mut s.partial,
                Status::NotMet => &mut s.not_met,
                Status::NotApplicable => &mut s.not_applicable,
                Status::NotAssessed => &mut s.not_assessed,
            } += 1;
        }
        let judged = s.met + s.partial + s.not_met;
        s.percent = (judged > 0).then(|| {
            let points = f64::from(s.met) + f64::from(s.partial) / 2.0;
            (points * 1000.0 / f64::from(judged)).round() / 10.0
        });
        s
    }
}

/// A chapter (ASVS), a family (NIST) or a criterion group (SOC 2), with its score.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// `V6`, `AC`, `CC6`.
    pub id: String,
    /// Its name.
    pub title: String,
    /// How its controls fare.
    pub score: Score,
    /// Its controls, in catalogue order.
    pub controls: Vec<Control>,
}

/// A chapter of the standard that the catalogue in use does not hold.
#[derive(Debug, Clone, Serialize)]
pub struct Absent {
    /// `V3`.
    pub id: String,
    /// Its name.
    pub title: String,
    /// Always "not in this catalogue".
    pub note: &'static str,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `asvs-5.0-l2`, `nist-800-53-moderate` or `soc2-tsc`.
    pub standard: &'static str,
    /// The standard's full name.
    pub title: String,
    /// When it was drawn, RFC 3339 UTC.
    pub generated_at: String,
    /// What this document is and is not (never an attestation).
    pub notice: &'static str,
    /// The catalogue's source and licence (ASVS), `None` for catalogues in our own words.
    pub attribution: Option<String>,
    /// Every group's score together.
    pub summary: Score,
    /// The groups in catalogue order.
    pub groups: Vec<Group>,
    /// Chapters of the standard that the catalogue in use does not hold.
    pub not_in_catalogue: Vec<Absent>,
}

/// What every report says it is.
pub const NOTICE: &str = "An evidence map drawn by Palisade from its running configuration and \
    stored state, for auditors and the team to review. It is not an attestation, a \
    certification or an audit opinion; controls marked not_assessed are outside what Palisade \
    can see.";

/// Why no report was made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The ASVS catalogue could not be read or is not the expected file.
    #[error("{0}")]
    Catalogue(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] palisade_store::StoreError),
}

/// What a report is drawn from.
pub struct Request<'a> {
    /// The standard.
    pub standard: Standard,
    /// The loaded configuration.
    pub config: &'a Config,
    /// The ASVS catalogue to read instead of `compliance.asvs_catalogue`.
    pub catalogue: Option<PathBuf>,
    /// Now, Unix milliseconds (from the gateway's clock).
    pub now_ms: i64,
}

/// Draws the report for `req` from the configuration and the store, and records
/// `compliance.report_generated` (the standard and the summary) by `actor` from `origin`.
pub async fn report(
    req: Request<'_>,
    store: &dyn Store,
    audit: &AuditLog,
    actor: &str,
    origin: &RequestOrigin,
) -> Result<Report, ReportError> {
    let catalogue = match req.standard {
        Standard::AsvsL2 => Some(asvs::Catalogue::read(
            req.catalogue
                .as_deref()
                .unwrap_or(&req.config.compliance.asvs_catalogue),
        )?),
        _ => None,
    };
    let facts = facts::Facts::gather(req.config, store, req.now_ms).await?;
    let findings = checks::Findings::judge(&facts);
    let (title, attribution, groups, not_in_catalogue) = match (req.standard, catalogue) {
        (Standard::AsvsL2, Some(cat)) => {
            let (groups, absent) = cat.controls(&findings);
            (cat.title(), Some(cat.attribution()), groups, absent)
        }
        (Standard::Soc2Tsc, _) => (soc2::TITLE.into(), None, soc2::groups(&findings), vec![]),
        _ => (nist::TITLE.into(), None, nist::groups(&findings), vec![]),
    };
    let report = Report {
        standard: req.standard.as_str(),
        title,
        generated_at: rfc3339(req.now_ms),
        notice: NOTICE,
        attribution,
        summary: Score::of(groups.iter().flat_map(|g| &g.controls)),
        groups,
        not_in_catalogue,
    };
    audit.record(
        AuditEvent::new("compliance.report_generated", Risk::Low, Outcome::Success)
            .origin(origin)
            .actor(actor)
            .resource(format!("compliance:{}", report.standard))
            .details(serde_json::json!({ "summary": report.summary })),
    );
    Ok(report)
}

/// A group of controls with its score.
fn group(id: &str, title: &str, controls: Vec<Control>) -> Group {
    Group {
        id: id.into(),
        title: title.into(),
        score: Score::of(&controls),
        controls,
    }
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
