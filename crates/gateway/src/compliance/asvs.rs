//! OWASP ASVS 5.0.0, level 2: the requirements are read at report time from the catalogue file
//! (`asvs_5.0.0_selected.json`, CC BY-SA 4.0 — never copied into this repository); which of
//! our checks answers which requirement is [`MAPPING`], in our code. A level 1 or 2 requirement
//! of the file without a check is `not_assessed`; an ASVS 5.0 chapter the file does not hold
//! is listed as "not in this catalogue". Every report carries the catalogue's attribution.

use super::checks::{Check, Findings};
use super::{Absent, Control, Group, ReportError, group};
use Check::*;
use serde::Deserialize;
use std::path::Path;

/// Where the catalogue comes from (named when it cannot be read).
pub const SOURCE: &str = "OWASP Application Security Verification Standard 5.0.0, \
    https://github.com/OWASP/ASVS (5.0/docs_en/OWASP_Application_Security_Verification_Standard_5.0.0_en.csv)";

/// The chapters of ASVS 5.0.0, to name those a catalogue file leaves out.
const CHAPTERS: &[(&str, &str)] = &[
    ("V1", "Encoding and Sanitization"),
    ("V2", "Validation and Business Logic"),
    ("V3", "Web Frontend Security"),
    ("V4", "API and Web Service"),
    ("V5", "File Handling"),
    ("V6", "Authentication"),
    ("V7", "Session Management"),
    ("V8", "Authorization"),
    ("V9", "Self-contained Tokens"),
    ("V10", "OAuth and OIDC"),
    ("V11", "Cryptography"),
    ("V12", "Secure Communication"),
    ("V13", "Configuration"),
    ("V14", "Data Protection"),
    ("V15", "Secure Coding and Architecture"),
    ("V16", "Security Logging and Error Handling"),
    ("V17", "WebRTC"),
];

/// Requirement id → the checks that answer it. Others in the file are `not_assessed`.
pub const MAPPING: &[(&str, &[Check])] = &[
    ("V1.1.1", &[CanonicalPaths]),
    ("V2.4.1", &[RateLimits]),
    ("V4.1.3", &[IdentityHeaders]),
    ("V6.1.1", &[BruteForce, RateLimits]),
    ("V6.2.1", &[PasswordLength]),
    ("V6.2.4", &[PasswordCommon]),
    ("V6.2.9", &[PasswordMaxLength]),
    ("V6.3.1", &[BruteForce]),
    ("V7.2.1", &[TokenSigning]),
    ("V7.3.2", &[SessionLifetime]),
    ("V7.4.1", &[SessionTermination]),
    ("V7.4.2", &[SessionTermination]),
    ("V7.4.5", &[SessionTermination]),
    ("V8.2.1", &[AccessEnforcement, OpenRoutes]),
    ("V8.3.1", &[AccessEnforcement]),
    ("V8.4.1", &[Tenancy]),
    ("V9.1.1", &[TokenSigning]),
    ("V9.1.2", &[TokenSigning]),
    ("V11.4.2", &[PasswordHashing]),
    ("V16.2.5", &[LogRedaction]),
    ("V16.3.1", &[AuditLogging]),
    ("V16.3.2", &[AuditLogging]),
    ("V16.4.2", &[AuditSigned, AuditRetention]),
    ("V16.5.1", &[ErrorSanitize]),
    ("V16.5.2", &[Resilience]),
    ("V16.5.3", &[SessionTermination]),
];

#[derive(Deserialize)]
struct Requirement {
    chapter_id: String,
    chapter_name: String,
    req_id: String,
    req_description: String,
    #[serde(rename = "L")]
    level: String,
}

#[derive(Deserialize)]
struct File {
    standard: String,
    license: String,
    requirements: Vec<Requirement>,
}

/// The catalogue as read.
pub struct Catalogue {
    standard: String,
    license: String,
    requirements: Vec<Requirement>,
}

