//! Freshdesk integrations of an organisation: connect (check first, save only on success, key
//! encrypted), list and show (always scoped by organisation), disconnect (the encrypted key is
//! deleted for real) and re-authorize (a new key for the same account, swapped atomically). Every
//! failure becomes a message an admin can act on. Clients for an integration come only from
//! [`client_for`], and stop at once when their key is removed or replaced (see [`keys`]).

pub mod keys;

use freshdesk::check::ConnectionReport;
use freshdesk::{ApiKey, ClientConfig, Error as FdError, FreshdeskDomain};
use secrecy::ExposeSecret;

use crate::accounts::User;
use crate::audit;
use crate::store::{Store, StoreError, now};
use crate::vault::{Binding, Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Domain(#[from] freshdesk::DomainError),
    #[error("{0}")]
    Key(#[from] freshdesk::ApiKeyError),
    /// Freshdesk (or the path to it) refused; the message says what to do.
    #[error("{0}")]
    Refused(String),
    #[error(
        "This user is not an admin in Freshdesk, so deskbridge could not read agents, groups and roles. Give it the Administrator role in Admin > Team > Agents, or use the dedicated integration user's key."
    )]
    NotAdmin(Box<ConnectionReport>),
    #[error(
        "Freshdesk at {0} is already connected. Use Re-authorize on its page to change the key."
    )]
    AlreadyConnected(String),
    #[error(
        "This key belongs to {new}, not {old}. Confirm to switch the integration to the other agent."
    )]
    DifferentAgent {
        old: String,
        new: String,
        report: Box<ConnectionReport>,
    },
    #[error("the Freshdesk client could not be set up")]
    Client(#[source] FdError),
    #[error("not found")]
    NotFound,
    #[error("only admins can manage integrations")]
    Forbidden,
    #[error(transparent)]
    Queue(#[from] crate::jobs::QueueError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ConnectError {
    fn from(e: sqlx::Error) -> Self {
        ConnectError::Store(StoreError::Query(e))
    }
}

/// Plain words for each way a check can fail.
pub fn explain(e: &FdError, domain: &FreshdeskDomain) -> String {
    match e {
        FdError::InvalidCredentials => "This API key was rejected. It may have been reset, or its user deleted or deactivated. Copy the key again from Profile Settings in Freshdesk.".into(),
        FdError::AccessDenied => "Freshdesk denied access with this key: its user is no longer an agent (perhaps deleted and turned into a contact). Use an active admin's key.".into(),
        FdError::AccountSuspended => format!("The Freshdesk account at {domain} is suspended. Reactivate it in Freshdesk, then try again."),
        FdError::PasswordLockout => "This Freshdesk login is locked after too many failed attempts. Unlock it in Freshdesk, then try again.".into(),
        FdError::DomainNotFound => format!("No Freshdesk account at {domain}. Check the domain: it is the name in https://<name>.freshdesk.com."),
        FdError::FeatureNotInPlan => "The Freshdesk plan does not include a feature deskbridge needs (agents, roles and groups). Check the plan under Admin › Account › Plans & Billing in Freshdesk.".into(),
        FdError::Revoked => "The key was removed or replaced while this was running. Try again.".into(),
        FdError::BlockedAddress(_) => format!("{domain} resolves to an internal address, so deskbridge will not connect to it."),
        FdError::RateLimited { .. } => "Freshdesk's rate limit is used up right now. Wait a minute and try again.".into(),
        FdError::Transient(_) | FdError::TooLarge { .. } => format!("Freshdesk at {domain} did not answer properly. It may be having trouble; try again in a few minutes."),
        _ => format!("Freshdesk at {domain} gave an unexpected answer. Try again; if it keeps happening, contact support."),
    }
}

#[derive(Clone, Debug)]
pub struct Integration {
    pub id: i64,
    pub org_id: i64,
    pub domain: String,
    pub status: String,
    pub agent_id: i64,
    pub agent_name: String,
    pub agent_email: String,
    pub key_fingerprint: String,
    pub report: Option<ConnectionReport>,
    pub report_json: String,
    pub connected_at: i64,
    pub last_checked_at: i64,
}

type Row = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const SELECT: &str = "SELECT id, org_id, domain, status, agent_id, agent_name, agent_email, key_fingerprint, report_json, connected_at, last_checked_at FROM integrations";

fn to_integration(r: Row) -> Integration {
    Integration {
        id: r.0,
        org_id: r.1,
        domain: r.2,
        status: r.3,
        agent_id: r.4,
        agent_name: r.5,
        agent_email: r.6,
        key_fingerprint: r.7,
        report: None,
        report_json: r.8,
        connected_at: r.9,
        last_checked_at: r.10,
    }
}

pub fn status_for(report: &ConnectionReport) -> &'static str {
    if report.warnings.is_empty() {
        "connected"
    } else {
        "connected_with_warnings"
    }
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "connected" => "Connected",
        "connected_with_warnings" => "Connected with warnings",
        "needs_attention" => "Needs attention",
        "unavailable" => "Freshdesk unavailable",
        _ => "Disconnected",
    }
}

