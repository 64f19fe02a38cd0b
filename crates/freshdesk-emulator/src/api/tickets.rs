//! Tickets and their conversations: the list with its 30-day default window, filters, orderings and
//! the 300-page wall; the single view with its embeds; create, update, delete, restore, reply and
//! notes with Freshdesk's validation messages.

use serde_json::{Map, Value, json};

use super::error::{ApiError, FieldError};
use super::query::{date_param, one_of, paging, paging_into, positive_id};
use super::{Reply, Req, Viewer, json_body, page_reply, take_page};
use crate::model::{Contact, Conversation, HelpDesk, Ticket, Trash};
use crate::render::{self, TicketIncludes, TicketView};
use crate::util::{html_escape, html_to_text};

const LIST_PARAMS: &[&str] = &[
    "filter",
    "requester_id",
    "email",
    "unique_external_id",
    "company_id",
    "updated_since",
    "order_by",
    "order_type",
    "include",
    "page",
    "per_page",
];
const FILTERS: &[&str] = &["new_and_my_open", "watching", "spam", "deleted"];
const ORDER_BY: &[&str] = &["due_by", "created_at", "updated_at", "priority", "status"];
const LIST_INCLUDES: &[&str] = &["requester", "stats", "company", "description"];
const SHOW_INCLUDES: &[&str] = &[
    "conversations",
    "requester",
    "company",
    "stats",
    "sla_policy",
];
pub const MAX_PAGE: u32 = 300;
const THIRTY_DAYS: i64 = 30 * 86_400;

fn includes(req: &Req, allowed: &[&str], sep: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    let Some(raw) = req.query.get("include") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim) {
        if allowed.contains(&part) {
            if !out.iter().any(|p| p == part) {
                out.push(part.to_string());
            }
        } else {
            errors.push(FieldError::invalid_value(
                "include",
                format!("It should be one of these values: '{}'", allowed.join(sep)),
            ));
            break;
        }
    }
    out
}

