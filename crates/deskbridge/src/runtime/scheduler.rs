//! The scheduler only enqueues: due syncs, due health checks and alert reminders become jobs,
//! and finished jobs older than a week are pruned. Two servers may both schedule; dedupe keys
//! make that one job.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::services::Services;
use crate::connections::table;
use crate::store::now;

/// Finished jobs are history for this long.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 86_400);

pub async fn run(state: Services, shutdown: CancellationToken) {
    let tick = Duration::from_millis(state.sync.tick_ms);
    let mut last_prune = None::<tokio::time::Instant>;
    loop {
        if state.sync.enabled
            && let Err(e) = syncs(&state).await
        {
            tracing::warn!(error = %crate::error_chain(&*e), "sync scheduler");
        }
        match crate::health::due(&state.store, state.monitor.every_secs()).await {
            Ok(due) => {
                for t in due {
                    if let Err(e) = super::handlers::check_health(&state.queue, t).await {
                        tracing::warn!(error = %crate::error_chain(&e), "health scheduler");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %crate::error_chain(&e), "health scheduler"),
        }
        if let Err(e) = state.monitor.alerts().remind().await {
            tracing::warn!(error = %crate::error_chain(&e), "alert reminders");
        }
        if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(600)) {
            last_prune = Some(tokio::time::Instant::now());
            if let Err(e) = state.queue.prune(KEEP_FINISHED).await {
                tracing::warn!(error = %crate::error_chain(&e), "pruning finished jobs");
            }
            let every = crate::products::triage::RETRAIN_EVERY_SECS;
            match crate::products::triage::retrain_due(&state.store, every).await {
                Ok(0) => {}
                Ok(_) => state.queue.ring(),
                Err(e) => tracing::warn!(error = %crate::error_chain(&e), "Triage retraining"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

/// Queues a sync of every runnable integration whose interval has passed since its last run
/// started.
async fn syncs(state: &Services) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let default = state.sync.interval_secs as i64;
    for r in table::runnable(&state.store).await? {
        let every = r.every.unwrap_or(default);
        if r.run_started_at.is_none_or(|at| now() - at >= every) {
            super::handlers::start_sync(&state.queue, r.t, "schedule").await?;
        }
    }
    Ok(())
}
