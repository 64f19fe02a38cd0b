//! Startup: `App::build(config)` opens and migrates the database, verifies the master keys (fail
//! closed), binds the listener and returns the port and a run future; `main` and tests share it.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::store::Store;
use crate::vault::{MasterKeys, Vault};

pub use crate::web::AppState;

pub struct App {
    listener: TcpListener,
    pub state: Arc<AppState>,
}

/// The Freshdesk client settings the config asks for (emulator routing only when configured).
pub fn freshdesk_config(cfg: &Config) -> anyhow::Result<freshdesk::ClientConfig> {
    let emulator = match &cfg.freshdesk.emulator_base_url {
        None => None,
        Some(url) => {
            let ca_pem = match &cfg.freshdesk.emulator_ca_path {
                Some(p) => Some(std::fs::read_to_string(p).with_context(|| {
                    format!("reading freshdesk.emulator_ca_path {}", p.display())
                })?),
                None => None,
            };
            Some(freshdesk::EmulatorRouting {
                base_url: url
                    .parse()
                    .with_context(|| format!("freshdesk.emulator_base_url {url:?} is not a URL"))?,
                ca_pem,
            })
        }
    };
    Ok(freshdesk::ClientConfig {
        budget_share: cfg.freshdesk.budget_share,
        rate_window: std::time::Duration::from_secs(cfg.freshdesk.rate_window_secs),
        emulator,
        ..freshdesk::ClientConfig::default()
    })
}

/// Opens the store and checks the vault: the part of startup every command needs.
pub async fn open(config: &Config) -> anyhow::Result<(Store, Vault)> {
    let keys = MasterKeys::parse(config.vault.master_keys.as_ref())?;
    let store = Store::connect(&config.database.url, config.database.max_connections)
        .await
        .context("opening the database named by database.url")?;
    let vault = Vault::new(keys);
    let in_use = crate::connections::table::key_versions(&store)
        .await
        .context("reading which master-key versions the stored keys use")?;
    vault.verify(&store, &in_use).await?;
    Ok((store, vault))
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let (store, vault) = open(&config).await?;
        let freshdesk = freshdesk_config(&config)?;
        let queue = crate::jobs::Queue::new(
            store.clone(),
            std::time::Duration::from_secs(config.jobs.lease_secs),
        );
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding server.listen {}", config.server.listen))?;
        Ok(App {
            listener,
            state: Arc::new(AppState::new(config, store, vault, freshdesk, queue)),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::web::router(self.state.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        let worker = crate::jobs::Worker::new(
            self.state.queue.clone(),
            crate::runtime::registry(&self.state.services()),
            self.state.config.jobs.concurrency,
        );
        let idle = std::time::Duration::from_millis(self.state.config.sync.tick_ms);
        let jobs = if self.state.config.jobs.worker {
            tokio::spawn(worker.run(stop.clone(), idle))
        } else {
            tokio::spawn(async {})
        };
        let scheduler = tokio::spawn(crate::runtime::scheduler::run(
            self.state.services(),
            stop.clone(),
        ));
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        stop.cancel();
        for task in [jobs, scheduler] {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a background task ended abnormally");
            }
        }
        served
    }
}