pub fn list(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    let q = &req.query;
    let mut errors = q.only(LIST_PARAMS);
    let filter = one_of(q, "filter", FILTERS, &mut errors);
    let order_by =
        one_of(q, "order_by", ORDER_BY, &mut errors).unwrap_or_else(|| "created_at".into());
    let asc = one_of(q, "order_type", &["asc", "desc"], &mut errors).as_deref() == Some("asc");
    let since = date_param(q, "updated_since", &mut errors);
    let requester_id = positive_id(q, "requester_id", &mut errors);
    let company_id = positive_id(q, "company_id", &mut errors);
    let inc = includes(req, LIST_INCLUDES, ", ", &mut errors);
    let (page, per_page) = paging_into(q, 30, &mut errors);
    if page > MAX_PAGE && errors.is_empty() {
        errors.push(FieldError::invalid_value("page", "You cannot access tickets beyond the 300th page. Please provide a smaller page number."));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let email_requester: Option<Option<i64>> = q.get("email").map(|e| desk.contact_with_email(e));
    let external: Option<Option<i64>> = q.get("unique_external_id").map(|x| {
        desk.contacts
            .values()
            .find(|c| c.unique_external_id.as_deref() == Some(x))
            .map(|c| c.id)
    });
    // The 30-day default applies when nothing else narrows the list. Which parameters lift it is
    // not settled by any source; this emulator lifts it for `updated_since`, `filter` and the
    // requester and company filters (see the crate README).
    let window = if since.is_none()
        && filter.is_none()
        && requester_id.is_none()
        && company_id.is_none()
        && email_requester.is_none()
        && external.is_none()
    {
        Some(req.now - THIRTY_DAYS)
    } else {
        None
    };
    let pred = |t: &&Ticket| -> bool {
        let state_ok = match filter.as_deref() {
            Some("spam") => t.spam && t.trash == Trash::Live,
            Some("deleted") => t.trash == Trash::Deleted,
            _ => !t.spam && t.trash == Trash::Live,
        };
        state_ok
            && match filter.as_deref() {
                Some("new_and_my_open") => {
                    t.status == 2 && (t.responder_id.is_none() || t.responder_id == Some(v.id))
                }
                Some("watching") => t.watchers.contains(&v.id),
                _ => true,
            }
            && since.is_none_or(|s| t.updated_at >= s)
            && window.is_none_or(|w| t.created_at >= w)
            && requester_id.is_none_or(|r| t.requester_id == r)
            && company_id.is_none_or(|c| t.company_id == Some(c))
            && email_requester.is_none_or(|r| r == Some(t.requester_id))
            && external.is_none_or(|r| r == Some(t.requester_id))
            && v.can_see(t)
    };
    // Sequential paging resumes from a remembered cursor (see `PageCursor`).
    let cursor_key = matches!(order_by.as_str(), "created_at" | "updated_at").then(|| {
        format!(
            "{}|{}|{:?}|{order_by}|{asc}|{window:?}|{per_page}|{}",
            v.id,
            v.scope,
            v.groups,
            q.with_page(0)
        )
    });
    let resume = cursor_key.as_ref().and_then(|k| {
        let c = *desk.page_cursors.lock().get(k)?;
        (c.version == desk.version && c.next_page == page).then_some(c.last)
    });
    let (skip_page, from) = match resume {
        Some(last) => (1, Some(last)),
        None => (page, None),
    };
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let rows: Vec<&Ticket> = match (order_by.as_str(), asc) {
        ("created_at", true) => {
            let start = from.map_or(Unbounded, |(_, id)| Excluded(id));
            take_page(
                desk.tickets
                    .range((start, Unbounded))
                    .map(|(_, t)| t)
                    .filter(pred),
                skip_page,
                per_page,
            )
        }
        ("created_at", false) => {
            let end = from.map_or(Unbounded, |(_, id)| Excluded(id));
            take_page(
                desk.tickets
                    .range((Unbounded, end))
                    .rev()
                    .map(|(_, t)| t)
                    .filter(pred),
                skip_page,
                per_page,
            )
        }
        ("updated_at", true) => {
            let start = match from {
                Some(last) => Excluded(last),
                None => Included((since.unwrap_or(i64::MIN), i64::MIN)),
            };
            take_page(
                desk.by_updated
                    .range((start, Unbounded))
                    .map(|(_, id)| &desk.tickets[id])
                    .filter(pred),
                skip_page,
                per_page,
            )
        }
        ("updated_at", false) => {
            let end = from.map_or(Unbounded, Excluded);
            take_page(
                desk.by_updated
                    .range((Unbounded, end))
                    .rev()
                    .map(|(_, id)| &desk.tickets[id])
                    .filter(pred),
                skip_page,
                per_page,
            )
        }
        (key, _) => {
            let mut all: Vec<&Ticket> = desk.tickets.values().filter(pred).collect();
            let k = |t: &Ticket| -> i64 {
                match key {
                    "due_by" => t.due_by,
                    "priority" => t.priority,
                    _ => t.status,
                }
            };
            all.sort_by_key(|t| (k(t), t.id));
            if !asc {
                all.reverse();
            }
            take_page(all.into_iter(), page, per_page)
        }
    };
    if let Some(key) = cursor_key {
        let mut cursors = desk.page_cursors.lock();
        if cursors.len() > 1_000 {
            cursors.clear();
        }
        match rows.get(per_page as usize - 1) {
            Some(last) if rows.len() > per_page as usize => {
                let position = if order_by == "updated_at" {
                    (last.updated_at, last.id)
                } else {
                    (last.id, last.id)
                };
                cursors.insert(
                    key,
                    crate::model::PageCursor {
                        version: desk.version,
                        next_page: page + 1,
                        last: position,
                    },
                );
            }
            _ => {
                cursors.remove(&key);
            }
        }
    }
    let want = |name: &str| inc.iter().any(|i| i == name);
    let (description, requester, company, stats) = (
        want("description"),
        want("requester"),
        want("company"),
        want("stats"),
    );
    let mut reply = super::page_reply_direct(req, page, per_page, rows, |t| TicketView {
        t,
        inc: ticket_includes(desk, t, description, requester, company, stats, None, false),
    });
    reply.extra_credits = inc.iter().filter(|i| *i != "description").count() as u32 * 2;
    Ok(reply)
}

fn requester_of(desk: &HelpDesk, id: i64) -> Option<&Contact> {
    desk.contacts.get(&id)
}

fn ticket_includes<'a>(
    desk: &'a HelpDesk,
    t: &Ticket,
    description: bool,
    requester: bool,
    company: bool,
    stats: bool,
    conversations: Option<Vec<&'a Conversation>>,
    detail: bool,
) -> TicketIncludes<'a> {
    TicketIncludes {
        description,
        requester: requester.then(|| requester_of(desk, t.requester_id)),
        requester_agent: if requester {
            desk.agents.get(&t.requester_id)
        } else {
            None
        },
        company: company.then(|| t.company_id.and_then(|c| desk.companies.get(&c))),
        stats,
        conversations,
        detail,
    }
}

