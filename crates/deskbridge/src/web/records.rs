//! `/api/v1/integrations/{id}/records[/{stream}]`: the synced copy for products, read with a
//! `records:read` token (or any signed-in member): parse, call `records`, render JSON. And
//! `/api/v1/integrations/{id}/changes`: the same feed as server-sent events, one `changes` event
//! per batch naming each stream that changed, how many records, and the cursor to read them from;
//! its id is the feed position, so a client that reconnects with `Last-Event-ID` misses nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
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

/// Long-lived: served outside the request timeout.
pub fn stream_routes() -> Routes {
    Routes::default()
        .scope(Scope::RecordsRead)
        .get("/api/v1/integrations/{id}/changes", changes)
}

/// How often an open change stream looks for news, and how long one stays open (the client
/// reconnects with its last event id).
const POLL: Duration = Duration::from_secs(1);
const OPEN_FOR: Duration = Duration::from_secs(3600);

#[utoipa::path(get, path = "/api/v1/integrations/{id}/changes", tag = "records", summary = "The change feed as server-sent events", description = "One `changes` event per batch: `{\"streams\": [StreamChanges]}`, whose id is the feed position; reconnect with `Last-Event-ID` to miss nothing. Needs `records:read`.", params(("id" = i64, Path, description = "The integration"), ("Last-Event-ID" = Option<i64>, Header, description = "The last event id seen")), responses((status = 200, description = "An event stream", content_type = "text/event-stream", body = String), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn changes(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let org = s.user.org_id;
    let (now, _) = records::changed_since(&state.store, org, id, None).await?;
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|n| (0..=now).contains(n))
        .unwrap_or(now);
    let until = tokio::time::Instant::now() + OPEN_FOR;
    let events = futures_util::stream::unfold(from, move |mut at| {
        let state = state.clone();
        async move {
            while tokio::time::Instant::now() < until {
                match records::changed_since(&state.store, org, id, Some(at)).await {
                    Ok((_, streams)) if streams.is_empty() => tokio::time::sleep(POLL).await,
                    Ok((next, streams)) => {
                        at = next;
                        let data = json!({ "streams": streams }).to_string();
                        let event = Event::default().event("changes").id(next.to_string());
                        return Some((Ok::<_, Infallible>(event.data(data)), at));
                    }
                    // Disconnected meanwhile, or the database is gone: the stream ends.
                    Err(e) => {
                        tracing::info!(error = %e, "change stream ended");
                        return None;
                    }
                }
            }
            None
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The streams a consumer can read.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Streams {
    #[schema(example = json!(["tickets", "conversations"]))]
    streams: Vec<&'static str>,
}

/// The streams a consumer can read.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/records", tag = "records", summary = "The streams whose records can be read", params(("id" = i64, Path, description = "The integration")), responses((status = 200, description = "The stream names", body = Streams), (status = 404, description = "Not this organisation's", body = super::error::ErrorBody)))]
pub(super) async fn streams(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    connections::get(&state.store, s.user.org_id, id).await?;
    Ok(Json(Streams {
        streams: records::stream_names(),
    })
    .into_response())
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}/records/{stream}", tag = "records", summary = "A page of a stream's records in change order, from a cursor", description = "Every record deskbridge changed after the cursor, once, in order, tombstones included. Keep `next_cursor` and ask again; an empty page means up to date. Needs `records:read`.", params(("id" = i64, Path, description = "The integration"), ("stream" = String, Path, description = "A stream name, from `/records`"), ("limit" = Option<i64>, Query, description = "1 to 1000, default 100"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the last page"), ("since" = Option<String>, Query, description = "Start at changes made from this RFC 3339 time")), responses((status = 200, description = "A page", body = crate::records::Page), (status = 400, description = "A bad limit, since or cursor", body = super::error::ErrorBody), (status = 403, description = "The token lacks records:read", body = super::error::ErrorBody), (status = 404, description = "No such integration or stream (the message lists the streams)", body = super::error::ErrorBody)))]
pub(super) async fn page(
    Signed(state, s): Signed,
    Path((id, stream)): Path<(i64, String)>,
    Query(q): Query<records::Query>,
) -> Result<Response, Error> {
    let page = records::list(&state.store, s.user.org_id, id, &stream, &q).await?;
    Ok(Json(page).into_response())
}
