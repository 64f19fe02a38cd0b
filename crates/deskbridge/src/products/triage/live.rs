//! Predicting new tickets as they arrive: after every sync run and webhook refresh a
//! `triage_predict` job reads the integration's ticket changes after Triage's cursor (the change
//! feed gives each change once, in order), and predicts every ticket created since its field was
//! switched on, once per ticket, field and model. In shadow mode that is all: the prediction is
//! kept and shown, nothing is written to Freshdesk.

use serde::Serialize;
use serde_json::Value;

use super::fields::TriageError;
use super::models::{load, predict_with};
use crate::jobs::{NewJob, Queue};
use crate::store::{Store, now};
use crate::sync::Target;
use crate::sync::changes::{self, Feed};

/// The job kind that predicts an integration's new tickets.
pub const PREDICT_JOB: &str = "triage_predict";

/// How many ticket changes one pass reads.
const PAGE: i64 = 200;

/// A field switched on: its key, model, threshold and since when.
type Active = (String, i64, f64, i64);

async fn active(store: &Store, t: Target) -> Result<Vec<Active>, sqlx::Error> {
    sqlx::query_as(
        "SELECT field, model_id, threshold, enabled_at FROM triage_fields WHERE org_id = $1 \
         AND integration_id = $2 AND mode <> 'off' AND model_id IS NOT NULL AND threshold IS NOT NULL",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await
}

/// Queues a pass over new tickets when any field is switched on (one waits at a time).
pub async fn wake(queue: &Queue, t: Target) -> Result<(), TriageError> {
    if active(queue.store(), t).await?.is_empty() {
        return Ok(());
    }
    queue
        .enqueue(
            NewJob::new(PREDICT_JOB)
                .integration(t.org_id, t.integration_id)
                .dedupe_while_queued(format!("{PREDICT_JOB}:{}", t.integration_id))
                .priority(15),
        )
        .await?;
    Ok(())
}

/// Reads every ticket change after the cursor and predicts the new tickets; how many
/// predictions it made.
pub async fn run(store: &Store, t: Target) -> Result<usize, TriageError> {
    let fields = active(store, t).await?;
    if fields.is_empty() {
        return Ok(0);
    }
    let feed = Feed::named("tickets").expect("tickets are a stream");
    let mut made = 0;
    loop {
        let cursor: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM triage_cursors WHERE org_id = $1 AND integration_id = $2",
        )
        .bind(t.org_id)
        .bind(t.integration_id)
        .fetch_optional(&store.pool)
        .await?;
        let after = cursor.unwrap_or(0);
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
            for (key, model_id, threshold, since) in &fields {
                if created < *since {
                    continue;
                }
                let Some(model) = load(store, *model_id).await? else {
                    continue;
                };
                let p = predict_with(&model, key, *model_id, *threshold, &raw);
                let written = sqlx::query(
                    "INSERT INTO triage_predictions (org_id, integration_id, field, ticket_id, model_id, value, confidence, abstained, top, predicted_at, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'shadow') \
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
                .execute(&store.pool)
                .await?;
                made += written.rows_affected() as usize;
            }
        }
        sqlx::query("UPDATE triage_cursors SET seq = $1 WHERE org_id = $2 AND integration_id = $3 AND seq = $4")
            .bind(last)
            .bind(t.org_id)
            .bind(t.integration_id)
            .bind(after)
            .execute(&store.pool)
            .await?;
    }
}

/// A prediction as the Triage page and API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Made {
    pub ticket_id: i64,
    pub field: String,
    pub value: Option<String>,
    pub confidence: f64,
    pub abstained: Option<String>,
    pub model_id: i64,
    pub predicted_at: i64,
    /// `shadow`: kept, nothing written.
    pub outcome: String,
}

type MadeRow = (
    i64,
    String,
    Option<String>,
    f64,
    Option<String>,
    i64,
    i64,
    String,
);

/// The newest predictions of the integration.
pub async fn recent(store: &Store, t: Target, limit: i64) -> Result<Vec<Made>, sqlx::Error> {
    let rows: Vec<MadeRow> = sqlx::query_as(
        "SELECT ticket_id, field, value, confidence, abstained, model_id, predicted_at, outcome \
         FROM triage_predictions WHERE org_id = $1 AND integration_id = $2 \
         ORDER BY predicted_at DESC, ticket_id DESC LIMIT $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(limit)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(ticket_id, field, value, confidence, abstained, model_id, predicted_at, outcome)| {
                Made {
                    ticket_id,
                    field,
                    value,
                    confidence,
                    abstained,
                    model_id,
                    predicted_at,
                    outcome,
                }
            },
        )
        .collect())
}
