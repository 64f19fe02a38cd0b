//! Predicting new tickets as they arrive: after every sync run and webhook refresh a
//! `triage_predict` job reads the integration's ticket changes after Triage's cursor (the change
//! feed gives each change once, in order), and predicts every ticket created since its field was
//! switched on, once per ticket, field and model. In shadow mode that is all: the prediction is
//! kept and shown, nothing is written to Freshdesk. In write mode a confident prediction is
//! first kept as `pending`, then written: the ticket is re-read just before, and only a field
//! that is still empty gets the value, alone in a `PUT /tickets/{id}`; a value a person set is
//! kept. The prediction row is the ticket × field × model's only right to write, so a retry, a
//! second worker or a restart after a crash never writes twice (a `pending` row is finished by
//! the next pass, and its re-read sees a value already written). A 403 pauses write-back for
//! the field with the reason in words; 429s and 5xx leave the row pending for the job's retry.

use freshdesk::{Client, Priority};
use serde::Serialize;
use serde_json::{Value, json};

use super::fields::{Field, TriageError};
use super::models::{load, note, predict_with};
use crate::jobs::{NewJob, Queue};
use crate::store::{Store, now};
use crate::sync::Target;
use crate::sync::changes::{self, Feed};

/// The job kind that predicts an integration's new tickets.
pub const PREDICT_JOB: &str = "triage_predict";

/// How many ticket changes one pass reads.
const PAGE: i64 = 200;

/// A field switched on: its key, model, threshold, since when and mode; and where Triage's
/// cursor over the ticket changes stands.
type Active = (String, i64, f64, i64, String, Option<i64>);

async fn active(store: &Store, t: Target) -> Result<Vec<Active>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.field, f.model_id, f.threshold, f.enabled_at, f.mode, \
         (SELECT c.seq FROM triage_cursors c WHERE c.org_id = f.org_id AND c.integration_id = f.integration_id) \
         FROM triage_fields f WHERE f.org_id = $1 AND f.integration_id = $2 AND f.mode <> 'off' \
         AND f.model_id IS NOT NULL AND f.threshold IS NOT NULL",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await
}

/// Queues a pass over new tickets when any field is switched on (one waits at a time).
pub async fn wake(queue: &Queue, t: Target) -> Result<(), TriageError> {
    if !active(queue.store(), t).await?.is_empty() {
        let key = format!("{PREDICT_JOB}:{}", t.integration_id);
        let job = NewJob::new(PREDICT_JOB)
            .dedupe_while_queued(key)
            .priority(15);
        queue
            .enqueue(job.integration(t.org_id, t.integration_id))
            .await?;
    }
    Ok(())
}

/// Reads every ticket change after the cursor and predicts the new tickets, then writes the
/// pending ones back when a client is given; how many predictions it made.
pub async fn run(store: &Store, t: Target, client: Option<&Client>) -> Result<usize, TriageError> {
    let fields = active(store, t).await?;
    if fields.is_empty() {
        return Ok(0);
    }
    let made = predict_new(store, t, &fields).await?;
    if let Some(client) = client {
        write_pending(store, t, client).await?;
    }
    Ok(made)
}

