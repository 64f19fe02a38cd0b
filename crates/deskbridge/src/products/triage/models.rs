//! Triage's models and settings: every model trained (status, evaluation report, the stored
//! model), each field's mode and threshold, starting a training (row and job committed together),
//! predicting a ticket's text with the fields switched on, and forgetting an integration.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::fields::{
    Counted, Field, TRAIN_JOB, TriageError, blocked, candidates, field, label_counts, on_field,
    split_values, text_of,
};
use crate::jobs::NewJob;
use crate::store::{Store, Tx, now};
use crate::sync::Target;
use crate::sync::changes;

/// A field as the setup page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldSummary {
    pub field: Field,
    pub history: History,
    pub settings: Settings,
    pub latest: Option<ModelRow>,
}

/// How much labelled history a field has.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub labelled: usize,
    /// Values with enough examples, most first; and those left out for too little history.
    pub values: (Counted, Counted),
    /// Why it cannot be trained, if it cannot.
    pub blocked: Option<String>,
}

/// Every field Triage offers, with its labelled history, settings and latest model.
pub async fn fields(store: &Store, t: Target) -> Result<Vec<FieldSummary>, TriageError> {
    let fields = candidates(store, t).await?;
    let counted = label_counts(store, t, &fields).await?;
    let mut out = Vec::new();
    for field in fields {
        let (labelled, by) = counted.get(&field.key).cloned().unwrap_or_default();
        let (enough, too_few) = split_values(by);
        let mut settings = settings(store, t, &field.key).await?;
        if let Some(id) = settings.model_id {
            settings.retired = retired(store, t, &field.key, id).await?;
        }
        out.push(FieldSummary {
            history: History {
                blocked: blocked(labelled, &enough),
                labelled,
                values: (enough, too_few),
            },
            settings,
            latest: models(store, t, Some(&field.key)).await?.into_iter().next(),
            field,
        });
    }
    Ok(out)
}

/// A field's settings.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Settings {
    /// `off`, `shadow` (predict new tickets, write nothing) or `write` (write the value back
    /// where the field is still empty).
    #[schema(example = "shadow")]
    pub mode: String,
    #[schema(example = 0.9)]
    pub target_precision: f64,
    pub model_id: Option<i64>,
    /// The confidence under which a prediction abstains.
    pub threshold: Option<f64>,
    /// Why write-back was paused, if it was.
    pub note: Option<String>,
    /// Each write also tags the ticket `deskbridge-triage` and adds a private note with the top
    /// three values and their confidence.
    #[sqlx(try_from = "i64")]
    #[schema(value_type = bool)]
    pub annotate: Flag,
    /// Values Freshdesk refused that the model in use no longer answers (until a retraining).
    #[sqlx(skip)]
    pub retired: Vec<String>,
}

/// A yes/no column, stored as 0 or 1 in both databases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Flag(pub bool);

impl From<i64> for Flag {
    fn from(v: i64) -> Flag {
        Flag(v != 0)
    }
}

pub async fn settings(store: &Store, t: Target, key: &str) -> Result<Settings, sqlx::Error> {
    let row: Option<Settings> = sqlx::query_as(
        "SELECT mode, target_precision, model_id, threshold, note, annotate FROM triage_fields \
         WHERE org_id = $1 AND integration_id = $2 AND field = $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(key)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.unwrap_or(Settings {
        mode: "off".into(),
        target_precision: 0.9,
        model_id: None,
        threshold: None,
        note: None,
        annotate: Flag(false),
        retired: Vec::new(),
    }))
}

/// Switches the tag and private note on each write on or off.
pub async fn set_annotate(
    store: &Store,
    t: Target,
    key: &str,
    annotate: bool,
) -> Result<(), TriageError> {
    field(store, t, key).await?;
    let sql = "UPDATE triage_fields SET annotate = $4 WHERE org_id = $1 AND integration_id = $2 AND field = $3";
    let done = on_field(sql, t, key)
        .bind(annotate as i64)
        .execute(&store.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(TriageError::Refused(
            "switch the field to shadow or write first".into(),
        ));
    }
    Ok(())
}

