//! The job kinds of the server and what each does: a sync run, a webhook's ticket refresh, a
//! health check, an alert delivery. Each handler calls one capability and turns its result into
//! how the job ends; each is idempotent, since a job whose worker died is run again.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::services::Services;
use crate::connections::fault::{Call, Fault, fault};
use crate::connections::{ConnectError, Target, table};
use crate::health::alerts::Attempt;
use crate::jobs::{Claimed, Finish, Handler, NewJob, Queue, Registry};
use crate::products::triage;
use crate::records::notify;
use crate::store::{Store, now};
use crate::sync::{self, SyncError};

pub const HOOK_REFRESH: &str = "hook_refresh";
pub const HEALTH_CHECK: &str = "health_check";

/// Sync priorities: below webhook refreshes (10), health checks (5) and product writes (15, 20).
const SYNC_INCREMENTAL: i64 = 1;
const SYNC_FIRST: i64 = 0;

/// Every kind the server runs, over one set of handles.
pub fn registry(state: &Services) -> Registry {
    Registry::default()
        .register(sync::JOB_KIND, SyncRun(state.clone()))
        .register(HOOK_REFRESH, HookRefresh(state.clone()))
        .register(HEALTH_CHECK, HealthCheck(state.clone()))
        .register(
            crate::health::alerts::JOB_KIND,
            AlertDelivery(state.clone()),
        )
        .register(notify::JOB_KIND, ChangesDelivery(state.clone()))
        .register(triage::TRAIN_JOB, Triage(state.clone()))
        .register(triage::live::PREDICT_JOB, Triage(state.clone()))
}

/// Queues the change notification of what a sync or refresh just wrote. A failure here loses
/// nothing: the next announcement covers the same changes.
async fn announce(state: &Services, t: Target) {
    if let Err(e) = notify::announce(&state.store, t, &state.alerts).await {
        tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&e), "could not queue a change notification");
    } else {
        state.queue.ring();
    }
    if let Err(e) = triage::live::wake(&state.queue, t).await {
        tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&e), "could not queue Triage's predictions");
    }
}

fn target(job: &Claimed) -> Option<Target> {
    Some(Target {
        org_id: job.org_id?,
        integration_id: job.integration_id?,
    })
}

/// Queues a sync unless one is queued or running, or the integration needs attention (syncs
/// pause until it works again). False if nothing was queued.
pub async fn start_sync(
    queue: &Queue,
    t: Target,
    trigger: &str,
) -> Result<bool, crate::jobs::QueueError> {
    if !runnable(queue.store(), t).await? {
        return Ok(false);
    }
    // An incremental sync (the copy was complete once) is a few pages; a first sync may be a
    // long backfill. The incremental goes first, so onboarding many help desks at once does not
    // hold back the copies already in use.
    let incremental = super::runs::has_succeeded(queue.store(), t).await?;
    let queued = queue
        .enqueue(
            NewJob::new(sync::JOB_KIND)
                .integration(t.org_id, t.integration_id)
                .payload(json!({ "trigger": trigger }))
                .dedupe(sync::job_key(t))
                .priority(if incremental {
                    SYNC_INCREMENTAL
                } else {
                    SYNC_FIRST
                }),
        )
        .await?;
    Ok(queued.is_some())
}

/// Queues a health check of an integration unless one is queued or running.
pub async fn check_health(queue: &Queue, t: Target) -> Result<(), crate::jobs::QueueError> {
    queue
        .enqueue(
            NewJob::new(HEALTH_CHECK)
                .integration(t.org_id, t.integration_id)
                .dedupe(format!("health:{}", t.integration_id))
                .priority(5),
        )
        .await?;
    Ok(())
}

async fn runnable(store: &Store, t: Target) -> Result<bool, sqlx::Error> {
    Ok(table::status(store, t).await?.is_some_and(|s| s.can_run()))
}

/// How long work of an integration that needs attention waits before it looks again.
const PAUSED: Duration = Duration::from_secs(30);

struct SyncRun(Services);