impl Catalogue {
    /// Reads and checks the catalogue at `path`; the error names the path and the source.
    pub fn read(path: &Path) -> Result<Catalogue, ReportError> {
        let fail = |why: String| {
            ReportError::Catalogue(format!(
                "the ASVS catalogue {}: {why}. Give the path of asvs_5.0.0_selected.json \
                 (--catalogue PATH or compliance.asvs_catalogue); its requirements come from \
                 {SOURCE}, licensed CC BY-SA 4.0.",
                path.display()
            ))
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| fail(format!("not the expected JSON ({e})")))?;
        if !file.standard.starts_with("OWASP ASVS 5.0") {
            return Err(fail(format!(
                "it holds {:?}, not OWASP ASVS 5.0",
                file.standard
            )));
        }
        Ok(Catalogue {
            standard: file.standard,
            license: file.license,
            requirements: file.requirements,
        })
    }

    /// The report's title.
    pub fn title(&self) -> String {
        format!(
            "{}, level 2 (requirements of levels 1 and 2)",
            self.standard
        )
    }

    /// The attribution every output carries.
    pub fn attribution(&self) -> String {
        format!(
            "Requirement texts: {SOURCE}. Copyright The OWASP Foundation, licensed {} \
             (https://creativecommons.org/licenses/by-sa/4.0/); quoted unchanged. The status, \
             evidence and mapping are Palisade's.",
            self.license
        )
    }

    /// The chapters of the file with their level 1 and 2 requirements judged, in the file's
    /// order; and the ASVS chapters the file does not hold.
    pub fn controls(&self, findings: &Findings) -> (Vec<Group>, Vec<Absent>) {
        let mut chapters: Vec<(String, String, Vec<Control>)> = Vec::new();
        for r in &self.requirements {
            if !r.level.trim().parse::<u8>().is_ok_and(|l| l <= 2) {
                continue;
            }
            let checks = MAPPING
                .iter()
                .find(|(id, _)| *id == r.req_id)
                .map_or(&[][..], |(_, c)| c);
            let control = findings.control(
                &r.req_id,
                &r.req_description,
                checks,
                "Not assessed by Palisade: verify it in the application behind the gateway.",
            );
            match chapters.iter_mut().find(|(id, ..)| *id == r.chapter_id) {
                Some((.., list)) => list.push(control),
                None => {
                    chapters.push((r.chapter_id.clone(), r.chapter_name.clone(), vec![control]))
                }
            }
        }
        let absent = CHAPTERS
            .iter()
            .filter(|(id, _)| !chapters.iter().any(|(c, ..)| c == id))
            .map(|(id, title)| Absent {
                id: id.to_string(),
                title: title.to_string(),
                note: "not in this catalogue",
            })
            .collect();
        chapters.sort_by_key(|(id, ..)| id.trim_start_matches('V').parse::<u32>().unwrap_or(0));
        let groups = chapters
            .into_iter()
            .map(|(id, title, controls)| group(&id, &title, controls))
            .collect();
        (groups, absent)
    }
}

/// For tests: the catalogue in a `shared/data/asvs` folder beside one of `start`'s ancestors
/// (the checkout's `../shared`), read in place.
#[doc(hidden)]
pub fn shared_catalogue(start: &Path) -> Option<std::path::PathBuf> {
    start
        .ancestors()
        .map(|a| a.join("shared/data/asvs/asvs_5.0.0_selected.json"))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every requirement id of the mapping is a level 1 or 2 requirement of the catalogue, when
    /// the catalogue is at hand (../shared/data/asvs, read in place, never copied).
    #[test]
    fn every_mapped_requirement_is_in_the_catalogue() {
        let Some(path) = shared_catalogue(Path::new(env!("CARGO_MANIFEST_DIR"))) else {
            eprintln!("skipped: no shared/data/asvs/asvs_5.0.0_selected.json above the checkout");
            return;
        };
        let cat = Catalogue::read(&path).unwrap();
        for (id, _) in MAPPING {
            let r = cat.requirements.iter().find(|r| r.req_id == *id);
            assert!(r.is_some_and(|r| r.level.trim() != "3"), "{id}");
        }
    }

    #[test]
    fn a_missing_catalogue_names_the_path_and_the_source() {
        let Err(e) = Catalogue::read(Path::new("/nowhere/asvs_5.0.0_selected.json")) else {
            panic!("read a file that is not there");
        };
        let text = e.to_string();
        assert!(text.contains("/nowhere/asvs_5.0.0_selected.json"), "{text}");
        assert!(text.contains("https://github.com/OWASP/ASVS"), "{text}");
    }
}
