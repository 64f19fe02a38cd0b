//! Freshdesk integrations of an organisation: connect (check first, save only on success, key
//! encrypted), list and show (always scoped by organisation), disconnect (the encrypted key is
//! deleted for real) and re-authorize (a new key for the same account, swapped atomically). Every
//! failure becomes a message an admin can act on. Clients for an integration come only from
//! [`Clients`], and stop at once when their key is removed or replaced (see [`keys`]). The
//! `integrations` table is this module's: [`table`] holds the queries other capabilities use.
//! Each Freshdesk account's rate budget is shared between processes through [`budget`].

pub mod budget;
mod clients;
mod error;
pub mod fault;
pub mod keys;
pub mod rewrap;
pub mod table;

pub use clients::{Clients, api_key};
pub use error::ConnectError;
pub use fault::explain;
pub use table::{Status, Target};

use freshdesk::check::ConnectionReport;
use freshdesk::{ApiKey, ClientConfig, FreshdeskDomain};

use crate::accounts::User;
use crate::audit;
use crate::store::{Store, Tx, now};
use rewrap::key_binding;

#[derive(Clone, Debug)]
pub struct Integration {
    pub id: i64,
    pub org_id: i64,
    pub domain: String,
    pub status: Status,
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
        status: Status::parse(&r.3),
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
    table::parse_report(json)
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

/// Runs the connection check with a key, and saves nothing (the API's dry run).
pub async fn check(
    clients: &Clients,
    user: &User,
    domain_input: &str,
    key_input: &str,
) -> Result<ConnectionReport, ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let domain = FreshdeskDomain::parse(domain_input)?;
    let key = ApiKey::parse(key_input)?;
    freshdesk::check_connection(&domain, &key, clients.config())
        .await
        .map_err(|e| ConnectError::Refused(explain(&e, &domain)))
}

/// A connection check of a new help desk that passed, not yet saved: the first half of
/// connecting. `runtime::lifecycle::connect` saves it, in one transaction with the rows other
/// capabilities start from. Nothing is written unless the check passed.
pub struct Checked {
    domain: FreshdeskDomain,
    key: ApiKey,
    report: ConnectionReport,
}

/// Checks a domain and key for a new integration of the caller's organisation. A failed check
/// is audited (the key by its fingerprint only) and saves nothing.
pub async fn check_new(
    clients: &Clients,
    user: &User,
    domain_input: &str,
    key_input: &str,
) -> Result<Checked, ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let store = clients.store();
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
    match run_check(&domain, &key, clients.config()).await {
        Ok(report) => Ok(Checked {
            domain,
            key,
            report,
        }),
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
            Err(e)
        }
    }
}

impl Checked {
    /// The status the check gives the new integration.
    pub fn status(&self) -> Status {
        Status::of_report(&self.report)
    }

    /// The check's warnings in one line, if it had any.
    pub fn warnings(&self) -> Option<String> {
        (!self.report.warnings.is_empty()).then(|| self.report.warnings.join(" "))
    }

