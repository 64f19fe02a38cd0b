//! The change feed of the synced copy: owns `record_changes` and `change_counters`. Every write
//! of the sync (a page of tickets, a ticket's conversations, a stream's records, tombstones and
//! purges, a webhook refresh) reports the ids it really changed, and [`record`] gives each the next
//! number of its integration's sequence in the same transaction. The counter row stays locked
//! until that transaction commits, so a second writer waits, and numbers become visible in the
//! order they were handed out: a reader that pages by number never skips one that commits late.
//! [`page`] reads a stream's changes after a number, each joined to the record as it is now (one
//! statement, so one snapshot), and a record deleted outright reads as its tombstone.

use serde_json::{Map, Value};
use sqlx::{Column, Row};

use super::Target;
use crate::store::{Store, Tx, now};

/// A stream of the feed: its name, the table that holds it, and its name inside `fd_records`
/// for the streams kept whole there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feed {
    pub name: &'static str,
    table: &'static str,
    in_records: bool,
}

const fn feed(name: &'static str, table: &'static str, in_records: bool) -> Feed {
    Feed {
        name,
        table,
        in_records,
    }
}

/// Every synced stream, in the order the records API lists them.
pub const FEEDS: [Feed; 15] = [
    feed("tickets", "fd_tickets", false),
    feed("conversations", "fd_conversations", false),
    feed("contacts", "fd_contacts", false),
    feed("companies", "fd_companies", false),
    feed("agents", "fd_agents", false),
    feed("groups", "fd_groups", false),
    feed("roles", "fd_records", true),
    feed("ticket_fields", "fd_ticket_fields", false),
    feed("solution_categories", "fd_records", true),
    feed("solution_folders", "fd_records", true),
    feed("solution_articles", "fd_articles", false),
    feed("business_hours", "fd_records", true),
    feed("sla_policies", "fd_records", true),
    feed("satisfaction_ratings", "fd_records", true),
    feed("time_entries", "fd_records", true),
];

impl Feed {
    pub fn named(name: &str) -> Option<Feed> {
        FEEDS.into_iter().find(|f| f.name == name)
    }

    /// The feed a sync write to `table` (with `stream` inside `fd_records`) belongs to.
    pub(super) fn of_table(table: &str, stream: &str) -> &'static str {
        FEEDS
            .iter()
            .find(|f| f.table == table && (!f.in_records || f.name == stream))
            .map_or("unknown", |f| f.name)
    }
}

