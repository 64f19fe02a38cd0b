//! Tickets and conversations. Three passes (live, spam, trash) walk `updated_at` ascending by
//! keyset from their cursors; each page commits with its cursor. A ticket whose `updated_at`
//! moved is marked as needing its conversations, in the same transaction, so that need survives a
//! crash; conversations are then fetched once per such ticket and replace the ticket's set (so a
//! deleted note goes too). A webhook names one ticket for a targeted refresh. Reconciliation
//! walks every id and turns tickets that vanished (deleted forever) into `purged` tombstones,
//! dropping their content and conversations.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use freshdesk::models::{Conversation, Record, Ticket};
use freshdesk::paging::{self, TicketQuery};
use freshdesk::{Client, Priority};
use futures_util::StreamExt;

use super::{Ctx, OVERLAP_SECS, SyncError, Target, advance_cursor, begin_page, cursor};
use crate::store::{Store, now};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Live,
    Spam,
    Deleted,
}

const PASSES: [Pass; 3] = [Pass::Live, Pass::Spam, Pass::Deleted];

impl Pass {
    fn stream(self) -> &'static str {
        match self {
            Pass::Live => "tickets",
            Pass::Spam => "tickets_spam",
            Pass::Deleted => "tickets_deleted",
        }
    }

    fn filter(self) -> Option<String> {
        match self {
            Pass::Live => None,
            Pass::Spam => Some("spam".into()),
            Pass::Deleted => Some("deleted".into()),
        }
    }

    fn state(self) -> &'static str {
        match self {
            Pass::Live => "live",
            Pass::Spam => "spam",
            Pass::Deleted => "deleted",
        }
    }
}

fn ts(d: DateTime<Utc>) -> i64 {
    d.timestamp()
}

fn query(pass: Pass, since: i64) -> TicketQuery {
    TicketQuery {
        updated_since: DateTime::from_timestamp(since, 0).unwrap_or_default(),
        // Free on list calls (it is on by default for accounts made before 2018-11-30); the
        // other includes cost 2 credits each per page.
        include: vec!["description".into()],
        filter: pass.filter(),
        per_page: 100,
    }
}

pub(super) async fn sync_all(ctx: &mut Ctx<'_>) -> Result<(), SyncError> {
    for pass in PASSES {
        ctx.p.stream = pass.stream().into();
        let stored = cursor(ctx.store, ctx.t, pass.stream()).await?;
        let since = stored.map(|c| c - OVERLAP_SECS).unwrap_or(0).max(0);
        let mut pages = Box::pin(paging::tickets(
            ctx.client.clone(),
            query(pass, since),
            Priority::Background,
        ));
        while let Some(page) = pages.next().await {
            let page = page?;
            if page.is_empty() {
                continue;
            }
            save_page(ctx.store, ctx.t, Some(pass), &page).await?;
            ctx.p.pages += 1;
            ctx.p.tickets += page.len() as u64;
            ctx.count(pass.stream(), page.len() as u64);
            ctx.tick()?;
        }
        super::stream_status(ctx.store, ctx.t, pass.stream(), None).await?;
    }
    Ok(())
}

