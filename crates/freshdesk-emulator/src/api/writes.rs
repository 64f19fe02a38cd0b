//! Writes Freshdesk supports beyond tickets and contacts: companies (create, update, delete),
//! groups (create, admins only) and conversations (edit a note's body, delete one). Each checks
//! its body as Freshdesk does (unknown fields, types, required and unique values) and changes
//! nothing when it refuses.

use serde_json::{Map, Value, json};

use super::error::FieldError;
use super::{ApiError, Reply, Req, Viewer, json_body};
use crate::model::{Company, Group, HelpDesk};
use crate::render;

type Answer = Result<Reply, ApiError>;

/// 201 with the new record and its `Location`, `/api/v2/<path>` on the caller's host.
fn created(view: &Value, req: &Req, path: String) -> Answer {
    Ok(Reply::created(
        view,
        format!("{}/api/v2/{path}", req.origin),
    ))
}

/// The one field of a `{"body": "…"}` request, required and not blank.
fn required_body(req: &Req) -> Result<String, ApiError> {
    let body = json_body(req)?;
    let mut errors = unknown(&body, &["body"]);
    let html = text(&body, "body", &mut errors);
    match html {
        Some(h) if !h.trim().is_empty() && errors.is_empty() => Ok(h),
        _ => {
            if errors.is_empty() {
                errors.push(FieldError::missing("body"));
            }
            Err(ApiError::Validation(errors))
        }
    }
}

