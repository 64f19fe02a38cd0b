//! Every stream besides tickets and conversations, from one table of specs. Contacts (live,
//! blocked, deleted), companies and satisfaction ratings are incremental: their lists are not
//! ordered by time, so rows commit per page but the cursor moves only when the whole stream is
//! walked. Reference streams (agents, roles, groups, ticket fields, the knowledge base, business
//! hours, SLA policies, time entries) have no change filter: they are read whole at most once per
//! reference interval, page by page, and records that disappeared become `deleted` tombstones.
//! An endpoint the plan or role does not allow is skipped with its reason and retried a reference
//! interval later.

use std::collections::HashSet;

use freshdesk::Priority;
use freshdesk::endpoints::{self, Endpoint};
use freshdesk::models::Record;
use futures_util::StreamExt;

use super::{
    Ctx, OVERLAP_SECS, Options, SyncError, Target, advance_cursor, begin_page, cursor, skip_reason,
    stream_status,
};
use crate::store::now;

use super::specs::{CONTACT_PASSES, Lenient, Parents, Row, STREAMS, Stream, Table, upsert};
use freshdesk::endpoints as ep;

/// Every page of an endpoint, each record typed when its model reads it (see [`Lenient`]).
fn walk<E: Endpoint>(
    client: freshdesk::Client,
    endpoint: &E,
    since: Option<chrono::DateTime<chrono::Utc>>,
    priority: Priority,
) -> impl futures_util::Stream<Item = Result<Vec<Record<Lenient<E::Item>>>, freshdesk::Error>>
+ Send
+ use<E> {
    freshdesk::paging::pages(client, endpoints::first_page(endpoint, since), priority)
}

/// Every page of an endpoint, in memory (small lists: the knowledge base's levels).
async fn fetch_all<E: Endpoint>(
    ctx: &mut Ctx<'_>,
    endpoint: &E,
) -> Result<Vec<Record<Lenient<E::Item>>>, SyncError> {
    let mut out = Vec::new();
    let mut pages = Box::pin(walk(
        ctx.client.clone(),
        endpoint,
        None,
        Priority::Background,
    ));
    while let Some(page) = pages.next().await {
        out.extend(page?);
        ctx.tick()?;
    }
    Ok(out)
}

/// A stream's last outcome: status, reason, when.
async fn last_outcome(
    ctx: (&crate::store::Store, Target),
    stream: &str,
) -> Result<Option<(String, Option<String>, i64)>, SyncError> {
    Ok(sqlx::query_as(
        "SELECT status, reason, synced_at FROM sync_streams WHERE org_id = $1 AND integration_id = $2 AND stream = $3",
    )
    .bind(ctx.1.org_id)
    .bind(ctx.1.integration_id)
    .bind(stream)
    .fetch_optional(&ctx.0.pool)
    .await?)
}

/// Whether a stream is due: never synced, or its last outcome is older than `every`.
async fn due(
    ctx: (&crate::store::Store, Target),
    stream: &str,
    every: i64,
) -> Result<bool, SyncError> {
    Ok(last_outcome(ctx, stream)
        .await?
        .is_none_or(|(_, _, at)| now() - at >= every))
}

/// The reason a stream was skipped last time, if it was and is not due for a retry.
async fn still_skipped(
    ctx: (&crate::store::Store, Target),
    stream: &str,
    every: i64,
) -> Result<Option<String>, SyncError> {
    Ok(match last_outcome(ctx, stream).await? {
        Some((status, reason, at)) if status == "skipped" && now() - at < every => reason,
        _ => None,
    })
}

/// Runs one stream's body; a skip-worthy error is recorded instead of failing the run.
async fn guarded(
    ctx: &mut Ctx<'_>,
    stream: &str,
    result: Result<(), SyncError>,
) -> Result<(), SyncError> {
    match result {
        Ok(()) => {
            stream_status(ctx.store, ctx.t, stream, None).await?;
            Ok(())
        }
        Err(SyncError::Freshdesk(e)) => match skip_reason(&e) {
            Some(reason) => {
                tracing::info!(stream, %reason, "stream skipped");
                stream_status(ctx.store, ctx.t, stream, Some(&reason)).await?;
                ctx.p.skipped.insert(stream.to_string(), reason);
                Ok(())
            }
            None => Err(SyncError::Freshdesk(e)),
        },
        Err(e) => Err(e),
    }
}

pub(super) async fn sync_all(ctx: &mut Ctx<'_>, opts: &Options) -> Result<(), SyncError> {
    for stream in STREAMS {
        let name = stream.name();
        if let Some(reason) =
            still_skipped((ctx.store, ctx.t), name, opts.reference_every_secs).await?
        {
            ctx.p.skipped.insert(name.to_string(), reason);
            continue;
        }
        if !stream.incremental()
            && !due((ctx.store, ctx.t), name, opts.reference_every_secs).await?
        {
            continue;
        }
        ctx.p.stream = name.into();
        let result = read(ctx, stream).await;
        guarded(ctx, name, result).await?;
    }
    Ok(())
}

