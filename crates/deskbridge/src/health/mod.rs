//! Connection health: a periodic check per integration (`/agents/me` and one admin-only call, at
//! interactive priority inside the rate budget), also run at once when a sync meets an auth
//! error. Each break is classified into a cause with its own words and fix; Freshdesk failing
//! (5xx, timeouts) only flips to "Freshdesk unavailable" after several failures over several
//! minutes. Every status change is recorded with its time and cause (the timeline), opens or
//! resolves an incident, and alerts once per incident. While an integration needs attention its
//! syncs and webhook refreshes wait; when the cause goes away the next check restores it and
//! syncs resume from their cursors.

pub mod alerts;

use freshdesk::models::{Agent, TicketScope};
use freshdesk::{Client, Error as FdError, Priority};
use serde::Serialize;

use crate::app::AppState;
use crate::config::HealthConfig;
use crate::store::{Store, StoreError, now};
use crate::sync::Target;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the integration is gone")]
    Gone,
    #[error(transparent)]
    Queue(#[from] crate::jobs::QueueError),
}

impl From<sqlx::Error> for HealthError {
    fn from(e: sqlx::Error) -> Self {
        HealthError::Store(StoreError::Query(e))
    }
}

/// Why an integration is not healthy. Each has its own words and fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    KeyRejected,
    AgentDeleted,
    AdminRemoved,
    PasswordLockout,
    AccountSuspended,
    DomainNotFound,
    BlockedAddress,
    KeyUnreadable,
    Unavailable,
}

impl Cause {
    pub fn code(self) -> &'static str {
        match self {
            Cause::KeyRejected => "key_rejected",
            Cause::AgentDeleted => "agent_deleted",
            Cause::AdminRemoved => "admin_removed",
            Cause::PasswordLockout => "password_lockout",
            Cause::AccountSuspended => "account_suspended",
            Cause::DomainNotFound => "domain_not_found",
            Cause::BlockedAddress => "blocked_address",
            Cause::KeyUnreadable => "key_unreadable",
            Cause::Unavailable => "unavailable",
        }
    }

    pub fn parse(code: &str) -> Option<Cause> {
        [
            Cause::KeyRejected,
            Cause::AgentDeleted,
            Cause::AdminRemoved,
            Cause::PasswordLockout,
            Cause::AccountSuspended,
            Cause::DomainNotFound,
            Cause::BlockedAddress,
            Cause::KeyUnreadable,
            Cause::Unavailable,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// What happened, in plain words.
    pub fn title(self) -> &'static str {
        match self {
            Cause::KeyRejected => "Freshdesk rejected the API key",
            Cause::AgentDeleted => "The integration user was deleted in Freshdesk",
            Cause::AdminRemoved => "The integration user is no longer an admin",
            Cause::PasswordLockout => "The integration user's login is locked",
            Cause::AccountSuspended => "The Freshdesk account is suspended",
            Cause::DomainNotFound => "There is no Freshdesk account at this domain any more",
            Cause::BlockedAddress => "The domain now points to an internal address",
            Cause::KeyUnreadable => "The stored API key cannot be read",
            Cause::Unavailable => "Freshdesk is unavailable",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Cause::KeyRejected => {
                "The key was reset, or the integration user was deactivated. Reactivate the user, or paste its current key (Profile settings in Freshdesk) under Re-authorize, or re-authorize with another admin's key."
            }
            Cause::AgentDeleted => {
                "Restore the agent in Freshdesk (Admin › Team › Agents › Deleted), or re-authorize with another admin's key."
            }
            Cause::AdminRemoved => {
                "Give the integration user the Administrator role back in Freshdesk (Admin › Team › Agents), or re-authorize with another admin's key."
            }
            Cause::PasswordLockout => "Unlock the user in Freshdesk, then wait for the next check.",
            Cause::AccountSuspended => {
                "Reactivate the Freshdesk account (usually billing); deskbridge resumes by itself."
            }
            Cause::DomainNotFound => {
                "If the account was renamed, disconnect and connect again with the new domain."
            }
            Cause::BlockedAddress => {
                "deskbridge refuses to call internal addresses. Check the domain's DNS."
            }
            Cause::KeyUnreadable => {
                "deskbridge cannot decrypt the key it stored for this integration: the stored row was altered or restored from elsewhere, or the master key version that sealed it is no longer configured. Re-authorize with the integration user's API key; the synced data is kept."
            }
            Cause::Unavailable => {
                "Nothing to do on your side: Freshdesk is failing or not answering. deskbridge keeps checking and resumes by itself."
            }
        }
    }

    /// The status this cause puts an integration in.
    pub fn status(self) -> &'static str {
        match self {
            Cause::Unavailable => "unavailable",
            _ => "needs_attention",
        }
    }
}

