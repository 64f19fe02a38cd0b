//! A faithful stand-in for the Freshdesk REST API v2, for deskbridge's demo, tests and benchmarks,
//! and for any third-party Freshdesk client. Start one with [`spawn`] on any address (port 0 for
//! tests); it seeds a deterministic help desk, serves HTTPS with its own certificate authority (or
//! plain HTTP for debugging), enforces auth, roles, scopes, rate limits and paging as Freshdesk does,
//! and offers a control API under `/_emulator/` (see the crate README).
//!
//! The emulator shares no wire types with the `freshdesk` client crate, by design: each side
//! writes Freshdesk's JSON from its own reading of the reference, so one side's mistake cannot hide
//! the same mistake on the other.

#![forbid(unsafe_code)]

pub mod api;
pub mod automations;
pub mod community;
pub mod control;
pub mod control_client;
pub mod corpus;
pub mod live;
pub mod model;
pub mod render;
pub mod seed;
pub mod server;
pub mod state;
pub mod text;
pub mod tls;
pub mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use anyhow::Context;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::watch;

pub use control_client::{AgentAction, ControlError, EmulatorControl};
pub use corpus::Corpus;
pub use model::Plan;
pub use seed::agents as well_known;

/// How to start an emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    /// `None` serves plain HTTP (debugging only); otherwise HTTPS with certificates from `cert_dir`
    /// (created and reused) or, without a directory, generated in memory.
    pub tls: Option<TlsConfig>,
    pub seed: u64,
    pub tickets: usize,
    pub plan: Plan,
    /// The length of the rate window; 60 s on Freshdesk, shorter for rate-limited benchmarks.
    pub minute: Duration,
    /// The account's subdomain: `acme` answers as `acme.freshdesk.com`.
    pub domain: String,
    /// "Now" for the seeded data, in unix seconds; defaults to the current time. Pin it to make
    /// two runs byte-identical.
    pub anchor: Option<i64>,
    /// The control API token; random when `None`.
    pub control_token: Option<String>,
    /// How many independent help desks to host (at least 1). The first has `domain`; the others
    /// are `company2`, `company3`, … Each has its own agents, keys, data, rate window and log.
    pub accounts: usize,
    /// How much account sizes differ: account *i* gets `tickets` times a factor between
    /// `1/spread` and `spread`, spaced evenly on a log scale in a fixed shuffled order. The first
    /// account always gets `tickets` exactly. 1 makes every account the same size.
    pub tickets_spread: f64,
    /// Whose words tickets are written in: the emulator's templates or BANKING77.
    pub corpus: corpus::Corpus,
    /// Runs the living help desk on every account from the start (see [`live`]).
    pub live: Option<live::LiveConfig>,
}

#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    pub cert_dir: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: Some(TlsConfig::default()),
            seed: 42,
            tickets: 2_000,
            plan: Plan::Enterprise,
            minute: Duration::from_secs(60),
            domain: "acme".into(),
            anchor: None,
            control_token: None,
            accounts: 1,
            tickets_spread: 1.0,
            corpus: corpus::Corpus::Templates,
            live: None,
        }
    }
}

/// One seeded agent as the startup report lists it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentInfo {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    pub ticket_scope: u8,
    pub group_ids: Vec<i64>,
    pub api_key: String,
}

/// A running emulator. Dropping it does not stop the server; call [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:<port>` (or `http://…` in plain mode).
    pub base_url: String,
    /// The CA certificate (PEM) the server certificate chains to; `None` in plain mode.
    pub ca_pem: Option<String>,
    /// Where `ca.pem` was written, when a certificate directory was used.
    pub ca_path: Option<PathBuf>,
    pub control_token: String,
    pub shared: Arc<state::Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// One hosted account as the startup report lists it.
#[derive(Clone, Debug, Serialize)]
pub struct AccountInfo {
    pub domain: String,
    pub plan: &'static str,
    pub tickets: usize,
    pub agents: Vec<AgentInfo>,
}

fn agents_of(a: &state::Account) -> Vec<AgentInfo> {
    let d = a.desk.read();
    d.agents
        .values()
        .map(|a| AgentInfo {
            id: a.id,
            name: a.name.clone(),
            email: a.email.clone(),
            role: a
                .role_ids
                .first()
                .and_then(|r| d.role_name(*r))
                .unwrap_or("Agent")
                .to_string(),
            ticket_scope: a.ticket_scope,
            group_ids: a.group_ids.clone(),
            api_key: a.api_key.clone(),
        })
        .collect()
}

impl RunningEmulator {
    /// The first account's agents.
    pub fn agents(&self) -> Vec<AgentInfo> {
        agents_of(&self.shared.accounts[0])
    }

    /// The first account's agent at `index` in the seeded list (see [`well_known`]).
    pub fn agent(&self, index: usize) -> AgentInfo {
        self.agents().swap_remove(index)
    }

