//! The table of stream specs: which Freshdesk path fills which local table, which fields become
//! columns (by JSON pointer), and the upsert of one record into its table, under which an older
//! version never overwrites a newer one.

use freshdesk::models::parse_timestamp;
use serde_json::Value;

use super::{SyncError, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Table {
    Contacts,
    Companies,
    Agents,
    Groups,
    TicketFields,
    Articles,
    Records,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Int,
    Text,
    Bool,
}

impl Table {
    pub(super) fn name(self) -> &'static str {
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
    pub(super) fn scope(self) -> &'static str {
        if self == Table::Records {
            " AND stream = $3"
        } else {
            ""
        }
    }
}

pub(super) enum Mode {
    /// `path&{param}={since}`, cursor on `field`.
    Incremental {
        param: &'static str,
        field: &'static str,
        state: &'static str,
    },
    /// Read whole; missing records become tombstones.
    Reference,
}

pub(super) struct Spec {
    pub(super) stream: &'static str,
    pub(super) path: &'static str,
    pub(super) table: Table,
    pub(super) mode: Mode,
}

pub(super) const fn inc(
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

pub(super) const fn reference(stream: &'static str, path: &'static str, table: Table) -> Spec {
    Spec {
        stream,
        path,
        table,
        mode: Mode::Reference,
    }
}

pub(super) const CONTACT_PASSES: [Spec; 3] = [
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

pub(super) const SPECS: [Spec; 10] = [
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

pub(super) fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

pub(super) fn time(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .and_then(parse_timestamp)
        .map(|d| d.timestamp())
}

/// Ids of a record's parents that its JSON may lack (an article's folder and category).
pub(super) type Parents = Vec<(&'static str, i64)>;

pub(super) enum Bound {
    I(Option<i64>),
    S(Option<String>),
}

/// Upserts one record into its table; an older version never overwrites a newer one.
pub(super) async fn upsert(
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