/// One check's finding.
#[derive(Debug, Clone)]
pub enum Finding {
    /// Working; warnings keep it usable but tell the admin something changed.
    Healthy { warnings: Vec<String> },
    /// Broken with a cause.
    Broken(Cause),
    /// Freshdesk failed to answer properly; counts toward "unavailable".
    Failing(String),
}

fn classify(e: &FdError, admin_call: bool) -> Finding {
    match e {
        FdError::InvalidCredentials => Finding::Broken(Cause::KeyRejected),
        FdError::AccessDenied if admin_call => Finding::Broken(Cause::AdminRemoved),
        FdError::AccessDenied => Finding::Broken(Cause::AgentDeleted),
        FdError::PasswordLockout => Finding::Broken(Cause::PasswordLockout),
        FdError::AccountSuspended => Finding::Broken(Cause::AccountSuspended),
        FdError::DomainNotFound => Finding::Broken(Cause::DomainNotFound),
        FdError::BlockedAddress(_) => Finding::Broken(Cause::BlockedAddress),
        other => Finding::Failing(other.to_string()),
    }
}

/// Whether a sync error means the connection itself may be broken (check at once).
pub fn is_auth_error(e: &FdError) -> bool {
    matches!(
        e,
        FdError::InvalidCredentials
            | FdError::AccessDenied
            | FdError::PasswordLockout
            | FdError::AccountSuspended
            | FdError::DomainNotFound
    )
}

fn scope_name(s: TicketScope) -> &'static str {
    match s {
        TicketScope::Global => "Global",
        TicketScope::Group => "Groups",
        TicketScope::Restricted => "Restricted",
        _ => "Unknown",
    }
}

/// Calls `/agents/me` and one admin-only endpoint, and compares with what was connected.
pub async fn probe(client: &Client, connected_scope: &str, was_occasional: bool) -> Finding {
    // `me` marks the call as the account's root: a 404 there means no account at this domain.
    let me: Agent = match client.me(Priority::Interactive).await {
        Ok(a) => a,
        Err(e) => return classify(&e, false),
    };
    if let Err(e) = client
        .get::<serde_json::Value>("roles", Priority::Interactive)
        .await
    {
        return classify(&e, true);
    }
    let mut warnings = Vec::new();
    let scope = scope_name(me.ticket_scope);
    if scope != connected_scope && connected_scope == "Global" {
        warnings.push(format!(
            "The integration user's ticket scope was narrowed from Global to {scope}: tickets outside its groups are no longer visible."
        ));
    }
    if me.occasional && !was_occasional {
        warnings.push("The integration user was turned into an occasional agent: it uses a day pass whenever it signs in. Make it a full-time agent.".into());
    }
    Finding::Healthy { warnings }
}

/// The health of one integration as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub status: String,
    pub status_label: &'static str,
    pub cause: Option<Cause>,
    pub title: Option<&'static str>,
    pub fix: Option<&'static str>,
    pub detail: Option<String>,
    pub checked_at: Option<i64>,
    pub since: Option<i64>,
    pub history: Vec<Transition>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub at: i64,
    pub from: String,
    pub to: String,
    pub cause: Option<String>,
    pub detail: Option<String>,
}