/// A boolean field, `None` when absent; a wrong type is an error.
pub(super) fn flag(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<bool> {
    match body.get(key)? {
        Value::Bool(b) => Some(*b),
        _ => {
            errors.push(FieldError::mismatch(key, "It should be a/an Boolean"));
            None
        }
    }
}

/// The `time_spent` field in minutes, `None` when absent or (with an error) not `hh:mm`.
fn time_spent(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<i64> {
    let given = text(body, "time_spent", errors)?;
    let minutes = minutes_of(&given);
    if minutes.is_none() {
        errors.push(FieldError::invalid_value(
            "time_spent",
            "It should be in the 'hh:mm' format",
        ));
    }
    minutes
}

/// `hh:mm` as minutes (minutes under 60), as time entries spell time spent.
fn minutes_of(hh_mm: &str) -> Option<i64> {
    let (h, m) = hh_mm.split_once(':')?;
    let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
    (h >= 0 && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// A required `name` that no other record of its kind has (ignoring case and surrounding
/// spaces): `missing_field` or `duplicate_value` otherwise.
fn unique_name(
    body: &Map<String, Value>,
    taken: &[&str],
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let name = text(body, "name", errors);
    match &name {
        None => errors.push(FieldError::missing("name")),
        Some(n) if taken.iter().any(|t| t.eq_ignore_ascii_case(n.trim())) => errors.push(
            FieldError::new("name", "It should be a unique value", "duplicate_value"),
        ),
        Some(_) => {}
    }
    name
}

/// Replaces `slot` when the request gave a value for it.
pub(super) fn set<T>(slot: &mut T, given: Option<T>) {
    if let Some(v) = given {
        *slot = v;
    }
}

/// A string field, `None` when absent or null; a wrong type is an error.
pub(super) fn text(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        _ => {
            errors.push(FieldError::mismatch(key, "It should be a/an String"));
            None
        }
    }
}

/// Unknown fields of `body`, as Freshdesk names them.
pub(super) fn unknown(body: &Map<String, Value>, fields: &[&str]) -> Vec<FieldError> {
    body.keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .map(|k| FieldError::invalid_field(k.clone()))
        .collect()
}

const COMPANY_FIELDS: &[&str] = &["name", "description", "note", "domains"];

/// A company body's values: for create every field, for update those given.
struct CompanyInput {
    name: Option<String>,
    description: Option<Option<String>>,
    note: Option<Option<String>>,
    domains: Option<Vec<String>>,
}

fn company_input(
    desk: &HelpDesk,
    body: &Map<String, Value>,
    this: Option<i64>,
    creating: bool,
) -> Result<CompanyInput, ApiError> {
    let mut errors = unknown(body, COMPANY_FIELDS);
    let name = text(body, "name", &mut errors);
    if (creating || body.contains_key("name"))
        && name.as_deref().is_none_or(|n| n.trim().is_empty())
    {
        errors.push(FieldError::missing("name"));
    }
    if let Some(n) = &name
        && let Some(other) = desk
            .companies
            .values()
            .find(|c| c.name.eq_ignore_ascii_case(n.trim()) && Some(c.id) != this)
    {
        let mut dup = FieldError::new("name", "It should be a unique value", "duplicate_value");
        dup.additional_info = Some(json!({"company_id": other.id}));
        errors.push(dup);
    }
    let optional = |key: &str, errors: &mut Vec<FieldError>| {
        body.contains_key(key).then(|| text(body, key, errors))
    };
    let description = optional("description", &mut errors);
    let note = optional("note", &mut errors);
    let domains = match body.get("domains") {
        None => None,
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
        ),
        Some(_) => {
            errors.push(FieldError::mismatch("domains", "It should be a/an Array"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(CompanyInput {
        name: name.map(|n| n.trim().to_string()),
        description,
        note,
        domains,
    })
}

pub fn create_company(desk: &mut HelpDesk, req: &Req) -> Answer {
    let body = json_body(req)?;
    let input = company_input(desk, &body, None, true)?;
    let id = desk.companies.keys().max().map_or(1, |m| m + 1);
    let company = Company {
        id,
        name: input.name.unwrap_or_default(),
        description: input.description.flatten(),
        note: input.note.flatten(),
        domains: input.domains.unwrap_or_default(),
        industry: None,
        account_tier: None,
        health_score: None,
        renewal_date: None,
        created_at: req.now,
        updated_at: req.now,
    };
    let v = render::company(&company);
    desk.companies.insert(id, company);
    created(&v, req, format!("companies/{id}"))
}

pub fn update_company(desk: &mut HelpDesk, req: &Req, id: i64) -> Answer {
    if !desk.companies.contains_key(&id) {
        return Err(ApiError::NotFound);
    }
    let body = json_body(req)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    let input = company_input(desk, &body, Some(id), false)?;
    let c = desk.companies.get_mut(&id).ok_or(ApiError::NotFound)?;
    set(&mut c.name, input.name);
    set(&mut c.description, input.description);
    set(&mut c.note, input.note);
    set(&mut c.domains, input.domains);
    c.updated_at = req.now;
    Ok(Reply::value(&render::company(c)))
}

/// Deletes a company; its contacts and tickets keep everything but the company.
pub fn delete_company(desk: &mut HelpDesk, req: &Req, id: i64) -> Answer {
    desk.companies.remove(&id).ok_or(ApiError::NotFound)?;
    for c in desk
        .contacts
        .values_mut()
        .filter(|c| c.company_id == Some(id))
    {
        c.company_id = None;
        c.updated_at = req.now;
    }
    let tickets: Vec<i64> = desk
        .tickets
        .values()
        .filter(|t| t.company_id == Some(id))
        .map(|t| t.id)
        .collect();
    for t in tickets {
        if let Some(ticket) = desk.tickets.get_mut(&t) {
            ticket.company_id = None;
        }
        desk.touch_ticket(t, req.now);
    }
    Ok(Reply::no_content())
}

const GROUP_FIELDS: &[&str] = &[
    "name",
    "description",
    "agent_ids",
    "auto_ticket_assign",
    "escalate_to",
    "unassigned_for",
];
const UNASSIGNED_FOR: [&str; 9] = ["30m", "1h", "2h", "4h", "8h", "12h", "1d", "2d", "3d"];

pub fn create_group(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Answer {
    v.require_admin()?;
    let body = json_body(req)?;
    let mut errors = unknown(&body, GROUP_FIELDS);
    let taken: Vec<&str> = desk.groups.values().map(|x| x.name.as_str()).collect();
    let name = unique_name(&body, &taken, &mut errors);
    let description = text(&body, "description", &mut errors);
    let agent_ids: Vec<i64> = match body.get("agent_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => {
            let ids: Vec<Option<i64>> = ids.iter().map(Value::as_i64).collect();
            if ids
                .iter()
                .any(|i| i.is_none_or(|i| !desk.agents.contains_key(&i)))
            {
                errors.push(FieldError::invalid_value(
                    "agent_ids",
                    "There are no records matching the ids",
                ));
            }
            ids.into_iter().flatten().collect()
        }
        Some(_) => {
            errors.push(FieldError::mismatch("agent_ids", "It should be a/an Array"));
            Vec::new()
        }
    };
    let auto = match body.get("auto_ticket_assign") {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(b)) => i64::from(*b),
        Some(x) => match x.as_i64() {
            Some(n @ (0 | 1 | 2 | 3 | 12)) => n,
            _ => {
                errors.push(FieldError::invalid_value(
                    "auto_ticket_assign",
                    "It should be one of these values: '0,1,2,3,12'",
                ));
                0
            }
        },
    };
    let escalate_to = match body.get("escalate_to") {
        None | Some(Value::Null) => None,
        Some(x) => match x.as_i64().filter(|i| desk.agents.contains_key(i)) {
            Some(i) => Some(i),
            None => {
                errors.push(FieldError::invalid_value(
                    "escalate_to",
                    "There is no agent matching the given escalate_to",
                ));
                None
            }
        },
    };
    let unassigned_for = match text(&body, "unassigned_for", &mut errors) {
        None => None,
        Some(u) => match UNASSIGNED_FOR.iter().find(|x| **x == u) {
            Some(x) => Some(*x),
            None => {
                errors.push(FieldError::invalid_value(
                    "unassigned_for",
                    format!(
                        "It should be one of these values: '{}'",
                        UNASSIGNED_FOR.join(",")
                    ),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = desk.groups.keys().max().map_or(1, |m| m + 1);
    desk.groups.insert(
        id,
        Group {
            id,
            name: name.unwrap_or_default().trim().to_string(),
            description,
            escalate_to,
            unassigned_for,
            business_hour_id: desk.business_hours.first().map(|b| b.id),
            auto_ticket_assign: auto,
            created_at: req.now,
            updated_at: req.now,
        },
    );
    for a in agent_ids {
        if let Some(agent) = desk.agents.get_mut(&a)
            && !agent.group_ids.contains(&id)
        {
            agent.group_ids.push(id);
        }
    }
    let v = render::group(&desk.groups[&id], desk.agent_ids_in_group(id));
    created(&v, req, format!("groups/{id}"))
}

/// `PUT` edits a note's body (Freshdesk lets only notes be edited; a reply or a customer's
/// message answers 405 and can only be deleted); `DELETE` removes the conversation. Either needs
/// write access to its ticket.
pub fn conversation(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    let c = desk.conversations.get(&id).ok_or(ApiError::NotFound)?;
    let ticket = c.ticket_id;
    super::tickets::writable(desk, req, v, ticket)?;
    if req.method == "DELETE" {
        desk.remove_conversation(id);
        desk.touch_ticket(ticket, req.now);
        return Ok(Reply::no_content());
    }
    let html = required_body(req)?;
    let c = desk.conversations.get_mut(&id).ok_or(ApiError::NotFound)?;
    if c.source != 2 {
        return Err(ApiError::MethodNotAllowed {
            method: req.method.into(),
            allowed: vec!["DELETE"],
        });
    }
    c.body_text = crate::util::html_to_text(&html);
    c.body_html = html;
    c.updated_at = req.now;
    let view = render::conversation(c);
    desk.touch_ticket(ticket, req.now);
    Ok(Reply::value(&view))
}

/// A new active, full-time support agent with the Agent role, global scope and a key of its own.
fn new_agent(
    desk: &HelpDesk,
    id: i64,
    name: String,
    email: String,
    now: i64,
) -> Result<crate::model::Agent, ApiError> {
    // Language, time zone and the rest as the account's other agents have them.
    let template = desk
        .agents
        .values()
        .next()
        .cloned()
        .ok_or(ApiError::NotFound)?;
    Ok(crate::model::Agent {
        id,
        name,
        email,
        phone: None,
        mobile: None,
        job_title: None,
        role_ids: vec![crate::model::ROLE_AGENT],
        ticket_scope: 1,
        group_ids: vec![],
        skill_ids: vec![],
        occasional: false,
        agent_type: "support_agent",
        available: false,
        signature: None,
        api_key: uuid::Uuid::new_v4().simple().to_string()[..20].to_string(),
        password: uuid::Uuid::new_v4().simple().to_string(),
        failed_logins: 0,
        locked_out: false,
        state: crate::model::AgentState::Active,
        demoted_from: None,
        last_login_at: None,
        last_active_at: None,
        created_at: now,
        updated_at: now,
        ..template
    })
}

const AGENT_CREATE_FIELDS: &[&str] = &[
    "name",
    "email",
    "ticket_scope",
    "role_ids",
    "group_ids",
    "occasional",
    "agent_type",
    "signature",
    "language",
    "time_zone",
];
/// Name, phone, mobile and job title belong to the agent's contact and are not updatable here.
const AGENT_UPDATE_FIELDS: &[&str] = &[
    "ticket_scope",
    "role_ids",
    "group_ids",
    "occasional",
    "signature",
];

/// The ids in `body[key]`, each one of `known`; errors name the field.
fn ids_of(
    body: &Map<String, Value>,
    key: &str,
    known: &[i64],
    errors: &mut Vec<FieldError>,
) -> Option<Vec<i64>> {
    match body.get(key)? {
        Value::Array(items) => {
            let ids: Vec<Option<i64>> = items.iter().map(Value::as_i64).collect();
            if ids.iter().any(|i| i.is_none_or(|i| !known.contains(&i))) {
                errors.push(FieldError::invalid_value(
                    key,
                    "There are no records matching the ids",
                ));
                return None;
            }
            Some(ids.into_iter().flatten().collect())
        }
        _ => {
            errors.push(FieldError::mismatch(key, "It should be a/an Array"));
            None
        }
    }
}

/// The agent fields both create and update take.
struct AgentInput {
    ticket_scope: Option<u8>,
    role_ids: Option<Vec<i64>>,
    group_ids: Option<Vec<i64>>,
    occasional: Option<bool>,
    signature: Option<Option<String>>,
}

fn agent_input(
    desk: &HelpDesk,
    body: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> AgentInput {
    let ticket_scope = match body.get("ticket_scope") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(s @ 1..=3) => Some(s as u8),
            _ => {
                errors.push(FieldError::invalid_value(
                    "ticket_scope",
                    "It should be one of these values: '1,2,3'",
                ));
                None
            }
        },
    };
    let roles: Vec<i64> = desk.roles.iter().map(|r| r.id).collect();
    let groups: Vec<i64> = desk.groups.keys().copied().collect();
    let occasional = flag(body, "occasional", errors);
    AgentInput {
        ticket_scope,
        role_ids: ids_of(body, "role_ids", &roles, errors),
        group_ids: ids_of(body, "group_ids", &groups, errors),
        occasional,
        signature: body
            .contains_key("signature")
            .then(|| text(body, "signature", errors)),
    }
}

/// `POST /agents` (admins only): a new full-time or occasional agent with its own API key.
pub fn create_agent(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Answer {
    v.require_admin()?;
    let body = json_body(req)?;
    let mut errors = unknown(&body, AGENT_CREATE_FIELDS);
    let email = text(&body, "email", &mut errors);
    match &email {
        None => errors.push(FieldError::missing("email")),
        Some(e) if !e.contains('@') => errors.push(FieldError::invalid_value(
            "email",
            "It should be in the 'valid email address' format",
        )),
        Some(e)
            if desk
                .agents
                .values()
                .any(|a| a.email.eq_ignore_ascii_case(e)) =>
        {
            errors.push(FieldError::new(
                "email",
                "It should be a unique value",
                "duplicate_value",
            ))
        }
        Some(_) => {}
    }
    if !body.contains_key("ticket_scope") {
        errors.push(FieldError::missing("ticket_scope"));
    }
    let name = text(&body, "name", &mut errors);
    let agent_type = match body.get("agent_type") {
        None => "support_agent",
        Some(v) => match v.as_i64() {
            Some(1) => "support_agent",
            Some(2) => "field_agent",
            Some(3) => "collaborator",
            _ => {
                errors.push(FieldError::invalid_value(
                    "agent_type",
                    "It should be one of these values: '1,2,3'",
                ));
                "support_agent"
            }
        },
    };
    let input = agent_input(desk, &body, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let email = email.unwrap_or_default();
    let id = desk.next_contact_id;
    desk.next_contact_id += 1;
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
    let base = new_agent(desk, id, name, email, req.now)?;
    let agent = crate::model::Agent {
        role_ids: input
            .role_ids
            .unwrap_or_else(|| vec![crate::model::ROLE_AGENT]),
        ticket_scope: input.ticket_scope.unwrap_or(1),
        group_ids: input.group_ids.unwrap_or_default(),
        occasional: input.occasional.unwrap_or(false),
        agent_type,
        signature: input.signature.flatten(),
        ..base
    };
    let api_key = agent.api_key.clone();
    desk.keys.insert(api_key, id);
    let view = render::agent(&agent);
    desk.agents.insert(id, agent);
    created(&view, req, format!("agents/{id}"))
}

/// `PUT /agents/{id}` (admins only): scope, roles, groups, occasional and signature.
pub fn update_agent(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    v.require_admin()?;
    if !desk
        .agents
        .get(&id)
        .is_some_and(|a| a.state != crate::model::AgentState::Deleted)
    {
        return Err(ApiError::NotFound);
    }
    let body = json_body(req)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    let mut errors = unknown(&body, AGENT_UPDATE_FIELDS);
    let input = agent_input(desk, &body, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let a = desk.agents.get_mut(&id).ok_or(ApiError::NotFound)?;
    set(&mut a.ticket_scope, input.ticket_scope);
    set(&mut a.role_ids, input.role_ids);
    set(&mut a.group_ids, input.group_ids);
    set(&mut a.occasional, input.occasional);
    set(&mut a.signature, input.signature);
    a.updated_at = req.now;
    Ok(Reply::value(&render::agent(a)))
}

/// `POST /tickets/{id}/time_entries` (Timesheets): time spent on a ticket, `hh:mm`.
pub fn create_time_entry(desk: &mut HelpDesk, req: &Req, v: &Viewer, ticket: i64) -> Answer {
    super::resources::require(desk, crate::model::Feature::Timesheets)?;
    super::tickets::writable(desk, req, v, ticket)?;
    let body = json_body(req)?;
    let mut errors = unknown(
        &body,
        &["time_spent", "note", "billable", "agent_id", "executed_at"],
    );
    let minutes = time_spent(&body, &mut errors);
    let note = text(&body, "note", &mut errors).unwrap_or_default();
    let billable = flag(&body, "billable", &mut errors).unwrap_or(true);
    let agent_id = match body.get("agent_id") {
        None => v.id,
        Some(x) => match x.as_i64().filter(|i| desk.agents.contains_key(i)) {
            Some(i) => i,
            None => {
                errors.push(FieldError::invalid_value(
                    "agent_id",
                    "There is no agent matching the given agent_id",
                ));
                v.id
            }
        },
    };
    let executed_at = match text(&body, "executed_at", &mut errors) {
        None => req.now,
        Some(s) => crate::util::parse_ts(&s).unwrap_or_else(|| {
            errors.push(FieldError::invalid_value(
                "executed_at",
                "It should be in the 'valid date' format",
            ));
            req.now
        }),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = desk.next_time_entry_id;
    desk.next_time_entry_id += 1;
    let entry = crate::model::TimeEntry {
        id,
        agent_id,
        ticket_id: ticket,
        company_id: desk.tickets.get(&ticket).and_then(|t| t.company_id),
        billable,
        note,
        time_spent_minutes: minutes.unwrap_or(0),
        timer_started: None,
        executed_at,
        created_at: req.now,
        updated_at: req.now,
    };
    let view = render::time_entry(&entry);
    desk.time_entries.insert(id, entry);
    created(&view, req, format!("time_entries/{id}"))
}

/// `POST /tickets/outbound_email`: a ticket the help desk sends first, from one of its email
/// configs (`email_config_id` and the recipient's `email` are required).
pub fn outbound_email(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Answer {
    let mut body = json_body(req)?;
    let mut errors = Vec::new();
    let config = match body.remove("email_config_id") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("email_config_id"));
            None
        }
        Some(c) => match c.as_i64().filter(|c| *c == crate::seed::EMAIL_CONFIG_ID) {
            Some(c) => Some(c),
            None => {
                errors.push(FieldError::invalid_value(
                    "email_config_id",
                    "There is no email config matching the given email_config_id",
                ));
                None
            }
        },
    };
    if !body.contains_key("email") {
        errors.push(FieldError::missing("email"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    super::tickets::create_with(desk, req, v, body, config, None)
}

fn summary_view(ticket: i64, s: &crate::model::TicketSummary) -> Value {
    json!({
        "id": ticket,
        "body": s.body_html,
        "body_text": s.body_text,
        "ticket_id": ticket,
        "last_edited_user_id": s.editor,
        "last_edited_at": crate::util::format_ts(s.updated_at),
        "created_at": crate::util::format_ts(s.created_at),
        "updated_at": crate::util::format_ts(s.updated_at),
    })
}

/// `GET /tickets/{id}/summary`: 404 until someone writes one.
pub fn show_summary(desk: &HelpDesk, v: &Viewer, id: i64) -> Answer {
    let t = super::tickets::visible(desk, v, id)?;
    let s = t.summary.as_ref().ok_or(ApiError::NotFound)?;
    Ok(Reply::value(&summary_view(id, s)))
}

/// `PUT /tickets/{id}/summary` `{"body"}` writes or rewrites it; `DELETE` removes it.
pub fn write_summary(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    super::tickets::writable(desk, req, v, id)?;
    if req.method == "DELETE" {
        let t = desk.tickets.get_mut(&id).ok_or(ApiError::NotFound)?;
        t.summary.take().ok_or(ApiError::NotFound)?;
        return Ok(Reply::no_content());
    }
    let html = required_body(req)?;
    let t = desk.tickets.get_mut(&id).ok_or(ApiError::NotFound)?;
    let created_at = t.summary.as_ref().map_or(req.now, |s| s.created_at);
    let summary = crate::model::TicketSummary {
        body_text: crate::util::html_to_text(&html),
        body_html: html,
        editor: v.id,
        created_at,
        updated_at: req.now,
    };
    let view = summary_view(id, &summary);
    t.summary = Some(summary);
    Ok(Reply::value(&view))
}

/// `PUT /time_entries/{id}` (note, billable, time spent, executed at), `DELETE` removes it, and
/// `PUT /time_entries/{id}/toggle_timer` starts or stops its timer (stopping adds the minutes
/// since it started).
pub fn time_entry(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64, toggle: bool) -> Answer {
    super::resources::require(desk, crate::model::Feature::Timesheets)?;
    let ticket = desk
        .time_entries
        .get(&id)
        .ok_or(ApiError::NotFound)?
        .ticket_id;
    super::tickets::writable(desk, req, v, ticket)?;
    if req.method == "DELETE" {
        desk.time_entries.remove(&id);
        return Ok(Reply::no_content());
    }
    let e = desk.time_entries.get_mut(&id).ok_or(ApiError::NotFound)?;
    if toggle {
        match e.timer_started.take() {
            Some(started) => e.time_spent_minutes += (req.now - started).max(0) / 60,
            None => e.timer_started = Some(req.now),
        }
        e.updated_at = req.now;
        return Ok(Reply::value(&render::time_entry(e)));
    }
    let body = json_body(req)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    let mut errors = unknown(&body, &["time_spent", "note", "billable"]);
    let minutes = time_spent(&body, &mut errors);
    let note = text(&body, "note", &mut errors);
    let billable = flag(&body, "billable", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    set(&mut e.time_spent_minutes, minutes);
    set(&mut e.note, note);
    set(&mut e.billable, billable);
    e.updated_at = req.now;
    Ok(Reply::value(&render::time_entry(e)))
}

/// `POST /tickets/{id}/watch` and `PUT /tickets/{id}/unwatch`: the caller follows the ticket
/// or stops following it (`GET /tickets/{id}/watchers` lists who does).
pub fn watchers(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64, watch: bool) -> Answer {
    super::tickets::writable(desk, req, v, id)?;
    let t = desk.tickets.get_mut(&id).ok_or(ApiError::NotFound)?;
    if watch && !t.watchers.contains(&v.id) {
        t.watchers.push(v.id);
    } else if !watch {
        t.watchers.retain(|w| *w != v.id);
    }
    Ok(Reply::no_content())
}

/// `POST /tickets/{id}/satisfaction_ratings` (Surveys): the requester's rating of the ticket,
/// `{"ratings": {"default_question": 103}, "feedback"?}` on the new scale (103 … −103).
pub fn rate(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    super::resources::require(desk, crate::model::Feature::Surveys)?;
    let t = super::tickets::visible(desk, v, id)?;
    let (user, agent, group) = (t.requester_id, t.responder_id, t.group_id);
    let body = json_body(req)?;
    let mut errors = unknown(&body, &["ratings", "feedback"]);
    const SCALE: [i64; 7] = [103, 102, 101, 100, -101, -102, -103];
    let rating = match body.get("ratings").and_then(|r| r.get("default_question")) {
        None => {
            errors.push(FieldError::missing("ratings"));
            0
        }
        Some(r) => match r.as_i64().filter(|r| SCALE.contains(r)) {
            Some(r) => r,
            None => {
                errors.push(FieldError::invalid_value(
                    "default_question",
                    "It should be one of these values: '103,102,101,100,-101,-102,-103'",
                ));
                0
            }
        },
    };
    let feedback = text(&body, "feedback", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rid = desk.satisfaction_ratings.keys().max().map_or(1, |m| m + 1);
    let r = crate::model::SatisfactionRating {
        id: rid,
        survey_id: crate::seed::SURVEY_ID,
        user_id: user,
        agent_id: agent,
        group_id: group,
        ticket_id: id,
        feedback,
        rating,
        created_at: req.now,
        updated_at: req.now,
    };
    let view = render::satisfaction_rating(&r);
    desk.satisfaction_ratings.insert(rid, r);
    created(&view, req, format!("tickets/{id}/satisfaction_ratings"))
}

/// `PUT /contacts/{id}/make_agent` (admins): the contact becomes a full-time agent with the
/// Agent role and its own key; it needs an email.
pub fn make_agent(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    v.require_admin()?;
    let c = desk.contacts.get(&id).ok_or(ApiError::NotFound)?;
    if desk
        .agents
        .get(&id)
        .is_some_and(|a| a.state != crate::model::AgentState::Deleted)
    {
        return Err(ApiError::NotFound);
    }
    let Some(email) = c.email.clone() else {
        return Err(ApiError::Validation(vec![FieldError::missing("email")]));
    };
    let name = c.name.clone();
    let (phone, mobile, job_title) = (c.phone.clone(), c.mobile.clone(), c.job_title.clone());
    let agent = crate::model::Agent {
        phone,
        mobile,
        job_title,
        ..new_agent(desk, id, name, email, req.now)?
    };
    let api_key = agent.api_key.clone();
    desk.contacts.remove(&id);
    desk.keys.insert(api_key, id);
    let view = render::agent(&agent);
    desk.agents.insert(id, agent);
    Ok(Reply::value(&view))
}

/// `POST /tickets/bulk_update` `{"bulk_action": {"ids", "properties"}}` and `bulk_delete`
/// `{"bulk_action": {"ids"}}`: 202 with a job to poll. The work is done at once, ticket by ticket
/// as `PUT`/`DELETE /tickets/{id}` would do it, and the job records each ticket's outcome.
pub fn bulk(desk: &mut HelpDesk, req: &Req, v: &Viewer, delete: bool) -> Answer {
    let body = json_body(req)?;
    let mut errors = unknown(&body, &["bulk_action"]);
    let action = body.get("bulk_action").and_then(Value::as_object);
    let ids: Vec<i64> = match action.and_then(|a| a.get("ids")).and_then(Value::as_array) {
        Some(ids) if !ids.is_empty() && ids.iter().all(Value::is_i64) => {
            ids.iter().filter_map(Value::as_i64).collect()
        }
        _ => {
            errors.push(FieldError::missing("ids"));
            Vec::new()
        }
    };
    let properties = action.and_then(|a| a.get("properties"));
    if !delete && properties.is_none_or(|p| p.as_object().is_none_or(|p| p.is_empty())) {
        errors.push(FieldError::missing("properties"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let bytes = properties.map(Value::to_string).unwrap_or_default();
    let each = Req {
        method: if delete { "DELETE" } else { "PUT" },
        path: req.path,
        query: req.query.clone(),
        origin: req.origin.clone(),
        authorization: req.authorization,
        accept: req.accept,
        content_type: req.content_type,
        body: bytes.as_bytes(),
        now: req.now,
    };
    let outcomes: Vec<Value> = ids
        .iter()
        .map(|id| {
            let done = if delete {
                super::tickets::delete(desk, &each, v, *id)
            } else {
                super::tickets::update(desk, &each, v, *id)
            };
            match done {
                Ok(_) => json!({"id": id, "success": true}),
                Err(e) => json!({"id": id, "success": false, "status": e.status()}),
            }
        })
        .collect();
    let job_id = uuid::Uuid::new_v4().simple().to_string();
    let at = crate::util::format_ts(req.now);
    let job = json!({
        "id": job_id,
        "status": "COMPLETED",
        "action": if delete { "bulk_delete" } else { "bulk_update" },
        "progress": 100,
        "data": outcomes,
        "created_at": at,
        "updated_at": at,
    });
    desk.jobs.insert(job_id.clone(), job);
    let href = format!("{}/api/v2/jobs/{job_id}", req.origin);
    let mut reply = Reply::value(&json!({"job_id": job_id, "href": href}));
    reply.status = 202;
    reply.touched = outcomes
        .iter()
        .filter(|o| o["success"] == json!(true))
        .filter_map(|o| o["id"].as_i64())
        .collect();
    Ok(reply)
}

/// `sla_target` as `[(respond, resolve)]` for priorities 4 to 1: every priority present, each
/// time in seconds, a multiple of 60 and at least 900.
fn sla_targets(v: &Value, errors: &mut Vec<FieldError>) -> Option<[(i64, i64); 4]> {
    let mut out = [(0, 0); 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let key = format!("priority_{}", 4 - i);
        let Some(t) = v.get(&key) else {
            errors.push(FieldError::missing(format!("sla_target.{key}")));
            return None;
        };
        let time = |k: &str| {
            t.get(k)
                .and_then(Value::as_i64)
                .filter(|s| *s >= 900 && s % 60 == 0)
        };
        match (time("respond_within"), time("resolve_within")) {
            (Some(a), Some(b)) => *slot = (a, b),
            _ => {
                errors.push(FieldError::invalid_value(
                    format!("sla_target.{key}"),
                    "respond_within and resolve_within are seconds, multiples of 60 and at least 900",
                ));
                return None;
            }
        }
    }
    Some(out)
}

/// The group ids an SLA policy applies to (`applicable_to.group_ids`), each a group.
fn sla_groups(desk: &HelpDesk, v: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<i64>> {
    let groups: Vec<i64> = desk.groups.keys().copied().collect();
    let mut holder = Map::new();
    holder.insert(
        "group_ids".into(),
        v.get("group_ids").cloned().unwrap_or(Value::Null),
    );
    if holder["group_ids"].is_null() {
        errors.push(FieldError::missing("applicable_to.group_ids"));
        return None;
    }
    ids_of(&holder, "group_ids", &groups, errors)
}

const SLA_FIELDS: &[&str] = &[
    "name",
    "description",
    "active",
    "sla_target",
    "applicable_to",
    "escalation",
];

/// `POST /sla_policies` (admins): a policy for some groups, after the default one.
pub fn create_sla(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Answer {
    v.require_admin()?;
    let body = json_body(req)?;
    let mut errors = unknown(&body, SLA_FIELDS);
    let taken: Vec<&str> = desk.sla_policies.iter().map(|x| x.name.as_str()).collect();
    let name = unique_name(&body, &taken, &mut errors);
    let targets = match body.get("sla_target") {
        None => {
            errors.push(FieldError::missing("sla_target"));
            None
        }
        Some(t) => sla_targets(t, &mut errors),
    };
    let groups = match body.get("applicable_to") {
        None => {
            errors.push(FieldError::missing("applicable_to"));
            None
        }
        Some(a) => sla_groups(desk, a, &mut errors),
    };
    let description = text(&body, "description", &mut errors);
    let active = flag(&body, "active", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = desk.sla_policies.iter().map(|p| p.id).max().unwrap_or(0) + 1;
    let policy = crate::model::SlaPolicy {
        id,
        name: name.unwrap_or_default().trim().to_string(),
        description: description.unwrap_or_default(),
        active: active.unwrap_or(true),
        is_default: false,
        position: desk.sla_policies.len() as i64 + 1,
        targets: targets.unwrap_or_default(),
        group_ids: groups.unwrap_or_default(),
        created_at: req.now,
        updated_at: req.now,
    };
    let view = render::sla_policy(&policy);
    desk.sla_policies.push(policy);
    created(&view, req, format!("sla_policies/{id}"))
}

/// `PUT /sla_policies/{id}` (admins): name, description, active, targets and (not for the
/// default policy, which applies to everything) the groups.
pub fn update_sla(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: i64) -> Answer {
    v.require_admin()?;
    let at = desk
        .sla_policies
        .iter()
        .position(|p| p.id == id)
        .ok_or(ApiError::NotFound)?;
    let body = json_body(req)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    let mut errors = unknown(&body, SLA_FIELDS);
    let name = text(&body, "name", &mut errors);
    let description = text(&body, "description", &mut errors);
    let active = flag(&body, "active", &mut errors);
    let targets = body
        .get("sla_target")
        .and_then(|t| sla_targets(t, &mut errors));
    let groups = match body.get("applicable_to") {
        Some(_) if desk.sla_policies[at].is_default => {
            errors.push(FieldError::invalid_field("applicable_to"));
            None
        }
        Some(a) => sla_groups(desk, a, &mut errors),
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let p = &mut desk.sla_policies[at];
    set(&mut p.name, name);
    set(&mut p.description, description);
    set(&mut p.active, active);
    set(&mut p.targets, targets);
    set(&mut p.group_ids, groups);
    p.updated_at = req.now;
    Ok(Reply::value(&render::sla_policy(p)))
}
