//! The one durable job queue: background work is a row in `jobs` ([`queue`]), enqueued in the
//! same transaction as its cause, claimed with a lease, retried with back-off and left visible
//! when it fails; [`worker`] runs claimed jobs through the handlers a composition root
//! registers; [`stats`] counts it for operators. Nothing here knows what a job does.

pub mod queue;
pub mod stats;
pub mod worker;

pub use queue::{
    Beat, Claimed, Finish, JobState, JobView, NewJob, Queue, QueueError, cancel_integration,
    enqueue, is_live, list, now_ms,
};
pub use worker::{Handler, Ran, Registry, Worker};
