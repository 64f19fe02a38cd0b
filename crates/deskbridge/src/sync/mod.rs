//! Sync of an integration's help desk into our store (first slice: tickets and their
//! conversations). Tickets are walked oldest change first from the stored cursor minus an overlap
//! window, across the 300-page wall; each page's rows and the cursor commit in one transaction, so
//! a crash resumes from the last page with nothing lost. Spam and trash have their own passes and
//! become tombstones. Conversations are fetched only for tickets whose `updated_at` moved since
//! they were last fetched; that need is recorded in the same transaction as the ticket, so it
//! survives a crash too. The cursor comes from Freshdesk's own timestamps, never our clock, and
//! never moves back.

use chrono::{DateTime, Utc};
use freshdesk::models::{Conversation, Record, Ticket};
use freshdesk::paging::{self, TicketQuery};
use freshdesk::{Client, Priority};
use futures_util::StreamExt;

use crate::store::{Store, StoreError, now};

/// Re-read this much before the cursor: Freshdesk commits some changes with a timestamp a little
/// in the past (and clocks drift), and re-reading is cheap where skipping is data loss.
pub const OVERLAP_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Freshdesk(#[from] freshdesk::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> Self {
        SyncError::Store(StoreError::Query(e))
    }
}

/// Where a run is, for progress displays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub tickets: u64,
    pub conversations: u64,
    pub pages: u64,
    pub conversation_calls: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub org_id: i64,
    pub integration_id: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Live,
    Spam,
    Deleted,
}

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
}

pub async fn cursor(store: &Store, t: Target, stream: &str) -> Result<Option<i64>, SyncError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT cursor FROM sync_cursors WHERE org_id = $1 AND integration_id = $2 AND stream = $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(stream)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(c,)| c))
}

