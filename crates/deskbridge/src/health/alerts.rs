//! Alerts about incidents: an email to the organisation's admins (SMTP with `lettre`, off when no
//! server is configured) and a signed webhook to a URL the organisation sets. One "opened" alert
//! per incident, one "resolved" notice, and a reminder while it stays open. Deliveries are rows
//! first and sent by a worker with retries, so a restart loses none. The webhook body is signed
//! with HMAC-SHA256 over `timestamp.body` (`X-Deskbridge-Signature: t=…,v1=<hex>`), and its target
//! must resolve to public addresses only: checked before any packet leaves, and pinned.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::Sha256;

use super::probe::{Cause, HealthError};
use crate::config::AlertsConfig;
use crate::connections::Target;
use crate::connections::table;
use crate::jobs::{NewJob, Queue};
use crate::store::{Store, now};
use crate::vault::{Binding, RewrapReport, Vault, VaultError};

/// What alerting needs: where deliveries are kept and queued, the vault that holds the webhook
/// secrets, and the `[alerts]` settings.
#[derive(Clone)]
pub struct Alerts {
    store: Store,
    vault: Vault,
    queue: Queue,
    cfg: AlertsConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Opened,
    Resolved,
    Reminder,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Opened => "opened",
            Kind::Resolved => "resolved",
            Kind::Reminder => "reminder",
        }
    }
}

pub const SIGNATURE_HEADER: &str = "X-Deskbridge-Signature";

/// The job kind that sends one delivery.
pub const JOB_KIND: &str = "alert_delivery";

/// The associated data an organisation's webhook signing secret is sealed with.
fn secret_binding(org_id: i64) -> Binding<'static> {
    Binding {
        org_id,
        integration_id: 0,
        field: "alert_webhook_secret",
    }
}

/// The message of one delivery: subject and text, and the webhook JSON.
struct Message {
    subject: String,
    text: String,
    json: serde_json::Value,
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

/// Why an alert could not be delivered (or a webhook target is refused), in words an admin can act
/// on; they are shown on the health settings page and kept with the delivery.
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

impl Alerts {
    pub fn new(store: Store, vault: Vault, queue: Queue, cfg: AlertsConfig) -> Alerts {
        Alerts {
            store,
            vault,
            queue,
            cfg,
        }
    }

    /// Whether email alerts are on (an SMTP server is configured).
    pub fn email_on(&self) -> bool {
        self.cfg.smtp_url.is_some()
    }

    /// The organisation's alert-webhook URL, if it set one.
    pub async fn webhook_url(&self, org_id: i64) -> Result<Option<String>, sqlx::Error> {
        let url: Option<(Option<String>,)> =
            sqlx::query_as("SELECT alert_webhook_url FROM organisations WHERE id = $1")
                .bind(org_id)
                .fetch_optional(&self.store.pool)
                .await?;
        Ok(url.and_then(|(u,)| u))
    }

    /// Removes the organisation's webhook and its secret.
    pub async fn clear_webhook(&self, org_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE organisations SET alert_webhook_url = NULL, alert_webhook_secret = NULL WHERE id = $1")
            .bind(org_id)
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }

    /// Checks a webhook URL (as every delivery does again, since DNS can change), then stores it
    /// with a new signing secret, which is returned to be shown once.
    pub async fn set_webhook(&self, org_id: i64, url: &str) -> Result<String, DeliveryError> {
        check_target(url, self.cfg.allow_private_webhook_targets).await?;
        let secret = format!("dbw_{}", crate::accounts::random_token());
        let (_, sealed) = self.vault.encrypt(&secret, secret_binding(org_id));
        sqlx::query(
            "UPDATE organisations SET alert_webhook_url = $1, alert_webhook_secret = $2 WHERE id = $3",
        )
        .bind(url)
        .bind(sealed)
        .bind(org_id)
        .execute(&self.store.pool)
        .await?;
        Ok(secret)
    }

    /// Queues the alerts of one incident event on every configured channel: each delivery is a row
    /// and a job, committed together.
    pub async fn enqueue(&self, t: Target, incident: i64, kind: Kind) -> Result<(), HealthError> {
        let state = self;
        let mut channels = Vec::new();
        if state.cfg.smtp_url.is_some() {
            channels.push("email");
        }
        let hook: Option<(Option<String>,)> =
            sqlx::query_as("SELECT alert_webhook_url FROM organisations WHERE id = $1")
                .bind(t.org_id)
                .fetch_optional(&state.store.pool)
                .await?;
        if hook.and_then(|(u,)| u).is_some() {
            channels.push("webhook");
        }
        let mut tx = state.store.pool.begin().await?;
        for channel in channels {
            let (delivery,): (i64,) = sqlx::query_as("INSERT INTO alert_deliveries (org_id, integration_id, incident_id, kind, channel, status, attempts, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) RETURNING id")
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(incident)
                .bind(kind.code())
                .bind(channel)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
            crate::jobs::enqueue(
                &mut *tx,
                NewJob::new(JOB_KIND)
                    .integration(t.org_id, t.integration_id)
                    .payload(json!({ "delivery": delivery }))
                    .dedupe(format!("alert:{delivery}"))
                    .priority(10)
                    .max_attempts(state.cfg.max_attempts),
            )
            .await?;
        }
        tx.commit().await?;
        state.queue.ring();
        Ok(())
    }

