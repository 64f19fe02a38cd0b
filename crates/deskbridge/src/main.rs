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
    /// Sync one integration now, in the foreground, with a progress display.
    Sync {
        /// The organisation's id.
        #[arg(long)]
        org: i64,
        /// The integration's id (see Settings › Integrations or GET /api/v1/integrations).
        #[arg(long)]
        integration: i64,
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
            let org = accounts::create_org(&store, &name).await?;
            accounts::create_user(&store, org, &email, &password, accounts::Role::Admin).await?;
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
            let moved = vault
                .rewrap(&store, |n, total| eprintln!("rewrapped {n}/{total}"))
                .await?;
            deskbridge::audit::record(
                &store,
                None,
                "operator",
                "vault_rewrap",
                &format!("rows={moved} version={}", vault.active_version()),
            )
            .await;
            println!(
                "{moved} stored key(s) now use master key version {}",
                vault.active_version()
            );
            Ok(())
        }
        Command::Sync { org, integration } => {
            let (store, vault) = app::open(&config).await?;
            let fd = app::freshdesk_config(&config)?;
            let i = deskbridge::connections::get(&store, org, integration)
                .await
                .context("no such integration in that organisation")?;
            let key = deskbridge::connections::api_key(&store, &vault, org, integration).await?;
            let client =
                freshdesk::Client::new(freshdesk::FreshdeskDomain::parse(&i.domain)?, key, &fd)?;
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let target = deskbridge::sync::Target {
                org_id: org,
                integration_id: integration,
            };
            let p = deskbridge::sync::run(&store, &client, target, |p| {
                let stats = client.governor().stats();
                bar.set_message(format!(
                    "{} tickets in {} pages, {} conversations ({} calls); {} credits spent of {}/min at this share",
                    p.tickets,
                    p.pages,
                    p.conversations,
                    p.conversation_calls,
                    stats.credits_spent,
                    stats.budget_per_window.map(|b| format!("{b:.0}")).unwrap_or_else(|| "?".into())
                ))
            })
            .await?;
            bar.finish_with_message(format!(
                "done: {} tickets, {} conversations",
                p.tickets, p.conversations
            ));
            Ok(())
        }
        Command::Demo(_) => unreachable!("handled above"),
    }
}
