//! Reading the synced copy for people: the data browser's queries over the tables this module's
//! parent owns. Tickets are listed newest change first and keyset-paged on
//! `fd_tickets_recent`, filtered by status, priority, group and type, and found by words through
//! the engine's own full-text index (SQLite FTS5, PostgreSQL `tsvector`, see migration 0011); a
//! ticket comes with its conversation thread; contacts, companies and articles are paged by id.
//! Every list is bounded and walks an index, so no request can be slow by construction.

use sqlx::FromRow;

use super::Target;
use crate::store::{Engine, Store};

/// How many rows a browser page holds.
pub const PAGE: i64 = 50;

/// Search words as typed, reduced to what every engine reads the same way: letters and digits
/// only (no operators, quotes or syntax a user could trip on), at most eight words. The last word
/// also matches as a prefix, so results appear while a word is half typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words(Vec<String>);

impl Words {
    /// `None` when the text holds no word.
    pub fn parse(text: &str) -> Option<Words> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| w.chars().take(40).collect::<String>().to_lowercase())
            .collect();
        (!words.is_empty()).then_some(Words(words))
    }

    /// An FTS5 query: every word, quoted, the last one as a prefix.
    fn fts5(&self) -> String {
        self.join(('"', '"'), "*", " ")
    }

    /// A PostgreSQL `to_tsquery` text: every word, the last one as a prefix.
    fn tsquery(&self) -> String {
        self.join(('\'', '\''), ":*", " & ")
    }

    fn join(&self, (open, close): (char, char), prefix: &str, between: &str) -> String {
        let last = self.0.len() - 1;
        let parts: Vec<String> = (self.0.iter().enumerate())
            .map(|(i, w)| format!("{open}{w}{close}{}", if i == last { prefix } else { "" }))
            .collect();
        parts.join(between)
    }
}

/// One thing the ticket list can be narrowed to, with its value (parsed by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Only {
    Status(i64),
    Priority(i64),
    Group(i64),
    Type(String),
}

impl Only {
    fn clause(&self) -> &'static str {
        match self {
            Only::Status(_) => " AND t.status = ?",
            Only::Priority(_) => " AND t.priority = ?",
            Only::Group(_) => " AND t.group_id = ?",
            Only::Type(_) => " AND t.ticket_type = ?",
        }
    }
}

/// What the ticket list is narrowed to: words, and any of [`Only`].
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub words: Option<Words>,
    pub only: Vec<Only>,
}

/// A ticket as the list shows it, in the order of [`TICKET_COLUMNS`]: id, subject, status,
/// priority, state, `updated_at`, then the names of its group, type and requester where the copy
/// has them.
pub type TicketRow = (
    i64,
    Option<String>,
    i64,
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

const TICKET_COLUMNS: &str = "t.id, t.subject, t.status, t.priority, t.state, t.updated_at, \
     g.name AS group_name, t.ticket_type, COALESCE(c.name, c.email) AS requester";

const TICKET_JOINS: &str = "FROM fd_tickets t \
     LEFT JOIN fd_groups g ON g.org_id = t.org_id AND g.integration_id = t.integration_id AND g.id = t.group_id \
     LEFT JOIN fd_contacts c ON c.org_id = t.org_id AND c.integration_id = t.integration_id AND c.id = t.requester_id";

/// The PostgreSQL text the search index is built on (migration 0011): the same expression, so the
/// planner uses the index.
const PG_SEARCH_TEXT: &str = "to_tsvector('simple', coalesce(t.subject, '') || ' ' || coalesce(t.raw::jsonb ->> 'description_text', ''))";

/// One page of tickets changed before `before` (`(updated_at, id)`, keyset), newest change first,
/// and the position of the next page if there is one.
pub async fn tickets(
    store: &Store,
    t: Target,
    f: &TicketFilter,
    before: Option<(i64, i64)>,
) -> Result<(Vec<TicketRow>, Option<(i64, i64)>), sqlx::Error> {
    // Written with `?` and numbered at the end, since which clauses are present varies.
    let mut sql = format!(
        "SELECT {TICKET_COLUMNS} {TICKET_JOINS} WHERE t.org_id = ? AND t.integration_id = ?"
    );
    if f.words.is_some() {
        sql.push_str(&match store.engine {
            Engine::Sqlite => {
                " AND t.rowid IN (SELECT rowid FROM fd_tickets_fts WHERE fd_tickets_fts MATCH ?)"
                    .to_string()
            }
            Engine::Postgres => format!(" AND {PG_SEARCH_TEXT} @@ to_tsquery('simple', ?)"),
        });
    }
    for only in &f.only {
        sql.push_str(only.clause());
    }
    if before.is_some() {
        sql.push_str(" AND (t.updated_at < ? OR (t.updated_at = ? AND t.id < ?))");
    }
    sql.push_str(&format!(
        " ORDER BY t.updated_at DESC, t.id DESC LIMIT {}",
        PAGE + 1
    ));
    let sql = numbered(&sql);
    let mut q = sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql))
        .bind(t.org_id)
        .bind(t.integration_id);
    if let Some(w) = &f.words {
        q = q.bind(match store.engine {
            Engine::Sqlite => w.fts5(),
            Engine::Postgres => w.tsquery(),
        });
    }
    for only in &f.only {
        q = match only {
            Only::Status(v) | Only::Priority(v) | Only::Group(v) => q.bind(*v),
            Only::Type(v) => q.bind(v.clone()),
        };
    }
    if let Some((at, id)) = before {
        q = q.bind(at).bind(at).bind(id);
    }
    let mut rows = q.fetch_all(&store.pool).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = more.then(|| rows.last().map(|r| (r.5, r.0))).flatten();
    Ok((rows, next))
}