    /// Every hosted account, the first first.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.shared
            .accounts
            .iter()
            .map(|a| {
                let (domain, plan, tickets) = {
                    let d = a.desk.read();
                    (
                        d.account.domain.clone(),
                        d.account.plan.name(),
                        d.tickets.len(),
                    )
                };
                AccountInfo {
                    domain,
                    plan,
                    tickets,
                    agents: agents_of(a),
                }
            })
            .collect()
    }

    /// A typed client for this emulator's control API (trusting its CA).
    pub fn control(&self) -> EmulatorControl {
        EmulatorControl::new(&self.base_url, &self.control_token, self.ca_pem.as_deref())
            .expect("the emulator's own CA certificate parses")
    }

    pub fn domain(&self) -> String {
        self.shared.accounts[0].desk.read().account.domain.clone()
    }

    /// The startup report written by `--ready-file`.
    pub fn ready_report(&self) -> serde_json::Value {
        serde_json::json!({
            "base_url": self.base_url,
            "port": self.addr.port(),
            "ca_pem": self.ca_path.as_ref().map(|p| p.display().to_string()),
            "control_token": self.control_token,
            "domain": self.domain(),
            "agents": self.agents(),
            "accounts": self.accounts(),
        })
    }

    pub async fn shutdown(self) {
        for a in &self.shared.accounts {
            live::stop(a);
        }
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The domain label of account `i`: the configured one for the first, `company<i+1>` after.
pub fn account_label(cfg: &EmulatorConfig, i: usize) -> String {
    match i {
        0 => cfg.domain.clone(),
        _ => format!("company{}", i + 1),
    }
}

/// How many tickets account `i` of `cfg.accounts` gets (see [`EmulatorConfig::tickets_spread`]).
pub fn account_tickets(cfg: &EmulatorConfig, i: usize) -> usize {
    let others = cfg.accounts.saturating_sub(1);
    if i == 0 || others == 0 || cfg.tickets_spread <= 1.0 {
        return cfg.tickets;
    }
    // A fixed shuffle of the other accounts' places, so that sizes do not grow with the label.
    let mut order: Vec<usize> = (0..others).collect();
    let mut rng = util::Rng::new(cfg.seed ^ 0x5eed_5175);
    for k in (1..order.len()).rev() {
        order.swap(k, rng.below(k as u64 + 1) as usize);
    }
    let place = order[i - 1] as f64;
    let u = if others == 1 {
        1.0
    } else {
        -1.0 + 2.0 * place / (others - 1) as f64
    };
    (cfg.tickets as f64 * cfg.tickets_spread.powf(u)).round() as usize
}

/// Seeds every account, on as many threads as the machine has.
fn seed_accounts(cfg: &EmulatorConfig, anchor: i64) -> anyhow::Result<Vec<model::HelpDesk>> {
    anyhow::ensure!(cfg.accounts >= 1, "at least one account is needed");
    anyhow::ensure!(
        cfg.tickets_spread.is_finite() && cfg.tickets_spread >= 1.0,
        "tickets_spread must be a number of at least 1"
    );
    let labels: Vec<String> = (0..cfg.accounts).map(|i| account_label(cfg, i)).collect();
    if let Some(dup) = labels.iter().skip(1).find(|l| **l == labels[0]) {
        anyhow::bail!("the first account's domain {dup} is also the label of a later account");
    }
    let configs: Vec<seed::SeedConfig> = labels
        .into_iter()
        .enumerate()
        .map(|(i, domain)| seed::SeedConfig {
            // The first account keeps the configured seed, so one account seeds as it always did.
            seed: cfg
                .seed
                .wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            tickets: account_tickets(cfg, i),
            anchor,
            plan: cfg.plan,
            domain,
            index: i,
            corpus: cfg.corpus,
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = configs.len().div_ceil(threads).max(1);
    Ok(std::thread::scope(|scope| {
        let handles: Vec<_> = configs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(seed::generate).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("seeding does not panic"))
            .collect()
    }))
}

/// Seeds the help desks and serves them. Returns once the listener is bound.
pub async fn spawn(cfg: EmulatorConfig) -> anyhow::Result<RunningEmulator> {
    let anchor = cfg.anchor.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let desks = seed_accounts(&cfg, anchor)?;
    let token = cfg
        .control_token
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let (acceptor, ca_pem, ca_path) = match &cfg.tls {
        None => (None, None, None),
        Some(t) => {
            let set = match &t.cert_dir {
                Some(dir) => tls::load_or_create(dir)?,
                None => tls::generate()?.0,
            };
            (
                Some(tls::acceptor(&set)?),
                Some(set.ca_pem.clone()),
                set.ca_path.clone(),
            )
        }
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let accounts = desks
        .into_iter()
        .map(|desk| {
            Arc::new(state::Account {
                desk: RwLock::new(desk),
                rate: Mutex::new(state::RateWindow::new()),
                faults: Mutex::new(Vec::new()),
                log: Mutex::new(Vec::new()),
                clock_skew: AtomicI64::new(0),
                seq: AtomicU64::new(0),
                minute: cfg.minute,
                scheme,
                automations: Default::default(),
                live: Mutex::new(None),
            })
        })
        .collect();
    let shared = Arc::new(state::Shared {
        accounts,
        control_token: token.clone(),
    });
    if let Some(config) = &cfg.live {
        for a in &shared.accounts {
            live::start(a, config.clone()).map_err(|e| anyhow::anyhow!("live: {e}"))?;
        }
    }
    let api = axum::Router::new()
        .fallback(server::api_handler)
        .layer(server::cors())
        .with_state(shared.clone());
    let app = control::router(shared.clone())
        .with_state(shared.clone())
        .fallback_service(api);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, app, acceptor, rx));
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if addr.is_ipv6() {
        format!("[{host}]")
    } else {
        host
    };
    Ok(RunningEmulator {
        addr,
        base_url: format!("{scheme}://{host}:{}", addr.port()),
        ca_pem,
        ca_path,
        control_token: token,
        shared,
        shutdown: tx,
        task,
    })
}
