//! `palisade compliance report`: the compliance evidence report, drawn by the use case
//! `GET /admin/compliance/report` shares (`palisade_gateway::compliance::report`), on the
//! record as `compliance.report_generated` by `cli`.

use super::*;
use palisade_gateway::compliance::render::{Format, render};
use palisade_gateway::compliance::{Request, Standard, report};

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Print the compliance evidence report of this configuration and store: each control's
    /// status (met, partial, not_met, not_applicable, not_assessed), its evidence, the tests
    /// that prove the mechanism and what to change; a score per chapter, family or criterion
    /// group. An evidence map, never an attestation.
    Report {
        /// The standard.
        #[arg(long, value_parser = ["asvs-5.0-l2", "nist-800-53-moderate", "soc2-tsc"])]
        standard: String,
        /// The output format.
        #[arg(long, default_value = "json", value_parser = ["json", "markdown", "html"])]
        format: String,
        /// The OWASP ASVS 5.0.0 catalogue (asvs_5.0.0_selected.json) [default:
        /// compliance.asvs_catalogue].
        #[arg(long, value_name = "FILE")]
        catalogue: Option<PathBuf>,
    },
}

impl Admin {
    pub async fn compliance(&self, cmd: ComplianceCommand) -> Result<()> {
        let ComplianceCommand::Report {
            standard,
            format,
            catalogue,
        } = cmd;
        let standard =
            Standard::parse(&standard).ok_or_else(|| anyhow!("unknown standard {standard}"))?;
        let format = Format::parse(&format).ok_or_else(|| anyhow!("unknown format {format}"))?;
        let by = self.acting().await?;
        let req = Request {
            standard,
            config: &self.config,
            catalogue,
            now_ms: now_ms() as i64,
        };
        let drawn = report(
            req,
            self.identity.store.as_ref(),
            &self.identity.audit,
            &by.actor,
            by.origin,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        print!("{}", render(&drawn, format));
        Ok(())
    }
}
