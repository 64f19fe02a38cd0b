//! Background work of the server, composed: the job kinds and their handlers, the scheduler
//! that enqueues due work, sync-run bookkeeping and the sync page's view. The job queue itself
//! (`crate::jobs`) knows none of this; this module registers it.

pub mod handlers;
pub mod runs;
pub mod scheduler;
pub mod view;

pub use handlers::{check_health, hook_job, registry, start_sync};
pub use view::{SyncView, ViewError, view};
