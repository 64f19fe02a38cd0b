//! Contacts, companies, agents, roles and groups. Agents (except `/agents/me`), roles and groups are
//! admin-only, as Freshdesk has them; contacts and companies are open to every agent.

use serde_json::{Value, json};

use super::error::{ApiError, FieldError};
use super::query::{date_param, one_of, paging, paging_into, positive_id};
use super::{Reply, Req, Viewer, json_body, listed, page_reply, take_page};
use crate::model::{AgentState, Contact, ContactState, HelpDesk};
use crate::render;

const CONTACT_PARAMS: &[&str] = &[
    "email",
    "mobile",
    "phone",
    "company_id",
    "state",
    "updated_since",
    "_updated_since",
    "contact_type",
    "unique_external_id",
    "page",
    "per_page",
];

pub fn contacts(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    let q = &req.query;
    let mut errors = q.only(CONTACT_PARAMS);
    let state = one_of(
        q,
        "state",
        &["blocked", "deleted", "unverified", "verified"],
        &mut errors,
    );
    // Both spellings: the 2020 server took only `_updated_since`, today's docs name `updated_since`.
    let since = date_param(q, "updated_since", &mut errors).or(date_param(
        q,
        "_updated_since",
        &mut errors,
    ));
    let company_id = positive_id(q, "company_id", &mut errors);
    let (page, per_page) = paging_into(q, 30, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let eq = |field: &Option<String>, key: &str| {
        q.get(key).is_none_or(|want| {
            field
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(want))
        })
    };
    let mut rows: Vec<&Contact> = desk
        .contacts
        .values()
        .filter(|c| match state.as_deref() {
            Some("blocked") => c.state == ContactState::Blocked,
            Some("deleted") => c.state == ContactState::Deleted,
            Some("unverified") => c.state == ContactState::Unverified,
            Some("verified") => c.state == ContactState::Verified,
            _ => !matches!(c.state, ContactState::Blocked | ContactState::Deleted),
        })
        .filter(|c| since.is_none_or(|s| c.updated_at >= s))
        .filter(|c| company_id.is_none_or(|id| c.company_id == Some(id)))
        .filter(|c| {
            eq(&c.email, "email")
                && eq(&c.mobile, "mobile")
                && eq(&c.phone, "phone")
                && eq(&c.unique_external_id, "unique_external_id")
        })
        .collect();
    // Alphabetical by name, as Freshdesk lists contacts by default.
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let rows = take_page(rows.into_iter(), page, per_page);
    Ok(page_reply(req, page, per_page, rows, |c| {
        render::contact(c)
    }))
}

pub fn contact(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    let c = desk.contacts.get(&id).ok_or(ApiError::NotFound)?;
    Ok(Reply::value(&render::contact(c)))
}

