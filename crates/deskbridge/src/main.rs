//! The `deskbridge` command: parses arguments, starts telemetry and runs the chosen command.

#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    deskbridge::cli::run(deskbridge::cli::Cli::parse()).await
}
