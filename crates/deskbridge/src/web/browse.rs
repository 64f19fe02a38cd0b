//! The data browser: the synced copy as people read it. Tickets (search by words, filters, newest
//! change first), one ticket with its whole thread, contacts, companies and knowledge-base
//! articles. Parse the query, call `sync::browse`, render. Help-desk HTML (descriptions, messages,
//! articles) is written by customers and agents, so it is cleaned by `ammonia` before it is put on
//! the page: no scripts, no event handlers, no styles, no images from elsewhere, links that open
//! nothing with our origin; the page's strict CSP stays as the second wall.

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Html;
use serde::Deserialize;

use super::Error;
use super::render::{render, when};
use super::routes::Routes;
use super::session::Signed;
use super::state::AppState;
use crate::accounts::{Session, User};
use crate::sync::Target;
use crate::sync::browse::{self, Listing, Only, TicketFilter, TicketRow, Words};

pub fn routes() -> Routes {
    Routes::default()
        .get("/data/{id}/tickets", tickets)
        .get("/data/{id}/tickets/{ticket}", ticket)
        .get("/data/{id}/articles/{article}", article)
        .get("/data/{id}/{listing}", listing)
}

/// Help-desk HTML made safe to show: the tags and attributes of formatted text only.
pub fn clean(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(["img"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

/// A record's raw JSON and its body made safe: the HTML field cleaned, or else the text field
/// escaped.
fn body_of(raw: &str, html: &str, text: &str) -> (serde_json::Value, String) {
    let v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let body = match v[html].as_str() {
        Some(h) => clean(h),
        None => text_as_html(v[text].as_str().unwrap_or_default()),
    };
    (v, body)
}

/// Plain text shown where HTML is expected: escaped, line breaks kept.
fn text_as_html(text: &str) -> String {
    clean(&ammonia::clean_text(text).replace("&#10;", "<br>"))
}

/// The path of a browser page: the integration's `{id}`, and a second parameter on some.
type Params = Path<Vec<(String, String)>>;

/// The integration the path names (this organisation's; another's is not found), with its
/// domain for the page.
async fn open(
    state: &AppState,
    s: &Session,
    p: &[(String, String)],
) -> Result<(Target, Place), Error> {
    let i = super::session::integration_named(state, s, p).await?;
    let t = Target {
        org_id: i.org_id,
        integration_id: i.id,
    };
    Ok((
        t,
        Place {
            id: i.id,
            domain: i.domain,
        },
    ))
}

/// Which integration a page shows: its id (for links) and domain (for the title).
struct Place {
    id: i64,
    domain: String,
}

/// The path's second parameter.
fn second(p: &[(String, String)]) -> &str {
    p.get(1).map(|(_, v)| v.as_str()).unwrap_or_default()
}

/// The path's second parameter as a record id.
fn item(p: &[(String, String)]) -> Result<i64, Error> {
    second(p).parse().map_err(|_| Error::NotFound)
}

fn status_name(status: i64) -> String {
    freshdesk::models::Status(status)
        .name()
        .map_or_else(|| format!("Status {status}"), str::to_string)
}

fn priority_name(priority: i64) -> String {
    freshdesk::models::Priority(priority)
        .name()
        .map_or_else(|| format!("Priority {priority}"), str::to_string)
}

struct TicketView {
    id: i64,
    subject: String,
    status: String,
    priority: String,
    group: String,
    kind: String,
    requester: String,
    deleted: bool,
    updated: String,
}

impl From<TicketRow> for TicketView {
    fn from(r: TicketRow) -> Self {
        let (id, subject, status, priority, state, updated_at, group, kind, requester) = r;
        TicketView {
            id,
            subject: subject.unwrap_or_else(|| "(no subject)".into()),
            status: status_name(status),
            priority: priority_name(priority),
            group: group.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            requester: requester.unwrap_or_default(),
            deleted: matches!(state.as_str(), "spam" | "deleted" | "purged"),
            updated: when(updated_at),
        }
    }
}

#[derive(Deserialize, Default)]
struct TicketQuery {
    q: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    group: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    before: Option<String>,
}

/// A filter value: empty means "any"; anything else must be a whole number.
fn number(value: &Option<String>, what: &str) -> Result<Option<i64>, Error> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| Error::BadRequest(format!("{what} must be chosen from the list"))),
    }
}

