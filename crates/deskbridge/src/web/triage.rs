//! Triage over HTTP: the setup page of an integration (fields with their labelled history,
//! training, modes, the newest predictions), a model's evaluation with its precision-coverage
//! picture, and the API (`…/triage/predict`, `…/triage/models`, `…/triage/predictions`).
//! Parse, call `products::triage`, render.

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::charts;
use super::render::{render, when};
use super::routes::Routes;
use super::session::{Signed, admin_only};
use super::{AppState, Error};
use crate::accounts::tokens::Scope;
use crate::accounts::{Role, Session, User};
use crate::products::triage::{self, FieldPrediction, FieldSummary, ModelRow, TriageError, live};
use crate::runtime;
use crate::sync::Target;

pub fn routes() -> Routes {
    Routes::default()
        .get("/settings/integrations/{id}/triage", page)
        .post("/settings/integrations/{id}/triage", change)
        .get("/settings/integrations/{id}/triage/models/{model}", model)
        .scope(Scope::RecordsRead)
        .post("/api/v1/integrations/{id}/triage/predict", api_predict)
        .get("/api/v1/integrations/{id}/triage/models", api_models)
        .get(
            "/api/v1/integrations/{id}/triage/predictions",
            api_predictions,
        )
}

impl From<TriageError> for Error {
    fn from(e: TriageError) -> Self {
        match e {
            TriageError::NoSuchField => Error::NotFoundWith(e.to_string()),
            TriageError::Refused(words) => Error::Unprocessable(words),
            TriageError::Store(_) | TriageError::Queue(_) => Error::internal(e),
        }
    }
}

/// The integration named by the path, if it is this organisation's; with its domain.
async fn open(state: &AppState, s: &Session, id: i64) -> Result<(Target, String), Error> {
    let i = crate::connections::get(&state.store, s.user.org_id, id).await?;
    Ok((
        Target {
            org_id: s.user.org_id,
            integration_id: id,
        },
        i.domain,
    ))
}

struct PredictionView {
    ticket: i64,
    field: String,
    value: String,
    confidence: String,
    outcome: String,
    at: String,
}

#[derive(Template)]
#[template(path = "triage.html")]
struct TriagePage {
    user: Option<User>,
    csrf: String,
    id: i64,
    domain: String,
    is_admin: bool,
    fields: Vec<FieldSummary>,
    predictions: Vec<PredictionView>,
    tally: Vec<TallyView>,
    min_examples: usize,
    tag: &'static str,
}

/// A field's live accuracy next to its held-out estimate, with its picture over time.
struct TallyView {
    tally: live::Tally,
    at_close: String,
    held_out: String,
    chart: String,
    caption: String,
}

/// Right at close per hour over two days, or per day over thirty once older tickets count: bars
/// of the share right, under the held-out estimate as a dashed line.
async fn accuracy_chart(
    state: &AppState,
    t: Target,
    tally: &live::Tally,
    held_out: Option<f64>,
) -> Result<(String, String), Error> {
    let now = crate::store::now();
    let mut scale = (48, "hour", "48 hours ago");
    let mut slots =
        live::over_time(&state.store, t, &tally.field, now - 47 * 3_600, 3_600, 48).await?;
    if slots.iter().map(|s| s.0).sum::<i64>() < tally.closed {
        scale = (30, "day", "30 days ago");
        slots =
            live::over_time(&state.store, t, &tally.field, now - 29 * 86_400, 86_400, 30).await?;
    }
    let (n, unit, first) = scale;
    let share: Vec<f64> = slots
        .iter()
        .map(|(closed, right)| match closed {
            0 => 0.0,
            c => *right as f64 * 100.0 / *c as f64,
        })
        .collect();
    let limit: Vec<Option<f64>> = vec![held_out.map(|a| a * 100.0); n];
    let summary = format!(
        "Share of predictions right at close, per {unit}: {} of {} closed tickets over the period; held-out estimate {}.",
        slots.iter().map(|s| s.1).sum::<i64>(),
        slots.iter().map(|s| s.0).sum::<i64>(),
        held_out.map_or_else(|| "unknown".into(), |a| format!("{:.1}%", a * 100.0)),
    );
    let svg = charts::bars(
        &format!("accuracy-{}", tally.field),
        &format!("{}: right at close over time", tally.field),
        &summary,
        &share,
        Some(&limit),
        (first, "now"),
    );
    let caption = format!(
        "Per {unit}, the share of predictions still held when their ticket closed (a {unit} with none closed has no bar); the dashed line is the held-out estimate."
    );
    Ok((svg, caption))
}

