//! The sync side of an integration: the progress page (live through server-sent events and a
//! little JS, refreshing itself without JS), "Sync now", the schedule, the webhook secret and the
//! exact automation rule to create in Freshdesk, the webhook receiver, and the JSON view.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::routes::Routes;
use super::session::{Signed, admin_only};
use super::{AppState, Error};
use crate::accounts::{Role, Session, User};
use crate::connections::{self, ConnectError, table};
use crate::runtime::{self, SyncView};
use crate::sync::Target;

use super::render::S;

/// The header Freshdesk's rule must send, carrying the integration's webhook secret.
pub const HOOK_HEADER: &str = "X-Deskbridge-Secret";

pub fn routes() -> Routes {
    Routes::default()
        .get("/settings/integrations/{id}/sync", page)
        .post("/settings/integrations/{id}/sync", sync_now)
        .post("/settings/integrations/{id}/sync/schedule", schedule)
        .post("/settings/integrations/{id}/sync/webhook", new_secret)
        .get("/static/sync.js", script)
        .post("/hooks/freshdesk/{id}", hook)
        .scope(crate::accounts::tokens::Scope::IntegrationsWrite)
        .get("/api/v1/integrations/{id}/sync", api_view)
}

/// Long-lived streams, served outside the request timeout.
pub fn stream_routes() -> Routes {
    Routes::default().get("/settings/integrations/{id}/sync/events", events)
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/sync.js"),
    )
        .into_response()
}

async fn target(state: &AppState, user: &User, id: i64) -> Result<Target, Error> {
    connections::get(&state.store, user.org_id, id)
        .await
        .map_err(|e| match e {
            ConnectError::NotFound => Error::NotFound,
            e => Error::internal(e),
        })?;
    Ok(Target {
        org_id: user.org_id,
        integration_id: id,
    })
}

/// An admin's change to one integration of their organisation: an admin, and the integration
/// theirs, checked in that order before anything else.
async fn managed(state: &AppState, s: &Session, id: i64) -> Result<Target, Error> {
    admin_only(s, "only admins can change how an integration syncs")?;
    target(state, &s.user, id).await
}

fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "never".into())
}

/// The live figures, as the page shows them and the events carry them.
fn figures(v: &SyncView) -> Value {
    let p = &v.progress;
    let state = match v.status.as_deref() {
        None => "No sync has run yet.".to_string(),
        Some("running") => format!(
            "Running ({}){}.",
            p.phase,
            if p.stream.is_empty() {
                String::new()
            } else {
                format!(", now reading {}", p.stream.replace('_', " "))
            }
        ),
        Some("succeeded") => format!("Last sync finished at {}.", when(v.finished_at)),
        Some(other) => format!(
            "Last sync {other} at {}: {}",
            when(v.finished_at),
            v.error.clone().unwrap_or_default()
        ),
    };
    let credits = match p.budget_per_minute {
        Some(b) => format!(
            "{} credits in the last minute, of a budget of {:.0} a minute",
            p.credits_last_minute, b
        ),
        None => format!(
            "{} credits in the last minute (limit not learned yet)",
            p.credits_last_minute
        ),
    };
    let eta = match (v.running, p.eta_secs) {
        (true, Some(s)) => format!("about {} left", duration(s)),
        (true, None) => "estimating…".into(),
        (false, _) => "—".into(),
    };
    // The backfill's share done, when the account's ticket count is known: tickets listed, and
    // for each its conversations fetched, weigh the same.
    let percent = match (v.running, p.phase.as_str(), p.tickets_expected) {
        (true, "backfill", Some(expected)) if expected > 0 => {
            let done = (p.tickets + p.conversation_calls) as f64 / (2 * expected) as f64;
            Some((done * 100.0).clamp(0.0, 100.0).floor() as u64)
        }
        _ => None,
    };
    json!({
        "state": state,
        "running": v.running,
        "percent": percent,
        "phase": p.phase,
        "tickets": p.tickets,
        "conversations": p.conversations,
        "credits": credits,
        "credits_run": p.credits,
        "eta": eta,
        "held": v.held.iter().map(|(k, n)| json!([k, n])).collect::<Vec<_>>(),
    })
}

#[derive(Template)]
#[template(path = "sync.html")]
struct SyncPage {
    user: Option<User>,
    csrf: String,
    id: i64,
    domain: String,
    is_admin: bool,
    running: bool,
    state: String,
    phase: String,
    tickets: u64,
    conversations: u64,
    credits: String,
    credits_run: u64,
    eta: String,
    /// The backfill's progress in percent, while it is known.
    percent: Option<u64>,
    held: Vec<(String, i64)>,
    skipped: Vec<(String, String)>,
    interval_secs: i64,
    hook_url: String,
    hook_header: &'static str,
    hook_secret: Option<String>,
    hook_configured: bool,
    hooks_received: i64,
    hooks_last: String,
    hooks_last_outcome: String,
    /// Job, state, attempts, when queued, last error: from the job table.
    jobs: Vec<(String, String, String, String, String)>,
    notice: Option<String>,
}

