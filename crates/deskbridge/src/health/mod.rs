//! Connection health: a periodic check per integration (`/agents/me` and one admin-only call, at
//! interactive priority inside the rate budget), also run at once when a sync meets an auth
//! error. Each break is classified into a cause with its own words and fix; Freshdesk failing
//! (5xx, timeouts) only flips to "Freshdesk unavailable" after several failures over several
//! minutes. Every status change is recorded with its time and cause (the timeline), opens or
//! resolves an incident, and alerts once per incident. While an integration needs attention its
//! syncs and webhook refreshes wait; when the cause goes away the next check restores it and
//! syncs resume from their cursors.

pub mod alerts;
mod probe;

pub use probe::{Cause, Finding, HealthError, probe};

use serde::Serialize;

use crate::config::HealthConfig;
use crate::connections::{Clients, ConnectError, Status, Target, table};
use crate::store::{Store, Tx, now};
use alerts::Alerts;

/// What checking health needs: clients for the integrations, the alerts an incident sends, and
/// the `[health]` settings.
#[derive(Clone)]
pub struct Monitor {
    clients: Clients,
    alerts: Alerts,
    cfg: HealthConfig,
}

/// The health of one integration as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `connected`, `connected_with_warnings`, `needs_attention` or `unavailable`.
    #[schema(value_type = String, example = "needs_attention")]
    pub status: Status,
    pub status_label: &'static str,
    /// Why it needs attention, as a code (`agent_deleted`, `key_rejected`, …).
    #[schema(value_type = Option<String>)]
    pub cause: Option<Cause>,
    pub title: Option<&'static str>,
    pub fix: Option<&'static str>,
    pub detail: Option<String>,
    pub checked_at: Option<i64>,
    pub since: Option<i64>,
    pub history: Vec<Transition>,
}

/// One change of status, with its cause.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub at: i64,
    pub from: String,
    pub to: String,
    pub cause: Option<String>,
    pub detail: Option<String>,
}

