//! What the integration's sync page shows: the last run with its live progress, the records
//! held per table, skipped streams, webhook counts, and the integration's jobs from the queue
//! (queued, running, failed), read from the tables so every process shows the same thing.

use serde::Serialize;

use crate::jobs::JobView;
use crate::store::Store;
use crate::sync::{Progress, Target};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("could not read the sync state")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] crate::jobs::QueueError),
}

/// What the integration page shows about syncing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = Vec<(String, i64)>)]
    pub held: Vec<(String, i64)>,
    /// Streams skipped, with the reason.
    #[schema(value_type = Vec<(String, String)>)]
    pub skipped: Vec<(String, String)>,
    pub interval_secs: i64,
    pub hooks_received: i64,
    pub hooks_last_at: Option<i64>,
    pub hooks_last_outcome: Option<String>,
    /// The integration's newest jobs, live ones first.
    pub jobs: Vec<JobView>,
}

/// The view of one integration; `default_interval` is the `[sync]` interval it falls back to.
pub async fn view(store: &Store, default_interval: i64, t: Target) -> Result<SyncView, ViewError> {
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
    .fetch_optional(&store.pool)
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
        .fetch_one(&store.pool)
        .await?;
        held.push((label.to_string(), n));
    }
    let skipped: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT stream, reason FROM sync_streams WHERE org_id = $1 AND integration_id = $2 AND status = 'skipped' ORDER BY stream",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    let interval = crate::connections::table::sync_interval(store, t)
        .await?
        .flatten();
    let hooks: (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(received_at) FROM hook_events WHERE org_id = $1 AND integration_id = $2",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_one(&store.pool)
    .await?;
    let last_outcome: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT outcome FROM hook_events WHERE org_id = $1 AND integration_id = $2 ORDER BY received_at DESC LIMIT 1",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_optional(&store.pool)
    .await?;
    let jobs = crate::jobs::list(store, t.integration_id, 10).await?;
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
        running: status.as_deref() == Some("running")
            || jobs.iter().any(|j| {
                j.kind == crate::sync::JOB_KIND && j.state == crate::jobs::JobState::Running
            }),
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
        interval_secs: interval.unwrap_or(default_interval),
        hooks_received: hooks.0,
        hooks_last_at: hooks.1,
        hooks_last_outcome: last_outcome.and_then(|(o,)| o),
        jobs,
    })
}