/// A job kind in the words of the page.
fn job_label(kind: &str) -> String {
    match kind {
        crate::sync::JOB_KIND => "Sync".into(),
        runtime::handlers::HOOK_REFRESH => "Webhook refresh".into(),
        runtime::handlers::HEALTH_CHECK => "Health check".into(),
        crate::health::alerts::JOB_KIND => "Alert delivery".into(),
        crate::records::notify::JOB_KIND => "Change notification".into(),
        crate::products::triage::TRAIN_JOB => "Triage training".into(),
        crate::products::triage::live::PREDICT_JOB => "Triage predictions".into(),
        other => other.replace('_', " "),
    }
}

fn job_rows(v: &SyncView) -> Vec<(String, String, String, String, String)> {
    v.jobs
        .iter()
        .map(|j| {
            (
                job_label(&j.kind),
                j.state.code().to_string(),
                format!("{} of {}", j.attempts, j.max_attempts),
                when(Some(j.created_at_ms / 1000)),
                j.last_error.clone().unwrap_or_default(),
            )
        })
        .collect()
}

async fn render_page(
    state: &AppState,
    s: &Session,
    t: Target,
    headers: &HeaderMap,
    secret: Option<String>,
    notice: Option<String>,
) -> Result<Html<String>, Error> {
    let i = connections::get(&state.store, t.org_id, t.integration_id)
        .await
        .map_err(Error::internal)?;
    let v = view(state, t).await.map_err(Error::internal)?;
    let f = figures(&v);
    let configured = table::hook_secret(&state.store, t.integration_id).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config.server.secure_cookies {
        "https"
    } else {
        "http"
    };
    let page = SyncPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        id: t.integration_id,
        domain: i.domain,
        is_admin: s.user.role == Role::Admin,
        running: v.running,
        state: f["state"].as_str().unwrap_or_default().into(),
        phase: v.progress.phase.clone(),
        tickets: v.progress.tickets,
        conversations: v.progress.conversations,
        credits: f["credits"].as_str().unwrap_or_default().into(),
        credits_run: v.progress.credits,
        eta: f["eta"].as_str().unwrap_or_default().into(),
        percent: f["percent"].as_u64(),
        held: v.held.clone(),
        skipped: v
            .skipped
            .iter()
            .map(|(s, r)| (s.replace('_', " "), r.clone()))
            .collect(),
        interval_secs: v.interval_secs,
        hook_url: format!("{scheme}://{host}/hooks/freshdesk/{}", t.integration_id),
        hook_header: HOOK_HEADER,
        hook_secret: secret,
        hook_configured: configured.and_then(|(_, s)| s).is_some(),
        hooks_received: v.hooks_received,
        hooks_last: when(v.hooks_last_at),
        hooks_last_outcome: v.hooks_last_outcome.clone().unwrap_or_default(),
        jobs: job_rows(&v),
        notice,
    };
    page.render().map(Html).map_err(Error::internal)
}

