//! Sync runs with their bookkeeping: a run holds the integration's sync lease (two triggers give
//! one run, across processes, the CLI included), records itself in `sync_runs` with live progress
//! twice a second, and ends with its status and, when it did not finish, the reason in plain words.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use freshdesk::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::SyncConfig;
use crate::connections;
use crate::store::{Store, now};
use crate::sync::{self, Options, Progress, SyncError, Target};

pub fn options(cfg: &SyncConfig) -> Options {
    Options {
        reference_every_secs: cfg.reference_every_secs as i64,
        reconcile_every_secs: (cfg.reconcile_every_secs > 0)
            .then_some(cfg.reconcile_every_secs as i64),
        ..Options::default()
    }
}

/// Plain words for a run that did not finish.
pub fn describe(e: &SyncError, domain: &str) -> String {
    match e {
        SyncError::Freshdesk(fe) => match freshdesk::FreshdeskDomain::parse(domain) {
            Ok(d) => connections::explain(fe, &d),
            Err(_) => fe.to_string(),
        },
        SyncError::Store(_) => {
            "deskbridge could not write to its database; the sync will resume from its last page."
                .into()
        }
        other => other.to_string(),
    }
}

/// [`describe`] with the integration's domain read from its row.
pub async fn describe_for(store: &Store, t: Target, e: &SyncError) -> String {
    let domain = crate::connections::table::domain(store, t.integration_id)
        .await
        .unwrap_or_else(|err| {
            tracing::debug!(error = %err, "domain not read for an error message");
            None
        });
    describe(e, &domain.unwrap_or_default())
}

/// One sync under the lease, recorded in `sync_runs`. Progress goes to `on_progress` and, twice
/// a second, to the run row.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    store: &Store,
    client: &Client,
    t: Target,
    trigger: &str,
    opts: &Options,
    lease_stale_secs: i64,
    cancel: CancellationToken,
    mut on_progress: impl FnMut(&Progress) + Send,
) -> Result<(i64, Progress), SyncError> {
    let lease = sync::acquire(store, t, lease_stale_secs).await?;
    let started = now();
    let run_id = match begin(store, t, trigger, started).await {
        Ok(r) => r,
        Err(e) => {
            if let Err(le) = sync::release(store, &lease).await {
                tracing::warn!(error = %le, "could not release the sync lease");
            }
            return Err(e.into());
        }
    };
    // We hold the lease, so any other run still marked running died with its process.
    let marked = sqlx::query("UPDATE sync_runs SET status = 'interrupted', error = 'the process running this sync stopped; the next run resumed from its last page', finished_at = $1 WHERE integration_id = $2 AND status = 'running' AND id <> $3")
        .bind(started)
        .bind(t.integration_id)
        .bind(run_id)
        .execute(&store.pool)
        .await;
    if let Err(e) = marked {
        tracing::warn!(integration = t.integration_id, error = %e, "could not mark interrupted runs");
    }
    let (tx, rx) = watch::channel(Progress::default());
    // Dropped with this future: a run abandoned mid-way stops renewing its lease.
    let counted = Arc::new(AtomicU64::new(0));
    let keeper = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(keep(
        store.clone(),
        (t, lease.clone(), run_id),
        rx,
        cancel.clone(),
        lease_stale_secs,
        counted.clone(),
    )));
    let result = sync::run_with(store, client, t, opts, cancel, |p| {
        tx.send_replace(p.clone());
        on_progress(p);
    })
    .await;
    keeper.abort();
    let (status, error, progress) = match &result {
        Ok(p) => ("succeeded", None, p.clone()),
        Err(SyncError::Cancelled) => (
            "stopped",
            Some(SyncError::Cancelled.to_string()),
            tx.borrow().clone(),
        ),
        Err(SyncError::Disconnected) => (
            "stopped",
            Some(SyncError::Disconnected.to_string()),
            tx.borrow().clone(),
        ),
        Err(SyncError::Freshdesk(freshdesk::Error::Revoked)) => (
            "stopped",
            Some(
                "the integration's key was removed or replaced; the next run uses the current one"
                    .into(),
            ),
            tx.borrow().clone(),
        ),
        Err(e) => (
            "failed",
            Some(describe_for(store, t, e).await),
            tx.borrow().clone(),
        ),
    };
    if let Err(e) = &result {
        tracing::warn!(integration = t.integration_id, run = run_id, error = %e, "sync did not finish");
    }
    let ended = sqlx::query("UPDATE sync_runs SET status = $1, error = $2, progress_json = $3, updated_at = $4, finished_at = $4 WHERE id = $5")
        .bind(status)
        .bind(error)
        .bind(serde_json::to_string(&progress).unwrap_or_default())
        .bind(now())
        .bind(run_id)
        .execute(&store.pool)
        .await;
    if let Err(e) = ended {
        tracing::warn!(run = run_id, error = %e, "could not record the end of a sync run");
    }
    count_credits(store, t, &progress, &counted).await;
    if let Err(e) = sync::activity::prune(store, t).await {
        tracing::debug!(run = run_id, error = %e, "old activity not pruned");
    }
    if let Err(e) = sync::release(store, &lease).await {
        // It expires by itself after lease_stale_secs.
        tracing::warn!(run = run_id, error = %e, "could not release the sync lease");
    }
    result.map(|p| (run_id, p))
}

