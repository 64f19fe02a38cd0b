//! Turns the emulator's records into Freshdesk's JSON: field names, order, explicit `null`s,
//! `deleted` only when true, timestamps as `YYYY-MM-DDTHH:MM:SSZ`. Tickets are on the hot path of
//! every sync benchmark, so they serialize straight to bytes with no intermediate `Value`.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};

use crate::model::*;
use crate::util::{format_date, format_ts};

/// A timestamp that serializes in Freshdesk's form.
#[derive(Clone, Copy)]
pub struct T(pub Ts);

impl Serialize for T {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let buf = crate::util::ts_bytes(self.0);
        s.serialize_str(std::str::from_utf8(&buf).unwrap_or("1970-01-01T00:00:00Z"))
    }
}

#[derive(Serialize)]
struct StatsView {
    agent_responded_at: Option<T>,
    requester_responded_at: Option<T>,
    first_responded_at: Option<T>,
    status_updated_at: Option<T>,
    reopened_at: Option<T>,
    resolved_at: Option<T>,
    closed_at: Option<T>,
    pending_since: Option<T>,
}

#[derive(Serialize)]
struct PersonView<'a> {
    id: i64,
    name: &'a str,
    email: Option<&'a str>,
    mobile: Option<&'a str>,
    phone: Option<&'a str>,
}

#[derive(Serialize)]
struct CompanyRef<'a> {
    id: i64,
    name: &'a str,
}

pub fn ts(t: Ts) -> Value {
    Value::String(format_ts(t))
}

pub fn ots(t: Option<Ts>) -> Value {
    t.map(ts).unwrap_or(Value::Null)
}

#[derive(Default)]
pub struct TicketIncludes<'a> {
    pub description: bool,
    pub requester: Option<Option<&'a Contact>>,
    pub requester_agent: Option<&'a Agent>,
    pub company: Option<Option<&'a Company>>,
    pub stats: bool,
    pub conversations: Option<Vec<&'a Conversation>>,
    /// The single-ticket view also carries `attachments` and `source_additional_info`.
    pub detail: bool,
}

/// One ticket as its own page shows it (`GET /tickets/{id}`, and the reply to a create or an
/// update), with the stats when asked.
pub fn ticket_detail(t: &Ticket, stats: bool) -> Value {
    serde_json::to_value(TicketView {
        t,
        inc: TicketIncludes {
            detail: true,
            stats,
            ..Default::default()
        },
    })
    .unwrap_or(Value::Null)
}

pub struct TicketView<'a> {
    pub t: &'a Ticket,
    pub inc: TicketIncludes<'a>,
}

