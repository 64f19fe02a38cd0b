//! Background work: sync runs with their bookkeeping, the scheduler that starts them, and the
//! worker that turns webhook events into targeted ticket refreshes. A run holds the
//! integration's lease (so two triggers give one run, across processes), records itself in
//! `sync_runs` with live progress for the integration page, and can be stopped: disconnect
//! cancels it here, and its next page transaction would refuse anyway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use freshdesk::Client;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::config::SyncConfig;
use crate::connections;
use crate::store::{Store, now};
use crate::sync::{self, Options, Progress, SyncError, Target};

/// Runs in flight in this process, and a bell for new webhook events.
#[derive(Default)]
pub struct Jobs {
    running: Mutex<HashMap<i64, CancellationToken>>,
    hooks: Notify,
    alerts: Notify,
    checking: Mutex<std::collections::HashSet<i64>>,
}

impl Jobs {
    /// Stops this process's run of an integration, if any (disconnect).
    pub fn cancel(&self, integration_id: i64) {
        if let Some(token) = self.running.lock().remove(&integration_id) {
            token.cancel();
        }
    }

    pub fn is_running(&self, integration_id: i64) -> bool {
        self.running.lock().contains_key(&integration_id)
    }

    pub fn hook_arrived(&self) {
        self.hooks.notify_one();
    }

    pub fn alert_queued(&self) {
        self.alerts.notify_one();
    }
}

/// Runs a health check of an integration in the background unless one is already going.
pub fn check_health(state: &Arc<AppState>, t: Target) {
    if !state.jobs.checking.lock().insert(t.integration_id) {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::health::check(&state, t).await {
            tracing::debug!(integration = t.integration_id, error = %e, "health check");
        }
        state.jobs.checking.lock().remove(&t.integration_id);
    });
}

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
    let run_id: (i64,) = match sqlx::query_as("INSERT INTO sync_runs (org_id, integration_id, trigger, status, progress_json, started_at, updated_at) VALUES ($1, $2, $3, 'running', '{}', $4, $4) RETURNING id")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(trigger)
        .bind(started)
        .fetch_one(&store.pool)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = sync::release(store, &lease).await;
            return Err(e.into());
        }
    };
    let run_id = run_id.0;
    // We hold the lease, so any other run still marked running died with its process.
    let _ = sqlx::query("UPDATE sync_runs SET status = 'interrupted', error = 'the process running this sync stopped; the next run resumed from its last page', finished_at = $1 WHERE integration_id = $2 AND status = 'running' AND id <> $3")
        .bind(started)
        .bind(t.integration_id)
        .bind(run_id)
        .execute(&store.pool)
        .await;
    let (tx, rx) = watch::channel(Progress::default());
    let keeper = tokio::spawn(keep(
        store.clone(),
        lease.clone(),
        run_id,
        rx,
        cancel.clone(),
        lease_stale_secs,
    ));
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
        Err(e) => {
            let domain: Option<(String,)> =
                sqlx::query_as("SELECT domain FROM integrations WHERE id = $1")
                    .bind(t.integration_id)
                    .fetch_optional(&store.pool)
                    .await
                    .ok()
                    .flatten();
            (
                "failed",
                Some(describe(e, &domain.map(|d| d.0).unwrap_or_default())),
                tx.borrow().clone(),
            )
        }
    };
    if let Err(e) = &result {
        tracing::warn!(integration = t.integration_id, run = run_id, error = %e, "sync did not finish");
    }
    let _ = sqlx::query("UPDATE sync_runs SET status = $1, error = $2, progress_json = $3, updated_at = $4, finished_at = $4 WHERE id = $5")
        .bind(status)
        .bind(error)
        .bind(serde_json::to_string(&progress).unwrap_or_default())
        .bind(now())
        .bind(run_id)
        .execute(&store.pool)
        .await;
    let _ = sync::release(store, &lease).await;
    result.map(|p| (run_id, p))
}

