//! One error type for the web edge. It keeps its source, logs the whole chain once inside the
//! request's span (so with the request id), and renders by route: JSON on the API and webhook
//! routes, the error page elsewhere, both with generic words and the request id a user can quote.

use askama::Template;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::accounts;

pub const REQUEST_ID: &str = "x-request-id";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    /// Refused, with words that name what is missing (a token's scope).
    #[error("{0}")]
    ForbiddenFor(String),
    /// Not found, with words that say what exists instead (the list of streams).
    #[error("{0}")]
    NotFoundWith(String),
    #[error("{0}")]
    BadRequest(String),
    /// Understood but refused, with words the user can act on (a rejected key, a bad domain).
    #[error("{0}")]
    Unprocessable(String),
    /// Refused until the user confirms something (another agent's key).
    #[error("{0}")]
    Conflict(String),
    /// Anything that is our fault; the source is logged with its whole chain, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Error {
        Error::Internal(e.into())
    }
}

impl From<accounts::AccountError> for Error {
    fn from(e: accounts::AccountError) -> Self {
        Error::internal(e)
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Error::internal(e)
    }
}

/// Each way an integration operation can fail, once for pages and the API alike: the user's
/// mistakes with their words, our faults as the generic 500 (the cause logged).
impl From<crate::connections::ConnectError> for Error {
    fn from(e: crate::connections::ConnectError) -> Self {
        use crate::connections::ConnectError as C;
        match e {
            C::NotFound => Error::NotFound,
            C::Forbidden => Error::Forbidden("only admins can manage integrations"),
            e @ C::DifferentAgent { .. } => Error::Conflict(e.to_string()),
            e @ (C::Vault(_) | C::Store(_) | C::Queue(_) | C::Client(_)) => Error::internal(e),
            e => Error::Unprocessable(e.to_string()),
        }
    }
}

impl From<crate::health::HealthError> for Error {
    fn from(e: crate::health::HealthError) -> Self {
        match e {
            crate::health::HealthError::Gone => Error::NotFound,
            e => Error::internal(e),
        }
    }
}

impl From<crate::jobs::QueueError> for Error {
    fn from(e: crate::jobs::QueueError) -> Self {
        Error::internal(e)
    }
}

impl From<crate::records::RecordsError> for Error {
    fn from(e: crate::records::RecordsError) -> Self {
        use crate::records::RecordsError as R;
        match e {
            R::NotFound => Error::NotFound,
            R::UnknownStream(_) => Error::NotFoundWith(e.to_string()),
            R::BadLimit | R::BadSince | R::BadCursor(_) => Error::BadRequest(e.to_string()),
            R::Store(_) | R::Queue(_) => Error::internal(e),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::internal(e)
    }
}

/// What an error response says, left on the response by [`Error`] (and by the panic and
/// timeout layers) for [`render_errors`], which knows the route and the request id and renders it
/// as a page or as JSON.
#[derive(Clone, Debug)]
struct ErrorInfo {
    title: &'static str,
    message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.".to_string(),
            ),
            Error::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "Your session has ended. Sign in again.".to_string(),
            ),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", (*m).to_string()),
            Error::ForbiddenFor(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone()),
            Error::NotFoundWith(m) => (StatusCode::NOT_FOUND, "Not found", m.clone()),
            Error::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone()),
            Error::Unprocessable(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "That did not work",
                m.clone(),
            ),
            Error::Conflict(m) => (StatusCode::CONFLICT, "Confirm first", m.clone()),
            Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "We could not complete that request. Try again in a moment.".to_string(),
            ),
        };
        // Logged once, here, inside the request's span (so with its request id).
        match &self {
            Error::Internal(source) => {
                tracing::error!(cause = %crate::error_chain(source.as_ref()), "request failed")
            }
            refused => {
                tracing::info!(status = status.as_u16(), reason = %refused, "request refused")
            }
        }
        error_response(status, title, message)
    }
}

fn error_response(status: StatusCode, title: &'static str, message: String) -> Response {
    let mut res = status.into_response();
    res.extensions_mut().insert(ErrorInfo { title, message });
    res
}

/// Answers a handler that panicked with the generic 500 (the panic is logged, not shown).
pub(super) fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Error::internal("a request handler panicked").into_response()
}

/// Whether a path is answered in JSON (the API and the webhook receiver).
fn is_json_route(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/hooks/")
}

/// Renders every error response: JSON on API routes (`{"error", "status", "request_id"}`), the
/// error page elsewhere, both with the request id a user can quote. Bare error statuses from
/// layers (a request timeout) get the same treatment.
pub(super) async fn render_errors(req: Request, next: Next) -> Response {
    let json = is_json_route(req.uri().path());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut res = next.run(req).await;
    let status = res.status();
    let info = match res.extensions_mut().remove::<ErrorInfo>() {
        Some(info) => info,
        None if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::SERVICE_UNAVAILABLE =>
        {
            tracing::warn!(status = status.as_u16(), "request timed out");
            ErrorInfo {
                title: "Too slow",
                message: "That took too long to answer. Try again in a moment.".into(),
            }
        }
        None => return res,
    };
    let mut out = if json {
        (
            status,
            axum::Json(serde_json::json!({
                "error": info.message,
                "status": status.as_u16(),
                "request_id": request_id,
            })),
        )
            .into_response()
    } else {
        let page = ErrorPage {
            user: None,
            csrf: "",
            title: info.title,
            message: &info.message,
            reference: status.is_server_error().then(|| request_id.clone()),
        };
        (
            status,
            Html(page.render().unwrap_or_else(|_| info.message.clone())),
        )
            .into_response()
    };
    // Headers the handler set (Retry-After, Allow…) stay.
    for (k, v) in res.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    user: Option<accounts::User>,
    csrf: &'a str,
    title: &'a str,
    message: &'a str,
    reference: Option<String>,
}

/// An error as every API route returns it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, in words; for a server error only generic text.
    #[schema(example = "limit must be a whole number from 1 to 1000")]
    error: String,
    #[schema(example = 400)]
    status: u16,
    /// Quote it to the operator: the server's log has the whole story under it.
    #[schema(example = "2b1f0c8e-4a57-4c4e-9a55-0d1c7e1d2f9a")]
    request_id: String,
}