/// The values Freshdesk refused for a field under a model (retired until a retraining).
pub(crate) async fn retired(
    store: &Store,
    t: Target,
    key: &str,
    model_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT value FROM triage_retired WHERE org_id = $1 AND integration_id = $2 AND field = $3 AND model_id = $4 ORDER BY value",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(key)
    .bind(model_id)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// Freshdesk refused `value` for the field: the model does not answer it again.
pub(super) async fn retire(
    store: &Store,
    t: Target,
    key: &str,
    model_id: i64,
    value: &str,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO triage_retired (org_id, integration_id, field, model_id, value, retired_at) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
    let q = on_field(sql, t, key).bind(model_id);
    q.bind(value.to_string())
        .bind(now())
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// A trained (or training) model.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelRow {
    pub id: i64,
    #[schema(example = "cf_category")]
    pub field: String,
    /// `training`, `ready` or `failed`.
    #[schema(example = "ready")]
    pub status: String,
    pub message: Option<String>,
    pub examples: Option<i64>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The evaluation on the newest fifth of the history (JSON).
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
}

type Row = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
);

/// The integration's models, newest first (of one field, when given).
pub async fn models(
    store: &Store,
    t: Target,
    field: Option<&str>,
) -> Result<Vec<ModelRow>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, field, status, message, examples, created_at, finished_at, report FROM triage_models \
         WHERE org_id = $1 AND integration_id = $2 AND ($3 = '' OR field = $3) ORDER BY id DESC LIMIT 50",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(field.unwrap_or_default())
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, field, status, message, examples, created_at, finished_at, report)| ModelRow {
                id,
                field,
                status,
                message,
                examples,
                created_at,
                finished_at,
                report: report.and_then(|r| serde_json::from_str(&r).ok()),
            },
        )
        .collect())
}

/// Queues the training of `key`: the model row and its job are committed together.
pub async fn start_training(store: &Store, t: Target, key: &str) -> Result<i64, TriageError> {
    // Counted over every field, as the Triage page counts them, so both use one kept count.
    let fields = candidates(store, t).await?;
    let f = fields
        .iter()
        .find(|f| f.key == key)
        .cloned()
        .ok_or(TriageError::NoSuchField)?;
    let counted = label_counts(store, t, &fields).await?;
    let (labelled, by) = counted.get(&f.key).cloned().unwrap_or_default();
    let (enough, _) = split_values(by);
    if let Some(why) = blocked(labelled, &enough) {
        return Err(TriageError::Refused(format!(
            "{} cannot be learnt: {why}",
            f.label
        )));
    }
    let mut tx = store.pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO triage_models (field, org_id, integration_id, status, created_at) \
         VALUES ($1, $2, $3, 'training', $4) RETURNING id",
    )
    .bind(key)
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(now())
    .fetch_one(&mut *tx)
    .await?;
    let job = NewJob::new(TRAIN_JOB)
        .integration(t.org_id, t.integration_id)
        .payload(serde_json::json!({ "model": id }))
        .dedupe(format!("{TRAIN_JOB}:{id}"));
    crate::jobs::enqueue(&mut *tx, job).await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a field's mode, target precision and model: the one given (a rollback, or a model the
