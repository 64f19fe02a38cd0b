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
    /// A worker process answers only `/metrics` and `/healthz`.
    worker_only: bool,
}

/// Resolves when the process is asked to stop: SIGTERM (a service manager) or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
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
        let listen = config.server.listen;
        App::bind(config, listen, false).await
    }

    /// A worker process: jobs and the scheduler, with `/metrics` and `/healthz` on `jobs.listen`.
    pub async fn build_worker(config: Config) -> anyhow::Result<App> {
        let listen = config.jobs.listen;
        App::bind(config, listen, true).await
    }

    async fn bind(
        config: Config,
        listen: std::net::SocketAddr,
        worker_only: bool,
    ) -> anyhow::Result<App> {
        let (store, vault) = open(&config).await?;
        let queue = crate::jobs::Queue::new(
            store.clone(),
            std::time::Duration::from_secs(config.jobs.lease_secs),
        );
        // The queue's owner name doubles as the process's name towards Freshdesk.
        let freshdesk = freshdesk::ClientConfig {
            instance: Some(queue.owner().to_string()),
            ..freshdesk_config(&config)?
        };
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        Ok(App {
            listener,
            state: Arc::new(AppState::new(config, store, vault, freshdesk, queue)),
            worker_only,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = if self.worker_only {
            crate::web::worker_router(self.state.clone())
        } else {
            crate::web::router(self.state.clone())
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let worker = crate::jobs::Worker::new(
            self.state.queue.clone(),
            crate::runtime::registry(&self.state.services()),
            self.state.config.jobs.concurrency,
        )
        .with_grace(std::time::Duration::from_secs(
            self.state.config.jobs.shutdown_grace_secs,
        ));
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
        let asked = tokio_util::sync::CancellationToken::new();
        let on_signal = asked.clone();
        // Jobs are asked to stop at the signal, while requests in flight finish.
        let jobs_stop = stop.clone();
        let serving = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            on_signal.cancel();
            jobs_stop.cancel();
        });
        // Requests in flight get the grace period (a live page's event stream would hold the
        // process forever otherwise); then the workers give their jobs back and it exits.
        let grace = std::time::Duration::from_secs(self.state.config.jobs.shutdown_grace_secs);
        let served = tokio::select! {
            r = serving => r.context("serving HTTP"),
            _ = async { asked.cancelled().await; tokio::time::sleep(grace).await } => Ok(()),
        };
        stop.cancel();
        for task in [jobs, scheduler] {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a background task ended abnormally");
            }
        }
        served
    }
}
