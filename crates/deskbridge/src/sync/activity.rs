//! Activity over time, for pictures: owns `api_usage` (API credits spent per minute, with the
//! budget per minute then) and `change_hours` (records changed per hour). Changes are counted in
//! the transaction that numbers them in the change feed, so the count is exact; credits are added
//! by the sync run as its meter moves. Both keep eight days.

use super::Target;
use crate::store::{Store, Tx, now};

/// How long activity is kept.
const KEEP_SECS: i64 = 8 * 86_400;

/// The tables, for disconnect.
pub(super) const TABLES: [&str; 2] = ["api_usage", "change_hours"];

/// Counts `n` records changed now, inside the transaction that changed them.
pub(super) async fn count_changes(tx: &mut Tx, t: Target, n: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO change_hours (org_id, integration_id, hour, changed) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, integration_id, hour) DO UPDATE SET changed = change_hours.changed + excluded.changed",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(now() / 3600 * 3600)
    .bind(n)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `credits` spent this minute, with the budget per minute the governor has learned.
pub async fn add_credits(
    store: &Store,
    t: Target,
    credits: u64,
    budget: Option<f64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_usage (org_id, integration_id, minute, credits, budget) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, integration_id, minute) DO UPDATE SET credits = api_usage.credits + excluded.credits, \
         budget = COALESCE(excluded.budget, api_usage.budget)",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(now() / 60 * 60)
    .bind(credits as i64)
    .bind(budget.map(|b| b.round() as i64))
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Activity since `from`: credits per minute `(minute, credits, budget)` and records changed per
/// hour `(hour, changed)`, oldest first; quiet minutes and hours are left out.
pub type Activity = (Vec<(i64, i64, Option<i64>)>, Vec<(i64, i64)>);

pub async fn since(store: &Store, t: Target, from: i64) -> Result<Activity, sqlx::Error> {
    let key = "WHERE org_id = $1 AND integration_id = $2";
    let credits = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT minute, credits, budget FROM api_usage {key} AND minute >= $3 ORDER BY minute"
    )));
    let changes = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT hour, changed FROM change_hours {key} AND hour >= $3 ORDER BY hour"
    )));
    let (ids, pool) = ((t.org_id, t.integration_id), &store.pool);
    Ok((
        credits
            .bind(ids.0)
            .bind(ids.1)
            .bind(from)
            .fetch_all(pool)
            .await?,
        changes
            .bind(ids.0)
            .bind(ids.1)
            .bind(from)
            .fetch_all(pool)
            .await?,
    ))
}

/// Drops activity older than eight days (each row's key starts with its integration, so this is
/// a range delete per table).
pub async fn prune(store: &Store, t: Target) -> Result<(), sqlx::Error> {
    for (table, column) in [("api_usage", "minute"), ("change_hours", "hour")] {
        let sql = format!(
            "DELETE FROM {table} WHERE org_id = $1 AND integration_id = $2 AND {column} < $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.org_id)
            .bind(t.integration_id)
            .bind(now() - KEEP_SECS)
            .execute(&store.pool)
            .await?;
    }
    Ok(())
}
