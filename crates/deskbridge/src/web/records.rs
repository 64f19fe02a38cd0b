//! `/api/v1/integrations/{id}/records[/{stream}]`: the synced copy for products, read with a
//! `records:read` token (or any signed-in member): parse, call `records`, render JSON.

use axum::Json;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Error;
use super::routes::Routes;
use super::session::Signed;
use crate::accounts::tokens::Scope;
use crate::{connections, records};

pub fn routes() -> Routes {
    Routes::default()
        .scope(Scope::RecordsRead)
        .get("/api/v1/integrations/{id}/records", streams)
        .get("/api/v1/integrations/{id}/records/{stream}", page)
}

/// The streams a consumer can read.
async fn streams(Signed(state, s): Signed, Path(id): Path<i64>) -> Result<Response, Error> {
    connections::get(&state.store, s.user.org_id, id).await?;
    Ok(Json(json!({"streams": records::stream_names()})).into_response())
}

async fn page(
    Signed(state, s): Signed,
    Path((id, stream)): Path<(i64, String)>,
    Query(q): Query<records::Query>,
) -> Result<Response, Error> {
    let page = records::list(&state.store, s.user.org_id, id, &stream, &q).await?;
    Ok(Json(page).into_response())
}
