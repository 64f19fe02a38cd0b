//! Signed webhooks to URLs an organisation sets: where each kind's URL and sealed secret live, the
//! address guard, and the one way a body is posted. Alerts and change notifications both go out
//! through here. The body is signed with HMAC-SHA256 over `timestamp.body`
//! (`X-Deskbridge-Signature: t=…,v1=<hex>`); the target must resolve to public addresses only,
//! checked before any packet leaves and pinned for the connection, so DNS cannot change between
//! the check and the send.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use crate::jobs::NewJob;
use crate::store::{Store, now};
use crate::vault::{Binding, RewrapReport, Vault, VaultError};

pub const SIGNATURE_HEADER: &str = "X-Deskbridge-Signature";
/// The header that carries a delivery's event id, the same on every retry of it.
pub const EVENT_ID_HEADER: &str = "X-Deskbridge-Event-Id";

/// One kind of webhook an organisation can set: the columns of `organisations` that hold its URL
/// and sealed secret (fixed names, never input), and what the secret is sealed with.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    url_column: &'static str,
    secret_column: &'static str,
    /// Also the user agent of its deliveries, and the secret's prefix.
    agent: &'static str,
    prefix: &'static str,
}

/// Incident alerts.
pub const ALERTS: Slot = Slot {
    url_column: "alert_webhook_url",
    secret_column: "alert_webhook_secret",
    agent: "deskbridge-alerts",
    prefix: "dbw_",
};

/// Change notifications for records consumers.
pub const CHANGES: Slot = Slot {
    url_column: "changes_webhook_url",
    secret_column: "changes_webhook_secret",
    agent: "deskbridge-changes",
    prefix: "dbc_",
};

impl Slot {
    fn binding(self, org_id: i64) -> Binding<'static> {
        Binding {
            org_id,
            integration_id: 0,
            field: self.secret_column,
        }
    }
}

/// How one attempt at a delivery ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Sent, or nothing is left to send (sent before a worker died, or gone with its integration).
    Done,
    /// Not delivered; may be tried again that much later (the job queue retries it).
    Retry { error: String, after: Duration },
    /// Not delivered and out of attempts: the delivery stays `failed` with its reason.
    GaveUp(String),
}

impl Attempt {
    /// How the `attempts`-th failed attempt ends: retried with doubling waits from `base_secs`
    /// until `max_attempts`. Also the status to keep with the delivery.
    pub fn failed(error: String, attempts: i64, max_attempts: u32, base_secs: u64) -> Attempt {
        if attempts >= max_attempts as i64 {
            return Attempt::GaveUp(error);
        }
        let after = base_secs as i64 * (1 << (attempts - 1).clamp(0, 10));
        Attempt::Retry {
            error,
            after: Duration::from_secs(after as u64),
        }
    }

    /// The delivery's status after this attempt.
    pub fn status(&self) -> &'static str {
        match self {
            Attempt::Done => "sent",
            Attempt::Retry { .. } => "pending",
            Attempt::GaveUp(_) => "failed",
        }
    }
}

/// Why a webhook could not be set or delivered, in words an admin can act on; shown on the
/// settings page and kept with the delivery.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Refused(String),
    #[error("deskbridge could not read its database")]
    Store(#[from] sqlx::Error),
}

impl From<String> for DeliveryError {
    fn from(words: String) -> Self {
        DeliveryError::Refused(words)
    }
}

impl From<&str> for DeliveryError {
    fn from(words: &str) -> Self {
        DeliveryError::Refused(words.to_string())
    }
}

/// The organisation's URL for this kind, if it set one.
pub async fn url(store: &Store, slot: Slot, org_id: i64) -> Result<Option<String>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM organisations WHERE id = $1",
        slot.url_column
    );
    let url: Option<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .fetch_optional(&store.pool)
        .await?;
    Ok(url.flatten())
}

/// Removes the organisation's URL and secret of this kind.
pub async fn clear(store: &Store, slot: Slot, org_id: i64) -> Result<(), sqlx::Error> {
    keep(store, slot, org_id, None, None).await
}

/// Checks a URL (as every delivery does again, since DNS can change), then stores it with a new
/// signing secret, which is returned to be shown once.
pub async fn set(
    store: &Store,
    vault: &Vault,
    slot: Slot,
    org_id: i64,
    url: &str,
    allow_private: bool,
) -> Result<String, DeliveryError> {
    check_target(url, allow_private).await?;
    let secret = format!("{}{}", slot.prefix, crate::accounts::random_token());
    let (_, sealed) = vault.encrypt(&secret, slot.binding(org_id));
    keep(store, slot, org_id, Some(url), Some(sealed)).await?;
    Ok(secret)
}

