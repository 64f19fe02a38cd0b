//! The streams besides tickets and conversations, each with the local table it fills, and how a
//! typed record (the client's models) becomes a row: its id, times and typed columns, with the
//! raw JSON kept beside them. The upsert never lets an older version overwrite a newer one.

use chrono::{DateTime, Utc};
use freshdesk::endpoints::ContactState;
use freshdesk::models::{
    Agent, BusinessHour, Company, Contact, Group, Role, SatisfactionRating, SlaPolicy,
    SolutionArticle, SolutionCategory, SolutionFolder, TicketField, TimeEntry,
};

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

    /// Rows of `stream` in this table (fd_records holds many streams).
    pub(super) fn scope(self) -> &'static str {
        if self == Table::Records {
            " AND stream = $3"
        } else {
            ""
        }
    }
}

/// One stream: its name (the cursor's and the skip reason's key), and how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stream {
    Contacts(ContactState),
    Companies,
    SatisfactionRatings,
    Agents,
    Roles,
    Groups,
    TicketFields,
    BusinessHours,
    SlaPolicies,
    TimeEntries,
    /// Categories, folders and articles, walked together.
    Solutions,
}

/// The three contact passes: the default list holds neither blocked nor deleted contacts.
pub(super) const CONTACT_PASSES: [Stream; 3] = [
    Stream::Contacts(ContactState::Active),
    Stream::Contacts(ContactState::Blocked),
    Stream::Contacts(ContactState::Deleted),
];

/// Every stream, in the order a run reads them.
pub(super) const STREAMS: [Stream; 13] = [
    CONTACT_PASSES[0],
    CONTACT_PASSES[1],
    CONTACT_PASSES[2],
    Stream::Companies,
    Stream::SatisfactionRatings,
    Stream::Agents,
    Stream::Roles,
    Stream::Groups,
    Stream::TicketFields,
    Stream::BusinessHours,
    Stream::SlaPolicies,
    Stream::TimeEntries,
    Stream::Solutions,
];

impl Stream {
    pub(super) fn name(self) -> &'static str {
        match self {
            Stream::Contacts(ContactState::Active) => "contacts",
            Stream::Contacts(ContactState::Blocked) => "contacts_blocked",
            Stream::Contacts(ContactState::Deleted) => "contacts_deleted",
            Stream::Companies => "companies",
            Stream::SatisfactionRatings => "satisfaction_ratings",
            Stream::Agents => "agents",
            Stream::Roles => "roles",
            Stream::Groups => "groups",
            Stream::TicketFields => "ticket_fields",
            Stream::BusinessHours => "business_hours",
            Stream::SlaPolicies => "sla_policies",
            Stream::TimeEntries => "time_entries",
            Stream::Solutions => "solutions",
        }
    }

    pub(super) fn table(self) -> Table {
        match self {
            Stream::Contacts(_) => Table::Contacts,
            Stream::Companies => Table::Companies,
            Stream::Agents => Table::Agents,
            Stream::Groups => Table::Groups,
            Stream::TicketFields => Table::TicketFields,
            Stream::Solutions => Table::Articles,
            _ => Table::Records,
        }
    }

    /// Incremental streams follow a change filter; the others are read whole.
    pub(super) fn incremental(self) -> bool {
        matches!(
            self,
            Stream::Contacts(_) | Stream::Companies | Stream::SatisfactionRatings
        )
    }

    /// The state its records are stored with.
    pub(super) fn state(self) -> &'static str {
        match self {
            Stream::Contacts(ContactState::Blocked) => "blocked",
            Stream::Contacts(ContactState::Deleted) => "deleted",
            _ => "active",
        }
    }
}

