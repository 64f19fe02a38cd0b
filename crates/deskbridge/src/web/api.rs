//! `/api/v1` for integrations, with the powers of the pages: list, show, connect, check (saves
//! nothing), re-authorize and disconnect, and the OpenAPI document.

use axum::Json;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::Error;
use super::render::when;
use super::routes::Routes;
use super::session::Signed;
use crate::accounts::tokens::Scope;
use crate::connections::{self, Integration};
use crate::runtime;

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/openapi.json", openapi)
        .scope(Scope::IntegrationsWrite)
        .get("/api/v1/integrations", api_list)
        .post("/api/v1/integrations", api_connect)
        .get("/api/v1/integrations/{id}", api_get)
        .delete("/api/v1/integrations/{id}", api_disconnect)
        .post("/api/v1/integrations/check", api_check)
        .post("/api/v1/integrations/{id}/reauthorize", api_reauthorize)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

#[derive(serde::Serialize)]
struct AgentView<'a> {
    id: i64,
    name: &'a str,
    email: &'a str,
}

/// The API's integration object. The stored report is already JSON and is passed through as is.
#[derive(serde::Serialize)]
struct ApiIntegration<'a> {
    id: i64,
    kind: &'static str,
    domain: &'a str,
    status: &'a str,
    status_label: &'static str,
    agent: AgentView<'a>,
    key_fingerprint: &'a str,
    connected_at: String,
    last_checked_at: String,
    report: Option<&'a serde_json::value::RawValue>,
}

fn api_view(i: &Integration) -> ApiIntegration<'_> {
    ApiIntegration {
        id: i.id,
        kind: "freshdesk",
        domain: &i.domain,
        status: i.status.code(),
        status_label: i.status.label(),
        agent: AgentView {
            id: i.agent_id,
            name: &i.agent_name,
            email: &i.agent_email,
        },
        key_fingerprint: &i.key_fingerprint,
        connected_at: when(i.connected_at),
        last_checked_at: when(i.last_checked_at),
        report: serde_json::from_str(&i.report_json).ok(),
    }
}

async fn api_list(Signed(state, s): Signed) -> Result<Response, Error> {
    let list = connections::list(&state.store, s.user.org_id).await?;
    Ok(
        Json(json!({"integrations": list.iter().map(api_view).collect::<Vec<_>>()}))
            .into_response(),
    )
}

async fn api_get(Signed(state, s): Signed, Path(id): Path<i64>) -> Result<Response, Error> {
    let i = connections::get(&state.store, s.user.org_id, id).await?;
    Ok(Json(api_view(&i)).into_response())
}

#[derive(Deserialize)]
struct ApiConnect {
    domain: String,
    api_key: String,
}

async fn api_connect(
    Signed(state, s): Signed,
    Json(b): Json<ApiConnect>,
) -> Result<Response, Error> {
    let (i, _) =
        runtime::lifecycle::connect(&state.clients, &s.user, &b.domain, &b.api_key).await?;
    Ok((StatusCode::CREATED, Json(api_view(&i))).into_response())
}

/// Runs the connection check and returns the report; saves nothing.
async fn api_check(Signed(state, s): Signed, Json(b): Json<ApiConnect>) -> Result<Response, Error> {
    let report = connections::check(&state.clients, &s.user, &b.domain, &b.api_key).await?;
    Ok(Json(report).into_response())
}

#[derive(Deserialize)]
struct ApiReauth {
    api_key: String,
    #[serde(default)]
    confirm_other_agent: bool,
}

async fn api_reauthorize(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Json(b): Json<ApiReauth>,
) -> Result<Response, Error> {
    let reauthorized = connections::reauthorize(
        &state.clients,
        &s.user,
        id,
        &b.api_key,
        b.confirm_other_agent,
    )
    .await;
    let report = match reauthorized {
        Ok((_, report)) => report,
        Err(e) => {
            return Err(match Error::from(e) {
                Error::Conflict(msg) => {
                    Error::Conflict(format!("{msg} Send confirm_other_agent: true to switch."))
                }
                other => other,
            });
        }
    };
    super::integrations::after_reauthorize(&state, &s.user, id, &report).await?;
    let i = connections::get(&state.store, s.user.org_id, id).await?;
    Ok(Json(api_view(&i)).into_response())
}

async fn api_disconnect(Signed(state, s): Signed, Path(id): Path<i64>) -> Result<Response, Error> {
    runtime::lifecycle::disconnect(&state.clients, &s.user, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
