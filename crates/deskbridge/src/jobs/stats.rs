//! What the queue holds, for operators: per job kind and state (queued, running, failed), how
//! many rows and how old the oldest is. Read at each metrics scrape, from the table itself, so
//! every process reports the same queue.

use crate::store::Store;

use super::queue::{QueueError, now_ms};

/// One kind in one state.
#[derive(Debug, Clone, PartialEq)]
pub struct KindCount {
    pub kind: String,
    pub state: String,
    pub count: i64,
    /// Seconds since the oldest of them was created.
    pub oldest_secs: f64,
}

/// Queued, running and failed jobs by kind.
pub async fn by_kind(store: &Store) -> Result<Vec<KindCount>, QueueError> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT kind, state, COUNT(*), MIN(created_at) FROM jobs \
         WHERE state IN ('queued', 'running', 'failed') GROUP BY kind, state ORDER BY kind, state",
    )
    .fetch_all(&store.pool)
    .await?;
    let at = now_ms();
    Ok(rows
        .into_iter()
        .map(|(kind, state, count, oldest)| KindCount {
            kind,
            state,
            count,
            oldest_secs: (at - oldest).max(0) as f64 / 1000.0,
        })
        .collect())
}
