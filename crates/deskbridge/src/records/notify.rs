//! Change notifications: owns `change_notifications`. After a sync run or a webhook refresh,
//! [`announce`] turns the stretch of the integration's change feed not yet announced into one
//! `records.changed` event (which streams changed, how many, and the cursor to read each from)
//! and queues its delivery as a job, both in one transaction. Stretches start where the last one
//! ended, so every change is in exactly one event even when a process dies between a sync's
//! commit and its announcement (the next announcement covers it). A delivery is retried with the
//! same event id and body; the receiver drops an id it has seen.

use serde_json::json;

use super::read::{RecordsError, changed_since};
use crate::config::AlertsConfig;
use crate::store::{Store, Tx, now};
use crate::sync::Target;
use crate::vault::Vault;
use crate::webhook::{self, Attempt, CHANGES};

/// The job kind that sends one notification.
pub const JOB_KIND: &str = "changes_delivery";

/// The table this module owns, for disconnect.
const TABLE: &str = "change_notifications";

/// Deletes an integration's notifications inside the caller's transaction (disconnect); their
/// queued deliveries go with the integration's jobs.
pub async fn forget(tx: &mut Tx, t: Target) -> Result<(), sqlx::Error> {
    crate::store::delete_integration_rows(tx, &[TABLE], t.org_id, t.integration_id).await
}

/// Announces what changed since the last announcement of this integration, if its organisation
/// has a change webhook. Returns the new notification's id, or `None` when there was nothing to
/// announce (no webhook, no change, or another process announced the same stretch first).
pub async fn announce(
    store: &Store,
    t: Target,
    cfg: &AlertsConfig,
) -> Result<Option<i64>, RecordsError> {
    // The webhook's URL, and where the last announced stretch ended.
    let (url, last): (Option<String>, Option<i64>) = sqlx::query_as(
        "SELECT o.changes_webhook_url, (SELECT MAX(n.to_seq) FROM change_notifications n \
         WHERE n.org_id = o.id AND n.integration_id = $2) FROM organisations o WHERE o.id = $1",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_optional(&store.pool)
    .await?
    .unwrap_or_default();
    if url.is_none() {
        return Ok(None);
    }
    let from = last.unwrap_or(0);
    // Numbers become visible in order (see `sync::changes`), so every change up to the newest one
    // counted here is counted: the stretch (from, to] has no holes.
    let (to, streams) = changed_since(store, t.org_id, t.integration_id, Some(from)).await?;
    if streams.is_empty() {
        return Ok(None);
    }
    let event_id = format!("chg_{}_{}_{}", t.integration_id, from, to);
    let body = json!({
        "event": "records.changed",
        "event_id": event_id,
        "integration_id": t.integration_id,
        "from_position": from,
        "to_position": to,
        "streams": streams,
        "created_at": now(),
    })
    .to_string();
    let mut tx = store.pool.begin().await?;
    // A second announcer of the same stretch inserts nothing and queues nothing.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO change_notifications (org_id, integration_id, from_seq, to_seq, body, status, attempts, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) \
         ON CONFLICT (org_id, integration_id, from_seq) DO NOTHING RETURNING id",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(from)
    .bind(to)
    .bind(&body)
    .bind(now())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    let job = webhook::delivery_job(JOB_KIND, t, id, cfg.max_attempts);
    crate::jobs::enqueue(&mut *tx, job).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Sends one notification (a job): the same body and event id on every attempt, retried with
/// doubling waits up to `alerts.max_attempts`.
pub async fn deliver(
    store: &Store,
    vault: &Vault,
    cfg: &AlertsConfig,
    id: i64,
) -> Result<Attempt, sqlx::Error> {
    type Row = (i64, i64, i64, i64, String);
    let row: Option<Row> = sqlx::query_as(
        "SELECT org_id, integration_id, from_seq, attempts, body FROM change_notifications WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .fetch_optional(&store.pool)
    .await?;
    // Sent already (a job run again after its worker died) or gone with its integration.
    let Some((org_id, integration_id, from, attempts, body)) = row else {
        return Ok(Attempt::Done);
    };
    let event_id = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["event_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("chg_{integration_id}_{from}"));
    let private = cfg.allow_private_webhook_targets;
    let sent = webhook::post(store, vault, CHANGES, org_id, &event_id, &body, private).await;
    let attempts = attempts + 1;
    let (attempt, error) = match sent {
        Ok(()) => (Attempt::Done, None),
        Err(e) => {
            let words = e.to_string();
            tracing::warn!(notification = id, attempts, error = %words, "change notification not delivered");
            let a = Attempt::failed(
                words.clone(),
                attempts,
                cfg.max_attempts,
                cfg.retry_base_secs,
            );
            (a, Some(words))
        }
    };
    sqlx::query("UPDATE change_notifications SET status = $1, attempts = $2, last_error = $3, sent_at = $4 WHERE id = $5")
        .bind(attempt.status())
        .bind(attempts)
        .bind(error)
        .bind(matches!(attempt, Attempt::Done).then(now))
        .bind(id)
        .execute(&store.pool)
        .await?;
    Ok(attempt)
}