async fn predict_new(store: &Store, t: Target, fields: &[Active]) -> Result<usize, TriageError> {
    let feed = Feed::named("tickets").expect("tickets are a stream");
    let mut made = 0;
    let mut after = fields[0].5.unwrap_or(0);
    loop {
        let page = changes::page(store, t, feed, after, None, PAGE).await?;
        let Some(last) = page.last().map(|c| c.seq) else {
            return Ok(made);
        };
        for c in &page {
            let (Some(raw), false) = (&c.raw, c.deleted) else {
                continue;
            };
            let created = c
                .fields
                .get("created_at")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let raw: Value = serde_json::from_str(raw.get()).unwrap_or_default();
            let status = c.fields.get("status").and_then(Value::as_i64);
            if matches!(status, Some(4 | 5)) {
                settle(store, t, c.id, &raw).await?;
            }
            for (key, model_id, threshold, since, mode, _) in fields {
                if created < *since {
                    continue;
                }
                let Some(model) = load(store, *model_id).await? else {
                    continue;
                };
                let p = predict_with(&model, key, *model_id, *threshold, &raw);
                let outcome = if mode == "write" && p.value.is_some() {
                    "pending"
                } else {
                    "shadow"
                };
                let written = sqlx::query(
                    "INSERT INTO triage_predictions (org_id, integration_id, field, ticket_id, model_id, value, confidence, abstained, top, predicted_at, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (org_id, integration_id, field, ticket_id, model_id) DO NOTHING",
                )
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(key)
                .bind(c.id)
                .bind(*model_id)
                .bind(p.value)
                .bind(p.confidence)
                .bind(p.abstained)
                .bind(serde_json::to_string(&p.top).unwrap_or_default())
                .bind(now())
                .bind(outcome)
                .execute(&store.pool)
                .await?;
                made += written.rows_affected() as usize;
            }
        }
        // Moved only from where this pass read it: a second pass at once changes nothing twice.
        let moved = sqlx::query("UPDATE triage_cursors SET seq = $1 WHERE org_id = $2 AND integration_id = $3 AND seq = $4")
            .bind(last)
            .bind(t.org_id)
            .bind(t.integration_id)
            .bind(after)
            .execute(&store.pool)
            .await?;
        if moved.rows_affected() == 0 {
            return Ok(made);
        }
        after = last;
    }
}

/// A ticket was resolved or closed: each of its predictions learns the field's value then, and
/// was right if that is the value it predicted (a person changed nothing). Only the first
/// resolution counts.
async fn settle(store: &Store, t: Target, ticket: i64, raw: &Value) -> Result<(), sqlx::Error> {
    let keys: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT field FROM triage_predictions WHERE org_id = $1 AND integration_id = $2 \
         AND ticket_id = $3 AND closed_at IS NULL AND value IS NOT NULL",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(ticket)
    .fetch_all(&store.pool)
    .await?;
    for (key,) in keys {
        let field = Field {
            label: key.clone(),
            key,
        };
        let value = field.value(raw);
        sqlx::query(
            "UPDATE triage_predictions SET final_value = $1, closed_at = $2, \
             correct = CASE WHEN value = $1 THEN 1 ELSE 0 END \
             WHERE field = $3 AND ticket_id = $4 AND org_id = $5 AND integration_id = $6 AND closed_at IS NULL AND value IS NOT NULL",
        )
        .bind(value)
        .bind(now())
        .bind(&field.key)
        .bind(ticket)
        .bind(t.org_id)
        .bind(t.integration_id)
        .execute(&store.pool)
        .await?;
    }
    Ok(())
}

/// How a field's predictions have fared on new tickets.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tally {
    pub field: String,
    pub predicted: i64,
    pub abstained: i64,
    pub written: i64,
    /// Predictions whose ticket was resolved or closed since, and of those, how many still held
    /// the predicted value then.
    pub closed: i64,
    pub correct: i64,
}

