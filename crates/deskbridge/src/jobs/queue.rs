//! The `jobs` table and every statement over it. Enqueueing takes any executor, so a cause and its
//! job commit in one transaction; a dedupe key names at most one live job (a partial unique
//! index). Claiming is one conditional `UPDATE … RETURNING` that takes a lease for an owner; on
//! PostgreSQL the candidate row is picked `FOR UPDATE SKIP LOCKED`, so workers never wait on each
//! other. A lease that expired (its worker was killed) makes the job claimable again, and every
//! later write by the old owner is refused because it names the owner. Each queued job has a
//! place in a fair order between organisations (`fair_at`, set where it is queued or requeued),
//! which claims follow within a priority.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde::Serialize;
use sqlx::{Any, Executor};
use tokio::sync::Notify;

use crate::store::{Engine, Store};

/// How many of the first queued jobs in fair order a claim chooses among (see [`Queue::claim`]).
const HEAD: usize = 64;

/// Unix time in milliseconds: leases of a second or two (tests) must not round.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the job queue could not read or write its table")]
    Store(#[from] sqlx::Error),
    #[error("a job payload could not be encoded or decoded")]
    Payload(#[from] serde_json::Error),
}

/// Where a job is in its life. `Queued` and `Running` are live; the rest are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn code(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(code: &str) -> Option<JobState> {
        Some(match code {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    pub fn is_live(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job to enqueue. Kinds are names the composition root registers handlers for; the queue
/// knows none of them.
#[derive(Clone, Debug)]
pub struct NewJob {
    kind: &'static str,
    org_id: Option<i64>,
    integration_id: Option<i64>,
    payload: serde_json::Value,
    dedupe_key: Option<String>,
    priority: i64,
    delay: Duration,
    max_attempts: i64,
    dedupe_running: bool,
}

impl NewJob {
    pub fn new(kind: &'static str) -> NewJob {
        NewJob {
            kind,
            org_id: None,
            integration_id: None,
            payload: serde_json::Value::Object(Default::default()),
            dedupe_key: None,
            priority: 0,
            delay: Duration::ZERO,
            max_attempts: 1,
            dedupe_running: true,
        }
    }

    pub fn integration(mut self, org_id: i64, integration_id: i64) -> NewJob {
        self.org_id = Some(org_id);
        self.integration_id = Some(integration_id);
        self
    }

    pub fn payload(mut self, payload: serde_json::Value) -> NewJob {
        self.payload = payload;
        self
    }

    /// At most one live job carries this key; enqueueing another while one lives does nothing.
    pub fn dedupe(mut self, key: impl Into<String>) -> NewJob {
        self.dedupe_key = Some(key.into());
        self
    }

    /// The dedupe key holds only while the job is queued: once a worker claims it, the same
    /// cause may queue one more (a webhook that arrives while its ticket is being refreshed).
    pub fn dedupe_while_queued(mut self, key: impl Into<String>) -> NewJob {
        self.dedupe_key = Some(key.into());
        self.dedupe_running = false;
        self
    }

    /// Higher runs first among jobs that are due.
    pub fn priority(mut self, priority: i64) -> NewJob {
        self.priority = priority;
        self
    }

    pub fn delay(mut self, delay: Duration) -> NewJob {
        self.delay = delay;
        self
    }

    /// Attempts before the job stays `failed` (at least one).
    pub fn max_attempts(mut self, n: u32) -> NewJob {
        self.max_attempts = i64::from(n.max(1));
        self
    }
}

/// A job this worker holds the lease of.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub org_id: Option<i64>,
    pub integration_id: Option<i64>,
    pub payload: serde_json::Value,
    /// Including this one.
    pub attempts: i64,
    pub max_attempts: i64,
}

/// One job as status pages and the API show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after_ms: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

/// What a heartbeat learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    Held,
    /// Someone asked the job to stop (disconnect, re-authorize).
    CancelRequested,
    /// The lease expired and another worker took the job: stop without writing.
    Lost,
}

/// How a run ended, as the queue records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    Succeeded,
    /// Retried after `after` if attempts remain, else `failed`; the words are kept.
    Retry {
        error: String,
        after: Duration,
    },
    /// Failed for good.
    Failed(String),
    /// Not run now and not an attempt: due again after the delay (an integration that needs
    /// attention holds its work back until it is repaired).
    Later(Duration),
    Cancelled,
}

/// The queue handle: a store, this worker's owner name, the lease length and a bell that wakes
/// this process's worker when something is enqueued.
#[derive(Clone)]
pub struct Queue {
    store: Store,
    owner: Arc<str>,
    lease: Duration,
    bell: Arc<Notify>,
}

const COLUMNS: &str = "id, kind, org_id, integration_id, payload, attempts, max_attempts";
type ClaimRow = (i64, String, Option<i64>, Option<i64>, String, i64, i64);

impl Queue {
    pub fn new(store: Store, lease: Duration) -> Queue {
        Queue {
            store,
            owner: format!("worker-{}", uuid::Uuid::new_v4().simple()).into(),
            lease,
            bell: Arc::new(Notify::new()),
        }
    }

    /// The same table under another owner name: a second worker (tests, a second process).
    pub fn with_owner(&self, owner: &str) -> Queue {
        Queue {
            owner: owner.into(),
            bell: Arc::new(Notify::new()),
            ..self.clone()
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Wakes this process's worker (after a commit that enqueued through a transaction).
    pub fn ring(&self) {
        self.bell.notify_one();
    }

    pub async fn rung(&self) {
        self.bell.notified().await
    }

    /// Enqueues on the pool and rings. `None` if a live job already carries the dedupe key.
    pub async fn enqueue(&self, job: NewJob) -> Result<Option<i64>, QueueError> {
        let id = enqueue(&self.store.pool, job).await?;
        self.ring();
        Ok(id)
    }

    /// Takes the lease of the most urgent due job of one of `kinds`: one conditional update.
    pub async fn claim(&self, kinds: &[&str]) -> Result<Option<Claimed>, QueueError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let at = now_ms();
        let expires = at + self.lease.as_millis() as i64;
        let kind_list = placeholders(5, kinds.len());
        // Due means queued and past run_after, or running with a lease nobody renewed.
        let due_in = |t: &str| {
            format!(
                "(({t}state = 'queued' AND {t}run_after <= $3) OR ({t}state = 'running' AND {t}lease_expires_at < $3))"
            )
        };
        let (due, due_j) = (due_in(""), due_in("j."));
        // Fairness: higher priority first; within a priority, the job whose organisation has the
        // fewest jobs running now, so organisations share the workers evenly and one with a long
        // backfill (which also yields every `sync.slice_secs`) cannot hold others back; then the
        // first in fair order (`fair_at`: an organisation's jobs queued together are spaced
        // FAIR_STEP apart, so others' jobs fall in between). It chooses among the HEAD first
        // queued jobs of the highest priorities (and as many lapsed ones), which an index hands
        // over in order: a claim reads a few dozen rows however long the queue is.
        let busy = "busy AS (SELECT org_id, COUNT(*) AS n FROM jobs WHERE state = 'running' GROUP BY org_id)";
        let queued = format!(
            "SELECT * FROM (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= $3 AND kind IN ({kind_list}) ORDER BY priority DESC, fair_at, id LIMIT {HEAD}) q"
        );
        let lapsed = format!(
            "SELECT * FROM (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < $3 AND kind IN ({kind_list}) LIMIT {HEAD}) l"
        );
        let from = "FROM head h JOIN jobs j ON j.id = h.id LEFT JOIN busy b ON b.org_id = j.org_id";
        let order = "ORDER BY j.priority DESC, COALESCE(b.n, 0), j.fair_at, j.id LIMIT 1";
        let select = format!(
            "WITH {busy}, head AS ({queued} UNION ALL {lapsed}) SELECT j.id {from} WHERE {due_j} {order}"
        );
        let pick = match self.store.engine {
            Engine::Postgres => format!("{select} FOR UPDATE OF j SKIP LOCKED"),
            Engine::Sqlite => select,
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3, run_after = $4, \
             dedupe_key = CASE WHEN dedupe_running = 0 THEN NULL ELSE dedupe_key END \
             WHERE id = ({pick}) AND {due} RETURNING {COLUMNS}"
        );
        let mut q = sqlx::query_as::<_, ClaimRow>(sqlx::AssertSqlSafe(sql))
            .bind(self.owner.as_ref())
            .bind(expires)
            .bind(at)
            .bind(at);
        for k in kinds {
            q = q.bind(*k);
        }
        let row = q.fetch_optional(&self.store.pool).await?;
        row.map(
            |(id, kind, org_id, integration_id, payload, attempts, max_attempts)| {
                Ok(Claimed {
                    id,
                    kind,
                    org_id,
                    integration_id,
                    payload: serde_json::from_str(&payload)?,
                    attempts,
                    max_attempts,
                })
            },
        )
        .transpose()
    }

    /// Gives a running job back to the queue at once, due now and its attempt not counted: the
    /// process is shutting down, and another worker need not wait for the lease to lapse. False
    /// if the lease was no longer ours.
    /// It keeps its place in the fair order: it was already at the front.
    pub async fn release(&self, job: &Claimed) -> Result<bool, QueueError> {
        let sql = "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, \
                   attempts = attempts - 1, run_after = $3, updated_at = $3 \
                   WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
        let q = sqlx::query(sql).bind(job.id).bind(self.owner.as_ref());
        let done = q.bind(now_ms()).execute(&self.store.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Renews the lease and reads the cancel flag in one statement.
    pub async fn heartbeat(&self, job: &Claimed) -> Result<Beat, QueueError> {
        let at = now_ms();
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND state = 'running' RETURNING cancel_requested",
        )
        .bind(at + self.lease.as_millis() as i64)
        .bind(at)
        .bind(job.id)
        .bind(self.owner.as_ref())
        .fetch_optional(&self.store.pool)
        .await?;
        Ok(match row {
            None => Beat::Lost,
            Some((0,)) => Beat::Held,
            Some(_) => Beat::CancelRequested,
        })
    }

    /// Records how a run ended; false if the lease was lost (another worker owns the job now).
    pub async fn finish(&self, job: &Claimed, how: &Finish) -> Result<bool, QueueError> {
        let at = now_ms();
        let (state, error, run_after, attempts, finished) = match how {
            Finish::Succeeded => (JobState::Succeeded, None, at, job.attempts, Some(at)),
            Finish::Cancelled => (JobState::Cancelled, None, at, job.attempts, Some(at)),
            Finish::Failed(e) => (
                JobState::Failed,
                Some(e.clone()),
                at,
                job.attempts,
                Some(at),
            ),
            Finish::Retry { error, after } if job.attempts < job.max_attempts => (
                JobState::Queued,
                Some(error.clone()),
                at + after.as_millis() as i64,
                job.attempts,
                None,
            ),
            Finish::Retry { error, .. } => (
                JobState::Failed,
                Some(error.clone()),
                at,
                job.attempts,
                Some(at),
            ),
            Finish::Later(after) => (
                JobState::Queued,
                None,
                at + after.as_millis() as i64,
                job.attempts - 1,
                None,
            ),
        };
        let r = sqlx::query(sqlx::AssertSqlSafe(FINISH_SQL.as_str()))
            .bind(state.code())
            .bind(error)
            .bind(run_after)
            .bind(attempts)
            .bind(finished)
            .bind(at)
            .bind(job.id)
            .bind(self.owner.as_ref())
            .execute(&self.store.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The newest jobs of an integration, live ones first.
    pub async fn for_integration(
        &self,
        integration_id: i64,
        limit: i64,
    ) -> Result<Vec<JobView>, QueueError> {
        list(&self.store, integration_id, limit).await
    }

    /// Deletes final jobs older than `keep`; they are history, and webhook refreshes are many.
    pub async fn prune(&self, keep: Duration) -> Result<u64, QueueError> {
        let r = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('succeeded', 'cancelled', 'failed') AND finished_at < $1",
        )
        .bind(now_ms() - keep.as_millis() as i64)
        .execute(&self.store.pool)
        .await?;
        Ok(r.rows_affected())
    }
}

/// How far apart an organisation's jobs queued together are placed in fair order: about one
/// job's turn. Placing is all it does; nothing waits for it.
const FAIR_STEP_MS: i64 = 1_000;

/// The fair place of a job queued by organisation `org` at `priority`, due at `due`: one step
/// after that organisation's last queued job of the priority, or `due` when that is later (or it
/// has none; jobs of no organisation are placed at `due`). Each argument is SQL.
fn fair_place(org: &str, priority: &str, due: &str) -> String {
    format!(
        "(SELECT CASE WHEN MAX(f.fair_at) + {FAIR_STEP_MS} > {due} THEN MAX(f.fair_at) + {FAIR_STEP_MS} ELSE {due} END \
         FROM jobs f WHERE f.org_id = {org} AND f.priority = {priority} AND f.state = 'queued')"
    )
}

/// How a run ends: the state, and for a job back in the queue its fair place (built once).
static FINISH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET state = $1, last_error = COALESCE($2, last_error), run_after = $3, attempts = $4, finished_at = $5, \
         lease_owner = NULL, lease_expires_at = NULL, updated_at = $6, \
         fair_at = CASE WHEN $1 = 'queued' THEN {} ELSE fair_at END \
         WHERE id = $7 AND lease_owner = $8 AND state = 'running'",
        fair_place("jobs.org_id", "jobs.priority", "$3")
    )
});

/// A new job in its fair place, unless a live job carries its dedupe key (built once).
static ENQUEUE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO jobs (kind, org_id, integration_id, payload, dedupe_key, priority, state, run_after, attempts, max_attempts, cancel_requested, dedupe_running, created_at, updated_at, fair_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 0, $8, 0, $10, $9, $9, {}) \
         ON CONFLICT (dedupe_key) WHERE state IN ('queued', 'running') DO NOTHING RETURNING id",
        fair_place("$2", "$6", "$7")
    )
});

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Enqueues on any executor (a transaction: the job commits with its cause). `None` if a live
/// job already carries the dedupe key. The caller rings the queue after its commit.
pub async fn enqueue<'e, E>(db: E, job: NewJob) -> Result<Option<i64>, QueueError>
where
    E: Executor<'e, Database = Any>,
{
    let at = now_ms();
    let row: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(ENQUEUE_SQL.as_str()))
        .bind(job.kind)
        .bind(job.org_id)
        .bind(job.integration_id)
        .bind(serde_json::to_string(&job.payload)?)
        .bind(job.dedupe_key)
        .bind(job.priority)
        .bind(at + job.delay.as_millis() as i64)
        .bind(job.max_attempts)
        .bind(at)
        .bind(i64::from(job.dedupe_running))
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(id,)| id))
}

