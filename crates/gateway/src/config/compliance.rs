//! `[compliance]`: where the compliance evidence report finds the OWASP ASVS catalogue, and the
//! bars it measures live state against (API key age, audit retention of security events).
//!
//! Guarantees (`problems`, called by `config check` and at start): the catalogue path is set and
//! names a `.json` file, a key's maximum age is 1 day to 10 years, and the retention bar is 1 to
//! 3650 days. The catalogue itself is read only when an ASVS report is asked for.

use super::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Where packagers put the ASVS catalogue unless `compliance.asvs_catalogue` says otherwise.
pub const DEFAULT_ASVS_CATALOGUE: &str = "/usr/share/palisade/asvs/asvs_5.0.0_selected.json";

/// `[compliance]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceConfig {
    /// The OWASP ASVS 5.0.0 requirements file (`asvs_5.0.0_selected.json`, CC BY-SA 4.0), read
    /// at report time; `palisade compliance report --catalogue` overrides it.
    pub asvs_catalogue: PathBuf,
    /// An active API key older than this is reported (NIST IA-5, ASVS V11.1).
    pub max_key_age: HumanDuration,
    /// Days security-class audit events must be kept for retention controls to be met.
    pub min_security_retention_days: u32,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        Self {
            asvs_catalogue: PathBuf::from(DEFAULT_ASVS_CATALOGUE),
            max_key_age: HumanDuration(Duration::from_secs(90 * 86_400)),
            min_security_retention_days: 365,
        }
    }
}

impl ComplianceConfig {
    /// What is wrong with this section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.asvs_catalogue.extension().and_then(|e| e.to_str()) != Some("json") {
            out.push(format!(
                "compliance.asvs_catalogue {:?}: the path of asvs_5.0.0_selected.json (a .json file)",
                self.asvs_catalogue.display().to_string()
            ));
        }
        let age = self.max_key_age.0;
        if age < Duration::from_secs(86_400) || age > Duration::from_secs(3650 * 86_400) {
            out.push("compliance.max_key_age: 1 day to 10 years".into());
        }
        if !(1..=3650).contains(&self.min_security_retention_days) {
            out.push("compliance.min_security_retention_days: 1 to 3650".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_each_problem_names_its_key() {
        assert!(ComplianceConfig::default().problems().is_empty());
        let bad = ComplianceConfig {
            asvs_catalogue: PathBuf::from("asvs.csv"),
            max_key_age: HumanDuration(Duration::from_secs(60)),
            min_security_retention_days: 0,
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        for key in [
            "compliance.asvs_catalogue",
            "compliance.max_key_age",
            "compliance.min_security_retention_days",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key}: {problems:?}"
            );
        }
    }
}