    /// Inserts the integration with its key sealed, inside `tx`, as checked `at`.
    pub async fn insert(
        &self,
        tx: &mut Tx,
        clients: &Clients,
        user: &User,
        at: i64,
    ) -> Result<Target, ConnectError> {
        let (domain, key, report) = (&self.domain, &self.key, &self.report);
        let json = serde_json::to_string(report).unwrap_or_default();
        // The row id is part of the ciphertext's associated data, so insert first, then seal.
        let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
            "INSERT INTO integrations (org_id, kind, domain, status, agent_id, agent_name, agent_email, key_fingerprint, key_version, key_ciphertext, report_json, connected_at, last_checked_at, health_checked_at) VALUES ($1, 'freshdesk', $2, $3, $4, $5, $6, $7, 0, '', $8, $9, $9, $9) RETURNING id",
        )
        .bind(user.org_id)
        .bind(domain.host())
        .bind(self.status().code())
        .bind(report.agent.id)
        .bind(report.agent.name.clone().unwrap_or_default())
        .bind(report.agent.email.clone().unwrap_or_default())
        .bind(fingerprint(key))
        .bind(&json)
        .bind(at)
        .fetch_one(&mut **tx)
        .await;
        let (id,) = match inserted {
            Ok(r) => r,
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(ConnectError::AlreadyConnected(domain.host()));
            }
            Err(e) => return Err(e.into()),
        };
        let (version, sealed) = clients
            .vault()
            .encrypt(key.expose_for_encryption(), key_binding(user.org_id, id));
        sqlx::query("UPDATE integrations SET key_version = $1, key_ciphertext = $2 WHERE id = $3")
            .bind(version as i64)
            .bind(sealed)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Ok(Target {
            org_id: user.org_id,
            integration_id: id,
        })
    }

    /// After the insert committed: the audit entry, and the integration as now stored.
    pub async fn saved(
        self,
        clients: &Clients,
        user: &User,
        t: Target,
    ) -> Result<(Integration, ConnectionReport), ConnectError> {
        let host = self.domain.host();
        let (store, id, key) = (clients.store(), t.integration_id, &self.key);
        saved(store, user, "connect", &host, id, key, self.report).await
    }
}

/// Records a connect or re-authorize in the audit log (the key by its fingerprint only) and
/// returns the integration as now stored, with the report of its check.
async fn saved(
    store: &Store,
    user: &User,
    action: &str,
    domain: &str,
    id: i64,
    key: &ApiKey,
    report: ConnectionReport,
) -> Result<(Integration, ConnectionReport), ConnectError> {
    audit::record(
        store,
        Some(user.org_id),
        &user.email,
        action,
        &format!(
            "domain={domain} agent={} ({}) key=…{}",
            report.agent.email.clone().unwrap_or_default(),
            report.agent.id,
            fingerprint(key)
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

/// The first half of disconnecting: checks the caller may, then deletes the integration's row
/// (and with it the encrypted key) inside `tx`. Returns the integration as it was, for
/// [`removed`] once `tx` has committed.
pub async fn remove(
    tx: &mut Tx,
    clients: &Clients,
    user: &User,
    id: i64,
) -> Result<Integration, ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let i = get(clients.store(), user.org_id, id).await?;
    let r = sqlx::query("DELETE FROM integrations WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(user.org_id)
        .execute(&mut **tx)
        .await?;
    if r.rows_affected() == 0 {
        return Err(ConnectError::NotFound);
    }
    Ok(i)
}

/// After a removal committed: every client of the integration in this process stops at once,
/// and the audit log says who disconnected what.
pub async fn removed(clients: &Clients, user: &User, i: &Integration) {
    clients.keys().revoke(i.id);
    audit::record(
        clients.store(),
        Some(user.org_id),
        &user.email,
        "disconnect",
        &format!(
            "domain={} agent={} key=…{}",
            i.domain, i.agent_email, i.key_fingerprint
        ),
    )
    .await;
}

/// A new key for the same Freshdesk account. A different agent needs `confirm_other_agent`.
pub async fn reauthorize(
    clients: &Clients,
    user: &User,
    id: i64,
    key_input: &str,
    confirm_other_agent: bool,
) -> Result<(Integration, ConnectionReport), ConnectError> {
    if user.role != crate::accounts::Role::Admin {
        return Err(ConnectError::Forbidden);
    }
    let (store, vault, keys, cfg) = (
        clients.store(),
        clients.vault(),
        clients.keys(),
        clients.config(),
    );
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
    let (version, sealed) =
        vault.encrypt(key.expose_for_encryption(), key_binding(user.org_id, id));
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
    saved(
        store,
        user,
        "reauthorize",
        &current.domain,
        id,
        &key,
        report,
    )
    .await
}