    /// Queues reminders for incidents open longer than the reminder interval since the last alert.
    pub async fn remind(&self) -> Result<(), HealthError> {
        let state = self;
        let every = state.cfg.reminder_secs as i64;
        if every == 0 {
            return Ok(());
        }
        let open: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT id, org_id, integration_id FROM incidents WHERE resolved_at IS NULL AND COALESCE(reminded_at, opened_at) <= $1",
        )
        .bind(now() - every)
        .fetch_all(&state.store.pool)
        .await?;
        for (id, org_id, integration_id) in open {
            sqlx::query("UPDATE incidents SET reminded_at = $1 WHERE id = $2")
                .bind(now())
                .bind(id)
                .execute(&state.store.pool)
                .await?;
            state
                .enqueue(
                    Target {
                        org_id,
                        integration_id,
                    },
                    id,
                    Kind::Reminder,
                )
                .await?;
        }
        Ok(())
    }

    async fn message(&self, delivery: i64) -> Result<Option<(String, i64, Message)>, HealthError> {
        let state = self;
        type Row = (String, i64, i64, String, String, i64, Option<i64>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT d.channel, d.org_id, d.integration_id, d.kind, i.cause, i.opened_at, i.resolved_at FROM alert_deliveries d JOIN incidents i ON i.id = d.incident_id WHERE d.id = $1",
        )
        .bind(delivery)
        .fetch_optional(&state.store.pool)
        .await?;
        let Some((channel, org_id, integration_id, kind, cause, opened_at, resolved_at)) = row
        else {
            return Ok(None);
        };
        let domain = table::domain(&state.store, integration_id)
            .await?
            .unwrap_or_else(|| "(disconnected)".into());
        let cause = Cause::parse(&cause);
        let (title, fix) = cause
            .map(|c| (c.title(), c.fix()))
            .unwrap_or(("The integration needs attention", ""));
        let (subject, text) = match kind.as_str() {
            "resolved" => (
                format!("Resolved: Freshdesk {domain} is connected again"),
                format!(
                    "The Freshdesk integration {domain} works again; syncs resumed from where they stopped.\n\nIt had this problem: {title}."
                ),
            ),
            "reminder" => (
                format!("Still needs attention: Freshdesk {domain}"),
                format!(
                    "The Freshdesk integration {domain} still needs attention.\n\n{title}.\n\nWhat to do: {fix}"
                ),
            ),
            _ => (
                format!("Needs attention: Freshdesk {domain}"),
                format!(
                    "The Freshdesk integration {domain} stopped working.\n\n{title}.\n\nWhat to do: {fix}\n\nSyncs are paused and nothing is lost; they resume when this is fixed."
                ),
            ),
        };
        let json = json!({
            "event": format!("integration.incident.{kind}"),
            "integration_id": integration_id,
            "domain": domain,
            "cause": cause.map(Cause::code),
            "title": title,
            "fix": fix,
            "opened_at": opened_at,
            "resolved_at": resolved_at,
        });
        Ok(Some((
            channel,
            org_id,
            Message {
                subject: format!("[deskbridge] {subject}"),
                text,
                json,
            },
        )))
    }