/// Upserts a page of tickets and moves the pass's cursor, in one transaction. `pass` is `None`
/// for a single ticket fetched by id (its state comes from its own flags; no cursor moves).
async fn save_page(
    store: &Store,
    t: Target,
    pass: Option<Pass>,
    page: &[Record<Ticket>],
) -> Result<(), SyncError> {
    let mut tx = begin_page(store, t).await?;
    let newest = page
        .iter()
        .map(|r| ts(r.value.updated_at))
        .max()
        .unwrap_or(i64::MIN);
    // One statement per chunk: with SQLite every statement is a round trip to its worker
    // thread, and per-row statements made context switches the cost of a backfill. Only rows
    // that really changed are written, and they enter the change feed.
    let mut changed = Vec::new();
    for chunk in page.chunks(50) {
        // A ticket whose updated_at moved needs its conversations fetched again. An older
        // version never overwrites a newer one (a webhook refresh may have run ahead of a page).
        let sql = format!(
            "INSERT INTO fd_tickets (org_id, integration_id, id, subject, status, priority, requester_id, responder_id, group_id, company_id, state, created_at, updated_at, raw) \
             VALUES {} \
             ON CONFLICT (org_id, integration_id, id) DO UPDATE SET subject = excluded.subject, status = excluded.status, priority = excluded.priority, \
             requester_id = excluded.requester_id, responder_id = excluded.responder_id, group_id = excluded.group_id, company_id = excluded.company_id, \
             state = excluded.state, created_at = excluded.created_at, raw = excluded.raw, \
             conversations_synced_at = CASE WHEN fd_tickets.updated_at = excluded.updated_at THEN fd_tickets.conversations_synced_at ELSE NULL END, \
             updated_at = excluded.updated_at \
             WHERE excluded.updated_at >= fd_tickets.updated_at \
             AND (excluded.raw <> fd_tickets.raw OR excluded.state <> fd_tickets.state) \
             RETURNING id",
            super::placeholders(chunk.len(), 14)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let tk = &r.value;
            let state = match pass {
                Some(p) => p.state(),
                None if tk.spam => "spam",
                None if tk.deleted => "deleted",
                None => "live",
            };
            q = q
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(tk.id)
                .bind(tk.subject.clone())
                .bind(tk.status.0)
                .bind(tk.priority.0)
                .bind(tk.requester_id)
                .bind(tk.responder_id)
                .bind(tk.group_id)
                .bind(tk.company_id)
                .bind(state)
                .bind(ts(tk.created_at))
                .bind(ts(tk.updated_at))
                .bind(r.raw.get());
        }
        changed.extend(super::changes::returned_ids(q, &mut tx).await?);
    }
    super::changes::record(&mut tx, t, "tickets", &changed).await?;
    if let Some(pass) = pass {
        advance_cursor(&mut tx, t, pass.stream(), newest).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Conversation calls in flight at once: each is one small call, so a backfill is bound by
/// round trips, not by the rate budget, until the governor says otherwise.
const CONVERSATION_CONCURRENCY: usize = 8;
/// Tickets whose conversations commit together.
const CONVERSATION_BATCH: usize = 64;

/// One ticket's conversations as fetched: the rows, whether the set is complete, the calls made.
struct Fetched {
    ticket_id: i64,
    updated_at: i64,
    rows: Vec<Record<Conversation>>,
    complete: bool,
    calls: u64,
}

pub(super) async fn sync_conversations(ctx: &mut Ctx<'_>) -> Result<(), SyncError> {
    ctx.p.stream = "conversations".into();
    loop {
        let batch: Vec<(i64, i64)> = sqlx::query_as("SELECT id, updated_at FROM fd_tickets WHERE org_id = $1 AND integration_id = $2 AND conversations_synced_at IS NULL AND state <> 'purged' ORDER BY id LIMIT 512").bind(ctx.t.org_id).bind(ctx.t.integration_id).fetch_all(&ctx.store.pool).await?;
        if batch.is_empty() {
            super::stream_status(ctx.store, ctx.t, "conversations", None).await?;
            return Ok(());
        }
        let client = ctx.client.clone();
        let mut fetches = futures_util::stream::iter(batch)
            .map(|(ticket_id, updated_at)| {
                let client = client.clone();
                async move {
                    fetch_conversations(&client, ticket_id, updated_at, Priority::Background).await
                }
            })
            .buffer_unordered(CONVERSATION_CONCURRENCY);
        let mut done: Vec<Fetched> = Vec::with_capacity(CONVERSATION_BATCH);
        let mut failed = None;
        while let Some(r) = fetches.next().await {
            match r {
                Ok(f) => done.push(f),
                Err(e) => {
                    // Keep what the other calls fetched; the failed ticket stays pending.
                    failed = Some(e);
                    break;
                }
            }
            if done.len() >= CONVERSATION_BATCH {
                store_conversations(ctx, std::mem::take(&mut done)).await?;
            }
        }
        drop(fetches);
        store_conversations(ctx, done).await?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
}

/// Fetches one ticket's conversations; a ticket deleted forever answers 403 (purge pending) or
/// 404, which leaves what we hold until reconciliation marks the ticket purged.
async fn fetch_conversations(
    client: &Client,
    ticket_id: i64,
    updated_at: i64,
    priority: Priority,
) -> Result<Fetched, SyncError> {
    let mut f = Fetched {
        ticket_id,
        updated_at,
        rows: Vec::new(),
        complete: true,
        calls: 0,
    };
    let mut pages = Box::pin(freshdesk::endpoints::list(
        client.clone(),
        &freshdesk::endpoints::Conversations { ticket: ticket_id },
        None,
        priority,
    ));
    while let Some(page) = pages.next().await {
        f.calls += 1;
        match page {
            Ok(mut items) => f.rows.append(&mut items),
            Err(freshdesk::Error::NotFound | freshdesk::Error::AccessDenied) => {
                f.complete = false;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(f)
}

/// Stores fetched conversation sets in one transaction and meters them.
async fn store_conversations(ctx: &mut Ctx<'_>, done: Vec<Fetched>) -> Result<(), SyncError> {
    if done.is_empty() {
        return Ok(());
    }
    let mut tx = begin_page(ctx.store, ctx.t).await?;
    write_conversations(&mut tx, ctx.t, &done).await?;
    tx.commit().await?;
    let n: u64 = done.iter().map(|f| f.rows.len() as u64).sum();
    ctx.p.conversation_calls += done.iter().map(|f| f.calls).sum::<u64>();
    ctx.p.conversations += n;
    ctx.count("conversations", n);
    ctx.tick()
}

/// Replaces the stored conversations of each fetched ticket, and clears each ticket's need
/// only if it did not change again meanwhile. A few statements for the whole set.
async fn write_conversations(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: Target,
    done: &[Fetched],
) -> Result<(), SyncError> {
    let rows: Vec<(i64, &Record<Conversation>)> = done
        .iter()
        .flat_map(|f| f.rows.iter().map(move |r| (f.ticket_id, r)))
        .collect();
    let mut changed = Vec::new();
    for chunk in rows.chunks(50) {
        let sql = format!(
            "INSERT INTO fd_conversations (org_id, integration_id, id, ticket_id, incoming, private, body_text, created_at, updated_at, raw) VALUES {} \
             ON CONFLICT (org_id, integration_id, id) DO UPDATE SET ticket_id = excluded.ticket_id, incoming = excluded.incoming, private = excluded.private, body_text = excluded.body_text, created_at = excluded.created_at, updated_at = excluded.updated_at, raw = excluded.raw \
             WHERE excluded.raw <> fd_conversations.raw OR excluded.ticket_id <> fd_conversations.ticket_id \
             RETURNING id",
            super::placeholders(chunk.len(), 10)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (ticket_id, r) in chunk {
            let c = &r.value;
            q = q
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(c.id)
                .bind(*ticket_id)
                .bind(c.incoming as i64)
                .bind(c.private as i64)
                .bind(c.body_text.clone())
                .bind(ts(c.created_at))
                .bind(ts(c.updated_at))
                .bind(r.raw.get());
        }
        changed.extend(super::changes::returned_ids(q, tx).await?);
    }
    // Where the full set was read, anything else stored for that ticket was deleted in
    // Freshdesk. Ids are integers, so they go into the SQL text as such.
    let complete: Vec<String> = done
        .iter()
        .filter(|f| f.complete)
        .map(|f| f.ticket_id.to_string())
        .collect();
    if !complete.is_empty() {
        let kept: Vec<String> = done
            .iter()
            .filter(|f| f.complete)
            .flat_map(|f| f.rows.iter().map(|r| r.value.id.to_string()))
            .collect();
        let keep = if kept.is_empty() {
            String::new()
        } else {
            format!(" AND id NOT IN ({})", kept.join(","))
        };
        let q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM fd_conversations WHERE org_id = $1 AND integration_id = $2 AND ticket_id IN ({}){keep} RETURNING id",
            complete.join(",")
        )))
        .bind(t.org_id)
        .bind(t.integration_id);
        changed.extend(super::changes::returned_ids(q, tx).await?);
    }
    super::changes::record(tx, t, "conversations", &changed).await?;
    // `id IN` finds the rows by key; the CASE then checks each one's updated_at. The check is in
    // the SET, not the WHERE: there SQLite's planner would take it for a range on
    // `fd_tickets_recent` and scan the integration's every ticket per batch.
    let ids: Vec<String> = done.iter().map(|f| f.ticket_id.to_string()).collect();
    let when: String = done
        .iter()
        .map(|f| format!(" WHEN {} THEN {}", f.ticket_id, f.updated_at))
        .collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE fd_tickets SET conversations_synced_at = CASE WHEN updated_at = CASE id{when} END THEN $1 ELSE conversations_synced_at END \
         WHERE org_id = $2 AND integration_id = $3 AND id IN ({})",
        ids.join(",")
    )))
    .bind(now())
    .bind(t.org_id)
    .bind(t.integration_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A targeted refresh of one ticket and its conversations (a webhook named it). Interactive
/// priority: it is small and someone is waiting for it. A ticket Freshdesk no longer shows is
/// left to reconciliation.
pub async fn refresh_ticket(
    store: &Store,
    client: &Client,
    t: Target,
    ticket_id: i64,
) -> Result<bool, SyncError> {
    let raw: Box<serde_json::value::RawValue> = match client
        .get(
            &freshdesk::endpoints::ticket(ticket_id),
            Priority::Interactive,
        )
        .await
    {
        Ok(r) => r,
        Err(freshdesk::Error::NotFound | freshdesk::Error::AccessDenied) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let record = Record::<Ticket>::parse(&raw).map_err(|e| {
        SyncError::Freshdesk(freshdesk::Error::Decode(format!("ticket {ticket_id}: {e}")))
    })?;
    let updated_at = ts(record.value.updated_at);
    save_page(store, t, None, std::slice::from_ref(&record)).await?;
    let f = fetch_conversations(client, ticket_id, updated_at, Priority::Interactive).await?;
    let mut tx = begin_page(store, t).await?;
    write_conversations(&mut tx, t, std::slice::from_ref(&f)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Walks every ticket id in all three passes (refreshing rows on the way) and marks stored
/// tickets Freshdesk no longer has as `purged`.
pub(super) async fn reconcile(ctx: &mut Ctx<'_>) -> Result<(), SyncError> {
    let mut seen: HashSet<i64> = HashSet::new();
    for pass in PASSES {
        let mut pages = Box::pin(paging::tickets(
            ctx.client.clone(),
            query(pass, 0),
            Priority::Background,
        ));
        while let Some(page) = pages.next().await {
            let page = page?;
            seen.extend(page.iter().map(|r| r.value.id));
            if !page.is_empty() {
                save_page(ctx.store, ctx.t, Some(pass), &page).await?;
            }
            ctx.tick()?;
        }
    }
    // Deleted forever at the source (often an erasure request): keep only a tombstone.
    let purge = format!(
        "UPDATE fd_tickets SET state = 'purged', subject = NULL, raw = '{{}}', conversations_synced_at = {} WHERE org_id = $1 AND integration_id = $2 AND id IN ({{ids}}) RETURNING id",
        now()
    );
    ctx.p.purged += super::base::purge_unseen(
        (ctx.store, ctx.t),
        "fd_tickets",
        &seen,
        &[
            ("tickets", &purge),
            (
                "conversations",
                "DELETE FROM fd_conversations WHERE org_id = $1 AND integration_id = $2 AND ticket_id IN ({ids}) RETURNING id",
            ),
        ],
    )
    .await?;
    Ok(())
}
