//! `palisade ip …`: IP blocks.

use super::*;

#[derive(Debug, Subcommand)]
pub enum IpCommand {
    /// Lift a brute-force block on an address.
    Unblock { ip: std::net::IpAddr },
}

impl Admin {
    pub async fn ip(&self, cmd: IpCommand) -> Result<()> {
        match cmd {
            IpCommand::Unblock { ip } => {
                // The record goes (and, on a shared hot state, the block at once); a running
                // embedded gateway lifts it from its memory through the hand-off.
                let by = self.acting().await?;
                // Handed over either way: a running embedded gateway may hold the block in memory.
                self.identity
                    .unblock_ip(ip, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                queue_handoff(
                    self.identity.store.as_ref(),
                    Action::Unblock { ip: ip.to_string() },
                    now_ms(),
                )
                .await?;
                println!("unblock of {ip} handed to the running gateway (applied within 10 s)");
            }
        }
        Ok(())
    }
}
