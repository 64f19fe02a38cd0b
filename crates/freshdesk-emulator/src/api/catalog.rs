//! Small documented read endpoints around the help desk's configuration and people: contact and
//! company fields, products, email configs and mailboxes, and the autocomplete lookups for
//! agents, contacts and companies. What they list follows from the seeded account (one product,
//! one support address), so every account answers them consistently.

use serde_json::{Value, json};

use super::error::FieldError;
use super::{ApiError, Reply, Req, Viewer, listed};
use crate::model::{AgentState, ContactState, HelpDesk};
use crate::seed::EMAIL_CONFIG_ID;
use crate::util::format_ts;

type Answer = Result<Reply, ApiError>;

const PRODUCT_ID: i64 = 43_000_950_001;

fn support_email(desk: &HelpDesk) -> String {
    format!("support@{}-support.example", desk.account.domain)
}

/// A default field of contacts or companies as the fields endpoints list them.
fn field(
    desk: &HelpDesk,
    id: i64,
    position: usize,
    name: &str,
    label: &str,
    required: bool,
) -> Value {
    let at = format_ts(desk.account.created_at);
    json!({
        "id": id,
        "name": name,
        "label": label,
        "label_for_customers": label,
        "position": position,
        "type": format!("default_{name}"),
        "default": true,
        "required_for_agents": required,
        "required_for_customers": required,
        "customers_can_edit": name != "company_name" && name != "description",
        "displayed_for_customers": name != "description",
        "created_at": at,
        "updated_at": at,
    })
}

/// Default fields `(name, label)` as a list, ids from `first_id`; only `name` is required.
fn default_fields(desk: &HelpDesk, req: &Req, first_id: i64, fields: &[(&str, &str)]) -> Answer {
    let rows: Vec<Value> = fields
        .iter()
        .enumerate()
        .map(|(i, (name, label))| {
            field(
                desk,
                first_id + i as i64,
                i + 1,
                name,
                label,
                *name == "name",
            )
        })
        .collect();
    listed(req, rows.iter(), Value::clone)
}

pub fn contact_fields(desk: &HelpDesk, req: &Req) -> Answer {
    const FIELDS: [(&str, &str); 13] = [
        ("name", "Full name"),
        ("job_title", "Title"),
        ("email", "Email"),
        ("phone", "Work phone"),
        ("mobile", "Mobile phone"),
        ("twitter_id", "Twitter"),
        ("company_name", "Company"),
        ("address", "Address"),
        ("time_zone", "Time zone"),
        ("language", "Language"),
        ("tag_names", "Tags"),
        ("description", "About"),
        ("unique_external_id", "Unique external ID"),
    ];
    default_fields(desk, req, 43_000_960_001, &FIELDS)
}

pub fn company_fields(desk: &HelpDesk, req: &Req) -> Answer {
    const FIELDS: [(&str, &str); 8] = [
        ("name", "Company name"),
        ("description", "Description"),
        ("note", "Notes"),
        ("domains", "Domains for this company"),
        ("health_score", "Health score"),
        ("account_tier", "Account tier"),
        ("renewal_date", "Renewal date"),
        ("industry", "Industry"),
    ];
    default_fields(desk, req, 43_000_970_001, &FIELDS)
}

fn product(desk: &HelpDesk) -> Value {
    let at = format_ts(desk.account.created_at);
    json!({
        "id": PRODUCT_ID,
        "name": desk.account.name,
        "description": "The help desk's one product",
        "primary_email": support_email(desk),
        "created_at": at,
        "updated_at": at,
        "default": true,
    })
}

pub fn products(desk: &HelpDesk, req: &Req) -> Answer {
    listed(req, [product(desk)].iter(), Value::clone)
}

pub fn product_by_id(desk: &HelpDesk, id: i64) -> Answer {
    if id != PRODUCT_ID {
        return Err(ApiError::NotFound);
    }
    Ok(Reply::value(&product(desk)))
}

