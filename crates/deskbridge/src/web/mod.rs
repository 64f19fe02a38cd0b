//! The HTTP edge: server-rendered pages and the JSON API, assembled in one router with the
//! middleware every response goes through: security headers (on errors too), an Origin and
//! `Sec-Fetch-Site` check plus a per-session CSRF token on every state-changing request, and one
//! error type that shows generic text and logs the cause once.

mod health;
mod pages;
mod sync;

pub use sync::HOOK_HEADER;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::accounts::{self, Session};
use crate::app::AppState;

pub const COOKIE_SECURE: &str = "__Host-deskbridge";
pub const COOKIE_PLAIN: &str = "deskbridge";

pub fn cookie_name(secure: bool) -> &'static str {
    if secure { COOKIE_SECURE } else { COOKIE_PLAIN }
}

/// Every route, with whether it changes state. The CSRF test walks this list, so a new route
/// that is not listed (and so not covered) fails it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/dashboard"),
    ("GET", "/settings/integrations"),
    ("GET", "/settings/integrations/freshdesk/connect"),
    ("POST", "/settings/integrations/freshdesk/connect"),
    ("GET", "/settings/integrations/{id}"),
    ("POST", "/settings/integrations/{id}/disconnect"),
    ("POST", "/settings/integrations/{id}/reauthorize"),
    ("GET", "/guide/freshdesk"),
    ("POST", "/guide/freshdesk/feedback"),
    ("GET", "/help"),
    ("POST", "/help"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/settings/api-tokens"),
    ("POST", "/settings/api-tokens"),
    ("POST", "/settings/api-tokens/{id}/revoke"),
    ("GET", "/static/app.css"),
    ("GET", "/api/v1/integrations"),
    ("POST", "/api/v1/integrations"),
    ("GET", "/api/v1/integrations/{id}"),
    ("DELETE", "/api/v1/integrations/{id}"),
    ("POST", "/api/v1/integrations/check"),
    ("POST", "/api/v1/integrations/{id}/reauthorize"),
    ("GET", "/healthz"),
    ("GET", "/settings/integrations/{id}/sync"),
    ("POST", "/settings/integrations/{id}/sync"),
    ("GET", "/settings/integrations/{id}/sync/events"),
    ("POST", "/settings/integrations/{id}/sync/schedule"),
    ("POST", "/settings/integrations/{id}/sync/webhook"),
    ("GET", "/static/sync.js"),
    ("POST", "/hooks/freshdesk/{id}"),
    ("GET", "/api/v1/integrations/{id}/sync"),
    ("GET", "/api/v1/integrations/{id}/health"),
    ("GET", "/settings/alerts"),
    ("POST", "/settings/alerts"),
];

pub fn router(state: Arc<AppState>) -> Router {
    pages::routes()
        .merge(sync::routes())
        .merge(health::routes())
        .fallback(|| async { Error::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin == "null" || origin_host != host {
            return false;
        }
    }
    true
}

/// Refuses cross-site writes, and writes without the session's CSRF token (form field `csrf` or
/// header `X-CSRF-Token`). Sign-in has no session yet and relies on the origin check.
async fn csrf_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if !same_origin(req.headers()) {
        return Error::Forbidden("cross-site request refused").into_response();
    }
    // Sign-in has no session yet; Freshdesk's webhooks carry the integration's secret instead
    // of a session (and no cookie), checked by their handler.
    if req.uri().path() == "/login" || req.uri().path().starts_with("/hooks/") {
        return next.run(req).await;
    }
    // Bearer tokens are not sent by browsers on their own, so they need no CSRF token; the
    // extractor checks them.
    if req.uri().path().starts_with("/api/")
        && bearer(req.headers()).is_some()
        && cookie_value(
            req.headers(),
            cookie_name(state.config.server.secure_cookies),
        )
        .is_none()
    {
        return next.run(req).await;
    }
    let session = match session_from_headers(&state, req.headers()).await {
        Ok(Some(s)) => s,
        Ok(None) => return Error::Unauthorized.into_response(),
        Err(e) => return e.into_response(),
    };
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 256 * 1024).await {
        Ok(b) => b,
        Err(_) => return Error::BadRequest("request body too large".into()).into_response(),
    };
    let form_token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    let given = header_token.or(form_token).unwrap_or_default();
    let ok = given.len() == session.csrf.len()
        && given
            .bytes()
            .zip(session.csrf.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !ok {
        return Error::Forbidden(
            "the form expired or came from elsewhere; reload the page and try again",
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

async fn session_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, Error> {
    let Some(token) = cookie_value(headers, cookie_name(state.config.server.secure_cookies)) else {
        return Ok(None);
    };
    let s = accounts::session(
        &state.store,
        token,
        state.config.server.session_idle_secs,
        state.config.server.session_absolute_secs,
    )
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    let Some(mut s) = s else {
        return Ok(None);
    };
    // The banner on every page while an integration needs attention.
    s.user.attention = crate::health::banner(&state.store, s.user.org_id)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Some(s))
}

/// The signed-in user's session; pages redirect to sign-in without one, the API answers 401.
pub struct Authenticated(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated
where
    Arc<AppState>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = Arc::<AppState>::from_ref(state);
        if parts.uri.path().starts_with("/api/")
            && let Some(token) = bearer(&parts.headers)
        {
            return match accounts::tokens::resolve(&state.store, token).await {
                Ok(Some(user)) => Ok(Authenticated(Session {
                    id_hash: String::new(),
                    user,
                    csrf: String::new(),
                })),
                Ok(None) => Err(Error::Unauthorized.into_response()),
                Err(e) => Err(Error::Internal(e.to_string()).into_response()),
            };
        }
        match session_from_headers(&state, &parts.headers).await {
            Ok(Some(s)) => Ok(Authenticated(s)),
            Ok(None) if parts.uri.path().starts_with("/api/") => {
                Err(Error::Unauthorized.into_response())
            }
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("sign in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
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

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, title, message, reference) = match &self {
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.".to_string(),
                None,
            ),
            Error::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "Your session has ended. Sign in again.".to_string(),
                None,
            ),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", (*m).to_string(), None),
            Error::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone(), None),
            Error::Internal(cause) => {
                let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                // Logged once, here, with a reference the user can quote; never shown.
                tracing::error!(reference = %reference, cause = %cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "We could not complete that request. Try again in a moment.".to_string(),
                    Some(reference),
                )
            }
        };
        let page = ErrorPage {
            user: None,
            csrf: "",
            title,
            message: &message,
            reference,
        };
        (
            status,
            Html(page.render().unwrap_or_else(|_| message.clone())),
        )
            .into_response()
    }
}