impl Serialize for TicketView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.t;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("cc_emails", &t.cc_emails)?;
        m.serialize_entry("fwd_emails", &t.fwd_emails)?;
        m.serialize_entry("reply_cc_emails", &t.reply_cc_emails)?;
        m.serialize_entry("ticket_cc_emails", &t.cc_emails)?;
        m.serialize_entry("fr_escalated", &t.fr_escalated)?;
        m.serialize_entry("spam", &t.spam)?;
        m.serialize_entry("email_config_id", &t.email_config_id)?;
        m.serialize_entry("group_id", &t.group_id)?;
        m.serialize_entry("priority", &t.priority)?;
        m.serialize_entry("requester_id", &t.requester_id)?;
        m.serialize_entry("responder_id", &t.responder_id)?;
        m.serialize_entry("source", &t.source)?;
        m.serialize_entry("company_id", &t.company_id)?;
        m.serialize_entry("status", &t.status)?;
        m.serialize_entry("subject", &t.subject)?;
        m.serialize_entry("association_type", &t.association.as_ref().map(|a| a.kind))?;
        m.serialize_entry(
            "support_email",
            &t.email_config_id.map(|_| "support@acme-support.example"),
        )?;
        m.serialize_entry("to_emails", &t.to_emails)?;
        m.serialize_entry("product_id", &t.product_id)?;
        m.serialize_entry("id", &t.id)?;
        m.serialize_entry("type", &t.ticket_type)?;
        m.serialize_entry("due_by", &T(t.due_by))?;
        m.serialize_entry("fr_due_by", &T(t.fr_due_by))?;
        m.serialize_entry("is_escalated", &t.is_escalated)?;
        if self.inc.description || self.inc.detail {
            m.serialize_entry("description", &t.description_html)?;
            m.serialize_entry("description_text", &t.description_text)?;
        }
        m.serialize_entry("custom_fields", &CustomFields(t))?;
        m.serialize_entry("created_at", &T(t.created_at))?;
        m.serialize_entry("updated_at", &T(t.updated_at))?;
        let leading = t.association.as_ref().filter(|a| a.leads());
        m.serialize_entry("associated_tickets_count", &leading.map(|a| a.with.len()))?;
        // A linked ticket's own page names the tickets it is linked with.
        if self.inc.detail
            && let Some(a) = &t.association
        {
            m.serialize_entry("associated_tickets_list", &a.with)?;
        }
        m.serialize_entry("tags", &t.tags)?;
        m.serialize_entry("nr_due_by", &t.nr_due_by.map(T))?;
        m.serialize_entry("nr_escalated", &t.nr_escalated)?;
        if self.inc.detail {
            m.serialize_entry("attachments", &[(); 0])?;
            m.serialize_entry("source_additional_info", &Option::<i64>::None)?;
        }
        if t.trash != Trash::Live {
            m.serialize_entry("deleted", &true)?;
        }
        if self.inc.stats {
            let st = &t.stats;
            m.serialize_entry(
                "stats",
                &StatsView {
                    agent_responded_at: st.agent_responded_at.map(T),
                    requester_responded_at: st.requester_responded_at.map(T),
                    first_responded_at: st.first_responded_at.map(T),
                    status_updated_at: st.status_updated_at.map(T),
                    reopened_at: st.reopened_at.map(T),
                    resolved_at: st.resolved_at.map(T),
                    closed_at: st.closed_at.map(T),
                    pending_since: st.pending_since.map(T),
                },
            )?;
        }
        if let Some(r) = self.inc.requester {
            let v = match (r, self.inc.requester_agent) {
                (Some(c), _) => Some(PersonView {
                    id: c.id,
                    name: &c.name,
                    email: c.email.as_deref(),
                    mobile: c.mobile.as_deref(),
                    phone: c.phone.as_deref(),
                }),
                (None, Some(a)) => Some(PersonView {
                    id: a.id,
                    name: &a.name,
                    email: Some(&a.email),
                    mobile: a.mobile.as_deref(),
                    phone: a.phone.as_deref(),
                }),
                (None, None) => None,
            };
            m.serialize_entry("requester", &v)?;
        }
        if let Some(c) = self.inc.company {
            match c {
                Some(c) => m.serialize_entry(
                    "company",
                    &CompanyRef {
                        id: c.id,
                        name: &c.name,
                    },
                )?,
                None => m.serialize_entry("company", &serde_json::Map::new())?,
            }
        }
        if let Some(convs) = &self.inc.conversations {
            let list: Vec<Value> = convs.iter().map(|c| conversation(c)).collect();
            m.serialize_entry("conversations", &list)?;
        }
        m.end()
    }
}

struct CustomFields<'a>(&'a Ticket);

impl Serialize for CustomFields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("cf_category", &self.0.cf_category)?;
        m.serialize_entry("cf_order_number", &self.0.cf_order_number)?;
        m.end()
    }
}

