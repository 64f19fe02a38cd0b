//! Reading the synced copy: a stream's records in the order deskbridge changed them,
//! from an opaque cursor, deletions included. The order and the tombstones come from the sync's
//! change feed (`sync::changes`); this module owns the reading rules: which streams exist, page
//! sizes, `since`, and cursors, which are signed with the integration's own key so that a cursor
//! of another integration or stream, or one made up, is refused instead of read.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::connections::{self, ConnectError};
use crate::store::Store;
use crate::sync::Target;
use crate::sync::changes::{self, Change, FEEDS, Feed};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("the records could not be read")]
    Store(#[from] sqlx::Error),
    #[error("the change notification could not be queued")]
    Queue(#[from] crate::jobs::QueueError),
    #[error("there is no stream {0:?}; the streams are: {names}", names = stream_names().join(", "))]
    UnknownStream(String),
    #[error("limit must be a whole number from 1 to {MAX_LIMIT}")]
    BadLimit,
    #[error("since must be a time in RFC 3339 form, such as 2026-01-31T09:00:00Z")]
    BadSince,
    #[error("{0}")]
    BadCursor(&'static str),
    #[error("not found")]
    NotFound,
}

impl From<ConnectError> for RecordsError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::NotFound => RecordsError::NotFound,
            ConnectError::Store(crate::store::StoreError::Query(q)) => RecordsError::Store(q),
            // Reading an integration row fails only by not finding it or on the database.
            _ => RecordsError::NotFound,
        }
    }
}

pub fn stream_names() -> Vec<&'static str> {
    FEEDS.iter().map(|f| f.name).collect()
}

/// What a consumer asked for, as it arrived: every field is checked by [`list`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct Query {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub since: Option<String>,
}

/// One page: the records, and where the next page starts (also when this one was empty: a
/// consumer keeps it and asks again later).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = RecordsPage)]
pub struct Page {
    #[schema(example = "tickets")]
    pub stream: &'static str,
    pub records: Vec<Record>,
    pub next_cursor: String,
}

/// A record as the API serves it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Record {
    pub id: i64,
    /// When deskbridge changed it (RFC 3339).
    #[schema(format = DateTime, example = "2026-12-06T08:00:00Z")]
    pub changed_at: String,
    /// Spam, trashed, purged or deleted in Freshdesk, or gone from the copy: a tombstone.
    pub deleted: bool,
    /// `live`, `spam`, `deleted` or `purged`, for streams that keep a state.
    pub state: Option<String>,
    /// The typed columns deskbridge keeps.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The record's Freshdesk JSON; null for a record deleted outright.
    #[schema(value_type = Option<Object>)]
    pub raw: Option<Box<serde_json::value::RawValue>>,
}

impl From<Change> for Record {
    fn from(c: Change) -> Record {
        Record {
            id: c.id,
            changed_at: chrono::DateTime::from_timestamp(c.changed_at, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            deleted: c.deleted,
            state: c.state,
            fields: c.fields,
            raw: c.raw,
        }
    }
}

/// A position in one integration's stream, signed with that integration's cursor key.
#[derive(Debug)]
struct Cursor {
    integration_id: i64,
    stream: String,
    seq: i64,
}

const CURSOR_VERSION: &str = "c1";

fn mac(key: &str, body: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    m.update(body.as_bytes());
    let tag = m.finalize().into_bytes();
    tag[..16].iter().map(|b| format!("{b:02x}")).collect()
}

const FORGED: &str =
    "this cursor was not issued by deskbridge: start again without one, or with since";
const ELSEWHERE: &str = "this cursor belongs to another integration or stream: use the cursor this stream's pages returned";

impl Cursor {
    fn body(&self) -> String {
        format!(
            "{CURSOR_VERSION}.{}.{}.{}",
            self.integration_id, self.stream, self.seq
        )
    }

    fn encode(&self, key: &str) -> String {
        let body = self.body();
        let signed = format!("{body}.{}", mac(key, &body));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed)
    }

    /// The cursor a consumer sent, read but not yet trusted, with its signature.
    fn parse(text: &str) -> Result<(Cursor, String), RecordsError> {
        let forged = || RecordsError::BadCursor(FORGED);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| forged())?;
        let text = String::from_utf8(bytes).map_err(|_| forged())?;
        let parts: Vec<&str> = text.split('.').collect();
        let [CURSOR_VERSION, integration, stream, seq, tag] = parts.as_slice() else {
            return Err(forged());
        };
        let cursor = Cursor {
            integration_id: integration.parse().map_err(|_| forged())?,
            stream: stream.to_string(),
            seq: seq.parse().map_err(|_| forged())?,
        };
        Ok((cursor, tag.to_string()))
    }

    /// The position a cursor names in this integration's `stream`: it must be this stream's and
    /// signed with this integration's key.
    fn read(text: &str, integration_id: i64, stream: &str, key: &str) -> Result<i64, RecordsError> {
        let (c, tag) = Cursor::parse(text)?;
        // Checked before the signature, so a cursor of another integration says so plainly.
        if c.integration_id != integration_id || c.stream != stream {
            return Err(RecordsError::BadCursor(ELSEWHERE));
        }
        if mac(key, &c.body()) != tag {
            return Err(RecordsError::BadCursor(FORGED));
        }
        Ok(c.seq)
    }
}