/// `?` placeholders numbered `$1`, `$2`, … as both engines read them (the SQL holds no other `?`).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// When the newest ticket change the copy holds was made in Freshdesk (`fd_tickets_recent`
/// answers it from its last entry).
pub async fn newest_change(store: &Store, t: Target) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MAX(updated_at) FROM fd_tickets WHERE org_id = $1 AND integration_id = $2",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_one(&store.pool)
    .await
}

/// A ticket with its raw JSON (for the description and the fields the list leaves out).
pub async fn ticket(
    store: &Store,
    t: Target,
    id: i64,
) -> Result<Option<(TicketRow, String)>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} {TICKET_JOINS} \
         WHERE t.org_id = $1 AND t.integration_id = $2 AND t.id = $3"
    );
    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(id)
        .fetch_optional(&store.pool)
        .await?;
    let raw: Option<String> = sqlx::query_scalar(
        "SELECT raw FROM fd_tickets WHERE org_id = $1 AND integration_id = $2 AND id = $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(id)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.zip(raw))
}

/// One message of a ticket's thread (`incoming` and `private` are 0 or 1).
#[derive(Debug, Clone, FromRow)]
pub struct Message {
    pub incoming: i64,
    pub private: i64,
    pub created_at: i64,
    pub raw: String,
}

/// A ticket's conversation thread, oldest first (a long thread is cut at 500 messages).
pub async fn thread(store: &Store, t: Target, ticket: i64) -> Result<Vec<Message>, sqlx::Error> {
    sqlx::query_as(
        "SELECT incoming, private, created_at, raw FROM fd_conversations \
         WHERE org_id = $1 AND integration_id = $2 AND ticket_id = $3 ORDER BY created_at, id LIMIT 500",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(ticket)
    .fetch_all(&store.pool)
    .await
}

/// A row of the contacts, companies or articles lists: id, a name, two more cells, and whether
/// Freshdesk deleted it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub name: String,
    pub cells: [String; 2],
    pub deleted: bool,
}

/// The people-and-knowledge lists of the browser, each paged by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Contacts,
    Companies,
    Articles,
}

impl Listing {
    pub fn parse(name: &str) -> Option<Listing> {
        match name {
            "contacts" => Some(Listing::Contacts),
            "companies" => Some(Listing::Companies),
            "articles" => Some(Listing::Articles),
            _ => None,
        }
    }

    /// The second column as shown: companies their domains and articles their folder's name,
    /// both read from raw JSON here, the same way on either engine.
    fn second(self, value: Option<String>) -> String {
        let value = value.unwrap_or_default();
        if self == Listing::Contacts {
            return value;
        }
        let v: serde_json::Value = serde_json::from_str(&value).unwrap_or_default();
        let shown = match self {
            Listing::Companies => v["domains"].as_array().map(|d| {
                let names: Vec<&str> = d.iter().filter_map(|x| x.as_str()).collect();
                names.join(", ")
            }),
            _ => v["name"].as_str().map(str::to_string),
        };
        shown.unwrap_or_default()
    }

    fn select(self) -> &'static str {
        match self {
            Listing::Contacts => {
                "SELECT x.id, x.name, x.email AS second, co.name AS third, x.state FROM fd_contacts x \
                 LEFT JOIN fd_companies co ON co.org_id = x.org_id AND co.integration_id = x.integration_id AND co.id = x.company_id"
            }
            Listing::Companies => {
                "SELECT x.id, x.name, x.raw AS second, NULL AS third, x.state FROM fd_companies x"
            }
            Listing::Articles => {
                "SELECT x.id, x.title AS name, f.raw AS second, CAST(x.status AS TEXT) AS third, x.state FROM fd_articles x \
                 LEFT JOIN fd_records f ON f.org_id = x.org_id AND f.integration_id = x.integration_id AND f.stream = 'solution_folders' AND f.id = x.folder_id"
            }
        }
    }
}