/// The account's one support address, as `email_configs` (`mailbox` false) or as
/// `email/mailboxes` (`mailbox` true) show it; admins only.
pub fn support_address(desk: &HelpDesk, req: &Req, v: &Viewer, mailbox: bool) -> Answer {
    v.require_admin()?;
    let at = format_ts(desk.account.created_at);
    let mut row = json!({
        "id": EMAIL_CONFIG_ID,
        "name": desk.account.name,
        "product_id": PRODUCT_ID,
        "group_id": null,
        "active": true,
        "created_at": at,
        "updated_at": at,
    });
    let extra = if mailbox {
        json!({
            "support_email": support_email(desk),
            "default_reply_email": true,
            "mailbox_type": "freshdesk_mailbox",
            "freshdesk_mailbox": {"forward_email": format!("support@{}.freshdesk.com", desk.account.domain)},
        })
    } else {
        json!({"to_email": support_email(desk), "reply_email": support_email(desk), "primary_role": true})
    };
    if let (Some(row), Value::Object(extra)) = (row.as_object_mut(), extra) {
        row.extend(extra);
    }
    listed(req, [row].iter(), Value::clone)
}

/// The required search word of an autocomplete call.
fn term<'a>(req: &'a Req, key: &str) -> Result<&'a str, ApiError> {
    match req.query.get(key).map(str::trim) {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(ApiError::Validation(vec![FieldError::missing(key)])),
    }
}

/// Whether any word of `name` starts with `term`, ignoring case.
fn starts_a_word(name: &str, term: &str) -> bool {
    let term = term.to_lowercase();
    name.to_lowercase()
        .split_whitespace()
        .any(|w| w.starts_with(&term))
        || name.to_lowercase().starts_with(&term)
}

/// `GET /contacts/autocomplete?term=`: up to 30 contacts a word of whose name starts with it.
pub fn contacts_autocomplete(desk: &HelpDesk, req: &Req) -> Answer {
    let t = term(req, "term")?;
    let hits: Vec<Value> = desk
        .contacts
        .values()
        .filter(|c| !matches!(c.state, ContactState::Deleted | ContactState::Blocked))
        .filter(|c| starts_a_word(&c.name, t))
        .take(30)
        .map(|c| json!({"id": c.id, "name": c.name}))
        .collect();
    Ok(Reply::value(&Value::Array(hits)))
}

/// `GET /companies/autocomplete?name=`: `{"companies": [{id, name}]}`, up to 30.
pub fn companies_autocomplete(desk: &HelpDesk, req: &Req) -> Answer {
    let t = term(req, "name")?;
    let hits: Vec<Value> = desk
        .companies
        .values()
        .filter(|c| starts_a_word(&c.name, t))
        .take(30)
        .map(|c| json!({"id": c.id, "name": c.name}))
        .collect();
    Ok(Reply::value(&json!({"companies": hits})))
}

/// `GET /agents/autocomplete?term=` (admins): agents whose name or email starts with it.
pub fn agents_autocomplete(desk: &HelpDesk, req: &Req, v: &Viewer) -> Answer {
    v.require_admin()?;
    let t = term(req, "term")?;
    let hits: Vec<Value> = desk
        .agents
        .values()
        .filter(|a| a.state != AgentState::Deleted)
        .filter(|a| {
            starts_a_word(&a.name, t) || a.email.to_lowercase().starts_with(&t.to_lowercase())
        })
        .take(30)
        .map(|a| json!({"id": a.id, "name": a.name, "email": a.email}))
        .collect();
    Ok(Reply::value(&Value::Array(hits)))
}

/// `GET /admin/ticket_fields[/{id}]` (admins): the ticket fields in the admin shape, where a
/// dropdown's choices are objects with ids and positions and each field says whether it has
/// sections (none here).
fn admin_field(f: &crate::model::TicketField) -> Value {
    let mut v = crate::render::ticket_field(f);
    if let crate::model::FieldChoices::List(items) = &f.choices
        && f.field_type.starts_with("custom_")
    {
        v["choices"] = items
            .iter()
            .enumerate()
            .map(|(i, label)| {
                json!({"id": f.id * 1_000 + i as i64 + 1, "label": label, "value": label, "position": i + 1, "parent_choice_id": null})
            })
            .collect();
    }
    v["has_section"] = json!(false);
    v["archived"] = json!(false);
    v
}

pub fn admin_ticket_fields(desk: &HelpDesk, v: &Viewer) -> Answer {
    v.require_admin()?;
    let all: Vec<Value> = desk.ticket_fields.iter().map(admin_field).collect();
    Ok(Reply::value(&Value::Array(all)))
}

