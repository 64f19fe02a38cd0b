//! The numbers an operator watches, gathered for one `/metrics` scrape: the queue by job kind and
//! state with the oldest row's age (from the table, so every process reports the same queue), how
//! far behind each integration's copy is (now minus the newest ticket change synced), each
//! Freshdesk account's credits and 429s as this process's rate governors saw them, and the
//! database pool's use. HTTP latency is counted where requests pass, in the web layer.

use crate::jobs::stats::{self, KindCount};
use crate::store::{Store, now};
use crate::sync::{SyncError, Target, ticket_cursors};

/// One scrape's figures.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub jobs: Vec<KindCount>,
    /// Per integration: seconds since the newest ticket change its copy holds.
    pub lag: Vec<(Target, i64)>,
    /// Per account (domain label): credits spent, 429s met, the learned per-minute limit.
    pub accounts: Vec<(String, u64, u64, Option<u32>)>,
    /// Connections open in this process's pool, and of those idle.
    pub pool: (u32, usize),
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("reading the job queue")]
    Queue(#[from] crate::jobs::QueueError),
    #[error("reading the sync cursors")]
    Sync(#[from] SyncError),
}

pub async fn gather(store: &Store) -> Result<Snapshot, MetricsError> {
    let jobs = stats::by_kind(store).await?;
    let at = now();
    let lag = ticket_cursors(store)
        .await?
        .into_iter()
        .map(|(t, cursor)| (t, (at - cursor).max(0)))
        .collect();
    // One row per account name, however many governors (one per routing) it has.
    let mut accounts: Vec<(String, u64, u64, Option<u32>)> = Vec::new();
    for (label, s) in freshdesk::governor::accounts() {
        match accounts.iter_mut().find(|a| a.0 == label) {
            Some(a) => {
                a.1 += s.credits_spent;
                a.2 += s.throttled;
                a.3 = a.3.max(s.limit);
            }
            None => accounts.push((label, s.credits_spent, s.throttled, s.limit)),
        }
    }
    Ok(Snapshot {
        jobs,
        lag,
        accounts,
        pool: (store.pool.size(), store.pool.num_idle()),
    })
}

/// Whether this process reaches its database now.
pub async fn database_reachable(store: &Store) -> bool {
    sqlx::query("SELECT 1").execute(&store.pool).await.is_ok()
}
