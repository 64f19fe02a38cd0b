//! The guards every request passes: security headers on every response (errors too), the client
//! address sign-in throttling keys on (trusted proxies honoured), and the CSRF guard: an Origin
//! and `Sec-Fetch-Site` check plus the session's token on every state-changing request.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Error;
use super::session::{bearer, cookie_name, cookie_value, session_from_headers};
use super::state::AppState;

pub(super) async fn security_headers(secure: bool, req: Request, next: Next) -> Response {
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
pub(super) async fn csrf_guard(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
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