type HealthRow = (String, Option<String>, Option<String>, Option<i64>);

pub async fn get(store: &Store, t: Target) -> Result<Health, HealthError> {
    let row: Option<HealthRow> = sqlx::query_as(
        "SELECT status, health_cause, health_detail, health_checked_at FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .bind(t.integration_id)
    .bind(t.org_id)
    .fetch_optional(&store.pool)
    .await?;
    let (status, cause, detail, checked_at) = row.ok_or(HealthError::Gone)?;
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
        status_label: crate::connections::status_label(&status),
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

/// Stores the finding; a status change is added to the timeline and opens, updates or resolves
/// the incident (queueing its alerts).
pub async fn record(
    state: &AppState,
    t: Target,
    to_status: &str,
    cause: Option<Cause>,
    detail: Option<String>,
) -> Result<(), HealthError> {
    let store = &state.store;
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT status, health_cause FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .bind(t.integration_id)
    .bind(t.org_id)
    .fetch_optional(&store.pool)
    .await?;
    let (from_status, from_cause) = row.ok_or(HealthError::Gone)?;
    let cause_code = cause.map(|c| c.code().to_string());
    let at = now();
    sqlx::query("UPDATE integrations SET status = $1, health_cause = $2, health_detail = $3, health_checked_at = $4 WHERE id = $5 AND org_id = $6")
        .bind(to_status)
        .bind(cause_code.clone())
        .bind(detail.clone())
        .bind(at)
        .bind(t.integration_id)
        .bind(t.org_id)
        .execute(&store.pool)
        .await?;
    if from_status == to_status && from_cause == cause_code {
        return Ok(());
    }
    sqlx::query("INSERT INTO health_events (org_id, integration_id, at, from_status, to_status, cause, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(at)
        .bind(&from_status)
        .bind(to_status)
        .bind(cause_code.clone())
        .bind(detail.clone())
        .execute(&store.pool)
        .await?;
    tracing::info!(integration = t.integration_id, from = %from_status, to = %to_status, cause = ?cause_code, "integration health changed");
    let broken = |s: &str| matches!(s, "needs_attention" | "unavailable");
    let open: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM incidents WHERE integration_id = $1 AND resolved_at IS NULL",
    )
    .bind(t.integration_id)
    .fetch_optional(&store.pool)
    .await?;
    match (open, broken(to_status)) {
        (None, true) => {
            let (id,): (i64,) = sqlx::query_as("INSERT INTO incidents (org_id, integration_id, cause, opened_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(cause_code.unwrap_or_default())
                .bind(at)
                .fetch_one(&store.pool)
                .await?;
            alerts::enqueue(state, t, id, alerts::Kind::Opened).await?;
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
            alerts::enqueue(state, t, id, alerts::Kind::Resolved).await?;
        }
        (None, false) => {}
    }
    Ok(())
}

/// Runs one check of an integration and applies its finding (with anti-flap for failures).
pub async fn check(state: &AppState, t: Target) -> Result<(), HealthError> {
    // One retry inside a check: failures across checks are what the anti-flap rule counts.
    let client = match crate::connections::client_for(
        &state.store,
        &state.vault,
        &state.keys,
        &freshdesk::ClientConfig {
            max_retries: 1,
            ..state.freshdesk.clone()
        },
        t.org_id,
        t.integration_id,
    )
    .await
    {
        Ok(c) => c,
        // A key that cannot be decrypted is a cause like any other: recorded once (a status
        // change, one incident, one alert), syncs paused until someone re-authorizes.
        Err(crate::connections::ConnectError::Vault(e)) => {
            tracing::debug!(integration = t.integration_id, error = %e, "stored key unreadable");
            return apply(
                state,
                t,
                Finding::Broken(Cause::KeyUnreadable),
                &state.config.health,
            )
            .await;
        }
        Err(crate::connections::ConnectError::NotFound) => return Err(HealthError::Gone),
        Err(e) => {
            // Counted like Freshdesk failing, so it is neither silent nor logged every tick.
            return apply(
                state,
                t,
                Finding::Failing(crate::error_chain(&e)),
                &state.config.health,
            )
            .await;
        }
    };
    let report: Option<(String,)> =
        sqlx::query_as("SELECT report_json FROM integrations WHERE id = $1 AND org_id = $2")
            .bind(t.integration_id)
            .bind(t.org_id)
            .fetch_optional(&state.store.pool)
            .await?;
    let (report_json,) = report.ok_or(HealthError::Gone)?;
    let report: Option<freshdesk::check::ConnectionReport> =
        serde_json::from_str(&report_json).ok();
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
    apply(state, t, finding, &state.config.health).await
}

/// Applies a finding: healthy and broken ones at once, failures only past the anti-flap bar.
pub async fn apply(
    state: &AppState,
    t: Target,
    finding: Finding,
    cfg: &HealthConfig,
) -> Result<(), HealthError> {
    let at = now();
    match finding {
        Finding::Healthy { warnings } => {
            sqlx::query("UPDATE integrations SET health_failures = 0, health_failing_since = NULL WHERE id = $1")
                .bind(t.integration_id)
                .execute(&state.store.pool)
                .await?;
            let status = if warnings.is_empty() {
                "connected"
            } else {
                "connected_with_warnings"
            };
            let detail = (!warnings.is_empty()).then(|| warnings.join(" "));
            record(state, t, status, None, detail).await
        }
        Finding::Broken(cause) => {
            sqlx::query("UPDATE integrations SET health_failures = 0, health_failing_since = NULL WHERE id = $1")
                .bind(t.integration_id)
                .execute(&state.store.pool)
                .await?;
            record(state, t, cause.status(), Some(cause), None).await
        }
        Finding::Failing(why) => {
            sqlx::query("UPDATE integrations SET health_failures = health_failures + 1, health_failing_since = COALESCE(health_failing_since, $1), health_checked_at = $1 WHERE id = $2")
                .bind(at)
                .bind(t.integration_id)
                .execute(&state.store.pool)
                .await?;
            let (failures, since): (i64, Option<i64>) = sqlx::query_as(
                "SELECT health_failures, health_failing_since FROM integrations WHERE id = $1",
            )
            .bind(t.integration_id)
            .fetch_one(&state.store.pool)
            .await?;
            tracing::info!(integration = t.integration_id, failures, reason = %why, "health check failed");
            if failures >= cfg.unavailable_after_failures as i64
                && at - since.unwrap_or(at) >= cfg.unavailable_after_secs as i64
            {
                record(state, t, "unavailable", Some(Cause::Unavailable), Some(why)).await
            } else {
                Ok(())
            }
        }
    }
}

/// Integrations whose check is due.
pub async fn due(store: &Store, every_secs: i64) -> Result<Vec<Target>, HealthError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, org_id FROM integrations WHERE health_checked_at IS NULL OR health_checked_at <= $1",
    )
    .bind(now() - every_secs)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, org)| Target {
            org_id: org,
            integration_id: id,
        })
        .collect())
}

/// Whether syncs and write-backs may run: not while the integration needs attention or
/// Freshdesk is unavailable.
pub fn can_run(status: &str) -> bool {
    matches!(status, "connected" | "connected_with_warnings")
}

/// Short lines for the banner on every page: the integrations of an organisation that need
/// attention.
pub async fn banner(store: &Store, org_id: i64) -> Result<Vec<(i64, String, String)>, HealthError> {
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT id, domain, health_cause FROM integrations WHERE org_id = $1 AND status = 'needs_attention' ORDER BY id",
    )
    .bind(org_id)
    .fetch_all(&store.pool)
    .await?;
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
