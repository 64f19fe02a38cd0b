//! The HTTP edge: server-rendered pages and the JSON API, assembled in one router with the
//! middleware every response goes through: security headers (on errors too), an Origin and
//! `Sec-Fetch-Site` check plus a per-session CSRF token on every state-changing request, and one
//! error type that shows generic text and logs the cause once.

mod health;
mod pages;
mod sync;

pub use sync::HOOK_HEADER;

use std::net::IpAddr;
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

pub const REQUEST_ID: &str = "x-request-id";

/// The router with every layer, outermost first: a request id (a new one for every request: a
/// client's own `x-request-id` is not trusted) set on the request and echoed on the response; the
/// trace span that carries it into every log line of the request; security headers; error
/// rendering by route; the request timeout; the panic catcher; the CSRF guard.
pub fn router(state: Arc<AppState>) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let header_name = axum::http::HeaderName::from_static(REQUEST_ID);
    let timeout = std::time::Duration::from_secs(state.config.server.request_timeout_secs);
    let secure = state.config.server.secure_cookies;
    let streams = sync::stream_routes();
    pages::routes()
        .merge(sync::routes())
        .merge(health::routes())
        .fallback(|| async { Error::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Server-sent event streams live as long as the page is open: no request timeout.
        .merge(streams)
        .layer(middleware::from_fn(render_errors))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            security_headers(secure, req, next)
        }))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // The path only: queries can carry tokens, and headers are never logged.
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG),
                )
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(header_name.clone()))
        .layer(SetRequestIdLayer::new(header_name, MakeRequestUuid))
        // A client's own x-request-id is dropped, so the id in our logs is always ours.
        .layer(middleware::map_request(|mut req: Request| async move {
            req.headers_mut().remove(REQUEST_ID);
            req
        }))
        .with_state(state)
}

async fn security_headers(secure: bool, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if secure {
        // Only when cookies are Secure: that is the setting for a deployment served over TLS.
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
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

/// The client a request comes from, for sign-in throttling. The peer address, unless the peer is
/// a trusted proxy: then the right-most `X-Forwarded-For` entry that is not itself a trusted
/// proxy (the hop our proxies added; entries further left are whatever the client claimed). An
/// IPv6 client is its /64, since one host easily holds a whole /64.
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &crate::config::TrustedProxies,
) -> String {
    let mut client = peer;
    if trusted.contains(peer) {
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().parse::<IpAddr>())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        if let Some(hop) = hops.into_iter().rev().find(|h| !trusted.contains(*h)) {
            client = hop;
        }
    }
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
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
    .await?;
    let Some(mut s) = s else {
        return Ok(None);
    };
    // The banner on every page while an integration needs attention.
    s.user.attention = crate::health::banner(&state.store, s.user.org_id)
        .await
        .map_err(Error::internal)?;
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
                Err(e) => Err(Error::from(e).into_response()),
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
            Error::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone()),
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
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Error::internal("a request handler panicked").into_response()
}

/// Whether a path is answered in JSON (the API and the webhook receiver).
fn is_json_route(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/hooks/")
}

/// Renders every error response: JSON on API routes (`{"error", "status", "request_id"}`), the
/// error page elsewhere, both with the request id a user can quote. Bare error statuses from
/// layers (a request timeout) get the same treatment.
async fn render_errors(req: Request, next: Next) -> Response {
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