async fn page(Signed(state, s): Signed, Path(id): Path<i64>) -> Result<Html<String>, Error> {
    let (t, domain) = open(&state, &s, id).await?;
    let fields = triage::fields(&state.store, t).await?;
    let predictions = live::recent(&state.store, t, 20)
        .await?
        .into_iter()
        .map(|p| PredictionView {
            ticket: p.ticket_id,
            field: p.field,
            value: p
                .value
                .unwrap_or_else(|| format!("abstained: {}", p.abstained.unwrap_or_default())),
            confidence: format!("{:.0}%", p.confidence * 100.0),
            outcome: match p.outcome.as_str() {
                "shadow" => "no (shadow)".into(),
                "kept" => "no: a person's value was there".into(),
                "pending" => "about to".into(),
                other => other.into(),
            },
            at: when(p.predicted_at),
        })
        .collect();
    let mut tally = Vec::new();
    for row in live::tally(&state.store, t).await? {
        let estimate = fields
            .iter()
            .find(|f| f.field.key == row.field)
            .and_then(|f| f.latest.as_ref())
            .and_then(|m| m.report.as_ref())
            .and_then(|r| r["accuracy"].as_f64());
        let (chart, caption) = accuracy_chart(&state, t, &row, estimate).await?;
        tally.push({
            let tally = row;
            let held_out = estimate.map_or_else(|| "—".into(), |a| format!("{:.1}%", a * 100.0));
            let at_close = if tally.closed == 0 {
                "no ticket closed yet".into()
            } else {
                format!(
                    "{:.1}% of {}",
                    tally.correct as f64 * 100.0 / tally.closed as f64,
                    tally.closed
                )
            };
            TallyView {
                tally,
                at_close,
                held_out,
                chart,
                caption,
            }
        });
    }
    render(&TriagePage {
        tally,
        is_admin: s.user.role == Role::Admin,
        user: Some(s.user),
        csrf: s.csrf,
        id,
        domain,
        fields,
        predictions,
        min_examples: triage::MIN_EXAMPLES,
        tag: live::TAG,
    })
}

/// A change on the Triage page: train a field, set its mode and target precision, or `use` a
/// model (a rollback, or one the admin wants despite its score).
#[derive(Deserialize)]
struct Change {
    /// `train`, `mode`, `use` or `annotate`.
    action: String,
    field: String,
    #[serde(default)]
    model: Option<i64>,
    /// `on` to tag each write and add a private note with the top three.
    #[serde(default)]
    annotate: Option<String>,
    #[serde(default)]
    mode: String,
    /// In percent, as the form shows it.
    #[serde(default)]
    target: String,
}

async fn change(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Form(f): Form<Change>,
) -> Result<Response, Error> {
    admin_only(&s, "only admins can change Triage")?;
    let (t, _) = open(&state, &s, id).await?;
    if f.action == "train" {
        triage::start_training(&state.store, t, &f.field).await?;
        state.queue.ring();
    } else if f.action == "annotate" {
        let on = f.annotate.as_deref() == Some("on");
        triage::set_annotate(&state.store, t, &f.field, on).await?;
    } else if f.action == "use" {
        let s = triage::settings(&state.store, t, &f.field).await?;
        triage::set_mode(
            &state.store,
            t,
            &f.field,
            &s.mode,
            s.target_precision,
            f.model,
        )
        .await?;
    } else {
        let target: f64 = f.target.trim().trim_end_matches('%').parse().map_err(|_| {
            Error::Unprocessable("the target precision is a number of percent, like 90".into())
        })?;
        triage::set_mode(&state.store, t, &f.field, &f.mode, target / 100.0, None).await?;
        if f.mode == "write" {
            // Write-back allowed again clears a refused write; a check shows the health as it is.
            runtime::check_health(&state.queue, t).await?;
        }
    }
    Ok(Redirect::to(&format!("/settings/integrations/{id}/triage")).into_response())
}

struct LabelRow {
    label: String,
    precision: String,
    recall: String,
    support: u64,
}

#[derive(Template)]
#[template(path = "triage_model.html")]
struct ModelPage {
    user: Option<User>,
    csrf: String,
    id: i64,
    domain: String,
    model: ModelRow,
    accuracy: String,
    macro_f1: String,
    train_n: u64,
    test_n: u64,
    labels: Vec<LabelRow>,
    confused: Vec<(String, String, u64, Vec<i64>)>,
    left_out: Vec<(String, u64)>,
    curve_svg: String,
    chosen: String,
    in_use: bool,
    is_admin: bool,
}

