//! What every stream of a sync shares: the target and its options, progress and its meter, the
//! sync error, the page transaction that proves the integration still exists, cursors and stream
//! status, and the plain reason a skipped stream shows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use freshdesk::Client;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, now};

/// Re-read this much before the cursor: Freshdesk commits some changes with a timestamp a little
/// in the past (and clocks drift), and re-reading is cheap where skipping is data loss.
pub const OVERLAP_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Freshdesk(#[from] freshdesk::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the integration was disconnected during the sync")]
    Disconnected,
    #[error("a sync of this integration is already running")]
    AlreadyRunning,
    #[error("the sync was stopped")]
    Cancelled,
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> Self {
        SyncError::Store(StoreError::Query(e))
    }
}

/// The integration a sync writes the copy of (the `integrations` table is `connections`').
pub use crate::connections::table::Target;

/// What a run does beyond tickets.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fetch conversations of tickets that need them.
    pub conversations: bool,
    /// Sync the streams besides tickets and conversations.
    pub other_streams: bool,
    /// Small reference streams (agents, roles, groups, fields, knowledge base, business hours,
    /// SLA policies, time entries) are refreshed whole at most this often.
    pub reference_every_secs: i64,
    /// Walk every id to find hard-deleted records at most this often (`None`: never).
    pub reconcile_every_secs: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            conversations: true,
            other_streams: true,
            reference_every_secs: 3600,
            reconcile_every_secs: Some(86_400),
        }
    }
}

/// Where a run is, for progress displays. Stored as JSON on the run row for the live page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    /// `backfill` until the first full pass of tickets is done, then `incremental`.
    pub phase: String,
    /// The stream being walked now.
    pub stream: String,
    pub tickets: u64,
    pub conversations: u64,
    pub pages: u64,
    pub conversation_calls: u64,
    /// Records fetched this run, per stream.
    pub records: BTreeMap<String, u64>,
    /// Streams skipped this run, with the reason in plain words.
    pub skipped: BTreeMap<String, String>,
    /// Records found deleted for good by reconciliation.
    pub purged: u64,
    /// API credits spent this run and in the last minute, against the budget per minute.
    pub credits: u64,
    pub credits_last_minute: u64,
    pub budget_per_minute: Option<f64>,
    /// Tickets the account holds (from the connection check), for the backfill estimate.
    pub tickets_expected: Option<u64>,
    pub eta_secs: Option<u64>,
}

/// Counts credits from the account's governor and estimates the time left.
pub(crate) struct Meter {
    start_credits: u64,
    samples: std::collections::VecDeque<(Instant, u64)>,
    started: Instant,
}

impl Meter {
    pub(crate) fn new(client: &Client) -> Meter {
        Meter {
            start_credits: client.governor().stats().credits_spent,
            samples: Default::default(),
            started: Instant::now(),
        }
    }

    pub(crate) fn update(&mut self, client: &Client, p: &mut Progress) {
        let stats = client.governor().stats();
        let spent = stats.credits_spent.saturating_sub(self.start_credits);
        let now = Instant::now();
        self.samples.push_back((now, spent));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.samples.pop_front();
        }
        let minute_ago = self.samples.front().map(|(_, c)| *c).unwrap_or(0);
        p.credits = spent;
        p.credits_last_minute = spent - minute_ago.min(spent);
        let window = client.governor().window().as_secs_f64().max(1.0);
        p.budget_per_minute = stats.budget_per_window.map(|b| b * 60.0 / window);
        p.eta_secs = None;
        if p.phase == "backfill"
            && let Some(expected) = p.tickets_expected
        {
            // Credits still needed: a list page per 100 tickets plus a conversations call each.
            let left = expected.saturating_sub(p.tickets) as f64;
            let per_ticket = 0.01 + if p.conversations > 0 { 1.0 } else { 0.0 };
            let conv_left = p.tickets.saturating_sub(p.conversation_calls) as f64;
            let credits_left = left * per_ticket + conv_left;
            let rate = match p.budget_per_minute {
                Some(b) if b > 0.0 => b / 60.0,
                // Unthrottled: the pace seen so far.
                _ => spent as f64 / self.started.elapsed().as_secs_f64().max(0.001),
            };
            if rate > 0.0 {
                p.eta_secs = Some((credits_left / rate).ceil() as u64);
            }
        }
    }
}

/// Calls `f` with the progress, at most every `every`, and always when forced.
pub(crate) struct Reporter<'a> {
    pub(crate) f: &'a mut (dyn FnMut(&Progress) + Send),
    pub(crate) last: Option<Instant>,
    pub(crate) every: Duration,
}

impl Reporter<'_> {
    pub(crate) fn report(&mut self, p: &Progress, force: bool) {
        if force || self.last.is_none_or(|t| t.elapsed() >= self.every) {
            self.last = Some(Instant::now());
            (self.f)(p);
        }
    }
}

pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub client: &'a Client,
    pub t: Target,
    pub p: Progress,
    pub meter: Meter,
    pub reporter: Reporter<'a>,
    pub cancel: tokio_util::sync::CancellationToken,
}

