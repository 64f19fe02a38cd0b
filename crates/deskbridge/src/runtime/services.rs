//! The handles background work runs over: the store, the job queue, the client factory, the
//! health monitor (with its alerts) and the `[sync]` settings. Built once at startup; each job
//! handler and the scheduler hold a clone, and none of them sees the web state.

use crate::config::SyncConfig;
use crate::connections::Clients;
use crate::health::Monitor;
use crate::jobs::Queue;
use crate::store::Store;

#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub queue: Queue,
    pub clients: Clients,
    pub monitor: Monitor,
    pub sync: SyncConfig,
}
