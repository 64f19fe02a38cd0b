//! Health over HTTP: `GET /api/v1/integrations/{id}/health` (state, cause, fix, history), and the
//! organisation's alert settings (the signed-webhook URL and its secret, shown once).

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::routes::Routes;
use super::session::{Signed, admin_only};
use super::{AppState, Error};
use crate::accounts::{Role, Session, User};
use crate::health::{self, HealthError};
use crate::sync::Target;
use crate::webhook::{self, DeliveryError};

pub fn routes() -> Routes {
    Routes::default()
        .get("/settings/alerts", alerts_page)
        .post("/settings/alerts", alerts_save)
        .scope(crate::accounts::tokens::Scope::IntegrationsWrite)
        .get("/api/v1/integrations/{id}/health", api_health)
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}/health", tag = "health", summary = "The integration's health: state, cause, what to do, and its history", params(("id" = i64, Path, description = "The integration")), responses((status = 200, description = "Its health", body = crate::health::Health), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_health(Signed(state, s): Signed, Path(id): Path<i64>) -> Response {
    let t = Target {
        org_id: s.user.org_id,
        integration_id: id,
    };
    match health::get(&state.store, t).await {
        Ok(h) => Json(h).into_response(),
        Err(HealthError::Gone) => Error::NotFound.into_response(),
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
    changes_url: String,
    /// A new signing secret, shown once, and which webhook it belongs to.
    secret: Option<(&'static str, String)>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render(
    state: &AppState,
    s: &Session,
    secret: Option<(&'static str, String)>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, Error> {
    let org = s.user.org_id;
    let url = webhook::url(&state.store, webhook::ALERTS, org).await;
    let changes_url = webhook::url(&state.store, webhook::CHANGES, org).await;
    AlertsPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        is_admin: s.user.role == Role::Admin,
        email_on: state.config.alerts.smtp_url.is_some(),
        url: url.map_err(Error::internal)?.unwrap_or_default(),
        changes_url: changes_url.map_err(Error::internal)?.unwrap_or_default(),
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
    /// `changes` for the change-notification webhook; the alert webhook otherwise.
    #[serde(default)]
    kind: String,
}

/// Saves (or clears) a webhook URL. A new URL gets a new signing secret, shown once.
async fn alerts_save(
    Signed(state, s): Signed,
    Form(f): Form<AlertsForm>,
) -> Result<Response, Error> {
    admin_only(&s, "only admins can change webhooks")?;
    let (slot, kind, what) = if f.kind == "changes" {
        (webhook::CHANGES, "changes", "Change webhook")
    } else {
        (webhook::ALERTS, "alerts", "Alert webhook")
    };
    let org = s.user.org_id;
    let url = f.webhook_url.trim();
    if url.is_empty() {
        webhook::clear(&state.store, slot, org)
            .await
            .map_err(Error::internal)?;
        let notice = Some(format!("{what} removed."));
        return Ok(render(&state, &s, None, notice, None)
            .await?
            .into_response());
    }
    // Checked before it is saved, and again before every delivery (DNS can change).
    let private = state.config.alerts.allow_private_webhook_targets;
    let secret = match webhook::set(&state.store, &state.vault, slot, org, url, private).await {
        Ok(secret) => secret,
        Err(DeliveryError::Refused(msg)) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&state, &s, None, None, Some(msg)).await?,
            )
                .into_response());
        }
        Err(e) => return Err(Error::internal(e)),
    };
    crate::audit::record(
        &state.store,
        Some(org),
        &s.user.email,
        if kind == "changes" {
            "changes_webhook"
        } else {
            "alert_webhook"
        },
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
        Some((kind, secret)),
        Some("Saved. Copy the signing secret now: it is not shown again.".into()),
        None,
    )
    .await?
    .into_response())
}
