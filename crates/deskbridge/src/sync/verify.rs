//! `deskbridge sync verify`: the local copy compared with the source, record by record. Against the
//! emulator the source is `/_emulator/export` (ground truth, including spam and trash); against
//! Freshdesk it is a read-only walk of every ticket id and `updated_at` in the three passes.

use std::collections::{BTreeMap, HashMap};

use freshdesk::models::parse_timestamp;
use freshdesk::paging::{self, TicketQuery};
use freshdesk::{Client, Priority};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::{SyncError, Target};
use crate::store::Store;

#[derive(Debug, Serialize)]
pub struct Mismatch {
    pub stream: String,
    pub id: i64,
    pub problem: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Records compared, per stream.
    pub checked: BTreeMap<String, u64>,
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    fn compare(
        &mut self,
        stream: &str,
        want: &HashMap<i64, (String, Option<i64>)>,
        have: &HashMap<i64, (String, Option<i64>)>,
    ) {
        *self.checked.entry(stream.into()).or_default() += want.len() as u64;
        let mut problems: Vec<Mismatch> = Vec::new();
        for (id, (state, at)) in want {
            match have.get(id) {
                None => problems.push(Mismatch {
                    stream: stream.into(),
                    id: *id,
                    problem: "missing from the local copy".into(),
                }),
                Some((s, a)) if s != state || (at.is_some() && a != at) => {
                    problems.push(Mismatch {
                        stream: stream.into(),
                        id: *id,
                        problem: format!(
                            "local state {s} at {a:?}, source state {state} at {at:?}"
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        for (id, (s, _)) in have {
            if !want.contains_key(id) && s != "purged" && s != "deleted_in_source" {
                problems.push(Mismatch {
                    stream: stream.into(),
                    id: *id,
                    problem: format!("held locally ({s}) but not in the source"),
                });
            }
        }
        problems.sort_by_key(|m| m.id);
        self.mismatches.extend(problems);
    }
}

type Rows = HashMap<i64, (String, Option<i64>)>;

async fn local(store: &Store, t: Target, sql: &str) -> Result<Rows, SyncError> {
    let rows: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(t.org_id)
            .bind(t.integration_id)
            .fetch_all(&store.pool)
            .await?;
    Ok(rows.into_iter().map(|(id, s, a)| (id, (s, a))).collect())
}

fn at(v: &Value) -> Option<i64> {
    v.get("updated_at")
        .and_then(Value::as_str)
        .and_then(parse_timestamp)
        .map(|d| d.timestamp())
}

fn list<'a>(export: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    export
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Compares with an emulator export (`/_emulator/export`), for a key with Global scope.
pub async fn against_export(store: &Store, t: Target, export: &Value) -> Result<Report, SyncError> {
    let mut report = Report::default();
    let mut want: Rows = HashMap::new();
    let mut purging = std::collections::HashSet::new();
    for tk in list(export, "tickets") {
        let Some(id) = tk.get("id").and_then(Value::as_i64) else {
            continue;
        };
        let trash = tk.pointer("/_emulator/trash").and_then(Value::as_str);
        if trash == Some("purging") {
            // Deleted forever, purge pending: Freshdesk shows it nowhere, so neither do we.
            purging.insert(id);
            continue;
        }
        let state = if tk.get("spam").and_then(Value::as_bool) == Some(true) {
            "spam"
        } else if trash == Some("deleted") {
            "deleted"
        } else {
            "live"
        };
        want.insert(id, (state.into(), at(tk)));
    }
    let mut have = local(
        store,
        t,
        "SELECT id, state, updated_at FROM fd_tickets WHERE org_id = $1 AND integration_id = $2",
    )
    .await?;
    have.retain(|id, _| !purging.contains(id));
    report.compare("tickets", &want, &have);

    let want: Rows = list(export, "conversations")
        .filter(|c| {
            c.get("ticket_id")
                .and_then(Value::as_i64)
                .is_some_and(|t| !purging.contains(&t))
        })
        .filter_map(|c| Some((c.get("id")?.as_i64()?, ("present".to_string(), at(c)))))
        .collect();
    let have = local(store, t, "SELECT c.id, 'present', c.updated_at FROM fd_conversations c WHERE c.org_id = $1 AND c.integration_id = $2").await?;
    report.compare("conversations", &want, &have);

    let want: Rows = list(export, "contacts")
        .filter_map(|c| {
            let state = if c.get("deleted").and_then(Value::as_bool) == Some(true) {
                "deleted"
            } else if c.get("blocked").and_then(Value::as_bool) == Some(true) {
                "blocked"
            } else {
                "active"
            };
            Some((c.get("id")?.as_i64()?, (state.to_string(), at(c))))
        })
        .collect();
    let have = local(
        store,
        t,
        "SELECT id, state, updated_at FROM fd_contacts WHERE org_id = $1 AND integration_id = $2",
    )
    .await?;
    report.compare("contacts", &want, &have);

    for (key, table) in [
        ("companies", "fd_companies"),
        ("agents", "fd_agents"),
        ("groups", "fd_groups"),
    ] {
        let want: Rows = list(export, key)
            .filter_map(|c| Some((c.get("id")?.as_i64()?, ("active".to_string(), at(c)))))
            .collect();
        let mut have = local(store, t, &format!("SELECT id, state, updated_at FROM {table} WHERE org_id = $1 AND integration_id = $2")).await?;
        // Tombstones of records the source deleted are correct, not extra.
        have.retain(|id, (s, _)| s != "deleted" || want.contains_key(id));
        report.compare(key, &want, &have);
    }
    Ok(report)
}

/// Compares tickets with Freshdesk itself: a read-only walk of every id in the three passes.
pub async fn against_api(store: &Store, client: &Client, t: Target) -> Result<Report, SyncError> {
    let mut want: Rows = HashMap::new();
    for (filter, state) in [
        (None, "live"),
        (Some("spam"), "spam"),
        (Some("deleted"), "deleted"),
    ] {
        let q = TicketQuery {
            filter: filter.map(str::to_string),
            ..TicketQuery::since(chrono::DateTime::UNIX_EPOCH)
        };
        let mut pages = Box::pin(paging::tickets(client.clone(), q, Priority::Background));
        while let Some(page) = pages.next().await {
            for r in page? {
                want.insert(
                    r.value.id,
                    (state.to_string(), Some(r.value.updated_at.timestamp())),
                );
            }
        }
    }
    let have = local(
        store,
        t,
        "SELECT id, state, updated_at FROM fd_tickets WHERE org_id = $1 AND integration_id = $2",
    )
    .await?;
    let mut report = Report::default();
    report.compare("tickets", &want, &have);
    Ok(report)
}