pub fn admin_ticket_field(desk: &HelpDesk, v: &Viewer, id: i64, sections: bool) -> Answer {
    v.require_admin()?;
    let f = desk
        .ticket_fields
        .iter()
        .find(|f| f.id == id)
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::value(&if sections {
        json!([])
    } else {
        admin_field(f)
    }))
}

/// `GET /admin/skills` (admins): skill-based routing is not set up on the seeded accounts.
pub fn skills(req: &Req, v: &Viewer) -> Answer {
    v.require_admin()?;
    listed(req, std::iter::empty::<&Value>(), Value::clone)
}

/// `GET /surveys` (Surveys feature): the default satisfaction survey the ratings answer.
pub fn surveys(desk: &HelpDesk, req: &Req) -> Answer {
    super::resources::require(desk, crate::model::Feature::Surveys)?;
    let at = format_ts(desk.account.created_at);
    let survey = json!({
        "id": crate::seed::SURVEY_ID,
        "title": "Default Survey",
        "active": true,
        "questions": [{
            "id": "default_question",
            "label": "How would you rate your overall satisfaction for the resolution provided by the agent?",
            "accepted_ratings": [103, 102, 101, 100, -101, -102, -103],
            "default": true,
        }],
        "created_at": at,
        "updated_at": at,
    });
    listed(req, [survey].iter(), Value::clone)
}

const CANNED_FOLDER_ID: i64 = 43_000_980_001;
const CANNED: [(&str, &str); 3] = [
    (
        "Thanks for waiting",
        "Thank you for your patience. We are looking into this and will get back to you shortly.",
    ),
    (
        "Need more details",
        "Could you send us a little more detail, such as a screenshot or the exact error you see?",
    ),
    (
        "Closing the ticket",
        "We have not heard back from you, so we are closing this ticket. Reply to reopen it at any time.",
    ),
];

fn canned_response(desk: &HelpDesk, i: usize) -> Value {
    let at = format_ts(desk.account.created_at);
    let (title, content) = CANNED[i];
    json!({
        "id": CANNED_FOLDER_ID * 10 + i as i64 + 1,
        "title": title,
        "folder_id": CANNED_FOLDER_ID,
        "content": content,
        "content_html": format!("<div>{}</div>", crate::util::html_escape(content)),
        "attachments": [],
        "created_at": at,
        "updated_at": at,
    })
}

pub fn canned_response_folders(desk: &HelpDesk, req: &Req) -> Answer {
    let at = format_ts(desk.account.created_at);
    let folder = json!({"id": CANNED_FOLDER_ID, "name": "General", "personal": false, "responses_count": CANNED.len(), "created_at": at, "updated_at": at});
    listed(req, [folder].iter(), Value::clone)
}

pub fn canned_responses_in(desk: &HelpDesk, req: &Req, folder: i64) -> Answer {
    if folder != CANNED_FOLDER_ID {
        return Err(ApiError::NotFound);
    }
    let all: Vec<Value> = (0..CANNED.len())
        .map(|i| canned_response(desk, i))
        .collect();
    listed(req, all.iter(), Value::clone)
}

pub fn canned_response_by_id(desk: &HelpDesk, id: i64) -> Answer {
    let i = (0..CANNED.len())
        .find(|i| CANNED_FOLDER_ID * 10 + *i as i64 + 1 == id)
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::value(&canned_response(desk, i)))
}

/// `GET /scenario_automations`: the one-click scenarios agents run on a ticket.
pub fn scenario_automations(desk: &HelpDesk, req: &Req) -> Answer {
    let at = format_ts(desk.account.created_at);
    let all = [
        json!({"id": 43_000_990_001i64, "name": "Mark as spam and close", "description": "Closes a spam ticket", "actions": [{"name": "status", "value": 5}], "private": false, "created_at": at, "updated_at": at}),
        json!({"id": 43_000_990_002i64, "name": "Escalate to EU", "description": "Urgent and to Escalations EU", "actions": [{"name": "priority", "value": 4}, {"name": "group_id", "value": crate::seed::GROUP_ID_BASE + 5}], "private": false, "created_at": at, "updated_at": at}),
    ];
    listed(req, all.iter(), Value::clone)
}
