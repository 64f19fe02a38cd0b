//! The HTTP client proper: builds `https://<label>.freshdesk.com/api/v2/` requests, sends them
//! through the guarded resolver with rustls, no proxy and no redirects, enforces the timeouts and
//! the body cap, spends credits through the account's governor, waits out 429s, retries transient
//! failures with jittered backoff, and maps every reply to [`Error`]. A client can carry a
//! revocation token: once the key it holds is removed or replaced, no further request leaves and
//! any in flight is abandoned.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use url::Url;

use crate::domain::{ApiKey, FreshdeskDomain};
use crate::error::Error;
use crate::governor::{self, Governor, Priority, SubLimit};
use crate::models::Record;
use crate::net::{GuardedResolver, Lookup, Route, SystemLookup};

/// Sends every domain to an emulator instead of Freshdesk, and trusts the emulator's CA. Off by
/// default; the only way the client will ever reach a loopback address.
#[derive(Clone, Debug)]
pub struct EmulatorRouting {
    /// `https://127.0.0.1:<port>` (or `http://…` for an emulator in plain mode).
    pub base_url: Url,
    pub ca_pem: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// This process's name, sent in the `User-Agent` (`deskbridge/<version> (<instance>)`) so a
    /// help desk's request log can tell apart the processes working for one account.
    pub instance: Option<String>,
    pub connect_timeout: Duration,
    /// Longest silence while reading a reply.
    pub read_timeout: Duration,
    /// Longest a single request may take, end to end.
    pub total_timeout: Duration,
    pub max_body_bytes: usize,
    /// The share of the account's rate budget this process may use (0.5 leaves half for the
    /// customer's other apps).
    pub budget_share: f64,
    /// Freshdesk's rate window (a minute); shortened only against an emulator that shortens it.
    pub rate_window: Duration,
    /// Retries of a transient failure before giving up.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long 429s may keep a call waiting in total before it fails with `RateLimited`.
    pub max_rate_limit_wait: Duration,
    pub emulator: Option<EmulatorRouting>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(90),
            max_body_bytes: 10 * 1024 * 1024,
            budget_share: 0.5,
            rate_window: Duration::from_secs(60),
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(300),
            emulator: None,
            instance: None,
        }
    }
}

/// A reply that passed status checks.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub link: Option<String>,
    pub rate_total: Option<u32>,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    domain: FreshdeskDomain,
    key: ApiKey,
    base: Url,
    governor: Arc<Governor>,
    cfg: Arc<ClientConfig>,
    revoked: Option<tokio_util::sync::CancellationToken>,
    key_check: Option<Arc<dyn KeyCheck>>,
}

/// Asked before every request leaves: is the key this client holds still the integration's key?
/// The server answers from its database, so that a key replaced or removed by another process
/// stops being used here too.
pub trait KeyCheck: Send + Sync + 'static {
    fn still_current(&self) -> futures_util::future::BoxFuture<'_, bool>;
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("domain", &self.domain)
            .field("key", &self.key)
            .finish()
    }
}

