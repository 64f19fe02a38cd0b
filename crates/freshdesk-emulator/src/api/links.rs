//! Tickets that involve other tickets: merging duplicates into a primary ticket, parent–child and
//! tracker–related links (`associated_tickets`, `prime_association`, and the `parent_id` and
//! `related_ticket_ids` of a create), and archived tickets, which leave every list and are read
//! only through `/tickets/archived/{id}`.
//!
//! Where the reference gives no shape (it names these endpoints only), the choices are written
//! down in the crate README under "Linked, merged and archived tickets".

use serde_json::{Map, Value, json};

use super::error::FieldError;
use super::tickets::{self, Kind, writable};
use super::writes::{flag, unknown};
use super::{ApiError, Reply, Req, Viewer, json_body, listed};
use crate::model::{Association, HelpDesk, Trash};
use crate::render;

type Answer = Result<Reply, ApiError>;

/// A list of ticket ids under `key`: present, a non-empty array of integers.
fn id_list(body: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Vec<i64> {
    match body.get(key) {
        None => {
            errors.push(FieldError::missing(key));
            Vec::new()
        }
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_i64) => {
            let mut ids: Vec<i64> = items.iter().filter_map(Value::as_i64).collect();
            ids.dedup();
            ids
        }
        Some(_) => {
            errors.push(FieldError::mismatch(
                key,
                "It should be a/an Array of Positive Integers",
            ));
            Vec::new()
        }
    }
}

/// A merge note: `{"body": "…", "private": bool}`, `None` when not given.
fn note(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, bool)> {
    let v = body.get(key)?;
    let Some(obj) = v.as_object() else {
        errors.push(FieldError::mismatch(
            key,
            "It should be a/an key/value pair",
        ));
        return None;
    };
    let text = obj.get("body").and_then(Value::as_str).map(str::to_string);
    let private = obj.get("private").map(Value::as_bool);
    match (text, private) {
        (Some(t), None | Some(Some(_))) if !t.trim().is_empty() => {
            Some((t, private.flatten().unwrap_or(true)))
        }
        (_, Some(None)) => {
            errors.push(FieldError::mismatch(
                format!("{key}.private"),
                "It should be a/an Boolean",
            ));
            None
        }
        _ => {
            errors.push(FieldError::missing(format!("{key}.body")));
            None
        }
    }
}

/// Adds a note to a ticket as the caller, through the same path as `POST /tickets/{id}/notes`.
fn add_note(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64, text: &str, private: bool) {
    let body = json!({"body": text, "private": private}).to_string();
    let each = Req {
        method: "POST",
        body: body.as_bytes(),
        query: req.query.clone(),
        origin: req.origin.clone(),
        ..*req
    };
    // Checked writable above; a note on a live ticket cannot fail.
    let _ = tickets::add_conversation(desk, &each, v, id, Kind::Note);
}

/// What a merge request may hold (Freshdesk spells `recepients` so).
const MERGE_FIELDS: [&str; 5] = [
    "primary_id",
    "ticket_ids",
    "note_in_primary",
    "note_in_secondary",
    "convert_recepients_to_cc",
];