impl TicketQuery {
    /// The filter, and the keyset position of the page asked for.
    fn filter(&self) -> Result<(TicketFilter, Option<(i64, i64)>), Error> {
        let before = match self.before.as_deref() {
            None | Some("") => None,
            Some(b) => {
                let bad = || Error::BadRequest("this page link is damaged: start again".into());
                let (at, id) = b.split_once('.').ok_or_else(bad)?;
                Some((
                    at.parse().map_err(|_| bad())?,
                    id.parse().map_err(|_| bad())?,
                ))
            }
        };
        let mut only = Vec::new();
        only.extend(number(&self.status, "status")?.map(Only::Status));
        only.extend(number(&self.priority, "priority")?.map(Only::Priority));
        only.extend(number(&self.group, "group")?.map(Only::Group));
        only.extend(
            (self.kind.clone())
                .filter(|k| !k.trim().is_empty())
                .map(Only::Type),
        );
        let words = self.q.as_deref().and_then(Words::parse);
        Ok((TicketFilter { words, only }, before))
    }

    /// The link to the page after `(updated_at, id)`, keeping the filters.
    fn next_link(&self, id: i64, next: (i64, i64)) -> String {
        let mut u = url::Url::parse("http://x/").expect("a fixed URL parses");
        u.set_path(&format!("/data/{id}/tickets"));
        {
            let mut pairs = u.query_pairs_mut();
            for (k, v) in [
                ("q", &self.q),
                ("status", &self.status),
                ("priority", &self.priority),
                ("group", &self.group),
                ("type", &self.kind),
            ] {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    pairs.append_pair(k, v);
                }
            }
            pairs.append_pair("before", &format!("{}.{}", next.0, next.1));
        }
        format!("{}?{}", u.path(), u.query().unwrap_or_default())
    }
}

