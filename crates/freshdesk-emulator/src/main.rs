//! `freshdesk-emulator`: runs a seeded Freshdesk emulator until interrupted.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use freshdesk_emulator::{Corpus, EmulatorConfig, Plan, TlsConfig};

/// A faithful Freshdesk API v2 emulator with a deterministic, seeded help desk.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (see --ready-file).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Directory for the generated CA and server certificate; reused when present.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (debugging only: Freshdesk is HTTPS-only).
    #[arg(long)]
    plain_http: bool,
    /// Seed of the generated help desk.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of tickets to generate (per account; see --tickets-spread).
    #[arg(long, default_value_t = 2_000)]
    tickets: usize,
    /// Number of independent help desks to host: the first is --domain, the others company2,
    /// company3, … with their own agents, keys, data and rate windows.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    accounts: u16,
    /// How much account sizes differ: each account after the first gets --tickets times a
    /// factor between 1/S and S (1 = all the same size).
    #[arg(long, default_value_t = 1.0)]
    tickets_spread: f64,
    /// Whose words tickets are written in: templates (the emulator's own) or banking77 (real
    /// customer messages, 77 intents in the cf_category dropdown; see data/banking77/README.md).
    #[arg(long, default_value = "templates", value_parser = parse_corpus)]
    corpus: Corpus,
    /// Run a living help desk on every account: this many new tickets per emulated minute,
    /// each resolved by a simulated agent two minutes later (see the control API's /live).
    #[arg(long)]
    live: Option<f64>,
    /// Rate-limit plan: trial, growth, pro, enterprise or unlimited.
    #[arg(long, default_value = "enterprise", value_parser = parse_plan)]
    plan: Plan,
    /// Length of the rate window in seconds (60 on Freshdesk; shorter for benchmarks).
    #[arg(long, default_value_t = 60)]
    minute_secs: u64,
    /// The account's subdomain, answered as <domain>.freshdesk.com.
    #[arg(long, default_value = "acme")]
    domain: String,
    /// Pin "now" for the generated data (RFC 3339) so two runs are byte-identical.
    #[arg(long)]
    anchor: Option<String>,
    /// Token for the control API (random when absent).
    #[arg(long, env = "FRESHDESK_EMULATOR_CONTROL_TOKEN")]
    control_token: Option<String>,
    /// Write a JSON startup report here once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

fn parse_corpus(s: &str) -> Result<Corpus, String> {
    Corpus::parse(s).ok_or_else(|| "expected templates or banking77".to_string())
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    Plan::parse(s).ok_or_else(|| "expected trial, growth, pro, enterprise or unlimited".to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    if args.minute_secs == 0 {
        anyhow::bail!("--minute-secs must be at least 1");
    }
    let anchor = match &args.anchor {
        None => None,
        Some(a) => Some(
            freshdesk_emulator::util::parse_ts(a)
                .with_context(|| format!("--anchor {a:?} is not an RFC 3339 timestamp"))?,
        ),
    };
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("freshdesk-emulator-certs"));
    let started = std::time::Instant::now();
    let emu = freshdesk_emulator::spawn(EmulatorConfig {
        listen: args.listen,
        tls: if args.plain_http {
            None
        } else {
            Some(TlsConfig {
                cert_dir: Some(cert_dir),
            })
        },
        seed: args.seed,
        tickets: args.tickets,
        plan: args.plan,
        minute: Duration::from_secs(args.minute_secs),
        domain: args.domain.clone(),
        anchor,
        control_token: args.control_token.clone(),
        accounts: usize::from(args.accounts),
        tickets_spread: args.tickets_spread,
        corpus: args.corpus,
        live: args.live.map(|rate| freshdesk_emulator::live::LiveConfig {
            rate,
            resolve_after_minutes: 2.0,
            error_rate: 0.03,
            seed: args.seed,
        }),
    })
    .await?;
    let seeded_in = started.elapsed();
    if let Some(path) = &args.ready_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&emu.ready_report())?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    }
    let accounts = emu.accounts();
    let total: usize = accounts.iter().map(|a| a.tickets).sum();
    println!(
        "Freshdesk emulator listening on {} ({} account(s), {total} tickets in {} words, plan {}, seeded in {:.2?})",
        emu.base_url,
        accounts.len(),
        args.corpus.name(),
        args.plan.name(),
        seeded_in
    );
    println!(
        "  account:        {}.freshdesk.com (any Host that names no account is served as this one)",
        args.domain
    );
    if let Some(ca) = &emu.ca_path {
        println!("  CA certificate: {}", ca.display());
    }
    println!("  control token:  {}", emu.control_token);
    for a in emu.agents() {
        println!(
            "  {:<24} {:<22} scope {} key {}",
            a.name, a.role, a.ticket_scope, a.api_key
        );
    }
    if accounts.len() > 1 {
        println!(
            "  and {} more accounts ({} … {}): their agents and keys are in --ready-file and GET /_emulator/accounts",
            accounts.len() - 1,
            accounts[1].domain,
            accounts[accounts.len() - 1].domain
        );
    }
    println!(
        "Try: curl --cacert <CA> -u <key>:X {}/api/v2/agents/me",
        emu.base_url
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emu.shutdown().await;
    Ok(())
}