/// The first entry of a new integration's timeline (from disconnected to what its connection
/// check found), written in the transaction that saves the integration.
pub async fn first_event(
    tx: &mut Tx,
    t: Target,
    status: Status,
    detail: Option<String>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO health_events (org_id, integration_id, at, from_status, to_status, detail) VALUES ($1, $2, $3, 'disconnected', $4, $5)")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(at)
        .bind(status.code())
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes an integration's timeline, incidents and alert deliveries, inside the caller's
/// transaction (disconnect).
pub async fn forget(tx: &mut Tx, t: Target) -> Result<(), sqlx::Error> {
    let tables = ["health_events", "incidents", "alert_deliveries"];
    crate::store::delete_integration_rows(tx, &tables, t.org_id, t.integration_id).await
}

pub async fn get(store: &Store, t: Target) -> Result<Health, HealthError> {
    let row = table::health_row(store, t)
        .await?
        .ok_or(HealthError::Gone)?;
    let (status, cause, detail, checked_at) = (row.status, row.cause, row.detail, row.checked_at);
    type EventRow = (i64, String, String, Option<String>, Option<String>);
    let history: Vec<EventRow> = sqlx::query_as(
        "SELECT at, from_status, to_status, cause, detail FROM health_events WHERE org_id = $1 AND integration_id = $2 ORDER BY id DESC LIMIT 50",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    let cause = cause.as_deref().and_then(Cause::parse);
    Ok(Health {
        status_label: status.label(),
        since: history.first().map(|h| h.0),
        status,
        cause,
        title: cause.map(Cause::title),
        fix: cause.map(Cause::fix),
        detail,
        checked_at,
        history: history
            .into_iter()
            .map(|(at, from, to, cause, detail)| Transition {
                at,
                from,
                to,
                cause,
                detail,
            })
            .collect(),
    })
}

impl Monitor {
    pub fn new(clients: Clients, alerts: Alerts, cfg: HealthConfig) -> Monitor {
        Monitor {
            clients,
            alerts,
            cfg,
        }
    }

    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// How often each integration is checked.
    pub fn every_secs(&self) -> i64 {
        self.cfg.interval_secs as i64
    }

    /// Stores the finding; a status change is added to the timeline and opens, updates or resolves
    /// the incident (queueing its alerts).
    pub async fn record(
        &self,
        t: Target,
        to_status: Status,
        cause: Option<Cause>,
        detail: Option<String>,
    ) -> Result<(), HealthError> {
        let store = self.clients.store();
        let row = table::health_row(store, t)
            .await?
            .ok_or(HealthError::Gone)?;
        let (from_status, from_cause) = (row.status, row.cause);
        let cause_code = cause.map(|c| c.code().to_string());
        let at = now();
        if !table::set_health(
            store,
            t,
            to_status,
            cause_code.as_deref(),
            detail.as_deref(),
            at,
        )
        .await?
        {
            return Err(HealthError::Gone);
        }
        if from_status == to_status && from_cause == cause_code {
            return Ok(());
        }
        sqlx::query("INSERT INTO health_events (org_id, integration_id, at, from_status, to_status, cause, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(t.org_id)
            .bind(t.integration_id)
            .bind(at)
            .bind(from_status.code())
            .bind(to_status.code())
            .bind(cause_code.clone())
            .bind(detail.clone())
            .execute(&store.pool)
            .await?;
        tracing::info!(integration = t.integration_id, from = %from_status, to = %to_status, cause = ?cause_code, "integration health changed");
        let open: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM incidents WHERE integration_id = $1 AND resolved_at IS NULL",
        )
        .bind(t.integration_id)
        .fetch_optional(&store.pool)
        .await?;
        match (open, to_status.is_broken()) {
            (None, true) => {
                let (id,): (i64,) = sqlx::query_as("INSERT INTO incidents (org_id, integration_id, cause, opened_at) VALUES ($1, $2, $3, $4) RETURNING id")
                    .bind(t.org_id)
                    .bind(t.integration_id)
                    .bind(cause_code.unwrap_or_default())
                    .bind(at)
                    .fetch_one(&store.pool)
                    .await?;
                self.alerts.enqueue(t, id, alerts::Kind::Opened).await?;
            }
            (Some((id,)), true) => {
                // Still one incident: its cause is updated, and no second alert goes out.
                sqlx::query("UPDATE incidents SET cause = $1 WHERE id = $2")
                    .bind(cause_code.unwrap_or_default())
                    .bind(id)
                    .execute(&store.pool)
                    .await?;
            }
            (Some((id,)), false) => {
                sqlx::query("UPDATE incidents SET resolved_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&store.pool)
                    .await?;
                self.alerts.enqueue(t, id, alerts::Kind::Resolved).await?;
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// Runs one check of an integration and applies its finding (with anti-flap for failures).
    pub async fn check(&self, t: Target) -> Result<(), HealthError> {
        // One retry inside a check: failures across checks are what the anti-flap rule counts.
        let client = match self.clients.with_max_retries(1).client_for(t).await {
            Ok(c) => c,
            // A key that cannot be decrypted is a cause like any other: recorded once (a status
            // change, one incident, one alert), syncs paused until someone re-authorizes.
            Err(ConnectError::Vault(e)) => {
                tracing::debug!(integration = t.integration_id, error = %e, "stored key unreadable");
                return self.apply(t, Finding::Broken(Cause::KeyUnreadable)).await;
            }
            Err(ConnectError::NotFound) => return Err(HealthError::Gone),
            Err(e) => {
                // Counted like Freshdesk failing, so it is neither silent nor logged every tick.
                return self
                    .apply(t, Finding::Failing(crate::error_chain(&e)))
                    .await;
            }
        };
        let report = table::report(self.clients.store(), t)
            .await?
            .ok_or(HealthError::Gone)?;
        let (scope, occasional) = report
            .as_ref()
            .map(|r| (r.agent.ticket_scope.clone(), r.agent.occasional))
            .unwrap_or_else(|| ("Global".into(), false));
        let finding = match probe(&client, &scope, occasional).await {
            // What the connection check warned about still holds; what changed since comes after.
            Finding::Healthy { warnings } => Finding::Healthy {
                warnings: report
                    .map(|r| r.warnings)
                    .unwrap_or_default()
                    .into_iter()
                    .chain(warnings)
                    .collect(),
            },
            other => other,
        };
        self.apply(t, finding).await
    }

    /// Applies a finding: healthy and broken ones at once, failures only past the anti-flap bar.
    pub async fn apply(&self, t: Target, finding: Finding) -> Result<(), HealthError> {
        let store = self.clients.store();
        let cfg = &self.cfg;
        let at = now();
        match finding {
            Finding::Healthy { warnings } => {
                table::reset_failures(store, t).await?;
                let denied = table::write_denied(store, t).await?.is_some();
                let detail = (!warnings.is_empty()).then(|| warnings.join(" "));
                // Reads work; the refused write stays the cause until write-back is allowed again.
                if denied {
                    let cause = Cause::CannotWrite;
                    return self.record(t, cause.status(), Some(cause), detail).await;
                }
                let status = if warnings.is_empty() {
                    Status::Connected
                } else {
                    Status::ConnectedWithWarnings
                };
                self.record(t, status, None, detail).await
            }
            Finding::Broken(cause) => {
                table::reset_failures(store, t).await?;
                self.record(t, cause.status(), Some(cause), None).await
            }
            Finding::Failing(why) => {
                let (failures, since) = table::count_failure(store, t, at)
                    .await?
                    .ok_or(HealthError::Gone)?;
                tracing::info!(integration = t.integration_id, failures, reason = %why, "health check failed");
                if failures >= cfg.unavailable_after_failures as i64
                    && at - since.unwrap_or(at) >= cfg.unavailable_after_secs as i64
                {
                    self.record(t, Status::Unavailable, Some(Cause::Unavailable), Some(why))
                        .await
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl Monitor {
    /// Freshdesk refused a product's write (403): remembered until write-back is allowed again,
    /// and shown as the cause unless the connection itself is broken (that cause comes first).
    pub async fn writes_denied(&self, t: Target) -> Result<(), HealthError> {
        let store = self.clients.store();
        table::set_write_denied(store, t, Some(now())).await?;
        let row = table::health_row(store, t)
            .await?
            .ok_or(HealthError::Gone)?;
        if row.status.is_broken() {
            return Ok(());
        }
        let cause = Cause::CannotWrite;
        self.record(t, cause.status(), Some(cause), row.detail)
            .await
    }
}

/// Integrations whose check is due.
pub async fn due(store: &Store, every_secs: i64) -> Result<Vec<Target>, HealthError> {
    Ok(table::unchecked_since(store, now() - every_secs).await?)
}

/// Short lines for the banner on every page: the integrations of an organisation that need
/// attention.
pub async fn banner(store: &Store, org_id: i64) -> Result<Vec<(i64, String, String)>, HealthError> {
    let rows = table::needing_attention(store, org_id).await?;
    Ok(rows
        .into_iter()
        .map(|(id, domain, cause)| {
            let title = cause
                .as_deref()
                .and_then(Cause::parse)
                .map(Cause::title)
                .unwrap_or("It needs attention");
            (id, domain, title.to_string())
        })
        .collect())
}