pub fn conversation(c: &Conversation) -> Value {
    json!({
        "body": c.body_html,
        "body_text": c.body_text,
        "id": c.id,
        "incoming": c.incoming,
        "private": c.private,
        "user_id": c.user_id,
        "support_email": c.support_email,
        "source": c.source,
        "category": if c.incoming { 2 } else { 3 },
        "to_emails": c.to_emails,
        "from_email": c.from_email,
        "cc_emails": c.cc_emails,
        "bcc_emails": c.bcc_emails,
        "email_failure_count": Value::Null,
        "outgoing_failures": Value::Null,
        "thread_id": Value::Null,
        "thread_message_id": Value::Null,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "last_edited_at": Value::Null,
        "last_edited_user_id": Value::Null,
        "attachments": [],
        "automation_id": Value::Null,
        "automation_type_id": Value::Null,
        "auto_response": false,
        "ticket_id": c.ticket_id,
        "source_additional_info": Value::Null,
    })
}

pub fn contact(c: &Contact) -> Value {
    let mut v = json!({
        "active": c.state == ContactState::Verified,
        "address": c.address,
        "company_id": c.company_id,
        "description": c.description,
        "email": c.email,
        "id": c.id,
        "job_title": c.job_title,
        "language": c.language,
        "mobile": c.mobile,
        "name": c.name,
        "phone": c.phone,
        "time_zone": c.time_zone,
        "twitter_id": c.twitter_id,
        "custom_fields": {},
        "facebook_id": Value::Null,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "csat_rating": Value::Null,
        "preferred_source": Value::Null,
        "unique_external_id": c.unique_external_id,
        "other_emails": c.other_emails,
        "other_companies": [],
        "view_all_tickets": c.view_all_tickets,
        "tags": c.tags,
        "avatar": Value::Null,
    });
    if c.state == ContactState::Deleted {
        v["deleted"] = Value::Bool(true);
    }
    if c.state == ContactState::Blocked {
        v["blocked"] = Value::Bool(true);
    }
    v
}

pub fn company(c: &Company) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "note": c.note,
        "domains": c.domains,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "custom_fields": {},
        "health_score": c.health_score,
        "account_tier": c.account_tier,
        "renewal_date": c.renewal_date.map(|d| format!("{}T00:00:00Z", format_date(d))),
        "industry": c.industry,
    })
}

pub fn agent(a: &Agent) -> Value {
    json!({
        "available": a.available,
        "occasional": a.occasional,
        "id": a.id,
        "ticket_scope": a.ticket_scope,
        "signature": a.signature,
        "group_ids": a.group_ids,
        "role_ids": a.role_ids,
        "skill_ids": a.skill_ids,
        "available_since": Value::Null,
        "contribution_group_ids": [],
        "type": a.agent_type,
        "focus_mode": true,
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
        "last_active_at": ots(a.last_active_at),
        "contact": {
            "active": true,
            "email": a.email,
            "job_title": a.job_title,
            "language": a.language,
            "last_login_at": ots(a.last_login_at),
            "mobile": a.mobile,
            "name": a.name,
            "phone": a.phone,
            "time_zone": a.time_zone,
            "created_at": ts(a.created_at),
            "updated_at": ts(a.updated_at),
        },
    })
}

pub fn role(r: &Role) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "default": r.default,
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
    })
}

pub fn group(g: &Group, agent_ids: Vec<i64>) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "escalate_to": g.escalate_to,
        "unassigned_for": g.unassigned_for,
        "business_hour_id": g.business_hour_id,
        "group_type": "support_agent_group",
        "created_at": ts(g.created_at),
        "updated_at": ts(g.updated_at),
        "agent_ids": agent_ids,
        "auto_ticket_assign": g.auto_ticket_assign,
    })
}