/// Reads one stream from its endpoint.
async fn read(ctx: &mut Ctx<'_>, stream: Stream) -> Result<(), SyncError> {
    match stream {
        Stream::Contacts(state) => incremental(ctx, stream, &ep::Contacts(state)).await,
        Stream::Companies => incremental(ctx, stream, &ep::Companies).await,
        Stream::SatisfactionRatings => incremental(ctx, stream, &ep::SatisfactionRatings).await,
        Stream::Agents => whole(ctx, stream, &ep::Agents).await,
        Stream::Roles => whole(ctx, stream, &ep::Roles).await,
        Stream::Groups => whole(ctx, stream, &ep::Groups).await,
        Stream::TicketFields => whole(ctx, stream, &ep::TicketFields).await,
        Stream::BusinessHours => whole(ctx, stream, &ep::BusinessHours).await,
        Stream::SlaPolicies => whole(ctx, stream, &ep::SlaPolicies).await,
        Stream::TimeEntries => whole(ctx, stream, &ep::TimeEntries).await,
        Stream::Solutions => solutions(ctx).await,
    }
}

/// A stream with a change filter: from its cursor (less the overlap), page by page.
async fn incremental<E: Endpoint>(
    ctx: &mut Ctx<'_>,
    stream: Stream,
    endpoint: &E,
) -> Result<(), SyncError>
where
    E::Item: Row,
{
    let name = stream.name();
    let stored = cursor(ctx.store, ctx.t, name).await?;
    let since = stored.map(|c| c - OVERLAP_SECS).unwrap_or(0).max(0);
    let since = chrono::DateTime::from_timestamp(since, 0).unwrap_or_default();
    let mut newest: Option<i64> = None;
    let mut pages = Box::pin(walk(
        ctx.client.clone(),
        endpoint,
        Some(since),
        Priority::Background,
    ));
    while let Some(page) = pages.next().await {
        let page = page?;
        let mut tx = begin_page(ctx.store, ctx.t).await?;
        let mut changed = Vec::new();
        for r in &page {
            if let Some(id) = upsert(
                &mut tx,
                ctx.t,
                stream.table(),
                name,
                stream.state(),
                r.raw.get(),
                &r.value,
                &[],
            )
            .await?
            {
                changed.push(id);
            }
            newest = newest.max(r.value.changed_at());
        }
        super::changes::record(
            &mut tx,
            ctx.t,
            super::changes::Feed::of_table(stream.table().name(), name),
            &changed,
        )
        .await?;
        tx.commit().await?;
        ctx.count(name, page.len() as u64);
        ctx.tick()?;
    }
    // The list is not ordered by time: only a complete walk may move the cursor.
    if let Some(at) = newest {
        let mut tx = begin_page(ctx.store, ctx.t).await?;
        advance_cursor(&mut tx, ctx.t, name, at).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Upserts a batch of a reference stream's records in one transaction; returns their ids.
async fn upsert_all<R: Row>(
    ctx: &mut Ctx<'_>,
    table: Table,
    stream: &str,
    rows: &[(Record<R>, Parents)],
) -> Result<Vec<i64>, SyncError> {
    let mut tx = begin_page(ctx.store, ctx.t).await?;
    let mut changed = Vec::new();
    let mut seen = Vec::with_capacity(rows.len());
    for (r, parents) in rows {
        if let Some(id) = upsert(
            &mut tx,
            ctx.t,
            table,
            stream,
            "active",
            r.raw.get(),
            &r.value,
            parents,
        )
        .await?
        {
            changed.push(id);
        }
        if let Some(id) = r.value.key() {
            seen.push(id);
        }
    }
    super::changes::record(
        &mut tx,
        ctx.t,
        super::changes::Feed::of_table(table.name(), stream),
        &changed,
    )
    .await?;
    tx.commit().await?;
    ctx.count(stream, rows.len() as u64);
    Ok(seen)
}

/// After a complete walk: the stream's records not seen are tombstoned.
async fn tombstone_unseen(
    ctx: &mut Ctx<'_>,
    table: Table,
    stream: &str,
    seen: &[i64],
) -> Result<(), SyncError> {
    let keep = if seen.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = seen.iter().map(i64::to_string).collect();
        format!(" AND id NOT IN ({})", ids.join(","))
    };
    let name = table.name();
    let scope = table.scope();
    let mut tx = begin_page(ctx.store, ctx.t).await?;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {name} SET state = 'deleted' WHERE org_id = $1 AND integration_id = $2{scope} AND state <> 'deleted'{keep} RETURNING id"
    )))
    .bind(ctx.t.org_id)
    .bind(ctx.t.integration_id);
    if table == Table::Records {
        q = q.bind(stream.to_string());
    }
    let gone = super::changes::returned_ids(q, &mut tx).await?;
    let feed = super::changes::Feed::of_table(name, stream);
    super::changes::record(&mut tx, ctx.t, feed, &gone).await?;
    tx.commit().await?;
    Ok(())
}

