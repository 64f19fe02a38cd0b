//! The connection check: what deskbridge will be able to see and do with a key, found out with
//! read-only calls before anything is saved. It proves admin rights with the admin-only `/roles`
//! call, names the agent's groups, estimates the visible tickets with one search, probes each
//! capability it can probe without writing, and explains every limitation in plain words.

use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientConfig, decode};
use crate::domain::{ApiKey, FreshdeskDomain};
use crate::error::Error;
use crate::governor::Priority;
use crate::models::{Agent, Group, Role, SearchPage, TicketScope};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountInfo {
    pub domain: String,
    /// Inferred from the per-minute limit (Growth 200, Pro 400, Enterprise 700, trial 50).
    pub plan: String,
    pub rate_limit_per_minute: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub agent_type: Option<String>,
    pub occasional: bool,
    pub active: bool,
    pub roles: Vec<String>,
    pub is_admin: bool,
    pub ticket_scope: String,
    pub groups: Vec<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A read-only call succeeded (or failed) just now.
    Probed,
    /// Deduced from the role and scope; nothing is written to test it.
    Inferred,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Capability {
    pub key: String,
    pub label: String,
    pub available: bool,
    pub evidence: Evidence,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub account: AccountInfo,
    pub agent: AgentInfo,
    /// Tickets the key can see (search total; spam and trash excluded), when search answered.
    pub visible_tickets: Option<u64>,
    pub capabilities: Vec<Capability>,
    pub warnings: Vec<String>,
}

impl ConnectionReport {
    pub fn capability(&self, key: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| c.key == key)
    }
}

fn plan_name(limit: Option<u32>) -> String {
    match limit {
        Some(50) => "Trial".into(),
        Some(200) => "Growth".into(),
        Some(400) => "Pro".into(),
        Some(700) => "Enterprise".into(),
        Some(n) => format!("Custom ({n} calls a minute)"),
        None => "Unknown".into(),
    }
}

/// Checks a domain and key. Saves nothing and writes nothing to the help desk.
pub async fn check_connection(
    domain: &FreshdeskDomain,
    key: &ApiKey,
    cfg: &ClientConfig,
) -> Result<ConnectionReport, Error> {
    let client = Client::new(domain.clone(), key.clone(), cfg)?;
    check_with(&client).await
}

/// The check under one deadline, `total_timeout`, for all of its calls and their retries together:
/// a reply trickled a byte at a time must not hold the person clicking Connect for minutes.
pub async fn check_with(client: &Client) -> Result<ConnectionReport, Error> {
    let deadline = client.config().total_timeout;
    match tokio::time::timeout(deadline, check_calls(client)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Transient(format!(
            "the connection check took longer than {} s",
            deadline.as_secs()
        ))),
    }
}