/// Ids of a record's parents that its JSON may lack (an article's folder and category).
pub(super) type Parents = Vec<(&'static str, i64)>;

pub(super) enum Bound {
    I(Option<i64>),
    S(Option<String>),
}

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn text(s: &Option<String>) -> Bound {
    Bound::S(s.clone())
}

/// A typed record as a row of its table: its id and times (each model's own), the cursor an
/// incremental stream follows, and its table's typed columns.
pub(super) trait Row: Columns {
    fn id(&self) -> i64;
    /// The id to store it under; `None` for a record without one (skipped with a warning).
    fn key(&self) -> Option<i64> {
        Some(self.id())
    }
    fn created_at(&self) -> Option<i64>;
    fn updated_at(&self) -> Option<i64>;
    /// What an incremental stream's cursor follows.
    fn changed_at(&self) -> Option<i64> {
        self.updated_at()
    }
}

/// Columns beyond id, state, times and raw; `parents` gives ids a record's JSON may lack.
pub(super) trait Columns {
    fn columns(&self, _parents: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        Vec::new()
    }
}

/// A record as its model reads it, or, when the model cannot (a field shaped in a way this
/// version does not expect), as raw JSON: kept whole with its id and times and a warning, its
/// typed columns left as they were. One odd record never stops a stream.
pub(super) enum Lenient<T> {
    Typed(T),
    Raw(serde_json::Value),
}

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        match serde_json::from_str::<T>(raw.get()) {
            Ok(t) => Ok(Lenient::Typed(t)),
            Err(e) => {
                // serde's message can quote the record's values (customer data): log where, not what.
                tracing::warn!(kind = ?e.classify(), column = e.column(), "a record this version cannot read fully is kept as raw JSON");
                serde_json::from_str(raw.get())
                    .map(Lenient::Raw)
                    .map_err(serde::de::Error::custom)
            }
        }
    }
}

fn raw_time(v: &serde_json::Value, field: &str) -> Option<i64> {
    v.get(field)
        .and_then(serde_json::Value::as_str)
        .and_then(freshdesk::models::parse_timestamp)
        .map(secs)
}

impl<T: Row> Row for Lenient<T> {
    fn id(&self) -> i64 {
        self.key().unwrap_or_default()
    }
    fn key(&self) -> Option<i64> {
        match self {
            Lenient::Typed(t) => Some(t.id()),
            Lenient::Raw(v) => v.get("id").and_then(serde_json::Value::as_i64),
        }
    }
    fn created_at(&self) -> Option<i64> {
        match self {
            Lenient::Typed(t) => t.created_at(),
            Lenient::Raw(v) => raw_time(v, "created_at"),
        }
    }
    fn updated_at(&self) -> Option<i64> {
        match self {
            Lenient::Typed(t) => t.updated_at(),
            Lenient::Raw(v) => raw_time(v, "updated_at"),
        }
    }
    fn changed_at(&self) -> Option<i64> {
        match self {
            Lenient::Typed(t) => t.changed_at(),
            Lenient::Raw(_) => self.updated_at().or(self.created_at()),
        }
    }
}

impl<T: Columns> Columns for Lenient<T> {
    fn columns(&self, parents: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        match self {
            Lenient::Typed(t) => t.columns(parents),
            Lenient::Raw(_) => Vec::new(),
        }
    }
}

/// Id and times of each model, as its fields have them (required or optional).
macro_rules! rows {
    ($($t:ty: $created:expr, $updated:expr;)*) => {$(
        impl Row for $t {
            fn id(&self) -> i64 {
                self.id
            }
            fn created_at(&self) -> Option<i64> {
                let f: fn(&$t) -> Option<DateTime<Utc>> = $created;
                f(self).map(secs)
            }
            fn updated_at(&self) -> Option<i64> {
                let f: fn(&$t) -> Option<DateTime<Utc>> = $updated;
                f(self).map(secs)
            }
        }
    )*};
}

rows! {
    Contact: |r| Some(r.created_at), |r| Some(r.updated_at);
    Company: |r| Some(r.created_at), |r| Some(r.updated_at);
    Agent: |r| Some(r.created_at), |r| Some(r.updated_at);
    Group: |r| r.created_at, |r| Some(r.updated_at);
    TicketField: |r| r.created_at, |r| r.updated_at;
    SolutionArticle: |r| r.created_at, |r| Some(r.updated_at);
    Role: |r| r.created_at, |r| r.updated_at;
    BusinessHour: |r| r.created_at, |r| r.updated_at;
    SlaPolicy: |r| r.created_at, |r| r.updated_at;
    TimeEntry: |r| r.created_at, |r| Some(r.updated_at);
    SolutionCategory: |r| r.created_at, |r| r.updated_at;
    SolutionFolder: |r| r.created_at, |r| r.updated_at;
}

// Kept whole in `fd_records`: no typed columns.
impl Columns for Role {}
impl Columns for BusinessHour {}
impl Columns for SlaPolicy {}
impl Columns for TimeEntry {}
impl Columns for SolutionCategory {}
impl Columns for SolutionFolder {}
impl Columns for SatisfactionRating {}

