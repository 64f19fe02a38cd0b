//! The HTTP edge: server-rendered pages and the JSON API, assembled in one router with the
//! middleware every response goes through (request id and trace span, security headers, error
//! rendering by route, a request timeout, a panic catcher, the CSRF guard). Each page group is a
//! file; handlers parse input, call a capability and render.

mod api;
mod auth;
mod browse;
mod charts;
mod dashboard;
mod error;
mod guard;
mod guide;
mod health;
mod help;
mod integrations;
mod latency;
mod metrics;
pub mod openapi;
mod records;
mod render;
mod routes;
mod session;
mod state;
mod sync;
mod tokens;
mod triage;

pub use error::{Error, REQUEST_ID};
pub use guard::client_address;
pub use session::{Authenticated, COOKIE_PLAIN, COOKIE_SECURE, cookie_name};
pub use state::AppState;
pub use sync::HOOK_HEADER;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};

use error::{panicked, render_errors};
use guard::{csrf_guard, security_headers};
use routes::Routes;

/// Every page group's routes, merged (the long-lived event streams apart: they skip the
/// request timeout).
fn pages() -> Routes {
    let groups = [
        dashboard::routes,
        auth::routes,
        integrations::routes,
        guide::routes,
        help::routes,
        tokens::routes,
        api::routes,
        sync::routes,
        health::routes,
        records::routes,
        browse::routes,
        triage::routes,
        openapi::routes,
        metrics::routes,
    ];
    groups
        .iter()
        .fold(Routes::default(), |all, group| all.merge(group()))
}

/// Every method and path the router serves, as it registered them. The CSRF test walks this, so
/// no state-changing route can escape it.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    let mut all = pages().served().to_vec();
    all.extend_from_slice(streams().served());
    all
}

/// The long-lived event streams.
fn streams() -> Routes {
    sync::stream_routes().merge(records::stream_routes())
}

/// The router with every layer, outermost first: a request id (a new one for every request: a
/// client's own `x-request-id` is not trusted) set on the request and echoed on the response; the
/// trace span that carries it into every log line of the request; security headers; error
/// rendering by route; the request timeout; the panic catcher; the CSRF guard.
pub fn router(state: Arc<AppState>) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let header_name = axum::http::HeaderName::from_static(REQUEST_ID);
    let timeout = std::time::Duration::from_secs(state.config.server.request_timeout_secs);
    let secure = state.config.server.secure_cookies;
    let streams = streams().into_router();
    pages()
        .into_router()
        .fallback(|| async { Error::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Timed by route; the event streams below last as long as a page is open, so not them.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::time_requests,
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

/// A worker process's router: `/metrics` and `/healthz` only.
pub fn worker_router(state: Arc<AppState>) -> Router {
    metrics::worker_routes()
        .into_router()
        .fallback(|| async { Error::NotFound })
        .with_state(state)
}
