//! The bodies of the operator commands: serve, demo, admin, vault and the dispatch to sync.

use anyhow::Context;

use super::args::{AdminCommand, Cli, Command, SyncAction, VaultCommand};
use crate::config::Config;
use crate::vault::MasterKeys;
use crate::{accounts, app};

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
    read_secret(
        "DESKBRIDGE_ADMIN_PASSWORD",
        "New password (at least 12 characters)",
    )
}

/// `--workers N` over the config: N jobs at once, or no worker at all for 0.
fn with_workers(mut config: Config, workers: Option<usize>) -> Config {
    match workers {
        Some(0) => config.jobs.worker = false,
        Some(n) => config.jobs.concurrency = n,
        None => {}
    }
    config
}

/// Runs the command the arguments name.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo(args) = cli.command {
        return crate::demo::run(args).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { workers } => {
            let app = app::App::build(with_workers(config, workers)).await?;
            tracing::info!(port = app.port(), "deskbridge listening");
            app.run(app::shutdown_signal()).await
        }
        Command::Worker { workers } => {
            let mut config = with_workers(config, workers);
            config.jobs.worker = true;
            let app = app::App::build_worker(config).await?;
            tracing::info!(
                port = app.port(),
                "deskbridge worker running; /metrics and /healthz here"
            );
            app.run(app::shutdown_signal()).await
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
            let report = crate::connections::rewrap::rewrap_all(&store, &vault, |n, total| {
                eprintln!("rewrapped {n}/{total}")
            })
            .await?;
            let moved = report.rewrapped;
            crate::audit::record(
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
            let clients = crate::connections::Clients::new(store, vault, fd);
            let (i, report) = crate::runtime::lifecycle::connect(&clients, &user, &domain, &key)
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
            super::sync::sync(
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