impl Ctx<'_> {
    /// After every page: meter, report, and stop if asked to.
    pub(crate) fn tick(&mut self) -> Result<(), SyncError> {
        self.meter.update(self.client, &mut self.p);
        self.reporter.report(&self.p, false);
        if self.cancel.is_cancelled() {
            return Err(SyncError::Cancelled);
        }
        Ok(())
    }

    pub(crate) fn count(&mut self, stream: &str, n: u64) {
        *self.p.records.entry(stream.to_string()).or_default() += n;
    }
}

pub(crate) use crate::store::placeholders;

/// Opens a page transaction after proving the integration still exists; the row lock this takes
/// (on PostgreSQL) orders it against a concurrent disconnect, which deletes the copy.
pub(crate) async fn begin_page(
    store: &Store,
    t: Target,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, SyncError> {
    let mut tx = store.pool.begin().await?;
    if !crate::connections::table::touch_synced(&mut tx, t, now()).await? {
        return Err(SyncError::Disconnected);
    }
    Ok(tx)
}

pub async fn cursor(store: &Store, t: Target, stream: &str) -> Result<Option<i64>, SyncError> {
    per_stream(store, t, stream, "SELECT cursor FROM sync_cursors").await
}

/// Every integration's tickets cursor, the newest change it has synced (unix seconds): how far
/// behind the help desk each copy is, for operators.
pub async fn ticket_cursors(store: &Store) -> Result<Vec<(Target, i64)>, SyncError> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT org_id, integration_id, cursor FROM sync_cursors WHERE stream = 'tickets' ORDER BY integration_id",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(org_id, integration_id, c)| {
            let t = Target {
                org_id,
                integration_id,
            };
            (t, c)
        })
        .collect())
}

/// One number kept per stream of an integration (`select` names the column and table).
async fn per_stream(
    store: &Store,
    t: Target,
    stream: &str,
    select: &'static str,
) -> Result<Option<i64>, SyncError> {
    let row: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{select} WHERE org_id = $1 AND integration_id = $2 AND stream = $3"
    )))
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(stream)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(c,)| c))
}

/// Reconciliation's end: the table's rows Freshdesk no longer lists (not in `seen`) are purged, 500
/// at a time, each batch in one transaction running `statements` (bound to the organisation as
/// `$1` and the integration as `$2`, with `{ids}` standing for the batch, each ending in
/// `RETURNING id`; what each returns enters the change feed as its stream's). Returns how many.
pub(crate) async fn purge_unseen(
    (store, t): (&Store, Target),
    table: &'static str,
    seen: &std::collections::HashSet<i64>,
    statements: &[(&str, &str)],
) -> Result<u64, SyncError> {
    let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE org_id = $1 AND integration_id = $2 AND state <> 'purged'"
    )))
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    let gone: Vec<String> = rows
        .into_iter()
        .filter(|(id,)| !seen.contains(id))
        .map(|(id,)| id.to_string())
        .collect();
    for chunk in gone.chunks(500) {
        let ids = chunk.join(",");
        let mut tx = begin_page(store, t).await?;
        for (stream, sql) in statements {
            let q = sqlx::query(sqlx::AssertSqlSafe(sql.replace("{ids}", &ids)))
                .bind(t.org_id)
                .bind(t.integration_id);
            let changed = super::changes::returned_ids(q, &mut tx).await?;
            super::changes::record(&mut tx, t, stream, &changed).await?;
        }
        tx.commit().await?;
    }
    Ok(gone.len() as u64)
}

/// Sets a cursor explicitly (operators and tests); a normal run only ever moves it forward.
pub async fn set_cursor(store: &Store, t: Target, stream: &str, at: i64) -> Result<(), SyncError> {
    sqlx::query("INSERT INTO sync_cursors (org_id, integration_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, integration_id, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(stream)
        .bind(at)
        .bind(now())
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Moves a cursor forward (never back), inside the caller's transaction.
pub(crate) async fn advance_cursor(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: Target,
    stream: &str,
    at: i64,
) -> Result<(), SyncError> {
    sqlx::query("INSERT INTO sync_cursors (org_id, integration_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, integration_id, stream) DO UPDATE SET cursor = CASE WHEN excluded.cursor > sync_cursors.cursor THEN excluded.cursor ELSE sync_cursors.cursor END, updated_at = excluded.updated_at")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(stream)
        .bind(at)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records a stream's outcome for the integration page.
pub(crate) async fn stream_status(
    store: &Store,
    t: Target,
    stream: &str,
    skipped: Option<&str>,
) -> Result<(), SyncError> {
    sqlx::query("INSERT INTO sync_streams (org_id, integration_id, stream, status, reason, synced_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, integration_id, stream) DO UPDATE SET status = excluded.status, reason = excluded.reason, synced_at = excluded.synced_at")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(stream)
        .bind(if skipped.is_some() { "skipped" } else { "ok" })
        .bind(skipped.map(str::to_string))
        .bind(now())
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// When a stream last completed (or was skipped), if ever.
pub(crate) async fn stream_synced_at(
    store: &Store,
    t: Target,
    stream: &str,
) -> Result<Option<i64>, SyncError> {
    per_stream(store, t, stream, "SELECT synced_at FROM sync_streams").await
}

/// Why an endpoint is unavailable to this key, if that is what the error says; the sync skips it.
pub(crate) fn skip_reason(e: &freshdesk::Error) -> Option<String> {
    use crate::connections::fault::{Call, Fault, fault};
    match fault(e, Call::Data) {
        Fault::Unavailable(why) => Some(why.into()),
        _ => None,
    }
}
