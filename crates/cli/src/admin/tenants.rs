//! `palisade tenant …`: tenants and their members.

use super::*;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (its id appears in paths such as /graphs/{id}/).
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Members of the parent reach this tenant unless they are members here too.
        #[arg(long)]
        parent: Option<String>,
    },
    /// List tenants.
    List,
    /// Delete a tenant and its memberships.
    Delete { id: String },
    /// Give a user a role in a tenant (replacing any role they had there).
    SetMember {
        #[arg(long)]
        id: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Remove a user from a tenant.
    RemoveMember {
        #[arg(long)]
        id: String,
        #[arg(long)]
        email: String,
    },
    /// List a tenant's members.
    Members { id: String },
}

impl Admin {
    pub async fn tenant(&self, cmd: TenantCommand) -> Result<()> {
        let store = &self.identity.store;
        match cmd {
            TenantCommand::Add { id, name, parent } => {
                let by = self.acting().await?;
                let tenant = palisade_gateway::identity::manage::NewTenant {
                    id: &id,
                    name: &name,
                    parent: parent.as_deref(),
                };
                self.identity
                    .create_tenant(tenant, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("created tenant {id}");
            }
            TenantCommand::List => {
                for t in store.tenants_list().await? {
                    let parent = t
                        .parent_id
                        .map(|p| format!(" (in {p})"))
                        .unwrap_or_default();
                    println!("{}  {}{parent}", t.id, t.name);
                }
            }
            TenantCommand::Delete { id } => {
                let by = self.acting().await?;
                let deleted = self
                    .identity
                    .delete_tenant(&id, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                if !deleted {
                    bail!("no tenant {id}");
                }
                println!("deleted tenant {id}");
            }
            TenantCommand::SetMember { id, email, role } => {
                let user = self.find_user(&email).await?;
                let roles = palisade_gateway::authz::compile(&self.config)
                    .map_err(|p| anyhow!("the policy has problems: {}", p.join("; ")))?;
                if !roles.matrix().has_role(&role) {
                    bail!("no role {role:?}");
                }
                if store.tenant_get(&id).await?.is_none() {
                    bail!("no tenant {id}");
                }
                let by = self.acting().await?;
                self.identity
                    .set_member(&id, user.id, &role, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("{} is {role} in {id}", user.email);
            }
            TenantCommand::RemoveMember { id, email } => {
                let user = self.find_user(&email).await?;
                let by = self.acting().await?;
                let removed = self
                    .identity
                    .remove_link(&id, user.id, TenantLink::Membership, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                if !removed {
                    bail!("{} is not a member of {id}", user.email);
                }
                println!("removed {} from {id}", user.email);
            }
            TenantCommand::Members { id } => {
                for m in store
                    .memberships_list()
                    .await?
                    .iter()
                    .filter(|m| m.tenant_id == id)
                {
                    println!("{}  {}", m.user_id, m.role);
                }
            }
        }
        Ok(())
    }
}