/// Sets a cursor explicitly (operators and tests); a normal run only ever moves it forward.
pub async fn set_cursor(store: &Store, t: Target, stream: &str, at: i64) -> Result<(), SyncError> {
    sqlx::query("INSERT INTO sync_cursors (org_id, integration_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, integration_id, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(stream)
        .bind(at)
        .bind(now())
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// One sync of tickets (live, spam, trash) and the conversations that need fetching.
pub async fn run(
    store: &Store,
    client: &Client,
    t: Target,
    mut progress: impl FnMut(&Progress),
) -> Result<Progress, SyncError> {
    let mut p = Progress::default();
    for pass in [Pass::Live, Pass::Spam, Pass::Deleted] {
        sync_tickets(store, client, t, pass, &mut p, &mut progress).await?;
    }
    sync_conversations(store, client, t, &mut p, &mut progress).await?;
    Ok(p)
}

fn ts(d: DateTime<Utc>) -> i64 {
    d.timestamp()
}

async fn sync_tickets(
    store: &Store,
    client: &Client,
    t: Target,
    pass: Pass,
    p: &mut Progress,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let stored = cursor(store, t, pass.stream()).await?;
    let since = stored.map(|c| c - OVERLAP_SECS).unwrap_or(0).max(0);
    let q = TicketQuery {
        updated_since: DateTime::from_timestamp(since, 0).unwrap_or_default(),
        include: vec!["description".into()],
        filter: pass.filter(),
        per_page: 100,
    };
    let mut pages = Box::pin(paging::tickets(client.clone(), q, Priority::Background));
    while let Some(page) = pages.next().await {
        let page = page?;
        if page.is_empty() {
            continue;
        }
        save_page(store, t, pass, &page, stored).await?;
        p.pages += 1;
        p.tickets += page.len() as u64;
        progress(p);
    }
    Ok(())
}

async fn save_page(
    store: &Store,
    t: Target,
    pass: Pass,
    page: &[Record<Ticket>],
    stored: Option<i64>,
) -> Result<(), SyncError> {
    let mut tx = store.pool.begin().await?;
    let mut newest = stored.unwrap_or(i64::MIN);
    for r in page {
        let tk = &r.value;
        let state = match pass {
            Pass::Live => "live",
            Pass::Spam => "spam",
            Pass::Deleted => "deleted",
        };
        // A ticket whose updated_at moved needs its conversations fetched again.
        sqlx::query(
            "INSERT INTO fd_tickets (org_id, integration_id, id, subject, status, priority, requester_id, responder_id, group_id, company_id, state, created_at, updated_at, conversations_synced_at, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14) \
             ON CONFLICT (org_id, integration_id, id) DO UPDATE SET subject = excluded.subject, status = excluded.status, priority = excluded.priority, \
             requester_id = excluded.requester_id, responder_id = excluded.responder_id, group_id = excluded.group_id, company_id = excluded.company_id, \
             state = excluded.state, created_at = excluded.created_at, raw = excluded.raw, \
             conversations_synced_at = CASE WHEN fd_tickets.updated_at = excluded.updated_at THEN fd_tickets.conversations_synced_at ELSE NULL END, \
             updated_at = excluded.updated_at",
        )
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
        .bind(r.raw.get())
        .execute(&mut *tx)
        .await?;
        newest = newest.max(ts(tk.updated_at));
    }
    sqlx::query("INSERT INTO sync_cursors (org_id, integration_id, stream, cursor, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, integration_id, stream) DO UPDATE SET cursor = CASE WHEN excluded.cursor > sync_cursors.cursor THEN excluded.cursor ELSE sync_cursors.cursor END, updated_at = excluded.updated_at")
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(pass.stream())
        .bind(newest)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn sync_conversations(
    store: &Store,
    client: &Client,
    t: Target,
    p: &mut Progress,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    loop {
        let batch: Vec<(i64, i64)> = sqlx::query_as("SELECT id, updated_at FROM fd_tickets WHERE org_id = $1 AND integration_id = $2 AND conversations_synced_at IS NULL ORDER BY id LIMIT 200").bind(t.org_id).bind(t.integration_id).fetch_all(&store.pool).await?;
        if batch.is_empty() {
            return Ok(());
        }
        for (ticket_id, updated_at) in batch {
            let mut rows: Vec<Record<Conversation>> = Vec::new();
            let mut pages = Box::pin(paging::pages::<Conversation>(
                client.clone(),
                format!("tickets/{ticket_id}/conversations?per_page=100"),
                Priority::Background,
            ));
            let mut gone = false;
            while let Some(page) = pages.next().await {
                match page {
                    Ok(mut items) => rows.append(&mut items),
                    // Purged tickets answer 403 or 404: nothing more to fetch for them.
                    Err(freshdesk::Error::NotFound | freshdesk::Error::AccessDenied) => {
                        gone = true;
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
                p.conversation_calls += 1;
            }
            let mut tx = store.pool.begin().await?;
            for r in &rows {
                let c = &r.value;
                sqlx::query(
                    "INSERT INTO fd_conversations (org_id, integration_id, id, ticket_id, incoming, private, body_text, created_at, updated_at, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (org_id, integration_id, id) DO UPDATE SET ticket_id = excluded.ticket_id, incoming = excluded.incoming, private = excluded.private, body_text = excluded.body_text, created_at = excluded.created_at, updated_at = excluded.updated_at, raw = excluded.raw",
                )
                .bind(t.org_id)
                .bind(t.integration_id)
                .bind(c.id)
                .bind(ticket_id)
                .bind(c.incoming as i64)
                .bind(c.private as i64)
                .bind(c.body_text.clone())
                .bind(ts(c.created_at))
                .bind(ts(c.updated_at))
                .bind(r.raw.get())
                .execute(&mut *tx)
                .await?;
            }
            // Only clear the need if the ticket did not change again meanwhile.
            let _ = gone;
            sqlx::query("UPDATE fd_tickets SET conversations_synced_at = $1 WHERE org_id = $2 AND integration_id = $3 AND id = $4 AND updated_at = $5").bind(now()).bind(t.org_id).bind(t.integration_id).bind(ticket_id).bind(updated_at).execute(&mut *tx).await?;
            tx.commit().await?;
            p.conversations += rows.len() as u64;
            progress(p);
        }
    }
}