/// Renews the lease and writes progress to the run row until aborted; if the lease was taken
/// over, the run is cancelled.
async fn keep(
    store: Store,
    (t, lease, run_id): (Target, sync::Lease, i64),
    mut rx: watch::Receiver<Progress>,
    cancel: CancellationToken,
    stale_secs: i64,
    counted: Arc<AtomicU64>,
) {
    let renew_every = Duration::from_millis((stale_secs as u64 * 1000 / 3).max(500));
    let mut last_renew = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if rx.has_changed().unwrap_or(false) {
            let p = rx.borrow_and_update().clone();
            let written = sqlx::query(
                "UPDATE sync_runs SET progress_json = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(serde_json::to_string(&p).unwrap_or_default())
            .bind(now())
            .bind(run_id)
            .execute(&store.pool)
            .await;
            if let Err(e) = written {
                tracing::debug!(run = run_id, error = %e, "progress not written");
            }
            count_credits(&store, t, &p, &counted).await;
        }
        if last_renew.elapsed() >= renew_every {
            last_renew = tokio::time::Instant::now();
            match sync::lease::renew(&store, &lease).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(run = run_id, "sync lease taken over; stopping");
                    cancel.cancel();
                    return;
                }
                Err(e) => {
                    tracing::warn!(run = run_id, error = %e, "could not renew the sync lease")
                }
            }
        }
    }
}

/// Whether the integration's copy has been complete once (a run succeeded): its syncs are
/// incremental from then on.
pub async fn has_succeeded(store: &Store, t: Target) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM sync_runs WHERE integration_id = $1 AND status = 'succeeded' LIMIT 1",
    )
    .bind(t.integration_id)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.is_some())
}

/// The run's row, and the integration's note of when its newest run started (which the
/// scheduler reads), in one transaction.
async fn begin(store: &Store, t: Target, trigger: &str, started: i64) -> Result<i64, sqlx::Error> {
    let mut tx = store.pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as("INSERT INTO sync_runs (org_id, integration_id, trigger, status, progress_json, started_at, updated_at) VALUES ($1, $2, $3, 'running', '{}', $4, $4) RETURNING id")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(trigger)
        .bind(started)
        .fetch_one(&mut *tx)
        .await?;
    crate::connections::table::mark_run_started(&mut tx, t, started).await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds the credits the run spent since they were last counted to the minute's activity.
async fn count_credits(store: &Store, t: Target, p: &Progress, counted: &AtomicU64) {
    let before = counted.swap(p.credits, Ordering::Relaxed);
    let spent = p.credits.saturating_sub(before);
    if spent == 0 {
        return;
    }
    if let Err(e) = sync::activity::add_credits(store, t, spent, p.budget_per_minute).await {
        tracing::debug!(integration = t.integration_id, error = %e, "credits not counted");
    }
}