async fn page(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Html<String>, Error> {
    let t = target(&state, &s.user, id).await?;
    render_page(&state, &s, t, &headers, None, None).await
}

async fn sync_now(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let t = managed(&state, &s, id).await?;
    if runtime::start_sync(&state.queue, t, "manual")
        .await
        .map_err(Error::internal)?
    {
        return Ok(
            Redirect::to(&format!("/settings/integrations/{}/sync", t.integration_id))
                .into_response(),
        );
    }
    // Not started: say why instead of pretending.
    let health = crate::health::get(&state.store, t)
        .await
        .map_err(Error::internal)?;
    let notice = if health.status.can_run() {
        "A sync of this integration is already running.".to_string()
    } else {
        format!(
            "Syncs are paused while this integration needs attention: {}. {}",
            health.title.unwrap_or("it is not connected"),
            health.fix.unwrap_or("")
        )
    };
    Ok((
        StatusCode::CONFLICT,
        render_page(&state, &s, t, &headers, None, Some(notice)).await?,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ScheduleForm {
    interval_minutes: String,
}

async fn schedule(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(f): Form<ScheduleForm>,
) -> Result<Response, Error> {
    let t = managed(&state, &s, id).await?;
    let minutes: i64 = f.interval_minutes.trim().parse().map_err(|_| {
        Error::BadRequest("the interval is a whole number of minutes, from 1 to 1440".into())
    })?;
    if !(1..=1440).contains(&minutes) {
        return Err(Error::BadRequest(
            "the interval is a whole number of minutes, from 1 to 1440".into(),
        ));
    }
    table::set_sync_interval(&state.store, t, minutes * 60).await?;
    Ok(render_page(
        &state,
        &s,
        t,
        &headers,
        None,
        Some(format!("Syncs every {minutes} minutes from now on.")),
    )
    .await?
    .into_response())
}

fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new webhook secret, shown once; only its hash is kept.
async fn new_secret(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let t = managed(&state, &s, id).await?;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(e.to_string()))?;
    use base64::Engine;
    let secret = format!(
        "dbh_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    table::set_hook_secret(&state.store, t, &digest(&secret)).await?;
    crate::audit::record(
        &state.store,
        Some(s.user.org_id),
        &s.user.email,
        "webhook_secret",
        &format!("integration={}", t.integration_id),
    )
    .await;
    Ok(render_page(
        &state,
        &s,
        t,
        &headers,
        Some(secret),
        Some("A new webhook secret was made. Copy it into the rule now: it is not shown again, and the old one no longer works.".into()),
    )
    .await?
    .into_response())
}

fn events_stream(
    state: Arc<AppState>,
    t: Target,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    futures_util::stream::unfold((state, 0u32), move |(state, n)| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Ends after an hour; the browser reconnects by itself.
        if n > 3600 {
            return None;
        }
        let data = match view(&state, t).await {
            Ok(v) => figures(&v).to_string(),
            Err(e) => {
                tracing::warn!(error = %e, "sync events");
                "{}".into()
            }
        };
        Some((
            Ok(Event::default().event("progress").data(data)),
            (state, n + 1),
        ))
    })
}

async fn events(Signed(state, s): Signed, Path(id): Path<i64>) -> Result<Response, Error> {
    let t = target(&state, &s.user, id).await?;
    Ok(Sse::new(events_stream(state.clone(), t))
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}/sync", tag = "sync", summary = "The integration's sync: the last run with its progress, records held, skipped streams, webhooks and jobs", params(("id" = i64, Path, description = "The integration")), responses((status = 200, description = "Its sync", body = crate::runtime::SyncView), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_view(Signed(state, s): Signed, Path(id): Path<i64>) -> Response {
    let t = match target(&state, &s.user, id).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match view(&state, t).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => Error::internal(e).into_response(),
    }
}

/// The ticket id in a webhook body: simple mode (`{"freshdesk_webhook":{"ticket_id":…}}`) or an
/// advanced template (`{"ticket_id":"{{ticket.id}}"}`), as a number or a numeric string.
fn ticket_id(body: &Value) -> Option<i64> {
    ["/freshdesk_webhook/ticket_id", "/ticket_id", "/ticket/id"]
        .iter()
        .find_map(|p| body.pointer(p))
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|id| *id > 0)
}

/// `POST /hooks/freshdesk/{id}`: authenticated by the integration's secret in a header (the same
/// 401 whether the integration exists or not); queues a targeted refresh of the named ticket.
async fn hook(State(state): S, Path(id): Path<i64>, headers: HeaderMap, body: Bytes) -> Response {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "unauthorized"})),
        )
            .into_response()
    };
    let Some(given) = headers.get(HOOK_HEADER).and_then(|v| v.to_str().ok()) else {
        return unauthorized();
    };
    let row = match table::hook_secret(&state.store, id).await {
        Ok(r) => r,
        Err(e) => return Error::internal(e).into_response(),
    };
    let Some((org_id, Some(want))) = row else {
        return unauthorized();
    };
    let got = digest(given.trim());
    let same = got.len() == want.len()
        && got
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !same {
        return unauthorized();
    }
    let Some(ticket) = serde_json::from_slice::<Value>(&body)
        .ok()
        .as_ref()
        .and_then(ticket_id)
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "the body names no ticket: send {\"ticket_id\": {{ticket.id}}}"})),
        )
            .into_response();
    };
    let t = crate::sync::Target {
        org_id,
        integration_id: id,
    };
    if let Err(e) = runtime::receive_hook(&state.queue, t, ticket).await {
        return Error::internal(e).into_response();
    }
    (StatusCode::ACCEPTED, Json(json!({"queued": ticket}))).into_response()
}

/// The sync page's view of one integration, with the configured default interval.
async fn view(state: &AppState, t: Target) -> Result<SyncView, runtime::ViewError> {
    runtime::view(&state.store, state.config.sync.interval_secs as i64, t).await
}