pub async fn list(store: &Store, org_id: i64) -> Result<Vec<Integration>, ConnectError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org_id)
    .fetch_all(&store.pool)
    .await?;
    // Lists show only the summary columns; the stored report is parsed when one integration is shown.
    Ok(rows.into_iter().map(to_integration).collect())
}

/// One integration of the caller's organisation; another organisation's id is simply not found.
pub async fn get(store: &Store, org_id: i64, id: i64) -> Result<Integration, ConnectError> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE org_id = $1 AND id = $2"
    )))
    .bind(org_id)
    .bind(id)
    .fetch_optional(&store.pool)
    .await?;
    let mut i = to_integration(row.ok_or(ConnectError::NotFound)?);
    i.report = report_from_json(&i.report_json);
    Ok(i)
}

/// Reports are stored as JSON; this reads back the parts pages show.
fn report_from_json(json: &str) -> Option<ConnectionReport> {
    serde_json::from_str(json).ok()
}

async fn run_check(
    domain: &FreshdeskDomain,
    key: &ApiKey,
    cfg: &ClientConfig,
) -> Result<ConnectionReport, ConnectError> {
    let report = freshdesk::check_connection(domain, key, cfg)
        .await
        .map_err(|e| ConnectError::Refused(explain(&e, domain)))?;
    if !report.agent.is_admin {
        return Err(ConnectError::NotAdmin(Box::new(report)));
    }
    Ok(report)
}