/// Per field: predicted, abstained, written, closed and correct at close.
pub async fn tally(store: &Store, t: Target) -> Result<Vec<Tally>, sqlx::Error> {
    sqlx::query_as(
        "SELECT field, COUNT(*) AS predicted, \
         SUM(CASE WHEN value IS NULL THEN 1 ELSE 0 END) AS abstained, \
         SUM(CASE WHEN outcome = 'written' THEN 1 ELSE 0 END) AS written, \
         SUM(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed, \
         SUM(CASE WHEN correct = 1 THEN 1 ELSE 0 END) AS correct \
         FROM triage_predictions WHERE org_id = $1 AND integration_id = $2 GROUP BY field ORDER BY field",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await
}

/// Writes every pending prediction of the integration whose field is still in write mode.
async fn write_pending(store: &Store, t: Target, client: &Client) -> Result<(), TriageError> {
    let pending: Vec<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT p.field, p.ticket_id, p.model_id, p.value FROM triage_predictions p \
         JOIN triage_fields f ON f.org_id = p.org_id AND f.integration_id = p.integration_id AND f.field = p.field \
         WHERE p.org_id = $1 AND p.integration_id = $2 AND p.outcome = 'pending' AND f.mode = 'write' \
         ORDER BY p.predicted_at, p.ticket_id LIMIT 500",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    let mut paused: Vec<String> = Vec::new();
    for (key, ticket, model, value) in pending {
        if paused.contains(&key) {
            continue;
        }
        let field = Field {
            label: key.clone(),
            key,
        };
        let (outcome, note) = match write_one(client, &field, ticket, &value).await {
            Ok(outcome) => (outcome, None),
            Err(freshdesk::Error::AccessDenied) => {
                note(store, t, &field.key, PAUSED, true).await?;
                // The field's other waiting writes are not tried: they stay predictions only.
                let rest = "UPDATE triage_predictions SET outcome = 'shadow', note = $4 \
                            WHERE field = $1 AND org_id = $2 AND integration_id = $3 AND outcome = 'pending' AND ticket_id <> $5";
                let q = sqlx::query(rest)
                    .bind(&field.key)
                    .bind(t.org_id)
                    .bind(t.integration_id);
                q.bind(PAUSED).bind(ticket).execute(&store.pool).await?;
                paused.push(field.key.clone());
                ("failed", Some(PAUSED))
            }
            Err(freshdesk::Error::Validation { .. }) => ("failed", Some(REFUSED)),
            Err(freshdesk::Error::NotFound) => {
                ("failed", Some("the ticket is gone from Freshdesk"))
            }
            // 429s, 5xx, timeouts: the row stays pending and the job is retried.
            Err(e) => return Err(TriageError::Refused(format!("write-back waits: {e}"))),
        };
        sqlx::query(
            "UPDATE triage_predictions SET outcome = $1, note = $2, written_at = $3 \
             WHERE org_id = $4 AND integration_id = $5 AND field = $6 AND ticket_id = $7 AND model_id = $8 AND outcome = 'pending'",
        )
        .bind(outcome)
        .bind(note)
        .bind(now())
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(&field.key)
        .bind(ticket)
        .bind(model)
        .execute(&store.pool)
        .await?;
    }
    Ok(())
}

const PAUSED: &str = "Triage cannot write: the integration user lacks permission to edit these tickets. Give it an admin role with ticket scope Global (or the tickets' groups), then switch write-back on again";
const REFUSED: &str = "Freshdesk refused the value (it may have been removed from the field's choices); retrain the field";

/// Re-reads the ticket and, if the field is still empty, puts the value there alone. `kept`
/// when a value was there already (a person's, or ours from a pass that died after writing).
async fn write_one(
    client: &Client,
    field: &Field,
    ticket: i64,
    value: &str,
) -> Result<&'static str, freshdesk::Error> {
    let current: Value = client
        .get(&freshdesk::endpoints::ticket(ticket), Priority::Interactive)
        .await?;
    match field.value(&current) {
        Some(v) if v == value => return Ok("written"),
        Some(_) => return Ok("kept"),
        None => {}
    }
    let body = match field.key.as_str() {
        k if k.starts_with("cf_") => json!({ "custom_fields": { k: value } }),
        "group_id" | "priority" => json!({ field.key.as_str(): value.parse::<i64>().ok() }),
        k => json!({ k: value }),
    };
    let url = client.url(&format!("tickets/{ticket}"))?;
    client
        .send(
            reqwest::Method::PUT,
            url,
            Some(&body),
            Priority::Interactive,
            false,
        )
        .await?;
    Ok("written")
}

/// A prediction as the Triage page and API show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Made {
    pub ticket_id: i64,
    #[schema(example = "cf_category")]
    pub field: String,
    #[schema(example = "Card payment declined")]
    pub value: Option<String>,
    #[schema(example = 0.93)]
    pub confidence: f64,
    pub abstained: Option<String>,
    pub model_id: i64,
    pub predicted_at: i64,
    /// `shadow` (nothing written), `pending`, `written`, `kept` (a person's value was there) or
    /// `failed`.
    #[schema(example = "shadow")]
    pub outcome: String,
}

/// The newest `limit` predictions of the integration.
pub async fn recent(store: &Store, t: Target, limit: i64) -> Result<Vec<Made>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_id, field, value, confidence, abstained, model_id, predicted_at, outcome \
         FROM triage_predictions WHERE org_id = $1 AND integration_id = $2 \
         ORDER BY predicted_at DESC, ticket_id DESC LIMIT $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(limit)
    .fetch_all(&store.pool)
    .await
}
