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

/// A field switched on: its key, model, threshold and since when; and where Triage's cursor
/// over the ticket changes stands.
type Active = (String, i64, f64, i64, Option<i64>);

async fn active(store: &Store, t: Target) -> Result<Vec<Active>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.field, f.model_id, f.threshold, f.enabled_at, \
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

/// Reads every ticket change after the cursor and predicts the new tickets; how many
/// predictions it made.
pub async fn run(store: &Store, t: Target) -> Result<usize, TriageError> {
    let fields = active(store, t).await?;
    if fields.is_empty() {
        return Ok(0);
    }
    let feed = Feed::named("tickets").expect("tickets are a stream");
    let mut made = 0;
    let mut after = fields[0].4.unwrap_or(0);
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
            for (key, model_id, threshold, since, _) in &fields {
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
    /// `shadow`: kept, nothing written.
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
