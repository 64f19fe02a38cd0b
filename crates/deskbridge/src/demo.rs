//! `deskbridge demo`: one process, everything embedded. It starts a seeded Freshdesk emulator over
//! HTTPS and the dashboard with SQLite and a master key in a demo data directory, creates the
//! organisation "Acme Support" with an admin whose password is generated, routes every Freshdesk
//! domain to the emulator, and prints what to open and type.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use freshdesk_emulator::{EmulatorConfig, Plan, TlsConfig, well_known};
use secrecy::SecretString;

use crate::accounts;
use crate::app::App;
use crate::config::Config;
use crate::vault::MasterKeys;

#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Address for the dashboard.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the demo's database, master key and emulator certificates.
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// Number of tickets in the seeded help desk.
    #[arg(long, default_value_t = 2_000)]
    pub tickets: usize,
    /// Write a JSON startup report here once everything listens.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
}

fn random_password() -> String {
    const WORDS: &[&str] = &[
        "amber", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo",
        "juniper", "kestrel", "lumen", "meadow", "nimbus", "opal", "prairie",
    ];
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("the OS random number generator");
    format!(
        "{}-{}-{}-{:04}",
        WORDS[b[0] as usize % 16],
        WORDS[b[1] as usize % 16],
        WORDS[b[2] as usize % 16],
        u16::from_le_bytes([b[3], b[4]]) % 10_000
    )
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "creating the demo data directory {}",
            args.data_dir.display()
        )
    })?;
    let data = std::fs::canonicalize(&args.data_dir)?;
    let emu = freshdesk_emulator::spawn(EmulatorConfig {
        tls: Some(TlsConfig {
            cert_dir: Some(data.join("emulator-certs")),
        }),
        tickets: args.tickets,
        plan: Plan::Enterprise,
        minute: Duration::from_secs(60),
        // Real customer language, so that what products learn from it means something.
        corpus: freshdesk_emulator::Corpus::Banking77,
        // A living help desk: customers open two tickets a minute, and agents resolve each after
        // three minutes, fixing its category, so Triage's live accuracy fills in while one watches.
        live: Some(freshdesk_emulator::live::LiveConfig {
            rate: 2.0,
            resolve_after_minutes: 3.0,
            error_rate: 0.03,
            seed: 1,
        }),
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the Freshdesk emulator")?;
    let key_file = data.join("master.key");
    if !key_file.exists() {
        std::fs::write(&key_file, MasterKeys::generate(1))
            .context("writing the demo master key")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut config = Config::default();
    config.server.listen = args.listen;
    config.database.url =
        SecretString::from(format!("sqlite://{}", data.join("deskbridge.db").display()));
    config.vault.master_keys = Some(SecretString::from(
        std::fs::read_to_string(&key_file)?.trim().to_string(),
    ));
    config.freshdesk.emulator_base_url = Some(emu.base_url.clone());
    // A demo shows a break within half a minute rather than five, and new tickets as soon.
    config.health.interval_secs = 30;
    config.sync.interval_secs = 30;
    config.freshdesk.emulator_ca_path = emu.ca_path.clone();
    let app = App::build(config).await?;
    let port = app.port();
    let store = app.state.store.clone();
    let admin_email = "admin@acme.example";
    let password = random_password();
    let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(admin_email)
        .fetch_optional(&store.pool)
        .await?;
    if existing.is_some() {
        accounts::set_password(&store, admin_email, &password).await?;
    } else {
        accounts::create_org_with_admin(&store, "Acme Support", admin_email, &password).await?;
    }
    let dashboard = format!("http://{}:{port}/", args.listen.ip());
    let (admin, plain, group) = (
        emu.agent(well_known::INTEGRATION_ADMIN),
        emu.agent(well_known::PLAIN_AGENT),
        emu.agent(well_known::GROUP_ADMIN),
    );
    if let Some(path) = &args.ready_file {
        let report = serde_json::json!({
            "dashboard_url": dashboard,
            "admin_email": admin_email,
            "admin_password": password,
            "freshdesk_domain": emu.domain(),
            "api_keys": {"integration_admin": admin.api_key, "plain_agent": plain.api_key, "group_admin": group.api_key},
            "emulator_base_url": emu.base_url,
            "emulator_control_token": emu.control_token,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("deskbridge demo is running.");
    println!();
    println!("  Open      {dashboard}");
    println!("  Sign in   {admin_email} / {password}");
    println!("  Then      Settings › Integrations › Freshdesk, and enter:");
    println!("    Freshdesk domain  {}", emu.domain());
    println!(
        "    API key           {}   (the dedicated integration admin)",
        admin.api_key
    );
    println!();
    println!("  Keys for failure cases:");
    println!(
        "    {}  a plain agent: refused, not an admin",
        plain.api_key
    );
    println!(
        "    {}  a group-scoped admin: connects with a scope warning",
        group.api_key
    );
    println!();
    println!("  After Connect, the help desk syncs by itself: open the integration, then Sync, to");
    println!("  watch it live. The Dashboard then draws credits, changes and health, and links to");
    println!(
        "  the synced tickets (search them by a word). Triage, on the integration's page, learns"
    );
    println!("  the Category field from the history: Train, read the evaluation, then Shadow or");
    println!(
        "  Write back. The help desk is alive: customers open two tickets a minute and agents"
    );
    println!(
        "  resolve each three minutes later, so Triage's live accuracy fills in as you watch."
    );
    println!("  To see a break explained and repaired, delete the integration user");
    println!("  in the emulator; within 30 seconds the dashboard shows why:");
    println!(
        "    curl -k -X POST -H 'X-Emulator-Control: {}' {}/_emulator/agents/{}/delete",
        emu.control_token, emu.base_url, admin.id
    );
    println!("  (…/restore undoes it; then Re-authorize, or wait for the next check.)");
    println!();
    println!("  Data in {}. Ctrl-C stops the demo.", data.display());
    app.run(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    emu.shutdown().await;
    Ok(())
}
