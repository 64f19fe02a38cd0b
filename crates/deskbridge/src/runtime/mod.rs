//! Work of the server composed across capabilities: the job kinds and their handlers, the
//! scheduler that enqueues due work, sync-run bookkeeping, the sync page's view and the
//! dashboard's figures ([`overview`]), operators' numbers ([`metrics`]), and connecting
//! and disconnecting as one transaction each ([`lifecycle`]). The job queue itself
//! (`crate::jobs`) knows none of this; this module registers it.

pub mod handlers;
pub mod lifecycle;
pub mod metrics;
pub mod overview;
pub mod runs;
pub mod scheduler;
mod services;
pub mod view;

pub use handlers::{check_health, hook_job, receive_hook, registry, start_sync};
pub use services::Services;
pub use view::{SyncView, ViewError, view};
