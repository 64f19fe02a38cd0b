//! Streams of pages. Lists follow `link` and stop on a short page. The tickets stream walks
//! `order_by=updated_at&order_type=asc` by keyset: after each page it restarts at page 1 with
//! `updated_since` set to the last row's `updated_at`, dropping the boundary rows it already
//! yielded. That never meets Freshdesk's 300-page wall and never skips a row when another is
//! edited mid-walk; if 300 pages share one timestamp it stops with `PagingStalled` instead of
//! looping. Search stops at its tenth page. Pages are yielded as they arrive, never collected.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::client::Client;
use crate::error::Error;
use crate::governor::Priority;
use crate::models::{Record, Ticket};

/// Freshdesk serves at most this many pages of one tickets query.
pub const TICKETS_PAGE_WALL: u32 = 300;
/// Search serves pages 1 to 10, 30 results each.
pub const SEARCH_MAX_PAGE: u32 = 10;

pub fn format_since(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Every page of a list endpoint, following `link`. `first` is relative to `/api/v2/`, e.g.
/// `contacts?per_page=100&updated_since=…`.
pub fn pages<T: DeserializeOwned + Send + 'static>(
    client: Client,
    first: String,
    priority: Priority,
) -> impl Stream<Item = Result<Vec<Record<T>>, Error>> + Send {
    let per_page = first
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("per_page="))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30);
    futures_util::stream::unfold(Some(first), move |next| {
        let client = client.clone();
        async move {
            let path = next?;
            let url = match client.url(&path) {
                Ok(u) => u,
                Err(e) => return Some((Err(e), None)),
            };
            match fetch::<T>(&client, url, priority).await {
                Ok((items, next_url)) => {
                    let more = items.len() >= per_page;
                    let next = next_url.filter(|_| more).map(|u| relative(&u));
                    Some((Ok(items), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    })
}

fn relative(u: &url::Url) -> String {
    let path = u
        .path()
        .strip_prefix("/api/v2/")
        .unwrap_or(u.path())
        .to_string();
    match u.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

async fn fetch<T: DeserializeOwned>(
    client: &Client,
    url: url::Url,
    priority: Priority,
) -> Result<(Vec<Record<T>>, Option<url::Url>), Error> {
    let (items, next, _) = client.get_page::<T>(url, priority).await?;
    Ok((items, next))
}

/// What to ask of `GET /tickets`.
#[derive(Clone, Debug)]
pub struct TicketQuery {
    pub updated_since: DateTime<Utc>,
    /// `requester`, `stats`, `company`, `description`.
    pub include: Vec<String>,
    /// `spam` or `deleted` for those passes.
    pub filter: Option<String>,
    pub per_page: u32,
}

impl TicketQuery {
    pub fn since(t: DateTime<Utc>) -> Self {
        TicketQuery {
            updated_since: t,
            include: Vec::new(),
            filter: None,
            per_page: 100,
        }
    }
}

struct TicketWalk {
    client: Client,
    q: TicketQuery,
    priority: Priority,
    since: DateTime<Utc>,
    page: u32,
    /// Ids already yielded whose `updated_at` equals `boundary_ts`: the rows a restart repeats.
    boundary_ids: HashSet<i64>,
    boundary_ts: Option<DateTime<Utc>>,
    done: bool,
    /// An error to yield after the rows that preceded it.
    pending: Option<Error>,
}

impl TicketWalk {
    fn path(&self) -> String {
        let mut p = format!(
            "tickets?order_by=updated_at&order_type=asc&per_page={}&updated_since={}&page={}",
            self.q.per_page,
            format_since(self.since),
            self.page
        );
        if !self.q.include.is_empty() {
            p.push_str("&include=");
            p.push_str(&self.q.include.join(","));
        }
        if let Some(f) = &self.q.filter {
            p.push_str("&filter=");
            p.push_str(f);
        }
        p
    }

    /// Moves past the wall: the next window starts at the last row's `updated_at`.
    fn roll(&mut self) -> Result<(), Error> {
        let next = self.boundary_ts.unwrap_or(self.since);
        if next <= self.since {
            self.done = true;
            return Err(Error::PagingStalled {
                at: format_since(self.since),
            });
        }
        tracing::debug!(from = %format_since(self.since), to = %format_since(next), "next tickets window");
        self.since = next;
        self.page = 1;
        Ok(())
    }

    async fn step(&mut self) -> Option<Result<Vec<Record<Ticket>>, Error>> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        let url = match self.client.url(&self.path()) {
            Ok(u) => u,
            Err(e) => return Some(Err(e)),
        };
        let (items, next) = match fetch::<Ticket>(&self.client, url, self.priority).await {
            Ok(x) => x,
            Err(Error::Validation { errors })
                if self.page > 1 && errors.iter().any(|e| e.field == "page") =>
            {
                // The wall answered before we expected it (a smaller cap than 300): roll over.
                return match self.roll() {
                    Ok(()) => Some(Ok(Vec::new())),
                    Err(e) => Some(Err(e)),
                };
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let full = items.len() >= self.q.per_page as usize;
        let mut fresh = Vec::with_capacity(items.len());
        for r in items {
            let at = r.value.updated_at;
            if at == self.since
                && self.boundary_ids.contains(&r.value.id)
                && self.boundary_ts == Some(at)
            {
                continue;
            }
            match self.boundary_ts {
                Some(b) if b == at => {
                    self.boundary_ids.insert(r.value.id);
                }
                Some(b) if b > at => {}
                _ => {
                    self.boundary_ts = Some(at);
                    self.boundary_ids.clear();
                    self.boundary_ids.insert(r.value.id);
                }
            }
            fresh.push(r);
        }
        if !full || next.is_none() {
            self.done = true;
        } else if self.boundary_ts.is_some_and(|b| b > self.since) {
            // Keyset paging: restart at page 1 from the last row's `updated_at` after every
            // page. Offset paging skips a row whenever an earlier row is edited, spammed or
            // deleted mid-walk (everything behind it shifts back by one); restarting from a
            // timestamp cannot, costs no extra call, and never meets the 300-page wall.
            if let Err(e) = self.roll() {
                self.pending = Some(e);
            }
        } else if self.page >= TICKETS_PAGE_WALL {
            // A whole page shared `since`: the tie is walked by page number, up to the wall.
            self.done = true;
            self.pending = Some(Error::PagingStalled {
                at: format_since(self.since),
            });
        } else {
            self.page += 1;
        }
        Some(Ok(fresh))
    }
}

/// Every ticket updated at or after `q.updated_since`, oldest change first, across the wall.
pub fn tickets(
    client: Client,
    q: TicketQuery,
    priority: Priority,
) -> impl Stream<Item = Result<Vec<Record<Ticket>>, Error>> + Send {
    let walk = TicketWalk {
        since: q.updated_since,
        client,
        q,
        priority,
        page: 1,
        boundary_ids: HashSet::new(),
        boundary_ts: None,
        done: false,
        pending: None,
    };
    futures_util::stream::unfold(walk, |mut w| async move {
        let item = w.step().await?;
        Some((item, w))
    })
}

/// Every page of a ticket search (`query` without its surrounding quotes), up to the tenth.
pub fn search_tickets(
    client: Client,
    query: String,
    priority: Priority,
) -> impl Stream<Item = Result<Vec<Record<Ticket>>, Error>> + Send {
    futures_util::stream::unfold(Some(1u32), move |page| {
        let client = client.clone();
        let query = query.clone();
        async move {
            let page = page?;
            let encoded: String =
                url::form_urlencoded::byte_serialize(format!("\"{query}\"").as_bytes()).collect();
            let url = match client.url(&format!("search/tickets?query={encoded}&page={page}")) {
                Ok(u) => u,
                Err(e) => return Some((Err(e), None)),
            };
            let reply = match client
                .send(reqwest::Method::GET, url, None, priority, false)
                .await
            {
                Ok(r) => r,
                Err(e) => return Some((Err(e), None)),
            };
            #[derive(serde::Deserialize)]
            struct Shape<'a> {
                #[serde(borrow)]
                results: Vec<&'a RawValue>,
            }
            let parsed: Result<Vec<Record<Ticket>>, Error> =
                serde_json::from_slice::<Shape>(&reply.body)
                    .map_err(|e| Error::Decode(e.to_string()))
                    .and_then(|s| {
                        s.results
                            .into_iter()
                            .map(|r| Record::parse(r).map_err(|e| Error::Decode(e.to_string())))
                            .collect()
                    });
            match parsed {
                Ok(items) => {
                    let next = (items.len() >= 30 && page < SEARCH_MAX_PAGE).then_some(page + 1);
                    Some((Ok(items), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    })
}
