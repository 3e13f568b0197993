//! `palisade init`: a commented starting config with fresh secrets, readable only by its owner.

use anyhow::{Context, Result};
use palisade_gateway::config::dev_secrets::generate;
use palisade_gateway::protect::files::write_private;
use std::path::Path;
use std::process::ExitCode;

const TEMPLATE: &str = include_str!("palisade.example.toml");

pub fn run(dir: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("palisade.toml");
    if path.exists() {
        anyhow::bail!(
            "{} already exists; move it away first (it may hold your secrets)",
            path.display()
        );
    }
    let text =
        TEMPLATE
            .replacen("@SIGNING_KEY@", &generate(), 1)
            .replacen("@COOKIE_KEY@", &generate(), 1);
    write_private(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {} (mode 0600) with freshly generated secrets",
        path.display()
    );
    println!(
        "next: edit its [[routes]], then `palisade serve --config {}`",
        path.display()
    );
    println!(
        "      `palisade config check --config {} --env production` lists what production still needs",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
