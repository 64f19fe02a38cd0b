//! The HTTP edge: one handler for every `/api/v2` request that runs the pipeline in Freshdesk's
//! order, applies injected faults, stamps the headers every reply carries and writes the request
//! log; plus the accept loop that serves HTTPS (or plain HTTP for debugging) on any address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, ApiError, Caller, Reply, Req};
use crate::state::{Account, Admission, FaultKind, LogEntry, Shared};
use crate::util::format_ts;

pub use crate::api::error;

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        let (body, _) = e.body();
        Reply {
            status: e.status(),
            ..Reply::json(body)
        }
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Takes one use of the first fault whose prefix (and method, if it names one) matches.
fn take_fault(shared: &Account, method: &Method, path: &str) -> Option<crate::state::Fault> {
    let mut faults = shared.faults.lock();
    let idx = faults.iter().position(|f| {
        path.starts_with(&f.path_prefix)
            && f.count > 0
            && f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    })?;
    let f = faults[idx].clone();
    faults[idx].count -= 1;
    if faults[idx].count == 0 {
        faults.remove(idx);
    }
    Some(f)
}

/// The path as Freshdesk's router reads it: repeated slashes collapse to one, a trailing slash is
/// dropped, and a `.json` format suffix on the last segment is the same route (`/tickets.json`,
/// as Freshdesk's own examples write it). Every later step (faults, the log, routing) sees this.
pub fn normalise_path(raw: &str) -> String {
    let mut path = String::with_capacity(raw.len());
    for segment in raw.split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(segment);
    }
    if let Some(stem) = path.strip_suffix(".json") {
        // Only a suffix on a segment of its own name, never a bare `/.json`.
        if !stem.ends_with('/') && !stem.is_empty() {
            path.truncate(stem.len());
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// CORS on the API as Freshdesk's `cors_enabler` answers it: any origin, the four verbs, the
/// request's own headers allowed, and the rate headers and request id exposed to scripts. A
/// preflight is answered here, before routing, auth or the rate window, as Freshdesk's Rack
/// middleware answers it before the app. The control API gets none of this.
pub fn cors() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::HeaderName::from_static("x-ratelimit-total"),
            header::HeaderName::from_static("x-ratelimit-remaining"),
            header::HeaderName::from_static("x-ratelimit-used-currentrequest"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(7200))
}

pub async fn api_handler(
    State(all): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = normalise_path(uri.path());
    let raw_query = uri.query().unwrap_or("").to_string();
    let host = header_str(&headers, header::HOST)
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    if let Some(file) = path.strip_prefix("/exports/") {
        return export_file(&all, &host, file);
    }
    if !path.starts_with("/api/") {
        return plain_not_found();
    }
    // An unknown subdomain is not an account: 404 with no rate headers, and no account's log.
    let Some(shared) = all.by_host(&host).cloned() else {
        return plain_not_found();
    };
    let fault = take_fault(&shared, &method, &path);
    let mut log = LogEntry {
        seq: shared.next_seq(),
        at: format_ts(shared.now()),
        method: method.as_str().to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        status: 0,
        credits: 0,
        agent_id: None,
        fault: fault.as_ref().map(|f| f.kind),
        client: header_str(&headers, header::USER_AGENT).map(str::to_string),
        received_ms: crate::state::unix_ms(),
        answered_ms: 0,
    };
    if let Some(f) = &fault {
        match f.kind {
            FaultKind::Delay => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms.unwrap_or(1000))).await
            }
            FaultKind::Reset => {
                log.status = 0;
                shared.record(log);
                return broken_body(StatusCode::OK, None, Bytes::new());
            }
            FaultKind::Html => {
                log.status = 200;
                shared.record(log);
                let mut r = Response::new(Body::from(
                    "<!DOCTYPE html><html><head><title>Freshdesk</title></head><body><h1>We are performing scheduled maintenance</h1><p>We'll be back shortly.</p></body></html>",
                ));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                return r;
            }
            FaultKind::Status => {
                let status = f.status.unwrap_or(500);
                log.status = status;
                shared.record(log);
                return status_fault(status);
            }
            FaultKind::EchoAuthorization => {
                let status = f.status.unwrap_or(403);
                log.status = status;
                shared.record(log);
                let echoed = header_str(&headers, header::AUTHORIZATION).unwrap_or("");
                let body = serde_json::json!({
                    "code": "require_feature",
                    "message": format!("The feature is not supported in your plan. Request headers: Authorization: {echoed}"),
                });
                let mut r = Response::new(Body::from(body.to_string()));
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                return r;
            }
            FaultKind::Trickle => {
                log.status = 200;
                shared.record(log);
                return trickle(Duration::from_millis(f.delay_ms.unwrap_or(1000)));
            }
            FaultKind::Truncate | FaultKind::SlowReply => {}
        }
    }

    let req = Req {
        method: method.as_str(),
        path: &path,
        query: api::query::Query::parse(uri.query()),
        origin: format!("{}://{}", shared.scheme, host),
        authorization: header_str(&headers, header::AUTHORIZATION),
        accept: header_str(&headers, header::ACCEPT),
        content_type: header_str(&headers, header::CONTENT_TYPE),
        body: &body,
        now: shared.now(),
    };

    let (reply, credits_total) = run_pipeline(&shared, &req, &mut log);
    let reply = match reply {
        Pipeline::Throttled { retry_after } => {
            log.status = 429;
            shared.record(log);
            let mut r = Response::new(Body::from(
                r#"{"message":"You have exceeded the limit of requests per minute"}"#,
            ));
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return r;
        }
        Pipeline::Done(reply, allow) => (reply, allow),
    };
    let (reply, allow) = reply;
    log.status = reply.status;
    log.credits = 1 + reply.extra_credits;

    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    if reply.status != 404 {
        h.insert(
            "x-freshdesk-api-version",
            HeaderValue::from_static("latest=v2; requested=v2"),
        );
    }
    if reply.status != 204 {
        let ct = if reply.status == 404 {
            "text/plain; charset=utf-8"
        } else {
            "application/json; charset=utf-8"
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-request-id", v);
    }
    if let Some((total, used)) = credits_total {
        h.insert("x-ratelimit-total", HeaderValue::from(total));
        h.insert(
            "x-ratelimit-remaining",
            HeaderValue::from(total.saturating_sub(used)),
        );
        h.insert(
            "x-ratelimit-used-currentrequest",
            HeaderValue::from(1 + reply.extra_credits),
        );
    }
    if let Some(loc) = reply
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        h.insert(header::LOCATION, loc);
    }
    if let Some(link) = reply
        .link
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        h.insert(header::LINK, link);
    }
    if let Some(allow) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        h.insert(header::ALLOW, allow);
    }
    let status_code = response.status();
    let headers_out = response.headers().clone();
    shared.record(log);
    if let Some(f) = fault.as_ref().filter(|f| f.kind == FaultKind::SlowReply) {
        tokio::time::sleep(Duration::from_millis(f.delay_ms.unwrap_or(1000))).await;
    }
    let body = if method == Method::HEAD {
        Vec::new()
    } else {
        reply.body
    };
    if fault.is_some_and(|f| f.kind == FaultKind::Truncate) {
        let full = body.len();
        let half = Bytes::from(body).slice(..full / 2);
        return broken_body(status_code, Some((headers_out, full)), half);
    }
    *response.body_mut() = Body::from(body);
    response
}