/// Checks, then saves. Nothing is written unless the check passed.
pub async fn connect(
    store: &Store,
    vault: &Vault,
    cfg: &ClientConfig,
    user: &User,
    domain_input: &str,
    key_input: &str,
) -> Result<(Integration, ConnectionReport), ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let domain = FreshdeskDomain::parse(domain_input)?;
    let key = ApiKey::parse(key_input)?;
    let existing: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM integrations WHERE org_id = $1 AND kind = 'freshdesk' AND domain = $2",
    )
    .bind(user.org_id)
    .bind(domain.host())
    .fetch_optional(&store.pool)
    .await?;
    if existing.is_some() {
        return Err(ConnectError::AlreadyConnected(domain.host()));
    }
    let report = match run_check(&domain, &key, cfg).await {
        Ok(r) => r,
        Err(e) => {
            audit::record(
                store,
                Some(user.org_id),
                &user.email,
                "connect_failed",
                &format!(
                    "domain={} key=…{} reason={}",
                    domain.host(),
                    fingerprint(&key),
                    e
                ),
            )
            .await;
            return Err(e);
        }
    };
    let json = serde_json::to_string(&report).unwrap_or_default();
    let t = now();
    let mut tx = store.pool.begin().await?;
    // The row id is part of the ciphertext's associated data, so insert first, then seal.
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO integrations (org_id, kind, domain, status, agent_id, agent_name, agent_email, key_fingerprint, key_version, key_ciphertext, report_json, connected_at, last_checked_at) VALUES ($1, 'freshdesk', $2, $3, $4, $5, $6, $7, 0, '', $8, $9, $10) RETURNING id",
    )
    .bind(user.org_id)
    .bind(domain.host())
    .bind(status_for(&report))
    .bind(report.agent.id)
    .bind(report.agent.name.clone().unwrap_or_default())
    .bind(report.agent.email.clone().unwrap_or_default())
    .bind(fingerprint(&key))
    .bind(&json)
    .bind(t)
    .bind(t)
    .fetch_one(&mut *tx)
    .await;
    let (id,) = match inserted {
        Ok(r) => r,
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(ConnectError::AlreadyConnected(domain.host()));
        }
        Err(e) => return Err(e.into()),
    };
    // The first entry of the health timeline; the check runs from now on.
    sqlx::query("INSERT INTO health_events (org_id, integration_id, at, from_status, to_status, detail) VALUES ($1, $2, $3, 'disconnected', $4, $5)")
        .bind(user.org_id)
        .bind(id)
        .bind(t)
        .bind(status_for(&report))
        .bind((!report.warnings.is_empty()).then(|| report.warnings.join(" ")))
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE integrations SET health_checked_at = $1 WHERE id = $2")
        .bind(t)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let (version, sealed) = vault.encrypt(
        key.expose_for_encryption(),
        Binding {
            org_id: user.org_id,
            integration_id: id,
            field: "api_key",
        },
    );
    sqlx::query("UPDATE integrations SET key_version = $1, key_ciphertext = $2 WHERE id = $3")
        .bind(version as i64)
        .bind(sealed)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    audit::record(
        store,
        Some(user.org_id),
        &user.email,
        "connect",
        &format!(
            "domain={} agent={} ({}) key=…{}",
            domain.host(),
            report.agent.email.clone().unwrap_or_default(),
            report.agent.id,
            fingerprint(&key)
        ),
    )
    .await;
    let mut i = get(store, user.org_id, id).await?;
    i.report = Some(report.clone());
    Ok((i, report))
}

fn fingerprint(key: &ApiKey) -> String {
    key.fingerprint().trim_start_matches('…').to_string()
}

/// Deletes the integration, its encrypted key and everything synced from it; every client of it
/// in this process is stopped before this returns.
pub async fn disconnect(
    store: &Store,
    keys: &keys::KeyWatch,
    user: &User,
    id: i64,
) -> Result<(), ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let i = get(store, user.org_id, id).await?;
    // The key and the synced copy go together: a sync page in flight either commits before
    // this (and is deleted with the rest) or finds the integration gone and writes nothing.
    let mut tx = store.pool.begin().await?;
    let r = sqlx::query("DELETE FROM integrations WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(user.org_id)
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() == 0 {
        return Err(ConnectError::NotFound);
    }
    crate::sync::forget(
        &mut tx,
        crate::sync::Target {
            org_id: user.org_id,
            integration_id: id,
        },
    )
    .await?;
    // Queued work of it goes, and a running sync sees the flag at its next heartbeat.
    crate::jobs::cancel_integration(&mut *tx, id).await?;
    tx.commit().await?;
    keys.revoke(id);
    audit::record(
        store,
        Some(user.org_id),
        &user.email,
        "disconnect",
        &format!(
            "domain={} agent={} key=…{}",
            i.domain, i.agent_email, i.key_fingerprint
        ),
    )
    .await;
    Ok(())
}