/// One page of a listing after id `after`, and the id to continue from if there is more.
pub async fn listing(
    store: &Store,
    t: Target,
    what: Listing,
    after: i64,
) -> Result<(Vec<Row>, Option<i64>), sqlx::Error> {
    let sql = format!(
        "{} WHERE x.org_id = $1 AND x.integration_id = $2 AND x.id > $3 ORDER BY x.id LIMIT {}",
        what.select(),
        PAGE + 1
    );
    type Raw = (i64, Option<String>, Option<String>, Option<String>, String);
    let mut rows: Vec<Raw> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(after)
        .fetch_all(&store.pool)
        .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|(id, name, second, third, state)| Row {
            id,
            name: name.unwrap_or_default(),
            cells: [what.second(second), third.unwrap_or_default()],
            deleted: matches!(state.as_str(), "spam" | "deleted" | "purged"),
        })
        .collect();
    let next = more.then(|| rows.last().map(|r| r.id)).flatten();
    Ok((rows, next))
}

/// An article's title and raw JSON.
pub async fn article(
    store: &Store,
    t: Target,
    id: i64,
) -> Result<Option<(Option<String>, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT title, raw FROM fd_articles WHERE org_id = $1 AND integration_id = $2 AND id = $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(id)
    .fetch_optional(&store.pool)
    .await
}

/// The choices of the ticket filters: the integration's groups, and the ticket types in use.
pub async fn choices(
    store: &Store,
    t: Target,
) -> Result<(Vec<(i64, String)>, Vec<String>), sqlx::Error> {
    let groups = sqlx::query_as(
        "SELECT id, COALESCE(name, '') FROM fd_groups WHERE org_id = $1 AND integration_id = $2 ORDER BY name LIMIT 200",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    // The type choices come from the account's ticket field, not a scan of the tickets.
    let field: Option<(String,)> = sqlx::query_as(
        "SELECT raw FROM fd_ticket_fields WHERE org_id = $1 AND integration_id = $2 AND name = 'ticket_type'",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_optional(&store.pool)
    .await?;
    let types = field
        .and_then(|(raw,)| serde_json::from_str::<serde_json::Value>(&raw).ok())
        .map(|v| strings(&v["choices"]))
        .unwrap_or_default();
    Ok((groups, types))
}

/// The strings of a JSON array (a field's choices, a ticket's tags); none for anything else.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// The labelled history Triage learns from: every live ticket's id, creation time and raw JSON,
/// newest first (at most `limit`), handed to `each` one row at a time, so that a large help desk's
/// history is never held whole in memory.
pub async fn history(
    store: &Store,
    t: Target,
    limit: i64,
    mut each: impl FnMut(i64, i64, &str),
) -> Result<(), sqlx::Error> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query_as::<_, (i64, i64, String)>(
        "SELECT id, created_at, raw FROM fd_tickets WHERE org_id = $1 AND integration_id = $2 \
         AND state = 'live' ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .bind(limit)
    .fetch(&store.pool);
    while let Some((id, created_at, raw)) = rows.try_next().await? {
        each(id, created_at, &raw);
    }
    Ok(())
}

/// The account's custom dropdown ticket fields: (name, label, choices).
pub async fn dropdowns(
    store: &Store,
    t: Target,
) -> Result<Vec<(String, String, Vec<String>)>, sqlx::Error> {
    let rows: Vec<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT name, label, raw FROM fd_ticket_fields WHERE org_id = $1 AND integration_id = $2 \
         AND field_type = 'custom_dropdown' AND state NOT IN ('deleted', 'purged') ORDER BY id",
    )
    .bind(t.org_id)
    .bind(t.integration_id)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, label, raw)| {
            let v: serde_json::Value = serde_json::from_str(&raw).ok()?;
            let choices = strings(&v["choices"]);
            let name = name?;
            Some((name.clone(), label.unwrap_or(name), choices))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_drop_every_operator_and_quote_and_the_last_is_a_prefix() {
        let w = Words::parse(r#"  Card "declined" OR NEAR(x) -refund*  "#).unwrap();
        assert_eq!(w.fts5(), r#""card" "declined" "or" "near" "x" "refund"*"#);
        assert_eq!(
            w.tsquery(),
            "'card' & 'declined' & 'or' & 'near' & 'x' & 'refund':*"
        );
        assert_eq!(Words::parse(" -- \"\" ()"), None);
        assert_eq!(Words::parse(&"a ".repeat(20)).unwrap().0.len(), 8);
    }
}