fn tls_config(routing: Option<&EmulatorRouting>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match routing.and_then(|r| r.ca_pem.as_deref()) {
        Some(pem) => {
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert =
                    cert.map_err(|e| Error::Decode(format!("emulator CA certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Decode(format!("emulator CA certificate: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Decode(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn jitter(max: Duration) -> Duration {
    // Cheap, dependency-free randomness is enough to spread retries apart.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as u64;
    let x = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    Duration::from_secs_f64(max.as_secs_f64() * (x as f64 / (1u64 << 53) as f64))
}

fn header_u32(h: &reqwest::header::HeaderMap, name: &str) -> Option<u32> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

/// Credits a call costs and the sub-limit it counts against.
pub fn cost_of(method: &Method, path_and_query: &str) -> (u32, Option<SubLimit>) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = path.trim_start_matches('/').trim_start_matches("api/v2/");
    let includes: Vec<&str> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("include="))
        .flat_map(|v| {
            v.split([','])
                .flat_map(|x| x.split("%2C"))
                .flat_map(|x| x.split("%2c"))
        })
        .filter(|x| !x.is_empty())
        .collect();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["tickets"]) => (
            1 + 2 * includes.iter().filter(|i| **i != "description").count() as u32,
            Some(SubLimit::TicketsList),
        ),
        ("GET", ["tickets", _]) => (1 + includes.len() as u32, None),
        ("POST", ["tickets"]) => (1, Some(SubLimit::TicketCreate)),
        ("PUT", ["tickets", _]) => (1, Some(SubLimit::TicketUpdate)),
        ("GET", ["contacts"]) => (1, Some(SubLimit::ContactsList)),
        _ => (1, None),
    }
}

impl Client {
    pub fn new(domain: FreshdeskDomain, key: ApiKey, cfg: &ClientConfig) -> Result<Client, Error> {
        Self::with_lookup(domain, key, cfg, Arc::new(SystemLookup))
    }

    /// As [`Client::new`], with the DNS lookup replaced: the test hook for the address guard.
    pub fn with_lookup(
        domain: FreshdeskDomain,
        key: ApiKey,
        cfg: &ClientConfig,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Client, Error> {
        let mut base = domain.api_base();
        let route = match &cfg.emulator {
            Some(r) => {
                let host = r
                    .base_url
                    .host_str()
                    .ok_or_else(|| Error::Decode("emulator base URL has no host".into()))?;
                let port = r.base_url.port_or_known_default().unwrap_or(443);
                let ip: std::net::IpAddr = host.trim_matches(['[', ']']).parse().map_err(|_| {
                    Error::Decode("emulator base URL must use an IP address".into())
                })?;
                let _ = base.set_scheme(r.base_url.scheme());
                let _ = base.set_port(Some(port));
                Some(Route {
                    addr: std::net::SocketAddr::new(ip, port),
                })
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(cfg.emulator.as_ref())?)
            .https_only(
                cfg.emulator
                    .as_ref()
                    .is_none_or(|r| r.base_url.scheme() == "https"),
            )
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .timeout(cfg.total_timeout)
            .dns_resolver(Arc::new(GuardedResolver { lookup, route }))
            .user_agent(match &cfg.instance {
                Some(name) => format!("deskbridge/{} ({name})", env!("CARGO_PKG_VERSION")),
                None => format!("deskbridge/{}", env!("CARGO_PKG_VERSION")),
            })
            .build()
            .map_err(|e| Error::Decode(format!("HTTP client setup: {e}")))?;
        let account_key = match &cfg.emulator {
            Some(r) => format!("{}@{}", domain.label(), r.base_url),
            None => domain.label().to_string(),
        };
        let governor = governor::for_account(&account_key, cfg.budget_share, cfg.rate_window);
        Ok(Client {
            http,
            domain,
            key,
            base,
            governor,
            cfg: Arc::new(cfg.clone()),
            revoked: None,
            key_check: None,
        })
    }

    /// The same client, stopped for good when `token` is cancelled: every later call fails with
    /// [`Error::Revoked`] before anything is sent, and calls in flight are abandoned.
    pub fn with_revocation(mut self, token: tokio_util::sync::CancellationToken) -> Client {
        self.revoked = Some(token);
        self
    }

    /// The same client, asking `check` before every request whether its key is still current; a
    /// "no" fails the call with [`Error::Revoked`] before anything is sent.
    pub fn with_key_check(mut self, check: Arc<dyn KeyCheck>) -> Client {
        self.key_check = Some(check);
        self
    }

    /// Whether this client's key was revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked.as_ref().is_some_and(|t| t.is_cancelled())
    }

    /// Runs `fut` unless the key is revoked first (checked before it starts, raced while it runs).
    async fn unless_revoked<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, Error> {
        match &self.revoked {
            None => Ok(fut.await),
            Some(token) => {
                if token.is_cancelled() {
                    return Err(Error::Revoked);
                }
                tokio::select! {
                    biased;
                    _ = token.cancelled() => Err(Error::Revoked),
                    v = fut => Ok(v),
                }
            }
        }
    }

    pub fn domain(&self) -> &FreshdeskDomain {
        &self.domain
    }

    pub fn governor(&self) -> &Arc<Governor> {
        &self.governor
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The URL for a path such as `tickets?per_page=100` (relative to `/api/v2/`).
    pub fn url(&self, path_and_query: &str) -> Result<Url, Error> {
        self.base
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|e| Error::Decode(format!("bad path {path_and_query:?}: {e}")))
    }

    /// Turns a `link` target into our own URL: only its path (under `/api/v2/`) and query are kept,
    /// so a link can never send the key to another host.
    pub fn follow(&self, link_target: &str) -> Result<Url, Error> {
        let parsed = Url::parse(link_target)
            .or_else(|_| self.base.join(link_target))
            .map_err(|e| Error::Decode(format!("link header: {e}")))?;
        let path = parsed.path();
        let rel = path
            .strip_prefix("/api/v2/")
            .ok_or_else(|| Error::Decode(format!("link header points outside the API: {path}")))?;
        let mut next = self.url(rel)?;
        next.set_query(parsed.query());
        Ok(next)
    }

    /// Sends one call, with rate pacing, 429 waits and transient retries. `account_root` marks calls
    /// whose 404 means "no such account".
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        priority: Priority,
        account_root: bool,
    ) -> Result<Reply, Error> {
        let pq = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let (cost, sub) = cost_of(&method, &pq);
        let idempotent = method != Method::POST;
        let mut attempt = 0u32;
        let mut rate_waited = Duration::ZERO;
        loop {
            self.unless_revoked(self.governor.acquire(cost, sub, priority))
                .await?;
            if let Some(check) = &self.key_check
                && !check.still_current().await
            {
                return Err(Error::Revoked);
            }
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::AUTHORIZATION, self.key.authorization())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = self
                .unless_revoked(self.exchange(req, account_root))
                .await?;
            match outcome {
                Ok(reply) => return Ok(reply),
                Err((Error::RateLimited { retry_after }, _)) => {
                    // Not a failure: wait exactly as told, everyone on this account with us.
                    self.governor.throttled(retry_after);
                    rate_waited += retry_after;
                    if rate_waited > self.cfg.max_rate_limit_wait {
                        return Err(Error::RateLimited { retry_after });
                    }
                    tracing::info!(retry_after = ?retry_after, "Freshdesk rate limit: waiting");
                }
                Err((e @ Error::Transient(_), sent))
                    if (idempotent || !sent) && attempt < self.cfg.max_retries =>
                {
                    attempt += 1;
                    let exp = self
                        .cfg
                        .backoff_base
                        .saturating_mul(1 << attempt.min(16))
                        .min(self.cfg.backoff_cap);
                    let wait = exp / 2 + jitter(exp / 2);
                    tracing::warn!(error = %e, attempt, wait = ?wait, "transient Freshdesk failure; retrying");
                    self.unless_revoked(tokio::time::sleep(wait)).await?;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One HTTP exchange. The flag says whether the request may have reached the server (so a
    /// POST must not be repeated blindly).
    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        account_root: bool,
    ) -> Result<Reply, (Error, bool)> {
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(classify(&e)),
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let total = header_u32(&headers, "x-ratelimit-total");
        self.governor
            .observe(total, header_u32(&headers, "x-ratelimit-remaining"));
        let link = headers
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = read_capped(resp, self.cfg.max_body_bytes)
            .await
            .map_err(|e| (e, true))?;
        if status.is_success() {
            if status != StatusCode::NO_CONTENT && !body.is_empty() {
                let ct = headers
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !ct.contains("json") {
                    return Err((
                        Error::Transient(format!("a {status} reply that is not JSON ({ct})")),
                        true,
                    ));
                }
            }
            return Ok(Reply {
                status: status.as_u16(),
                body,
                link,
                rate_total: total,
            });
        }
        if status.is_redirection() {
            // Redirects are never followed: the key must not travel anywhere else.
            return Err((
                Error::Unexpected {
                    status: status.as_u16(),
                    code: Some("redirect_refused".into()),
                },
                true,
            ));
        }
        Err((
            Error::from_reply(status.as_u16(), &body, retry_after(&headers), account_root),
            true,
        ))
    }

    /// GET and decode a single object.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        priority: Priority,
    ) -> Result<T, Error> {
        let reply = self
            .send(Method::GET, self.url(path)?, None, priority, false)
            .await?;
        decode(&reply.body)
    }

    /// GET one page of a list as records (typed value plus raw JSON).
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        url: Url,
        priority: Priority,
    ) -> Result<(Vec<Record<T>>, Option<Url>, Reply), Error> {
        let reply = self.send(Method::GET, url, None, priority, false).await?;
        let raws: Vec<&RawValue> = serde_json::from_slice(&reply.body)
            .map_err(|e| Error::Decode(format!("expected a JSON array: {e}")))?;
        let mut items = Vec::with_capacity(raws.len());
        for raw in raws {
            items.push(Record::parse(raw).map_err(|e| Error::Decode(e.to_string()))?);
        }
        let next = match reply.link.as_deref().and_then(next_link) {
            Some(target) => Some(self.follow(&target)?),
            None => None,
        };
        Ok((items, next, reply))
    }

    /// `GET /agents/me`, which every agent may call: the cheapest proof that a key works.
    pub async fn me(&self, priority: Priority) -> Result<crate::models::Agent, Error> {
        let reply = self
            .send(Method::GET, self.url("agents/me")?, None, priority, true)
            .await?;
        decode(&reply.body)
    }

    /// `PUT /tickets/{id}` with only the fields in `changes` (top-level fields, `custom_fields`,
    /// `tags`, which replaces the ticket's list); Freshdesk leaves the rest as it is.
    pub async fn update_ticket(
        &self,
        id: i64,
        changes: &serde_json::Value,
        priority: Priority,
    ) -> Result<(), Error> {
        let url = self.url(&format!("tickets/{id}"))?;
        self.send(Method::PUT, url, Some(changes), priority, false)
            .await?;
        Ok(())
    }

    /// `POST /tickets/{id}/notes`: a private note (agents see it, the customer does not). Not
    /// retried by the client: a POST that may have landed is not sent twice.
    pub async fn add_private_note(
        &self,
        id: i64,
        body_html: &str,
        priority: Priority,
    ) -> Result<(), Error> {
        let url = self.url(&format!("tickets/{id}/notes"))?;
        let body = serde_json::json!({ "body": body_html, "private": true });
        self.send(Method::POST, url, Some(&body), priority, false)
            .await?;
        Ok(())
    }
}

pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode(e.to_string()))
}

/// The `rel="next"` target of a `link` header, read leniently (spaces, missing quotes). Targets are
/// delimited by `<…>`, not by commas: Freshdesk leaves commas unencoded in `include=a,b`.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>')?;
        let target = rest[start + 1..end].trim();
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = after[..params_end]
            .to_ascii_lowercase()
            .replace([' ', '"', '\''], "");
        if params.split([';', ',']).any(|p| p == "rel=next") {
            return Some(target.to_string());
        }
        rest = &after[params_end..];
    }
    None
}

