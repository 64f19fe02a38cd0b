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
use freshdesk::models::{Record, parse_timestamp};
use futures_util::StreamExt;
use serde_json::Value;

use super::{
    Ctx, OVERLAP_SECS, Options, SyncError, Target, advance_cursor, begin_page, cursor, skip_reason,
    stream_status,
};
use crate::store::now;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Contacts,
    Companies,
    Agents,
    Groups,
    TicketFields,
    Articles,
    Records,
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bool,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Contacts => "fd_contacts",
            Table::Companies => "fd_companies",
            Table::Agents => "fd_agents",
            Table::Groups => "fd_groups",
            Table::TicketFields => "fd_ticket_fields",
            Table::Articles => "fd_articles",
            Table::Records => "fd_records",
        }
    }

    /// Typed columns: (column, JSON pointer, kind).
    fn columns(self) -> &'static [(&'static str, &'static str, Kind)] {
        match self {
            Table::Contacts => &[
                ("name", "/name", Kind::Text),
                ("email", "/email", Kind::Text),
                ("phone", "/phone", Kind::Text),
                ("company_id", "/company_id", Kind::Int),
            ],
            Table::Companies | Table::Groups => &[("name", "/name", Kind::Text)],
            Table::Agents => &[
                ("name", "/contact/name", Kind::Text),
                ("email", "/contact/email", Kind::Text),
                ("ticket_scope", "/ticket_scope", Kind::Int),
                ("occasional", "/occasional", Kind::Bool),
            ],
            Table::TicketFields => &[
                ("name", "/name", Kind::Text),
                ("label", "/label", Kind::Text),
                ("field_type", "/type", Kind::Text),
            ],
            Table::Articles => &[
                ("category_id", "/category_id", Kind::Int),
                ("folder_id", "/folder_id", Kind::Int),
                ("title", "/title", Kind::Text),
                ("description_text", "/description_text", Kind::Text),
                ("status", "/status", Kind::Int),
            ],
            Table::Records => &[],
        }
    }

    /// Rows of `stream` in this table (fd_records holds many streams).
    fn scope(self) -> &'static str {
        if self == Table::Records {
            " AND stream = $3"
        } else {
            ""
        }
    }
}

enum Mode {
    /// `path&{param}={since}`, cursor on `field`.
    Incremental {
        param: &'static str,
        field: &'static str,
        state: &'static str,
    },
    /// Read whole; missing records become tombstones.
    Reference,
}

struct Spec {
    stream: &'static str,
    path: &'static str,
    table: Table,
    mode: Mode,
}

const fn inc(
    stream: &'static str,
    path: &'static str,
    table: Table,
    param: &'static str,
    field: &'static str,
    state: &'static str,
) -> Spec {
    Spec {
        stream,
        path,
        table,
        mode: Mode::Incremental {
            param,
            field,
            state,
        },
    }
}

const fn reference(stream: &'static str, path: &'static str, table: Table) -> Spec {
    Spec {
        stream,
        path,
        table,
        mode: Mode::Reference,
    }
}

const CONTACT_PASSES: [Spec; 3] = [
    inc(
        "contacts",
        "contacts?per_page=100",
        Table::Contacts,
        "updated_since",
        "/updated_at",
        "active",
    ),
    inc(
        "contacts_blocked",
        "contacts?per_page=100&state=blocked",
        Table::Contacts,
        "updated_since",
        "/updated_at",
        "blocked",
    ),
    inc(
        "contacts_deleted",
        "contacts?per_page=100&state=deleted",
        Table::Contacts,
        "updated_since",
        "/updated_at",
        "deleted",
    ),
];

const SPECS: [Spec; 10] = [
    inc(
        "companies",
        "companies?per_page=100",
        Table::Companies,
        "updated_since",
        "/updated_at",
        "active",
    ),
    inc(
        "satisfaction_ratings",
        "surveys/satisfaction_ratings?per_page=100",
        Table::Records,
        "created_since",
        "/created_at",
        "active",
    ),
    reference("agents", "agents?per_page=100", Table::Agents),
    reference("roles", "roles?per_page=100", Table::Records),
    reference("groups", "groups?per_page=100", Table::Groups),
    reference("ticket_fields", "ticket_fields", Table::TicketFields),
    reference(
        "business_hours",
        "business_hours?per_page=100",
        Table::Records,
    ),
    reference("sla_policies", "sla_policies?per_page=100", Table::Records),
    reference("time_entries", "time_entries?per_page=100", Table::Records),
    // Solutions are walked category > folder > article; this spec names the stream.
    reference("solutions", "solutions/categories", Table::Articles),
];

fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

fn time(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .and_then(parse_timestamp)
        .map(|d| d.timestamp())
}