fn limit_of(q: &Query) -> Result<i64, RecordsError> {
    match q.limit.as_deref() {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(RecordsError::BadLimit),
        },
    }
}

/// One page of `stream` of integration `integration_id` in organisation `org_id`.
pub async fn list(
    store: &Store,
    org_id: i64,
    integration_id: i64,
    stream: &str,
    q: &Query,
) -> Result<Page, RecordsError> {
    connections::get(store, org_id, integration_id).await?;
    let feed = Feed::named(stream).ok_or_else(|| RecordsError::UnknownStream(stream.into()))?;
    let limit = limit_of(q)?;
    let since = match q.since.as_deref() {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .map_err(|_| RecordsError::BadSince)?
                .timestamp(),
        ),
    };
    let t = Target {
        org_id,
        integration_id,
    };
    let key = changes::cursor_key(store, t).await?;
    let after = match q.cursor.as_deref() {
        None => 0,
        Some(text) => Cursor::read(text, integration_id, feed.name, &key)?,
    };
    // `since` picks the starting point; once a cursor is given it alone says where to go on.
    let since = if q.cursor.is_some() { None } else { since };
    let rows = changes::page(store, t, feed, after, since, limit).await?;
    let last = rows.last().map_or(after, |c| c.seq);
    let next_cursor = Cursor {
        integration_id,
        stream: feed.name.into(),
        seq: last,
    }
    .encode(&key);
    Ok(Page {
        stream: feed.name,
        records: rows.into_iter().map(Record::from).collect(),
        next_cursor,
    })
}

/// One stream's part of a change notification: how many of its records changed, and the
/// cursor to read them from.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StreamChanges {
    pub stream: String,
    pub changed: i64,
    pub cursor: String,
}

/// What changed after position `after` of the integration's feed (every stream shares one
/// sequence), with the position to ask from next; `None` asks where the feed is now.
pub async fn changed_since(
    store: &Store,
    org_id: i64,
    integration_id: i64,
    after: Option<i64>,
) -> Result<(i64, Vec<StreamChanges>), RecordsError> {
    connections::get(store, org_id, integration_id).await?;
    let t = Target {
        org_id,
        integration_id,
    };
    let Some(after) = after else {
        return Ok((changes::head(store, t).await?, Vec::new()));
    };
    let counts = changes::counts_after(store, t, after).await?;
    if counts.is_empty() {
        return Ok((after, Vec::new()));
    }
    let key = changes::cursor_key(store, t).await?;
    let newest = counts.iter().map(|(_, _, max)| *max).max().unwrap_or(after);
    let streams = counts
        .into_iter()
        .map(|(stream, changed, _)| {
            let cursor = Cursor {
                integration_id,
                stream: stream.clone(),
                seq: after,
            };
            StreamChanges {
                cursor: cursor.encode(&key),
                stream,
                changed,
            }
        })
        .collect();
    Ok((newest, streams))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_any_change_to_it_is_refused() {
        let c = Cursor {
            integration_id: 7,
            stream: "tickets".into(),
            seq: 42,
        };
        let text = c.encode("k1");
        assert_eq!(Cursor::read(&text, 7, "tickets", "k1").unwrap(), 42);
        assert!(
            Cursor::read(&text, 7, "tickets", "k2").is_err(),
            "another key"
        );
        assert!(
            Cursor::read(&text, 8, "tickets", "k1").is_err(),
            "another integration"
        );
        assert!(
            Cursor::read(&text, 7, "contacts", "k1").is_err(),
            "another stream"
        );
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("c1.7.tickets.43.00000000000000000000000000000000");
        assert!(
            Cursor::read(&forged, 7, "tickets", "k1").is_err(),
            "a made-up seq"
        );
        assert!(Cursor::read("not base64!", 7, "tickets", "k1").is_err());
    }

    #[test]
    fn limits_outside_one_to_a_thousand_are_refused() {
        let q = |l: &str| Query {
            limit: Some(l.into()),
            ..Query::default()
        };
        assert_eq!(limit_of(&Query::default()).unwrap(), 100);
        assert_eq!(limit_of(&q("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert!(limit_of(&q(bad)).is_err(), "{bad}");
        }
    }
}