async fn check_calls(client: &Client) -> Result<ConnectionReport, Error> {
    let p = Priority::Interactive;
    let me_reply = client
        .send(
            reqwest::Method::GET,
            client.url("agents/me")?,
            None,
            p,
            true,
        )
        .await?;
    let me: Agent = decode(&me_reply.body)?;
    let limit = me_reply.rate_total;

    let roles = match client.get::<Vec<Role>>("roles?per_page=100", p).await {
        Ok(r) => Some(r),
        Err(Error::AccessDenied) => None,
        Err(e) => return Err(e),
    };
    let is_admin = roles.is_some();
    let role_names: Vec<String> = match &roles {
        Some(all) => me
            .role_ids
            .iter()
            .filter_map(|id| all.iter().find(|r| r.id == *id).map(|r| r.name.clone()))
            .collect(),
        None => Vec::new(),
    };
    let groups: Option<Vec<Group>> = if is_admin {
        match client.get::<Vec<Group>>("groups?per_page=100", p).await {
            Ok(g) => Some(g),
            Err(Error::AccessDenied) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let group_names: Vec<String> = match &groups {
        Some(all) => me
            .group_ids
            .iter()
            .map(|id| {
                all.iter()
                    .find(|g| g.id == *id)
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| format!("group {id}"))
            })
            .collect(),
        None => me
            .group_ids
            .iter()
            .map(|id| format!("group {id}"))
            .collect(),
    };

    let search_total = |q: &str| {
        let encoded: String =
            url::form_urlencoded::byte_serialize(format!("\"{q}\"").as_bytes()).collect();
        let path = format!("search/tickets?query={encoded}");
        async move {
            client
                .get::<SearchPage<serde_json::Value>>(&path, p)
                .await
                .map(|s| s.total)
        }
    };
    let visible_tickets = search_total("created_at:>'1970-01-01'").await.ok();
    let assigned = search_total(&format!("agent_id:{}", me.id)).await.ok();

    let mut caps = Vec::new();
    let tickets = client
        .get::<Vec<serde_json::Value>>("tickets?per_page=1&updated_since=2000-01-01T00:00:00Z", p)
        .await;
    let first_ticket = tickets
        .as_ref()
        .ok()
        .and_then(|t| t.first())
        .and_then(|t| t["id"].as_i64());
    caps.push(probe(
        "read_tickets",
        "Read tickets",
        &tickets.as_ref().map(|_| ()),
        "listed tickets",
    ));
    match first_ticket {
        Some(id) => {
            let r = client
                .get::<Vec<serde_json::Value>>(&format!("tickets/{id}/conversations?per_page=1"), p)
                .await;
            caps.push(probe(
                "read_conversations",
                "Read conversations",
                &r.as_ref().map(|_| ()),
                "read a ticket's conversation",
            ));
        }
        None => caps.push(Capability {
            key: "read_conversations".into(),
            label: "Read conversations".into(),
            available: tickets.is_ok(),
            evidence: Evidence::Inferred,
            detail: "no visible ticket to read a conversation from; follows from reading tickets"
                .into(),
        }),
    }
    let kb = client
        .get::<Vec<serde_json::Value>>("solutions/categories?per_page=1", p)
        .await;
    caps.push(probe(
        "read_knowledge_base",
        "Read knowledge base",
        &kb.as_ref().map(|_| ()),
        "listed solution categories",
    ));
    let fields = client
        .get::<Vec<serde_json::Value>>("ticket_fields", p)
        .await;
    let can_work = tickets.is_ok() && me.contact.active;
    for (key, label, what) in [
        (
            "update_ticket_fields",
            "Update ticket fields",
            "ticket fields are readable and agents may update tickets in their scope",
        ),
        (
            "add_private_notes",
            "Add private notes",
            "agents may add notes to tickets in their scope",
        ),
        (
            "reply",
            "Reply to customers",
            "agents may reply to tickets in their scope",
        ),
    ] {
        let available = can_work && (key != "update_ticket_fields" || fields.is_ok());
        caps.push(Capability {
            key: key.into(),
            label: label.into(),
            available,
            evidence: Evidence::Inferred,
            detail: if available {
                what.to_string()
            } else {
                "tickets are not readable with this key".into()
            },
        });
    }
    caps.push(Capability {
        key: "read_admin_settings".into(),
        label: "Read admin settings (agents, groups, roles)".into(),
        available: is_admin,
        evidence: Evidence::Probed,
        detail: if is_admin {
            "read roles (admin only)".into()
        } else {
            "Freshdesk denied the admin-only roles call".into()
        },
    });

    let scope = match me.ticket_scope {
        TicketScope::Global => "Global".to_string(),
        TicketScope::Group => "Groups".to_string(),
        TicketScope::Restricted => "Restricted".to_string(),
        TicketScope(n) => format!("Unknown ({n})"),
    };
    let mut warnings = Vec::new();
    if !is_admin {
        warnings.push("Not an admin: reading agents, groups and roles will fail. Give this user the Administrator role in Admin > Team > Agents.".to_string());
    }
    match me.ticket_scope {
        TicketScope::Group => warnings.push(format!(
            "Scope is Groups ({}): tickets outside these groups are invisible.",
            group_names.join(", ")
        )),
        TicketScope::Restricted => warnings.push(
            "Scope is Restricted: only tickets assigned to this agent are visible.".to_string(),
        ),
        _ => {}
    }
    if me.occasional {
        warnings.push("This is an occasional agent: it works on day passes and loses access when they run out. Use a full-time agent.".to_string());
    }
    if let Some(n) = assigned.filter(|n| *n > 0) {
        warnings.push(format!("This key belongs to an agent who works tickets ({n} assigned): use a dedicated integration user, so that changes to a person's account do not break the integration."));
    }
    if me
        .agent_type
        .as_deref()
        .is_some_and(|t| t != "support_agent")
    {
        warnings.push(format!(
            "This is a {} rather than a support agent; some ticket actions may be unavailable.",
            me.agent_type.clone().unwrap_or_default().replace('_', " ")
        ));
    }
    for c in &caps {
        if !c.available && c.key != "read_admin_settings" {
            warnings.push(format!("{} is not available: {}.", c.label, c.detail));
        }
    }

    Ok(ConnectionReport {
        account: AccountInfo {
            domain: client.domain().host(),
            plan: plan_name(limit),
            rate_limit_per_minute: limit,
        },
        agent: AgentInfo {
            id: me.id,
            name: me.contact.name.clone(),
            email: me.contact.email.clone(),
            agent_type: me.agent_type.clone(),
            occasional: me.occasional,
            active: me.contact.active,
            roles: role_names,
            is_admin,
            ticket_scope: scope,
            groups: group_names,
        },
        visible_tickets,
        capabilities: caps,
        warnings,
    })
}

fn probe(key: &'static str, label: &'static str, r: &Result<(), &Error>, what: &str) -> Capability {
    match r {
        Ok(()) => Capability {
            key: key.into(),
            label: label.into(),
            available: true,
            evidence: Evidence::Probed,
            detail: what.to_string(),
        },
        Err(e) => Capability {
            key: key.into(),
            label: label.into(),
            available: false,
            evidence: Evidence::Probed,
            detail: e.to_string(),
        },
    }
}