pub fn ticket_field(f: &TicketField) -> Value {
    let choices = match &f.choices {
        FieldChoices::None => {
            if f.field_type.starts_with("custom_") {
                Value::Null
            } else {
                json!([])
            }
        }
        FieldChoices::List(items) => json!(items),
        FieldChoices::Named(items) => {
            let mut m = serde_json::Map::new();
            for (k, v) in items {
                m.insert((*k).into(), json!(v));
            }
            Value::Object(m)
        }
        FieldChoices::Status(items) => {
            let mut m = serde_json::Map::new();
            for (id, agent_label, customer_label) in items {
                m.insert(id.to_string(), json!([agent_label, customer_label]));
            }
            Value::Object(m)
        }
    };
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "label": f.label,
        "description": f.description,
        "position": f.position,
        "required_for_closure": f.required_for_closure,
        "required_for_agents": f.required_for_agents,
        "type": f.field_type,
        "default": f.default,
        "customers_can_edit": f.customers_can_edit,
        "label_for_customers": f.label_for_customers,
        "required_for_customers": f.required_for_customers,
        "displayed_to_customers": f.displayed_to_customers,
        "created_at": ts(f.created_at),
        "updated_at": ts(f.updated_at),
    });
    if !choices.is_null() || f.field_type == "custom_dropdown" {
        v["choices"] = choices;
    }
    if f.name == "requester" {
        v["portal_cc"] = json!(false);
        v["portal_cc_to"] = json!("company");
    }
    v
}

pub fn business_hour(b: &BusinessHour) -> Value {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let mut hours = serde_json::Map::new();
    for (name, h) in DAYS.iter().zip(b.hours.iter()) {
        if let Some((start, end)) = h {
            hours.insert(
                (*name).into(),
                json!({"start_time": start, "end_time": end}),
            );
        }
    }
    json!({
        "id": b.id,
        "name": b.name,
        "description": b.description,
        "is_default": b.is_default,
        "time_zone": b.time_zone,
        "created_at": ts(b.created_at),
        "updated_at": ts(b.updated_at),
        "business_hours": hours,
    })
}

pub fn sla_policy(p: &SlaPolicy) -> Value {
    let mut target = serde_json::Map::new();
    for (i, (respond, resolve)) in p.targets.iter().enumerate() {
        target.insert(
            format!("priority_{}", 4 - i),
            json!({"respond_within": respond, "resolve_within": resolve, "business_hours": false, "escalation_enabled": true}),
        );
    }
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "active": p.active,
        "is_default": p.is_default,
        "position": p.position,
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "sla_target": target,
        "applicable_to": if p.is_default { json!({}) } else { json!({"group_ids": p.group_ids}) },
        "escalation": {},
    })
}

pub fn satisfaction_rating(r: &SatisfactionRating) -> Value {
    json!({
        "id": r.id,
        "survey_id": r.survey_id,
        "user_id": r.user_id,
        "agent_id": r.agent_id,
        "feedback": r.feedback,
        "group_id": r.group_id,
        "ticket_id": r.ticket_id,
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "ratings": {"default_question": r.rating},
    })
}

pub fn time_entry(e: &TimeEntry) -> Value {
    json!({
        "id": e.id,
        "agent_id": e.agent_id,
        "billable": e.billable,
        "company_id": e.company_id,
        "note": e.note,
        "ticket_id": e.ticket_id,
        "time_spent": format!("{:02}:{:02}", e.time_spent_minutes / 60, e.time_spent_minutes % 60),
        "timer_running": e.timer_started.is_some(),
        "executed_at": ts(e.executed_at),
        "start_time": ts(e.executed_at),
        "created_at": ts(e.created_at),
        "updated_at": ts(e.updated_at),
    })
}

pub fn solution_category(c: &SolutionCategory) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "visible_in_portals": [],
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
    })
}

/// Where a folder or article sits, top down, as accounts with the flexible hierarchy show it:
/// the category at level 0, then each folder from the outermost to `folder` itself.
fn hierarchy(desk: &HelpDesk, category_id: i64, folder: Option<i64>) -> Value {
    let mut chain = Vec::new();
    let mut next = folder;
    while let Some(f) = next.and_then(|id| desk.solution_folders.get(&id)) {
        chain.push(f);
        next = f.parent_folder_id;
    }
    let mut levels = Vec::new();
    if let Some(c) = desk.solution_categories.get(&category_id) {
        levels.push(json!({"level": 0, "type": "category", "data": {"id": c.id, "name": c.name, "language": "en"}}));
    }
    for f in chain.into_iter().rev() {
        levels.push(json!({"level": levels.len(), "type": "folder", "data": {"id": f.id, "name": f.name, "language": "en"}}));
    }
    Value::Array(levels)
}

