//! `deskbridge demo`: one process, everything embedded. For now it starts the seeded Freshdesk
//! emulator over HTTPS, writes its CA into the demo data directory and prints what to try.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use freshdesk_emulator::{EmulatorConfig, Plan, TlsConfig, well_known};

#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Address for the emulator to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub emulator_listen: SocketAddr,
    /// Directory for demo state (certificates today; the database and master key later).
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// Number of tickets in the seeded help desk.
    #[arg(long, default_value_t = 2_000)]
    pub tickets: usize,
    /// Write a JSON startup report here once everything listens.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "creating the demo data directory {}",
            args.data_dir.display()
        )
    })?;
    let emu = freshdesk_emulator::spawn(EmulatorConfig {
        listen: args.emulator_listen,
        tls: Some(TlsConfig {
            cert_dir: Some(args.data_dir.join("emulator-certs")),
        }),
        tickets: args.tickets,
        plan: Plan::Enterprise,
        minute: Duration::from_secs(60),
        ..EmulatorConfig::default()
    })
    .await
    .context(
        "starting the Freshdesk emulator (is the port free? try --emulator-listen 127.0.0.1:0)",
    )?;
    let admin = emu.agent(well_known::INTEGRATION_ADMIN);
    let plain = emu.agent(well_known::PLAIN_AGENT);
    let group = emu.agent(well_known::GROUP_ADMIN);
    let ca = emu
        .ca_path
        .clone()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if let Some(path) = &args.ready_file {
        let report = serde_json::json!({
            "freshdesk_domain": emu.domain(),
            "api_keys": {"integration_admin": admin.api_key, "plain_agent": plain.api_key, "group_admin": group.api_key},
            "emulator_base_url": emu.base_url,
            "emulator_ca_pem": ca,
            "emulator_control_token": emu.control_token,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("deskbridge demo");
    println!(
        "  Freshdesk emulator: {} ({} tickets), answering as {}.freshdesk.com",
        emu.base_url,
        args.tickets,
        emu.domain()
    );
    println!("  CA certificate:     {ca}");
    println!("  Freshdesk domain:   {}", emu.domain());
    println!("  API keys:");
    println!(
        "    integration admin  {}  ({})",
        admin.api_key, admin.email
    );
    println!(
        "    plain agent        {}  (not an admin: connecting with it must fail)",
        plain.api_key
    );
    println!(
        "    group-scoped admin {}  (sees only its groups' tickets)",
        group.api_key
    );
    println!(
        "  Try it: curl --cacert {ca} -u {}:X {}/api/v2/agents/me",
        admin.api_key, emu.base_url
    );
    println!("  The dashboard (Settings > Integrations) is not built yet; Ctrl-C stops the demo.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emu.shutdown().await;
    Ok(())
}