enum Pipeline {
    Done(Reply, Option<String>),
    Throttled { retry_after: u64 },
}

/// Route, rate window, headers, auth, account state, handler, include credits. Returns the reply
/// and the rate numbers for the headers (`None` when the plan is unthrottled and reports nothing).
fn run_pipeline(shared: &Account, req: &Req, log: &mut LogEntry) -> (Pipeline, Option<(u32, u32)>) {
    let plan = shared.desk.read().account.plan;
    let route = api::resolve(req.path, req.method);
    let sub = route
        .as_ref()
        .ok()
        .and_then(|r| r.sub_limit(req.method))
        .map(|s| (s, plan.sub_limit(s)));
    let total = plan.per_minute();
    {
        let mut w = shared.rate.lock();
        if let Admission::Throttled { retry_after } =
            w.admit(Instant::now(), shared.minute, total, sub)
        {
            return (Pipeline::Throttled { retry_after }, None);
        }
    }
    let fired = route.as_ref().ok().copied();
    let result = (|| -> Result<Reply, ApiError> {
        let route = route?;
        api::check_headers(req)?;
        let (user, password) = api::credentials(req.authorization)?;
        let by_key = api::by_key(&shared.desk.read(), &user);
        let caller = match by_key {
            Some(result) => result?,
            None if user.contains('@') => {
                api::by_password(&mut shared.desk_write(), &user, &password)?
            }
            None => return Err(ApiError::invalid_credentials()),
        };
        let id = match caller {
            Caller::Agent(id) => id,
            Caller::Contact => {
                if shared.desk.read().account.suspended {
                    return Err(ApiError::account_suspended());
                }
                return Err(ApiError::access_denied());
            }
        };
        log.agent_id = Some(id);
        if matches!(req.method, "GET" | "HEAD") {
            let d = shared.desk.read();
            if d.account.suspended {
                return Err(ApiError::account_suspended());
            }
            let v = api::viewer(&d, id).ok_or_else(ApiError::invalid_credentials)?;
            if let api::Route::AutomationRules(kind) = route {
                v.require_admin()?;
                let at = d.account.created_at;
                let rules = crate::automations::rules_view(&shared.automations, kind, at);
                return rules.map(|r| Reply::value(&r)).ok_or(ApiError::NotFound);
            }
            api::dispatch_read(&d, route, req, &v)
        } else {
            let mut d = shared.desk_write();
            if d.account.suspended {
                return Err(ApiError::account_suspended());
            }
            let v = api::viewer(&d, id).ok_or_else(ApiError::invalid_credentials)?;
            api::dispatch_write(&mut d, route, req, &v)
        }
    })();
    if let (Ok(r), Some(route)) = (&result, fired)
        && (200..300).contains(&r.status)
    {
        fire_rules(shared, route, req.method, r);
    }
    let (reply, allow) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let (_, allow) = e.body();
            (Reply::from(e), allow)
        }
    };
    let numbers = total.map(|t| {
        let mut w = shared.rate.lock();
        w.add_credits(reply.extra_credits);
        (t, w.used)
    });
    // Unthrottled plans still report headers, with a budget no client will meet.
    let numbers = numbers.or(Some((1_000_000_000, 0)));
    (Pipeline::Done(reply, allow), numbers)
}

