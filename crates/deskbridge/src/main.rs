//! The `deskbridge` command: parses arguments, loads the config and runs the chosen command.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use deskbridge::{accounts, app, config::Config, vault::MasterKeys};

/// deskbridge: connect a Freshdesk help desk and keep it in sync.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// TOML config file (see config.example.toml); DESKBRIDGE_* environment variables override it.
    #[arg(long, global = true, env = "DESKBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the dashboard and API.
    Serve,
    /// Run everything embedded (a seeded Freshdesk emulator, SQLite, the dashboard) and print what to try.
    Demo(deskbridge::demo::DemoArgs),
    /// Manage organisations and people.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the master keys that encrypt stored Freshdesk keys.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Sync one integration now, in the foreground, with a progress display (or `sync verify`).
    Sync {
        #[command(subcommand)]
        action: Option<SyncAction>,
        /// The organisation's id.
        #[arg(long, global = true)]
        org: Option<i64>,
        /// The integration's id (see Settings › Integrations or GET /api/v1/integrations).
        #[arg(long, global = true)]
        integration: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
enum SyncAction {
    /// Compare the local copy with the source, record by record; exits 1 on any difference.
    Verify {
        /// An emulator export (`GET /_emulator/export` with the control token) to compare with
        /// instead of walking the Freshdesk API (which compares tickets only).
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create an organisation and its first admin (the password is read from DESKBRIDGE_ADMIN_PASSWORD or prompted on stdin).
    CreateOrg {
        /// The organisation's name.
        #[arg(long)]
        name: String,
        /// The first admin's email.
        #[arg(long)]
        email: String,
    },
    /// Connect a Freshdesk account as an admin, as the dashboard's Connect does (the API key is
    /// read from DESKBRIDGE_FRESHDESK_API_KEY or stdin).
    Connect {
        /// The admin acting (their organisation gets the integration).
        #[arg(long)]
        email: String,
        /// The Freshdesk domain: acme, acme.freshdesk.com or its URL.
        #[arg(long)]
        domain: String,
    },
    /// Set a new password for a user (ends their sessions).
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
enum VaultCommand {
    /// Print a new master key version to add to vault.master_keys (the highest version encrypts).
    Rotate,
    /// Re-encrypt every stored key with the newest master key version; safe to interrupt and re-run.
    Rewrap,
}

fn read_secret(var: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(var) {
        return Ok(p);
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("DESKBRIDGE_ADMIN_PASSWORD") {
        return Ok(p);
    }
    eprint!("New password (at least 12 characters): ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if let Command::Demo(args) = cli.command {
        return deskbridge::demo::run(args).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            let app = app::App::build(config).await?;
            tracing::info!(port = app.port(), "deskbridge listening");
            app.run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
        }
        Command::Admin(AdminCommand::CreateOrg { name, email }) => {
            let (store, _) = app::open(&config).await?;
            let password = read_password()?;
            let (org, _) =
                accounts::create_org_with_admin(&store, &name, &email, &password).await?;
            println!("created organisation {name:?} (id {org}) with admin {email}");
            Ok(())
        }
        Command::Admin(AdminCommand::ResetPassword { email }) => {
            let (store, _) = app::open(&config).await?;
            accounts::set_password(&store, &email, &read_password()?).await?;
            println!("password changed for {email}; their sessions have ended");
            Ok(())
        }
        Command::Vault(VaultCommand::Rotate) => {
            let keys = MasterKeys::parse(config.vault.master_keys.as_ref())?;
            let next = keys.active() + 1;
            println!(
                "Add this to vault.master_keys (comma-separated, keep the old versions until `deskbridge vault rewrap` has run):"
            );
            println!("{}", MasterKeys::generate(next));
            Ok(())
        }
        Command::Vault(VaultCommand::Rewrap) => {
            let (store, vault) = app::open(&config).await?;
            let report = vault
                .rewrap(&store, |n, total| eprintln!("rewrapped {n}/{total}"))
                .await?;
            let moved = report.rewrapped;
            deskbridge::audit::record(
                &store,
                None,
                "operator",
                "vault_rewrap",
                &format!(
                    "rows={moved} failed={} version={}",
                    report.failed.len(),
                    vault.active_version()
                ),
            )
            .await;
            println!(
                "{moved} stored key(s) now use master key version {}",
                vault.active_version()
            );
            if !report.failed.is_empty() {
                for what in &report.failed {
                    eprintln!(
                        "could not rewrap {what}: re-authorize it (or set its webhook again) to store a new secret"
                    );
                }
                anyhow::bail!(
                    "{} stored secret(s) could not be decrypted and were left as they are",
                    report.failed.len()
                );
            }
            Ok(())
        }
        Command::Admin(AdminCommand::Connect { email, domain }) => {
            let (store, vault) = app::open(&config).await?;
            let user = accounts::user_by_email(&store, &email)
                .await?
                .with_context(|| format!("no active user {email}"))?;
            let key = read_secret("DESKBRIDGE_FRESHDESK_API_KEY", "Freshdesk API key")?;
            let fd = app::freshdesk_config(&config)?;
            let (i, report) =
                deskbridge::connections::connect(&store, &vault, &fd, &user, &domain, &key)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "connected {} as {} (integration {}, organisation {})",
                i.domain, i.agent_email, i.id, i.org_id
            );
            for w in report.warnings {
                println!("warning: {w}");
            }
            Ok(())
        }
        Command::Sync {
            action,
            org,
            integration,
        } => {
            let (Some(org), Some(integration)) = (org, integration) else {
                anyhow::bail!("name the integration with --org ORG --integration ID");
            };
            deskbridge::cli::sync(
                &config,
                org,
                integration,
                action.map(|SyncAction::Verify { export }| export),
            )
            .await
        }
        Command::Demo(_) => unreachable!("handled above"),
    }
}
