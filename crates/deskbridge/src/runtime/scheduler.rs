//! The scheduler only enqueues: due syncs, due health checks and alert reminders become jobs,
//! and finished jobs older than a week are pruned. Two servers may both schedule; dedupe keys
//! make that one job.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::store::now;
use crate::sync::Target;

/// Finished jobs are history for this long.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 86_400);

pub async fn run(state: Arc<AppState>, shutdown: CancellationToken) {
    let tick = Duration::from_millis(state.config.sync.tick_ms);
    let mut last_prune = None::<tokio::time::Instant>;
    loop {
        if state.config.sync.enabled
            && let Err(e) = syncs(&state).await
        {
            tracing::warn!(error = %crate::error_chain(&*e), "sync scheduler");
        }
        match crate::health::due(&state.store, state.config.health.interval_secs as i64).await {
            Ok(due) => {
                for t in due {
                    if let Err(e) = super::handlers::check_health(&state, t).await {
                        tracing::warn!(error = %crate::error_chain(&e), "health scheduler");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %crate::error_chain(&e), "health scheduler"),
        }
        if let Err(e) = crate::health::alerts::remind(&state).await {
            tracing::warn!(error = %crate::error_chain(&e), "alert reminders");
        }
        if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(600)) {
            last_prune = Some(tokio::time::Instant::now());
            if let Err(e) = state.queue.prune(KEEP_FINISHED).await {
                tracing::warn!(error = %crate::error_chain(&e), "pruning finished jobs");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

async fn syncs(state: &AppState) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
            super::handlers::start_sync(
                state,
                Target {
                    org_id,
                    integration_id: id,
                },
                "schedule",
            )
            .await?;
        }
    }
    Ok(())
}
