//! `palisade policy check`: what the policy decides for one request.

use super::*;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide a request as an account or API key would make it, and say which rule and grant
    /// decided. Exits 0 when allowed, 1 when not.
    Check {
        /// An account's e-mail or an API key's id.
        #[arg(long = "as", value_name = "EMAIL|KEY_ID")]
        who: String,
        #[arg(long, default_value = "GET")]
        method: String,
        #[arg(long)]
        path: String,
    },
}

impl Admin {
    /// Returns whether the request is allowed.
    pub async fn policy(&self, cmd: PolicyCommand) -> Result<bool> {
        let PolicyCommand::Check { who, method, path } = cmd;
        let store = self.identity.store.clone();
        let policies = palisade_gateway::authz::compile(&self.config)
            .map_err(|p| anyhow!("the policy has problems:\n  - {}", p.join("\n  - ")))?;
        let tenants =
            Arc::new(palisade_gateway::authz::tenants::Tenants::load(store.clone()).await?);
        let authz = palisade_gateway::authz::Authorizer::new(
            policies,
            Arc::new(palisade_gateway::audit::AuditLog::default()),
            tenants,
        );
        let principal = palisade_gateway::authz::principal_for(store.as_ref(), &who)
            .await?
            .ok_or_else(|| anyhow!("no account or API key {who:?}"))?;
        let routes = palisade_gateway::route::table::RouteTable::from_config(&self.config)
            .map_err(|e| anyhow!("the routes have problems: {e}"))?;
        let decision = authz.explain(
            &routes,
            &self.config.server.path_policy(),
            None,
            &method.to_ascii_uppercase(),
            &path,
            Some(&principal),
        );
        let json = palisade_gateway::authz::decision_json(&decision);
        println!(
            "{} {} {}: {} (rule {}): {}",
            who,
            method.to_ascii_uppercase(),
            path,
            json["decision"].as_str().unwrap_or("?"),
            json["rule"].as_str().unwrap_or("?"),
            json["reason"].as_str().unwrap_or("")
        );
        Ok(json["decision"] == "allow")
    }
}