/// admin wants despite a lower score), else the one in use, else the newest ready one. Shadow and
/// write need a ready model whose curve has a threshold that reaches the target.
pub async fn set_mode(
    store: &Store,
    t: Target,
    key: &str,
    mode: &str,
    target_precision: f64,
    model: Option<i64>,
) -> Result<Settings, TriageError> {
    field(store, t, key).await?;
    if !(0.5..=1.0).contains(&target_precision) {
        return Err(TriageError::Refused(
            "the target precision is a share from 50% to 100%".into(),
        ));
    }
    let ready: Vec<ModelRow> = models(store, t, Some(key))
        .await?
        .into_iter()
        .filter(|m| m.status == "ready")
        .collect();
    let wanted = model.or(settings(store, t, key).await?.model_id);
    let chosen = match wanted {
        Some(id) => ready.iter().find(|m| m.id == id),
        None => ready.first(),
    };
    if model.is_some() && chosen.is_none() {
        return Err(TriageError::Refused(
            "that model is not a ready model of this field".into(),
        ));
    }
    let chosen = chosen.or(ready.first());
    let (model_id, threshold) = match mode {
        "off" => (chosen.map(|m| m.id), None),
        "shadow" | "write" => {
            let ready = chosen.ok_or_else(|| {
                TriageError::Refused("train the field first: there is no ready model".into())
            })?;
            let th = threshold_for(ready.report.as_ref(), target_precision).ok_or_else(|| {
                TriageError::Refused(format!(
                    "no threshold reaches {:.0}% precision on the held-out tickets; lower the target",
                    target_precision * 100.0
                ))
            })?;
            (Some(ready.id), Some(th))
        }
        _ => {
            return Err(TriageError::Refused(
                "the mode is off, shadow or write".into(),
            ));
        }
    };
    sqlx::query(
        "INSERT INTO triage_fields (org_id, integration_id, field, mode, target_precision, model_id, threshold, enabled_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (org_id, integration_id, field) DO UPDATE SET mode = excluded.mode, \
         target_precision = excluded.target_precision, model_id = excluded.model_id, \
         threshold = excluded.threshold, enabled_at = excluded.enabled_at, note = NULL",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(key)
    .bind(mode)
    .bind(target_precision)
    .bind(model_id)
    .bind(threshold)
    .bind(now())
    .execute(&store.pool)
    .await?;
    if mode != "off" {
        start_cursor(store, t).await?;
    }
    if mode == "write" {
        // The admin switched write-back on (again): a refusal Freshdesk gave before is forgotten.
        crate::connections::table::set_write_denied(store, t, None).await?;
    }
    Ok(settings(store, t, key).await?)
}

/// A model just finished training: it replaces the field's model if its held-out accuracy is not
/// worse (and its curve reaches the target); otherwise the field keeps its model and says why.
pub(super) async fn adopt(
    store: &Store,
    t: Target,
    key: &str,
    new: i64,
) -> Result<(), TriageError> {
    let s = settings(store, t, key).await?;
    let all = models(store, t, Some(key)).await?;
    let accuracy = |id: Option<i64>| {
        let m = all.iter().find(|m| Some(m.id) == id)?;
        m.report.as_ref()?["accuracy"].as_f64()
    };
    let (Some(ours), current) = (accuracy(Some(new)), s.model_id) else {
        return Ok(());
    };
    let Some(current) = current.filter(|id| *id != new) else {
        return Ok(());
    };
    let theirs = accuracy(Some(current)).unwrap_or(0.0);
    if ours + 1e-9 >= theirs {
        let mode = s.mode.clone();
        if let Err(e) = set_mode(store, t, key, &mode, s.target_precision, Some(new)).await {
            let words = format!("Model {new} was not put in use: {e}");
            note(store, t, key, &words, false).await?;
        }
    } else {
        let words = format!(
            "Model {new} scored {:.1}% on the held-out tickets against {:.1}% for model {current}, so model {current} stays in use; choose model {new} on its page to use it anyway.",
            ours * 100.0,
            theirs * 100.0
        );
        note(store, t, key, &words, false).await?;
    }
    Ok(())
}

/// Keeps a note on the field for its page; with `pause`, also takes it out of write mode (back
/// to shadow).
pub(super) async fn note(
    store: &Store,
    t: Target,
    key: &str,
    words: &str,
    pause: bool,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE triage_fields SET note = $4, \
               mode = CASE WHEN $5 = 1 AND mode = 'write' THEN 'shadow' ELSE mode END \
               WHERE field = $1 AND org_id = $2 AND integration_id = $3";
    let q = sqlx::query(sql)
        .bind(key)
        .bind(t.org_id)
        .bind(t.integration_id);
    q.bind(words)
        .bind(pause as i64)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Fields switched on whose newest model is older than `every_secs` (and none is training): each
/// gets a training queued. How many were.
pub async fn retrain_due(store: &Store, every_secs: i64) -> Result<usize, TriageError> {
    let due: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT f.org_id, f.integration_id, f.field FROM triage_fields f WHERE f.mode <> 'off' \
         AND NOT EXISTS (SELECT 1 FROM triage_models m WHERE m.org_id = f.org_id \
         AND m.integration_id = f.integration_id AND m.field = f.field \
         AND (m.status = 'training' OR m.created_at > $1))",
    )
    .bind(now() - every_secs)
    .fetch_all(&store.pool)
    .await?;
    for (org_id, integration_id, key) in &due {
        let t = Target {
            org_id: *org_id,
            integration_id: *integration_id,
        };
        start_training(store, t, key).await?;
    }
    Ok(due.len())
}

/// Starts Triage's cursor over the ticket changes at the feed's head when a field is switched on,
/// so that only later changes are read (an existing cursor stays).
async fn start_cursor(store: &Store, t: Target) -> Result<(), sqlx::Error> {
    let head = changes::head(store, t).await?;
    sqlx::query(
        "INSERT INTO triage_cursors (org_id, integration_id, seq) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id, integration_id) DO NOTHING",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(head)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The lowest threshold of a report's curve that reaches `target` precision.
fn threshold_for(report: Option<&Value>, target: f64) -> Option<f64> {
    let curve = report?["curve"].as_array()?;
    curve
        .iter()
        .find(|p| p["precision"].as_f64().is_some_and(|v| v + 1e-9 >= target))
        .and_then(|p| p["threshold"].as_f64())
}

/// Models in use are kept decoded, by id (a model never changes once ready).
fn cache() -> &'static parking_lot::Mutex<BTreeMap<i64, Arc<triage::Model>>> {
    static CACHE: std::sync::OnceLock<parking_lot::Mutex<BTreeMap<i64, Arc<triage::Model>>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

pub(crate) async fn load(
    store: &Store,
    id: i64,
) -> Result<Option<Arc<triage::Model>>, sqlx::Error> {
    if let Some(m) = cache().lock().get(&id) {
        return Ok(Some(m.clone()));
    }
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT model FROM triage_models WHERE id = $1 AND status = 'ready'")
            .bind(id)
            .fetch_optional(&store.pool)
            .await?;
    use base64::Engine;
    let model = row
        .and_then(|(m,)| m)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|bytes| triage::Model::from_bytes(&bytes).ok())
        .map(Arc::new);
    if let Some(m) = &model {
        cache().lock().insert(id, m.clone());
    }
    Ok(model)
}

/// One field's prediction for a ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldPrediction {
    #[schema(example = "cf_category")]
    pub field: String,
    /// The value, or none when it abstained.
    pub value: Option<String>,
    pub confidence: f64,
    /// The three likeliest values with their calibrated probabilities.
    #[schema(value_type = Vec<(String, f64)>)]
    pub top: Vec<(String, f32)>,
    /// Why it abstained, in words.
    pub abstained: Option<String>,
    pub model_id: i64,
}

/// Predicts every field that is not off for a ticket's subject and description.
pub async fn predict(
    store: &Store,
    t: Target,
    subject: &str,
    description: &str,
) -> Result<Vec<FieldPrediction>, TriageError> {
    let raw = serde_json::json!({"subject": subject, "description_text": description});
    let mut out = Vec::new();
    for f in candidates(store, t).await? {
        let s = settings(store, t, &f.key).await?;
        let (Some(id), Some(th)) = (s.model_id, s.threshold) else {
            continue;
        };
        if s.mode == "off" {
            continue;
        }
        if let Some(model) = load(store, id).await? {
            let retired = retired(store, t, &f.key, id).await?;
            out.push(predict_with(&model, &f.key, id, th, &retired, &raw));
        }
    }
    Ok(out)
}

pub(crate) fn predict_with(
    model: &triage::Model,
    field: &str,
    model_id: i64,
    threshold: f64,
    retired: &[String],
    raw: &Value,
) -> FieldPrediction {
    let p = model.predict_among(&text_of(raw), threshold as f32, retired);
    FieldPrediction {
        field: field.to_string(),
        value: p.label().map(str::to_string),
        confidence: p.confidence() as f64,
        abstained: p.abstain.as_ref().map(|a| a.reason()),
        top: p.top,
        model_id,
    }
}

/// Deletes everything Triage kept about an integration, inside the caller's transaction.
pub async fn forget(tx: &mut Tx, t: Target) -> Result<(), sqlx::Error> {
    let tables = [
        "triage_fields",
        "triage_models",
        "triage_predictions",
        "triage_retired",
        "triage_cursors",
    ];
    crate::store::delete_integration_rows(tx, &tables, t.org_id, t.integration_id).await
}
