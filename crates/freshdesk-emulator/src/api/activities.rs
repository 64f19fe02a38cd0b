//! `GET /export/ticket_activities?created_at=YYYY-MM-DD`: one day's ticket activities, as a file
//! at a link. Freshdesk answers with `{"export": [{"url": …}]}` pointing at a file in its storage
//! that anyone holding the link can read; here the file is made when asked, kept in memory, and
//! served at `/exports/{token}.json` on the same host without a key, as such a link is.
//!
//! Each activity is one set of tracked-field changes a ticket took at one moment by one
//! performer (from the ticket's field history), or one conversation added to it. Shape
//! (UNCONFIRMED beyond the documented top level; written down in the README):
//! `{"activities_data": [{"performer_type", "performer_id", "ticket_id", "performed_at",
//! "activity": {…}}]}`, ordered by time.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::error::FieldError;
use super::{ApiError, Reply, Req, Viewer};
use crate::automations::{STATUS, name};
use crate::model::{HelpDesk, Ticket};
use crate::util::{format_ts, parse_ts};

/// How many export files stay reachable at once.
const KEPT_FILES: usize = 16;

/// `customer` → a contact; `simulated_agent:<id>` and `api_key:<id>` → that agent; `control`
/// (changes made behind the API) → the system.
fn performer(by: &str, requester: i64) -> (&'static str, Option<i64>) {
    match by.split_once(':') {
        Some((_, id)) => ("agent", id.parse().ok()),
        None if by == "customer" => ("contact", Some(requester)),
        None => ("system", None),
    }
}

fn field_activity(field: &str, value: &Value, out: &mut Map<String, Value>) {
    match field {
        "status" => {
            let name = value.as_i64().map(|s| json!(name(&STATUS, 2, s)));
            out.insert("status".into(), name.unwrap_or_else(|| value.clone()));
        }
        "responder_id" => {
            out.insert("agent_id".into(), value.clone());
        }
        "ticket_type" => {
            out.insert("ticket_type".into(), value.clone());
        }
        "cf_category" => {
            let custom = out
                .entry("custom_fields")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            if let Some(custom) = custom {
                custom.insert("cf_category".into(), value.clone());
            }
        }
        other => {
            out.insert(other.into(), value.clone());
        }
    }
}

/// Every activity of `t` and its thread between `from` (inclusive) and `to` (exclusive).
fn activities_of(desk: &HelpDesk, t: &Ticket, from: i64, to: i64, out: &mut Vec<Value>) {
    let mut sets: BTreeMap<(i64, String), Map<String, Value>> = BTreeMap::new();
    for change in t.history.iter().filter(|c| (from..to).contains(&c.at)) {
        let set = sets.entry((change.at, change.by.clone())).or_default();
        field_activity(change.field, &change.value, set);
        if change.at == t.created_at && change.by == "customer" {
            set.insert("new_ticket".into(), json!(true));
        }
    }
    for ((at, by), activity) in sets {
        let (kind, id) = performer(&by, t.requester_id);
        out.push(json!({
            "performer_type": kind,
            "performer_id": id,
            "ticket_id": t.id,
            "performed_at": format_ts(at),
            "activity": activity,
        }));
    }
    for c in desk
        .conversations_of(t.id)
        .into_iter()
        .filter(|c| (from..to).contains(&c.created_at))
    {
        let kind = match (c.source, c.private) {
            (2, true) => "private note",
            (2, false) => "public note",
            (8, _) => "forward",
            _ if c.incoming => "customer reply",
            _ => "reply",
        };
        let by_agent = desk.agents.contains_key(&c.user_id);
        out.push(json!({
            "performer_type": if by_agent { "agent" } else { "contact" },
            "performer_id": c.user_id,
            "ticket_id": t.id,
            "performed_at": format_ts(c.created_at),
            "activity": {"note": {"id": c.id, "type": kind}},
        }));
    }
}

/// The file for one day: every activity on live and archived tickets, oldest first.
pub fn day_file(desk: &HelpDesk, from: i64) -> Vec<u8> {
    let to = from + 86_400;
    let mut all = Vec::new();
    for t in desk.tickets.values().chain(desk.archived.values()) {
        activities_of(desk, t, from, to, &mut all);
    }
    all.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["performed_at"].as_str().unwrap_or("").to_string(),
                v["ticket_id"].as_i64(),
            )
        };
        key(a).cmp(&key(b))
    });
    serde_json::to_vec(&json!({ "activities_data": all })).unwrap_or_default()
}

/// `GET /export/ticket_activities`: admins only; `created_at` is a past or present day.
pub fn export(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    v.require_admin()?;
    let day = req.query.get("created_at").unwrap_or_default().to_string();
    if day.is_empty() {
        return Err(ApiError::field(FieldError::missing("created_at")));
    }
    let valid = day.len() == 10 && day.as_bytes()[4] == b'-';
    let from = parse_ts(&day)
        .filter(|_| valid)
        .filter(|d| *d <= req.now)
        .ok_or_else(|| {
            ApiError::field(FieldError::invalid_value(
                "created_at",
                "It should be a date in the 'YYYY-MM-DD' format, not in the future",
            ))
        })?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut files = desk.exports.lock();
    // Each file holds a day of the help desk: keep a few, not every one ever asked for.
    if files.len() >= KEPT_FILES {
        files.pop_front();
    }
    files.push_back((token.clone(), day_file(desk, from)));
    drop(files);
    Ok(Reply::value(&json!({
        "export": [{"url": format!("{}/exports/{token}.json", req.origin)}]
    })))
}
