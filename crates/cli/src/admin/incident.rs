//! `palisade review access`: the access review, the function the scheduled review runs
//! (`Identity::access_review`), printed as text or JSON; on demand it records nothing.
//!
//! `palisade lockdown …`: locking the gateway down and lifting it, through the same use case as
//! `POST /admin/lockdown` and the alert action (recorded as `gateway.lockdown_on` /
//! `gateway.lockdown_off`). The state is written to the store and broadcast on the hot state:
//! replicas sharing it follow at once, any gateway within 10 s.

use super::*;

#[derive(Debug, Subcommand)]
pub enum LockdownCommand {
    /// Lock the gateway down: every request is refused (503) but administrators' sign-in, the
    /// admin API for administrators and the ops endpoints.
    On {
        /// Why, kept with the state and in the trail.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift the lockdown.
    Off {
        /// Why, kept with the state and in the trail.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print the stored state as JSON.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Accounts and API keys unused for `review.unused_days`, keys older than
    /// `review.key_max_age`, administrators without a second factor.
    Access {
        /// text or json.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
}

impl Admin {
    pub async fn review(&self, cmd: ReviewCommand) -> Result<()> {
        let ReviewCommand::Access { format } = cmd;
        let policy = palisade_gateway::authz::compile(&self.config)
            .map_err(|p| anyhow!("roles: {}", p.join("; ")))?;
        let is_admin = |roles: &[String]| roles.iter().any(|r| policy.matrix().is_admin_role(r));
        let review = self
            .identity
            .access_review(&self.config.review, &is_admin)
            .await?;
        if format == "json" {
            println!("{}", serde_json::to_string_pretty(&review)?);
        } else {
            print!("{}", review.to_text());
        }
        Ok(())
    }

    pub async fn lockdown(&self, cmd: LockdownCommand) -> Result<()> {
        let lockdown = &self.identity.lockdown;
        let (on, reason) = match cmd {
            LockdownCommand::Status => {
                println!("{}", serde_json::to_string_pretty(&lockdown.status())?);
                return Ok(());
            }
            LockdownCommand::On { reason } => (true, reason),
            LockdownCommand::Off { reason } => (false, reason),
        };
        let by = self.acting().await?;
        lockdown.set(on, reason, &by).await?;
        println!(
            "lockdown {}: replicas on a shared hot state follow at once, any gateway within {} s",
            if on { "on" } else { "off" },
            palisade_gateway::identity::lockdown::PROPAGATION_BOUND_SECS
        );
        Ok(())
    }
}
