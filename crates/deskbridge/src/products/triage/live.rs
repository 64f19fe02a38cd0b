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
use super::models::{load, note, predict_with, retire, retired, settings};
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

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    /// Predictions made.
    pub made: usize,
    /// Freshdesk refused a write (403): the integration's health should say so.
    pub denied: bool,
}

/// Reads every ticket change after the cursor and predicts the new tickets, then writes the
/// pending ones back when a client is given.
pub async fn run(store: &Store, t: Target, client: Option<&Client>) -> Result<Pass, TriageError> {
    let fields = active(store, t).await?;
    if fields.is_empty() {
        return Ok(Pass::default());
    }
    let made = predict_new(store, t, &fields).await?;
    let denied = match client {
        Some(client) => write_pending(store, t, client).await?,
        None => false,
    };
    Ok(Pass { made, denied })
}

async fn predict_new(store: &Store, t: Target, fields: &[Active]) -> Result<usize, TriageError> {
    let feed = Feed::named("tickets").expect("tickets are a stream");
    let mut made = 0;
    let mut after = fields[0].5.unwrap_or(0);
    let mut refused = Vec::new();
    for (key, model_id, ..) in fields {
        refused.push(retired(store, t, key, *model_id).await?);
    }
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
            for ((key, model_id, threshold, since, mode, _), retired) in fields.iter().zip(&refused)
            {
                if created < *since {
                    continue;
                }
                let Some(model) = load(store, *model_id).await? else {
                    continue;
                };
                let p = predict_with(&model, key, *model_id, *threshold, retired, &raw);
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

/// A prediction waiting to be written: field, ticket, model, value, and its top three (JSON).
type Pending = (String, i64, i64, String, String);

/// A field's predictions settled at close, per slot of `slot` seconds from `since`: how many
/// closed in each, and how many of those were right. Oldest first; every slot is there.
pub async fn over_time(
    store: &Store,
    t: Target,
    key: &str,
    since: i64,
    slot: i64,
    slots: usize,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (closed_at - $4) / $5 AS n, COUNT(*), SUM(CASE WHEN correct = 1 THEN 1 ELSE 0 END) \
         FROM triage_predictions WHERE org_id = $1 AND integration_id = $2 AND field = $3 \
         AND closed_at >= $4 GROUP BY 1",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(key)
    .bind(since)
    .bind(slot)
    .fetch_all(&store.pool)
    .await?;
    let mut out = vec![(0, 0); slots];
    for (n, closed, correct) in rows {
        if let Some(s) = usize::try_from(n).ok().and_then(|n| out.get_mut(n)) {
            *s = (closed, correct);
        }
    }
    Ok(out)
}

/// Writes every pending prediction of the integration whose field is still in write mode; true
/// if Freshdesk refused one (403).
async fn write_pending(store: &Store, t: Target, client: &Client) -> Result<bool, TriageError> {
    let pending: Vec<Pending> = sqlx::query_as(
        "SELECT p.field, p.ticket_id, p.model_id, p.value, p.top FROM triage_predictions p \
         JOIN triage_fields f ON f.org_id = p.org_id AND f.integration_id = p.integration_id AND f.field = p.field \
         WHERE p.org_id = $1 AND p.integration_id = $2 AND p.outcome = 'pending' AND f.mode = 'write' \
         ORDER BY p.predicted_at, p.ticket_id LIMIT 500",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    let mut paused: Vec<String> = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for (key, ticket, model, value, top) in pending {
        if paused.contains(&key) {
            continue;
        }
        let annotate = settings(store, t, &key).await?.annotate.0;
        let field = Field {
            label: key.clone(),
            key,
        };
        let retired = refused.contains(&(field.key.clone(), value.clone()));
        let tag = annotate.then_some(TAG);
        // A value refused earlier in this pass is not tried again.
        let tried = match retired {
            true => None,
            false => Some(write_one(client, &field, ticket, &value, tag).await),
        };
        let (outcome, note) = match tried {
            None => ("failed", Some(REFUSED)),
            Some(Ok(outcome)) => (outcome, None),
            Some(Err(freshdesk::Error::AccessDenied)) => {
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
            Some(Err(freshdesk::Error::Validation { .. })) => {
                // No longer one of the field's choices: retired until a retraining.
                retire(store, t, &field.key, model, &value).await?;
                refused.push((field.key.clone(), value.clone()));
                ("failed", Some(REFUSED))
            }
            Some(Err(freshdesk::Error::NotFound)) => {
                ("failed", Some("the ticket is gone from Freshdesk"))
            }
            // 429s, 5xx, timeouts: the row stays pending and the job is retried.
            Some(Err(e)) => return Err(TriageError::Refused(format!("write-back waits: {e}"))),
        };
        let annotation = (annotate && outcome == "written").then_some("due");
        sqlx::query(
            "UPDATE triage_predictions SET outcome = $1, note = $2, written_at = $3, annotation = $9 \
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
        .bind(annotation)
        .execute(&store.pool)
        .await?;
        if annotation.is_some() {
            annotate_one(store, t, client, &field, ticket, model, &top).await?;
        }
    }
    Ok(!paused.is_empty())
}

const PAUSED: &str = "Triage cannot write: the integration user lacks permission to edit these tickets. Give it an admin role with ticket scope Global (or the tickets' groups), then switch write-back on again";
const REFUSED: &str = "Freshdesk refused the value: it is no longer one of the field's choices, so it is retired until the field is retrained";
/// The tag an annotated write adds, so that agents and automations can find Triage's work.
pub const TAG: &str = "deskbridge-triage";

/// Posts the private note of a written prediction: at most once, since the row is marked
/// `sending` before the POST (a crash then loses the note rather than posting it twice). A 429
/// puts it back for the retry; any other failure is recorded.
async fn annotate_one(
    store: &Store,
    t: Target,
    client: &Client,
    field: &Field,
    ticket: i64,
    model: i64,
    top: &str,
) -> Result<(), TriageError> {
    let mark = |from: &'static str, to: Option<&'static str>| {
        sqlx::query(
            "UPDATE triage_predictions SET annotation = $1 WHERE annotation = $2 \
             AND org_id = $3 AND integration_id = $4 AND field = $5 AND ticket_id = $6 AND model_id = $7",
        )
        .bind(to)
        .bind(from)
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(&field.key)
        .bind(ticket)
        .bind(model)
    };
    if mark("due", Some("sending"))
        .execute(&store.pool)
        .await?
        .rows_affected()
        == 0
    {
        return Ok(());
    }
    let top: Vec<(String, f64)> = serde_json::from_str(top).unwrap_or_default();
    let listed: Vec<String> = top
        .iter()
        .map(|(v, p)| format!("{} ({:.0}%)", crate::html::escape(v), p * 100.0))
        .collect();
    let body = format!(
        "<p>deskbridge Triage set <b>{}</b> (model {model}). Its three likeliest values: {}.</p>",
        crate::html::escape(&field.key),
        listed.join(", ")
    );
    let to = match client
        .add_private_note(ticket, &body, Priority::Interactive)
        .await
    {
        Ok(()) => "sent",
        Err(freshdesk::Error::RateLimited { .. }) => {
            mark("sending", Some("due")).execute(&store.pool).await?;
            return Err(TriageError::Refused(
                "the note waits for the rate limit".into(),
            ));
        }
        Err(_) => "failed",
    };
    mark("sending", Some(to)).execute(&store.pool).await?;
    Ok(())
}

/// Re-reads the ticket and, if the field is still empty, puts the value there alone (with `tag`
/// added to the ticket's tags, when given). `kept` when a value was there already (a person's,
/// or ours from a pass that died after writing).
async fn write_one(
    client: &Client,
    field: &Field,
    ticket: i64,
    value: &str,
    tag: Option<&str>,
) -> Result<&'static str, freshdesk::Error> {
    let current: Value = client
        .get(&freshdesk::endpoints::ticket(ticket), Priority::Interactive)
        .await?;
    match field.value(&current) {
        Some(v) if v == value => return Ok("written"),
        Some(_) => return Ok("kept"),
        None => {}
    }
    let mut body = match field.key.as_str() {
        k if k.starts_with("cf_") => json!({ "custom_fields": { k: value } }),
        "group_id" | "priority" => json!({ field.key.as_str(): value.parse::<i64>().ok() }),
        k => json!({ k: value }),
    };
    if let Some(tag) = tag {
        // `tags` replaces the list: the ticket's own tags, just re-read, are kept.
        let mut tags: Vec<Value> = current["tags"].as_array().cloned().unwrap_or_default();
        if !tags.iter().any(|t| t == tag) {
            tags.push(json!(tag));
        }
        body["tags"] = Value::Array(tags);
    }
    client
        .update_ticket(ticket, &body, Priority::Interactive)
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
