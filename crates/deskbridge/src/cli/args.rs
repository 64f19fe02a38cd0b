//! The command line: every subcommand and flag of `deskbridge`, as clap types.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// deskbridge: connect a Freshdesk help desk and keep it in sync.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    /// TOML config file (see config.example.toml); DESKBRIDGE_* environment variables override it.
    #[arg(long, global = true, env = "DESKBRIDGE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the dashboard and API, and job workers unless `--workers 0`.
    Serve {
        /// Jobs run at once in this process (overrides jobs.concurrency); 0 runs none, for a web
        /// process beside `deskbridge worker` processes on one PostgreSQL.
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Run job workers only: no dashboard; `/metrics` and `/healthz` on jobs.listen.
    Worker {
        /// Jobs run at once in this process (overrides jobs.concurrency).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Run everything embedded (a seeded Freshdesk emulator, SQLite, the dashboard) and print what to try.
    Demo(crate::demo::DemoArgs),
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
pub enum SyncAction {
    /// Compare the local copy with the source, record by record; exits 1 on any difference.
    Verify {
        /// An emulator export (`GET /_emulator/export` with the control token) to compare with
        /// instead of walking the Freshdesk API (which compares tickets only).
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
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
pub enum VaultCommand {
    /// Print a new master key version to add to vault.master_keys (the highest version encrypts).
    Rotate,
    /// Re-encrypt every stored key with the newest master key version; safe to interrupt and re-run.
    Rewrap,
}