/// Renews the lease and writes progress to the run row until aborted; if the lease was taken
/// over, the run is cancelled.
async fn keep(
    store: Store,
    lease: sync::Lease,
    run_id: i64,
    mut rx: watch::Receiver<Progress>,
    cancel: CancellationToken,
    stale_secs: i64,
) {
    let renew_every = Duration::from_millis((stale_secs as u64 * 1000 / 3).max(500));
    let mut last_renew = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if rx.has_changed().unwrap_or(false) {
            let p = rx.borrow_and_update().clone();
            let _ = sqlx::query(
                "UPDATE sync_runs SET progress_json = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(serde_json::to_string(&p).unwrap_or_default())
            .bind(now())
            .bind(run_id)
            .execute(&store.pool)
            .await;
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

/// A client for an integration's stored key.
pub async fn client_for(state: &AppState, t: Target) -> Result<Client, connections::ConnectError> {
    client_for_with(state, t, state.freshdesk.clone()).await
}

/// As [`client_for`], with other client settings.
pub async fn client_for_with(
    state: &AppState,
    t: Target,
    cfg: freshdesk::ClientConfig,
) -> Result<Client, connections::ConnectError> {
    connections::client_for(
        &state.store,
        &state.vault,
        &state.keys,
        &cfg,
        t.org_id,
        t.integration_id,
    )
    .await
}

/// Starts a run in the background unless one is already going here, or the integration needs
/// attention (syncs pause until it works again). False if it did not start.
pub async fn start(state: &Arc<AppState>, t: Target, trigger: &'static str) -> bool {
    let status: Option<(String,)> =
        sqlx::query_as("SELECT status FROM integrations WHERE id = $1 AND org_id = $2")
            .bind(t.integration_id)
            .bind(t.org_id)
            .fetch_optional(&state.store.pool)
            .await
            .unwrap_or(None);
    if !status.is_some_and(|(s,)| crate::health::can_run(&s)) {
        return false;
    }
    let token = CancellationToken::new();
    {
        let mut running = state.jobs.running.lock();
        if running.contains_key(&t.integration_id) {
            return false;
        }
        running.insert(t.integration_id, token.clone());
    }
    let state = state.clone();
    tokio::spawn(async move {
        let cfg = &state.config.sync;
        match client_for(&state, t).await {
            Ok(client) => {
                let r = execute(
                    &state.store,
                    &client,
                    t,
                    trigger,
                    &options(cfg),
                    cfg.lease_stale_secs as i64,
                    token,
                    |_| {},
                )
                .await;
                if let Err(SyncError::AlreadyRunning) = r {
                    tracing::debug!(
                        integration = t.integration_id,
                        "a sync is already running elsewhere"
                    );
                }
            }
            // An unreadable key is a health cause: the check records it once and pauses syncs.
            Err(connections::ConnectError::Vault(_)) => check_health(&state, t),
            Err(e) => {
                tracing::warn!(integration = t.integration_id, error = %crate::error_chain(&e), "cannot sync")
            }
        }
        state.jobs.running.lock().remove(&t.integration_id);
    });
    true
}

/// The scheduler and the webhook worker, until `shutdown` is cancelled.
pub async fn run(state: Arc<AppState>, shutdown: CancellationToken) {
    let tick = Duration::from_millis(state.config.sync.tick_ms);
    let hooks = tokio::spawn(hook_worker(state.clone(), shutdown.clone()));
    let alerts = tokio::spawn(alert_worker(state.clone(), shutdown.clone()));
    loop {
        if state.config.sync.enabled
            && let Err(e) = schedule(&state).await
        {
            tracing::warn!(error = %e, "sync scheduler");
        }
        match crate::health::due(&state.store, state.config.health.interval_secs as i64).await {
            Ok(due) => {
                for t in due {
                    check_health(&state, t);
                }
            }
            Err(e) => tracing::warn!(error = %e, "health scheduler"),
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    for (_, token) in state.jobs.running.lock().drain() {
        token.cancel();
    }
    hooks.abort();
    alerts.abort();
}

/// Sends queued alerts as soon as they are queued, and reminders when they are due.
async fn alert_worker(state: Arc<AppState>, shutdown: CancellationToken) {
    let tick = Duration::from_millis(state.config.sync.tick_ms);
    loop {
        if let Err(e) = crate::health::alerts::remind(&state).await {
            tracing::warn!(error = %e, "alert reminders");
        }
        if let Err(e) = crate::health::alerts::deliver_pending(&state).await {
            tracing::warn!(error = %e, "alert deliveries");
        }
        tokio::select! {
            _ = state.jobs.alerts.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn schedule(state: &Arc<AppState>) -> Result<(), sqlx::Error> {
    let due: Vec<(i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT i.id, i.org_id, i.sync_interval_secs, (SELECT MAX(r.started_at) FROM sync_runs r WHERE r.integration_id = i.id) \
         FROM integrations i WHERE i.status IN ('connected', 'connected_with_warnings')",
    )
    .fetch_all(&state.store.pool)
    .await?;
    let default = state.config.sync.interval_secs as i64;
    for (id, org_id, every, last) in due {
        let every = every.unwrap_or(default);
        if last.is_none_or(|at| now() - at >= every) {
            start(
                state,
                Target {
                    org_id,
                    integration_id: id,
                },
                "schedule",
            )
            .await;
        }
    }
    Ok(())
}

/// Refreshes the tickets named by webhooks, as soon as they arrive.
async fn hook_worker(state: Arc<AppState>, shutdown: CancellationToken) {
    let tick = Duration::from_millis(state.config.sync.tick_ms);
    let mut clients: HashMap<i64, Client> = HashMap::new();
    loop {
        let pending: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            // Events of an integration that needs attention wait (nothing is lost) until it
            // works again.
            "SELECT e.org_id, e.integration_id, e.ticket_id, MAX(e.received_at) FROM hook_events e JOIN integrations i ON i.id = e.integration_id \
             WHERE e.processed_at IS NULL AND i.status IN ('connected', 'connected_with_warnings') GROUP BY e.org_id, e.integration_id, e.ticket_id LIMIT 100",
        )
        .fetch_all(&state.store.pool)
        .await
        .unwrap_or_default();
        for (org_id, integration_id, ticket_id, received) in pending {
            let t = Target {
                org_id,
                integration_id,
            };
            let client = match clients.entry(integration_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => match client_for(&state, t).await {
                    Ok(c) => e.insert(c),
                    Err(connections::ConnectError::NotFound) => {
                        mark(
                            &state.store,
                            t,
                            ticket_id,
                            received,
                            "integration disconnected",
                        )
                        .await;
                        continue;
                    }
                    // Left pending (nothing is lost): the health check records the cause, and
                    // events wait while the integration needs attention.
                    Err(connections::ConnectError::Vault(_)) => {
                        check_health(&state, t);
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(integration = integration_id, error = %crate::error_chain(&err), "cannot refresh from a webhook");
                        continue;
                    }
                },
            };
            if client.is_revoked() {
                // Re-authorized or disconnected since this client was built: build it again.
                clients.remove(&integration_id);
                continue;
            }
            let outcome = match sync::refresh_ticket(&state.store, client, t, ticket_id).await {
                Ok(true) => "refreshed".to_string(),
                Ok(false) => "not visible in Freshdesk".to_string(),
                Err(SyncError::Disconnected) => "integration disconnected".to_string(),
                Err(e) => {
                    // Left pending: polling is the backstop, and the next tick retries.
                    tracing::warn!(integration = integration_id, ticket = ticket_id, error = %e, "webhook refresh failed");
                    clients.remove(&integration_id);
                    continue;
                }
            };
            mark(&state.store, t, ticket_id, received, &outcome).await;
        }
        tokio::select! {
            _ = state.jobs.hooks.notified() => {}
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn mark(store: &Store, t: Target, ticket_id: i64, up_to: i64, outcome: &str) {
    let _ = sqlx::query("UPDATE hook_events SET processed_at = $1, outcome = $2 WHERE org_id = $3 AND integration_id = $4 AND ticket_id = $5 AND processed_at IS NULL AND received_at <= $6")
        .bind(now())
        .bind(outcome)
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(ticket_id)
        .bind(up_to)
        .execute(&store.pool)
        .await;
}

/// What the integration page shows about syncing.
#[derive(Debug, Clone, Serialize)]
pub struct SyncView {
    pub running: bool,
    pub run_id: Option<i64>,
    pub trigger: Option<String>,
    pub status: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub progress: Progress,
    /// Records held, per table.
    pub held: Vec<(String, i64)>,
    /// Streams skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    pub interval_secs: i64,
    pub hooks_received: i64,
    pub hooks_last_at: Option<i64>,
    pub hooks_last_outcome: Option<String>,
}

pub async fn view(state: &AppState, t: Target) -> Result<SyncView, sqlx::Error> {
    type RunRow = (
        i64,
        String,
        String,
        String,
        Option<String>,
        i64,
        Option<i64>,
    );
    let run: Option<RunRow> = sqlx::query_as(
        "SELECT id, trigger, status, progress_json, error, started_at, finished_at FROM sync_runs WHERE org_id = $1 AND integration_id = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_optional(&state.store.pool)
    .await?;
    let mut held = Vec::new();
    for (label, table) in [
        ("Tickets", "fd_tickets"),
        ("Conversations", "fd_conversations"),
        ("Contacts", "fd_contacts"),
        ("Companies", "fd_companies"),
        ("Agents", "fd_agents"),
        ("Groups", "fd_groups"),
        ("Ticket fields", "fd_ticket_fields"),
        ("Knowledge-base articles", "fd_articles"),
        ("Other records", "fd_records"),
    ] {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE org_id = $1 AND integration_id = $2"
        )))
        .bind(t.org_id)
        .bind(t.integration_id)
        .fetch_one(&state.store.pool)
        .await?;
        held.push((label.to_string(), n));
    }
    let skipped: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT stream, reason FROM sync_streams WHERE org_id = $1 AND integration_id = $2 AND status = 'skipped' ORDER BY stream",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&state.store.pool)
    .await?;
    let interval: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT sync_interval_secs FROM integrations WHERE id = $1 AND org_id = $2")
            .bind(t.integration_id)
            .bind(t.org_id)
            .fetch_optional(&state.store.pool)
            .await?;
    let hooks: (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(received_at) FROM hook_events WHERE org_id = $1 AND integration_id = $2",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_one(&state.store.pool)
    .await?;
    let last_outcome: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT outcome FROM hook_events WHERE org_id = $1 AND integration_id = $2 ORDER BY received_at DESC LIMIT 1",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_optional(&state.store.pool)
    .await?;
    let (run_id, trigger, status, progress, error, started_at, finished_at) = match run {
        Some((id, tr, st, pj, err, sa, fa)) => (
            Some(id),
            Some(tr),
            Some(st),
            serde_json::from_str(&pj).unwrap_or_default(),
            err,
            Some(sa),
            fa,
        ),
        None => (None, None, None, Progress::default(), None, None, None),
    };
    Ok(SyncView {
        running: status.as_deref() == Some("running"),
        run_id,
        trigger,
        status,
        error,
        started_at,
        finished_at,
        progress,
        held,
        skipped: skipped
            .into_iter()
            .map(|(s, r)| (s, r.unwrap_or_default()))
            .collect(),
        interval_secs: interval
            .and_then(|(i,)| i)
            .unwrap_or(state.config.sync.interval_secs as i64),
        hooks_received: hooks.0,
        hooks_last_at: hooks.1,
        hooks_last_outcome: last_outcome.and_then(|(o,)| o),
    })
}
