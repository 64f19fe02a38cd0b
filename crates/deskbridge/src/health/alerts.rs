//! Alerts about incidents: an email to the organisation's admins (SMTP with `lettre`, off when no
//! server is configured) and a signed webhook to a URL the organisation sets. One "opened" alert
//! per incident, one "resolved" notice, and a reminder while it stays open. Deliveries are rows
//! first and sent by a worker with retries, so a restart loses none. The webhook goes out through
//! [`crate::webhook`]: signed, to public addresses only.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;

use super::probe::{Cause, HealthError};
use crate::config::AlertsConfig;
use crate::connections::Target;
use crate::connections::table;
use crate::jobs::Queue;
use crate::store::{Store, now};
use crate::vault::Vault;
use crate::webhook::{self, ALERTS};
pub use crate::webhook::{Attempt, DeliveryError};

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

/// The job kind that sends one delivery.
pub const JOB_KIND: &str = "alert_delivery";

/// The message of one delivery: subject and text, and the webhook JSON.
struct Message {
    subject: String,
    text: String,
    json: serde_json::Value,
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
        webhook::url(&self.store, ALERTS, org_id).await
    }

    /// Removes the organisation's webhook and its secret.
    pub async fn clear_webhook(&self, org_id: i64) -> Result<(), sqlx::Error> {
        webhook::clear(&self.store, ALERTS, org_id).await
    }

    /// Checks a webhook URL, then stores it with a new signing secret, returned to be shown once.
    pub async fn set_webhook(&self, org_id: i64, url: &str) -> Result<String, DeliveryError> {
        let private = self.cfg.allow_private_webhook_targets;
        webhook::set(&self.store, &self.vault, ALERTS, org_id, url, private).await
    }

    /// Queues the alerts of one incident event on every configured channel: each delivery is a row
    /// and a job, committed together.
    pub async fn enqueue(&self, t: Target, incident: i64, kind: Kind) -> Result<(), HealthError> {
        let state = self;
        let mut channels = Vec::new();
        if state.cfg.smtp_url.is_some() {
            channels.push("email");
        }
        if self.webhook_url(t.org_id).await?.is_some() {
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
            let job = webhook::delivery_job(JOB_KIND, t, delivery, state.cfg.max_attempts);
            crate::jobs::enqueue(&mut *tx, job).await?;
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
            "event_id": format!("alert_{delivery}"),
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
                let attempt = Attempt::failed(
                    e.to_string(),
                    attempts,
                    cfg.max_attempts,
                    cfg.retry_base_secs,
                );
                let after = match &attempt {
                    Attempt::Retry { after, .. } => after.as_secs() as i64,
                    _ => 0,
                };
                sqlx::query("UPDATE alert_deliveries SET status = $1, attempts = $2, last_error = $3, next_attempt_at = $4 WHERE id = $5")
                    .bind(attempt.status())
                    .bind(attempts)
                    .bind(e.to_string())
                    .bind(now() + after)
                    .bind(id)
                    .execute(&state.store.pool)
                    .await?;
                Ok(attempt)
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
        let body = msg.json.to_string();
        let event = msg.json["event_id"].as_str().unwrap_or_default();
        let private = self.cfg.allow_private_webhook_targets;
        webhook::post(
            &self.store,
            &self.vault,
            ALERTS,
            org_id,
            event,
            &body,
            private,
        )
        .await
    }
}
