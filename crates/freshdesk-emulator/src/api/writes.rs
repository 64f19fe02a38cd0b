//! Writes Freshdesk supports beyond tickets and contacts: companies (create, update, delete),
//! groups (create, admins only) and conversations (edit a note's body, delete one). Each checks
//! its body as Freshdesk does (unknown fields, types, required and unique values) and changes
//! nothing when it refuses.

use serde_json::{Map, Value, json};

use super::error::FieldError;
use super::{ApiError, Reply, Req, Viewer, json_body};
use crate::model::{Company, Group, HelpDesk};
use crate::render;

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

pub fn create_company(desk: &mut HelpDesk, req: &Req) -> Result<Reply, ApiError> {
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
    Ok(Reply::created(
        &v,
        format!("{}/api/v2/companies/{id}", req.origin),
    ))
}

pub fn update_company(desk: &mut HelpDesk, req: &Req, id: i64) -> Result<Reply, ApiError> {
    if !desk.companies.contains_key(&id) {
        return Err(ApiError::NotFound);
    }
    let body = json_body(req)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    let input = company_input(desk, &body, Some(id), false)?;
    let c = desk.companies.get_mut(&id).ok_or(ApiError::NotFound)?;
    if let Some(n) = input.name {
        c.name = n;
    }
    if let Some(d) = input.description {
        c.description = d;
    }
    if let Some(n) = input.note {
        c.note = n;
    }
    if let Some(d) = input.domains {
        c.domains = d;
    }
    c.updated_at = req.now;
    Ok(Reply::value(&render::company(c)))
}

/// Deletes a company; its contacts and tickets keep everything but the company.
pub fn delete_company(desk: &mut HelpDesk, req: &Req, id: i64) -> Result<Reply, ApiError> {
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

pub fn create_group(desk: &mut HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    v.require_admin()?;
    let body = json_body(req)?;
    let mut errors = unknown(&body, GROUP_FIELDS);
    let name = text(&body, "name", &mut errors);
    match &name {
        None => errors.push(FieldError::missing("name")),
        Some(n)
            if desk
                .groups
                .values()
                .any(|g| g.name.eq_ignore_ascii_case(n.trim())) =>
        {
            errors.push(FieldError::new(
                "name",
                "It should be a unique value",
                "duplicate_value",
            ))
        }
        Some(_) => {}
    }
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
    Ok(Reply::created(
        &v,
        format!("{}/api/v2/groups/{id}", req.origin),
    ))
}

/// `PUT` edits a note's body (Freshdesk lets only notes be edited; a reply or a customer's
/// message answers 405 and can only be deleted); `DELETE` removes the conversation. Either needs
/// write access to its ticket.
pub fn conversation(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    id: i64,
) -> Result<Reply, ApiError> {
    let c = desk.conversations.get(&id).ok_or(ApiError::NotFound)?;
    let ticket = c.ticket_id;
    super::tickets::writable(desk, req, v, ticket)?;
    if req.method == "DELETE" {
        desk.remove_conversation(id);
        desk.touch_ticket(ticket, req.now);
        return Ok(Reply::no_content());
    }
    let body = json_body(req)?;
    let mut errors = unknown(&body, &["body"]);
    let text = text(&body, "body", &mut errors);
    if text.as_deref().is_none_or(|b| b.trim().is_empty()) && errors.is_empty() {
        errors.push(FieldError::missing("body"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let c = desk.conversations.get_mut(&id).ok_or(ApiError::NotFound)?;
    if c.source != 2 {
        return Err(ApiError::MethodNotAllowed {
            method: req.method.into(),
            allowed: vec!["DELETE"],
        });
    }
    let html = text.unwrap_or_default();
    c.body_text = crate::util::html_to_text(&html);
    c.body_html = html;
    c.updated_at = req.now;
    let view = render::conversation(c);
    desk.touch_ticket(ticket, req.now);
    Ok(Reply::value(&view))
}