/// Ticket writes fire the automation rules that listen for them.
fn fire_rules(shared: &Account, route: api::Route, method: &str, reply: &api::Reply) {
    use crate::automations::Event;
    use api::Route::*;
    let hit = match (route, method) {
        (Tickets, "POST") => serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_i64()))
            .map(|id| (Event::TicketCreated, id)),
        (Ticket(id), "PUT" | "DELETE")
        | (TicketRestore(id), "PUT")
        | (TicketReply(id), "POST")
        | (TicketNotes(id), "POST")
        | (TicketForward(id), "POST") => Some((Event::TicketUpdated, id)),
        _ => None,
    };
    let hits = hit
        .into_iter()
        .chain(reply.touched.iter().map(|id| (Event::TicketUpdated, *id)));
    let desk = shared.desk.read();
    for (event, id) in hits {
        crate::automations::fire(&shared.automations, &desk, event, id, shared.minute);
    }
}

/// An export file at its link (`/exports/{token}.json`): like a link to Freshdesk's file
/// storage, the token is the only credential, and the file is outside the rate window and log.
fn export_file(all: &Shared, host: &str, file: &str) -> Response<Body> {
    let token = file.strip_suffix(".json").unwrap_or(file);
    let body = all.by_host(host).and_then(|a| {
        let desk = a.desk.read();
        let files = desk.exports.lock();
        files
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, f)| f.clone())
    });
    match body {
        Some(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        None => plain_not_found(),
    }
}