/// A new key for the same Freshdesk account. A different agent needs `confirm_other_agent`.
#[allow(clippy::too_many_arguments)]
pub async fn reauthorize(
    store: &Store,
    vault: &Vault,
    keys: &keys::KeyWatch,
    cfg: &ClientConfig,
    user: &User,
    id: i64,
    key_input: &str,
    confirm_other_agent: bool,
) -> Result<(Integration, ConnectionReport), ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let current = get(store, user.org_id, id).await?;
    let domain = FreshdeskDomain::parse(&current.domain)?;
    let key = ApiKey::parse(key_input)?;
    let report = run_check(&domain, &key, cfg).await?;
    if report.agent.id != current.agent_id && !confirm_other_agent {
        // Whose key it is, and what changes with it: scope and groups decide what is visible.
        let groups = if report.agent.groups.is_empty() {
            String::new()
        } else {
            format!(": {}", report.agent.groups.join(", "))
        };
        let new = format!(
            "{} ({}, ticket scope {}{groups})",
            report.agent.name.clone().unwrap_or_default(),
            report.agent.email.clone().unwrap_or_default(),
            report.agent.ticket_scope,
        );
        return Err(ConnectError::DifferentAgent {
            old: format!("{} ({})", current.agent_name, current.agent_email),
            new,
            report: Box::new(report),
        });
    }
    let (version, sealed) = vault.encrypt(
        key.expose_for_encryption(),
        Binding {
            org_id: user.org_id,
            integration_id: id,
            field: "api_key",
        },
    );
    let json = serde_json::to_string(&report).unwrap_or_default();
    // One statement: the old key is replaced atomically; synced data is untouched. The status
    // moves through the health module, which records the change and resolves any incident.
    sqlx::query("UPDATE integrations SET key_version = $1, key_ciphertext = $2, key_fingerprint = $3, agent_id = $4, agent_name = $5, agent_email = $6, report_json = $7, health_failures = 0, health_failing_since = NULL, last_checked_at = $8, key_generation = key_generation + 1 WHERE id = $9 AND org_id = $10")
        .bind(version as i64)
        .bind(sealed)
        .bind(fingerprint(&key))
        .bind(report.agent.id)
        .bind(report.agent.name.clone().unwrap_or_default())
        .bind(report.agent.email.clone().unwrap_or_default())
        .bind(&json)
        .bind(now())
        .bind(id)
        .bind(user.org_id)
        .execute(&store.pool)
        .await?;
    // Committed: every client still holding the old key stops now.
    keys.revoke(id);
    audit::record(
        store,
        Some(user.org_id),
        &user.email,
        "reauthorize",
        &format!(
            "domain={} agent={} ({}) key=…{}",
            current.domain,
            report.agent.email.clone().unwrap_or_default(),
            report.agent.id,
            fingerprint(&key)
        ),
    )
    .await;
    let mut i = get(store, user.org_id, id).await?;
    i.report = Some(report.clone());
    Ok((i, report))
}

/// A client for an integration's stored key: the only way to get one. It stops when the key is
/// removed or replaced, here or in another process. A key that cannot be decrypted is
/// `ConnectError::Vault`.
pub async fn client_for(
    store: &Store,
    vault: &Vault,
    keys: &keys::KeyWatch,
    cfg: &ClientConfig,
    org_id: i64,
    id: i64,
) -> Result<freshdesk::Client, ConnectError> {
    // The token first: a key read after a revocation is already the new one.
    let token = keys.token(id);
    let (domain, key, generation) = stored_key(store, vault, org_id, id).await?;
    let domain = FreshdeskDomain::parse(&domain)?;
    let check = keys::GenerationCheck::new(store.clone(), id, generation, token.clone());
    Ok(freshdesk::Client::new(domain, key, cfg)
        .map_err(ConnectError::Client)?
        .with_revocation(token)
        .with_key_check(check))
}

/// The decrypted key of an integration, for the code that calls Freshdesk with it.
pub async fn api_key(
    store: &Store,
    vault: &Vault,
    org_id: i64,
    id: i64,
) -> Result<ApiKey, ConnectError> {
    Ok(stored_key(store, vault, org_id, id).await?.1)
}

/// Domain, decrypted key and key generation, read together.
async fn stored_key(
    store: &Store,
    vault: &Vault,
    org_id: i64,
    id: i64,
) -> Result<(String, ApiKey, i64), ConnectError> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT domain, key_ciphertext, key_generation FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(&store.pool)
    .await?;
    let (domain, sealed, generation) = row.ok_or(ConnectError::NotFound)?;
    let plain = vault.decrypt(
        &sealed,
        Binding {
            org_id,
            integration_id: id,
            field: "api_key",
        },
    )?;
    let key = ApiKey::parse(plain.expose_secret()).map_err(ConnectError::Key)?;
    Ok((domain, key, generation))
}