/// Ids of a record's parents that its JSON may lack (an article's folder and category).
type Parents = Vec<(&'static str, i64)>;

enum Bound {
    I(Option<i64>),
    S(Option<String>),
}

/// Upserts one record into its table; an older version never overwrites a newer one.
async fn upsert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: Target,
    table: Table,
    stream: &str,
    state: &str,
    raw: &str,
    v: &Value,
    parents: &[(&str, i64)],
) -> Result<bool, SyncError> {
    let Some(id) = int(v, "/id") else {
        tracing::warn!(stream, "a record without an id was skipped");
        return Ok(false);
    };
    let mut cols: Vec<&str> = vec![
        "org_id",
        "integration_id",
        "id",
        "state",
        "created_at",
        "updated_at",
        "raw",
    ];
    let mut vals = vec![
        Bound::I(Some(t.org_id)),
        Bound::I(Some(t.integration_id)),
        Bound::I(Some(id)),
        Bound::S(Some(state.into())),
        Bound::I(time(v, "/created_at")),
        Bound::I(time(v, "/updated_at")),
        Bound::S(Some(raw.into())),
    ];
    if table == Table::Records {
        cols.push("stream");
        vals.push(Bound::S(Some(stream.into())));
    }
    for (col, ptr, kind) in table.columns() {
        cols.push(col);
        let parent = parents.iter().find(|(c, _)| c == col).map(|(_, id)| *id);
        vals.push(match kind {
            Kind::Int => Bound::I(int(v, ptr).or(parent)),
            Kind::Bool => Bound::I(v.pointer(ptr).and_then(Value::as_bool).map(i64::from)),
            Kind::Text => Bound::S(v.pointer(ptr).and_then(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })),
        });
    }
    let name = table.name();
    let key = if table == Table::Records {
        "org_id, integration_id, stream, id"
    } else {
        "org_id, integration_id, id"
    };
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = cols
        .iter()
        .filter(|c| !key.contains(*c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {name} ({}) VALUES ({}) ON CONFLICT ({key}) DO UPDATE SET {} \
         WHERE excluded.updated_at IS NULL OR {name}.updated_at IS NULL OR excluded.updated_at >= {name}.updated_at",
        cols.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in vals {
        q = match b {
            Bound::I(x) => q.bind(x),
            Bound::S(x) => q.bind(x),
        };
    }
    q.execute(&mut **tx).await?;
    Ok(true)
}

/// Every page of `path`, or the reason to skip it.
async fn fetch_all(ctx: &mut Ctx<'_>, path: String) -> Result<Vec<Record<Value>>, SyncError> {
    let mut out = Vec::new();
    let mut pages = Box::pin(freshdesk::paging::pages::<Value>(
        ctx.client.clone(),
        path,
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
    for spec in CONTACT_PASSES.iter().chain(SPECS.iter()) {
        if let Some(reason) =
            still_skipped((ctx.store, ctx.t), spec.stream, opts.reference_every_secs).await?
        {
            ctx.p.skipped.insert(spec.stream.to_string(), reason);
            continue;
        }
        ctx.p.stream = spec.stream.into();
        let result = match spec.mode {
            Mode::Incremental { .. } => incremental(ctx, spec).await,
            Mode::Reference => {
                if !due((ctx.store, ctx.t), spec.stream, opts.reference_every_secs).await? {
                    continue;
                }
                if spec.stream == "solutions" {
                    solutions(ctx).await
                } else {
                    whole(ctx, spec).await
                }
            }
        };
        guarded(ctx, spec.stream, result).await?;
    }
    Ok(())
}

async fn incremental(ctx: &mut Ctx<'_>, spec: &Spec) -> Result<(), SyncError> {
    let Mode::Incremental {
        param,
        field,
        state,
    } = spec.mode
    else {
        return Ok(());
    };
    let stored = cursor(ctx.store, ctx.t, spec.stream).await?;
    let since = stored.map(|c| c - OVERLAP_SECS).unwrap_or(0).max(0);
    let since = chrono::DateTime::from_timestamp(since, 0).unwrap_or_default();
    let path = format!(
        "{}&{param}={}",
        spec.path,
        freshdesk::paging::format_since(since)
    );
    let mut newest: Option<i64> = None;
    let mut pages = Box::pin(freshdesk::paging::pages::<Value>(
        ctx.client.clone(),
        path,
        Priority::Background,
    ));
    while let Some(page) = pages.next().await {
        let page = page?;
        let mut tx = begin_page(ctx.store, ctx.t).await?;
        for r in &page {
            upsert(
                &mut tx,
                ctx.t,
                spec.table,
                spec.stream,
                state,
                r.raw.get(),
                &r.value,
                &[],
            )
            .await?;
            newest = newest.max(time(&r.value, field));
        }
        tx.commit().await?;
        ctx.count(spec.stream, page.len() as u64);
        ctx.tick()?;
    }
    // The list is not ordered by time: only a complete walk may move the cursor.
    if let Some(at) = newest {
        let mut tx = begin_page(ctx.store, ctx.t).await?;
        advance_cursor(&mut tx, ctx.t, spec.stream, at).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Upserts a batch of a reference stream's records in one transaction; returns their ids.
async fn upsert_all(
    ctx: &mut Ctx<'_>,
    table: Table,
    stream: &str,
    rows: &[(Record<Value>, Parents)],
) -> Result<Vec<i64>, SyncError> {
    let mut tx = begin_page(ctx.store, ctx.t).await?;
    let mut seen = Vec::with_capacity(rows.len());
    for (r, parents) in rows {
        if upsert(
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
            seen.push(int(&r.value, "/id").unwrap_or_default());
        }
    }
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
        "UPDATE {name} SET state = 'deleted' WHERE org_id = $1 AND integration_id = $2{scope} AND state <> 'deleted'{keep}"
    )))
    .bind(ctx.t.org_id)
    .bind(ctx.t.integration_id);
    if table == Table::Records {
        q = q.bind(stream.to_string());
    }
    q.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Upserts a whole stream held in memory (small: the knowledge base) and tombstones the rest.
async fn replace(
    ctx: &mut Ctx<'_>,
    table: Table,
    stream: &str,
    rows: &[(Record<Value>, Parents)],
) -> Result<(), SyncError> {
    let seen = upsert_all(ctx, table, stream, rows).await?;
    tombstone_unseen(ctx, table, stream, &seen).await
}

/// A reference stream page by page: only ids are kept in memory (time entries grow with the
/// help desk), and records not seen by the end of the complete walk are tombstoned.
async fn whole(ctx: &mut Ctx<'_>, spec: &Spec) -> Result<(), SyncError> {
    let mut seen = Vec::new();
    let mut pages = Box::pin(freshdesk::paging::pages::<Value>(
        ctx.client.clone(),
        spec.path.to_string(),
        Priority::Background,
    ));
    while let Some(page) = pages.next().await {
        let rows: Vec<_> = page?.into_iter().map(|r| (r, Vec::new())).collect();
        seen.extend(upsert_all(ctx, spec.table, spec.stream, &rows).await?);
        ctx.tick()?;
    }
    tombstone_unseen(ctx, spec.table, spec.stream, &seen).await
}

async fn solutions(ctx: &mut Ctx<'_>) -> Result<(), SyncError> {
    let categories = fetch_all(ctx, "solutions/categories".into()).await?;
    let mut folders = Vec::new();
    let mut articles = Vec::new();
    for c in &categories {
        let Some(cid) = int(&c.value, "/id") else {
            continue;
        };
        for f in fetch_all(ctx, format!("solutions/categories/{cid}/folders")).await? {
            let Some(fid) = int(&f.value, "/id") else {
                continue;
            };
            for a in fetch_all(
                ctx,
                format!("solutions/folders/{fid}/articles?per_page=100"),
            )
            .await?
            {
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
    for spec in &CONTACT_PASSES {
        let Mode::Incremental { state, .. } = spec.mode else {
            continue;
        };
        let mut pages = Box::pin(freshdesk::paging::pages::<Value>(
            ctx.client.clone(),
            spec.path.to_string(),
            Priority::Background,
        ));
        while let Some(page) = pages.next().await {
            let page = page?;
            let mut tx = begin_page(ctx.store, ctx.t).await?;
            for r in &page {
                if let Some(id) = int(&r.value, "/id") {
                    seen.insert(id);
                }
                upsert(
                    &mut tx,
                    ctx.t,
                    Table::Contacts,
                    spec.stream,
                    state,
                    r.raw.get(),
                    &r.value,
                    &[],
                )
                .await?;
            }
            tx.commit().await?;
            ctx.tick()?;
        }
    }
    let local: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM fd_contacts WHERE org_id = $1 AND integration_id = $2 AND state <> 'purged'",
    )
    .bind(ctx.t.org_id)
    .bind(ctx.t.integration_id)
    .fetch_all(&ctx.store.pool)
    .await?;
    let gone: Vec<String> = local
        .into_iter()
        .filter(|(id,)| !seen.contains(id))
        .map(|(id,)| id.to_string())
        .collect();
    for chunk in gone.chunks(500) {
        let mut tx = begin_page(ctx.store, ctx.t).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE fd_contacts SET state = 'purged', name = NULL, email = NULL, phone = NULL, raw = '{{}}' WHERE org_id = $1 AND integration_id = $2 AND id IN ({})",
            chunk.join(",")
        )))
        .bind(ctx.t.org_id)
        .bind(ctx.t.integration_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    ctx.p.purged += gone.len() as u64;
    Ok(())
}
