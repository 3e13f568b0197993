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

impl Admin {
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