/// Looks a ticket up for the single-ticket endpoints: 404 when absent, 403 when purging or out of
/// the caller's scope.
pub fn visible<'a>(desk: &'a HelpDesk, v: &Viewer, id: i64) -> Result<&'a Ticket, ApiError> {
    let t = desk.tickets.get(&id).ok_or(ApiError::NotFound)?;
    if t.trash == Trash::Purging || !v.can_see(t) {
        return Err(ApiError::access_denied());
    }
    Ok(t)
}

pub fn show(desk: &HelpDesk, req: &Req, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    let mut errors = Vec::new();
    let inc = includes(req, SHOW_INCLUDES, ", ", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let t = visible(desk, v, id)?;
    let want = |name: &str| inc.iter().any(|i| i == name);
    let convs = want("conversations").then(|| {
        let mut list = desk.conversations_of(id);
        list.truncate(10);
        list
    });
    let view = TicketView {
        t,
        inc: ticket_includes(
            desk,
            t,
            true,
            want("requester"),
            want("company"),
            want("stats"),
            convs,
            true,
        ),
    };
    let mut value = serde_json::to_value(view).unwrap_or(Value::Null);
    if want("sla_policy") {
        let policy = desk
            .sla_policies
            .iter()
            .find(|p| !p.is_default && t.group_id.is_some_and(|g| p.group_ids.contains(&g)))
            .or_else(|| desk.sla_policies.iter().find(|p| p.is_default));
        value["sla_policy"] = policy.map(render::sla_policy).unwrap_or(Value::Null);
    }
    let mut reply = Reply::value(&value);
    reply.extra_credits = inc.len() as u32;
    Ok(reply)
}

/// Validated ticket attributes from a create or update body.
#[derive(Default)]
struct TicketInput {
    subject: Option<String>,
    description: Option<String>,
    status: Option<i64>,
    priority: Option<i64>,
    source: Option<i64>,
    ticket_type: Option<Option<String>>,
    requester_id: Option<i64>,
    email: Option<String>,
    name: Option<String>,
    responder_id: Option<Option<i64>>,
    group_id: Option<Option<i64>>,
    company_id: Option<Option<i64>>,
    tags: Option<Vec<String>>,
    cc_emails: Option<Vec<String>>,
    cf_category: Option<Option<String>>,
    cf_order_number: Option<Option<String>>,
    due_by: Option<i64>,
    fr_due_by: Option<i64>,
}

const TICKET_FIELDS: &[&str] = &[
    "subject",
    "description",
    "status",
    "priority",
    "source",
    "type",
    "requester_id",
    "email",
    "phone",
    "name",
    "responder_id",
    "group_id",
    "company_id",
    "tags",
    "cc_emails",
    "custom_fields",
    "due_by",
    "fr_due_by",
];

/// Freshdesk's words for a value of the wrong JSON type; `should` is what it should have been.
fn wrong_type(key: &str, v: &Value, should: impl std::fmt::Display) -> FieldError {
    FieldError::mismatch(
        key,
        format!(
            "Value set is of type {}.It should be {should}",
            type_name(v)
        ),
    )
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Float",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "key/value pair",
    }
}

pub(super) fn choice_int(
    body: &Map<String, Value>,
    key: &str,
    allowed: &[i64],
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    let v = body.get(key)?;
    let list = allowed
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    match v.as_i64() {
        Some(n) if allowed.contains(&n) => Some(n),
        Some(_) => {
            errors.push(FieldError::invalid_value(
                key,
                format!("It should be one of these values: '{list}'"),
            ));
            None
        }
        None => {
            errors.push(wrong_type(key, v, format!("one of these values: '{list}'")));
            None
        }
    }
}

