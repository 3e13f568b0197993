//! `palisade`: the command line of the Palisade security gateway.
#![forbid(unsafe_code)]

mod admin;
mod backup;
mod backup_pg;
mod fd_limit;
mod init;
mod secret;

/// mimalloc instead of glibc malloc: the proxy path allocates and frees a few dozen small objects
/// per request, and glibc's free-list consolidation showed up at ~10% of CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use palisade_gateway::config::checks;
use palisade_gateway::config::{Config, ConfigSource, Environment};
use palisade_gateway::{logging, server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Palisade: a security gateway for HTTP APIs.
///
/// Put Palisade in front of an API and it checks every request before the API sees it. Start
/// with `palisade serve`: with no configuration it runs in dev mode on 127.0.0.1:8080 with a
/// built-in demo upstream under /demo/. Then `palisade init` writes a commented palisade.toml to
/// edit, and `palisade config check --env production` tells you what a real deployment still
/// needs.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    ///
    /// Configuration comes from --config (or PALISADE_CONFIG), then PALISADE_SECTION__KEY
    /// environment variables (PALISADE_STORE__URL sets store.url), then these flags. Stop with
    /// Ctrl-C or SIGTERM: in-flight requests finish within server.shutdown_grace.
    Serve(ServeArgs),
    /// Write a commented palisade.toml with freshly generated secrets (file mode 0600).
    Init {
        /// Directory to write palisade.toml into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage accounts: add, list, disable, enable, set-role, import.
    User {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Manage API keys: create, list, revoke.
    Key {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::KeyCommand,
    },
    /// Manage token signing keys.
    Keys {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Manage tenants and their members (a running gateway sees changes within 10 s).
    Tenant {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::TenantCommand,
    },
    /// Explain authorization decisions.
    Policy {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::PolicyCommand,
    },
    /// The audit trail: verify its hash chain and checkpoints, query, export, purge.
    Audit {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::AuditCommand,
    },
    /// Retention (`[retention]`): run the job the gateway runs daily, now.
    Retention {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::RetentionCommand,
    },
    /// The secrets store: put, get, list, delete, undelete, import-fernet (master key from
    /// PALISADE_MASTER_KEY or PALISADE_MASTER_KEY_FILE).
    Secret {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: secret::SecretCommand,
    },
    /// Encrypted backups of the embedded store: create (while serving), verify, restore.
    Backup {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// The compliance evidence report (ASVS 5.0 L2, NIST 800-53 moderate, SOC 2 CC6/CC7).
    Compliance {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::ComplianceCommand,
    },
    /// Manage IP blocks placed by the brute-force defense.
    Ip {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::IpCommand,
    },
    /// Lock the gateway down (every request refused but administrators' sign-in, the admin API
    /// and the ops endpoints) or lift it; shared by every replica through the store.
    Lockdown {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::LockdownCommand,
    },
    /// Reviews: `review access` lists accounts and API keys unused for long, keys past their
    /// maximum age and administrators without a second factor (`[review]`).
    Review {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: admin::ReviewCommand,
    },
    /// Print a shell completion script for this command line to stdout.
    ///
    /// bash: `palisade completions bash > /usr/share/bash-completion/completions/palisade`;
    /// zsh: `palisade completions zsh > "${fpath[1]}/_palisade"`;
    /// fish: `palisade completions fish > ~/.config/fish/completions/palisade.fish`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page palisade(1) (roff) to stdout, or write one page per subcommand.
    ///
    /// `palisade man > palisade.1 && man -l palisade.1`; packagers:
    /// `palisade man --dir /usr/share/man/man1` writes palisade.1 and the palisade-*.1 pages
    /// its SUBCOMMANDS section names.
    Man {
        /// Write palisade.1 and a page for every subcommand into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where Palisade keeps its SQLite database and dev secrets [default: ./palisade-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Also start the built-in echo upstream behind /demo/ (on by default when no routes are configured).
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// TOML configuration file [env: PALISADE_CONFIG].
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// `dev` generates missing secrets and warns; `production` refuses weak or missing
    /// secrets, plaintext listeners, CORS `*` with credentials, debug logging and routes that
    /// do not say who may call them (`auth`, and `public = true` for `auth = "none"`).
    #[arg(long, value_enum, global = true)]
    env: Option<EnvArg>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration; exits non-zero and lists every problem `serve` would refuse to
    /// start on in that environment (configuration, production posture, references, master key
    /// file, dev secrets, JWKS files). Writes nothing.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Also connect to the configured store (PostgreSQL, or open the SQLite file read-only) and
    /// hot state (Redis), read secret:// references and check that the master key unwraps the
    /// keyring. Never creates or migrates a schema: a schema behind the binary is reported as
    /// what the next start will do.
    #[arg(long)]
    online: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EnvArg {
    Dev,
    Production,
}

impl From<EnvArg> for Environment {
    fn from(e: EnvArg) -> Self {
        match e {
            EnvArg::Dev => Environment::Dev,
            EnvArg::Production => Environment::Production,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Init { dir } => init::run(&dir),
        Command::Config(ConfigCommand::Check(args)) => config_check(args),
        Command::User { store, command } => {
            with_admin(store, |a| async move { a.user(command).await })
        }
        Command::Key { store, command } => {
            with_admin(store, |a| async move { a.key(command).await })
        }
        Command::Keys { store, command } => {
            with_admin(store, |a| async move { a.keys(command).await })
        }
        Command::Secret { store, command } => with_admin(store, |a| async move {
            a.data_protection().await?.secret(command).await
        }),
        Command::Ip { store, command } => with_admin(store, |a| async move { a.ip(command).await }),
        Command::Compliance { store, command } => {
            with_admin(store, |a| async move { a.compliance(command).await })
        }
        Command::Review { store, command } => {
            with_admin(store, |a| async move { a.review(command).await })
        }
        Command::Lockdown { store, command } => {
            with_admin(store, |a| async move { a.lockdown(command).await })
        }
        Command::Tenant { store, command } => {
            with_admin(store, |a| async move { a.tenant(command).await })
        }
        Command::Audit { store, command } => {
            judged(store, |a| async move { a.audit(command).await })
        }
        Command::Retention { store, command } => with_admin(store, |a| async move {
            let admin::RetentionCommand::Run { dry_run } = command;
            a.retention_run(dry_run).await
        }),
        Command::Policy { store, command } => {
            judged(store, |a| async move { a.policy(command).await })
        }
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man_page(dir.as_deref()),
        Command::Backup { store, command } => backup::run(store, command).map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palisade: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the completion script for `shell`, generated from the clap definition, to stdout.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "palisade", &mut script);
    print_bytes(&script).context("writing the completion script")
}

/// Writes `bytes` to stdout (a closed pipe is an error, not a panic).
fn print_bytes(bytes: &[u8]) -> std::io::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the manual page palisade(1), generated from the clap definition, to stdout; with
/// `dir`, writes it and one page per subcommand (palisade-serve.1, palisade-user-add.1, …) there.
fn man_page(dir: Option<&std::path::Path>) -> Result<ExitCode> {
    use clap::CommandFactory;
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(Cli::command(), dir)
            .with_context(|| format!("writing manual pages into {}", dir.display()))?;
        println!("manual pages written to {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = Vec::new();
    // As generate_to does: `help` has no page of its own to name.
    clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
        .render(&mut page)
        .context("rendering the manual page")?;
    print_bytes(&page).context("writing the manual page")
}

/// Runs an admin command whose answer is a verdict: exit 0 when it says yes.
fn judged<F, Fut>(store: admin::StoreArgs, run: F) -> Result<ExitCode>
where
    F: FnOnce(admin::Admin) -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let allowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = allowed.clone();
    let code = with_admin(store, |a| async move {
        let ok = run(a).await?;
        flag.store(ok, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })?;
    Ok(if allowed.load(std::sync::atomic::Ordering::Relaxed) {
        code
    } else {
        ExitCode::FAILURE
    })
}

fn load(source: &SourceArgs) -> Result<(Config, Environment, Option<PathBuf>)> {
    let (config, file) = Config::load(&ConfigSource {
        file: source.config.clone(),
        env: std::env::vars().collect(),
    })
    .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let env = source
        .env
        .map(Environment::from)
        .unwrap_or(config.server.env);
    Ok((config, env, file))
}

/// Runs an administration command against the configured store.
fn with_admin<F, Fut>(args: admin::StoreArgs, run: F) -> Result<ExitCode>
where
    F: FnOnce(admin::Admin) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let (mut config, env, _) = load(&args.source)?;
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let admin = admin::Admin::open(config, env).await?;
        let audit = admin.audit_log();
        let done = run(admin).await;
        // What the command recorded is committed before the process ends.
        if let Some(trail) = audit.trail() {
            trail.flush().await;
        }
        done
    })?;
    Ok(ExitCode::SUCCESS)
}

fn config_check(args: CheckArgs) -> Result<ExitCode> {
    let (config, env, file) = load(&args.source)?;
    let name = file.map_or_else(
        || "the defaults (no config file)".to_string(),
        |f| f.display().to_string(),
    );
    let env_name = match env {
        Environment::Dev => "dev",
        Environment::Production => "production",
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(palisade_gateway::config::preflight::check(
        &config,
        env,
        args.online,
        &|name| std::env::var(name).ok(),
    ));
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    if report.problems.is_empty() {
        println!(
            "{name}: OK for {env_name}{}",
            if args.online { " (online)" } else { "" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{name}: {} problem(s) for {env_name}:",
        report.problems.len()
    );
    for p in &report.problems {
        eprintln!("  - {p}");
    }
    Ok(ExitCode::FAILURE)
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let (mut config, env, file) = load(&args.source)?;
    let source = ConfigSource {
        file: file.clone(),
        env: std::env::vars().collect(),
    };
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    config.server.demo |= args.demo;
    logging::init(&config.log).map_err(anyhow::Error::msg)?;
    // Every connection is a file descriptor: the soft limit (often 1024) goes up to the hard one.
    match fd_limit::raise_to_hard() {
        Ok(r) => {
            tracing::debug!(before = ?r.before, after = ?r.after, "open-file limit (RLIMIT_NOFILE, soft; None = unlimited)")
        }
        Err(e) => tracing::warn!(
            "could not raise the open-file limit (RLIMIT_NOFILE) to the hard limit: {e}"
        ),
    }

    if let Err(problems) = secret::resolve_references(&mut config, env) {
        eprintln!(
            "palisade: refusing to start: configuration references:\n  - {}",
            problems.join("\n  - ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let config = match server::prepare(config, env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palisade: refusing to start: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if env == Environment::Dev {
        for warning in checks::dev_warnings(&config) {
            tracing::warn!("{warning}");
            eprintln!("WARNING: {warning}");
        }
    }
    // The control runtime runs the store, the demo upstream and signal handling; each serving
    // worker runs its own runtime (see palisade_gateway::server).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("palisade-control")
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    runtime.block_on(async move {
        let gateway = match server::start(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("palisade: cannot start: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        announce(&gateway, file.as_deref());
        *gateway
            .state
            .config_source
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = source;
        wait_for_signal(&gateway.state).await;
        eprintln!("palisade: shutting down; letting in-flight requests finish");
        gateway.shutdown();
        gateway.wait().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn announce(gateway: &server::RunningGateway, file: Option<&std::path::Path>) {
    let config = &gateway.state.config;
    let scheme = if config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{}", gateway.addr);
    println!("Palisade is listening on {base}");
    match file {
        Some(f) => println!("  config: {}", f.display()),
        None => {
            println!("  config: built-in defaults (run `palisade init` to write a palisade.toml)")
        }
    }
    println!(
        "  data:   {} (store: {})",
        config.server.data_dir.display(),
        gateway.state.store.backend()
    );
    for route in gateway.state.routes.iter() {
        let ups: Vec<String> = route.upstreams.iter().map(|u| u.to_string()).collect();
        println!("  route:  {} -> {}", route.prefix, ups.join(", "));
    }
    if gateway.demo_addr.is_some() {
        println!();
        println!("Try the demo (a built-in echo upstream behind /demo/):");
        println!("  curl -i {base}/demo/hello");
        println!(
            "  curl -s {base}/demo/hello -H 'X-User-Id: admin'     # spoofed identity is stripped"
        );
        println!(
            "  head -c 9000000 /dev/zero | curl -s {base}/demo/upload --data-binary @- -i   # 413 over 8 MiB"
        );
        println!("  curl -s {base}/healthz ; curl -s {base}/readyz");
        println!("  curl -s {base}/metrics | grep palisade_");
    }
    if let Some(r) = gateway.redirect_addr {
        println!("  redirecting http://{r} to HTTPS");
    }
}

/// Waits for SIGTERM or Ctrl-C; SIGHUP reloads roles and route policies meanwhile.
async fn wait_for_signal(state: &palisade_gateway::state::AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut hup)) => loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return,
                    _ = term.recv() => return,
                    _ = hup.recv() => match palisade_gateway::reload::reload(state) {
                        Ok(()) => eprintln!("palisade: SIGHUP: roles and route policies reloaded"),
                        Err(problems) => eprintln!(
                            "palisade: SIGHUP: reload refused, the running policy is unchanged:\n  - {}",
                            problems.join("\n  - ")
                        ),
                    },
                }
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = state;
        let _ = tokio::signal::ctrl_c().await;
    }
}
