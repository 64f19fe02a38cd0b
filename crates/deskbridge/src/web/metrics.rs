//! `/metrics` in Prometheus' text format, on web and worker processes, and the worker's
//! `/healthz` (whether it reaches its database). The figures come from one capability
//! (`runtime::metrics`); HTTP latency by route is counted here, by a layer every request passes.
//! Reading `/metrics` needs `server.metrics_token` as a bearer token, or, without one, a loopback
//! client: the numbers name integrations and help-desk domains.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret;

use super::latency::{Labels, Latency};
use super::routes::Routes;
use super::{AppState, Error};
use crate::runtime::metrics::{Snapshot, database_reachable, gather};

/// The layer that times every request by its route.
pub async fn time_requests(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let labels = vec![
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    state
        .latency
        .0
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

pub fn routes() -> Routes {
    Routes::default().get("/metrics", scrape)
}

/// The worker's own small router: numbers and health, no pages.
pub fn worker_routes() -> Routes {
    Routes::default()
        .get("/metrics", scrape)
        .get("/healthz", healthz)
}

fn allowed(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    match &state.config.server.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            // Digests compared, so the time taken says nothing about the token's bytes.
            .is_some_and(|given| {
                use sha2::{Digest, Sha256};
                Sha256::digest(given.as_bytes()) == Sha256::digest(token.expose_secret().as_bytes())
            }),
        None => peer.ip().is_loopback(),
    }
}

async fn scrape(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    if !allowed(&state, peer, &headers) {
        return Ok((StatusCode::FORBIDDEN, "metrics need the configured token\n").into_response());
    }
    let snapshot = gather(&state.store).await.map_err(Error::internal)?;
    let body = render(&snapshot, &state.latency).map_err(Error::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if database_reachable(&state.store).await {
        (StatusCode::OK, "ok: the database answers\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer\n",
        )
            .into_response()
    }
}

fn gauge_family() -> Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> {
    Family::default()
}

fn counter_family() -> Family<Labels, Counter> {
    Family::default()
}

/// The snapshot and the request latencies in the text format.
fn render(s: &Snapshot, latency: &Latency) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("deskbridge");
    let (jobs, age) = (gauge_family(), gauge_family());
    for j in &s.jobs {
        let labels = vec![("kind", j.kind.clone()), ("state", j.state.clone())];
        jobs.get_or_create(&labels).set(j.count as f64);
        age.get_or_create(&labels).set(j.oldest_secs);
    }
    registry.register("jobs", "Jobs in the queue by kind and state", jobs);
    registry.register(
        "jobs_oldest_age_seconds",
        "Age of the oldest job by kind and state",
        age,
    );
    let lag = gauge_family();
    for (t, secs) in &s.lag {
        let labels = vec![
            ("org", t.org_id.to_string()),
            ("integration", t.integration_id.to_string()),
        ];
        lag.get_or_create(&labels).set(*secs as f64);
    }
    registry.register(
        "sync_lag_seconds",
        "Now minus the newest ticket change an integration's copy holds",
        lag,
    );
    let (credits, throttled) = (counter_family(), counter_family());
    let limit = gauge_family();
    for (account, spent, n429, per_minute) in &s.accounts {
        let labels = vec![("account", account.clone())];
        credits.get_or_create(&labels).inc_by(*spent);
        throttled.get_or_create(&labels).inc_by(*n429);
        if let Some(l) = per_minute {
            limit.get_or_create(&labels).set(*l as f64);
        }
    }
    registry.register(
        "freshdesk_credits",
        "API credits this process has spent per Freshdesk account",
        credits,
    );
    registry.register(
        "freshdesk_throttled",
        "429 answers this process has met per Freshdesk account",
        throttled,
    );
    registry.register(
        "freshdesk_limit_per_minute",
        "The account's per-minute limit as Freshdesk's headers gave it",
        limit,
    );
    let pool = gauge_family();
    let (open, idle) = s.pool;
    pool.get_or_create(&vec![("state", "open".to_string())])
        .set(open as f64);
    pool.get_or_create(&vec![("state", "idle".to_string())])
        .set(idle as f64);
    registry.register(
        "db_pool_connections",
        "Database connections of this process",
        pool,
    );
    registry.register(
        "http_request_duration_seconds",
        "HTTP request latency by method, route and status",
        latency.0.clone(),
    );
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}
