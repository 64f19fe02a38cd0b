//! Health over HTTP: `GET /api/v1/integrations/{id}/health` (state, cause, fix, history), and the
//! organisation's alert settings (the signed-webhook URL and its secret, shown once).

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::routes::Routes;
use super::session::{Signed, admin_only};
use super::{AppState, Error};
use crate::accounts::{Role, Session, User};
use crate::health::{self, HealthError, alerts};
use crate::sync::Target;
use crate::vault::Binding;

pub fn routes() -> Routes {
    Routes::default()
        .get("/settings/alerts", alerts_page)
        .post("/settings/alerts", alerts_save)
        .scope(crate::accounts::tokens::Scope::IntegrationsWrite)
        .get("/api/v1/integrations/{id}/health", api_health)
}

async fn api_health(Signed(state, s): Signed, Path(id): Path<i64>) -> Response {
    let t = Target {
        org_id: s.user.org_id,
        integration_id: id,
    };
    match health::get(&state.store, t).await {
        Ok(h) => Json(h).into_response(),
        Err(HealthError::Gone) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
        }
        Err(e) => Error::internal(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    user: Option<User>,
    csrf: String,
    is_admin: bool,
    email_on: bool,
    url: String,
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    s: &Session,
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, Error> {
    let url: Option<(Option<String>,)> =
        sqlx::query_as("SELECT alert_webhook_url FROM organisations WHERE id = $1")
            .bind(s.user.org_id)
            .fetch_optional(&state.store.pool)
            .await
            .map_err(Error::internal)?;
    AlertsPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        is_admin: s.user.role == Role::Admin,
        email_on: state.config.alerts.smtp_url.is_some(),
        url: url.and_then(|(u,)| u).unwrap_or_default(),
        secret,
        notice,
        error,
    }
    .render()
    .map(Html)
    .map_err(Error::internal)
}

async fn alerts_page(Signed(state, s): Signed) -> Result<Html<String>, Error> {
    render(&state, &s, None, None, None).await
}

#[derive(Deserialize)]
struct AlertsForm {
    webhook_url: String,
}

/// Saves (or clears) the webhook URL. A new URL gets a new signing secret, shown once.
async fn alerts_save(
    Signed(state, s): Signed,
    Form(f): Form<AlertsForm>,
) -> Result<Response, Error> {
    admin_only(&s, "only admins can change alerts")?;
    let url = f.webhook_url.trim();
    if url.is_empty() {
        sqlx::query("UPDATE organisations SET alert_webhook_url = NULL, alert_webhook_secret = NULL WHERE id = $1")
            .bind(s.user.org_id)
            .execute(&state.store.pool)
            .await
            .map_err(Error::internal)?;
        return Ok(render(
            &state,
            &s,
            None,
            Some("Alert webhook removed.".into()),
            None,
        )
        .await?
        .into_response());
    }
    // Checked before it is saved, and again before every delivery (DNS can change).
    if let Err(msg) =
        alerts::check_target(url, state.config.alerts.allow_private_webhook_targets).await
    {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&state, &s, None, None, Some(msg.to_string())).await?,
        )
            .into_response());
    }
    let secret = format!("dbw_{}", crate::accounts::random_token());
    let (_, sealed) = state.vault.encrypt(
        &secret,
        Binding {
            org_id: s.user.org_id,
            integration_id: 0,
            field: "alert_webhook_secret",
        },
    );
    sqlx::query(
        "UPDATE organisations SET alert_webhook_url = $1, alert_webhook_secret = $2 WHERE id = $3",
    )
    .bind(url)
    .bind(sealed)
    .bind(s.user.org_id)
    .execute(&state.store.pool)
    .await
    .map_err(Error::internal)?;
    crate::audit::record(
        &state.store,
        Some(s.user.org_id),
        &s.user.email,
        "alert_webhook",
        // Webhook URLs often carry a token in their path or query: the audit keeps the host only.
        &format!(
            "host={}",
            url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default()
        ),
    )
    .await;
    Ok(render(
        &state,
        &s,
        Some(secret),
        Some("Saved. Copy the signing secret now: it is not shown again.".into()),
        None,
    )
    .await?
    .into_response())
}