#[derive(Template)]
#[template(path = "data_tickets.html")]
struct TicketsPage {
    user: Option<User>,
    csrf: String,
    at: Place,
    q: String,
    status: String,
    priority: String,
    group: String,
    kind: String,
    statuses: Vec<(i64, &'static str)>,
    priorities: Vec<(i64, &'static str)>,
    groups: Vec<(String, String)>,
    kinds: Vec<String>,
    tickets: Vec<TicketView>,
    next: Option<String>,
}

async fn tickets(
    Signed(state, s): Signed,
    Path(p): Params,
    Query(q): Query<TicketQuery>,
) -> Result<Html<String>, Error> {
    let (t, at) = open(&state, &s, &p).await?;
    let (filter, before) = q.filter()?;
    let (rows, next) = browse::tickets(&state.store, t, &filter, before).await?;
    let (groups, kinds) = browse::choices(&state.store, t).await?;
    let named = |pairs: &[(i64, &'static str)]| pairs.to_vec();
    render(&TicketsPage {
        user: Some(s.user),
        csrf: s.csrf,
        at,
        q: q.q.clone().unwrap_or_default(),
        status: q.status.clone().unwrap_or_default(),
        priority: q.priority.clone().unwrap_or_default(),
        group: q.group.clone().unwrap_or_default(),
        kind: q.kind.clone().unwrap_or_default(),
        statuses: named(&[(2, "Open"), (3, "Pending"), (4, "Resolved"), (5, "Closed")]),
        priorities: named(&[(1, "Low"), (2, "Medium"), (3, "High"), (4, "Urgent")]),
        groups: groups
            .into_iter()
            .map(|(gid, name)| (gid.to_string(), name))
            .collect(),
        kinds,
        tickets: rows.into_iter().map(TicketView::from).collect(),
        next: next.map(|n| q.next_link(t.integration_id, n)),
    })
}

struct MessageView {
    from: String,
    note: bool,
    incoming: bool,
    at: String,
    body: String,
}

#[derive(Template)]
#[template(path = "data_ticket.html")]
struct TicketPage {
    user: Option<User>,
    csrf: String,
    at: Place,
    ticket: TicketView,
    description: String,
    tags: Vec<String>,
    messages: Vec<MessageView>,
}

async fn ticket(Signed(state, s): Signed, Path(p): Params) -> Result<Html<String>, Error> {
    let (t, at) = open(&state, &s, &p).await?;
    let ticket = item(&p)?;
    let (row, raw) = browse::ticket(&state.store, t, ticket)
        .await?
        .ok_or(Error::NotFound)?;
    let (raw, description) = body_of(&raw, "description", "description_text");
    let tags = browse::strings(&raw["tags"]);
    let messages = browse::thread(&state.store, t, ticket)
        .await?
        .into_iter()
        .map(|m| {
            let (raw, body) = body_of(&m.raw, "body", "body_text");
            let from = raw["from_email"].as_str().map(str::to_string);
            MessageView {
                from: from.unwrap_or_else(|| {
                    if m.incoming != 0 { "Customer" } else { "Agent" }.to_string()
                }),
                note: m.private != 0,
                incoming: m.incoming != 0,
                at: when(m.created_at),
                body,
            }
        })
        .collect();
    render(&TicketPage {
        user: Some(s.user),
        csrf: s.csrf,
        at,
        ticket: row.into(),
        description,
        tags,
        messages,
    })
}

#[derive(Template)]
#[template(path = "data_list.html")]
struct ListPage {
    user: Option<User>,
    csrf: String,
    at: Place,
    listing: &'static str,
    headings: [&'static str; 3],
    rows: Vec<browse::Row>,
    next: Option<i64>,
}

#[derive(Deserialize, Default)]
struct After {
    after: Option<String>,
}

async fn listing(
    Query(a): Query<After>,
    Signed(state, s): Signed,
    Path(p): Params,
) -> Result<Html<String>, Error> {
    let what = Listing::parse(second(&p)).ok_or(Error::NotFound)?;
    let (t, at) = open(&state, &s, &p).await?;
    let after = number(&a.after, "after")?.unwrap_or(0);
    let (mut rows, next) = browse::listing(&state.store, t, what, after).await?;
    let (listing, headings) = match what {
        Listing::Contacts => ("contacts", ["Name", "Email", "Company"]),
        Listing::Companies => ("companies", ["Name", "Domains", ""]),
        Listing::Articles => ("articles", ["Title", "Folder", "Status"]),
    };
    if what == Listing::Articles {
        for r in &mut rows {
            r.cells[1] = match r.cells[1].as_str() {
                "1" => "Draft".to_string(),
                "2" => "Published".to_string(),
                other => other.to_string(),
            };
        }
    }
    render(&ListPage {
        user: Some(s.user),
        csrf: s.csrf,
        at,
        listing,
        headings,
        rows,
        next,
    })
}

#[derive(Template)]
#[template(path = "data_article.html")]
struct ArticlePage {
    user: Option<User>,
    csrf: String,
    at: Place,
    title: String,
    body: String,
}

async fn article(Signed(state, s): Signed, Path(p): Params) -> Result<Html<String>, Error> {
    let (t, at) = open(&state, &s, &p).await?;
    let article = item(&p)?;
    let (title, raw) = browse::article(&state.store, t, article)
        .await?
        .ok_or(Error::NotFound)?;
    let (_, body) = body_of(&raw, "description", "description_text");
    render(&ArticlePage {
        user: Some(s.user),
        csrf: s.csrf,
        at,
        title: title.unwrap_or_else(|| "(untitled)".into()),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_desk_html_loses_scripts_handlers_and_foreign_images_and_keeps_formatting() {
        let dirty = r#"<p onclick="steal()">Hi <b>there</b><script>alert(1)</script>
            <img src="https://evil.example/x.png" onerror="alert(2)">
            <a href="javascript:alert(3)">x</a> <a href="https://ok.example/">ok</a></p>"#;
        let out = clean(dirty);
        for bad in [
            "script",
            "onclick",
            "onerror",
            "javascript:",
            "<img",
            "alert(",
        ] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(out.contains("<b>there</b>"), "{out}");
        assert!(out.contains(r#"href="https://ok.example/""#), "{out}");
        assert!(out.contains("noopener"), "{out}");
        assert_eq!(text_as_html("a < b\nc"), "a &lt; b<br>c");
    }
}
