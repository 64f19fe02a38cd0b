//! The `deskbridge` command: parses arguments and runs the chosen command.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

/// deskbridge: connect a Freshdesk help desk and keep it in sync.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run everything embedded: a seeded Freshdesk emulator (and, as it is built, the server).
    Demo(deskbridge::demo::DemoArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Demo(args) => deskbridge::demo::run(args).await,
    }
}