impl Handler for SyncRun {
    fn run<'a>(&'a self, job: &'a Claimed, cancel: CancellationToken) -> BoxFuture<'a, Finish> {
        Box::pin(async move {
            let state = &self.0;
            let Some(t) = target(job) else {
                return Finish::Failed("the job names no integration".into());
            };
            match runnable(&state.store, t).await {
                Ok(true) => {}
                Ok(false) => return Finish::Cancelled,
                Err(e) => return retry_store(e),
            }
            let client = match state.clients.client_for(t).await {
                Ok(c) => c,
                Err(ConnectError::NotFound) => return Finish::Cancelled,
                // An unreadable key is a health cause: the check records it once and pauses syncs.
                Err(ConnectError::Vault(_)) => {
                    if let Err(e) = check_health(&state.queue, t).await {
                        tracing::warn!(error = %crate::error_chain(&e), "could not queue a health check");
                    }
                    return Finish::Failed(
                        "the stored key could not be decrypted; see the integration's health"
                            .into(),
                    );
                }
                Err(e) => {
                    tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&e), "cannot sync");
                    return Finish::Failed(
                        "deskbridge could not build a Freshdesk client for this integration".into(),
                    );
                }
            };
            let trigger = job.payload["trigger"].as_str().unwrap_or("schedule");
            let cfg = &state.sync;
            // A slice of time, then the run stops at a page and the job goes back to the queue:
            // other help desks' work waiting in the queue goes first (see `jobs::queue::claim`).
            let slice = cancel.child_token();
            let _timer = (cfg.slice_secs > 0).then(|| {
                let (slice, secs) = (slice.clone(), cfg.slice_secs);
                tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                    slice.cancel();
                }))
            });
            let r = super::runs::execute(
                &state.store,
                &client,
                t,
                trigger,
                &super::runs::options(cfg),
                cfg.lease_stale_secs as i64,
                slice.clone(),
                |_| {},
            )
            .await;
            // Whatever the run's end, the pages it committed are announced.
            announce(state, t).await;
            match r {
                Ok(_) => Finish::Succeeded,
                Err(SyncError::AlreadyRunning) => {
                    tracing::debug!(
                        integration = t.integration_id,
                        "a sync is already running elsewhere"
                    );
                    Finish::Cancelled
                }
                Err(SyncError::Cancelled) if slice.is_cancelled() && !cancel.is_cancelled() => {
                    Finish::Later(Duration::ZERO)
                }
                Err(SyncError::Cancelled | SyncError::Disconnected) => Finish::Cancelled,
                Err(SyncError::Freshdesk(e)) if fault(&e, Call::Data) == Fault::Revoked => {
                    Finish::Cancelled
                }
                Err(e) => {
                    // A broken connection (a rejected key, a deleted user) is checked at once, so
                    // the status and its alert do not wait for the next scheduled check.
                    if let SyncError::Freshdesk(fe) = &e
                        && matches!(fault(fe, Call::Data), Fault::Broken(_))
                        && let Err(qe) = check_health(&state.queue, t).await
                    {
                        tracing::warn!(error = %crate::error_chain(&qe), "could not queue a health check");
                    }
                    Finish::Failed(super::runs::describe_for(&state.store, t, &e).await)
                }
            }
        })
    }
}

fn retry_store(e: sqlx::Error) -> Finish {
    tracing::warn!(error = %e, "job could not read the database");
    Finish::Retry {
        error: "deskbridge could not read its database".into(),
        after: Duration::from_secs(5),
    }
}

struct HookRefresh(Services);

impl Handler for HookRefresh {
    fn run<'a>(&'a self, job: &'a Claimed, _cancel: CancellationToken) -> BoxFuture<'a, Finish> {
        Box::pin(async move {
            let state = &self.0;
            let (Some(t), Some(ticket)) = (target(job), job.payload["ticket"].as_i64()) else {
                return Finish::Failed("the job names no integration or ticket".into());
            };
            // Events up to now are what this run answers; later ones queued a run of their own.
            let up_to = now();
            match runnable(&state.store, t).await {
                Ok(true) => {}
                // Waits (nothing is lost) until the integration works again.
                Ok(false) => return Finish::Later(PAUSED),
                Err(e) => return retry_store(e),
            }
            let client = match state.clients.client_for(t).await {
                Ok(c) => c,
                Err(ConnectError::NotFound) => {
                    return mark(&state.store, t, ticket, up_to, "integration disconnected").await;
                }
                Err(ConnectError::Vault(_)) => {
                    if let Err(e) = check_health(&state.queue, t).await {
                        tracing::warn!(error = %crate::error_chain(&e), "could not queue a health check");
                    }
                    return Finish::Later(PAUSED);
                }
                Err(err) => {
                    tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&err), "cannot refresh from a webhook");
                    return backoff(job, "deskbridge could not build a Freshdesk client".into());
                }
            };
            let outcome = match sync::refresh_ticket(&state.store, &client, t, ticket).await {
                Ok(true) => {
                    announce(state, t).await;
                    "refreshed"
                }
                Ok(false) => "not visible in Freshdesk",
                Err(SyncError::Disconnected) => "integration disconnected",
                Err(e) => {
                    // Retried with back-off; polling is the backstop.
                    tracing::warn!(integration = t.integration_id, ticket, error = %e, "webhook refresh failed");
                    return backoff(job, super::runs::describe_for(&state.store, t, &e).await);
                }
            };
            mark(&state.store, t, ticket, up_to, outcome).await
        })
    }
}

fn backoff(job: &Claimed, error: String) -> Finish {
    Finish::Retry {
        error,
        after: Duration::from_secs(2u64 << job.attempts.clamp(0, 10)),
    }
}

/// A webhook named a ticket: the event and its refresh job are committed together, and this
/// process's worker is woken.
pub async fn receive_hook(
    queue: &Queue,
    t: Target,
    ticket: i64,
) -> Result<(), crate::jobs::QueueError> {
    let mut tx = queue.store().pool.begin().await?;
    sqlx::query("INSERT INTO hook_events (org_id, integration_id, ticket_id, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, integration_id, ticket_id, received_at) DO UPDATE SET processed_at = NULL, outcome = NULL")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(ticket)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    crate::jobs::enqueue(&mut *tx, hook_job(t, ticket)).await?;
    tx.commit().await?;
    queue.ring();
    Ok(())
}