pub fn create_contact(desk: &mut HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    let body = json_body(req)?;
    const FIELDS: &[&str] = &[
        "name",
        "email",
        "phone",
        "mobile",
        "company_id",
        "job_title",
        "description",
        "twitter_id",
        "unique_external_id",
        "tags",
        "address",
        "language",
        "time_zone",
    ];
    let mut errors = super::writes::unknown(&body, FIELDS);
    let text = |k: &str, errors: &mut Vec<FieldError>| super::writes::text(&body, k, errors);
    let name = text("name", &mut errors);
    let email = text("email", &mut errors);
    let phone = text("phone", &mut errors);
    let mobile = text("mobile", &mut errors);
    let external = text("unique_external_id", &mut errors);
    if name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        errors.push(FieldError::missing("name"));
    }
    if email.is_none()
        && phone.is_none()
        && mobile.is_none()
        && external.is_none()
        && !body.contains_key("twitter_id")
    {
        errors.push(FieldError::new(
            "email",
            "Please fill at least 1 of email, mobile, phone, twitter_id, unique_external_id fields",
            "missing_field",
        ));
    }
    if let Some(e) = &email
        && let Some(existing) = desk.contact_with_email(e).or_else(|| {
            desk.agents
                .values()
                .find(|a| a.email.eq_ignore_ascii_case(e))
                .map(|a| a.id)
        })
    {
        let mut dup = FieldError::new("email", "It should be a unique value", "duplicate_value");
        dup.additional_info = Some(json!({"user_id": existing}));
        errors.push(dup);
    }
    let company_id = match body.get("company_id") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(id) if desk.companies.contains_key(&id) => Some(id),
            _ => {
                errors.push(FieldError::invalid_value(
                    "company_id",
                    "There is no company matching the given company_id",
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = super::tickets::new_contact(desk, name.unwrap_or_default(), email, phone, req.now);
    if let Some(c) = desk.contacts.get_mut(&id) {
        c.mobile = mobile;
        c.company_id = company_id;
        c.unique_external_id = external;
        c.job_title = body
            .get("job_title")
            .and_then(Value::as_str)
            .map(String::from);
    }
    let v = render::contact(&desk.contacts[&id]);
    Ok(Reply::created(
        &v,
        format!("{}/api/v2/contacts/{id}", req.origin),
    ))
}

fn live_contact<'a>(
    desk: &'a mut HelpDesk,
    req: &Req,
    id: i64,
) -> Result<&'a mut Contact, ApiError> {
    if desk
        .agents
        .get(&id)
        .is_some_and(|a| a.state != AgentState::Deleted)
    {
        return Err(ApiError::NotFound);
    }
    let c = desk.contacts.get_mut(&id).ok_or(ApiError::NotFound)?;
    if matches!(c.state, ContactState::Deleted | ContactState::Blocked) {
        return Err(ApiError::only_get(req.method));
    }
    Ok(c)
}

pub fn update_contact(desk: &mut HelpDesk, req: &Req, id: i64) -> Result<Reply, ApiError> {
    let body = json_body(req)?;
    let now = req.now;
    let c = live_contact(desk, req, id)?;
    if body.is_empty() {
        return Err(ApiError::missing_params());
    }
    const FIELDS: &[&str] = &[
        "name",
        "phone",
        "mobile",
        "job_title",
        "description",
        "address",
        "language",
        "time_zone",
    ];
    let errors: Vec<FieldError> = body
        .iter()
        .filter(|(k, v)| !FIELDS.contains(&k.as_str()) || !(v.is_string() || v.is_null()))
        .map(|(k, _)| FieldError::invalid_field(k.clone()))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    for (k, v) in &body {
        let s = v.as_str().map(String::from);
        match k.as_str() {
            "name" => c.name = s.unwrap_or_default(),
            "phone" => c.phone = s,
            "mobile" => c.mobile = s,
            "job_title" => c.job_title = s,
            "description" => c.description = s,
            "address" => c.address = s,
            _ => {}
        }
    }
    c.updated_at = now;
    Ok(Reply::value(&render::contact(c)))
}

pub fn delete_contact(desk: &mut HelpDesk, req: &Req, id: i64) -> Result<Reply, ApiError> {
    let now = req.now;
    let c = live_contact(desk, req, id)?;
    c.state = ContactState::Deleted;
    c.updated_at = now;
    Ok(Reply::no_content())
}

pub fn restore_contact(desk: &mut HelpDesk, req: &Req, id: i64) -> Result<Reply, ApiError> {
    let c = desk.contacts.get_mut(&id).ok_or(ApiError::NotFound)?;
    if c.state != ContactState::Deleted {
        return Err(ApiError::NotFound);
    }
    c.state = ContactState::Verified;
    c.updated_at = req.now;
    Ok(Reply::no_content())
}

pub fn hard_delete_contact(desk: &mut HelpDesk, req: &Req, id: i64) -> Result<Reply, ApiError> {
    let c = desk.contacts.get(&id).ok_or(ApiError::NotFound)?;
    let force = req.query.get("force") == Some("true");
    if c.state != ContactState::Deleted && !force {
        // The exact message is not in any source; the shape and status are.
        return Err(ApiError::field(FieldError::invalid_value(
            "contact",
            "Contact should be deleted before it can be permanently deleted",
        )));
    }
    desk.contacts.remove(&id);
    let tickets: Vec<i64> = desk
        .tickets
        .values()
        .filter(|t| t.requester_id == id)
        .map(|t| t.id)
        .collect();
    for t in tickets {
        desk.remove_ticket(t);
    }
    Ok(Reply::no_content())
}