/// `PUT /tickets/merge`: the secondary tickets are closed with a note saying where they went,
/// and the primary gets a note naming them (or the notes the caller wrote). With
/// `convert_recepients_to_cc` the secondaries' requesters join the primary's CC list. 204.
pub fn merge(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Answer {
    let body = json_body(req)?;
    let mut errors = unknown(&body, &MERGE_FIELDS);
    let primary = match body.get("primary_id") {
        None => {
            errors.push(FieldError::missing("primary_id"));
            None
        }
        Some(p) => match p.as_i64() {
            Some(id) => Some(id),
            None => {
                errors.push(FieldError::mismatch(
                    "primary_id",
                    "It should be a/an Positive Integer",
                ));
                None
            }
        },
    };
    let ids = id_list(&body, "ticket_ids", &mut errors);
    let in_primary = note(&body, "note_in_primary", &mut errors);
    let in_secondary = note(&body, "note_in_secondary", &mut errors);
    let to_cc = flag(&body, "convert_recepients_to_cc", &mut errors).unwrap_or(false);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let primary = primary.unwrap_or_default();
    let secondaries: Vec<i64> = ids.into_iter().filter(|id| *id != primary).collect();
    if secondaries.is_empty() {
        return Err(ApiError::field(FieldError::invalid_value(
            "ticket_ids",
            "It should name at least one ticket other than primary_id",
        )));
    }
    // Every ticket must exist, be visible and live before anything changes.
    let missing: Vec<String> = std::iter::once(primary)
        .chain(secondaries.iter().copied())
        .filter(|id| writable(desk, req, v, *id).is_err())
        .map(|id| id.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::field(FieldError::invalid_value(
            "ticket_ids",
            format!(
                "There are no records matching the ids: '{}'",
                missing.join(", ")
            ),
        )));
    }
    let now = req.now;
    let by = format!("api_key:{}", v.id);
    let mut cc: Vec<String> = Vec::new();
    for id in &secondaries {
        let (text, private) = in_secondary.clone().unwrap_or_else(|| {
            (
                format!("This ticket is closed and merged into ticket #{primary}"),
                true,
            )
        });
        add_note(desk, req, v, *id, &text, private);
        if let Some(t) = desk.tickets.get_mut(id) {
            let before = t.tracked();
            tickets::apply_status(t, 5, now);
            t.record_changes(&before, &by, now);
            if to_cc
                && let Some(email) = desk
                    .contacts
                    .get(&t.requester_id)
                    .and_then(|c| c.email.clone())
            {
                cc.push(email);
            }
        }
        desk.touch_ticket(*id, now);
    }
    let list: Vec<String> = secondaries.iter().map(|i| format!("#{i}")).collect();
    let (text, private) = in_primary.unwrap_or_else(|| {
        (
            format!("Tickets {} were merged into this ticket", list.join(", ")),
            true,
        )
    });
    add_note(desk, req, v, primary, &text, private);
    if let Some(t) = desk.tickets.get_mut(&primary) {
        let own = desk
            .contacts
            .get(&t.requester_id)
            .and_then(|c| c.email.clone());
        for email in cc {
            if Some(&email) != own.as_ref() && !t.cc_emails.contains(&email) {
                t.cc_emails.push(email);
            }
        }
    }
    desk.touch_ticket(primary, now);
    let mut reply = Reply::no_content();
    reply.touched = std::iter::once(primary).chain(secondaries).collect();
    Ok(reply)
}