/// Gives each of `ids` (records of `stream` that the caller's transaction changed) the next
/// number of the integration's sequence. Repeats keep their last place.
pub(crate) async fn record(
    tx: &mut Tx,
    t: Target,
    stream: &str,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    // The last of each repeated id keeps its place.
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let mut unique: Vec<i64> = ids
        .iter()
        .rev()
        .filter(|id| seen.insert(**id))
        .copied()
        .collect();
    unique.reverse();
    if unique.is_empty() {
        return Ok(());
    }
    let n = unique.len() as i64;
    let (top,): (i64,) = sqlx::query_as(
        "INSERT INTO change_counters (org_id, integration_id, seq) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id, integration_id) DO UPDATE SET seq = change_counters.seq + excluded.seq \
         RETURNING seq",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    let first = top - n + 1;
    super::activity::count_changes(tx, t, n).await?;
    let at = now();
    for (c, chunk) in unique.chunks(100).enumerate() {
        let sql = format!(
            "INSERT INTO record_changes (org_id, integration_id, stream, record_id, seq, changed_at) VALUES {} \
             ON CONFLICT (org_id, integration_id, stream, record_id) DO UPDATE SET seq = excluded.seq, changed_at = excluded.changed_at",
            crate::store::placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, id) in chunk.iter().enumerate() {
            q = q
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(stream.to_string())
                .bind(*id)
                .bind(first + (c * 100 + i) as i64)
                .bind(at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The ids a `… RETURNING id` statement reports, for [`record`].
pub(super) async fn returned_ids(
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    tx: &mut Tx,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows = q.fetch_all(&mut **tx).await?;
    rows.iter().map(|r| r.try_get::<i64, _>(0)).collect()
}

/// One change as the feed serves it: the record as it is now, or its tombstone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub seq: i64,
    pub id: i64,
    pub changed_at: i64,
    /// Spam, trashed, purged or deleted in Freshdesk, or gone from the copy.
    pub deleted: bool,
    pub state: Option<String>,
    /// The typed columns deskbridge keeps for the record.
    pub fields: Map<String, Value>,
    /// The record's Freshdesk JSON; `None` for a record deleted outright (or purged: `{}`).
    pub raw: Option<Box<serde_json::value::RawValue>>,
}

/// Columns that are bookkeeping, not the record's fields.
const HIDDEN: [&str; 7] = [
    "org_id",
    "integration_id",
    "id",
    "raw",
    "state",
    "stream",
    "conversations_synced_at",
];

/// Up to `limit` changes of `feed` after number `after` (and, when given, made at or after
/// `since`), oldest first.
pub async fn page(
    store: &Store,
    t: Target,
    feed: Feed,
    after: i64,
    since: Option<i64>,
    limit: i64,
) -> Result<Vec<Change>, sqlx::Error> {
    let stream_join = if feed.in_records {
        " AND r.stream = c.stream"
    } else {
        ""
    };
    let since_clause = if since.is_some() {
        " AND c.changed_at >= $6"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.seq AS change_seq, c.record_id AS change_id, c.changed_at AS change_at, r.* \
         FROM record_changes c LEFT JOIN {table} r \
         ON r.org_id = c.org_id AND r.integration_id = c.integration_id AND r.id = c.record_id{stream_join} \
         WHERE c.org_id = $1 AND c.integration_id = $2 AND c.stream = $3 AND c.seq > $4{since_clause} \
         ORDER BY c.seq LIMIT $5",
        table = feed.table
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(feed.name)
        .bind(after)
        .bind(limit);
    if let Some(s) = since {
        q = q.bind(s);
    }
    let rows = q.fetch_all(&store.pool).await?;
    rows.iter().map(to_change).collect()
}

fn to_change(row: &sqlx::any::AnyRow) -> Result<Change, sqlx::Error> {
    // Conversations have no state column: a stored one is live, a missing one deleted.
    let has_state = row.columns().iter().any(|c| c.name() == "state");
    let state: Option<String> = if has_state {
        row.try_get("state")?
    } else {
        None
    };
    let present = row.try_get::<Option<i64>, _>("id")?.is_some();
    let raw: Option<String> = row.try_get("raw")?;
    let mut fields = Map::new();
    for col in row.columns() {
        let name = col.name();
        if name.starts_with("change_") || HIDDEN.contains(&name) {
            continue;
        }
        let i = col.ordinal();
        let value = match row.try_get::<Option<i64>, _>(i) {
            Ok(v) => v.map(Value::from),
            Err(_) => row.try_get::<Option<String>, _>(i)?.map(Value::from),
        };
        fields.insert(name.to_string(), value.unwrap_or(Value::Null));
    }
    let deleted = !present || matches!(state.as_deref(), Some("spam" | "deleted" | "purged"));
    Ok(Change {
        seq: row.try_get("change_seq")?,
        id: row.try_get("change_id")?,
        changed_at: row.try_get("change_at")?,
        deleted,
        state,
        fields,
        raw: raw.and_then(|r| serde_json::value::RawValue::from_string(r).ok()),
    })
}

/// The key that signs this integration's cursors, made on first use. Reading a page is a read:
/// only the first page ever asked for writes the key.
pub async fn cursor_key(store: &Store, t: Target) -> Result<String, sqlx::Error> {
    if let Some(key) = stored_key(store, t).await? {
        return Ok(key);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator");
    let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Two first readers at once: the first key written wins, and both read it back.
    sqlx::query(
        "INSERT INTO change_counters (org_id, integration_id, seq, cursor_key) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (org_id, integration_id) DO UPDATE SET cursor_key = COALESCE(change_counters.cursor_key, excluded.cursor_key)",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(&fresh)
    .execute(&store.pool)
    .await?;
    Ok(stored_key(store, t).await?.unwrap_or(fresh))
}

async fn stored_key(store: &Store, t: Target) -> Result<Option<String>, sqlx::Error> {
    let sql = "SELECT cursor_key FROM change_counters WHERE org_id = $1 AND integration_id = $2";
    let key: Option<Option<String>> = sqlx::query_scalar(sql)
        .bind(t.org_id)
        .bind(t.integration_id)
        .fetch_optional(&store.pool)
        .await?;
    Ok(key.flatten())
}

/// The newest number handed out for the integration (0 before any change).
pub async fn head(store: &Store, t: Target) -> Result<i64, sqlx::Error> {
    let sql = "SELECT seq FROM change_counters WHERE org_id = $1 AND integration_id = $2";
    let seq: Option<i64> = sqlx::query_scalar(sql)
        .bind(t.org_id)
        .bind(t.integration_id)
        .fetch_optional(&store.pool)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Per stream, the records changed after number `after`: `(stream, how many, newest number)`.
pub async fn counts_after(
    store: &Store,
    t: Target,
    after: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT stream, COUNT(*), MAX(seq) FROM record_changes \
         WHERE org_id = $1 AND integration_id = $2 AND seq > $3 GROUP BY stream ORDER BY stream",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(after)
    .fetch_all(&store.pool)
    .await
}

/// The feed's tables, for disconnect.
pub(super) const TABLES: [&str; 2] = ["record_changes", "change_counters"];
