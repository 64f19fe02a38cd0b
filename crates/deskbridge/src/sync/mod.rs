//! Sync of an integration's help desk into our store. A run walks every stream: tickets (live,
//! spam, trash) oldest change first from their cursors minus an overlap window, the conversations
//! of tickets whose `updated_at` moved, then contacts, companies, agents, roles, groups, ticket
//! fields, the knowledge base, business hours, SLA policies, satisfaction ratings and time entries.
//! Every page's rows and its cursor commit in one transaction that also proves the integration
//! still exists, so a crash resumes from the last page with nothing lost, and a disconnect stops a
//! run at its next page. Cursors come from Freshdesk's own timestamps, never our clock, and never
//! move back. An endpoint the plan or role does not allow is skipped with its reason; the rest
//! goes on. One lease per integration makes two triggers one run. A periodic reconciliation walks
//! every id to find what was deleted for good.

pub mod activity;
mod base;
pub mod browse;
pub mod changes;
pub mod lease;
mod specs;
mod streams;
mod tickets;
pub mod verify;

use std::time::Duration;

use freshdesk::Client;

use crate::store::{Store, Tx, now};

pub(crate) use base::{
    Ctx, Meter, Reporter, advance_cursor, begin_page, placeholders, skip_reason, stream_status,
    stream_synced_at,
};
pub use base::{
    OVERLAP_SECS, Options, Progress, SyncError, Target, cursor, set_cursor, ticket_cursors,
};
pub use lease::{Lease, acquire, release};
pub use tickets::refresh_ticket;

/// The job kind of a sync run.
pub const JOB_KIND: &str = "sync";

/// The dedupe key of an integration's sync job: at most one is queued or running, across
/// processes.
pub fn job_key(t: Target) -> String {
    format!("sync:{}", t.integration_id)
}

/// One sync, without the lease (the caller holds it, or is a test).
pub async fn run(
    store: &Store,
    client: &Client,
    t: Target,
    progress: impl FnMut(&Progress) + Send,
) -> Result<Progress, SyncError> {
    run_with(
        store,
        client,
        t,
        &Options::default(),
        tokio_util::sync::CancellationToken::new(),
        progress,
    )
    .await
}

pub async fn run_with(
    store: &Store,
    client: &Client,
    t: Target,
    opts: &Options,
    cancel: tokio_util::sync::CancellationToken,
    mut progress: impl FnMut(&Progress) + Send,
) -> Result<Progress, SyncError> {
    let backfill = cursor(store, t, "tickets").await?.is_none();
    let expected = crate::connections::table::report(store, t)
        .await?
        .flatten()
        .and_then(|r| r.visible_tickets);
    let mut ctx = Ctx {
        store,
        client,
        t,
        p: Progress {
            phase: if backfill { "backfill" } else { "incremental" }.into(),
            tickets_expected: expected,
            ..Progress::default()
        },
        meter: Meter::new(client),
        reporter: Reporter {
            f: &mut progress,
            last: None,
            every: Duration::from_millis(250),
        },
        cancel,
    };
    tickets::sync_all(&mut ctx).await?;
    if opts.conversations {
        tickets::sync_conversations(&mut ctx).await?;
    }
    ctx.p.phase = "incremental".into();
    if opts.other_streams {
        streams::sync_all(&mut ctx, opts).await?;
    }
    if let Some(every) = opts.reconcile_every_secs {
        let last = stream_synced_at(store, t, "reconcile").await?;
        // The backfill just saw everything; the first reconciliation is due a period later.
        match last {
            None => stream_status(store, t, "reconcile", None).await?,
            Some(at) if now() - at >= every => {
                ctx.p.stream = "reconcile".into();
                tickets::reconcile(&mut ctx).await?;
                if opts.other_streams {
                    streams::reconcile_contacts(&mut ctx).await?;
                }
                stream_status(store, t, "reconcile", None).await?;
            }
            Some(_) => {}
        }
    }
    ctx.p.stream = String::new();
    ctx.meter.update(client, &mut ctx.p);
    ctx.reporter.report(&ctx.p, true);
    Ok(ctx.p)
}

/// Deletes everything synced for an integration (the copy, cursors, stream states and its lock),
/// inside the caller's transaction (disconnect).
pub async fn forget(tx: &mut Tx, t: Target) -> Result<(), sqlx::Error> {
    crate::store::delete_integration_rows(
        tx,
        &[
            "fd_tickets",
            "fd_conversations",
            "fd_contacts",
            "fd_companies",
            "fd_agents",
            "fd_groups",
            "fd_ticket_fields",
            "fd_articles",
            "fd_records",
            "sync_cursors",
            "sync_streams",
            changes::TABLES[0],
            changes::TABLES[1],
            activity::TABLES[0],
            activity::TABLES[1],
        ],
        t.org_id,
        t.integration_id,
    )
    .await?;
    sqlx::query("DELETE FROM sync_locks WHERE integration_id = $1")
        .bind(t.integration_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