fn string(body: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.clone()),
        other => {
            errors.push(wrong_type(key, other, "a/an String"));
            None
        }
    }
}

fn string_list(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    match body.get(key)? {
        Value::Array(items) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect(),
        ),
        other => {
            errors.push(wrong_type(key, other, "a/an Array"));
            None
        }
    }
}

/// An id that must name an existing record (`null` clears it where allowed).
pub(super) fn reference(
    body: &Map<String, Value>,
    key: &str,
    resource: &str,
    exists: impl Fn(i64) -> bool,
    errors: &mut Vec<FieldError>,
) -> Option<Option<i64>> {
    match body.get(key)? {
        Value::Null => Some(None),
        v => match v.as_i64() {
            Some(id) if exists(id) => Some(Some(id)),
            Some(_) => {
                errors.push(FieldError::invalid_value(
                    key,
                    format!("There is no {resource} matching the given {key}"),
                ));
                None
            }
            None => {
                errors.push(wrong_type(key, v, "a/an Positive Integer"));
                None
            }
        },
    }
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
}

fn parse_input(desk: &HelpDesk, body: &Map<String, Value>) -> Result<TicketInput, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for k in body.keys() {
        if !TICKET_FIELDS.contains(&k.as_str()) {
            errors.push(FieldError::invalid_field(k.clone()));
        }
    }
    let mut input = TicketInput {
        subject: string(body, "subject", &mut errors),
        description: string(body, "description", &mut errors),
        status: choice_int(body, "status", &[2, 3, 4, 5, 6, 7], &mut errors),
        priority: choice_int(body, "priority", &[1, 2, 3, 4], &mut errors),
        source: choice_int(body, "source", &[1, 2, 3, 7, 9, 10], &mut errors),
        ..Default::default()
    };
    if let Some(t) = body.get("type") {
        const TYPES: &[&str] = &[
            "Question",
            "Incident",
            "Problem",
            "Feature Request",
            "Refund",
        ];
        match t {
            Value::Null => input.ticket_type = Some(None),
            Value::String(s) if TYPES.contains(&s.as_str()) => {
                input.ticket_type = Some(Some(s.clone()))
            }
            _ => errors.push(FieldError::invalid_value(
                "type",
                format!("It should be one of these values: '{}'", TYPES.join(",")),
            )),
        }
    }
    input.requester_id = reference(
        body,
        "requester_id",
        "contact",
        |id| desk.contacts.contains_key(&id) || desk.agents.contains_key(&id),
        &mut errors,
    )
    .flatten();
    input.email = string(body, "email", &mut errors);
    if let Some(e) = &input.email
        && !valid_email(e)
    {
        errors.push(FieldError::invalid_value(
            "email",
            "It should be in the 'valid email address' format",
        ));
    }
    input.name = string(body, "name", &mut errors);
    input.responder_id = reference(
        body,
        "responder_id",
        "agent",
        |id| {
            desk.agents
                .get(&id)
                .is_some_and(|a| a.state == crate::model::AgentState::Active)
        },
        &mut errors,
    );
    input.group_id = reference(
        body,
        "group_id",
        "group",
        |id| desk.groups.contains_key(&id),
        &mut errors,
    );
    input.company_id = reference(
        body,
        "company_id",
        "company",
        |id| desk.companies.contains_key(&id),
        &mut errors,
    );
    input.tags = string_list(body, "tags", &mut errors);
    input.cc_emails = string_list(body, "cc_emails", &mut errors);
    for key in ["due_by", "fr_due_by"] {
        if let Some(v) = body.get(key) {
            match v.as_str().and_then(crate::util::parse_ts) {
                Some(t) => {
                    if key == "due_by" {
                        input.due_by = Some(t)
                    } else {
                        input.fr_due_by = Some(t)
                    }
                }
                None => errors.push(FieldError::invalid_value(
                    key,
                    "It should be a valid date in the 'combined date and time ISO8601' format",
                )),
            }
        }
    }
    if let Some(cf) = body.get("custom_fields") {
        match cf {
            Value::Object(m) => {
                for (k, v) in m {
                    match k.as_str() {
                        "cf_category" => {
                            let choices = desk.category_choices();
                            match v {
                                Value::Null => input.cf_category = Some(None),
                                Value::String(s) if choices.contains(&s.as_str()) => {
                                    input.cf_category = Some(Some(s.clone()))
                                }
                                _ => errors.push(FieldError::invalid_value(
                                    "cf_category",
                                    format!(
                                        "It should be one of these values: '{}'",
                                        choices.join(",")
                                    ),
                                )),
                            }
                        }
                        "cf_order_number" => match v {
                            Value::Null => input.cf_order_number = Some(None),
                            Value::String(s) if s.len() <= 255 => {
                                input.cf_order_number = Some(Some(s.clone()))
                            }
                            other => {
                                errors.push(wrong_type("cf_order_number", other, "a/an String"))
                            }
                        },
                        _ => errors.push(FieldError::invalid_field(k.clone())),
                    }
                }
            }
            other => errors.push(wrong_type("custom_fields", other, "a/an key/value pair")),
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `POST /tickets`; `parent_id` makes the new ticket a child, `related_ticket_ids` a tracker.
pub fn create(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    let mut body = json_body(req)?;
    let link = super::links::link_on_create(desk, v, &mut body)?;
    create_with(desk, req, v, body, None, link)
}

/// Creates a ticket from `body`; `outbound` (an email config id) makes it an outbound email
/// (source 10, sent from that address); `link` places it in a parent–child or tracker link.
pub fn create_with(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    body: Map<String, Value>,
    outbound: Option<i64>,
    link: Option<crate::model::Association>,
) -> Result<Reply, ApiError> {
    let input = parse_input(desk, &body)?;
    let mut errors = Vec::new();
    if input.requester_id.is_none() && input.email.is_none() && !body.contains_key("phone") {
        errors.push(FieldError::new("requester_id", "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields", "missing_field"));
    }
    if input.subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
        errors.push(FieldError::missing("subject"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = req.now;
    let requester_id = match (input.requester_id, &input.email) {
        (Some(id), _) => id,
        (None, Some(email)) => find_or_create_contact(desk, email, input.name.as_deref(), now),
        (None, None) => {
            let phone = body
                .get("phone")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = input
                .name
                .clone()
                .ok_or_else(|| ApiError::field(FieldError::missing("name")))?;
            new_contact(desk, name, None, Some(phone), now)
        }
    };
    let id = desk.next_ticket_id;
    let description = input.description.clone().unwrap_or_default();
    let priority = input.priority.unwrap_or(1);
    let base = Ticket::opened(id, requester_id, priority, now);
    let ticket = Ticket {
        subject: input.subject.clone().unwrap_or_default(),
        description_text: html_to_text(&description),
        description_html: description,
        status: input.status.unwrap_or(2),
        source: if outbound.is_some() {
            10
        } else {
            input.source.unwrap_or(2)
        },
        email_config_id: outbound,
        ticket_type: input.ticket_type.clone().flatten(),
        responder_id: input.responder_id.flatten(),
        group_id: input.group_id.flatten(),
        company_id: input
            .company_id
            .flatten()
            .or_else(|| desk.contacts.get(&requester_id).and_then(|c| c.company_id)),
        cc_emails: input.cc_emails.clone().unwrap_or_default(),
        reply_cc_emails: input.cc_emails.clone().unwrap_or_default(),
        tags: input.tags.clone().unwrap_or_default(),
        cf_category: input.cf_category.clone().flatten(),
        cf_order_number: input.cf_order_number.clone().flatten(),
        due_by: input.due_by.unwrap_or(base.due_by),
        fr_due_by: input.fr_due_by.unwrap_or(base.fr_due_by),
        association: link.clone(),
        ..base
    }
    .created_by(&format!("api_key:{}", v.id));
    desk.insert_ticket(ticket);
    if let Some(link) = &link {
        super::links::link_created(desk, id, link, now);
    }
    let value = render::ticket_detail(&desk.tickets[&id], false);
    let mut reply = Reply::created(&value, format!("{}/api/v2/tickets/{id}", req.origin));
    // The linked tickets changed too: their rules fire.
    reply.touched = link.map(|l| l.with).unwrap_or_default();
    Ok(reply)
}

fn find_or_create_contact(desk: &mut HelpDesk, email: &str, name: Option<&str>, now: i64) -> i64 {
    if let Some(id) = desk.contact_with_email(email) {
        return id;
    }
    let name = name
        .map(String::from)
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_string());
    new_contact(desk, name, Some(email.to_string()), None, now)
}

pub fn new_contact(
    desk: &mut HelpDesk,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    now: i64,
) -> i64 {
    let id = desk.next_contact_id;
    desk.next_contact_id += 1;
    desk.contacts.insert(
        id,
        Contact {
            phone,
            ..Contact::new(id, name, email, now)
        },
    );
    id
}

/// The write endpoints refuse spam and trashed tickets with Freshdesk's 405.
pub fn writable<'a>(
    desk: &'a HelpDesk,
    req: &Req,
    v: &Viewer,
    id: i64,
) -> Result<&'a Ticket, ApiError> {
    let t = visible(desk, v, id)?;
    if t.spam || t.trash != Trash::Live {
        return Err(ApiError::only_get(req.method));
    }
    Ok(t)
}

pub fn update(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    writable(desk, req, v, id)?;
    let body = json_body(req)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    let input = parse_input(desk, &body)?;
    let now = req.now;
    let t = desk.tickets.get_mut(&id).ok_or(ApiError::NotFound)?;
    let before = t.tracked();
    if let Some(s) = input.subject {
        t.subject = s;
    }
    if let Some(d) = input.description {
        t.description_text = html_to_text(&d);
        t.description_html = d;
    }
    if let Some(s) = input.status {
        apply_status(t, s, now);
    }
    if let Some(p) = input.priority {
        t.priority = p;
    }
    if let Some(s) = input.source {
        t.source = s;
    }
    if let Some(x) = input.ticket_type {
        t.ticket_type = x;
    }
    if let Some(r) = input.requester_id {
        t.requester_id = r;
    }
    if let Some(r) = input.responder_id {
        t.responder_id = r;
    }
    if let Some(g) = input.group_id {
        t.group_id = g;
    }
    if let Some(c) = input.company_id {
        t.company_id = c;
    }
    if let Some(tags) = input.tags {
        t.tags = tags;
    }
    if let Some(cc) = input.cc_emails {
        t.cc_emails = cc;
    }
    if let Some(c) = input.cf_category {
        t.cf_category = c;
    }
    if let Some(o) = input.cf_order_number {
        t.cf_order_number = o;
    }
    if let Some(d) = input.due_by {
        t.due_by = d;
    }
    if let Some(d) = input.fr_due_by {
        t.fr_due_by = d;
    }
    t.record_changes(&before, &format!("api_key:{}", v.id), now);
    desk.touch_ticket(id, now);
    let value = render::ticket_detail(&desk.tickets[&id], false);
    Ok(Reply::value(&value))
}

pub fn apply_status(t: &mut Ticket, status: i64, now: i64) {
    if t.status == status {
        return;
    }
    if matches!(t.status, 4 | 5) && !matches!(status, 4 | 5) {
        t.stats.reopened_at = Some(now);
    }
    t.status = status;
    t.stats.status_updated_at = Some(now);
    match status {
        4 => t.stats.resolved_at = Some(now),
        5 => {
            t.stats.closed_at = Some(now);
            t.stats.resolved_at.get_or_insert(now);
        }
        3 | 6 | 7 => t.stats.pending_since = Some(now),
        _ => {}
    }
}

pub fn delete(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    writable(desk, req, v, id)?;
    if let Some(t) = desk.tickets.get_mut(&id) {
        t.trash = Trash::Deleted;
    }
    desk.touch_ticket(id, req.now);
    Ok(Reply::no_content())
}

pub fn restore(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    let t = visible(desk, v, id)?;
    if t.trash != Trash::Deleted {
        return Err(ApiError::NotFound);
    }
    if let Some(t) = desk.tickets.get_mut(&id) {
        t.trash = Trash::Live;
    }
    desk.touch_ticket(id, req.now);
    Ok(Reply::no_content())
}

pub fn conversations(desk: &HelpDesk, req: &Req, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    let (page, per_page) = paging(&req.query, 30).map_err(ApiError::Validation)?;
    visible(desk, v, id)?;
    let rows = take_page(desk.conversations_of(id).into_iter(), page, per_page);
    Ok(page_reply(req, page, per_page, rows, |c| {
        render::conversation(c)
    }))
}

pub enum Kind {
    Reply,
    Note,
    /// `POST /tickets/{id}/forward`: the ticket sent on to `to_emails` (conversation source 8).
    Forward,
}

pub fn add_conversation(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    id: i64,
    kind: Kind,
) -> Result<Reply, ApiError> {
    writable(desk, req, v, id)?;
    let body = json_body(req)?;
    let allowed: &[&str] = match kind {
        Kind::Reply => &["body", "from_email", "user_id", "cc_emails", "bcc_emails"],
        Kind::Note => &["body", "private", "incoming", "notify_emails", "user_id"],
        Kind::Forward => &[
            "body",
            "to_emails",
            "cc_emails",
            "bcc_emails",
            "from_email",
            "user_id",
            "include_quoted_text",
            "include_original_attachments",
        ],
    };
    let mut errors: Vec<FieldError> = body
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::invalid_field(k.clone()))
        .collect();
    let text = string(&body, "body", &mut errors);
    if text.as_deref().is_none_or(|b| b.trim().is_empty())
        && !errors.iter().any(|e| e.field == "body")
    {
        errors.push(FieldError::missing("body"));
    }
    let flag = |key: &str, default: bool, errors: &mut Vec<FieldError>| -> bool {
        match body.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                errors.push(wrong_type(key, other, "a/an Boolean"));
                default
            }
        }
    };
    let private = matches!(kind, Kind::Note) && flag("private", true, &mut errors);
    let incoming = matches!(kind, Kind::Note) && flag("incoming", false, &mut errors);
    let user_id = reference(
        &body,
        "user_id",
        "user",
        |u| desk.agents.contains_key(&u) || desk.contacts.contains_key(&u),
        &mut errors,
    )
    .flatten();
    let cc = string_list(&body, "cc_emails", &mut errors).unwrap_or_default();
    let bcc = string_list(&body, "bcc_emails", &mut errors).unwrap_or_default();
    let forward_to = string_list(&body, "to_emails", &mut errors).unwrap_or_default();
    if matches!(kind, Kind::Forward)
        && forward_to.is_empty()
        && !errors.iter().any(|e| e.field == "to_emails")
    {
        errors.push(FieldError::missing("to_emails"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let html = text.unwrap_or_default();
    let now = req.now;
    let conv_id = desk.next_conversation_id;
    let requester_email = desk
        .tickets
        .get(&id)
        .and_then(|t| desk.contacts.get(&t.requester_id))
        .and_then(|c| c.email.clone());
    let conv = Conversation {
        id: conv_id,
        ticket_id: id,
        body_text: html_to_text(&html),
        body_html: html,
        incoming,
        private,
        user_id: user_id.unwrap_or(v.id),
        support_email: (!matches!(kind, Kind::Note))
            .then(|| "support@acme-support.example".to_string()),
        source: match kind {
            Kind::Reply => 0,
            Kind::Note => 2,
            Kind::Forward => 8,
        },
        from_email: (!matches!(kind, Kind::Note))
            .then(|| "Acme Support <support@acme-support.example>".to_string()),
        to_emails: match kind {
            Kind::Reply => requester_email.iter().cloned().collect(),
            Kind::Note => vec![],
            Kind::Forward => forward_to,
        },
        cc_emails: cc,
        bcc_emails: bcc,
        created_at: now,
        updated_at: now,
    };
    desk.insert_conversation(conv);
    if let Some(t) = desk.tickets.get_mut(&id)
        && matches!(kind, Kind::Reply)
    {
        t.stats.agent_responded_at = Some(now);
        t.stats.first_responded_at.get_or_insert(now);
    }
    desk.touch_ticket(id, now);
    let c = &desk.conversations[&conv_id];
    let mut value = render::conversation(c);
    if matches!(kind, Kind::Reply) {
        value["replied_to"] = json!(c.to_emails);
    }
    Ok(Reply::created(
        &value,
        format!("{}/api/v2/conversations/{conv_id}", req.origin),
    ))
}

/// The HTML body an emulator control call gives a conversation from plain text.
pub fn html_from_text(text: &str) -> String {
    format!("<div>{}</div>", html_escape(text))
}
