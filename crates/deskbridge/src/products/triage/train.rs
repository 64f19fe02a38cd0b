//! Training one field: the body of a `triage_train` job. Reads the field's labelled history from
//! the synced copy, leaves out values with too little of it (listed with their counts), learns on
//! the older four fifths and evaluates on the newest fifth (time-ordered, as it will be used),
//! then learns the final model on everything. The CPU work runs off the async threads. A job run
//! again after its worker died finds the model already finished and does nothing.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use super::fields::{MAX_HISTORY, MIN_EXAMPLES, TriageError, field, slim, text_of};
use crate::store::{Store, now};
use crate::sync::{Target, browse};

/// What a training produced, before it is stored.
struct Trained {
    report: Value,
    model: Vec<u8>,
    examples: usize,
}

/// Trains model `id` of integration `t`, if it is still waiting to be trained.
pub async fn run(store: &Store, t: Target, id: i64) -> Result<(), TriageError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT field, status FROM triage_models WHERE id = $1 AND org_id = $2 AND integration_id = $3",
    )
    .bind(id)
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_optional(&store.pool)
    .await?;
    let Some((key, status)) = row else {
        return Ok(());
    };
    if status != "training" {
        return Ok(());
    }
    let f = field(store, t, &key).await?;
    // Only the text and value of each labelled ticket are kept, oldest first.
    let mut labelled: Vec<(i64, String, String)> = Vec::new();
    browse::history(store, t, MAX_HISTORY, |ticket, _, raw| {
        if let Some(v) = slim(raw)
            && let Some(value) = f.value(&v)
        {
            labelled.push((ticket, text_of(&v), value));
        }
    })
    .await?;
    labelled.reverse();
    let result = tokio::task::spawn_blocking(move || learn(labelled))
        .await
        .map_err(|e| TriageError::Refused(format!("the training stopped: {e}")))?;
    match result {
        Ok(done) => {
            let model = base64::engine::general_purpose::STANDARD.encode(&done.model);
            sqlx::query(
                "UPDATE triage_models SET status = 'ready', report = $1, model = $2, examples = $3, \
                 finished_at = $4 WHERE id = $5 AND status = 'training'",
            )
            .bind(done.report.to_string())
            .bind(model)
            .bind(done.examples as i64)
            .bind(now())
            .bind(id)
            .execute(&store.pool)
            .await?;
            super::models::adopt(store, t, &key, id).await?;
        }
        Err(e) => {
            sqlx::query(
                "UPDATE triage_models SET status = 'failed', message = $1, finished_at = $2 \
                 WHERE id = $3 AND status = 'training'",
            )
            .bind(e.to_string())
            .bind(now())
            .bind(id)
            .execute(&store.pool)
            .await?;
        }
    }
    Ok(())
}

/// Learns from `labelled` (ticket id, text, value), oldest first.
fn learn(labelled: Vec<(i64, String, String)>) -> Result<Trained, triage::TrainError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, v) in &labelled {
        *counts.entry(v.as_str()).or_insert(0) += 1;
    }
    let left_out: Vec<(String, usize)> = counts
        .iter()
        .filter(|(_, n)| **n < MIN_EXAMPLES)
        .map(|(v, n)| (v.to_string(), *n))
        .collect();
    let kept: Vec<(i64, String, String)> = labelled
        .iter()
        .filter(|(_, _, v)| counts[v.as_str()] >= MIN_EXAMPLES)
        .cloned()
        .collect();
    let test_n = (kept.len() / 5).max(1);
    let (older, newest) = kept.split_at(kept.len() - test_n);
    let pairs = |rows: &[(i64, String, String)]| -> Vec<(String, String)> {
        rows.iter()
            .map(|(_, t, v)| (t.clone(), v.clone()))
            .collect()
    };
    let cfg = triage::Config::default();
    let held = triage::train(&pairs(older), &cfg)?;
    let report = triage::eval::evaluate(&held, &pairs(newest));
    // Two example tickets of each of the five most confused pairs.
    let mut examples: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for (ticket, text, truth) in newest {
        let p = held.predict(text, 0.0);
        if let Some((guess, _)) = p.top.first()
            && guess != truth
        {
            let e = examples.entry((truth.clone(), guess.clone())).or_default();
            if e.len() < 2 {
                e.push(*ticket);
            }
        }
    }
    let confused: Vec<Value> = report
        .confused
        .iter()
        .take(5)
        .map(|(t, g, n)| {
            let tickets = examples
                .get(&(t.clone(), g.clone()))
                .cloned()
                .unwrap_or_default();
            json!({"truth": t, "predicted": g, "count": n, "tickets": tickets})
        })
        .collect();
    // The curve, thinned to at most 200 points (the last one always kept).
    let step = report.curve.len().div_ceil(200).max(1);
    let mut curve: Vec<_> = report.curve.iter().step_by(step).copied().collect();
    if let Some(last) = report.curve.last()
        && curve.last() != Some(last)
    {
        curve.push(*last);
    }
    let full = triage::train(&pairs(&kept), &cfg)?;
    Ok(Trained {
        report: json!({
            "accuracy": report.accuracy,
            "macro_f1": report.macro_f1,
            "labels": report.labels,
            "confused": confused,
            "curve": curve,
            "train_n": older.len(),
            "test_n": newest.len(),
            "left_out": left_out,
            "values": full.labels.len(),
        }),
        model: full.to_bytes(),
        examples: kept.len(),
    })
}