/// `parent_id` (a child of that ticket) or `related_ticket_ids` (a tracker of those tickets) on
/// a new ticket: taken out of `body`, checked, and returned as the link to make once it exists.
pub fn link_on_create(
    desk: &HelpDesk,
    v: &Viewer,
    body: &mut Map<String, Value>,
) -> Result<Option<Association>, ApiError> {
    let parent = body.remove("parent_id");
    let related = body.remove("related_ticket_ids");
    let mut errors = Vec::new();
    let usable = |id: i64| {
        desk.tickets
            .get(&id)
            .is_some_and(|t| v.can_see(t) && !t.spam && t.trash == Trash::Live)
    };
    let link = match (parent, related) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::invalid_value(
                "parent_id",
                "parent_id and related_ticket_ids cannot be given together",
            ));
            None
        }
        (Some(p), None) => match p.as_i64() {
            Some(id) if !usable(id) => {
                errors.push(FieldError::invalid_value(
                    "parent_id",
                    "There is no ticket matching the given parent_id",
                ));
                None
            }
            // A child cannot itself be a parent, and a linked ticket cannot take another link.
            Some(id)
                if desk.tickets[&id]
                    .association
                    .as_ref()
                    .is_some_and(|a| a.kind != 1) =>
            {
                errors.push(FieldError::invalid_value(
                    "parent_id",
                    "The ticket given as parent_id cannot be a parent",
                ));
                None
            }
            Some(id) => Some(Association {
                kind: 2,
                with: vec![id],
            }),
            None => {
                errors.push(FieldError::mismatch(
                    "parent_id",
                    "It should be a/an Positive Integer",
                ));
                None
            }
        },
        (None, Some(r)) => {
            let mut holder = Map::new();
            holder.insert("related_ticket_ids".into(), r);
            let ids = id_list(&holder, "related_ticket_ids", &mut errors);
            let bad: Vec<String> = ids
                .iter()
                .filter(|id| !usable(**id) || desk.tickets[id].association.is_some())
                .map(|id| id.to_string())
                .collect();
            if !bad.is_empty() {
                errors.push(FieldError::invalid_value(
                    "related_ticket_ids",
                    format!("These tickets cannot be linked: '{}'", bad.join(", ")),
                ));
            }
            (!ids.is_empty()).then_some(Association { kind: 3, with: ids })
        }
        (None, None) => None,
    };
    if errors.is_empty() {
        Ok(link)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Makes the other side of a new ticket's link: its parent becomes a parent (or gains a
/// child), or the tickets it tracks become related to it.
pub fn link_created(desk: &mut HelpDesk, id: i64, link: &Association, now: i64) {
    let (kind, others) = match link.kind {
        2 => (1, link.with.clone()),
        _ => (4, link.with.clone()),
    };
    for other in others {
        if let Some(t) = desk.tickets.get_mut(&other) {
            match (&mut t.association, kind) {
                (Some(a), 1) => a.with.push(id),
                (slot, _) => {
                    *slot = Some(Association {
                        kind,
                        with: vec![id],
                    })
                }
            }
        }
        desk.touch_ticket(other, now);
    }
}

/// `GET /tickets/{id}/associated_tickets`: a parent's children or a tracker's related tickets;
/// 404 for a ticket that leads no link.
pub fn associated(desk: &HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    let t = tickets::visible(desk, v, id)?;
    let a = t
        .association
        .as_ref()
        .filter(|a| a.leads())
        .ok_or(ApiError::NotFound)?;
    let rows: Vec<_> = a
        .with
        .iter()
        .filter_map(|i| desk.tickets.get(i))
        .filter(|t| v.can_see(t))
        .collect();
    listed(req, rows.into_iter(), |t| render::ticket_detail(t, false))
}

/// `GET /tickets/{id}/prime_association`: a child's parent or a related ticket's tracker; 404
/// for a ticket that is neither.
pub fn prime(desk: &HelpDesk, v: &Viewer, id: i64) -> Answer {
    let t = tickets::visible(desk, v, id)?;
    let lead = t
        .association
        .as_ref()
        .filter(|a| !a.leads())
        .and_then(|a| a.with.first())
        .ok_or(ApiError::NotFound)?;
    let lead = tickets::visible(desk, v, *lead)?;
    Ok(Reply::value(&render::ticket_detail(lead, false)))
}

/// Archives every closed ticket nobody has touched for `days` days, as Freshdesk's nightly job
/// does (120 days by default there); the ids archived, in order.
pub fn archive_inactive(desk: &mut HelpDesk, days: i64, now: i64) -> Vec<i64> {
    let cutoff = now - days * 86_400;
    let due: Vec<i64> = desk
        .tickets
        .values()
        .filter(|t| t.status == 5 && t.updated_at <= cutoff && t.trash == Trash::Live && !t.spam)
        .map(|t| t.id)
        .collect();
    for id in &due {
        if let Some(t) = desk.remove_ticket_keep_thread(*id) {
            desk.archived.insert(*id, t);
        }
    }
    due
}

fn archived_visible<'a>(
    desk: &'a HelpDesk,
    v: &Viewer,
    id: i64,
) -> Result<&'a crate::model::Ticket, ApiError> {
    let t = desk.archived.get(&id).ok_or(ApiError::NotFound)?;
    if !v.can_see(t) {
        return Err(ApiError::access_denied());
    }
    Ok(t)
}

/// `GET /tickets/archived/{id}`: the ticket as it was when archived, with its stats, marked
/// `archived: true`.
pub fn archived_show(desk: &HelpDesk, v: &Viewer, id: i64) -> Answer {
    let t = archived_visible(desk, v, id)?;
    let mut view = render::ticket_detail(t, true);
    view["archived"] = json!(true);
    Ok(Reply::value(&view))
}

/// `GET /tickets/archived/{id}/conversations`: its thread, paged as a live ticket's is.
pub fn archived_conversations(desk: &HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    archived_visible(desk, v, id)?;
    listed(req, desk.conversations_of(id).into_iter(), |c| {
        render::conversation(c)
    })
}

/// `DELETE /tickets/archived/{id}`: gone for good, with its thread (admins only). 204.
pub fn archived_delete(desk: &mut HelpDesk, v: &Viewer, id: i64) -> Answer {
    v.require_admin()?;
    archived_visible(desk, v, id)?;
    desk.archived.remove(&id);
    desk.remove_thread(id);
    Ok(Reply::no_content())
}
