//! The `integrations` table, read and written only here (connect, re-authorize and disconnect in
//! `connections` use it too): an integration's identity ([`Target`]), its [`Status`], its health
//! columns, its stored connection report, its schedule and its webhook secret. Other capabilities
//! call these functions rather than writing SQL over the table, so a column means one thing.

use freshdesk::check::ConnectionReport;
use serde::Serialize;

use crate::store::Store;

/// One integration of one organisation: every query is scoped by both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub org_id: i64,
    pub integration_id: i64,
}

/// Where an integration stands. Stored as its code; shown with its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Connected,
    ConnectedWithWarnings,
    NeedsAttention,
    Unavailable,
    /// Not stored on a row (a disconnected integration has none); the timeline's first entry
    /// starts from it.
    Disconnected,
}

impl Status {
    const ALL: [Status; 5] = [
        Status::Connected,
        Status::ConnectedWithWarnings,
        Status::NeedsAttention,
        Status::Unavailable,
        Status::Disconnected,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Connected => "connected",
            Status::ConnectedWithWarnings => "connected_with_warnings",
            Status::NeedsAttention => "needs_attention",
            Status::Unavailable => "unavailable",
            Status::Disconnected => "disconnected",
        }
    }

    /// An unknown code reads as disconnected: it grants nothing.
    pub fn parse(code: &str) -> Status {
        Status::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .unwrap_or(Status::Disconnected)
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Connected => "Connected",
            Status::ConnectedWithWarnings => "Connected with warnings",
            Status::NeedsAttention => "Needs attention",
            Status::Unavailable => "Freshdesk unavailable",
            Status::Disconnected => "Disconnected",
        }
    }

    /// Whether syncs and write-backs may run: not while the integration needs attention or
    /// Freshdesk is unavailable.
    pub fn can_run(self) -> bool {
        matches!(self, Status::Connected | Status::ConnectedWithWarnings)
    }

    /// Whether an incident is open for it.
    pub fn is_broken(self) -> bool {
        matches!(self, Status::NeedsAttention | Status::Unavailable)
    }

    /// The status a successful connection check gives.
    pub fn of_report(report: &ConnectionReport) -> Status {
        if report.warnings.is_empty() {
            Status::Connected
        } else {
            Status::ConnectedWithWarnings
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

type Query = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;
type QueryAs<O> = sqlx::query::QueryAs<'static, sqlx::Any, O, sqlx::any::AnyArguments>;

/// A statement about one integration: `$1` is its id and `$2` its organisation; further
/// parameters follow from `$3`.
fn on(t: Target, sql: &'static str) -> Query {
    sqlx::query(sql).bind(t.integration_id).bind(t.org_id)
}

/// [`on`], for a query that returns rows.
fn on_as<O>(t: Target, sql: &'static str) -> QueryAs<O>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    sqlx::query_as(sql).bind(t.integration_id).bind(t.org_id)
}

/// The health columns of one row.
#[derive(Clone, Debug)]
pub struct HealthRow {
    pub status: Status,
    pub cause: Option<String>,
    pub detail: Option<String>,
    pub checked_at: Option<i64>,
}

pub async fn health_row(store: &Store, t: Target) -> Result<Option<HealthRow>, sqlx::Error> {
    type Row = (String, Option<String>, Option<String>, Option<i64>);
    let row: Option<Row> = on_as(
        t,
        "SELECT status, health_cause, health_detail, health_checked_at FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(status, cause, detail, checked_at)| HealthRow {
        status: Status::parse(&status),
        cause,
        detail,
        checked_at,
    }))
}

/// When Freshdesk last refused a product's write (403); `None` once write-back is allowed again
/// (or when the integration is gone).
pub async fn write_denied(store: &Store, t: Target) -> Result<Option<i64>, sqlx::Error> {
    let sql = "SELECT write_denied_at FROM integrations WHERE id = $1 AND org_id = $2";
    let row: Option<(Option<i64>,)> = on_as(t, sql).fetch_optional(&store.pool).await?;
    Ok(row.and_then(|(at,)| at))
}

/// Marks (`Some(at)`) or clears (`None`) Freshdesk's refusal of our writes.
pub async fn set_write_denied(
    store: &Store,
    t: Target,
    at: Option<i64>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE integrations SET write_denied_at = $3 WHERE id = $1 AND org_id = $2";
    on(t, sql).bind(at).execute(&store.pool).await?;
    Ok(())
}

/// The status alone; `None` when the integration is gone.
pub async fn status(store: &Store, t: Target) -> Result<Option<Status>, sqlx::Error> {
    Ok(health_row(store, t).await?.map(|h| h.status))
}