fn classify(e: &reqwest::Error) -> (Error, bool) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<crate::net::BlockedAddress>() {
            return (Error::BlockedAddress(b.host.clone()), false);
        }
        source = s.source();
    }
    if e.is_timeout() {
        return (Error::Transient("timed out".into()), !e.is_connect());
    }
    if e.is_connect() {
        return (Error::Transient("could not connect".into()), false);
    }
    (Error::Transient("the connection failed".into()), true)
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, Error> {
    if resp.content_length().is_some_and(|n| n as usize > cap) {
        return Err(Error::TooLarge { limit: cap });
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0).min(cap as u64) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(Error::TooLarge { limit: cap });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(Error::Transient("timed out reading the reply".into()));
            }
            Err(_) => return Err(Error::Transient("the reply was cut off".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_are_read_leniently() {
        assert_eq!(
            next_link(r#"<https://a.freshdesk.com/api/v2/tickets?page=2>; rel="next""#).as_deref(),
            Some("https://a.freshdesk.com/api/v2/tickets?page=2")
        );
        assert_eq!(
            next_link(
                r#"< https://a.freshdesk.com/api/v2/tickets?filter=all_tickets&page=2>;rel="next""#
            )
            .as_deref(),
            Some("https://a.freshdesk.com/api/v2/tickets?filter=all_tickets&page=2")
        );
        assert_eq!(next_link("<x>; rel=prev"), None);
        assert_eq!(
            next_link(r#"<https://a.freshdesk.com/api/v2/tickets?include=requester,stats&page=2>; rel="next""#).as_deref(),
            Some("https://a.freshdesk.com/api/v2/tickets?include=requester,stats&page=2")
        );
        assert_eq!(
            next_link(r#"<https://x/p?page=1>; rel="prev", <https://x/p?page=3>; rel="next""#)
                .as_deref(),
            Some("https://x/p?page=3")
        );
    }

    #[test]
    fn include_credits_follow_freshdesks_rules() {
        assert_eq!(
            cost_of(
                &Method::GET,
                "/api/v2/tickets?include=requester,stats,description"
            ),
            (5, Some(SubLimit::TicketsList))
        );
        assert_eq!(
            cost_of(&Method::GET, "/api/v2/tickets?include=requester%2Cstats"),
            (5, Some(SubLimit::TicketsList))
        );
        assert_eq!(
            cost_of(&Method::GET, "/api/v2/tickets/5?include=conversations"),
            (2, None)
        );
        assert_eq!(
            cost_of(&Method::PUT, "/api/v2/tickets/5"),
            (1, Some(SubLimit::TicketUpdate))
        );
        assert_eq!(
            cost_of(&Method::GET, "/api/v2/contacts?per_page=100"),
            (1, Some(SubLimit::ContactsList))
        );
    }
}