pub fn solution_folder(f: &SolutionFolder, desk: &HelpDesk) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "description": f.description,
        "visibility": f.visibility,
        "category_id": f.category_id,
        "parent_folder_id": f.parent_folder_id,
        "hierarchy": hierarchy(desk, f.category_id, f.parent_folder_id),
        "articles_count": desk.solution_articles.values().filter(|a| a.folder_id == f.id).count(),
        "sub_folders_count": desk.solution_folders.values().filter(|x| x.parent_folder_id == Some(f.id)).count(),
        "created_at": ts(f.created_at),
        "updated_at": ts(f.updated_at),
    })
}

pub fn solution_article(a: &SolutionArticle, desk: &HelpDesk) -> Value {
    json!({
        "id": a.id,
        "type": 1,
        "category_id": a.category_id,
        "folder_id": a.folder_id,
        "hierarchy": hierarchy(desk, a.category_id, Some(a.folder_id)),
        "thumbs_up": a.thumbs_up,
        "thumbs_down": a.thumbs_down,
        "hits": a.hits,
        "tags": a.tags,
        "seo_data": {},
        "agent_id": a.agent_id,
        "title": a.title,
        "description": a.description_html,
        "description_text": a.description_text,
        "status": a.status,
        "created_at": ts(a.created_at),
        "updated_at": ts(a.updated_at),
    })
}

pub fn account(desk: &HelpDesk) -> Value {
    let a = &desk.account;
    let full_time = desk
        .agents
        .values()
        .filter(|x| x.state != AgentState::Deleted && !x.occasional)
        .count();
    let occasional = desk
        .agents
        .values()
        .filter(|x| x.state != AgentState::Deleted && x.occasional)
        .count();
    json!({
        "organisation_id": a.organisation_id,
        "organisation_name": a.name,
        "account_id": a.account_id,
        "account_name": a.name,
        "account_domain": a.domain,
        "tier_type": format!("{} {}", capitalise(a.plan.name()), "Plan"),
        "data_center": "US",
        "timezone": "Pacific Time (US & Canada)",
        "total_agents": {"full_time": full_time, "occasional": occasional, "field_service": 0, "collaborators": 0},
        "address": Value::Null,
        "contact_person": {"firstname": "Avery", "lastname": "Owner", "email": "avery.owner@acme-support.example"},
        "created_at": ts(a.created_at),
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{SeedConfig, generate};

    #[test]
    fn a_nested_article_lists_its_category_and_every_folder_above_it_top_down() {
        let mut desk = generate(&SeedConfig {
            seed: 1,
            tickets: 5,
            anchor: 1_790_000_000,
            plan: crate::model::Plan::Enterprise,
            domain: "acme".into(),
            index: 0,
            corpus: crate::corpus::Corpus::Templates,
        });
        let top = desk.solution_folders.values().next().unwrap().clone();
        let sub = SolutionFolder {
            id: 1,
            parent_folder_id: Some(top.id),
            name: "Nested".into(),
            ..top.clone()
        };
        desk.solution_folders.insert(sub.id, sub.clone());
        let mut article = desk.solution_articles.values().next().unwrap().clone();
        article.folder_id = sub.id;
        article.category_id = top.category_id;
        let levels = solution_article(&article, &desk)["hierarchy"].clone();
        let ids: Vec<(i64, &str)> = levels
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["data"]["id"].as_i64().unwrap(),
                    l["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                (top.category_id, "category"),
                (top.id, "folder"),
                (sub.id, "folder")
            ]
        );
        let shown = solution_folder(&top, &desk);
        assert_eq!(shown["sub_folders_count"], 1);
        assert_eq!(
            solution_folder(&sub, &desk)["hierarchy"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
