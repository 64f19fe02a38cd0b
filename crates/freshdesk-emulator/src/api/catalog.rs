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