fn plain_not_found() -> Response<Body> {
    let mut r = Response::new(Body::from(" "));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn status_fault(status: u16) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = match status {
        404 => Response::new(Body::from(" ")),
        // Freshdesk's answer when the key's user may not do this.
        403 => Response::new(Body::from(
            r#"{"code":"access_denied","message":"You are not authorized to perform this action."}"#,
        )),
        429 => {
            let mut r = Response::new(Body::from(
                r#"{"message":"You have exceeded the limit of requests per minute"}"#,
            ));
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        502..=504 => {
            let mut r = Response::new(Body::from(format!(
                "<html><body><h1>{} {}</h1></body></html>",
                status,
                code.canonical_reason().unwrap_or("")
            )));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            *r.status_mut() = code;
            return r;
        }
        _ => Response::new(Body::from(
            r#"{"message":"We're sorry, but something went wrong."}"#,
        )),
    };
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// A reply whose body fails after `prefix`: hyper then closes the connection, so the client sees
/// a reset (empty prefix) or a truncated body (declared length longer than what arrives).
/// A JSON array sent one byte at a time: `[` then a space per tick, never closed within any
/// sensible deadline (about an hour at one byte a second).
fn trickle(every: Duration) -> Response<Body> {
    use futures_util::StreamExt;
    let stream = futures_util::stream::iter(0..4096u32).then(move |i| async move {
        if i > 0 {
            tokio::time::sleep(every).await;
        }
        Ok::<Bytes, std::io::Error>(Bytes::from_static(if i == 0 { b"[" } else { b" " }))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn broken_body(
    status: StatusCode,
    headers: Option<(HeaderMap, usize)>,
    prefix: Bytes,
) -> Response<Body> {
    use futures_util::StreamExt;
    let fail = |what: &'static str| std::io::Error::new(std::io::ErrorKind::ConnectionReset, what);
    let stream = if prefix.is_empty() {
        futures_util::stream::iter(vec![Err(fail("injected reset"))]).boxed()
    } else {
        // Let hyper flush the head and the prefix before the body fails, so the client really
        // receives a partial body rather than nothing.
        futures_util::stream::iter(vec![Ok::<Bytes, std::io::Error>(prefix)])
            .chain(futures_util::stream::once(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(fail("injected truncation"))
            }))
            .boxed()
    };
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    if let Some((h, full)) = headers {
        *r.headers_mut() = h;
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    }
    r
}

/// Serves `app` on `listener` until `shutdown` flips, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    loop {
        let (stream, _peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app);
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                    else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                    tokio::select! { _ = conn => {}, _ = conn_shutdown.changed() => {} }
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! { _ = conn => {}, _ = conn_shutdown.changed() => {} }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_path;

    #[test]
    fn paths_normalise_as_freshdesks_router_reads_them() {
        for (raw, want) in [
            ("/api/v2/tickets", "/api/v2/tickets"),
            ("/api/v2//tickets", "/api/v2/tickets"),
            ("//api///v2/tickets//1", "/api/v2/tickets/1"),
            ("/api/v2/tickets/", "/api/v2/tickets"),
            ("/api/v2/tickets.json", "/api/v2/tickets"),
            ("/api/v2/tickets/1.json", "/api/v2/tickets/1"),
            (
                "/api/v2/tickets/1/conversations.json",
                "/api/v2/tickets/1/conversations",
            ),
            ("/api/v2/.json", "/api/v2/.json"),
            ("/", "/"),
            ("", "/"),
        ] {
            assert_eq!(normalise_path(raw), want, "{raw}");
        }
    }
}
