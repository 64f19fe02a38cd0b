//! Connecting and disconnecting, each one transaction across the capabilities that keep rows
//! about an integration. `connections` checks and owns the `integrations` row; this module adds
//! what the others start from (the first entry of the health timeline) or forgets what they
//! hold (the synced copy, the timeline and incidents, sync runs, webhook events, queued jobs),
//! so that no capability reaches into another's tables and `connections` depends on none of them.

use freshdesk::check::ConnectionReport;

use crate::accounts::User;
use crate::connections::{self, Clients, ConnectError, Integration, Target};
use crate::store::now;
use crate::{health, jobs, sync};

/// Checks, then saves the integration with its sealed key and the first health event, in one
/// transaction. Nothing is written unless the check passed.
pub async fn connect(
    clients: &Clients,
    user: &User,
    domain: &str,
    key: &str,
) -> Result<(Integration, ConnectionReport), ConnectError> {
    let checked = connections::check_new(clients, user, domain, key).await?;
    let at = now();
    let mut tx = clients.store().pool.begin().await?;
    let t = checked.insert(&mut tx, clients, user, at).await?;
    health::first_event(&mut tx, t, checked.status(), checked.warnings(), at).await?;
    tx.commit().await?;
    checked.saved(clients, user, t).await
}

/// Deletes the integration, its encrypted key and everything kept about it, in one transaction;
/// every client of it in this process is stopped before this returns.
pub async fn disconnect(clients: &Clients, user: &User, id: i64) -> Result<(), ConnectError> {
    let t = Target {
        org_id: user.org_id,
        integration_id: id,
    };
    // The key and the synced copy go together: a sync page in flight either commits before
    // this (and is deleted with the rest) or finds the integration gone and writes nothing.
    let mut tx = clients.store().pool.begin().await?;
    let gone = connections::remove(&mut tx, clients, user, id).await?;
    sync::forget(&mut tx, t).await?;
    health::forget(&mut tx, t).await?;
    crate::records::notify::forget(&mut tx, t).await?;
    crate::products::triage::forget(&mut tx, t).await?;
    // This module's own tables: runs (`runs.rs`) and webhook events (`handlers.rs`).
    crate::store::delete_integration_rows(&mut tx, &["sync_runs", "hook_events"], t.org_id, id)
        .await?;
    // Queued work of it goes, and a running sync sees the flag at its next heartbeat.
    jobs::cancel_integration(&mut *tx, id).await?;
    tx.commit().await?;
    connections::removed(clients, user, &gone).await;
    Ok(())
}