/// Upserts a whole stream held in memory (small: the knowledge base) and tombstones the rest.
async fn replace<R: Row>(
    ctx: &mut Ctx<'_>,
    table: Table,
    stream: &str,
    rows: &[(Record<R>, Parents)],
) -> Result<(), SyncError> {
    let seen = upsert_all(ctx, table, stream, rows).await?;
    tombstone_unseen(ctx, table, stream, &seen).await
}

/// A reference stream page by page: only ids are kept in memory (time entries grow with the
/// help desk), and records not seen by the end of the complete walk are tombstoned.
async fn whole<E: Endpoint>(
    ctx: &mut Ctx<'_>,
    stream: Stream,
    endpoint: &E,
) -> Result<(), SyncError>
where
    E::Item: Row,
{
    let (table, name) = (stream.table(), stream.name());
    let mut seen = Vec::new();
    let mut pages = Box::pin(walk(
        ctx.client.clone(),
        endpoint,
        None,
        Priority::Background,
    ));
    while let Some(page) = pages.next().await {
        let rows: Vec<_> = page?.into_iter().map(|r| (r, Vec::new())).collect();
        seen.extend(upsert_all(ctx, table, name, &rows).await?);
        ctx.tick()?;
    }
    tombstone_unseen(ctx, table, name, &seen).await
}

/// The knowledge base: categories, their folders, their articles (which may not name their
/// folder and category: the walk does).
async fn solutions(ctx: &mut Ctx<'_>) -> Result<(), SyncError> {
    let categories = fetch_all(ctx, &ep::SolutionCategories).await?;
    let mut folders = Vec::new();
    let mut articles = Vec::new();
    for c in &categories {
        let Some(cid) = c.value.key() else {
            continue;
        };
        for f in fetch_all(ctx, &ep::SolutionFolders { category: cid }).await? {
            let Some(fid) = f.value.key() else {
                continue;
            };
            for a in fetch_all(ctx, &ep::SolutionArticles { folder: fid }).await? {
                articles.push((a, vec![("category_id", cid), ("folder_id", fid)]));
            }
            folders.push((f, vec![("category_id", cid)]));
        }
    }
    let categories: Vec<_> = categories.into_iter().map(|r| (r, Vec::new())).collect();
    replace(ctx, Table::Records, "solution_categories", &categories).await?;
    replace(ctx, Table::Records, "solution_folders", &folders).await?;
    replace(ctx, Table::Articles, "solution_articles", &articles).await
}

/// Walks every contact id in the three passes (refreshing rows on the way, which also repairs a
/// row an alphabetical page shifted past) and marks contacts Freshdesk no longer has as `purged`.
pub(super) async fn reconcile_contacts(ctx: &mut Ctx<'_>) -> Result<(), SyncError> {
    let mut seen: HashSet<i64> = HashSet::new();
    for stream in CONTACT_PASSES {
        let Stream::Contacts(state) = stream else {
            continue;
        };
        let mut pages = Box::pin(walk(
            ctx.client.clone(),
            &ep::Contacts(state),
            None,
            Priority::Background,
        ));
        while let Some(page) = pages.next().await {
            let page = page?;
            let mut tx = begin_page(ctx.store, ctx.t).await?;
            let mut changed = Vec::new();
            for r in &page {
                if let Some(id) = r.value.key() {
                    seen.insert(id);
                }
                if let Some(id) = upsert(
                    &mut tx,
                    ctx.t,
                    Table::Contacts,
                    stream.name(),
                    stream.state(),
                    r.raw.get(),
                    &r.value,
                    &[],
                )
                .await?
                {
                    changed.push(id);
                }
            }
            super::changes::record(&mut tx, ctx.t, "contacts", &changed).await?;
            tx.commit().await?;
            ctx.tick()?;
        }
    }
    ctx.p.purged += super::base::purge_unseen(
        (ctx.store, ctx.t),
        "fd_contacts",
        &seen,
        &[(
            "contacts",
            "UPDATE fd_contacts SET state = 'purged', name = NULL, email = NULL, phone = NULL, raw = '{}' WHERE org_id = $1 AND integration_id = $2 AND id IN ({ids}) RETURNING id",
        )],
    )
    .await?;
    Ok(())
}