async fn model(
    Signed(state, s): Signed,
    Path((id, model_id)): Path<(i64, i64)>,
) -> Result<Html<String>, Error> {
    let (t, domain) = open(&state, &s, id).await?;
    let model = triage::models(&state.store, t, None)
        .await?
        .into_iter()
        .find(|m| m.id == model_id)
        .ok_or(Error::NotFound)?;
    let settings = triage::settings(&state.store, t, &model.field).await?;
    let r = model.report.clone().unwrap_or_default();
    let pct = |v: &serde_json::Value| format!("{:.1}%", v.as_f64().unwrap_or(0.0) * 100.0);
    let points: Vec<(f64, f64, f64)> = r["curve"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|p| {
                    let f = |k: &str| p[k].as_f64().unwrap_or(0.0);
                    (f("coverage"), f("precision"), f("threshold"))
                })
                .collect()
        })
        .unwrap_or_default();
    let target = settings.target_precision;
    let chosen = points.iter().find(|p| p.1 + 1e-9 >= target).copied();
    let curve_svg = charts::curve(
        &format!("curve-{model_id}"),
        "Precision against coverage on the newest fifth of the history",
        &match chosen {
            Some((c, p, th)) => format!(
                "At {:.0}% precision Triage answers {:.0}% of tickets (confidence {:.2} or more); precision {:.1}%",
                target * 100.0,
                c * 100.0,
                th,
                p * 100.0
            ),
            None => format!("No threshold reaches {:.0}% precision", target * 100.0),
        },
        &points.iter().map(|(c, p, _)| (*c, *p)).collect::<Vec<_>>(),
        target,
        chosen.map(|(c, p, _)| (c, p)),
    );
    let labels = r["labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| LabelRow {
                    label: l["label"].as_str().unwrap_or_default().to_string(),
                    precision: pct(&l["precision"]),
                    recall: pct(&l["recall"]),
                    support: l["support"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let confused = r["confused"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let tickets = c["tickets"]
                        .as_array()
                        .map(|t| t.iter().filter_map(|x| x.as_i64()).collect())
                        .unwrap_or_default();
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (
                        s("truth"),
                        s("predicted"),
                        c["count"].as_u64().unwrap_or(0),
                        tickets,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let left_out = r["left_out"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap_or_default().to_string(),
                        p[1].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let is_admin = s.user.role == Role::Admin;
    render(&ModelPage {
        user: Some(s.user),
        csrf: s.csrf,
        id,
        domain,
        accuracy: pct(&r["accuracy"]),
        macro_f1: pct(&r["macro_f1"]),
        train_n: r["train_n"].as_u64().unwrap_or(0),
        test_n: r["test_n"].as_u64().unwrap_or(0),
        labels,
        confused,
        left_out,
        curve_svg,
        in_use: settings.model_id == Some(model_id),
        is_admin,
        chosen: match chosen {
            Some((c, _, th)) => format!(
                "To be right {:.0}% of the time Triage answers when at least {:.2} sure: {:.0}% of new tickets.",
                target * 100.0,
                th,
                c * 100.0
            ),
            None => format!(
                "No threshold reaches {:.0}% precision; lower the target or add history.",
                target * 100.0
            ),
        },
        model,
    })
}

/// A ticket to predict.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PredictBody {
    #[schema(example = "My card was declined")]
    subject: String,
    #[serde(default)]
    #[schema(example = "I tried to pay at the shop twice and it failed.")]
    description: String,
}

/// Each switched-on field's prediction.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Predictions {
    predictions: Vec<FieldPrediction>,
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/triage/predict", tag = "triage", summary = "Predict every switched-on field for a ticket's text", description = "Each field in shadow mode: its value with the calibrated confidence and the top three, or an abstention with its reason (empty or one-word text, or under the field's threshold). Needs `records:read`.", params(("id" = i64, Path, description = "The integration")), request_body = PredictBody, responses((status = 200, description = "The predictions", body = Predictions), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_predict(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Json(b): Json<PredictBody>,
) -> Result<Response, Error> {
    let (t, _) = open(&state, &s, id).await?;
    let predictions = triage::predict(&state.store, t, &b.subject, &b.description).await?;
    Ok(Json(Predictions { predictions }).into_response())
}

/// The integration's models.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Models {
    models: Vec<ModelRow>,
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}/triage/models", tag = "triage", summary = "Triage's models, newest first, with their evaluations", params(("id" = i64, Path, description = "The integration")), responses((status = 200, description = "The models", body = Models), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_models(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let (t, _) = open(&state, &s, id).await?;
    let models = triage::models(&state.store, t, None).await?;
    Ok(Json(Models { models }).into_response())
}

#[derive(Deserialize)]
pub(super) struct Limit {
    limit: Option<String>,
}

/// The newest predictions, and per field how they fared.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Made {
    predictions: Vec<live::Made>,
    tally: Vec<live::Tally>,
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}/triage/predictions", tag = "triage", summary = "The newest predictions Triage made for new tickets", params(("id" = i64, Path, description = "The integration"), ("limit" = Option<i64>, Query, description = "1 to 1000, default 100")), responses((status = 200, description = "The predictions", body = Made), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_predictions(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Query(q): Query<Limit>,
) -> Result<Response, Error> {
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(n) => n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                Error::BadRequest("limit must be a whole number from 1 to 1000".into())
            })?,
    };
    let (t, _) = open(&state, &s, id).await?;
    let predictions = live::recent(&state.store, t, limit).await?;
    let tally = live::tally(&state.store, t).await?;
    Ok(Json(Made { predictions, tally }).into_response())
}