/// Writes the URL and sealed secret of this kind (both, or neither).
async fn keep(
    store: &Store,
    slot: Slot,
    org_id: i64,
    url: Option<&str>,
    sealed: Option<String>,
) -> Result<(), sqlx::Error> {
    let (u, s) = (slot.url_column, slot.secret_column);
    let sql = format!("UPDATE organisations SET {u} = $1, {s} = $2 WHERE id = $3");
    let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(url).bind(sealed);
    q.bind(org_id).execute(&store.pool).await?;
    Ok(())
}

/// The job that sends delivery `id` of `kind` for integration `t`: retried by the queue up to
/// `max_attempts`, once per delivery whatever enqueues it twice.
pub fn delivery_job(
    kind: &'static str,
    t: crate::sync::Target,
    id: i64,
    max_attempts: u32,
) -> NewJob {
    NewJob::new(kind)
        .integration(t.org_id, t.integration_id)
        .payload(serde_json::json!({ "delivery": id }))
        .dedupe(format!("{kind}:{id}"))
        .priority(10)
        .max_attempts(max_attempts)
}

/// Posts `body` to the organisation's URL of this kind, signed with its secret, carrying
/// `event_id` so a receiver can drop a retry it already handled.
pub async fn post(
    store: &Store,
    vault: &Vault,
    slot: Slot,
    org_id: i64,
    event_id: &str,
    body: &str,
    allow_private: bool,
) -> Result<(), DeliveryError> {
    let sql = format!(
        "SELECT {}, {} FROM organisations WHERE id = $1",
        slot.url_column, slot.secret_column
    );
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .fetch_optional(&store.pool)
        .await?;
    let Some((Some(url), Some(sealed))) = row else {
        return Err("the organisation has no webhook for this".into());
    };
    let secret = vault
        .decrypt(&sealed, slot.binding(org_id))
        .map_err(|e| e.to_string())?;
    let (u, addrs) = check_target(&url, allow_private).await?;
    let ts = now();
    let signature = sign(secret.expose_secret(), ts, body);
    let host = u.host_str().unwrap_or_default().to_string();
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    // Pinned to the addresses just checked, so DNS cannot change between check and connect.
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| e.to_string())?;
    let res = client
        .post(u)
        .header("content-type", "application/json")
        .header("user-agent", slot.agent)
        .header(SIGNATURE_HEADER, format!("t={ts},v1={signature}"))
        .header(EVENT_ID_HEADER, event_id)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("webhook: {e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook answered {}", res.status()).into())
    }
}

/// Signs `timestamp.body` with the organisation's secret.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether an address may receive webhooks: public unicast only, unless the operator allowed
/// private targets (development, tests).
pub fn allowed(addr: &std::net::IpAddr, allow_private: bool) -> bool {
    allow_private || freshdesk::net::is_global(*addr)
}

/// Checks a webhook URL: http(s), a host, and (resolved) only allowed addresses. Returns the
/// URL and the addresses to pin the connection to.
pub async fn check_target(
    url: &str,
    allow_private: bool,
) -> Result<(url::Url, Vec<SocketAddr>), DeliveryError> {
    let u = url::Url::parse(url).map_err(|_| "the webhook URL is not a valid URL".to_string())?;
    if !matches!(u.scheme(), "https" | "http") {
        return Err("the webhook URL must start with https://".into());
    }
    if u.scheme() == "http" && !allow_private {
        return Err("the webhook URL must start with https://".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("the webhook URL must not carry a user name or password".into());
    }
    let host = u
        .host_str()
        .ok_or("the webhook URL needs a host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = u.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| format!("{host} does not resolve"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve").into());
    }
    if let Some(bad) = addrs.iter().find(|a| !allowed(&a.ip(), allow_private)) {
        return Err(format!(
            "{host} resolves to {}, a private or internal address; webhooks go to public addresses only",
            bad.ip()
        )
        .into());
    }
    Ok((u, addrs))
}

/// Key rotation for the organisations' webhook secrets of this kind: few, so each is resealed
/// under the active version whatever version it had (idempotent). Ones that cannot be decrypted
/// are added to the report and left as they are.
pub async fn rewrap_secrets(
    store: &Store,
    vault: &Vault,
    slot: Slot,
    report: &mut RewrapReport,
) -> Result<(), VaultError> {
    let col = slot.secret_column;
    let sql = format!("SELECT id, {col} FROM organisations WHERE {col} IS NOT NULL ORDER BY id");
    let orgs: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&store.pool)
        .await?;
    for (org_id, sealed) in orgs {
        let resealed = match vault.reseal(&sealed, slot.binding(org_id)) {
            Ok(r) => r,
            Err(e) => {
                report.failed.push(format!(
                    "the {} webhook secret of organisation {org_id} ({e})",
                    slot.agent
                ));
                continue;
            }
        };
        let sql = format!("UPDATE organisations SET {col} = $1 WHERE id = $2 AND {col} = $3");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resealed)
            .bind(org_id)
            .bind(sealed)
            .execute(&store.pool)
            .await?;
    }
    Ok(())
}