pub fn companies(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    let q = &req.query;
    let mut errors = Vec::new();
    let since = date_param(q, "updated_since", &mut errors);
    let (page, per_page) = paging_into(q, 30, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = take_page(
        desk.companies
            .values()
            .filter(|c| since.is_none_or(|s| c.updated_at >= s)),
        page,
        per_page,
    );
    Ok(page_reply(req, page, per_page, rows, |c| {
        render::company(c)
    }))
}

pub fn company(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    Ok(Reply::value(&render::company(
        desk.companies.get(&id).ok_or(ApiError::NotFound)?,
    )))
}

pub fn agents(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    v.require_admin()?;
    let q = &req.query;
    let mut errors = Vec::new();
    let state = one_of(q, "state", &["fulltime", "occasional"], &mut errors);
    let (page, per_page) = paging_into(q, 30, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut rows: Vec<&crate::model::Agent> = desk
        .agents
        .values()
        .filter(|a| a.state != AgentState::Deleted)
        .filter(|a| match state.as_deref() {
            Some("fulltime") => !a.occasional,
            Some("occasional") => a.occasional,
            _ => true,
        })
        .filter(|a| {
            q.get("email")
                .is_none_or(|e| a.email.eq_ignore_ascii_case(e))
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let rows = take_page(rows.into_iter(), page, per_page);
    Ok(page_reply(req, page, per_page, rows, |a| render::agent(a)))
}

pub fn agent(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    let a = desk
        .agents
        .get(&id)
        .filter(|a| a.state != AgentState::Deleted)
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::value(&render::agent(a)))
}

/// `DELETE /agents/{id}`: the agent is downgraded to a contact and keeps its key.
pub fn delete_agent(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    id: i64,
) -> Result<Reply, ApiError> {
    v.require_admin()?;
    if id == v.id {
        return Err(ApiError::access_denied());
    }
    downgrade_agent(desk, id, req.now).ok_or(ApiError::NotFound)?;
    Ok(Reply::no_content())
}

pub fn downgrade_agent(desk: &mut HelpDesk, id: i64, now: i64) -> Option<()> {
    let a = desk
        .agents
        .get_mut(&id)
        .filter(|a| a.state != AgentState::Deleted)?;
    a.state = AgentState::Deleted;
    a.updated_at = now;
    let contact = Contact {
        phone: a.phone.clone(),
        mobile: a.mobile.clone(),
        job_title: a.job_title.clone(),
        language: a.language,
        time_zone: a.time_zone,
        state: ContactState::Verified,
        created_at: a.created_at,
        ..Contact::new(id, a.name.clone(), Some(a.email.clone()), now)
    };
    desk.contacts.insert(id, contact);
    Some(())
}

pub fn roles(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    v.require_admin()?;
    listed(req, desk.roles.iter(), render::role)
}

pub fn role(desk: &HelpDesk, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    v.require_admin()?;
    Ok(Reply::value(&render::role(
        desk.roles
            .iter()
            .find(|r| r.id == id)
            .ok_or(ApiError::NotFound)?,
    )))
}

pub fn groups(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    v.require_admin()?;
    let (page, per_page) = paging(&req.query, 30).map_err(ApiError::Validation)?;
    let mut rows: Vec<&crate::model::Group> = desk.groups.values().collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let rows = take_page(rows.into_iter(), page, per_page);
    Ok(page_reply(req, page, per_page, rows, |g| {
        render::group(g, desk.agent_ids_in_group(g.id))
    }))
}

pub fn group(desk: &HelpDesk, v: &Viewer, id: i64) -> Result<Reply, ApiError> {
    v.require_admin()?;
    let g = desk.groups.get(&id).ok_or(ApiError::NotFound)?;
    Ok(Reply::value(&render::group(g, desk.agent_ids_in_group(id))))
}