/// Stores a check's outcome. False when the integration is gone.
pub async fn set_health(
    store: &Store,
    t: Target,
    status: Status,
    cause: Option<&str>,
    detail: Option<&str>,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let r = on(t, "UPDATE integrations SET status = $3, health_cause = $4, health_detail = $5, health_checked_at = $6 WHERE id = $1 AND org_id = $2")
        .bind(status.code())
        .bind(cause)
        .bind(detail)
        .bind(at)
        .execute(&store.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// A check got an answer (good or bad): the failure streak ends.
pub async fn reset_failures(store: &Store, t: Target) -> Result<(), sqlx::Error> {
    on(t, "UPDATE integrations SET health_failures = 0, health_failing_since = NULL WHERE id = $1 AND org_id = $2")
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Counts one failed check and returns the streak: how many, since when. `None` when gone.
pub async fn count_failure(
    store: &Store,
    t: Target,
    at: i64,
) -> Result<Option<(i64, Option<i64>)>, sqlx::Error> {
    on(t, "UPDATE integrations SET health_failures = health_failures + 1, health_failing_since = COALESCE(health_failing_since, $3), health_checked_at = $3 WHERE id = $1 AND org_id = $2")
        .bind(at)
        .execute(&store.pool)
        .await?;
    on_as(
        t,
        "SELECT health_failures, health_failing_since FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .fetch_optional(&store.pool)
    .await
}

fn targets(rows: Vec<(i64, i64)>) -> Vec<Target> {
    rows.into_iter()
        .map(|(integration_id, org_id)| Target {
            org_id,
            integration_id,
        })
        .collect()
}

/// Integrations not checked since `before`.
pub async fn unchecked_since(store: &Store, before: i64) -> Result<Vec<Target>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, org_id FROM integrations WHERE health_checked_at IS NULL OR health_checked_at <= $1 ORDER BY id",
    )
    .bind(before)
    .fetch_all(&store.pool)
    .await?;
    Ok(targets(rows))
}

/// An organisation's integrations that need attention: id, domain and stored cause code.
pub async fn needing_attention(
    store: &Store,
    org_id: i64,
) -> Result<Vec<(i64, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, domain, health_cause FROM integrations WHERE org_id = $1 AND status = $2 ORDER BY id",
    )
    .bind(org_id)
    .bind(Status::NeedsAttention.code())
    .fetch_all(&store.pool)
    .await
}

/// Integrations that may sync now, each with its own interval if it set one.
pub async fn runnable(store: &Store) -> Result<Vec<Runnable>, sqlx::Error> {
    let rows: Vec<(i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT id, org_id, sync_interval_secs, run_started_at FROM integrations WHERE status IN ($1, $2) ORDER BY id",
    )
    .bind(Status::Connected.code())
    .bind(Status::ConnectedWithWarnings.code())
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(integration_id, org_id, every, run_started_at)| Runnable {
            t: Target {
                org_id,
                integration_id,
            },
            every,
            run_started_at,
        })
        .collect())
}

/// An integration whose syncs may run, with its own sync interval (if set) and when its newest
/// run started (if any).
pub struct Runnable {
    pub t: Target,
    pub every: Option<i64>,
    pub run_started_at: Option<i64>,
}

/// Records that a sync run of the integration started at `at` (the scheduler's clock).
pub async fn mark_run_started(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: Target,
    at: i64,
) -> Result<(), sqlx::Error> {
    on(
        t,
        "UPDATE integrations SET run_started_at = $3 WHERE id = $1 AND org_id = $2",
    )
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The stored connection report: `None` when the integration is gone, `Some(None)` when the
/// stored JSON is not a report this version reads.
pub async fn report(
    store: &Store,
    t: Target,
) -> Result<Option<Option<ConnectionReport>>, sqlx::Error> {
    let row: Option<(String,)> = on_as(
        t,
        "SELECT report_json FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(json,)| parse_report(&json)))
}

/// Reports are stored as JSON; this reads them back.
pub fn parse_report(json: &str) -> Option<ConnectionReport> {
    serde_json::from_str(json).ok()
}

/// The domain of an integration by id alone, for messages about it (alerts, run failures).
pub async fn domain(store: &Store, integration_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT domain FROM integrations WHERE id = $1")
        .bind(integration_id)
        .fetch_optional(&store.pool)
        .await?;
    Ok(row.map(|(d,)| d))
}

/// The integration's own sync interval: `None` when gone, `Some(None)` when it uses the default.
pub async fn sync_interval(store: &Store, t: Target) -> Result<Option<Option<i64>>, sqlx::Error> {
    let row: Option<(Option<i64>,)> = on_as(
        t,
        "SELECT sync_interval_secs FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(s,)| s))
}

pub async fn set_sync_interval(store: &Store, t: Target, secs: i64) -> Result<(), sqlx::Error> {
    on(
        t,
        "UPDATE integrations SET sync_interval_secs = $3 WHERE id = $1 AND org_id = $2",
    )
    .bind(secs)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The organisation and the webhook secret's digest of an integration, by id alone: a webhook
/// call names only the integration, and proves itself with the secret.
pub async fn hook_secret(
    store: &Store,
    integration_id: i64,
) -> Result<Option<(i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT org_id, hook_secret FROM integrations WHERE id = $1")
        .bind(integration_id)
        .fetch_optional(&store.pool)
        .await
}

pub async fn set_hook_secret(store: &Store, t: Target, digest: &str) -> Result<(), sqlx::Error> {
    on(
        t,
        "UPDATE integrations SET hook_secret = $3 WHERE id = $1 AND org_id = $2",
    )
    .bind(digest.to_string())
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Inside a sync page's transaction: proves the integration still exists and stamps it. The row
/// lock this takes (on PostgreSQL) orders the page against a concurrent disconnect, which deletes
/// the copy. False when it is gone.
pub async fn touch_synced(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: Target,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let r = on(
        t,
        "UPDATE integrations SET synced_at = $3 WHERE id = $1 AND org_id = $2",
    )
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// The master-key versions the stored keys use, for the vault's startup check.
pub async fn key_versions(store: &Store) -> Result<Vec<u32>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT DISTINCT key_version FROM integrations")
        .fetch_all(&store.pool)
        .await?;
    Ok(rows.into_iter().map(|(v,)| v as u32).collect())
}
