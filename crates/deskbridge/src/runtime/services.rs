//! The handles background work runs over: the store, the job queue, the client factory, the
//! health monitor (with its alerts), the vault, and the `[sync]` and `[alerts]` settings. Built once at startup; each job
//! handler and the scheduler hold a clone, and none of them sees the web state.

use crate::config::{AlertsConfig, SyncConfig};
use crate::connections::Clients;
use crate::health::Monitor;
use crate::jobs::Queue;
use crate::store::Store;
use crate::vault::Vault;

#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub queue: Queue,
    pub clients: Clients,
    pub monitor: Monitor,
    pub vault: Vault,
    pub sync: SyncConfig,
    /// Delivery settings of every webhook (alerts and change notifications).
    pub alerts: AlertsConfig,
}