impl Row for SatisfactionRating {
    fn id(&self) -> i64 {
        self.id
    }
    fn created_at(&self) -> Option<i64> {
        Some(secs(self.created_at))
    }
    fn updated_at(&self) -> Option<i64> {
        self.updated_at.map(secs)
    }
    /// Ratings are listed by creation: `created_since` is their change filter.
    fn changed_at(&self) -> Option<i64> {
        self.created_at()
    }
}

impl Columns for Contact {
    fn columns(&self, _: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        vec![
            ("name", text(&self.name)),
            ("email", text(&self.email)),
            ("phone", text(&self.phone)),
            ("company_id", Bound::I(self.company_id)),
        ]
    }
}

impl Columns for Company {
    fn columns(&self, _: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        vec![("name", Bound::S(Some(self.name.clone())))]
    }
}

impl Columns for Agent {
    fn columns(&self, _: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        vec![
            ("name", text(&self.contact.name)),
            ("email", text(&self.contact.email)),
            ("ticket_scope", Bound::I(Some(self.ticket_scope.0))),
            ("occasional", Bound::I(Some(i64::from(self.occasional)))),
        ]
    }
}

impl Columns for Group {
    fn columns(&self, _: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        vec![("name", Bound::S(Some(self.name.clone())))]
    }
}

impl Columns for TicketField {
    fn columns(&self, _: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        vec![
            ("name", Bound::S(Some(self.name.clone()))),
            ("label", Bound::S(Some(self.label.clone()))),
            ("field_type", Bound::S(Some(self.field_type.clone()))),
        ]
    }
}

impl Columns for SolutionArticle {
    fn columns(&self, parents: &[(&str, i64)]) -> Vec<(&'static str, Bound)> {
        let parent = |col: &str| parents.iter().find(|(c, _)| *c == col).map(|(_, id)| *id);
        vec![
            (
                "category_id",
                Bound::I(self.category_id.or(parent("category_id"))),
            ),
            (
                "folder_id",
                Bound::I(self.folder_id.or(parent("folder_id"))),
            ),
            ("title", Bound::S(Some(self.title.clone()))),
            ("description_text", text(&self.description_text)),
            ("status", Bound::I(self.status)),
        ]
    }
}

/// Upserts one record into its table; an older version never overwrites a newer one. Returns
/// its id when the row changed (inserted, or its JSON or state differ), for the change feed.
#[allow(clippy::too_many_arguments)]
pub(super) async fn upsert<R: Row>(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    t: Target,
    table: Table,
    stream: &str,
    state: &str,
    raw: &str,
    r: &R,
    parents: &[(&str, i64)],
) -> Result<Option<i64>, SyncError> {
    let Some(id) = r.key() else {
        tracing::warn!(stream, "a record without an id was skipped");
        return Ok(None);
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
        Bound::I(r.created_at()),
        Bound::I(r.updated_at()),
        Bound::S(Some(raw.into())),
    ];
    if table == Table::Records {
        cols.push("stream");
        vals.push(Bound::S(Some(stream.into())));
    }
    for (col, value) in r.columns(parents) {
        cols.push(col);
        vals.push(value);
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
         WHERE (excluded.updated_at IS NULL OR {name}.updated_at IS NULL OR excluded.updated_at >= {name}.updated_at) \
         AND (excluded.raw <> {name}.raw OR excluded.state <> {name}.state) RETURNING id",
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
    Ok(q.fetch_optional(&mut **tx).await?.map(|_| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_its_model_cannot_read_is_kept_raw_with_its_id_and_times() {
        // `created_at` is not a timestamp: the typed model refuses it.
        let odd =
            r#"{"id": 7, "name": "Ada", "created_at": 12, "updated_at": "2024-05-01T10:00:00Z"}"#;
        let r: Lenient<Contact> = serde_json::from_str(odd).unwrap();
        assert!(matches!(r, Lenient::Raw(_)));
        assert_eq!(r.key(), Some(7));
        assert_eq!(r.created_at(), None);
        assert_eq!(r.updated_at(), Some(1_714_557_600));
        assert!(r.columns(&[]).is_empty());
        let good = r#"{"id": 8, "name": "Bo", "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z"}"#;
        let r: Lenient<Contact> = serde_json::from_str(good).unwrap();
        assert!(matches!(r, Lenient::Typed(_)));
        assert_eq!(r.columns(&[]).len(), 4);
        let no_id: Lenient<Contact> = serde_json::from_str(r#"{"name": "?"}"#).unwrap();
        assert_eq!(no_id.key(), None);
    }
}