    /// Sends one delivery (a job), up to `max_attempts` with doubling waits.
    pub async fn deliver(&self, id: i64) -> Result<Attempt, HealthError> {
        let state = self;
        let cfg = &state.cfg;
        let pending: Option<(i64,)> = sqlx::query_as(
            "SELECT attempts FROM alert_deliveries WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await?;
        // Sent already (a job run again after its worker died) or gone with its integration.
        let Some((attempts,)) = pending else {
            return Ok(Attempt::Done);
        };
        let Some((channel, org_id, msg)) = state.message(id).await? else {
            return Ok(Attempt::Done);
        };
        let result = match channel.as_str() {
            "email" => state.send_email(org_id, &msg).await,
            _ => state.send_webhook(org_id, &msg).await,
        };
        let attempts = attempts + 1;
        match result {
            Ok(()) => {
                sqlx::query("UPDATE alert_deliveries SET status = 'sent', attempts = $1, sent_at = $2, last_error = NULL WHERE id = $3")
                    .bind(attempts)
                    .bind(now())
                    .bind(id)
                    .execute(&state.store.pool)
                    .await?;
                Ok(Attempt::Done)
            }
            Err(e) => {
                tracing::warn!(delivery = id, channel = %channel, attempts, error = %e, "alert not delivered");
                let give_up = attempts >= cfg.max_attempts as i64;
                let backoff = cfg.retry_base_secs as i64 * (1 << (attempts - 1).min(10));
                sqlx::query("UPDATE alert_deliveries SET status = $1, attempts = $2, last_error = $3, next_attempt_at = $4 WHERE id = $5")
                    .bind(if give_up { "failed" } else { "pending" })
                    .bind(attempts)
                    .bind(e.to_string())
                    .bind(now() + backoff)
                    .bind(id)
                    .execute(&state.store.pool)
                    .await?;
                Ok(if give_up {
                    Attempt::GaveUp(e.to_string())
                } else {
                    Attempt::Retry {
                        error: e.to_string(),
                        after: Duration::from_secs(backoff as u64),
                    }
                })
            }
        }
    }

    async fn send_email(&self, org_id: i64, msg: &Message) -> Result<(), DeliveryError> {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};
        let state = self;
        let Some(url) = &state.cfg.smtp_url else {
            return Err("no SMTP server is configured".into());
        };
        let admins: Vec<(String,)> = sqlx::query_as(
            "SELECT email FROM users WHERE org_id = $1 AND role = 'admin' AND disabled = 0 ORDER BY id",
        )
        .bind(org_id)
        .fetch_all(&state.store.pool)
        .await?;
        if admins.is_empty() {
            return Ok(());
        }
        let mut builder = Mail::builder()
            .from(
                state
                    .cfg
                    .from
                    .parse()
                    .map_err(|e| format!("alerts.from: {e}"))?,
            )
            .subject(&msg.subject);
        for (email,) in &admins {
            builder = builder.to(email.parse().map_err(|e| format!("{email}: {e}"))?);
        }
        let mail = builder.body(msg.text.clone()).map_err(|e| e.to_string())?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| format!("alerts.smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        transport.send(mail).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn send_webhook(&self, org_id: i64, msg: &Message) -> Result<(), DeliveryError> {
        let state = self;
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT alert_webhook_url, alert_webhook_secret FROM organisations WHERE id = $1",
        )
        .bind(org_id)
        .fetch_optional(&state.store.pool)
        .await?;
        let Some((Some(url), Some(sealed))) = row else {
            return Err("the organisation has no alert webhook".into());
        };
        let secret = state
            .vault
            .decrypt(&sealed, secret_binding(org_id))
            .map_err(|e| e.to_string())?;
        let allow_private = state.cfg.allow_private_webhook_targets;
        let (u, addrs) = check_target(&url, allow_private).await?;
        let body = msg.json.to_string();
        let ts = now();
        let signature = sign(secret.expose_secret(), ts, &body);
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
            .header("user-agent", "deskbridge-alerts")
            .header(SIGNATURE_HEADER, format!("t={ts},v1={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook: {e}"))?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", res.status()).into())
        }
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

/// Whether an address may receive alert webhooks: public unicast only, unless the operator
/// allowed private targets (development, tests).
pub fn allowed(addr: &std::net::IpAddr, allow_private: bool) -> bool {
    allow_private || freshdesk::net::is_global(*addr)
}

/// Checks a webhook URL: http(s), a host, and (resolved) only allowed addresses. Returns the
/// host and the addresses to pin the connection to.
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
            "{host} resolves to {}, a private or internal address; alerts go to public addresses only",
            bad.ip()
        )
        .into());
    }
    Ok((u, addrs))
}

/// Key rotation for the organisations' webhook signing secrets: few, so each is resealed under
/// the active version whatever version it had (idempotent). Ones that cannot be decrypted are
/// added to the report and left as they are.
pub async fn rewrap_secrets(
    store: &Store,
    vault: &Vault,
    report: &mut RewrapReport,
) -> Result<(), VaultError> {
    let orgs: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, alert_webhook_secret FROM organisations WHERE alert_webhook_secret IS NOT NULL ORDER BY id",
    )
    .fetch_all(&store.pool)
    .await?;
    for (org_id, sealed) in orgs {
        let resealed = match vault.reseal(&sealed, secret_binding(org_id)) {
            Ok(r) => r,
            Err(e) => {
                report.failed.push(format!(
                    "the alert-webhook secret of organisation {org_id} ({e})"
                ));
                continue;
            }
        };
        sqlx::query("UPDATE organisations SET alert_webhook_secret = $1 WHERE id = $2 AND alert_webhook_secret = $3")
            .bind(resealed)
            .bind(org_id)
            .bind(sealed)
            .execute(&store.pool)
            .await?;
    }
    Ok(())
}