/// The job kind of a webhook's refresh: queued with its event, in one transaction.
pub fn hook_job(t: Target, ticket: i64) -> NewJob {
    NewJob::new(HOOK_REFRESH)
        .integration(t.org_id, t.integration_id)
        .payload(json!({ "ticket": ticket }))
        .dedupe_while_queued(format!("hook:{}:{ticket}", t.integration_id))
        .priority(20)
        .max_attempts(8)
}

async fn mark(store: &Store, t: Target, ticket_id: i64, up_to: i64, outcome: &str) -> Finish {
    let r = sqlx::query("UPDATE hook_events SET processed_at = $1, outcome = $2 WHERE org_id = $3 AND integration_id = $4 AND ticket_id = $5 AND processed_at IS NULL AND received_at <= $6")
        .bind(now())
        .bind(outcome)
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(ticket_id)
        .bind(up_to)
        .execute(&store.pool)
        .await;
    match r {
        Ok(_) => Finish::Succeeded,
        Err(e) => retry_store(e),
    }
}

struct HealthCheck(Services);

impl Handler for HealthCheck {
    fn run<'a>(&'a self, job: &'a Claimed, _cancel: CancellationToken) -> BoxFuture<'a, Finish> {
        Box::pin(async move {
            let Some(t) = target(job) else {
                return Finish::Failed("the job names no integration".into());
            };
            match self.0.monitor.check(t).await {
                Ok(()) => Finish::Succeeded,
                Err(crate::health::HealthError::Gone) => Finish::Cancelled,
                Err(e) => {
                    tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&e), "health check");
                    Finish::Failed("the health check could not be recorded".into())
                }
            }
        })
    }
}

struct AlertDelivery(Services);

impl Handler for AlertDelivery {
    fn run<'a>(&'a self, job: &'a Claimed, _cancel: CancellationToken) -> BoxFuture<'a, Finish> {
        Box::pin(async move {
            let Some(id) = job.payload["delivery"].as_i64() else {
                return Finish::Failed("the job names no delivery".into());
            };
            match self.0.monitor.alerts().deliver(id).await {
                Ok(Attempt::Done) => Finish::Succeeded,
                Ok(Attempt::Retry { error, after }) => Finish::Retry { error, after },
                Ok(Attempt::GaveUp(error)) => Finish::Failed(error),
                Err(e) => {
                    tracing::warn!(delivery = id, error = %crate::error_chain(&e), "alert delivery");
                    Finish::Retry {
                        error: "deskbridge could not read its database".into(),
                        after: Duration::from_secs(30),
                    }
                }
            }
        })
    }
}

struct ChangesDelivery(Services);

impl Handler for ChangesDelivery {
    fn run<'a>(&'a self, job: &'a Claimed, _cancel: CancellationToken) -> BoxFuture<'a, Finish> {
        Box::pin(async move {
            let state = &self.0;
            let Some(id) = job.payload["delivery"].as_i64() else {
                return Finish::Failed("the job names no notification".into());
            };
            match notify::deliver(&state.store, &state.vault, &state.alerts, id).await {
                Ok(Attempt::Done) => Finish::Succeeded,
                Ok(Attempt::Retry { error, after }) => Finish::Retry { error, after },
                Ok(Attempt::GaveUp(error)) => Finish::Failed(error),
                Err(e) => retry_store(e),
            }
        })
    }
}

/// Both Triage job kinds: a training (the payload names the model) and a pass over new tickets.
struct Triage(Services);

impl Handler for Triage {
    fn run<'a>(&'a self, job: &'a Claimed, _cancel: CancellationToken) -> BoxFuture<'a, Finish> {
        Box::pin(async move {
            let Some(t) = target(job) else {
                return Finish::Failed("the job names no integration".into());
            };
            let store = &self.0.store;
            let done = match job.payload["model"].as_i64() {
                Some(model) => triage::run_training(store, t, model).await,
                None => {
                    // Without a client (a key that cannot be read), predictions still run and
                    // writes wait for the next pass.
                    let client = self.0.clients.client_for(t).await.ok();
                    match triage::live::run(store, t, client.as_ref()).await {
                        Ok(pass) if pass.denied => {
                            if let Err(e) = self.0.monitor.writes_denied(t).await {
                                tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&e), "could not record the refused write");
                            }
                            Ok(())
                        }
                        other => other.map(|_| ()),
                    }
                }
            };
            match done {
                Ok(()) => Finish::Succeeded,
                Err(e) => {
                    tracing::warn!(integration = t.integration_id, kind = %job.kind, error = %crate::error_chain(&e), "Triage");
                    backoff(job, "Triage could not finish; it tries again".into())
                }
            }
        })
    }
}
