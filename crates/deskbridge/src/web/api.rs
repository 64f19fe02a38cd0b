//! `/api/v1` for integrations, with the powers of the pages: list, show, connect, check (saves
//! nothing), re-authorize and disconnect. Each handler carries its OpenAPI description.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Error;
use super::render::when;
use super::routes::Routes;
use super::session::Signed;
use crate::accounts::tokens::Scope;
use crate::connections::{self, Integration};
use crate::runtime;

pub fn routes() -> Routes {
    Routes::default()
        .scope(Scope::IntegrationsWrite)
        .get("/api/v1/integrations", api_list)
        .post("/api/v1/integrations", api_connect)
        .get("/api/v1/integrations/{id}", api_get)
        .delete("/api/v1/integrations/{id}", api_disconnect)
        .post("/api/v1/integrations/check", api_check)
        .post("/api/v1/integrations/{id}/reauthorize", api_reauthorize)
}

/// The Freshdesk agent whose key the integration uses.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Agent)]
struct AgentView<'a> {
    id: i64,
    name: &'a str,
    email: &'a str,
}

/// The API's integration object. The stored report is already JSON and is passed through as is.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Integration)]
pub(super) struct ApiIntegration<'a> {
    id: i64,
    #[schema(example = "freshdesk")]
    kind: &'static str,
    #[schema(example = "acme.freshdesk.com")]
    domain: &'a str,
    /// `connected`, `connected_with_warnings`, `needs_attention` or `unavailable`.
    #[schema(example = "connected")]
    status: &'a str,
    #[schema(example = "Connected")]
    status_label: &'static str,
    #[schema(value_type = AgentView)]
    agent: AgentView<'a>,
    /// The last four characters of the API key; the key itself is never returned.
    #[schema(example = "…a1b2")]
    key_fingerprint: &'a str,
    #[schema(example = "2026-12-06 08:00 UTC")]
    connected_at: String,
    #[schema(example = "2026-12-06 08:00 UTC")]
    last_checked_at: String,
    /// The connection check: account, agent, visible tickets, capabilities and warnings.
    #[schema(value_type = Option<Object>)]
    report: Option<&'a serde_json::value::RawValue>,
}

/// The organisation's integrations.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct IntegrationList<'a> {
    #[schema(value_type = Vec<ApiIntegration>)]
    integrations: Vec<ApiIntegration<'a>>,
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

#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations", summary = "List the organisation's integrations", responses((status = 200, description = "The integrations", body = IntegrationList), (status = 401, description = "No session or token", body = super::error::ErrorBody)))]
pub(super) async fn api_list(Signed(state, s): Signed) -> Result<Response, Error> {
    let list = connections::list(&state.store, s.user.org_id).await?;
    Ok(Json(IntegrationList {
        integrations: list.iter().map(api_view).collect(),
    })
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations", summary = "One integration", params(("id" = i64, Path, description = "The integration")), responses((status = 200, description = "The integration", body = ApiIntegration), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_get(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let i = connections::get(&state.store, s.user.org_id, id).await?;
    Ok(Json(api_view(&i)).into_response())
}

/// A Freshdesk help desk to check or connect.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Connect)]
pub(super) struct ApiConnect {
    /// The account's name or `<name>.freshdesk.com`.
    #[schema(example = "acme")]
    domain: String,
    /// The integration user's API key (never returned).
    #[schema(write_only, example = "k3y-of-the-integration-user")]
    api_key: String,
}

#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", summary = "Check a Freshdesk domain and API key, and connect when the check passes", request_body = ApiConnect, responses((status = 201, description = "Connected", body = ApiIntegration), (status = 403, description = "Not an admin, or a cross-site or token-less write", body = super::error::ErrorBody), (status = 422, description = "The check failed; nothing was saved", body = super::error::ErrorBody)))]
pub(super) async fn api_connect(
    Signed(state, s): Signed,
    Json(b): Json<ApiConnect>,
) -> Result<Response, Error> {
    let (i, _) =
        runtime::lifecycle::connect(&state.clients, &s.user, &b.domain, &b.api_key).await?;
    Ok((StatusCode::CREATED, Json(api_view(&i))).into_response())
}

/// Runs the connection check and returns the report; saves nothing.
#[utoipa::path(post, path = "/api/v1/integrations/check", tag = "integrations", summary = "Check a Freshdesk domain and API key without saving anything", request_body = ApiConnect, responses((status = 200, description = "The connection report: account, agent, visible tickets, capabilities, warnings", body = Object), (status = 422, description = "The check failed", body = super::error::ErrorBody)))]
pub(super) async fn api_check(
    Signed(state, s): Signed,
    Json(b): Json<ApiConnect>,
) -> Result<Response, Error> {
    let report = connections::check(&state.clients, &s.user, &b.domain, &b.api_key).await?;
    Ok(Json(report).into_response())
}

/// A new key for an integration.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Reauthorize)]
pub(super) struct ApiReauth {
    #[schema(write_only, example = "new-k3y")]
    api_key: String,
    /// Needed when the key belongs to another agent than the integration's.
    #[serde(default)]
    confirm_other_agent: bool,
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/reauthorize", tag = "integrations", summary = "Replace the integration's key after checking it", params(("id" = i64, Path, description = "The integration")), request_body = ApiReauth, responses((status = 200, description = "Re-authorized", body = ApiIntegration), (status = 409, description = "The key is another agent's: confirm to switch", body = super::error::ErrorBody), (status = 422, description = "The check failed; nothing changed", body = super::error::ErrorBody)))]
pub(super) async fn api_reauthorize(
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

#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations", summary = "Disconnect: delete the integration, its key and its synced copy", params(("id" = i64, Path, description = "The integration")), responses((status = 204, description = "Disconnected"), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn api_disconnect(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    runtime::lifecycle::disconnect(&state.clients, &s.user, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
