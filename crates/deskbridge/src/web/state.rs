//! What the web edge's handlers are given: the config, and the handles of the capabilities they
//! call (store, vault, job queue, client factory, health monitor). Built once by `app`; nothing
//! outside `web` reaches into it, and background work gets [`Services`] instead.

use crate::config::Config;
use crate::connections::Clients;
use crate::health::Monitor;
use crate::health::alerts::Alerts;
use crate::jobs::Queue;
use crate::runtime::Services;
use crate::store::Store;
use crate::vault::Vault;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub vault: Vault,
    /// The client settings, as every client of [`Self::clients`] gets them.
    pub freshdesk: freshdesk::ClientConfig,
    pub queue: Queue,
    pub clients: Clients,
    pub monitor: Monitor,
    /// This server's request latencies by route, for `/metrics`.
    pub latency: super::latency::Latency,
}

impl AppState {
    pub fn new(
        config: Config,
        store: Store,
        vault: Vault,
        freshdesk: freshdesk::ClientConfig,
        queue: Queue,
    ) -> AppState {
        let clients = Clients::new(store.clone(), vault.clone(), freshdesk.clone());
        let alerts = Alerts::new(
            store.clone(),
            vault.clone(),
            queue.clone(),
            config.alerts.clone(),
        );
        let monitor = Monitor::new(clients.clone(), alerts, config.health.clone());
        AppState {
            config,
            store,
            vault,
            freshdesk,
            queue,
            clients,
            monitor,
            latency: Default::default(),
        }
    }

    /// The handles background work runs over: the same store, queue, clients and monitor.
    pub fn services(&self) -> Services {
        Services {
            store: self.store.clone(),
            queue: self.queue.clone(),
            clients: self.clients.clone(),
            monitor: self.monitor.clone(),
            vault: self.vault.clone(),
            sync: self.config.sync.clone(),
            alerts: self.config.alerts.clone(),
        }
    }
}