/// Stops an integration's live jobs: queued ones are cancelled at once, running ones get the
/// flag their worker's next heartbeat reads. Takes any executor, so a disconnect or re-authorize
/// cancels in its own transaction.
pub async fn cancel_integration<'e, E>(db: E, integration_id: i64) -> Result<(), QueueError>
where
    E: Executor<'e, Database = Any>,
{
    let at = now_ms();
    sqlx::query(
        "UPDATE jobs SET cancel_requested = 1, updated_at = $1, \
         state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
         finished_at = CASE WHEN state = 'queued' THEN $1 ELSE finished_at END \
         WHERE integration_id = $2 AND state IN ('queued', 'running')",
    )
    .bind(at)
    .bind(integration_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a live job carries the dedupe key.
pub async fn is_live(store: &Store, dedupe_key: &str) -> Result<bool, QueueError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE dedupe_key = $1 AND state IN ('queued', 'running')",
    )
    .bind(dedupe_key)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.is_some())
}

/// The newest jobs of an integration: live first, then by age.
pub async fn list(
    store: &Store,
    integration_id: i64,
    limit: i64,
) -> Result<Vec<JobView>, QueueError> {
    let rows: Vec<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM jobs WHERE integration_id = $1 \
         ORDER BY CASE WHEN state IN ('queued', 'running') THEN 0 ELSE 1 END, id DESC LIMIT $2"
    )))
    .bind(integration_id)
    .bind(limit)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.into_iter().filter_map(view_of).collect())
}

const VIEW_COLUMNS: &str =
    "id, kind, state, attempts, max_attempts, run_after, last_error, created_at, finished_at";

type ViewRow = (
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);

fn view_of(row: ViewRow) -> Option<JobView> {
    Some(JobView {
        state: JobState::parse(&row.2)?,
        id: row.0,
        kind: row.1,
        attempts: row.3,
        max_attempts: row.4,
        run_after_ms: row.5,
        last_error: row.6,
        created_at_ms: row.7,
        finished_at_ms: row.8,
    })
}

/// Every job, newest first (operators and tests).
pub async fn list_all(store: &Store) -> Result<Vec<JobView>, QueueError> {
    let rows: Vec<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM jobs ORDER BY id DESC"
    )))
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.into_iter().filter_map(view_of).collect())
}
